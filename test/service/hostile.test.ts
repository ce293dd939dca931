/**
 * The service under hostile and careless clients, on the embedded default and on Redis +
 * Elasticsearch: requests that cannot be served answered 400 (never 500, never a blocked
 * process), histograms capped, implausible flow records refused by line while the rest of the
 * request is stored, a flow record unable to replace or shadow a capture's record, one uid one
 * document in both backends, and a CSP that works over plain HTTP.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

const cursor = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

function suite(mode: Mode): void {
  describe(`hostile clients (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(120_000);
    let h: Harness;
    let recs: ConnRecord[];
    let captureUid: string;
    let captured: Record<string, unknown>;

    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode });
      recs = [];
      await analyzeFile(sample('pod-traffic.pcap'), (r) => recs.push(r));
      const up = await h.call('POST', '/api/v1/captures?name=pod-traffic.pcap', {
        body: fs.readFileSync(sample('pod-traffic.pcap')),
        headers: { 'content-type': 'application/vnd.tcpdump.pcap' },
      });
      assert.equal(up.status, 202, up.text);
      const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
      assert.equal(events[events.length - 1].data.state, 'completed');
      await h.running.runtime.store.refresh();
      captureUid = recs[0].uid;
      const one = await h.call('GET', `/api/v1/connections/${captureUid}`);
      assert.equal(one.status, 200, one.text);
      captured = one.json.record;
    });
    after(async () => {
      await h?.stop();
    });

    const get = (p: string): ReturnType<Harness['call']> => h.call('GET', p);
    const q = (s: string): string => encodeURIComponent(s);

    it('answers 400, with a reason, what it cannot serve', async () => {
      const cases: [string, RegExp][] = [
        [`/api/v1/connections?q=${q(`${'not '.repeat(1000)}state:SF`)}`, /nests deeper/],
        [`/api/v1/connections?q=${q(`${'('.repeat(1000)}state:SF${')'.repeat(1000)}`)}`, /nests deeper/],
        [`/api/v1/aggregations/count?q=${q(`service:${'*a'.repeat(1000)}`)}`, /wildcards/],
        [`/api/v1/connections?q=${q(`uid:${'?'.repeat(1000)}`)}`, /wildcards/],
        [`/api/v1/connections?after=${cursor([{ a: 1 }, 'x'])}`, /cursor/],
        [`/api/v1/connections?after=${cursor(['yesterday', 'x'])}`, /cursor/],
        [`/api/v1/connections?sort=dport&after=${cursor(['x', 'y'])}`, /cursor/],
        [`/api/v1/alerts?after=${cursor([{}, []])}`, /cursor/],
        ['/api/v1/connections?from=now-9999999999d', /1970 to 9999/],
        ['/api/v1/aggregations/histogram?interval=60&to=now%2B9999999999d', /1970 to 9999/],
        ['/api/v1/aggregations/edges?limit=10000', /limit/],
      ];
      for (const [p, why] of cases) {
        const t0 = Date.now();
        const r = await get(p);
        assert.equal(r.status, 400, `${p.slice(0, 80)}: ${r.status} ${r.text.slice(0, 300)}`);
        assert.match(r.text, why, p.slice(0, 80));
        assert.ok(Date.now() - t0 < 5000, `${p.slice(0, 80)} took ${Date.now() - t0} ms`);
      }
    });

    it('refuses implausible flow records by line and stores the rest of the request', async () => {
      const base = { ...recs[1], k8s: undefined };
      const lines = [
        { ...base, uid: 'good1', ts: Date.UTC(2011, 0, 1) / 1000 },
        { ...base, uid: 'x'.repeat(601) },
        { ...base, uid: 'far', ts: 1e15 },
        { ...base, uid: 'huge', ts: 1e308 },
        { ...base, uid: 'long', duration: 99999999 },
        { ...base, uid: 'bad uid!' },
        { ...base, uid: 'good2', ts: Date.UTC(2026, 0, 1) / 1000 },
      ].map((r) => JSON.stringify(r));
      const r = await h.call('POST', '/api/v1/flows?format=ndjson&wait=true', { key: h.keys.ingest, body: `${lines.join('\n')}\n` });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.json.records, 2, r.text);
      assert.equal(r.json.rejected, 5);
      assert.deepEqual(
        r.json.errors.map((e: { line: number; field: string }) => [e.line, e.field]),
        [
          [2, 'uid'],
          [3, 'ts'],
          [4, 'ts'],
          [5, 'duration'],
          [6, 'uid'],
        ],
      );
      assert.equal(r.json.stored.written, 2, JSON.stringify(r.json.stored));
      assert.equal(r.json.stored.deadLettered, 0);
      assert.deepEqual(r.json.stored.failed, []);
    });

    it('caps histogram buckets, widening the interval, and says so', async () => {
      // The records of the previous test span 2011..2026: by the minute, 7.9 million buckets.
      await h.running.runtime.store.refresh();
      const t0 = Date.now();
      const r = await get('/api/v1/aggregations/histogram?interval=60');
      assert.equal(r.status, 200, r.text);
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
      assert.equal(r.json.widened, true);
      assert.equal(r.json.requestedInterval, 60);
      assert.ok(r.json.interval > 60);
      assert.ok(r.json.buckets.length <= 2000 && r.json.buckets.length > 1, String(r.json.buckets.length));
      const one = await get('/api/v1/aggregations/histogram?interval=60&from=2026-01-15T00:00:00Z&to=2026-01-16T00:00:00Z');
      assert.equal(one.status, 200, one.text);
      assert.equal(one.json.widened, false);
      assert.equal(one.json.interval, 60);
    });

    it('never lets a flow record replace or shadow a capture record', async () => {
      const forged = {
        ...recs[0],
        uid: captureUid,
        orig_h: '10.9.9.9',
        duration: 99999,
        ts: recs[0].ts + 3 * 86400,
        k8s: { orig: { kind: 'pod', namespace: 'evil', pod: 'forged' }, resp: { kind: 'external' }, direction: 'internal', scope: 'cross-namespace' },
        capture: captured.capture,
      };
      const same = { ...forged, ts: recs[0].ts };
      const r = await h.call('POST', '/api/v1/flows?format=ndjson&wait=true', {
        key: h.keys.ingest,
        body: `${JSON.stringify(forged)}\n${JSON.stringify(same)}\n`,
      });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.json.stored.written, 2, r.text);
      await h.running.runtime.store.refresh();
      const one = await get(`/api/v1/connections/${captureUid}`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.json.record, captured, 'the capture record is unchanged');
      const byUid = await get(`/api/v1/aggregations/count?q=${q(`uid:${captureUid}`)}`);
      assert.equal(byUid.json.count, 1, 'one document for the uid, whatever the timestamp');
      // The forged records are stored under uids of the key's own namespace, without the capture link.
      const flows = await get(`/api/v1/connections?q=${q('src:10.9.9.9')}`);
      assert.equal(flows.json.records.length, 2);
      for (const f of flows.json.records) {
        assert.notEqual(f.uid, captureUid);
        assert.match(f.uid, /^F[A-Za-z0-9_-]{21}$/);
        assert.equal(f.capture, undefined);
      }
      // The pcap of the capture record still comes from its capture.
      const pcap = await fetch(`${h.url}/api/v1/connections/${captureUid}/pcap`, { headers: { authorization: `Bearer ${h.keys.analyst}` } });
      assert.equal(pcap.status, 200);
      // Sent again, the same flow records replace their own copies: still two.
      const again = await h.call('POST', '/api/v1/flows?format=ndjson&wait=true', { key: h.keys.ingest, body: `${JSON.stringify(forged)}\n` });
      assert.equal(again.status, 202);
      await h.running.runtime.store.refresh();
      assert.equal((await get(`/api/v1/aggregations/count?q=${q('src:10.9.9.9')}`)).json.count, 2);
    });

    it('sends a CSP that works over plain HTTP and names no outside host', async () => {
      const r = await get('/api/v1/whoami');
      const csp = r.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.doesNotMatch(csp, /upgrade-insecure-requests/);
      assert.doesNotMatch(csp, /https:/);
    });

    it('serves the queue dashboard without outside hosts', async function () {
      if (mode === 'local') this.skip();
      const basic = `Basic ${Buffer.from(`x:${h.keys.admin}`).toString('base64')}`;
      const page = await fetch(`${h.url}/admin/queues`, { headers: { authorization: basic } });
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /<html/i);
      assert.doesNotMatch(html, /https?:\/\/(?!127\.0\.0\.1)/);
      assert.doesNotMatch(page.headers.get('content-security-policy') ?? '', /https:/);
    });
  });
}

suite('local');
suite('redis+es');
