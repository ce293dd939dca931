/**
 * NetFlow into the service: `collect --enqueue` takes datagrams on UDP and queues batches on the
 * flows queue in Redis; the service's workers store them. With --cluster the records carry the
 * cluster and resolve against its inventory only; NetFlow records get identity but never a
 * NetworkPolicy verdict (an exporter sees traffic outside the pod network).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { runCollectToQueue } from '../../src/service/collect';
import { sendDatagrams, v5, type V5Rec } from '../netflow/build';
import { requireElasticsearch, sample, startHarness, type Harness } from './harness';

describe('collect --enqueue: NetFlow into the flows queue (Redis + Elasticsearch)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async function () {
    requireElasticsearch(this);
    h = await startHarness({ mode: 'redis+es' });
  });
  after(async () => {
    await h?.stop();
  });

  it('stores every flow of the datagrams through the workers', async () => {
    const ac = new AbortController();
    let port = 0;
    const lines: string[] = [];
    const stderr = {
      write: (s: string) => {
        lines.push(s);
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const listening = new Promise<void>((r) => {
      void runCollectToQueue(
        '127.0.0.1:0',
        h.cfg,
        // One-way flows wait for their reverse (stitching, 60 s by default): these three have none,
        // so a short hold hands them on, unpaired, while the collector runs.
        { batchMax: 2, batchMs: 50, stitch: { holdSec: 1 } },
        {
          stderr,
          signal: ac.signal,
          onListening: (a) => {
            port = a.port;
            r();
          },
        },
      ).then((code) => lines.push(`exit ${code}`));
    });
    await listening;
    const base: V5Rec = {
      src: '10.244.1.10',
      dst: '10.244.2.20',
      sport: 40000,
      dport: 8080,
      proto: 6,
      flags: 0x1b,
      pkts: 10,
      bytes: 4000,
      first: 1000,
      last: 2000,
    };
    await sendDatagrams('udp4', '127.0.0.1', port, [v5(5000, 1_768_471_200, 0, 1, [base, { ...base, sport: 40001 }, { ...base, sport: 40002 }])]);
    const store = h.running.runtime.store;
    let n = 0;
    for (let i = 0; i < 200 && n < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await store.refresh();
      n = await store.count({ query: 'dport:8080 and src:10.244.1.10' });
    }
    ac.abort();
    for (let i = 0; i < 100 && !lines.some((l) => l.startsWith('exit')); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(n, 3);
    assert.ok(lines.includes('exit 0'), lines.join(''));
    assert.ok(
      lines.some((l) => /3 records queued/.test(l)),
      lines.join(''),
    );
  });

  it('--cluster: records carry the cluster and resolve against its inventory only, with no policy verdict', async () => {
    const inventory = fs.readFileSync(sample('k8s/inventory.json'), 'utf8');
    // The same pod addresses in two clusters; in west the namespace is called `store`.
    for (const [cluster, text] of [
      ['east', inventory],
      ['west', inventory.replace(/"shop"/g, '"store"')],
    ]) {
      const r = await h.call('POST', `/api/v1/inventory?source=test&cluster=${cluster}`, {
        key: h.keys.ingest,
        body: text,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 201, r.text);
    }
    const lines: string[] = [];
    const stderr = { write: (x: string) => lines.push(x) > 0 } as unknown as NodeJS.WritableStream;
    assert.equal(await runCollectToQueue('127.0.0.1:0', h.cfg, { cluster: 'West' }, { stderr }), 2);
    assert.match(lines.join(''), /--cluster: 'West' is not a cluster name/);

    const ac = new AbortController();
    let port = 0;
    let exit = -1;
    await new Promise<void>((r) => {
      void runCollectToQueue(
        '127.0.0.1:0',
        h.cfg,
        { batchMax: 2, batchMs: 50, stitch: { holdSec: 1 }, cluster: 'west' },
        {
          stderr,
          signal: ac.signal,
          onListening: (a) => {
            port = a.port;
            r();
          },
        },
      ).then((code) => {
        exit = code;
      });
    });
    const flow: V5Rec = {
      src: '10.244.1.10',
      dst: '10.244.2.20',
      sport: 40100,
      dport: 8080,
      proto: 6,
      flags: 0x1b,
      pkts: 10,
      bytes: 4000,
      first: 1000,
      last: 2000,
    };
    await sendDatagrams('udp4', '127.0.0.1', port, [v5(5000, 1_768_471_200, 0, 1, [flow])]);
    const store = h.running.runtime.store;
    let n = 0;
    for (let i = 0; i < 200 && n < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await store.refresh();
      n = await store.count({ query: 'sport:40100 and dport:8080' });
    }
    ac.abort();
    for (let i = 0; i < 100 && exit < 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(exit, 0, lines.join(''));
    assert.match(lines.join(''), /flows queue \(cluster west\)/);
    const got = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('sport:40100 and dport:8080')}&limit=10`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.records.length, 1);
    const rec = got.json.records[0];
    assert.equal(rec.cluster, 'west');
    assert.deepEqual(
      [rec.k8s.orig.namespace, rec.k8s.orig.pod, rec.k8s.resp.namespace, rec.k8s.resp.pod],
      ['store', 'frontend-7d9f8b6c5d-abcde', 'store', 'api-5c8d7b9f4-xk2lp'],
    );
    assert.equal(rec.k8s.policy, undefined, JSON.stringify(rec.k8s.policy));
    const count = await h.call('GET', `/api/v1/aggregations/count?q=${encodeURIComponent('orchestrator.cluster.name:west and sport:40100 and ns:store')}`);
    assert.equal(count.json.count, 1, count.text);
  });
});
