/**
 * Live-capture benchmark: the agent (`eastwatch capture`, as deploy/agent runs it) on one end of
 * a veth pair between two network namespaces, fed by tcpreplay from the other end at increasing
 * packet rates; for each rate, what tcpreplay sent, what the agent saw, and what the kernel
 * dropped (tcpdump's statistics). Beside it, the file path: `eastwatch analyze` of the same
 * capture, in packets/s. The sustained rate is the highest rate at which the agent saw every
 * packet sent in the median run.
 *
 *   npm run bench:live -- [--seconds S] [--packets N] [--rates 5000,20000,...,top] [--buffers 2,32] [--runs N] [--seed N]
 *   (also part of `npm run bench`, bench/run.ts, with --live-* flags)
 *
 * Each rate is fed for --seconds (default 20), the capture of --packets looped as often as that
 * takes: a feed of a fixed small count fits in the kernel buffer (32 MiB holds ~50,000 of these
 * packets) and would show the buffer absorbing a burst, not a rate the agent keeps up with.
 *
 * --buffers runs every rate with each kernel capture buffer size (MiB, the agent's --buffer-size;
 * tcpdump's own default is 2), interleaved, so the buffer's effect is measured in one run.
 *
 * Root only (ip netns). Results: stdout and bench/out/live.json. Rates are what tcpreplay
 * reached, not what was asked (on a loaded machine it may fall short of the target).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Table from 'cli-table3';
import { generateTraffic, TRAFFIC_VERSION } from './traffic';
import { median } from './median';

function findRepo(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}
const REPO = findRepo();
const OUT_DIR = path.join(REPO, 'bench', 'out');
const CLI = path.join(REPO, 'dist/src/cli/main.js');

export interface LiveArgs {
  packets: number;
  /** Seconds each rate is fed for (tcpreplay --duration, the capture looped). */
  seconds: number;
  /** Packets per second; 0 is tcpreplay --topspeed. */
  rates: number[];
  runs: number;
  seed: number;
  /** Kernel capture buffer sizes in MiB (the agent's --buffer-size). */
  buffers: number[];
}

export function parseLiveArgs(argv: string[]): LiveArgs {
  const a: LiveArgs = { packets: 200_000, seconds: 20, rates: [5_000, 20_000, 50_000, 100_000, 0], runs: 3, seed: 7, buffers: [32] };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const whole = (name: string): number => {
      if (v === undefined || !/^\d+$/.test(v)) throw new Error(`${name} takes a whole number, got ${v}`);
      i++;
      return Number(v);
    };
    switch (argv[i]) {
      case '--packets':
        a.packets = whole('--packets');
        break;
      case '--seconds':
        a.seconds = Math.max(1, whole('--seconds'));
        break;
      case '--runs':
        a.runs = Math.max(1, whole('--runs'));
        break;
      case '--seed':
        a.seed = whole('--seed');
        break;
      case '--rates':
        if (v === undefined) throw new Error('--rates takes a list such as 5000,20000,top');
        a.rates = v.split(',').map((r) => {
          if (r === 'top') return 0;
          if (!/^\d+$/.test(r) || Number(r) === 0) throw new Error(`--rates: "${r}" is not a packet rate (or "top")`);
          return Number(r);
        });
        i++;
        break;
      case '--buffers':
        if (v === undefined || !/^\d+(,\d+)*$/.test(v)) throw new Error('--buffers takes MiB sizes such as 2,32');
        a.buffers = v.split(',').map(Number);
        i++;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return a;
}

/** Why this machine cannot run the bench, or null. */
export function cannotRunLive(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'ip netns needs root';
  for (const tool of ['ip', 'tcpdump', 'tcpreplay']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (Debian: apt-get install iproute2 tcpdump tcpreplay)`;
  }
  if (!fs.existsSync(CLI)) return `${CLI} is missing: build first (tsc -p .)`;
  return null;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout + r.stderr;
}

function waitForLine(child: ChildProcess, pattern: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${text}`)), ms);
    child.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (!pattern.test(text)) reject(new Error(`agent exited (${code}) before ${pattern}: ${text}`));
    });
  });
}

