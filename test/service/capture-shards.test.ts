/**
 * A capture analysed as shard jobs (jobs/capture-shards.ts) is the capture analysed by one job:
 * the same records (uids and every field), application records and alerts, and its status,
 * progress and result are the whole capture's. On the in-process queue, and on Bull (Redis at
 * 127.0.0.1:6379) with two workers sharing the jobs, both over the embedded SQLite store.
 */
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Alert } from '../../detectors/contract/alert';
import { serviceAlerts } from '../../src/service/jobs/detect';
import { work, type Running } from '../../src/service/serve';
import type { StoreAppRecord, StoreRecord } from '../../src/store/types';
import { readEvents, sample, startHarness, type Harness } from './harness';

const SAMPLES = ['pod-traffic.pcap', 'vxlan-overlay.pcap', 'scan.pcap', 'failed-connections.pcap'];

interface Analysed {
  final: Record<string, any>;
  capture: Record<string, any>;
}

interface Everything {
  captures: Map<string, Analysed>;
  records: StoreRecord[];
  apps: StoreAppRecord[];
  alerts: Alert[];
}

async function analyseAll(h: Harness): Promise<Everything> {
  const captures = new Map<string, Analysed>();
  for (const name of SAMPLES) {
    const up = await h.call('POST', `/api/v1/captures?name=${name}`, { body: fs.readFileSync(sample(name)) });
    assert.equal(up.status, 202, up.text);
    const id = up.json.capture.id as string;
    const events = await readEvents(`${h.url}/api/v1/captures/${id}/events`, h.keys.analyst);
    const got = await h.call('GET', `/api/v1/captures/${id}`);
    assert.equal(got.status, 200, got.text);
    captures.set(name, { final: events[events.length - 1].data, capture: got.json });
  }
  return { captures, ...(await analysedStore(h)) };
}

/** Every record, application record and alert in the store. */
async function analysedStore(h: Harness): Promise<Omit<Everything, 'captures'>> {
  const store = h.running.runtime.store;
  await store.refresh();
  const page = await store.search({ limit: 10_000, sort: { field: 'uid', order: 'asc' } });
  assert.equal(page.next, null);
  const records = page.records;
  const apps: StoreAppRecord[] = [];
  for (const r of records) apps.push(...(await store.appsOf(r.uid)));
  const alerts = (await store.searchAlerts({ limit: 10_000, includeSuppressed: true })).alerts.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { records, apps, alerts };
}

/** What a finished capture says of itself that is not when or how long. */
function outcome(a: Analysed): Record<string, unknown> {
  const { seconds: _s, ...result } = a.capture.result as Record<string, unknown>;
  return { state: a.capture.state, progress: a.capture.progress, result, finishedWithErrors: a.capture.finishedWithErrors };
}

/** An alert without the times the store stamps it with when written. */
function alertFields(a: Alert): Record<string, unknown> {
  const o: Record<string, unknown> = { ...a };
  for (const k of Object.keys(o)) if (/(^|_)(created|updated)(_at)?$|At$/.test(k)) delete o[k];
  return o;
}

function assertSame(sharded: Everything, single: Everything): void {
  assert.ok(single.records.length > 500, `the samples make records (${single.records.length})`);
  assert.ok(single.apps.length > 0, 'and application records');
  assert.ok(single.alerts.length > 0, 'and alerts');
  assert.deepEqual(
    sharded.records.map((r) => r.uid),
    single.records.map((r) => r.uid),
  );
  for (let i = 0; i < single.records.length; i++) assert.deepEqual(sharded.records[i], single.records[i], `record ${single.records[i].uid}`);
  assert.deepEqual(sharded.apps, single.apps);
  assert.deepEqual(sharded.alerts.map(alertFields), single.alerts.map(alertFields));
  for (const name of SAMPLES) {
    const s = sharded.captures.get(name) as Analysed;
    const one = single.captures.get(name) as Analysed;
    assert.equal(s.final.state, 'completed', name);
    assert.deepEqual(outcome(s), outcome(one), name);
    // The whole capture read, every record counted.
    assert.equal(s.capture.progress.bytesRead, s.capture.progress.totalBytes, name);
    assert.equal(s.capture.result.records, single.records.filter((r) => r.capture === s.capture.id).length, name);
  }
}

