/**
 * GET /api/v1/export against the search API as the oracle: the CSV's header, and every row
 * equal to the record the search answers in the same order; NDJSON identical to the search's
 * records; the limit and its cap; the role. On the embedded default and on Redis + Elasticsearch.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';
import { csvRows } from '../util/csv';

/** The export's rows: CRLF line ends, as RFC 4180 says, the last line ended too. */
function parseCsv(text: string): string[][] {
  assert.ok(text.endsWith('\r\n'), 'the file ends with a line break');
  return csvRows(text, '\r\n');
}

const HEADER = [
  'ts',
  'uid',
  'id.orig_h',
  'id.orig_p',
  'id.resp_h',
  'id.resp_p',
  'proto',
  'service',
  'duration',
  'orig_bytes',
  'resp_bytes',
  'conn_state',
  'local_orig',
  'local_resp',
  'missed_bytes',
  'history',
  'orig_pkts',
  'orig_ip_bytes',
  'resp_pkts',
  'resp_ip_bytes',
  'tunnel_parents',
  'community_id',
  'orig_namespace',
  'orig_workload',
  'orig_pod',
  'resp_namespace',
  'resp_workload',
  'resp_service',
  'verdict',
];

/** A record as the API's JSON carries it. */
type Rec = Record<string, any>;

function expectedRow(r: Rec): string[] {
  const s = (v: unknown): string => (v === undefined || v === null ? '' : Array.isArray(v) ? v.join(',') : String(v));
  return [
    s(r.ts),
    s(r.uid),
    s(r.orig_h),
    s(r.orig_p),
    s(r.resp_h),
    s(r.resp_p),
    s(r.proto),
    s(r.service),
    s(r.duration),
    s(r.orig_bytes),
    s(r.resp_bytes),
    s(r.conn_state),
    s(r.local_orig),
    s(r.local_resp),
    s(r.missed_bytes),
    s(r.history),
    s(r.orig_pkts),
    s(r.orig_ip_bytes),
    s(r.resp_pkts),
    s(r.resp_ip_bytes),
    s(r.tunnel_parents),
    s(r.community_id),
    s(r.k8s?.orig?.namespace),
    s(r.k8s?.orig?.workload),
    s(r.k8s?.orig?.pod),
    s(r.k8s?.resp?.namespace),
    s(r.k8s?.resp?.workload),
    s(r.k8s?.resp?.service),
    s(r.k8s?.policy?.verdict),
  ];
}

function suite(mode: Mode): void {
  describe(`export (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(120_000);
    let h: Harness;
    /** Every record of a query from the search API, oldest first, page by page. */
    async function searchAll(q: string): Promise<Rec[]> {
      const out: Rec[] = [];
      for (let after: string | null = ''; after !== null; ) {
        const r = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(q)}&sort=@timestamp&order=asc&limit=50${after ? `&after=${after}` : ''}`);
        assert.equal(r.status, 200, r.text);
        out.push(...r.json.records);
        after = r.json.next;
      }
      return out;
    }

    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode, env: { EASTWATCH_SEARCH_PAGE_MAX: '50' } });
      const inv = await h.call('POST', '/api/v1/inventory?source=test', {
        key: h.keys.ingest,
        body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(inv.status, 201, inv.text);
      for (const f of ['k8s/cluster.pcap', 'pod-traffic.pcap']) {
        const up = await h.call('POST', `/api/v1/captures?name=${f.replace('/', '-')}`, { body: fs.readFileSync(sample(f)) });
        assert.equal(up.status, 202, up.text);
        const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
        assert.equal(events[events.length - 1].data.state, 'completed');
      }
      await h.running.runtime.store.refresh();
    });
    after(async () => {
      await h?.stop();
    });

    it('streams a CSV whose header and rows are the search API answer, in order', async () => {
      const q = 'ns:shop or dport:53';
      const want = await searchAll(q);
      assert.ok(want.length > 50, `more than one page of records (${want.length}) so that the export pages`);
      const r = await h.call('GET', `/api/v1/export?q=${encodeURIComponent(q)}&format=csv&limit=100000`);
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type') ?? '', /^text\/csv/);
      assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="eastwatch-connections-.*\.csv"$/);
      const rows = parseCsv(r.text);
      assert.deepEqual(rows[0], HEADER);
      assert.equal(rows.length - 1, want.length);
      for (let i = 0; i < want.length; i++) assert.deepEqual(rows[i + 1], expectedRow(want[i]), `row ${i + 1}`);
      // The identity columns are filled where the inventory named the ends.
      assert.ok(rows.slice(1).some((row) => row[HEADER.indexOf('orig_namespace')] === 'shop' || row[HEADER.indexOf('resp_namespace')] === 'shop'));
    });

    it('streams NDJSON identical to the search records, within a time range', async () => {
      const all = await searchAll('');
      const mid = all[Math.floor(all.length / 2)].ts as number;
      const from = new Date(Math.floor(all[0].ts) * 1000).toISOString();
      const to = new Date(Math.ceil(mid) * 1000).toISOString();
      const want = all.filter((r) => r.ts >= Math.floor(all[0].ts) && r.ts < Math.ceil(mid));
      const r = await h.call('GET', `/api/v1/export?format=ndjson&from=${from}&to=${to}`);
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type') ?? '', /^application\/x-ndjson/);
      const got = r.text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l));
      assert.equal(got.length, want.length);
      assert.deepEqual(
        got.map((g) => g.uid),
        want.map((w) => w.uid),
      );
      assert.deepEqual(got, want);
    });

    it('stops at limit, refuses a limit above the cap, a bad query, and a non-analyst key', async () => {
      const want = await searchAll('');
      const five = await h.call('GET', '/api/v1/export?limit=5&format=csv');
      assert.equal(five.status, 200, five.text);
      assert.equal(five.headers.get('x-export-limit'), '5');
      const rows = parseCsv(five.text);
      assert.equal(rows.length, 6);
      assert.deepEqual(
        rows.slice(1).map((row) => row[1]),
        want.slice(0, 5).map((w) => w.uid),
      );
      const big = await h.call('GET', '/api/v1/export?limit=1000001');
      assert.equal(big.status, 400, big.text);
      assert.match(big.json.error, /limit/);
      const bad = await h.call('GET', `/api/v1/export?q=${encodeURIComponent('nosuchfield:1')}`);
      assert.equal(bad.status, 400, bad.text);
      const ingest = await h.call('GET', '/api/v1/export', { key: h.keys.ingest });
      assert.equal(ingest.status, 403);
    });
  });
}

suite('local');
suite('redis+es');
