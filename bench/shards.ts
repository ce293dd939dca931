/**
 * A capture job on one worker against the same capture as two shard jobs on two, in one command:
 *
 *   node dist/bench/shards.js CAPTURE [--runs N] [--processes]
 *
 * By default the embedded service (in-process queue, SQLite store, detectors off) in this
 * process: both shard jobs share its one JavaScript thread. `--processes` runs the service as a
 * deployment does: `eastwatch serve` (the API alone) and one `eastwatch worker` process per
 * worker, on the Redis of REDIS_URL (default redis://127.0.0.1:6379) and one SQLite store in a
 * shared data directory, each run with its own data directory and queue prefix (removed after).
 * Each run a fresh data directory, upload to the capture's completion (its events). Runs
 * interleaved (one, two, one, two, ...); medians and their ratio. Checks the two make the same
 * number of records.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { KeyStore } from '../src/service/keys';
import { dropQueueKeys, readEvents, startHarness } from '../test/service/harness';

const MAIN = path.resolve(__dirname, '..', 'src', 'cli', 'main.js');
const MAX_UPLOAD = String(8 * 2 ** 30);

type Run = { seconds: number; uploadSeconds: number; records: number };

/** Whether a capture is split into two shard jobs (every capture is at least 1 byte) or taken whole. */
function shardEnv(sharded: boolean): Record<string, string> {
  return sharded ? { EASTWATCH_CAPTURE_SHARD_BYTES: '1', EASTWATCH_CAPTURE_SHARDS: '2' } : { EASTWATCH_CAPTURE_SHARD_BYTES: '0' };
}

/**
 * POSTs the file as the raw body, streamed from disk with node:http (fetch took about 8 s to send
 * the 818 MB pods capture from memory, a plain Node server receiving it in 1.3 s; curl sent it
 * in 4 s with its read of the file). Resolves with the status and the response body.
 */
function post(url: string, key: string, file: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-length': fs.statSync(file).size } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    fs.createReadStream(file, { highWaterMark: 1 << 20 })
      .on('error', reject)
      .pipe(req);
  });
}

/** Uploads the capture and waits for its last event; seconds from the upload's start (and to its acceptance) and the records made. */
async function uploadAndWait(url: string, keys: { ingest: string; analyst: string }, file: string): Promise<Run> {
  const t0 = process.hrtime.bigint();
  const up = await post(`${url}/api/v1/captures?name=bench.pcap`, keys.ingest, file);
  const uploadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (up.status !== 202) throw new Error(`upload: ${up.status} ${up.text}`);
  const id = (JSON.parse(up.text) as { capture: { id: string } }).capture.id;
  const events = await readEvents(`${url}/api/v1/captures/${id}/events`, keys.analyst, 3_600_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const last = events[events.length - 1].data;
  if (last.state !== 'completed') throw new Error(JSON.stringify(last));
  const got = await fetch(`${url}/api/v1/captures/${id}`, { headers: { authorization: `Bearer ${keys.analyst}` } });
  return { seconds, uploadSeconds, records: ((await got.json()) as { result: { records: number } }).result.records };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Resolves once the child wrote `line` to stderr; rejects if it exits first. */
function started(child: ChildProcess, line: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
      if (line.test(err)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready: ${err}`)));
  });
}

/** User plus system CPU seconds of a live child so far (Linux /proc; NaN elsewhere). */
function cpuSeconds(child: ChildProcess): number {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces; times in USER_HZ (100 on Linux).
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await gone;
  clearTimeout(timer);
}

/** The service as processes: `serve` (API only) and `workers` worker processes on Redis, one data directory. */
async function onceProcesses(file: string, sharded: boolean): Promise<Run> {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-shards-'));
  const prefix = `ewbench-shards-${process.pid}-${Date.now()}`;
  const port = await freePort();
  const env = {
    ...process.env,
    ...shardEnv(sharded),
    // One capture at a time per worker process: the second worker is the second core.
    EASTWATCH_CAPTURE_CONCURRENCY: '1',
    REDIS_URL: redisUrl,
    EASTWATCH_DATA_DIR: dataDir,
    EASTWATCH_QUEUE_PREFIX: prefix,
    EASTWATCH_PORT: String(port),
    EASTWATCH_MAX_UPLOAD_BYTES: MAX_UPLOAD,
  };
  const ks = KeyStore.inDataDir(dataDir);
  const keys = { ingest: ks.create('bench-ingest', 'ingest').token, analyst: ks.create('bench-analyst', 'analyst').token };
  const children: ChildProcess[] = [];
  const spawnMain = (args: string[]): ChildProcess => {
    const c = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(c);
    return c;
  };
  try {
    const api = spawnMain(['serve', '--no-detectors']);
    const ready = [started(api, /eastwatch http/, 'serve')];
    for (let i = 0; i < (sharded ? 2 : 1); i++) ready.push(started(spawnMain(['worker', '--no-detectors']), /eastwatch worker \d+/, 'worker'));
    await Promise.all(ready);
    const res = await uploadAndWait(`http://127.0.0.1:${port}`, keys, file);
    // Where the run's CPU went: the API process takes the upload, the workers analyse and store.
    const cpu = children.map((c, i) => `${i === 0 ? 'serve' : `worker ${i}`} ${cpuSeconds(c).toFixed(2)} s`);
    process.stdout.write(`  ${sharded ? 'two shards' : 'one worker'}: CPU ${cpu.join(', ')}\n`);
    return res;
  } finally {
    await Promise.all(children.map(stop));
    await dropQueueKeys(redisUrl, prefix);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function once(file: string, sharded: boolean): Promise<Run> {
  // One process: its two capture slots are the two workers.
  const h = await startHarness({
    mode: 'local',
    env: { ...shardEnv(sharded), EASTWATCH_CAPTURE_CONCURRENCY: sharded ? '2' : '1', EASTWATCH_MAX_UPLOAD_BYTES: MAX_UPLOAD },
  });
  try {
    return await uploadAndWait(h.url, h.keys, file);
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
  const processes = process.argv.includes('--processes');
  const run = processes ? onceProcesses : once;
  const one: number[] = [];
  const two: number[] = [];
  for (let r = 0; r < runs; r++) {
    const a = await run(file, false);
    const b = await run(file, true);
    if (a.records !== b.records) throw new Error(`records differ: one worker ${a.records}, two ${b.records}`);
    one.push(a.seconds);
    two.push(b.seconds);
    process.stdout.write(
      `run ${r + 1}${processes ? ' (worker processes)' : ''}: one worker ${a.seconds.toFixed(2)} s, two shards on two ${b.seconds.toFixed(2)} s ` +
        `(the upload ${a.uploadSeconds.toFixed(2)} s and ${b.uploadSeconds.toFixed(2)} s of them), ${a.records} records\n`,
    );
  }
  const m1 = median(one);
  const m2 = median(two);
  process.stdout.write(`median: one ${m1.toFixed(2)} s, two ${m2.toFixed(2)} s, speedup ${(m1 / m2).toFixed(2)}x (${fs.statSync(file).size} bytes)\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
