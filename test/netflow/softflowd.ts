/**
 * Running softflowd (a real NetFlow/IPFIX exporter) over a capture into our collector, and the
 * per-direction truth read straight from the capture to check its flows against.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startCollector, type CollectorExporterStats } from '../../src/collect/netflow';
import type { NetflowProblem } from '../../parsers/netflow/decoder';
import type { ConnRecord } from '../../parsers/record/conn';

const run = promisify(execFile);

function which(cmd: string): string | null {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/usr/local/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')]) {
    const p = path.join(dir, cmd);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

export const SOFTFLOWD = which('softflowd');
export const SOFTFLOWCTL = which('softflowctl');

/** Skip when softflowd is absent, except under CI=true, where it must be installed. */
export function requireSoftflowd(ctx: Mocha.Context): void {
  if (SOFTFLOWD && SOFTFLOWCTL && spawnSync(SOFTFLOWD, ['-h']).error === undefined) return;
  const msg = 'softflowd/softflowctl not installed (Debian: apt-get install softflowd); the real-exporter tests need it';
  if (process.env.CI === 'true') throw new Error(msg);
  console.warn(`      skipped: ${msg}`);
  ctx.skip();
}

export interface Export {
  records: ConnRecord[];
  problems: Array<NetflowProblem | Error>;
  stats: Map<string, CollectorExporterStats>;
  batches: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * softflowd 1.1 with -r waits for a first connection on its control socket before it reads the
 * capture; then it reads it, exports every flow at the end of the file and exits. So: poke the
 * control socket once, and wait for the exit (asking for a shutdown if it lingers).
 */
export async function softflowdTo(port: number, pcap: string, version: 5 | 9 | 10, extra: string[]): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-softflowd-'));
  const ctl = path.join(dir, 'ctl');
  const child = spawn(
    SOFTFLOWD as string,
    ['-d', ...extra, '-r', pcap, '-n', `127.0.0.1:${port}`, '-v', String(version), '-p', path.join(dir, 'pid'), '-c', ctl],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    for (let i = 0; i < 100 && !fs.existsSync(ctl) && child.exitCode === null; i++) await sleep(50);
    if (!fs.existsSync(ctl)) throw new Error(`softflowd did not open its control socket: ${stderr}`);
    // Depending on timing it either exits at the end of the file or waits for a shutdown once the
    // packet count has settled: handle both.
    let last = -1;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      const r = await run(SOFTFLOWCTL as string, ['-c', ctl, 'statistics']).catch(() => ({ stdout: '' }));
      const m = /Packets processed: (\d+)/.exec(r.stdout);
      const n = m ? Number(m[1]) : -1;
      if (n > 0 && n === last) {
        await run(SOFTFLOWCTL as string, ['-c', ctl, 'shutdown']).catch(() => undefined);
        break;
      }
      last = n;
      await Promise.race([exited, sleep(100)]);
    }
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode !== 0) throw new Error(`softflowd exited with ${child.exitCode}: ${stderr}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function exportThroughCollector(pcap: string, version: 5 | 9 | 10, extra: string[] = []): Promise<Export> {
  const records: ConnRecord[] = [];
  const problems: Array<NetflowProblem | Error> = [];
  let batches = 0;
  const c = await startCollector({
    host: '127.0.0.1',
    port: 0,
    batchMax: 16,
    batchMs: 50,
    onRecords: (b) => {
      batches++;
      records.push(...b);
    },
    onError: (e) => problems.push(e),
  });
  try {
    await softflowdTo(c.address.port, pcap, version, extra);
    await sleep(200);
  } finally {
    await c.close();
  }
  return { records, problems, stats: c.stats(), batches };
}

/** One direction of traffic in a capture: what a unidirectional flow record should count. */
export interface Direction {
  key: string;
  firstTs: number;
  packets: number;
  ipBytes: number;
}

export function directionKey(proto: number, src: string, sport: number, dst: string, dport: number): string {
  return `${proto} ${src}:${sport} > ${dst}:${dport}`;
}

function v6(b: Buffer, o: number): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(o + i).toString(16));
  // Compress like inet_ntop (longest zero run) so keys match the records' addresses.
  const s = g.join(':');
  const runs = s.match(/(^|:)0(:0)+(:|$)/g);
  if (!runs) return s;
  const longest = runs.reduce((a, r) => (r.length > a.length ? r : a));
  return s.replace(longest, '::');
}

/** IP packets of a little-endian classic Ethernet pcap, summed per direction (5-tuple). */
export function directionsOf(file: string): Map<string, Direction> {
  const b = fs.readFileSync(file);
  if (b.readUInt32LE(0) !== 0xa1b2c3d4 || b.readUInt32LE(20) !== 1) throw new Error(`${file}: expected a little-endian Ethernet pcap`);
  const out = new Map<string, Direction>();
  for (let o = 24; o + 16 <= b.length; ) {
    const ts = b.readUInt32LE(o) + b.readUInt32LE(o + 4) / 1e6;
    const incl = b.readUInt32LE(o + 8);
    const p = o + 16;
    o = p + incl;
    let et = b.readUInt16BE(p + 12);
    let l3 = p + 14;
    if (et === 0x8100) {
      et = b.readUInt16BE(p + 16);
      l3 += 4;
    }
    let proto: number;
    let src: string;
    let dst: string;
    let l4: number;
    let len: number;
    if (et === 0x0800) {
      const ihl = (b[l3] & 0x0f) * 4;
      len = b.readUInt16BE(l3 + 2);
      proto = b[l3 + 9];
      src = [...b.subarray(l3 + 12, l3 + 16)].join('.');
      dst = [...b.subarray(l3 + 16, l3 + 20)].join('.');
      l4 = l3 + ihl;
    } else if (et === 0x86dd) {
      len = b.readUInt16BE(l3 + 4) + 40;
      proto = b[l3 + 6];
      src = v6(b, l3 + 8);
      dst = v6(b, l3 + 24);
      l4 = l3 + 40;
    } else {
      continue;
    }
    const ports = proto === 6 || proto === 17;
    const key = directionKey(proto, src, ports ? b.readUInt16BE(l4) : 0, dst, ports ? b.readUInt16BE(l4 + 2) : 0);
    const d = out.get(key);
    if (d) {
      d.packets++;
      d.ipBytes += len;
    } else {
      out.set(key, { key, firstTs: ts, packets: 1, ipBytes: len });
    }
  }
  return out;
}

/**
 * Records summed per direction (softflowd may split a direction over several records); a
 * stitched record counts for both of its directions.
 */
export function sumRecords(records: ConnRecord[]): Map<string, Direction> {
  const out = new Map<string, Direction>();
  const add = (key: string, ts: number, packets: number, ipBytes: number): void => {
    const d = out.get(key);
    if (d) {
      d.packets += packets;
      d.ipBytes += ipBytes;
      d.firstTs = Math.min(d.firstTs, ts);
    } else {
      out.set(key, { key, firstTs: ts, packets, ipBytes });
    }
  };
  for (const r of records) {
    if (r.orig_pkts > 0) add(directionKey(r.ip_proto, r.orig_h, r.orig_p, r.resp_h, r.resp_p), r.ts, r.orig_pkts, r.orig_ip_bytes);
    if (r.resp_pkts > 0) add(directionKey(r.ip_proto, r.resp_h, r.resp_p, r.orig_h, r.orig_p), r.ts, r.resp_pkts, r.resp_ip_bytes);
  }
  return out;
}
