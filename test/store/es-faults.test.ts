/**
 * Elasticsearch backpressure and outages, against the real node: a small HTTP relay in front of
 * it answers the first bulk requests with 429 / 503 (what an overloaded or restarting cluster
 * sends), then relays. The store must retry with backoff and lose nothing.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ElasticsearchStore } from '../../src/store/elasticsearch';
import { sampleRecords } from './fixtures';

function relay(target: string, faults: number[]): Promise<{ url: string; bulkCalls: () => number; close: () => Promise<void> }> {
  let bulk = 0;
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith('/_bulk')) {
        const fault = faults[bulk++];
        if (fault !== undefined && fault !== 0) {
          res.writeHead(fault, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
          res.end(JSON.stringify({ error: { type: fault === 429 ? 'es_rejected_execution_exception' : 'unavailable', reason: 'injected' }, status: fault }));
          return;
        }
      }
      const up = http.request(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      up.end(Buffer.concat(chunks));
    });
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
        bulkCalls: () => bulk,
        close: () => new Promise<void>((r) => srv.close(() => r())),
      }),
    ),
  );
}

describe('store: elasticsearch backend under 429 and 503', function () {
  this.timeout(120_000);
  before(function () {
    if (process.env.ES_URL === undefined) {
      if (process.env.CI === 'true') throw new Error('CI: ES_URL is required');
      console.warn(`      skipped: no Elasticsearch (${process.env.EASTWATCH_ES_UNAVAILABLE ?? 'ES_URL is not set'})`);
      this.skip();
    }
  });

  it('retries rejected bulk requests with backoff and stores every record', async () => {
    const r = await relay(process.env.ES_URL as string, [429, 429, 503, 0, 429]);
    const s = new ElasticsearchStore({ node: r.url, prefix: `ewtest-${process.pid}-faults`, batchDocs: 100, concurrency: 1, retryBaseMs: 20, maxRetries: 4 });
    try {
      await s.init();
      const recs = (await sampleRecords()).slice(0, 300);
      const t0 = Date.now();
      const w = await s.write(recs);
      assert.deepEqual(w, { written: 300, stale: 0, deadLettered: 0 });
      // 3 batches + 4 rejected attempts
      assert.equal(r.bulkCalls(), 7);
      assert.ok(Date.now() - t0 >= 20 * (0.5 + 1 + 2) * 0.5, 'backed off');
      await s.refresh();
      assert.equal(await s.count({}), 300);
    } finally {
      await s.destroy();
      await s.close();
      await r.close();
    }
  });

  it('gives up with a clear error when the cluster keeps refusing', async () => {
    const r = await relay(process.env.ES_URL as string, [0, 503, 503, 503]);
    const s = new ElasticsearchStore({ node: r.url, prefix: `ewtest-${process.pid}-faults2`, batchDocs: 50, concurrency: 1, retryBaseMs: 10, maxRetries: 2 });
    try {
      await s.init();
      const recs = (await sampleRecords()).slice(0, 100);
      await assert.rejects(s.write(recs), /Elasticsearch at http:\/\/127\.0\.0\.1:\d+: bulk failed after 3 attempts/);
    } finally {
      await s.destroy();
      await s.close();
      await r.close();
    }
  });
});