interface LiveRun {
  sent: number;
  sentPps: number;
  seen: number;
  kernelDropped: number;
}

/** The agent's last counters line (src/cli/capture.ts formatCounters). */
function parseCounters(stderr: string): { seen: number; dropped: number } {
  const lines = stderr.split('\n').filter((l) => l.includes('packets seen'));
  const last = lines[lines.length - 1] ?? '';
  const seen = /packets seen (\d+)/.exec(last);
  const dropped = /dropped by kernel (\d+)/.exec(last);
  if (!seen || !dropped) throw new Error(`no counters in the agent's output: ${stderr}`);
  return { seen: Number(seen[1]), dropped: Number(dropped[1]) };
}

async function liveRun(
  nsA: string,
  nsB: string,
  vethA: string,
  vethB: string,
  capture: string,
  rate: number,
  bufferMiB: number,
  seconds: number,
): Promise<LiveRun> {
  const agentArgs = ['capture', '-i', vethA, '-f', 'ndjson', '-o', os.devNull, '--no-summary', '--buffer-size', String(bufferMiB)];
  const agent = spawn('ip', ['netns', 'exec', nsA, process.execPath, CLI, ...agentArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  agent.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const closed = new Promise<number | null>((r) => agent.once('close', (c) => r(c)));
  await waitForLine(agent, /capturing on/, 60_000);
  const rateArgs = rate === 0 ? ['--topspeed'] : ['--pps', String(rate)];
  // --loop 0 loops until --duration ends the feed.
  const out = run('ip', ['netns', 'exec', nsB, 'tcpreplay', '-i', vethB, ...rateArgs, '--loop', '0', '--duration', String(seconds), capture]);
  const actual = /Actual: (\d+) packets .* in ([\d.]+) seconds/.exec(out);
  if (!actual) throw new Error(`tcpreplay said: ${out}`);
  // The agent's reader has taken everything once its count stops moving; then stop it.
  await new Promise((r) => setTimeout(r, 2000));
  agent.kill('SIGINT');
  const code = await closed;
  if (code !== 0) throw new Error(`agent exited ${code}: ${err}`);
  const c = parseCounters(err);
  const sent = Number(actual[1]);
  return { sent, sentPps: sent / Number(actual[2]), seen: c.seen, kernelDropped: c.dropped };
}

export interface LiveResult {
  filePps: number;
  sustainedPps: Record<number, number>;
  rows: { rate: number; buffer: number; runs: LiveRun[] }[];
  load: number[];
}

async function main(): Promise<void> {
  const args = parseLiveArgs(process.argv.slice(2));
  const why = cannotRunLive();
  if (why !== null) {
    console.error(`bench:live cannot run here: ${why}`);
    process.exitCode = 2;
    return;
  }
  await runLiveBench(args);
}

/** The live bench (the caller checked cannotRunLive); prints its table and writes bench/out/live.json. */
export async function runLiveBench(args: LiveArgs): Promise<LiveResult> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const capture = path.join(OUT_DIR, `pods-v${TRAFFIC_VERSION}-p${args.packets}-s${args.seed}.pcap`);
  if (!fs.existsSync(capture)) {
    console.log(`generating ${args.packets} packets into ${capture} ...`);
    await generateTraffic(capture, { packets: args.packets, seed: args.seed });
  }

  // The file path: the same capture read from disk by `eastwatch analyze` with the agent's settings.
  const fileRates: number[] = [];
  for (let i = 0; i < args.runs; i++) {
    const t0 = process.hrtime.bigint();
    run(process.execPath, [CLI, 'analyze', capture, '-f', 'ndjson', '-o', os.devNull, '--no-progress', '--no-summary']);
    fileRates.push(args.packets / (Number(process.hrtime.bigint() - t0) / 1e9));
  }

  const id = crypto.randomBytes(3).toString('hex');
  const nsA = `ewbench-a-${id}`;
  const nsB = `ewbench-b-${id}`;
  const vethA = `ewba${id}`;
  const vethB = `ewbb${id}`;
  const rows: { rate: number; buffer: number; runs: LiveRun[] }[] = [];
  try {
    run('ip', ['netns', 'add', nsA]);
    run('ip', ['netns', 'add', nsB]);
    run('ip', ['-n', nsA, 'link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB, 'netns', nsB]);
    for (const [ns, dev] of [
      [nsA, vethA],
      [nsB, vethB],
    ]) {
      run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
      // Frames of the capture include VXLAN-encapsulated ones above 1500 bytes.
      run('ip', ['-n', ns, 'link', 'set', dev, 'mtu', '9000', 'up']);
    }
    for (const rate of args.rates) {
      const byBuffer = new Map<number, LiveRun[]>(args.buffers.map((b) => [b, []]));
      // Interleaved: each run goes through every buffer size before the next run.
      for (let i = 0; i < args.runs; i++) {
        for (const b of args.buffers) byBuffer.get(b)?.push(await liveRun(nsA, nsB, vethA, vethB, capture, rate, b, args.seconds));
      }
      for (const [buffer, runs] of byBuffer) {
        rows.push({ rate, buffer, runs });
        const m = median(runs.map((r) => r.seen / r.sent));
        console.log(`  ${rate === 0 ? 'top speed' : `${rate} pps`}, buffer ${buffer} MiB: median seen/sent ${(100 * m).toFixed(2)}%`);
      }
    }
  } finally {
    spawnSync('ip', ['netns', 'del', nsA]);
    spawnSync('ip', ['netns', 'del', nsB]);
  }

  const table = new Table({ head: ['target', 'buffer MiB', 'sent (median)', 'sent pps (median)', 'seen / sent', 'kernel drops', 'lost (sent - seen)'] });
  const sustained = new Map<number, number>(args.buffers.map((b) => [b, 0]));
  for (const r of rows) {
    const sentPps = median(r.runs.map((x) => x.sentPps));
    const seenShare = median(r.runs.map((x) => x.seen / x.sent));
    const lost = median(r.runs.map((x) => x.sent - x.seen));
    if (lost === 0) sustained.set(r.buffer, Math.max(sustained.get(r.buffer) ?? 0, sentPps));
    table.push([
      r.rate === 0 ? 'top speed' : String(r.rate),
      String(r.buffer),
      median(r.runs.map((x) => x.sent)).toLocaleString('en'),
      Math.round(sentPps).toLocaleString('en'),
      `${(100 * seenShare).toFixed(2)}%`,
      String(median(r.runs.map((x) => x.kernelDropped))),
      String(lost),
    ]);
  }
  const filePps = median(fileRates);
  console.log(table.toString());
  console.log(`file path (eastwatch analyze, same settings): ${Math.round(filePps).toLocaleString('en')} packets/s (median of ${args.runs})`);
  for (const [b, pps] of sustained) {
    console.log(
      `sustained live rate with a ${b} MiB buffer (every packet seen, median run): ${pps === 0 ? 'none of the rates' : `${Math.round(pps).toLocaleString('en')} packets/s`}`,
    );
  }
  console.log(
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${os.cpus().length} cores`,
  );
  const result: LiveResult = { filePps, sustainedPps: Object.fromEntries(sustained), rows, load: os.loadavg() };
  fs.writeFileSync(
    path.join(OUT_DIR, 'live.json'),
    `${JSON.stringify({ packets: args.packets, seconds: args.seconds, seed: args.seed, runs: args.runs, ...result }, null, 1)}\n`,
  );
  return result;
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(`bench:live: ${e.message}`);
    process.exitCode = 1;
  });
}
