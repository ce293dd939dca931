/**
 * Flow sources over HTTP that are not Kubernetes: an AWS Kinesis Data Firehose HTTP endpoint
 * request of several MB (one JSON document, read under limits.flowDocumentBytes rather than
 * refused as a line over limits.flowLineBytes), and VPC flow logs getting identity from the
 * inventory but no NetworkPolicy verdict, where the same connection posted as eastwatch's own
 * NDJSON (a capture's record) gets one. On the embedded store and on Redis + Elasticsearch.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { firehoseBody } from '../flows/firehose';
import { collect, textStream } from '../flows/helpers';
import { requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

for (const mode of ['local', 'redis+es'] as Mode[]) {
  describe(`service: flow sources that are not Kubernetes (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(300_000);
    let h: Harness;
    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode });
    });
    after(async () => {
      await h?.stop();
    });

    it('takes a multi-MB Firehose HTTP endpoint request whole, gzip too, and lists its unreadable log events by place', async () => {
      // 24 Firehose records of 2000 log events: about 2.3 MB, over the 1 MiB line limit that refused it before.
      const fh = firehoseBody(24, 2000, (m, i, j) => (i === 11 && j === 42 ? m.replace(' 6 ', ' tcp ') : m));
      assert.ok(fh.body.length > 2 * h.cfg.limits.flowLineBytes, `${fh.body.length} bytes`);
      const expected = await collect(textStream(fh.body), { format: 'aws-vpc', maxLineBytes: 1 << 20, maxDocumentBytes: 64 << 20 });
      const r = await h.call('POST', '/api/v1/flows?format=aws-vpc&wait=true&source=firehose', {
        key: h.keys.ingest,
        body: fh.body,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 202, r.text.slice(0, 2000));
      assert.equal(r.json.lines, 1);
      assert.equal(r.json.records, expected.records.length);
      assert.ok(r.json.records > 40_000, String(r.json.records));
      assert.deepEqual(r.json.errors, [{ line: 1, field: 'protocol', reason: 'records[11].logEvents[42]: "tcp" is not a count' }]);
      assert.equal(r.json.stored.written, r.json.records);
      await h.running.runtime.store.refresh();
      assert.equal(await h.running.runtime.store.count({ query: 'dport:22 or dport:80 or dport:443 or dport:5432 or dport:8080' }), r.json.records);

      // Firehose may send it gzip (Content-Encoding): the bounds hold for the inflated document.
      const gz = await h.call('POST', '/api/v1/flows?format=aws-vpc&source=firehose-gz', {
        key: h.keys.ingest,
        body: zlib.gzipSync(fh.body),
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      });
      assert.equal(gz.status, 202, gz.text.slice(0, 2000));
      assert.equal(gz.json.records, expected.records.length);
    });

    it('a VPC or Firehose record gets identity from the inventory and no NetworkPolicy verdict; the same connection as NDJSON gets one', async () => {
      const inv = await h.call('POST', '/api/v1/inventory?source=test', {
        key: h.keys.ingest,
        body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(inv.status, 201, inv.text);
      assert.equal(inv.json.objects.NetworkPolicy, 4);
      // frontend (10.244.1.10) to the api pod (10.244.2.20:8080) at the inventory's time.
      const vpcLine = (sport: number): string =>
        `2 123456789010 eni-0a1b2c3d4e5f 10.244.1.10 10.244.2.20 ${sport} 8080 6 10 4000 1768471300 1768471360 ACCEPT OK`;
      const ndjson = JSON.stringify({
        ts: 1_768_471_300,
        uid: 'n1',
        orig_h: '10.244.1.10',
        orig_p: 41002,
        resp_h: '10.244.2.20',
        resp_p: 8080,
        proto: 'tcp',
        duration: 1,
        orig_bytes: 10,
        resp_bytes: 20,
        conn_state: 'SF',
        orig_pkts: 2,
        resp_pkts: 2,
        orig_ip_bytes: 90,
        resp_ip_bytes: 100,
      });
      const firehose = JSON.stringify({
        requestId: 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f',
        timestamp: 1_768_474_800_000,
        records: [
          {
            data: zlib
              .gzipSync(
                JSON.stringify({
                  messageType: 'DATA_MESSAGE',
                  owner: '123456789010',
                  logGroup: 'g',
                  logStream: 's',
                  subscriptionFilters: ['f'],
                  logEvents: [{ id: '1', timestamp: 1_768_471_300_000, message: vpcLine(41001) }],
                }),
              )
              .toString('base64'),
          },
        ],
      });
      for (const [q, body] of [
        ['format=aws-vpc', `${vpcLine(41000)}\n`],
        ['format=aws-vpc', firehose],
        ['format=ndjson', `${ndjson}\n`],
      ]) {
        const r = await h.call('POST', `/api/v1/flows?${q}&wait=true&source=k8s-${q.slice(7)}-${body.length}`, { key: h.keys.ingest, body });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.json.stored.written, 1, r.text);
      }
      await h.running.runtime.store.refresh();
      const got = await h.call(
        'GET',
        `/api/v1/connections?q=${encodeURIComponent('dst:10.244.2.20 and dport:8080 and (sport:41000 or sport:41001 or sport:41002)')}&limit=10`,
      );
      assert.equal(got.status, 200, got.text);
      const by = new Map<number, any>(got.json.records.map((x: any) => [x.orig_p, x]));
      assert.deepEqual([...by.keys()].sort(), [41000, 41001, 41002]);
      for (const p of [41000, 41001]) {
        const k = by.get(p).k8s;
        assert.deepEqual(
          [k.orig.namespace, k.orig.pod, k.resp.namespace, k.resp.pod],
          ['shop', 'frontend-7d9f8b6c5d-abcde', 'shop', 'api-5c8d7b9f4-xk2lp'],
          `VPC ${p}: identity`,
        );
        assert.equal(k.policy, undefined, `VPC ${p}: no verdict`);
      }
      const pcapLike = by.get(41002).k8s;
      assert.equal(pcapLike.orig.pod, 'frontend-7d9f8b6c5d-abcde');
      assert.equal(pcapLike.policy?.verdict, 'allowed', JSON.stringify(pcapLike.policy));
      // The verdict field is searchable: only the NDJSON record has one.
      const r = await h.call(
        'GET',
        `/api/v1/aggregations/count?q=${encodeURIComponent('dport:8080 and (sport:41000 or sport:41001 or sport:41002) and verdict:*')}`,
      );
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.count, 1);
    });
  });
}
