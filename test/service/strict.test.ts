/**
 * The API is strict: unknown query parameters and ranges whose from is after their to are 400s
 * that name them on every route, `limit` is the one name for "how many", every field the query
 * language takes is aggregated on (`field=ns`), and a flows body rejected whole is a 400.
 * On the embedded default and on Redis + Elasticsearch, with the k8s sample capture and its inventory.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

function suite(mode: Mode): void {
  describe(`service API strictness (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(120_000);
    let h: Harness;
    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode });
      const inv = await h.call('POST', '/api/v1/inventory?source=test', {
        key: h.keys.ingest,
        body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(inv.status, 201, inv.text);
      const up = await h.call('POST', '/api/v1/captures?name=cluster.pcap', { body: fs.readFileSync(sample('k8s/cluster.pcap')) });
      assert.equal(up.status, 202, up.text);
      const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
      assert.equal(events[events.length - 1].data.state, 'completed');
      await h.running.runtime.store.refresh();
    });
    after(async () => {
      await h?.stop();
    });

    it('refuses an unknown query parameter on every route of the OpenAPI document, naming it', async () => {
      const doc = await h.call('GET', '/api/v1/openapi.json');
      assert.equal(doc.status, 200);
      let checked = 0;
      for (const [p, ops] of Object.entries(doc.json.paths as Record<string, Record<string, unknown>>)) {
        for (const method of Object.keys(ops)) {
          const url = `${p.replace(/\{[^}]+\}/g, 'x')}?bogus_param=1`;
          const r = await h.call(method.toUpperCase(), url, { key: h.keys.admin, ...(method === 'get' || method === 'delete' ? {} : { body: {} }) });
          assert.equal(r.status, 400, `${method} ${url}: ${r.text}`);
          assert.match(r.json.error, /unknown query parameter 'bogus_param'/, `${method} ${url}`);
          checked++;
        }
      }
      assert.ok(checked > 20, `only ${checked} operations checked`);
    });

    it('refuses count?query= (a misspelt q) instead of answering the total', async () => {
      const r = await h.call('GET', '/api/v1/aggregations/count?query=ns:shop');
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.error, /'query'.*accepted: q, from, to/);
      assert.deepEqual(r.json.details, [{ where: 'query parameters', path: 'query', message: 'unknown parameter' }]);
    });

    it('refuses from after to, on searches, aggregations and alerts', async () => {
      const range = 'from=2026-01-16T00:00:00Z&to=2026-01-15T00:00:00Z';
      for (const p of ['/api/v1/connections', '/api/v1/aggregations/count', '/api/v1/aggregations/histogram?interval=60', '/api/v1/alerts', '/api/v1/dns']) {
        const r = await h.call('GET', `${p}${p.includes('?') ? '&' : '?'}${range}`);
        assert.equal(r.status, 400, `${p}: ${r.text}`);
        assert.match(r.json.error, /from \(2026-01-16T00:00:00Z\) is after to \(2026-01-15T00:00:00Z\)/, p);
      }
      // An equal or ordered range is still an answer.
      const ok = await h.call('GET', '/api/v1/aggregations/count?from=2026-01-15T00:00:00Z&to=2026-01-16T00:00:00Z');
      assert.equal(ok.status, 200, ok.text);
      assert.ok(ok.json.count > 0);
      const wi = await h.call('POST', '/api/v1/policies/what-if', { body: { policies: '', from: '2026-01-16T00:00:00Z', to: '2026-01-15T00:00:00Z' } });
      assert.equal(wi.status, 400, wi.text);
    });

    it('takes limit (and only limit) for the number of top values', async () => {
      const top = await h.call('GET', '/api/v1/aggregations/top?field=destination.port&limit=2');
      assert.equal(top.status, 200, top.text);
      assert.equal(top.json.buckets.length, 2);
      const old = await h.call('GET', '/api/v1/aggregations/top?field=destination.port&size=2');
      assert.equal(old.status, 400, old.text);
      assert.match(old.json.error, /'size'.*accepted: q, from, to, field, limit/);
    });

    it('aggregates on every field the queries take, either-end aliases included (field=ns)', async () => {
      // The oracle: every record, each counted once per distinct namespace at either end.
      const records: { k8s?: { orig?: { namespace?: string }; resp?: { namespace?: string } } }[] = [];
      for (let after: string | null = ''; after !== null; ) {
        const page = await h.call('GET', `/api/v1/connections?limit=1000${after ? `&after=${after}` : ''}`);
        assert.equal(page.status, 200, page.text);
        records.push(...page.json.records);
        after = page.json.next;
      }
      const want = new Map<string, { c: number; b: number }>();
      for (const r of records) {
        const names = new Set([r.k8s?.orig?.namespace, r.k8s?.resp?.namespace].filter((n): n is string => typeof n === 'string'));
        for (const n of names) {
          const e = want.get(n) ?? { c: 0, b: 0 };
          e.c++;
          want.set(n, e);
        }
      }
      assert.ok(want.size >= 2, `the sample spans namespaces: ${[...want.keys()]}`);
      const top = await h.call('GET', '/api/v1/aggregations/top?field=ns&limit=100');
      assert.equal(top.status, 200, top.text);
      assert.deepEqual(
        Object.fromEntries(top.json.buckets.map((b: { key: string; connections: number }) => [b.key, b.connections])),
        Object.fromEntries([...want].map(([k, v]) => [k, v.c])),
      );
      const d = await h.call('GET', '/api/v1/aggregations/distinct?field=ns');
      assert.equal(d.status, 200, d.text);
      assert.equal(d.json.distinct, want.size);
      // Aliases resolve too; an unknown name is refused with a suggestion.
      const port = await h.call('GET', '/api/v1/aggregations/distinct?field=dport');
      assert.equal(port.status, 200, port.text);
      const bad = await h.call('GET', '/api/v1/aggregations/top?field=namespac');
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.json.error, /unknown field 'namespac'/);
    });

    it('answers 400, not 202, to a flows body rejected whole, and lists why', async () => {
      const r = await h.call('POST', '/api/v1/flows?format=aws-vpc', { key: h.keys.ingest, body: 'not a flow line\nnor this\n' });
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.error, /every line of the request was rejected \(2\); first: line 1/);
      assert.equal(r.json.details.records, 0);
      assert.deepEqual(
        r.json.details.errors.map((e: { line: number }) => e.line),
        [1, 2],
      );
      assert.deepEqual(r.json.details.jobs, []);
    });
  });
}

suite('local');
suite('redis+es');
