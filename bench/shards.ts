/**
 * A capture job on one worker against the same capture as two shard jobs on two, in one command:
 *
 *   node dist/bench/shards.js CAPTURE [--runs N]
 *
 * The embedded service (in-process queue, SQLite store, detectors off) in this process; each run a
 * fresh data directory, upload to the capture's completion (its events). Runs interleaved
 * (one, two, one, two, ...); medians and their ratio. Checks the two make the same number of records.
 */
import * as fs from 'node:fs';
import { readEvents, startHarness } from '../test/service/harness';

async function once(file: string, sharded: boolean): Promise<{ seconds: number; records: number }> {
  const env: Record<string, string> = sharded
    ? { EASTWATCH_CAPTURE_SHARD_BYTES: '1', EASTWATCH_CAPTURE_SHARDS: '2', EASTWATCH_CAPTURE_CONCURRENCY: '2' }
    : { EASTWATCH_CAPTURE_SHARD_BYTES: '0', EASTWATCH_CAPTURE_CONCURRENCY: '1' };
  const h = await startHarness({ mode: 'local', env: { ...env, EASTWATCH_MAX_UPLOAD_BYTES: String(8 * 2 ** 30) } });
  try {
    const bytes = fs.readFileSync(file);
    const t0 = process.hrtime.bigint();
    const up = await h.call('POST', '/api/v1/captures?name=bench.pcap', { body: bytes });
    if (up.status !== 202) throw new Error(up.text);
    const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst, 3_600_000);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const last = events[events.length - 1].data;
    if (last.state !== 'completed') throw new Error(JSON.stringify(last));
    const got = await h.call('GET', `/api/v1/captures/${up.json.capture.id}`);
    return { seconds, records: got.json.result.records };
  } finally {
    await h.stop();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const file = process.argv[2];
  const i = process.argv.indexOf('--runs');
  const runs = i > 0 ? Number(process.argv[i + 1]) : 3;
  const one: number[] = [];
  const two: number[] = [];
  for (let r = 0; r < runs; r++) {
    const a = await once(file, false);
    const b = await once(file, true);
    if (a.records !== b.records) throw new Error(`records differ: one worker ${a.records}, two ${b.records}`);
    one.push(a.seconds);
    two.push(b.seconds);
    process.stdout.write(`run ${r + 1}: one worker ${a.seconds.toFixed(2)} s, two shards on two ${b.seconds.toFixed(2)} s, ${a.records} records\n`);
  }
  const m1 = median(one);
  const m2 = median(two);
  process.stdout.write(`median: one ${m1.toFixed(2)} s, two ${m2.toFixed(2)} s, speedup ${(m1 / m2).toFixed(2)}x (${fs.statSync(file).size} bytes)\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
