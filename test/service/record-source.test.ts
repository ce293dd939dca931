/**
 * Records say where they came from (event.module, query `source:`) and whether two one-way
 * records were stitched into them (`stitched:`), through every ingestion path of the service:
 * POST /flows in each format, a capture upload, and the NetFlow/IPFIX collector's stitcher; on the
 * embedded store and on Redis + Elasticsearch, and back from the API. analyze --store too (embedded).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dgram from 'node:dgram';
import * as zlib from 'node:zlib';
import { firehoseBody } from '../flows/firehose';
import type { ConnRecord } from '../../parsers/record/conn';
import { NetflowRecords } from '../../parsers/netflow/records';
import { runAnalyze } from '../../src/cli/analyze';
import { startCollector } from '../../src/collect/netflow';
import { ndjsonLine } from '../../src/output/formats';
import { flowUid } from '../../src/service/flow-ingest';
import { SqliteStore } from '../../src/store/sqlite';
import { collect, sampleStream, textStream } from '../flows/helpers';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

/** Datagrams of the corpus' NetFlow v5 and IPFIX tests (softflowd), as one exporter sends them. */
const NETFLOW_DATAGRAMS = ['netflow5.dat', 'netflow9_test_valid01.dat', 'ipfix.dat'];

function netflowDatagrams(): Buffer[] {
  return NETFLOW_DATAGRAMS.map((d) => fs.readFileSync(corpusPath(`flows/netflow/dat/${d}`)));
}

