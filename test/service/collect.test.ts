/**
 * NetFlow into the service: `collect --enqueue` takes datagrams on UDP and queues batches on the
 * flows queue in Redis; the service's workers store them.
 */
import { strict as assert } from 'node:assert';
import { runCollectToQueue } from '../../src/service/collect';
import { sendDatagrams, v5, type V5Rec } from '../netflow/build';
import { requireElasticsearch, startHarness, type Harness } from './harness';

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
});