describe('capture shard jobs', function () {
  this.timeout(300_000);
  let single: Everything;
  const stops: (() => Promise<void>)[] = [];
  before(async () => {
    const h = await startHarness({ mode: 'local', detectors: true, env: { EASTWATCH_CAPTURE_SHARD_BYTES: '0' } });
    stops.push(() => h.stop());
    single = await analyseAll(h);
    assert.equal((await h.running.runtime.queues.captureShards.counts()).completed, 0, 'unsharded: no shard job');
  });
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  });

  it('on the in-process queue: two shards per capture give the one-job records, alerts and outcome', async () => {
    const h = await startHarness({
      mode: 'local',
      detectors: true,
      env: { EASTWATCH_CAPTURE_SHARD_BYTES: '1', EASTWATCH_CAPTURE_SHARDS: '2', EASTWATCH_CAPTURE_CONCURRENCY: '2' },
    });
    stops.push(() => h.stop());
    const sharded = await analyseAll(h);
    assert.equal((await h.running.runtime.queues.captureShards.counts()).completed, 2 * SAMPLES.length);
    assertSame(sharded, single);

    // Re-analysed: new shard jobs (the next generation), the records removed and written again, the alerts kept.
    const scan = (sharded.captures.get('scan.pcap') as Analysed).capture.id as string;
    const re = await h.call('POST', `/api/v1/captures/${scan}/reanalyze`);
    assert.equal(re.status, 202, re.text);
    const events = await readEvents(`${h.url}/api/v1/captures/${scan}/events`, h.keys.analyst);
    assert.equal(events[events.length - 1].data.state, 'completed');
    const got = await h.call('GET', `/api/v1/captures/${scan}`);
    const scanRecords = single.records.filter((r) => r.capture === scan);
    assert.equal(got.json.result.replaced.records, scanRecords.length);
    assert.equal(got.json.result.replaced.alertsRemoved, 0);
    assert.equal(got.json.result.alerts, (single.captures.get('scan.pcap') as Analysed).capture.result.alerts);
    assert.equal((await h.running.runtime.queues.captureShards.get(`${scan}-1-1of2`))?.state, 'completed');
    const again = await analysedStore(h);
    assert.deepEqual(again.records, sharded.records);
    assert.deepEqual(again.apps, sharded.apps);
    assert.deepEqual(again.alerts.map(alertFields), sharded.alerts.map(alertFields));
  });

  it('on Bull with two workers: the same', async () => {
    const prefix = `ewtest-shards-${crypto.randomBytes(4).toString('hex')}`;
    const h = await startHarness({
      mode: 'local',
      detectors: true,
      env: { REDIS_URL: 'redis://127.0.0.1:6379', EASTWATCH_QUEUE_PREFIX: prefix, EASTWATCH_CAPTURE_SHARD_BYTES: '1', EASTWATCH_CAPTURE_SHARDS: '2' },
    });
    stops.push(async () => {
      await h.stop();
      const IORedis = (await import('ioredis')).default;
      const r = new IORedis('redis://127.0.0.1:6379');
      for (const k of await r.keys(`${prefix}:*`)) await r.del(k);
      await r.quit();
    });
    assert.equal(h.running.runtime.queues.kind, 'bull');
    // The second worker: its own runtime (queues, store connection), as `eastwatch worker` makes.
    const second: Running = await work(h.cfg, { alerts: (rt) => serviceAlerts(rt, true), log: () => undefined });
    stops.push(() => second.stop());
    const sharded = await analyseAll(h);
    assert.equal((await h.running.runtime.queues.captureShards.counts()).completed, 2 * SAMPLES.length);
    assertSame(sharded, single);
  });

  it('retries a failed shard alone: the other shard runs once, the capture once, the records are the one-job records', async () => {
    const h = await startHarness({
      mode: 'local',
      detectors: true,
      env: { EASTWATCH_CAPTURE_SHARD_BYTES: '1', EASTWATCH_CAPTURE_SHARDS: '2', EASTWATCH_CAPTURE_CONCURRENCY: '2', EASTWATCH_JOB_ATTEMPTS: '3' },
    });
    stops.push(() => h.stop());
    const name = 'pod-traffic.pcap';
    const bytes = fs.readFileSync(sample(name));
    const id = crypto.createHash('sha256').update(bytes).digest('hex');
    // Shard 2's spool cannot be created while a directory holds its name: its first attempt fails.
    const blocker = path.join(h.running.runtime.uploadsDir, '.shards', `${id}-0-1of2.jsonl.part`);
    fs.mkdirSync(blocker, { recursive: true });
    const shards = h.running.runtime.queues.captureShards;
    const up = await h.call('POST', `/api/v1/captures?name=${name}`, { body: bytes });
    assert.equal(up.status, 202, up.text);
    assert.equal(up.json.capture.id, id);
    let reason: string | null = null;
    for (let i = 0; ; i++) {
      const j = await shards.get(`${id}-0-1of2`);
      if (j !== null && j.attemptsMade >= 1 && j.state !== 'active') {
        reason = j.failedReason;
        assert.equal(j.state, 'delayed', 'waits for its retry');
        break;
      }
      assert.ok(i < 600, 'shard 2 fails its first attempt');
      await new Promise((r) => setTimeout(r, 50));
    }
    fs.rmSync(blocker, { recursive: true });
    const events = await readEvents(`${h.url}/api/v1/captures/${id}/events`, h.keys.analyst);
    assert.equal(events[events.length - 1].data.state, 'completed');
    const first = await shards.get(`${id}-0-0of2`);
    const second = await shards.get(`${id}-0-1of2`);
    assert.equal(first?.attemptsMade, 1);
    assert.equal(second?.attemptsMade, 2);
    assert.match(String(reason), /shard 2 of 2: its spool could not be written \(EISDIR\)/);
    assert.equal((await h.running.runtime.queues.captures.get(id))?.attemptsMade, 1);
    const got = await h.call('GET', `/api/v1/captures/${id}`);
    const one = single.captures.get(name) as Analysed;
    assert.deepEqual(outcome({ final: {}, capture: got.json }), outcome(one));
    const store = h.running.runtime.store;
    await store.refresh();
    const page = await store.search({ limit: 10_000, sort: { field: 'uid', order: 'asc' } });
    assert.deepEqual(
      page.records,
      single.records.filter((r) => r.capture === id),
    );
    // The spools are consumed.
    assert.deepEqual(fs.readdirSync(path.dirname(blocker)), []);
  });
});