async function until(f: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

for (const mode of ['local', 'redis+es'] as Mode[]) {
  describe(`service: records say their source and whether they were stitched (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(300_000);
    let h: Harness;
    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode });
    });
    after(async () => {
      await h?.stop();
    });

    const count = async (query: string): Promise<number> => {
      await h.running.runtime.store.refresh();
      return h.running.runtime.store.count({ query });
    };

    it('POST /flows: each format gives its source; the VPC pair comes back stitched from the API', async () => {
      const zeekJson = fs.readFileSync(sample('flows/wikipedia.conn.zeek.json'), 'utf8');
      const vpc = await collect(sampleStream('vpc-eks-v5.log'));
      // Other uids: the same flows posted again as NDJSON would replace the VPC records (uids are per key, not per source).
      const ndjson = vpc.records.map((r) => ndjsonLine({ ...r, uid: `N${r.uid}` })).join('');
      const posts: [string, string, string, number][] = [
        ['zeek-json', 'zeek', zeekJson, (await collect(sampleStream('wikipedia.conn.zeek.json'))).records.length],
        ['hubble', 'hubble', fs.readFileSync(sample('flows/hubble-observe.json'), 'utf8'), (await collect(sampleStream('hubble-observe.json'))).records.length],
        ['aws-vpc', 'aws-vpc', fs.readFileSync(sample('flows/vpc-eks-v5.log'), 'utf8'), vpc.records.length],
        ['ndjson', 'ndjson', ndjson, vpc.records.length],
      ];
      for (const [format, source, body, n] of posts) {
        assert.ok(n > 0, format);
        const r = await h.call('POST', `/api/v1/flows?format=${format}&wait=true&source=src-${format}`, { key: h.keys.ingest, body });
        assert.equal(r.status, 202, r.text.slice(0, 2000));
        assert.equal(r.json.records, n, format);
        assert.equal(await count(`source:${source}`), n, `source:${source}`);
      }
      // The VPC log's one pair: stitched by the parser, and stitched still when posted back as NDJSON.
      const pairs = vpc.records.filter((r) => r.stitched === true);
      assert.equal(pairs.length, 1);
      assert.equal(await count('stitched:true'), 2);
      assert.equal(await count('stitched:true and source:aws-vpc'), 1);
      assert.equal(await count('event.module:aws-vpc and eastwatch.stitched:true and dport:443'), pairs[0].resp_p === 443 ? 1 : 0);
      const page = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('source:aws-vpc and stitched:true')}`);
      assert.equal(page.status, 200, page.text);
      assert.equal(page.json.records.length, 1);
      const got = page.json.records[0] as ConnRecord;
      assert.equal(got.source, 'aws-vpc');
      assert.equal(got.stitched, true);
      assert.equal(got.observed, undefined);
      assert.equal(got.orig_h, pairs[0].orig_h);
      assert.equal(got.resp_pkts, pairs[0].resp_pkts);
      const one = await h.call('GET', `/api/v1/connections/${encodeURIComponent(got.uid)}`);
      assert.equal(one.json.record.source, 'aws-vpc');
      assert.equal(one.json.record.stitched, true);
      // A record left alone is not stitched.
      assert.equal(await count('source:aws-vpc and observed:one-way and stitched:true'), 0);
      assert.equal(await count('source:aws-vpc and observed:one-way'), vpc.records.filter((r) => r.observed === 'one-way').length);
    });

    it('a capture upload gives source capture', async () => {
      const bytes = fs.readFileSync(sample('pod-traffic.pcap'));
      const before = await count('source:capture');
      const up = await h.call('POST', '/api/v1/captures?name=pod-traffic.pcap', { body: bytes, headers: { 'content-type': 'application/vnd.tcpdump.pcap' } });
      assert.equal(up.status, 202, up.text);
      const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
      const done = events[events.length - 1];
      assert.equal(done.data.state, 'completed', JSON.stringify(done.data));
      const n = done.data.result.records as number;
      assert.ok(n > 0);
      assert.equal((await count('source:capture')) - before, n);
      assert.equal(await count(`capture:${up.json.capture.id} and not source:capture`), 0);
      const page = await h.call('GET', `/api/v1/connections?limit=5&q=${encodeURIComponent(`capture:${up.json.capture.id}`)}`);
      assert.ok(page.json.records.length > 0);
      for (const r of page.json.records as ConnRecord[]) {
        assert.equal(r.source, 'capture');
        assert.equal(r.stitched, undefined);
      }
    });

    it('an AWS Data Firehose delivery: its access key header, answered in its form (200, requestId, timestamp; errorMessage)', async () => {
      const fh = firehoseBody(2, 50);
      const expected = await collect(textStream(fh.body), { format: 'aws-vpc', maxLineBytes: 1 << 20, maxDocumentBytes: 64 << 20 });
      const id = `req-${mode}-1`;
      const firehose = (key: string, body: string | Buffer, extra: Record<string, string> = {}) =>
        h.call('POST', '/api/v1/flows?format=aws-vpc&wait=true&source=firehose-fh', {
          key: null,
          body,
          headers: {
            'content-type': 'application/json',
            'x-amz-firehose-protocol-version': '1.0',
            'x-amz-firehose-request-id': id,
            'x-amz-firehose-access-key': key,
            ...extra,
          },
        });
      const sent = Date.now();
      const ok = await firehose(h.keys.ingest, fh.body);
      assert.equal(ok.status, 200, ok.text.slice(0, 2000));
      assert.equal(ok.json.requestId, id);
      assert.equal(typeof ok.json.timestamp, 'number');
      assert.ok(ok.json.timestamp >= sent && ok.json.timestamp <= Date.now() + 1000, String(ok.json.timestamp));
      assert.equal(ok.json.errorMessage, undefined);
      assert.equal(ok.json.records, expected.records.length);
      assert.equal(ok.json.stored.written, expected.records.length);
      // Gzip, as Firehose may send it.
      const gz = await firehose(h.keys.ingest, zlib.gzipSync(fh.body), { 'content-encoding': 'gzip' });
      assert.equal(gz.status, 200, gz.text.slice(0, 500));
      assert.equal(gz.json.requestId, id);
      // A wrong key: Firehose's form with the reason, not a 200.
      const bad = await firehose(`ew_000000000000_${'A'.repeat(43)}`, fh.body);
      assert.equal(bad.status, 401);
      assert.equal(bad.json.requestId, id);
      assert.equal(typeof bad.json.timestamp, 'number');
      assert.match(bad.json.errorMessage, /API key is not valid/);
      // A delivery nothing could be read from: refused, in Firehose's form.
      const none = await firehose(h.keys.ingest, JSON.stringify({ requestId: id, timestamp: 1, records: [{ data: 'not base64 gzip' }] }));
      assert.equal(none.status, 400, none.text.slice(0, 500));
      assert.equal(none.json.requestId, id);
      assert.ok(typeof none.json.errorMessage === 'string' && none.json.errorMessage.length > 0);
      // The access key header is a key for this route only.
      const elsewhere = await h.call('GET', '/api/v1/flows/sources', {
        key: null,
        headers: { 'x-amz-firehose-access-key': h.keys.ingest, 'x-amz-firehose-request-id': id },
      });
      assert.equal(elsewhere.status, 401);
      assert.equal(elsewhere.json.requestId, undefined);
      // Without Firehose's request id the route answers as always (202).
      const plain = await h.call('POST', '/api/v1/flows?format=aws-vpc&source=firehose-plain', {
        key: h.keys.ingest,
        body: fh.body,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(plain.status, 202, plain.text.slice(0, 500));
      assert.equal(plain.json.requestId, undefined);
    });

    it('the NetFlow collector: netflow and ipfix sources, its stitched pairs marked (corpus datagrams)', async function () {
      requireCorpus(this);
      const dgs = netflowDatagrams();
      // What the collector's NetflowRecords make of the same datagrams from one exporter.
      const expected: ConnRecord[] = [];
      const nf = new NetflowRecords((r) => expected.push(r));
      for (const d of dgs) nf.decode(d, '127.0.0.1');
      nf.flush();
      const bySource = (rs: ConnRecord[], s: string): number => rs.filter((r) => r.source === s).length;
      assert.ok(bySource(expected, 'netflow') > 0 && bySource(expected, 'ipfix') > 0, 'both kinds in the corpus datagrams');
      const stitched = expected.filter((r) => r.stitched === true).length;
      assert.ok(stitched > 0, 'the softflowd datagrams hold both directions of some flows');
      assert.equal(expected.filter((r) => r.stitched === true && r.observed !== undefined).length, 0);

      const queued: Promise<unknown>[] = [];
      const col = await startCollector({
        host: '127.0.0.1',
        port: 0,
        batchMs: 50,
        onRecords: (batch) => {
          // As `collect --enqueue` queues them (src/service/collect.ts).
          for (const r of batch) r.uid = flowUid('netflow:test', r.uid, r.ts);
          queued.push(h.running.runtime.queues.flows.add({ source: 'netflow:test', records: batch, origin: 'netflow' }));
        },
      });
      const sock = dgram.createSocket('udp4');
      for (const d of dgs) await new Promise<void>((r, j) => sock.send(d, col.address.port, '127.0.0.1', (e) => (e ? j(e) : r())));
      sock.close();
      await until(async () => {
        const s = col.stats().get('127.0.0.1');
        return s !== undefined && s.records >= expected.length - stitched;
      }, 'the datagrams at the collector');
      await col.close();
      await Promise.all(queued);
      const total = expected.length;
      await until(async () => (await count('source:netflow or source:ipfix')) === total, `${total} NetFlow/IPFIX records stored`);
      assert.equal(await count('source:netflow'), bySource(expected, 'netflow'));
      assert.equal(await count('source:ipfix'), bySource(expected, 'ipfix'));
      assert.equal(await count('(source:netflow or source:ipfix) and stitched:true'), stitched);
      assert.equal(await count('(source:netflow or source:ipfix) and observed:one-way'), expected.filter((r) => r.observed === 'one-way').length);
    });
  });
}

