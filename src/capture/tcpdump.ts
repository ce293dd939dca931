/**
 * tcpdump as the live capture engine: finds it, checks the interface, starts
 * `tcpdump -U --immediate-mode -w - -i IF [filter]`, turns its failures (missing binary, no
 * capture permission, no such interface, bad filter) into clear errors, stops it on request so
 * that it flushes its output, and parses the statistics it prints on exit (kernel drops).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';

/** What tcpdump reports on exit ("N packets captured", "... received by filter", "... dropped by kernel"). */
export interface TcpdumpStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
  /** libpcap 1.10+: "N packets dropped by interface" (absent on older versions). */
  droppedByInterface: number | null;
}

export interface TcpdumpExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stats: TcpdumpStats | null;
  /** tcpdump's own error, made readable; null when it ended as asked. */
  error: string | null;
  /** Whether stop() had asked it to end. */
  asked: boolean;
  stderr: string;
}

export interface TcpdumpOptions {
  interface: string;
  /** BPF filter expression, passed to tcpdump as one argument. */
  filter?: string;
  /** Path of the tcpdump binary; searched on PATH when not given. */
  tcpdump?: string;
  snaplen?: number;
  /** tcpdump -B: the kernel's capture buffer in KiB, which absorbs bursts while the pipeline is busy. */
  bufferKiB?: number;
}

export class CaptureSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaptureSetupError';
  }
}

