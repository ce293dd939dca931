import * as assert from 'node:assert/strict';
import type { NetflowProblem } from '../../parsers/netflow/decoder';
import { parseListenAddress, startCollector } from '../../src/collect/netflow';
import type { ConnRecord } from '../../parsers/record/conn';
import { sendDatagrams as send, v5, type V5Rec } from './build';

const rec: V5Rec = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 53, proto: 17, flags: 0, pkts: 1, bytes: 60, first: 1000, last: 1000 };

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  for (let t = 0; t < ms && !cond(); t += 10) await new Promise((r) => setTimeout(r, 10));
};

describe('netflow collector (UDP)', () => {
  it('keeps collecting after garbage datagrams, reporting them with exporter and offset', async () => {
    const batches: ConnRecord[][] = [];
    const errors: Array<NetflowProblem | Error> = [];
    const c = await startCollector({
      host: '127.0.0.1',
      port: 0,
      batchMax: 3,
      batchMs: 30,
      // Batching alone: these one-way records would otherwise wait for their reverse.
      stitch: false,
      onRecords: (b) => void batches.push(b),
      onError: (e) => errors.push(e),
    });
    try {
      const good = v5(5000, 1_700_000_000, 0, 1, [rec, { ...rec, sport: 40001 }, { ...rec, sport: 40002 }, { ...rec, sport: 40003 }]);
      await send('udp4', '127.0.0.1', c.address.port, [Buffer.from([0, 9, 1]), Buffer.from('hello world'), good.subarray(0, 30), good]);
      await until(() => batches.flat().length >= 4);
      // 4 records with batchMax 3: one full batch at once, the remainder after batchMs.
      assert.deepEqual(
        batches.map((b) => b.length),
        [3, 1],
      );
      assert.deepEqual(
        batches.flat().map((r) => r.orig_p),
        [40000, 40001, 40002, 40003],
      );
      assert.equal(errors.length, 3);
      for (const e of errors) assert.ok(!(e instanceof Error) && e.exporter === '127.0.0.1' && e.offset >= 0, JSON.stringify(e));
      const st = c.stats().get('127.0.0.1');
      assert.equal(st?.datagrams, 4);
      assert.equal(st?.records, 4);
      assert.equal(st?.malformed, 3);
    } finally {
      await c.close();
    }
  });

  it('listens on IPv6 loopback and flushes the pending batch on close', async () => {
    const got: ConnRecord[] = [];
    const c = await startCollector({ host: '::1', port: 0, batchMax: 1000, batchMs: 60_000, onRecords: (b) => void got.push(...b) });
    await send('udp6', '::1', c.address.port, [v5(5000, 1_700_000_000, 0, 1, [rec])]);
    await until(() => (c.stats().get('::1')?.records ?? 0) === 1);
    assert.equal(got.length, 0, 'held for the batch');
    await c.close();
    assert.equal(got.length, 1);
  });

  it('parses listen addresses', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:2055'), { host: '127.0.0.1', port: 2055 });
    assert.deepEqual(parseListenAddress('[::1]:4739'), { host: '::1', port: 4739 });
    assert.deepEqual(parseListenAddress(':2055'), { host: '0.0.0.0', port: 2055 });
    assert.deepEqual(parseListenAddress('2055'), { host: '0.0.0.0', port: 2055 });
    assert.throws(() => parseListenAddress('localhost'), /HOST:PORT/);
    assert.throws(() => parseListenAddress('1.2.3.4:70000'), /out of range/);
  });
});
