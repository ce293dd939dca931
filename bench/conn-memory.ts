/**
 * What a live connection costs in memory: a capture is read through the decoder and the tracker
 * (with the protocol analyzers, or connection-only) but not finished, so every connection still
 * open at its end is live; then a full garbage collection, and the heap in use plus the
 * ArrayBuffer storage (typed arrays: the flow table, the TCP state table) over the same of an empty
 * tracker, divided by the live connections. Heap alone would miss state kept in typed arrays. Each measurement runs in its own child
 * (`--expose-gc`, fresh heap); `--baseline DIR` measures another checkout's build (its dist/) on
 * the same capture in the same rounds, so the two figures share the machine's state.
 *
 *   npm run bench:conn-memory -- [--file CAPTURE | --packets N] [--runs N] [--baseline DIR]
 *
 * The capture defaults to the pods workload `npm run bench` generated (bench/out).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConnRecord } from '../parsers/record/conn';
import { TRAFFIC_VERSION } from './traffic';
import { median } from './median';

type Mode = 'conn' | 'apps';

interface Sample {
  live: number;
  emptyHeap: number;
  heap: number;
  emptyBuffers: number;
  /** ArrayBuffer backing stores (outside the heap). */
  buffers: number;
  rss: number;
  /** (heap + buffers) over the empty tracker's, per live connection. */
  bytesPerLive: number;
  /** The heap's share of bytesPerLive. */
  heapPerLive: number;
}

/** Loaded from `root` (this build's dist or a baseline's), not imported: the point is to measure other builds too. */
async function child(root: string, file: string, mode: Mode): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the child with --expose-gc');
  const { readCapture } = require(path.join(root, 'parsers/capture/open')) as typeof import('../parsers/capture/open');
  const { PacketDecoder } = require(path.join(root, 'parsers/decode/decoder')) as typeof import('../parsers/decode/decoder');
  const { DecodeStatus } = require(path.join(root, 'parsers/decode/layers')) as typeof import('../parsers/decode/layers');
  const { ConnectionTracker } = require(path.join(root, 'parsers/conntrack/tracker')) as typeof import('../parsers/conntrack/tracker');
  const opts: Partial<import('../parsers/conntrack/tracker').TrackerOptions> = { verifyChecksums: false };
  if (mode === 'apps') {
    const app = require(path.join(root, 'src/analyze/app')) as typeof import('../src/analyze/app');
    opts.payload = app.analyzerFactory(() => undefined, app.analyzerSelection(true, false));
  }
  const dec = new PacketDecoder();
  const d = dec.newPacket();
  let records = 0;
  const tracker = new ConnectionTracker(opts, (_r: ConnRecord) => {
    records++;
  });
  gc();
  const empty = process.memoryUsage();
  const emptyHeap = empty.heapUsed;
  const emptyBuffers = empty.arrayBuffers;
  await readCapture(file, (p) => {
    const st = dec.decode(p, d);
    if (st === DecodeStatus.OK || (st === DecodeStatus.MALFORMED && d.count > 0)) tracker.onPacket(d, p.tsSec, p.tsNsec);
  });
  gc();
  const mu = process.memoryUsage();
  const live = tracker.stats.live;
  const s: Sample = {
    live,
    emptyHeap,
    heap: mu.heapUsed,
    emptyBuffers,
    buffers: mu.arrayBuffers,
    rss: mu.rss,
    bytesPerLive: (mu.heapUsed + mu.arrayBuffers - emptyHeap - emptyBuffers) / live,
    heapPerLive: (mu.heapUsed - emptyHeap) / live,
  };
  process.stdout.write(`${JSON.stringify({ ...s, records })}\n`);
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    void child(argv[1], argv[2], argv[3] as Mode);
    return;
  }
  let file = '';
  let packets = 400_000;
  let runs = 3;
  let baseline = '';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--file') file = path.resolve(argv[++i]);
    else if (argv[i] === '--packets') packets = Number(argv[++i]);
    else if (argv[i] === '--runs') runs = Number(argv[++i]);
    else if (argv[i] === '--baseline') baseline = path.resolve(argv[++i], 'dist');
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!file) {
    const dir = path.resolve(__dirname, '..', '..', 'bench', 'out');
    const found = fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .map((f) => path.join(dir, f))
          .find((f) => f.endsWith(`-p${packets}-s59991.pcap`) && f.includes(`pods-v${TRAFFIC_VERSION}-`))
      : undefined;
    if (!found) throw new Error(`no ${packets}-packet capture in ${dir}: run npm run bench -- --packets ${packets} first, or give --file`);
    file = found;
  }
  const builds: [string, string][] = [['this build', path.resolve(__dirname, '..')]];
  if (baseline) builds.push([`baseline ${path.dirname(baseline)}`, baseline]);
  console.log(`${file}: heap + typed-array storage per live connection after a full GC, the capture read but not finished; median of ${runs}`);
  for (const mode of ['conn', 'apps'] as Mode[]) {
    const got = new Map<string, Sample[]>(builds.map(([name]) => [name, []]));
    for (let r = 0; r < runs; r++) {
      for (const [name, root] of builds) {
        const res = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', root, file, mode], { encoding: 'utf8', maxBuffer: 1 << 20 });
        if (res.status !== 0) throw new Error(`${name} ${mode}: ${res.stderr}`);
        got.get(name)?.push(JSON.parse(res.stdout) as Sample);
      }
    }
    for (const [name, ss] of got) {
      const per = median(ss.map((s) => s.bytesPerLive));
      const heapPer = median(ss.map((s) => s.heapPerLive));
      const heap = median(ss.map((s) => s.heap)) / 1e6;
      const buffers = median(ss.map((s) => s.buffers - s.emptyBuffers)) / 1e6;
      const rss = median(ss.map((s) => s.rss)) / 1e6;
      console.log(
        `  ${mode === 'conn' ? 'connection records only' : 'with the protocol analyzers'}, ${name}: ${ss[0].live.toLocaleString('en-US')} live, ${per.toFixed(0)} bytes each (${heapPer.toFixed(0)} on the heap); heap ${heap.toFixed(1)} MB, typed arrays +${buffers.toFixed(1)} MB, RSS ${rss.toFixed(1)} MB`,
      );
    }
  }
}

main();
