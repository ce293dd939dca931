/**
 * The service end to end over HTTP: on the embedded default (SQLite + in-process queue) and on
 * a real Redis + a real Elasticsearch, the same suite: auth, capture upload to searchable
 * connections with progress as events, duplicates, every flow format, bad input, limits, the
 * inventory and the policy what-if, alerts triage, metrics, the OpenAPI document.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { readCaptureStream } from '../../parsers/capture/open';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';
import { corpusPath, requireCorpus } from '../util/corpus';
import { tsharkFirst, unmasked } from '../flows/helpers';

/** Timestamps of the packets of a pcap, read with our own reader. */
async function packetsOf(bytes: Buffer): Promise<number[]> {
  const ts: number[] = [];
  await readCaptureStream(Readable.from([bytes]), 'download', (p) => ts.push(p.tsSec + p.tsNsec / 1e9));
  return ts;
}

interface Expected {
  uid: string;
  ts: number;
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  proto: string;
  conn_state: string;
}

/** Connections of a sample, identified as its .conn.json does (it holds no uids). */
const tuple = (r: Expected): string => `${r.proto} ${r.orig_h}:${r.orig_p} > ${r.resp_h}:${r.resp_p} @${r.ts.toFixed(6)}`;

function suite(mode: Mode): void {
  describe(`service API (${mode === 'local' ? 'embedded: SQLite, in-process queue' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(120_000);
    let h: Harness;

    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode, env: { EASTWATCH_MAX_UPLOAD_BYTES: String(2 * 1024 * 1024) } });
    });
    after(async () => {
      await h?.stop();
    });

    describe('auth', () => {
      it('refuses requests without a key, with a bad key, and with a revoked key', async () => {
        const none = await h.call('GET', '/api/v1/connections', { key: null });
        assert.equal(none.status, 401);
        assert.match(none.json.error, /API key is required/);
        assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="eastwatch"');
        const bad = await h.call('GET', '/api/v1/connections', { key: `ew_000000000000_${'A'.repeat(43)}` });
        assert.equal(bad.status, 401);
        const ks = h.running.runtime.keys;
        const { token, entry } = ks.create('short-lived', 'analyst');
        assert.equal((await h.call('GET', '/api/v1/whoami', { key: token })).status, 200);
        ks.revoke(entry.id);
        await new Promise((r) => setTimeout(r, 1100)); // the key file is re-read at most once a second
        assert.equal((await h.call('GET', '/api/v1/whoami', { key: token })).status, 401);
      });

      it('enforces roles on every route', async () => {
        const ingestSearch = await h.call('GET', '/api/v1/connections', { key: h.keys.ingest });
        assert.equal(ingestSearch.status, 403);
        assert.match(ingestSearch.json.error, /role ingest.*needs analyst/);
        const analystFlows = await h.call('POST', '/api/v1/flows', { key: h.keys.analyst, body: '' });
        assert.equal(analystFlows.status, 403);
        assert.equal((await h.call('GET', '/metrics', { key: h.keys.analyst })).status, 403);
        const metrics = await h.call('GET', '/metrics', { key: h.keys.admin });
        assert.equal(metrics.status, 200);
        assert.match(metrics.text, /eastwatch_queue_jobs\{queue="captures",state="completed"\}/);
        const who = await h.call('GET', '/api/v1/whoami', { key: h.keys.ingest });
        assert.deepEqual(who.json.key.role, 'ingest');
        assert.equal(who.json.service.store, mode === 'local' ? 'sqlite' : 'elasticsearch');
        assert.equal(who.json.service.queue, mode === 'local' ? 'local' : 'bull');
      });

      it('documents every route in OpenAPI, each with a security requirement and its roles', async () => {
        const doc = await h.call('GET', '/api/v1/openapi.json');
        assert.equal(doc.status, 200);
        assert.equal(doc.json.openapi, '3.0.3');
        const paths = Object.keys(doc.json.paths);
        for (const p of [
          '/api/v1/captures',
          '/api/v1/captures/{id}/events',
          '/api/v1/flows',
          '/api/v1/connections',
          '/api/v1/connections/{uid}',
          '/api/v1/aggregations/top',
          '/api/v1/aggregations/histogram',
          '/api/v1/aggregations/edges',
          '/api/v1/dns',
          '/api/v1/http',
          '/api/v1/tls',
          '/api/v1/alerts',
          '/api/v1/alerts/{id}',
          '/api/v1/suppressions',
          '/api/v1/inventory',
          '/api/v1/policies/what-if',
        ]) {
          assert.ok(paths.includes(p), `${p} missing from the OpenAPI document`);
        }
        for (const [p, ops] of Object.entries(
          doc.json.paths as Record<string, Record<string, { security: unknown[]; description: string; responses: Record<string, unknown> }>>,
        )) {
          for (const [m, op] of Object.entries(ops)) {
            assert.deepEqual(op.security, [{ bearer: [] }], `${m} ${p}`);
            assert.match(op.description, /Roles: /, `${m} ${p}`);
            assert.ok(op.responses['401'] && op.responses['403'], `${m} ${p}`);
          }
        }
      });

      it('sends security headers', async () => {
        const r = await h.call('GET', '/api/v1/whoami');
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
        assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'/);
        assert.equal(r.headers.get('x-powered-by'), null);
      });
    });

    describe('captures', () => {
      let id: string;
      let uids = new Map<string, string>();
      const pcap = sample('pod-traffic.pcap');
      const expected = JSON.parse(fs.readFileSync(sample('pod-traffic.conn.json'), 'utf8')) as Expected[];

      it('takes a raw upload, reports progress as events, and makes every connection searchable', async () => {
        const bytes = fs.readFileSync(pcap);
        const up = await h.call('POST', '/api/v1/captures?name=pod-traffic.pcap', { body: bytes, headers: { 'content-type': 'application/vnd.tcpdump.pcap' } });
        assert.equal(up.status, 202, up.text);
        assert.equal(up.json.created, true);
        id = up.json.capture.id;
        assert.equal(id, require('node:crypto').createHash('sha256').update(bytes).digest('hex'));
        assert.equal(up.json.capture.format, 'pcap');
        assert.equal(up.json.capture.bytes, bytes.length);
        assert.equal(up.json.capture.uploadedBy, 'test-analyst');
        const events = await readEvents(`${h.url}/api/v1/captures/${id}/events`, h.keys.analyst);
        assert.equal(events[0].event, 'state');
        const done = events[events.length - 1];
        assert.equal(done.event, 'done');
        assert.equal(done.data.state, 'completed', JSON.stringify(done.data));
        assert.equal(done.data.result.records, expected.length);
        assert.equal(done.data.result.error, null);
        assert.equal(done.data.progress.bytesRead, bytes.length);
        await h.running.runtime.store.refresh();
        const page = await h.call('GET', `/api/v1/connections?limit=1000&sort=uid&order=asc`);
        assert.equal(page.status, 200, page.text);
        const got = new Map<string, Expected>(page.json.records.map((r: Expected) => [tuple(r), r]));
        assert.equal(got.size, expected.length);
        for (const e of expected) {
          const g = got.get(tuple(e));
          assert.ok(g, `${tuple(e)} not found`);
          assert.equal(g.conn_state, e.conn_state, tuple(e));
        }
        uids = new Map(page.json.records.map((r: Expected) => [tuple(r), r.uid]));
      });

      it('cuts the packets of one connection, and of a query, out of the capture as a pcap', async () => {
        const tcp = expected.find((e) => e.proto === 'tcp' && e.conn_state === 'SF') as Expected & { orig_pkts: number; resp_pkts: number };
        const uid = uids.get(tuple(tcp)) as string;
        const res = await fetch(`${h.url}/api/v1/connections/${uid}/pcap`, { headers: { authorization: `Bearer ${h.keys.analyst}` } });
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal(res.headers.get('content-type'), 'application/vnd.tcpdump.pcap');
        const bytes = Buffer.from(await res.arrayBuffer());
        const pkts = await packetsOf(bytes);
        assert.equal(pkts.length, tcp.orig_pkts + tcp.resp_pkts);
        assert.ok(pkts.every((t) => t >= tcp.ts - 1e-6));
        const q = await fetch(`${h.url}/api/v1/pcap?q=${encodeURIComponent('dport:53')}`, { headers: { authorization: `Bearer ${h.keys.analyst}` } });
        assert.equal(q.status, 200);
        const dnsPkts = expected
          .filter((e) => e.resp_p === 53)
          .reduce((n, e) => n + (e as unknown as { orig_pkts: number }).orig_pkts + (e as unknown as { resp_pkts: number }).resp_pkts, 0);
        assert.equal((await packetsOf(Buffer.from(await q.arrayBuffer()))).length, dnsPkts);
        const none = await h.call('GET', `/api/v1/pcap?q=${encodeURIComponent('dport:1')}`);
        assert.equal(none.status, 404);
      });

      it('returns the earlier job for the same bytes', async () => {
        const again = await h.call('POST', '/api/v1/captures', { body: fs.readFileSync(pcap) });
        assert.equal(again.status, 202);
        assert.equal(again.json.created, false);
        assert.equal(again.json.capture.id, id);
        assert.equal(again.json.capture.state, 'completed');
        const list = await h.call('GET', '/api/v1/captures');
        assert.equal(list.json.captures.filter((c: { id: string }) => c.id === id).length, 1);
      });

      it('finds connections with the query language, one with its application records, and aggregates', async () => {
        const dns = expected.filter((e) => e.resp_p === 53 && e.proto === 'udp').map((e) => uids.get(tuple(e)) as string);
        assert.ok(dns.length > 0);
        const q = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('dport:53 and proto:udp')}&limit=1000`);
        assert.equal(q.status, 200, q.text);
        assert.deepEqual(q.json.records.map((r: Expected) => r.uid).sort(), dns.sort());
        const one = await h.call('GET', `/api/v1/connections/${dns[0]}`);
        assert.equal(one.status, 200);
        assert.equal(one.json.record.uid, dns[0]);
        assert.ok(one.json.apps.length >= 1, 'the DNS connection has its dns record');
        assert.equal(one.json.apps[0].kind, 'dns');
        assert.equal(one.json.apps[0].uid, dns[0]);
        const dnsLog = await h.call('GET', `/api/v1/dns?limit=1000`);
        assert.equal(dnsLog.status, 200, dnsLog.text);
        assert.ok(dnsLog.json.records.length >= dns.length);
        const top = await h.call('GET', '/api/v1/aggregations/top?field=destination.port&limit=3');
        assert.equal(top.status, 200, top.text);
        const ports = new Map<number, number>();
        for (const e of expected) ports.set(e.resp_p, (ports.get(e.resp_p) ?? 0) + 1);
        const best = [...ports].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
        assert.deepEqual([top.json.buckets[0].key, top.json.buckets[0].connections], [String(best[0]), best[1]]);
        const hist = await h.call('GET', '/api/v1/aggregations/histogram?interval=3600');
        assert.equal(
          hist.json.buckets.reduce((s: number, b: { connections: number }) => s + b.connections, 0),
          expected.length,
        );
        const edges = await h.call('GET', '/api/v1/aggregations/edges?limit=5');
        assert.equal(edges.status, 200);
        assert.ok(edges.json.edges.length > 0 && edges.json.edges.length <= 5);
        const missing = await h.call('GET', '/api/v1/connections/Cnosuchconnection0');
        assert.equal(missing.status, 404);
      });

      it('says where a query is wrong', async () => {
        const bad = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('dport:>>5')}`);
        assert.equal(bad.status, 400);
        assert.match(bad.json.error, /\(at position 6\)$/);
        assert.equal(bad.json.position, 6);
        const unknown = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('nosuchfield:1')}`);
        assert.equal(unknown.status, 400);
        assert.match(unknown.json.error, /nosuchfield/);
        const lim = await h.call('GET', '/api/v1/connections?limit=0');
        assert.equal(lim.status, 400);
        assert.match(lim.json.error, /query parameters: limit/);
      });

      it('takes a multipart upload', async () => {
        const form = new FormData();
        form.append('file', new Blob([fs.readFileSync(sample('scan.pcap'))]), 'scan.pcap');
        const up = await h.call('POST', '/api/v1/captures', { body: form });
        assert.equal(up.status, 202, up.text);
        assert.equal(up.json.capture.name, 'scan.pcap');
        const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
        const done = events[events.length - 1].data;
        assert.equal(done.state, 'completed');
        assert.equal(done.result.records, (JSON.parse(fs.readFileSync(sample('scan.conn.json'), 'utf8')) as unknown[]).length);
      });

      it('refuses what is not a capture, an empty body, and uploads over the limit', async () => {
        const notCap = await h.call('POST', '/api/v1/captures', { body: 'GET / HTTP/1.1\r\n\r\n' });
        assert.equal(notCap.status, 415);
        assert.match(notCap.json.error, /not a capture: its first bytes 47455420/);
        const empty = await h.call('POST', '/api/v1/captures', { body: new Uint8Array(0) });
        assert.equal(empty.status, 400);
        const big = Buffer.alloc(3 * 1024 * 1024);
        big.writeUInt32LE(0xa1b2c3d4, 0);
        const over = await h.call('POST', '/api/v1/captures', { body: big });
        assert.equal(over.status, 413);
        assert.match(over.json.error, /2097152-byte upload limit/);
        assert.deepEqual(
          fs.readdirSync(h.running.runtime.uploadsDir).filter((f) => f.startsWith('.upload-')),
          [],
          'no partial upload is left behind',
        );
      });
    });

    describe('flows', () => {
      const formats: [string, string, string | null][] = [
        ['hubble', 'flows/hubble-observe.json', 'hubble'],
        ['aws-vpc', 'flows/vpc-default.log', 'aws-vpc'],
        ['zeek-json', 'flows/wikipedia.conn.zeek.json', null],
      ];
      for (const [name, file, format] of formats) {
        it(`ingests ${name} and stores every record`, async () => {
          const body = fs.readFileSync(sample(file), 'utf8');
          const r = await h.call('POST', `/api/v1/flows?wait=true&source=test-${name}${format ? `&format=${format}` : ''}`, {
            key: h.keys.ingest,
            body,
            headers: { 'content-type': 'application/x-ndjson' },
          });
          assert.equal(r.status, 202, r.text);
          assert.equal(r.json.format, name);
          assert.ok(r.json.records > 0);
          assert.equal(r.json.rejected, 0, JSON.stringify(r.json.errors));
          assert.equal(r.json.stored.written + r.json.stored.stale, r.json.records);
          assert.deepEqual(r.json.stored.failed, []);
        });
      }

      it("stores Hubble's L7 DNS answers as dns records with their client and server", async () => {
        // The hubble sample was ingested above: its DNS response event (client 10.244.1.10).
        // Stored is not yet searchable in Elasticsearch (refresh interval): as the capture tests do.
        await h.running.runtime.store.refresh();
        const r = await h.call('GET', '/api/v1/dns?limit=1000');
        assert.equal(r.status, 200, r.text);
        // The uploaded pod capture asks for the same name (its AAAA answers are empty): the Hubble
        // record is the one of the event's 5-tuple and time (its uid is derived by the server).
        type Dns = { query?: string; ts: number; conn: { orig_h: string; orig_p: number; resp_h: string; resp_p: number } };
        const hubble = (x: Dns): boolean =>
          x.query === 'api.default.svc.cluster.local' &&
          x.conn.orig_h === '10.244.1.10' &&
          x.conn.orig_p === 51515 &&
          x.conn.resp_h === '10.244.1.2' &&
          Math.abs(x.ts - Date.parse('2026-01-15T10:00:00.051Z') / 1000) < 1e-6;
        const found = r.json.records.filter(hubble);
        assert.equal(found.length, 1, JSON.stringify(r.json.records.map((x: Dns) => [x.query, x.conn])));
        const d = found[0];
        assert.notEqual(d.uid, '00000000-0000-4000-8000-000000000005');
        assert.deepEqual(d.answers, ['10.96.12.34']);
        assert.equal(d.rcode_name, 'NOERROR');
        assert.equal(d.conn.orig_h, '10.244.1.10');
        assert.equal(d.conn.resp_p, 53);
      });

      it("stores Hubble's L7 HTTP events as http records of their connection (the corpus' kind cluster)", async function () {
        requireCorpus(this);
        const body = fs.readFileSync(corpusPath('flows/hubble/basic-sample-400-tcp-flows.json'), 'utf8');
        const r = await h.call('POST', '/api/v1/flows?wait=true&source=test-hubble-http&format=hubble', { key: h.keys.ingest, body });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.json.rejected, 0, JSON.stringify(r.json.errors));
        await h.running.runtime.store.refresh();
        const list = await h.call('GET', '/api/v1/http?limit=1000&from=2021-11-10T10:00:00Z&to=2021-11-10T11:00:00Z');
        assert.equal(list.status, 200, list.text);
        type Http = {
          uid: string;
          ts: number;
          method: string;
          uri: string;
          status_code: number | null;
          conn: { orig_h: string; orig_p: number; resp_p: number };
        };
        const http = list.json.records as Http[];
        // 33 requests and one response without its request (hubble-corpus.test.ts).
        assert.equal(http.length, 34, JSON.stringify(http.map((x) => [x.uri, x.conn])));
        const ka = http.filter((x) => x.conn.orig_h === '10.244.0.110' && x.conn.orig_p === 40948);
        assert.equal(ka.length, 5);
        // Each joins its connection: GET /connections/:uid answers the connection with its http records.
        const one = await h.call('GET', `/api/v1/connections/${ka[0].uid}`);
        assert.equal(one.status, 200, one.text);
        assert.deepEqual([one.json.record.orig_h, one.json.record.orig_p, one.json.record.resp_p], ['10.244.0.110', 40948, 9080]);
        assert.ok(one.json.record.service.includes('http'));
        const apps = (one.json.apps as Http[]).filter((a) => 'method' in a);
        assert.deepEqual(
          apps.map((a) => [a.method, a.uri, a.status_code]),
          [1, 2, 3, 4, 5].map(() => ['GET', '/ratings/0', 200]),
        );
      });

      it('ingests VPC flow logs delivered without a header (a gzip+base64 CloudWatch Logs payload) with format=vpc and the LogFormat as fields', async () => {
        const [header, ...records] = fs.readFileSync(sample('flows/vpc-tcp-flags-v3.log'), 'utf8').trimEnd().split('\n');
        const payload = JSON.stringify({
          messageType: 'DATA_MESSAGE',
          logGroup: 'flows',
          logStream: 'eni-all',
          logEvents: records.map((message) => ({ message })),
        });
        const body = `${zlib.gzipSync(payload).toString('base64')}\n`;
        const fields = encodeURIComponent(
          header
            .split(' ')
            .map((n) => `\${${n}}`)
            .join(' '),
        );
        const r = await h.call('POST', `/api/v1/flows?wait=true&source=test-cwl&format=vpc&fields=${fields}`, {
          key: h.keys.ingest,
          body,
          headers: { 'content-type': 'text/plain' },
        });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.json.format, 'aws-vpc');
        assert.equal(r.json.rejected, 0, JSON.stringify(r.json.errors));
        // AWS's TCP flag example: its records stitched into two connections (test/flows/vpc.test.ts).
        assert.equal(r.json.records, 2);
        assert.equal(r.json.stored.written + r.json.stored.stale, 2);
        const bad = await h.call('POST', '/api/v1/flows?format=vpc&fields=version,srcaddr', {
          key: h.keys.ingest,
          body,
          headers: { 'content-type': 'text/plain' },
        });
        assert.equal(bad.status, 400, bad.text);
        assert.match(bad.json.error, /^fields: start: missing from the field list$/);
        const other = await h.call('POST', '/api/v1/flows?format=hubble&fields=version', {
          key: h.keys.ingest,
          body,
          headers: { 'content-type': 'text/plain' },
        });
        assert.equal(other.status, 400, other.text);
      });

      it('ingests a Zeek conn.log (TSV with #fields) from the corpus', async function () {
        requireCorpus(this);
        // The btest baseline masks its timestamps: restored from the tshark oracle, as test/flows does.
        const body = unmasked(corpusPath('zeek/wikipedia.pcap.zeek.opt.basic.conn.log'), tsharkFirst(corpusPath('zeek/wikipedia.pcap.tshark.tsv')));
        const lines = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
        const r = await h.call('POST', '/api/v1/flows?wait=true', { key: h.keys.ingest, body, headers: { 'content-type': 'text/plain' } });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.json.format, 'zeek-tsv');
        assert.equal(r.json.records, lines, JSON.stringify(r.json));
        assert.equal(r.json.rejected, 0);
        assert.equal(r.json.stored.written + r.json.stored.stale, lines);
      });

      it('keeps the good lines of a request and names the bad ones by line', async () => {
        const lines = fs.readFileSync(sample('flows/vpc-default.log'), 'utf8').trim().split('\n');
        const body = `${[lines[0], '2 123456789010 eni-1 10.0.0.1 10.0.0.2 notaport 80 6 1 40 1418530010 1418530070 ACCEPT OK', lines[1], '{broken'].join('\n')}\n`;
        const r = await h.call('POST', '/api/v1/flows?format=aws-vpc&wait=true', { key: h.keys.ingest, body });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.json.records, 2);
        assert.equal(r.json.rejected, 2);
        assert.deepEqual(
          r.json.errors.map((e: { line: number }) => e.line),
          [2, 4],
        );
        assert.match(r.json.errors[0].reason, /notaport/);
      });

      it('lists the flow sources with their counts', async () => {
        const r = await h.call('GET', '/api/v1/flows/sources', { key: h.keys.ingest });
        assert.equal(r.status, 200, r.text);
        const hub = r.json.sources.find((x: { source: string }) => x.source === 'test-hubble');
        assert.ok(hub, JSON.stringify(r.json.sources));
        assert.equal(hub.format, 'hubble');
        assert.equal(hub.requests, 1);
        assert.ok(hub.records > 0);
        assert.equal(hub.rejected, 0);
      });

      it('refuses a flow request over the size limit', async () => {
        const r = await h
          .call('POST', '/api/v1/flows', { key: h.keys.ingest, body: 'x'.repeat(64), headers: { 'content-length': String(h.cfg.limits.flowRequestBytes + 1) } })
          .catch((e: Error) => ({ status: -1, json: { error: e.message } }));
        // fetch refuses a false Content-Length itself; either way nothing over the limit is read.
        assert.ok(r.status === 413 || r.status === -1, JSON.stringify(r.json));
      });
    });

    describe('kubernetes', () => {
      // A service of its own: the what-if must see the cluster capture's connections only.
      let k: Harness;
      before(async function () {
        if (!h) this.skip();
        k = await startHarness({ mode });
      });
      after(async () => {
        await k?.stop();
      });
      it('takes an inventory, resolves uploaded captures with it, and answers the policy what-if', async () => {
        const inv = await k.call('POST', '/api/v1/inventory?source=test', {
          key: k.keys.ingest,
          body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(inv.status, 201, inv.text);
        assert.ok(inv.json.objects.Pod > 0 && inv.json.objects.NetworkPolicy === 4, JSON.stringify(inv.json));
        const up = await k.call('POST', '/api/v1/captures?name=cluster.pcap', { body: fs.readFileSync(sample('k8s/cluster.pcap')) });
        assert.equal(up.status, 202);
        const events = await readEvents(`${k.url}/api/v1/captures/${up.json.capture.id}/events`, k.keys.analyst);
        assert.equal(events[events.length - 1].data.state, 'completed');
        await k.running.runtime.store.refresh();
        const shop = await k.call('GET', `/api/v1/connections?q=${encodeURIComponent('ns:shop')}&limit=100`);
        assert.equal(shop.status, 200, shop.text);
        assert.ok(shop.json.records.length > 0);
        for (const r of shop.json.records) assert.ok(r.k8s.orig.namespace === 'shop' || r.k8s.resp.namespace === 'shop');
        const proposed = fs.readFileSync(sample('k8s/policies-proposed.yaml'), 'utf8');
        const wi = await k.call('POST', '/api/v1/policies/what-if', { body: { policies: proposed, from: '2026-01-15T10:00:00Z', to: '2026-01-15T11:00:00Z' } });
        assert.equal(wi.status, 200, wi.text);
        assert.equal(wi.json.edges.length, 7, JSON.stringify(wi.json.edges));
        assert.deepEqual(wi.json.policies.sort(), ['shop/allow-dns', 'shop/default-deny-egress', 'shop/frontend-egress'].sort());
        const badInv = await k.call('POST', '/api/v1/inventory', { key: k.keys.ingest, body: '{"kind":"List","items":[{"kind":"Pod","metadata":{}}]}' });
        assert.equal(badInv.status, 400);
      });
    });

    describe('operators', () => {
      it('serves the queue dashboard to admin keys only (Basic auth, the key as password)', async function () {
        if (mode === 'local') this.skip(); // Bull Board shows Bull queues: there are none in-process
        const basic = (k: string): string => `Basic ${Buffer.from(`x:${k}`).toString('base64')}`;
        const none = await fetch(`${h.url}/admin/queues`);
        assert.equal(none.status, 401);
        assert.match(none.headers.get('www-authenticate') ?? '', /^Basic/);
        assert.equal((await fetch(`${h.url}/admin/queues`, { headers: { authorization: basic(h.keys.analyst) } })).status, 403);
        const ok = await fetch(`${h.url}/admin/queues`, { headers: { authorization: basic(h.keys.admin) } });
        assert.equal(ok.status, 200);
        assert.match(await ok.text(), /<html/i);
        const api = await fetch(`${h.url}/admin/queues/api/queues`, { headers: { authorization: basic(h.keys.admin) } });
        assert.equal(api.status, 200);
        const names = ((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
        assert.deepEqual(names, ['captureShards', 'captures', 'flows', 'resolutions']);
      });

      it('rate-limits expensive routes per key', async function () {
        if (mode !== 'local') this.skip();
        const r = await startHarness({ mode, env: { EASTWATCH_RATE_PER_MINUTE: '3' } });
        try {
          const codes: number[] = [];
          for (let i = 0; i < 4; i++) codes.push((await r.call('GET', '/api/v1/connections')).status);
          assert.deepEqual(codes, [200, 200, 200, 429]);
          // Another key has its own budget; cheap routes are not limited.
          assert.equal((await r.call('GET', '/api/v1/connections', { key: r.keys.admin })).status, 200);
          assert.equal((await r.call('GET', '/api/v1/whoami')).status, 200);
        } finally {
          await r.stop();
        }
      });
    });

    describe('alerts', () => {
      it('lists, patches and suppresses stored alerts', async () => {
        const store = h.running.runtime.store;
        const base = {
          detector: 'lateral-admin',
          title: 'SSH between pods',
          severity: 'high' as const,
          score: 0.9,
          mitre: ['T1021.004'],
          first_seen: 1768471200,
          last_seen: 1768471260,
          count: 2,
          evidence: { uids: ['Cabc'], figures: { port: 22 } },
          status: 'open' as const,
        };
        await store.writeAlerts([
          { ...base, id: 'a-test-1', source: { namespace: 'shop', workload: 'api' }, destination: { namespace: 'db', workload: 'pg', port: 22 } },
          {
            ...base,
            id: 'a-test-2',
            severity: 'low',
            source: { namespace: 'ops', workload: 'bastion' },
            destination: { namespace: 'db', workload: 'pg', port: 22 },
          },
        ]);
        await store.refresh();
        const all = await h.call('GET', '/api/v1/alerts');
        assert.equal(all.status, 200, all.text);
        assert.deepEqual(all.json.alerts.map((a: { id: string }) => a.id).sort(), ['a-test-1', 'a-test-2']);
        const high = await h.call('GET', '/api/v1/alerts?severity=high');
        assert.deepEqual(
          high.json.alerts.map((a: { id: string }) => a.id),
          ['a-test-1'],
        );
        const ack = await h.call('PATCH', '/api/v1/alerts/a-test-1', { body: { status: 'acknowledged', note: 'known migration' } });
        assert.equal(ack.status, 200, ack.text);
        assert.equal(ack.json.status, 'acknowledged');
        assert.equal(ack.json.note, 'known migration');
        const badPatch = await h.call('PATCH', '/api/v1/alerts/a-test-1', { body: { status: 'gone' } });
        assert.equal(badPatch.status, 400);
        assert.match(badPatch.json.error, /request body: status/);
        const sup = await h.call('POST', '/api/v1/suppressions', {
          body: { detector: 'lateral-admin', source: { workload: 'bastion' }, reason: 'ops bastion', ttl_hours: 24 },
        });
        assert.equal(sup.status, 201, sup.text);
        assert.equal(sup.json.created_by, 'test-analyst');
        const list = await h.call('GET', '/api/v1/suppressions');
        assert.deepEqual(
          list.json.suppressions.map((s: { id: string }) => s.id),
          [sup.json.id],
        );
        const del = await h.call('DELETE', `/api/v1/suppressions/${sup.json.id}`);
        assert.equal(del.status, 204);
        assert.equal((await h.call('DELETE', `/api/v1/suppressions/${sup.json.id}`)).status, 404);
      });
    });
  });
}

suite('local');
suite('redis+es');