describe('analyze --store: records say source capture (embedded store)', function () {
  this.timeout(120_000);
  it('stores source capture, and the ndjson output stays as before', async () => {
    const saved = process.env.ES_URL;
    delete process.env.ES_URL;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-source-'));
    try {
      const out = path.join(dir, 'conn.ndjson');
      const quiet = process.stderr.write.bind(process.stderr);
      process.stderr.write = (() => true) as typeof process.stderr.write;
      let code: number;
      try {
        code = await runAnalyze([sample('pod-traffic.pcap')], {
          format: 'ndjson',
          out,
          reader: 'native',
          summary: false,
          progress: false,
          store: true,
          dataDir: path.join(dir, 'data'),
        });
      } finally {
        process.stderr.write = quiet;
      }
      assert.equal(code, 0);
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
      assert.ok(lines.length > 0);
      assert.ok(
        lines.every((l) => !l.includes('"source"')),
        'the written records are the analysis',
      );
      const s = new SqliteStore({ dataDir: path.join(dir, 'data') });
      await s.init();
      try {
        assert.equal(await s.count({ query: 'source:capture' }), lines.length);
        assert.equal(await s.count({ query: 'not source:capture' }), 0);
      } finally {
        await s.close();
      }
    } finally {
      if (saved !== undefined) process.env.ES_URL = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('store: sqlite file written before records said their source', function () {
  this.timeout(60_000);
  it('gains the source and stitched columns once, capture-linked rows their source', async () => {
    const { default: Database } = await import('better-sqlite3');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-source-old-'));
    try {
      const { records } = await collect(sampleStream('vpc-eks-v5.log'));
      const [a, b, c, ...rest] = records;
      const old: ConnRecord[] = [{ ...a, capture: 'a'.repeat(64) }, { ...b, capture: 'agent:node-1:Cabc' }, { ...c, stitched: true }, ...rest];
      const s = new SqliteStore({ dataDir: dir });
      await s.init();
      await s.write(old);
      await s.close();
      // The file as the previous version left it: neither column.
      const db = new Database(path.join(dir, 'eastwatch.sqlite'));
      db.exec('ALTER TABLE conn DROP COLUMN source; ALTER TABLE conn DROP COLUMN stitched');
      db.close();
      const again = new SqliteStore({ dataDir: dir });
      await again.init();
      try {
        assert.equal((await again.get(a.uid))?.source, 'capture');
        assert.equal((await again.get(b.uid))?.source, 'agent');
        // A flow record of an old file cannot say which flow source it came from.
        const flow = await again.get(c.uid);
        assert.equal(flow?.source, undefined);
        assert.equal(flow?.stitched, undefined);
        assert.equal(await again.count({ query: 'source:*' }), 2);
        await again.write([{ ...c, uid: `${c.uid}n`, source: 'aws-vpc', stitched: true }]);
        const back = await again.get(`${c.uid}n`);
        assert.equal(back?.source, 'aws-vpc');
        assert.equal(back?.stitched, true);
        assert.equal(await again.count({ query: 'source:aws-vpc and stitched:true' }), 1);
      } finally {
        await again.close();
      }
      // Reopened once more: the backfill does not run again (a row set since keeps its value).
      const db2 = new Database(path.join(dir, 'eastwatch.sqlite'));
      db2.exec(`UPDATE conn SET source = NULL WHERE uid = '${a.uid}'`);
      db2.close();
      const third = new SqliteStore({ dataDir: dir });
      await third.init();
      assert.equal((await third.get(a.uid))?.source, undefined);
      await third.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
