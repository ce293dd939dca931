/**
 * The connections still open when the input ends go out in steps, the output consulted between
 * them: a capture that ended with 170k connections open had emitted all their records at once,
 * and the output stream queued them (the 10M-packet bench run's peak RSS).
 */
import * as assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pcapFileHeader } from '../../parsers/capture/pcap-writer';
import { ConnectionTracker } from '../../parsers/conntrack/tracker';
import { DecodedPacket, DecodeStatus } from '../../parsers/decode/layers';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeStream } from '../../src/analyze/pipeline';
import { fillLayer } from '../conntrack/helpers';

const LINKTYPE_RAW = 101;
const T0 = 1_700_000_000;

/** A raw-IP classic pcap of `n` one-packet UDP flows from 10.0.0.1, source ports 10000.., 1 ms apart. */
function udpFlows(n: number): Buffer {
  const parts = [pcapFileHeader({ linktype: LINKTYPE_RAW })];
  for (let i = 0; i < n; i++) {
    const rec = Buffer.alloc(16 + 28);
    rec.writeUInt32LE(T0, 0);
    rec.writeUInt32LE(i * 1000, 4);
    rec.writeUInt32LE(28, 8);
    rec.writeUInt32LE(28, 12);
    const ip = 16;
    rec[ip] = 0x45;
    rec.writeUInt16BE(28, ip + 2);
    rec[ip + 8] = 64;
    rec[ip + 9] = 17;
    rec.set([10, 0, 0, 1], ip + 12);
    rec.set([10, 0, 0, 2], ip + 16);
    let sum = 0;
    for (let o = 0; o < 20; o += 2) sum += rec.readUInt16BE(ip + o);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    rec.writeUInt16BE(~sum & 0xffff, ip + 10);
    rec.writeUInt16BE(10000 + i, ip + 20);
    rec.writeUInt16BE(9999, ip + 22);
    rec.writeUInt16BE(8, ip + 24);
    parts.push(rec);
  }
  return Buffer.concat(parts);
}

describe('analyze: connections open at the end of input go out in steps', () => {
  it('the output is consulted after every 2048 records; the records are in start order', async () => {
    const n = 5000;
    const recs: ConnRecord[] = [];
    const atPace: number[] = [];
    const res = await analyzeStream(Readable.from([udpFlows(n)]), 'mem', (r) => recs.push(r), {
      tracker: { interimIntervalSec: 0 },
      pace: () => {
        atPace.push(recs.length);
        return new Promise((resolve) => setImmediate(resolve));
      },
    });
    assert.equal(res.error, null);
    assert.equal(recs.length, n);
    assert.deepEqual(
      recs.map((r) => r.orig_p),
      Array.from({ length: n }, (_, i) => 10000 + i),
    );
    // No flow ends while reading (all within 5 s, UDP's timeout is 60 s): every record comes from
    // the end of input, and the pace is consulted between its steps.
    assert.deepEqual(
      atPace.filter((k) => k > 0),
      [2048, 4096],
    );
  });
});

describe('conntrack: finishStep', () => {
  function tracker(recs: ConnRecord[], n: number): ConnectionTracker {
    const t = new ConnectionTracker({ interimIntervalSec: 0 }, (r) => recs.push(r));
    const d = new DecodedPacket(4);
    for (let i = 0; i < n; i++) {
      fillLayer(d.layers[0], { src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 20000 + ((i * 7919) % n), dport: 53, len: 10 });
      d.count = 1;
      d.status = DecodeStatus.OK;
      t.onPacket(d, T0, i * 1000);
    }
    return t;
  }

  it('emits at most `max` connections a step, the same records in the same order as finish()', () => {
    const whole: ConnRecord[] = [];
    tracker(whole, 50).finish();
    const stepped: ConnRecord[] = [];
    const t = tracker(stepped, 50);
    const sizes: number[] = [];
    const live: number[] = [];
    for (;;) {
      const before = stepped.length;
      const done = t.finishStep(7);
      sizes.push(stepped.length - before);
      live.push(t.stats.live);
      if (done) break;
    }
    assert.deepEqual(sizes, [7, 7, 7, 7, 7, 7, 7, 1]);
    assert.deepEqual(live, [43, 36, 29, 22, 15, 8, 1, 0]);
    assert.deepEqual(stepped, whole);
    // Nothing left: a further step is done at once.
    assert.equal(t.finishStep(7), true);
    assert.equal(stepped.length, 50);
  });
});