/** The first executable `name` on PATH, or null. */
export function findOnPath(name: string, envPath = process.env.PATH ?? ''): string | null {
  for (const dir of envPath.split(path.delimiter)) {
    if (dir === '') continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** Parses tcpdump's exit statistics from its stderr; null when it printed none (it failed before capturing). */
export function parseTcpdumpStats(stderr: string): TcpdumpStats | null {
  // On exit one figure a line; on every SIGUSR1 one line "tcpdump: N packets captured, N ...".
  // The last report is the current one.
  const num = (re: RegExp): number | null => {
    let last: string | null = null;
    for (const m of stderr.matchAll(re)) last = m[1];
    return last === null ? null : Number(last);
  };
  const captured = num(/(?:^|tcpdump: )(\d+) packets? captured(?:,|$)/gm);
  const received = num(/(?:^|, )(\d+) packets? received by filter(?:,|$)/gm);
  const dropped = num(/(?:^|, )(\d+) packets? dropped by kernel(?:,|$)/gm);
  if (captured === null || received === null || dropped === null) return null;
  return { captured, receivedByFilter: received, droppedByKernel: dropped, droppedByInterface: num(/(?:^|, )(\d+) packets? dropped by interface(?:,|$)/gm) };
}

/** tcpdump's failure as a message that says what to do about it. */
export function explainTcpdumpError(stderr: string, o: TcpdumpOptions): string | null {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('tcpdump:') && !l.startsWith('tcpdump: listening on'));
  if (lines.length === 0) return null;
  const first = lines[0];
  if (/permission|not permitted/i.test(stderr)) {
    return (
      `tcpdump may not capture on ${o.interface} (${first.replace(/^tcpdump: /, '')}): run eastwatch as root, ` +
      `or grant tcpdump the capabilities: setcap cap_net_raw,cap_net_admin=eip ${o.tcpdump ?? 'tcpdump'}`
    );
  }
  if (/No such device/i.test(stderr)) return `no interface named ${o.interface} (tcpdump: ${first.replace(/^tcpdump: /, '')})`;
  if (o.filter !== undefined && /syntax error|unknown|expression|illegal|can't parse|filter/i.test(first)) {
    return `tcpdump rejected the filter "${o.filter}": ${first.replace(/^tcpdump: /, '')}`;
  }
  return first;
}

/** The interfaces this network namespace has (Linux); null where /sys/class/net is not readable. */
function interfaces(): string[] | null {
  try {
    return fs.readdirSync('/sys/class/net');
  } catch {
    return null;
  }
}

/**
 * One supervised tcpdump. `stdout` is the pcap stream; `ready` resolves once tcpdump says it is
 * listening (its first stderr line) or rejects if it fails first; `exited` resolves when it ends.
 */
export class TcpdumpProcess {
  readonly stdout: Readable;
  readonly ready: Promise<string>;
  readonly exited: Promise<TcpdumpExit>;
  readonly bin: string;
  private readonly child: ChildProcessByStdio<null, Readable, Readable>;
  private stderr = '';
  private stopping = false;

  constructor(readonly o: TcpdumpOptions) {
    const bin = o.tcpdump ?? findOnPath('tcpdump');
    if (bin === null) {
      throw new CaptureSetupError('tcpdump was not found on PATH: install it (apt-get install tcpdump) or give its path with --tcpdump');
    }
    try {
      fs.accessSync(bin, fs.constants.X_OK);
    } catch {
      throw new CaptureSetupError(`${bin} is not an executable tcpdump`);
    }
    this.bin = bin;
    const ifs = interfaces();
    // "any" and pcap's other pseudo-devices are not in /sys; tcpdump itself reports those.
    if (ifs !== null && o.interface !== 'any' && !ifs.includes(o.interface) && !o.interface.includes(':')) {
      throw new CaptureSetupError(`no interface named ${o.interface} in this network namespace (there are: ${ifs.sort().join(', ')})`);
    }
    // -U: write each packet as it is captured; --immediate-mode: do not wait for the kernel buffer
    // to fill; -n: never resolve names (no DNS traffic of our own). The filter is one argument,
    // never a shell string.
    const args = ['-U', '--immediate-mode', '-n', '-w', '-', '-i', o.interface];
    if (o.snaplen !== undefined) args.push('-s', String(o.snaplen));
    if (o.bufferKiB !== undefined) args.push('-B', String(o.bufferKiB));
    if (o.filter !== undefined && o.filter.trim() !== '') args.push('--', o.filter);
    this.child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.stdout = this.child.stdout;
    this.child.stderr.setEncoding('utf8');
    let onReady: (s: string) => void = () => {};
    let onFail: (e: Error) => void = () => {};
    this.ready = new Promise<string>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    // Callers that never wait on ready must not see an unhandled rejection.
    this.ready.catch(() => undefined);
    this.child.stderr.on('data', (s: string) => {
      // Keep the head (errors, "listening on") and the tail (the statistics) of a chatty stderr.
      this.stderr = this.stderr.length < 64 * 1024 ? this.stderr + s : this.stderr.slice(0, 32 * 1024) + this.stderr.slice(-16 * 1024) + s;
      const m = /^tcpdump: listening on (.*)$/m.exec(this.stderr);
      if (m) onReady(m[1]);
    });
    this.exited = new Promise<TcpdumpExit>((resolve) => {
      let spawnError: Error | null = null;
      this.child.on('error', (e) => {
        spawnError = e;
      });
      this.child.on('close', (code, signal) => {
        const stats = parseTcpdumpStats(this.stderr);
        let error: string | null = null;
        if (spawnError !== null) error = `cannot run ${bin}: ${spawnError.message}`;
        else if (!(this.stopping && stats !== null) && code !== 0) {
          error = explainTcpdumpError(this.stderr, { ...o, tcpdump: bin }) ?? `tcpdump ended with ${code !== null ? `exit code ${code}` : `signal ${signal}`}`;
        }
        onFail(new CaptureSetupError(error ?? 'tcpdump ended before it started capturing'));
        if (error === null && !this.stopping) {
          // Ended by itself (the interface went away, a signal from elsewhere): say so with its last words.
          const last = this.stderr
            .split('\n')
            .filter((l) => l.startsWith('tcpdump:') && !l.startsWith('tcpdump: listening on'))
            .pop();
          error = `tcpdump stopped on its own (${last ?? (code !== null ? `exit code ${code}` : `signal ${signal}`)})`;
        }
        resolve({ code, signal, stats, error, asked: this.stopping, stderr: this.stderr });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** tcpdump's latest statistics (refreshed by requestStats), null before its first report. */
  stats(): TcpdumpStats | null {
    return parseTcpdumpStats(this.stderr);
  }

  /** Asks tcpdump for fresh statistics: on SIGUSR1 it prints them to stderr and goes on capturing. */
  requestStats(): void {
    if (!this.stopping && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGUSR1');
  }

  /** Asks tcpdump to stop: it writes what it holds, prints its statistics and exits; its stdout then ends. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }

  /** Ends tcpdump now, when it did not stop on request. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
