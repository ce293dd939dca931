/**
 * What a store refuses or bounds, on both backends: histograms capped in buckets (the interval
 * widened and said so), lists capped, forged cursors, impossible times, queries too deep or too
 * wild: each refused with StoreRequestError or QueryError (the API's 400), never a crash or an
 * unbounded answer.
 */
import * as assert from 'node:assert/strict';
import { QueryError } from '../../src/query/ast';
import { MAX_EDGE_PAIRS, MAX_EDGES, MAX_HISTOGRAM_BUCKETS } from '../../src/store/common';
import { StoreRequestError, type Store, type StoreRecord } from '../../src/store/types';
import { sampleRecords } from './fixtures';
import { BACKENDS, cleanUp } from './backends';

const refused = (e: unknown): boolean => e instanceof StoreRequestError || e instanceof QueryError;

const cursor = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

for (const backend of BACKENDS) {
  describe(`store bounds (${backend.name})`, function () {
    this.timeout(120_000);
    let store: Store;
    let base: StoreRecord;

    before(async function () {
      store = await backend.make(this, 'bounds');
      const sample = await sampleRecords();
      base = sample[0];
      // 2011 and 2026: a histogram by the second over this span would be ~470 million buckets.
      const far: StoreRecord[] = [
        { ...base, uid: 'CboundsA2011', ts: Date.UTC(2011, 0, 1) / 1000 },
        { ...base, uid: 'CboundsB2026', ts: Date.UTC(2026, 5, 1) / 1000 },
      ];
      await store.write([...sample, ...far]);
      await store.refresh();
    });
    after(cleanUp);

    it('widens a histogram interval that would exceed the bucket cap, and says so', async () => {
      const t0 = Date.now();
      const h = await store.histogram({ intervalSeconds: 1 });
      assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
      assert.equal(h.widened, true);
      assert.ok(h.intervalSeconds > 1);
      assert.ok(h.buckets.length <= MAX_HISTOGRAM_BUCKETS, `${h.buckets.length} buckets`);
      assert.ok(h.buckets.length > 1);
      const total = h.buckets.reduce((n, b) => n + b.connections, 0);
      assert.equal(total, await store.count({}));
      // Buckets are aligned to the epoch at the widened interval.
      for (const b of h.buckets) assert.equal(b.start % (h.intervalSeconds * 1000), 0);
      // The narrow range keeps the interval asked.
      const narrow = await store.histogram({ intervalSeconds: 60, from: '2026-05-31T23:00:00Z', to: '2026-06-01T01:00:00Z' });
      assert.equal(narrow.widened, false);
      assert.equal(narrow.intervalSeconds, 60);
    });

    it('refuses intervals, edge limits and top sizes beyond the caps', async () => {
      await assert.rejects(store.histogram({ intervalSeconds: 0 }), refused);
      await assert.rejects(store.histogram({ intervalSeconds: 1.5 }), refused);
      await assert.rejects(store.edges({ limit: MAX_EDGES + 1 }), refused);
      await assert.rejects(store.top({ field: 'dport', size: 1001 }), refused);
      assert.ok((await store.top({ field: 'dport', size: 1000 })).length > 0);
      assert.ok((await store.edges({ limit: MAX_EDGES })).edges.length > 0);
      await assert.rejects(store.edges({ maxPairs: MAX_EDGE_PAIRS + 1 }), refused);
    });

    it('reads at most maxPairs distinct edges and says when it cut there', async () => {
      const all = await store.edges({ limit: MAX_EDGES });
      assert.equal(all.truncated, false);
      assert.ok(all.pairs > 3, `${all.pairs} pairs in the samples`);
      const cut = await store.edges({ limit: MAX_EDGES, maxPairs: 3 });
      assert.equal(cut.truncated, true);
      assert.equal(cut.pairs, 3);
      assert.equal(cut.edges.length, 3);
      // What it gives are real edges with their full totals, only fewer of them.
      const key = (e: { source: unknown; destination: unknown; transport: string }): string => JSON.stringify([e.source, e.destination, e.transport]);
      const byKey = new Map(all.edges.map((e) => [key(e), e]));
      for (const e of cut.edges) assert.deepEqual(e, byKey.get(key(e)));
      // Exactly as many pairs as the cap is not a cut.
      const exact = await store.edges({ limit: MAX_EDGES, maxPairs: all.pairs });
      assert.equal(exact.truncated, false);
      assert.equal(exact.edges.length, all.edges.length);
    });

    it('refuses forged cursors', async () => {
      for (const forged of [
        cursor([{ a: 1 }, 'x']),
        cursor([[1, 2], 'x']),
        cursor(['not a time', 'x']),
        cursor([1e308, { uid: 1 }]),
        cursor([null, null]),
        'not base64 json',
      ]) {
        await assert.rejects(store.search({ after: forged }), refused, forged);
      }
      await assert.rejects(store.search({ sort: { field: 'dport' }, after: cursor(['x', 'y']) }), refused);
      await assert.rejects(store.searchAlerts({ after: cursor(['x', 'y']) }), refused);
    });

    it('refuses times no calendar holds', async () => {
      await assert.rejects(store.search({ from: 'now-9999999999d' }), refused);
      await assert.rejects(store.count({ to: 'now+9999999999d' }), refused);
      await assert.rejects(store.count({ query: '@timestamp >= now-9999999999d' }), refused);
    });

    it('dead-letters implausible records one by one and keeps the rest of the batch', async () => {
      const good = { ...base, uid: 'CboundsGood' };
      const res = await store.write([
        { ...base, uid: 'x'.repeat(601) },
        good,
        { ...base, uid: 'CboundsHuge', ts: 1e308 },
        { ...base, uid: 'CboundsPort', resp_p: 70000 },
        { ...base, uid: 'CboundsLong', duration: 99999999 },
      ]);
      assert.deepEqual(res, { written: 1, stale: 0, deadLettered: 4 });
      await store.refresh();
      assert.ok(await store.get('CboundsGood'));
      const dead = await store.deadLetters(10);
      const reasons = dead.map((d) => d.reason).join('\n');
      for (const f of ['uid', 'ts', 'resp_p', 'duration']) assert.match(reasons, new RegExp(`invalid record: ${f}:`));
    });

    it('refuses queries nested too deep or with too many wildcards', async () => {
      await assert.rejects(store.search({ query: `${'not '.repeat(1000)}state: SF` }), refused);
      await assert.rejects(store.count({ query: `${'('.repeat(1000)}state: SF${')'.repeat(1000)}` }), refused);
      await assert.rejects(store.count({ query: `service: ${'*a'.repeat(1000)}` }), refused);
      await assert.rejects(store.count({ query: `uid: ${'?'.repeat(1000)}` }), refused);
      // Within the bounds they still work.
      assert.equal(await store.count({ query: `${'not '.repeat(10)}uid: CboundsA2011` }), 1);
      assert.equal(await store.count({ query: 'uid: Cbounds?20*1' }), 1);
    });
  });
}
