/**
 * The SQLite store's per-query bound: a search or aggregation that runs past queryTimeoutMs is
 * stopped inside SQLite (the deadline function in its WHERE clause) and refused with a
 * StoreRequestError, the API's 400, naming the bound; the store answers the next query. The
 * same data under the default bound answers, so the refusal is the timeout's and nothing else.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteStore } from '../../src/store/sqlite';
import { StoreRequestError, type StoreRecord } from '../../src/store/types';
import { startHarness, type Harness } from '../service/harness';
import { sampleRecords } from './fixtures';

/** Rows enough that no machine visits them all, one JS call each, within the 1 ms bound. */
const N = 40_000;
/** A wildcard no index serves: every row is visited. */
const SCAN = 'history:*a*d*';
/** Matches nothing, so a page walking the time index cannot stop early: every row is visited. */
const SCAN_NONE = 'history:*a*d* and history:*zz*';

function many(base: StoreRecord, n: number, prefix: string): StoreRecord[] {
  return Array.from({ length: n }, (_, i) => ({ ...base, uid: `${prefix}${i.toString(36)}`, ts: base.ts + i, history: i % 2 ? 'ShADad' : 'ShAFf' }));
}

const timedOut = (e: unknown): boolean => e instanceof StoreRequestError && /ran longer than 1 ms and was stopped/.test(e.message);

describe('SQLite query timeout', function () {
  this.timeout(120_000);
  let dir: string;
  let tight: SqliteStore;
  let roomy: SqliteStore;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-qt-'));
    roomy = new SqliteStore({ dataDir: dir });
    await roomy.init();
    const base = (await sampleRecords())[0];
    await roomy.write(many(base, N, 'Cqt'));
    // The same file, read under a 1 ms bound.
    tight = new SqliteStore({ dataDir: dir, queryTimeoutMs: 1 });
    await tight.init();
  });
  after(async () => {
    await tight?.close();
    await roomy?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stops every kind of query that scans past the bound, with a StoreRequestError naming it', async () => {
    await assert.rejects(tight.search({ query: SCAN_NONE, limit: 10 }), timedOut);
    await assert.rejects(tight.search({ query: SCAN_NONE, limit: 10, sort: { field: 'dport', order: 'asc' } }), timedOut);
    await assert.rejects(tight.count({ query: SCAN }), timedOut);
    await assert.rejects(tight.top({ query: SCAN, field: 'history' }), timedOut);
    await assert.rejects(tight.histogram({ query: SCAN, intervalSeconds: 60 }), timedOut);
    await assert.rejects(tight.distinct({ query: SCAN, field: 'uid' }), timedOut);
    await assert.rejects(tight.edges({ query: SCAN }), timedOut);
  });

  it('answers the same queries under the default bound, and cheap queries under the tight one', async () => {
    assert.equal(await roomy.count({ query: SCAN }), N / 2);
    assert.deepEqual((await roomy.search({ query: SCAN_NONE, limit: 10 })).records, []);
    assert.equal((await roomy.top({ query: SCAN, field: 'history' }))[0].connections, N / 2);
    // An index lookup visits a row or two: far fewer than the clock is read after.
    const one = await tight.search({ query: 'uid:Cqt1' });
    assert.deepEqual(
      one.records.map((r) => r.uid),
      ['Cqt1'],
    );
    assert.equal((await tight.get('Cqt2'))?.uid, 'Cqt2');
    // The bound is per statement: the one after a stopped one starts with its own.
    await assert.rejects(tight.count({ query: SCAN }), timedOut);
    assert.equal(await tight.count({ query: 'uid:Cqt3' }), 1);
  });

  describe('through the API', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ mode: 'local', env: { EASTWATCH_QUERY_TIMEOUT_MS: '1' } });
      const base = (await sampleRecords())[0];
      await h.running.runtime.store.write(many(base, N, 'Capi'));
    });
    after(async () => {
      await h?.stop();
    });

    it('answers 400 with the bound, and serves the next request', async () => {
      for (const p of [
        `/api/v1/connections?q=${encodeURIComponent(SCAN_NONE)}`,
        `/api/v1/aggregations/count?q=${encodeURIComponent(SCAN)}`,
        `/api/v1/aggregations/edges?q=${encodeURIComponent(SCAN)}`,
      ]) {
        const r = await h.call('GET', p);
        assert.equal(r.status, 400, `${p}: ${r.text.slice(0, 300)}`);
        assert.match(r.json.error, /ran longer than 1 ms and was stopped: narrow the time range or the query/);
      }
      const ok = await h.call('GET', '/api/v1/aggregations/count?q=uid:Capi5');
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.count, 1);
    });
  });
});
