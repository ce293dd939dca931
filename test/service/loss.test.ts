/**
 * No record lost, none doubled: a worker process killed with SIGKILL in the middle of a capture,
 * and Redis restarted in the middle of ingestion. Real processes, a real Redis (a private one with
 * AOF for the restart, as docker-compose runs it), the real store.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateTraffic } from '../../bench/traffic';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { Store } from '../../src/store/types';
import { startHarness, type Harness } from './harness';

const MAIN = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function startWorker(env: Record<string, string>, log: string[]): ChildProcess {
  const child = spawn(process.execPath, [MAIN, 'worker', '--no-detectors'], {
    // Short enough that a killed worker's job is taken up within seconds; long enough that a live
    // worker on a loaded 2-core machine (load 18 in one CI run, where a 2 s lock was lost twice and
    // Bull failed the job as stalled) renews its lock in time.
    env: { ...process.env, ...env, EASTWATCH_JOB_LOCK_MS: '8000', EASTWATCH_STALLED_INTERVAL_MS: '2000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  return child;
}

async function stop(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([gone, sleep(10_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Every uid in the store (paged), and how many records the store holds. */
async function storedUids(store: Store): Promise<{ uids: Set<string>; count: number }> {
  await store.refresh();
  const uids = new Set<string>();
  let after: string | undefined;
  for (;;) {
    const page = await store.search({ limit: 10_000, after, sort: { field: 'uid', order: 'asc' } });
    for (const r of page.records) uids.add(r.uid);
    if (page.next === null) break;
    after = page.next;
  }
  return { uids, count: await store.count({}) };
}

async function expectedUids(file: string): Promise<Set<string>> {
  const uids = new Set<string>();
  await analyzeFile(file, (r) => uids.add(r.uid), { tracker: { payload: analyzerFactory(() => undefined) } });
  return uids;
}

async function waitFor<T>(what: string, f: () => Promise<T | null | undefined | false>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

describe('no loss, no duplicates (real worker processes, real Redis)', function () {
  this.timeout(300_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-loss-'));
  const capture = path.join(tmp, 'traffic.pcap');
  let expected: Set<string>;

  before(async () => {
    if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm test does)`);
    await generateTraffic(capture, { packets: 400_000, seed: 11 });
    expected = await expectedUids(capture);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('a worker killed with SIGKILL mid-capture', () => {
    let h: Harness;
    const workers: ChildProcess[] = [];
    const log: string[] = [];
    before(async () => {
      h = await startHarness({ mode: process.env.ES_URL ? 'redis+es' : 'local', workers: false });
      if (h.mode === 'local') throw new Error('this test needs Redis and a store shared between processes: set ES_URL');
    });
    after(async () => {
      for (const w of workers) await stop(w);
      await h?.stop();
    });

    it('the job is taken up by another worker and every record is stored exactly once', async () => {
      const first = startWorker(h.env, log);
      workers.push(first);
      const up = await h.call('POST', '/api/v1/captures?name=traffic.pcap', { body: fs.readFileSync(capture) });
      assert.equal(up.status, 202, up.text);
      const id = up.json.capture.id as string;
      const total = up.json.capture.bytes as number;
      // Kill it once it has read part of the capture, well before the end.
      const midway = await waitFor(
        'progress',
        async () => {
          const j = (await h.call('GET', `/api/v1/captures/${id}`)).json;
          return j.state === 'active' && j.progress && j.progress.bytesRead > 0 ? j.progress : null;
        },
        60_000,
      );
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      const killedAt = Date.now();
      assert.ok(midway.bytesRead < total, `killed at ${midway.bytesRead} of ${total} bytes`);
      workers.push(startWorker(h.env, log));
      const done = await waitFor(
        'completion',
        async () => {
          const j = (await h.call('GET', `/api/v1/captures/${id}`)).json;
          return j.state === 'completed' || j.state === 'failed' ? j : null;
        },
        180_000,
      );
      assert.equal(done.state, 'completed', `${done.failedReason} ${log.join('')}`);
      assert.ok(Date.parse(done.startedAt) >= killedAt, `the job was taken up again after the kill (started ${done.startedAt})`);
      const got = await storedUids(h.running.runtime.store);
      assert.equal(got.count, expected.size, 'records in the store');
      assert.equal(got.uids.size, expected.size);
      for (const u of expected) assert.ok(got.uids.has(u), `${u} missing`);
    });
  });

  describe('Redis restarted mid-ingest (AOF, as docker-compose runs it)', () => {
    const port = 6391;
    const dir = path.join(tmp, 'redis');
    let h: Harness;
    let worker: ChildProcess | null = null;
    const log: string[] = [];
    const redisUp = (): void => {
      const r = spawnSync('redis-server', [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--dir',
        dir,
        '--daemonize',
        'yes',
        '--logfile',
        path.join(dir, 'redis.log'),
      ]);
      if (r.status !== 0) throw new Error(`redis-server: ${r.stderr.toString()}`);
    };
    const redisDown = (): void => {
      spawnSync('redis-cli', ['-p', String(port), 'shutdown']);
    };
    before(async function () {
      if (spawnSync('redis-server', ['--version']).status !== 0) this.skip();
      fs.mkdirSync(dir, { recursive: true });
      redisUp();
      await sleep(300);
      h = await startHarness({ mode: process.env.ES_URL ? 'redis+es' : 'local', workers: false, env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
      if (h.mode === 'local') throw new Error('this test needs ES_URL');
    });
    after(async () => {
      await stop(worker);
      await h?.stop().catch(() => undefined);
      redisDown();
    });

    it('every record of the capture being analysed while Redis restarts is stored exactly once', async () => {
      worker = startWorker(h.env, log);
      const up = await h.call('POST', '/api/v1/captures?name=traffic.pcap', { body: fs.readFileSync(capture) });
      assert.equal(up.status, 202, up.text);
      const id = up.json.capture.id as string;
      await waitFor(
        'progress',
        async () => {
          const j = (await h.call('GET', `/api/v1/captures/${id}`)).json;
          return j.state === 'active' && j.progress && j.progress.bytesRead > 0;
        },
        60_000,
      );
      redisDown();
      await sleep(1500);
      redisUp();
      const done = await waitFor(
        'completion',
        async () => {
          const r = await h.call('GET', `/api/v1/captures/${id}`).catch(() => null);
          const j = r?.json;
          return j && (j.state === 'completed' || j.state === 'failed') ? j : null;
        },
        180_000,
      );
      assert.equal(done.state, 'completed', `${done.failedReason} ${log.join('')}`);
      const got = await storedUids(h.running.runtime.store);
      assert.equal(got.count, expected.size);
      for (const u of expected) assert.ok(got.uids.has(u), `${u} missing`);
    });
  });
});
