/**
 * The service under hostile and careless clients, on the embedded default and on Redis +
 * Elasticsearch: requests that cannot be served answered 400 (never 500, never a blocked
 * process), histograms capped, implausible flow records refused by line while the rest of the
 * request is stored, a flow record unable to replace or shadow a capture's record, one uid one
 * document in both backends, and a CSP that works over plain HTTP.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
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

    /** Waits for a capture job to finish, and returns it as the API shows it. */
    const finished = async (id: string, key = h.keys.admin): Promise<Record<string, any>> => {
      const events = await readEvents(`${h.url}/api/v1/captures/${id}/events`, key);
      return events[events.length - 1].data;
    };

    it('fails what is not a capture at once, without server paths in the reason', async () => {
      // gzip's magic around text: accepted as an upload, found not to be a capture once inflated.
      const bogus = zlib.gzipSync('GET / HTTP/1.1\r\nHost: example\r\n\r\n'.repeat(4));
      const up = await h.call('POST', '/api/v1/captures?name=bogus.pcap.gz', { key: h.keys.ingest, body: bogus });
      assert.equal(up.status, 202, up.text);
      const done = await finished(up.json.capture.id, h.keys.ingest);
      assert.equal(done.state, 'failed', JSON.stringify(done));
      assert.equal(done.attemptsMade, 1, 'a permanent failure is not retried');
      assert.ok(done.failedReason.length > 0);
      assert.ok(!done.failedReason.includes(h.dataDir), done.failedReason);
      assert.ok(!done.failedReason.includes('/'), done.failedReason);
    });

    it('lets an ingest key see only its own uploads', async () => {
      const mine = await h.call('GET', '/api/v1/captures', { key: h.keys.ingest });
      assert.equal(mine.status, 200);
      assert.ok(mine.json.captures.length >= 1);
      for (const c of mine.json.captures) assert.equal(c.uploadedBy, 'test-ingest');
      const all = await h.call('GET', '/api/v1/captures', { key: h.keys.analyst });
      const other = all.json.captures.find((c: { uploadedBy: string }) => c.uploadedBy === 'test-analyst');
      assert.ok(other);
      assert.equal((await h.call('GET', `/api/v1/captures/${other.id}`, { key: h.keys.ingest })).status, 404);
      assert.equal((await h.call('GET', `/api/v1/captures/${other.id}/events`, { key: h.keys.ingest })).status, 404);
      assert.equal((await h.call('GET', `/api/v1/captures/${other.id}`, { key: h.keys.analyst })).status, 200);
    });

    it('refuses a capture job naming a file outside the uploads directory', async () => {
      // What the queue dashboard or anyone with Redis could enqueue.
      const sha = 'ab'.repeat(32);
      const added = await h.running.runtime.queues.captures.add(
        {
          path: '/etc/passwd',
          sha256: sha,
          bytes: 1,
          name: 'passwd',
          format: 'pcap',
          uploadedAt: new Date().toISOString(),
          uploadedBy: 'dashboard',
        },
        { jobId: sha },
      );
      const done = await finished(added.id);
      assert.equal(done.state, 'failed');
      assert.equal(done.attemptsMade, 1);
      assert.match(done.failedReason, /outside the uploads directory/);
      assert.ok(!done.failedReason.includes('/etc/passwd'));
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

/** A request whose body is sent in part and then stalls; resolves with the response, or with null when the connection closes without one. */
function stalledUpload(url: string, key: string): { response: Promise<{ status: number; body: string } | null>; req: http.ClientRequest } {
  const u = new URL(`${url}/api/v1/captures?name=slow.pcap`);
  const req = http.request({
    host: u.hostname,
    port: u.port,
    path: u.pathname + u.search,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-length': String(1 << 20) },
  });
  const head = Buffer.alloc(4096);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  req.write(head);
  const response = new Promise<{ status: number; body: string } | null>((resolve) => {
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve(null));
    req.on('close', () => setTimeout(() => resolve(null), 100));
  });
  return { response, req };
}

describe('stalled and interrupted uploads (embedded)', function () {
  this.timeout(60_000);

  it('closes a stalled upload after the idle timeout and keeps nothing of it', async () => {
    const h = await startHarness({ mode: 'local', env: { EASTWATCH_IDLE_TIMEOUT_MS: '1500' } });
    try {
      const t0 = Date.now();
      const { response } = stalledUpload(h.url, h.keys.ingest);
      assert.equal(await response, null);
      const took = Date.now() - t0;
      assert.ok(took >= 1400 && took < 10_000, `closed after ${took} ms`);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        fs.readdirSync(h.running.runtime.uploadsDir).filter((f) => f.startsWith('.upload-')),
        [],
      );
    } finally {
      await h.stop();
    }
  });

  it('answers 503 to an upload in progress when the server shuts down', async () => {
    const h = await startHarness({ mode: 'local' });
    const { response, req } = stalledUpload(h.url, h.keys.ingest);
    await new Promise((r) => setTimeout(r, 300));
    const stopped = h.stop();
    const r = await response;
    req.destroy();
    await stopped;
    assert.ok(r, 'a response, not a reset');
    assert.equal(r.status, 503, r.body);
    assert.match(r.body, /shutting down/);
  });
});
