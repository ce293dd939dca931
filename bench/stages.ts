/**
 * Where analyze spends its CPU: the benchmark capture through read+decode only, then with
 * connection tracking but without building records, then the whole tracker. Each stage runs in
 * its own child process (fresh JIT and heap) `--runs` times; medians of user+system CPU time.
 *
 *   npm run bench:stages -- [--packets N] [--runs N]    (the capture comes from `npm run bench`)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCapture } from '../parsers/capture/open';
import { PacketDecoder } from '../parsers/decode/decoder';
import { DecodeStatus } from '../parsers/decode/layers';
import { ConnectionTracker } from '../parsers/conntrack/tracker';
import { TRAFFIC_VERSION } from './traffic';
import { median } from './median';

type Stage = 'decode' | 'track-no-records' | 'track';
const STAGES: Stage[] = ['decode', 'track-no-records', 'track'];

async function runStage(file: string, stage: Stage): Promise<void> {
  const dec = new PacketDecoder();
  const d = dec.newPacket();
  let records = 0;
  const tracker = new ConnectionTracker({ verifyChecksums: false }, () => records++);
  if (stage === 'track-no-records') {
    // Measure tracking without the cost of building record objects at the end of each connection.
    (tracker as unknown as { emitRecord: () => void }).emitRecord = () => undefined;
  }
  const c0 = process.cpuUsage();
  await readCapture(file, (p) => {
    const st = dec.decode(p, d);
    if (stage !== 'decode' && (st === DecodeStatus.OK || (st === DecodeStatus.MALFORMED && d.count > 0))) tracker.onPacket(d, p.tsSec, p.tsNsec);
  });
  tracker.finish();
  const c = process.cpuUsage(c0);
  process.stdout.write(`${JSON.stringify({ cpuMs: (c.user + c.system) / 1000, records })}\n`);
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    void runStage(argv[1], argv[2] as Stage);
    return;
  }
  let packets = 1_000_000;
  let runs = 3;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--packets') packets = Number(argv[++i]);
    else if (argv[i] === '--runs') runs = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'out');
  const file = fs
    .readdirSync(dir)
    .map((f) => path.join(dir, f))
    .find((f) => f.endsWith(`-p${packets}-s59991.pcap`) && f.includes(`pods-v${TRAFFIC_VERSION}-`));
  if (!file) throw new Error(`no ${packets}-packet capture in ${dir}: run npm run bench -- --packets ${packets} first`);
  console.log(`${file}: CPU time per stage, median of ${runs} runs`);
  let prev = 0;
  for (const stage of STAGES) {
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) {
      const res = spawnSync(process.execPath, [__filename, '--child', file, stage], { encoding: 'utf8' });
      if (res.status !== 0) throw new Error(`${stage}: ${res.stderr}`);
      ms.push((JSON.parse(res.stdout) as { cpuMs: number }).cpuMs);
    }
    const m = median(ms);
    console.log(`  ${stage.padEnd(17)} ${m.toFixed(0).padStart(6)} ms CPU  (+${(m - prev).toFixed(0)} ms over the previous stage)`);
    prev = m;
  }
}

main();
