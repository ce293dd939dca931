/**
 * The session builder (parsers/session/session.ts) on the packets of one HTTP connection of
 * samples/pod-traffic.pcap (tshark's tcp.stream 0, frames 5-17), whole and altered the ways a
 * capture alters a stream: segments reordered and retransmitted (each byte once, the payload
 * unchanged), a segment lost (its bytes missing, the rest in place), the capture starting in the
 * middle (Wireshark's relative numbers), and the packet and payload bounds.
 */
import { strict as assert } from 'node:assert';
import { cutPackets } from '../../src/analyze/extract';
import type { CapturedPacket } from '../../parsers/capture/types';
import { type Session, SessionBuilder, tcpFlagLetters } from '../../parsers/session/session';
import { sample } from '../service/harness';

const TARGET = { orig_h: '10.244.1.10', orig_p: 35171, resp_h: '10.96.12.34', resp_p: 8080, ip_proto: 6 };

function build(packets: CapturedPacket[], o: { maxPackets?: number; maxPayload?: number } = {}): Session {
  const b = new SessionBuilder(TARGET, { maxPackets: o.maxPackets ?? 1000, maxPayload: o.maxPayload ?? 256 * 1024 });
  for (const p of packets) if (!b.add(p)) break;
  return b.finish();
}

describe('session builder: one connection decoded and reassembled', () => {
  const pkts: CapturedPacket[] = [];
  let whole: Session;

  before(async () => {
    await cutPackets(sample('pod-traffic.pcap'), [{ ...TARGET, ts: 0, duration: 4e9 }], (p) => {
      // The reader reuses its buffers: keep a copy of each packet.
      pkts.push({ ...p, buf: Buffer.from(p.buf.subarray(p.offset, p.offset + p.caplen)), offset: 0 });
      return true;
    });
    assert.equal(pkts.length, 13);
    whole = build(pkts);
  });

  it('the whole connection: request and response in order, nothing missing', () => {
    assert.equal(whole.packets.length, 13);
    assert.equal(whole.skipped, 0);
    assert.equal(whole.truncated, false);
    // tshark's tcp.len of the orig segments (170, 178, 166) and the resp ones (1221, 1387, 103).
    assert.equal(whole.orig.data.length, 514);
    assert.equal(whole.resp.data.length, 2711);
    assert.ok(whole.orig.data.toString('latin1').startsWith('GET /api/v1/cart HTTP/1.1\r\n'));
    assert.ok(whole.resp.data.toString('latin1').startsWith('HTTP/1.1 200 OK\r\n'));
    for (const d of [whole.orig, whole.resp]) assert.deepEqual([d.total, d.missing, d.truncated], [d.data.length, 0, false]);
  });

  it('segments reordered and retransmitted: each byte once, the same payload', () => {
    // Indexes 4, 6, 8 are the responder's data (frames 9, 11, 13); 3, 5, 7 the originator's.
    const order = [0, 1, 2, 3, 8, 6, 4, 6, 5, 5, 7, 4, 9, 10, 11, 12];
    const s = build(order.map((i) => pkts[i]));
    assert.deepEqual(s.resp.data, whole.resp.data);
    assert.deepEqual(s.orig.data, whole.orig.data);
    assert.deepEqual([s.resp.missing, s.resp.total, s.orig.missing], [0, 2711, 0]);
    // Packet numbers are the places in what was given; the retransmission keeps its sequence number.
    assert.deepEqual(
      s.packets.map((p) => [p.n, p.seq]),
      [
        [1, 0],
        [2, 0],
        [3, 1],
        [4, 1],
        [5, 2609],
        [6, 1222],
        [7, 1],
        [8, 1222],
        [9, 171],
        [10, 171],
        [11, 349],
        [12, 1],
        [13, 515],
        [14, 515],
        [15, 2712],
        [16, 516],
      ],
    );
  });

  it('a lost segment: its bytes are missing, the ones after it stay in their place', () => {
    const s = build(pkts.filter((_, i) => i !== 6));
    const w = whole.resp.data;
    assert.equal(s.resp.missing, 1387);
    assert.deepEqual(s.resp.data, Buffer.concat([w.subarray(0, 1221), w.subarray(1221 + 1387)]));
    assert.equal(s.resp.total, 2711 - 1387);
    assert.deepEqual(s.orig.data, whole.orig.data);
  });

  it("a capture that starts mid-connection: Wireshark's relative numbers", () => {
    const s = build(pkts.slice(4));
    // tshark 4.0.17 on frames 9-17 of the sample written out alone (editcap -r pod-traffic.pcap mid.pcap 9-17):
    // the first segment seen in a direction is 1, and a direction first seen acknowledged counts from that ack.
    assert.deepEqual(
      s.packets.map((p) => [p.dir, p.flags, p.seq, p.ack]),
      [
        ['resp', 'AP', 1, 1],
        ['orig', 'AP', 1, 1222],
        ['resp', 'AP', 1222, 179],
        ['orig', 'AP', 179, 2609],
        ['resp', 'AP', 2609, 345],
        ['orig', 'A', 345, 2712],
        ['orig', 'AF', 345, 2712],
        ['resp', 'AF', 2712, 346],
        ['orig', 'A', 346, 2713],
      ],
    );
    assert.deepEqual(s.resp.data, whole.resp.data);
    assert.deepEqual(s.orig.data, whole.orig.data.subarray(170));
  });

  it('bounds: the first maxPayload bytes of a direction, the first maxPackets packets', () => {
    const small = build(pkts, { maxPayload: 100 });
    assert.deepEqual(small.resp.data, whole.resp.data.subarray(0, 100));
    assert.deepEqual([small.resp.total, small.resp.truncated, small.truncated], [2711, true, false]);
    const few = build(pkts, { maxPackets: 5 });
    assert.equal(few.packets.length, 5);
    assert.equal(few.truncated, true);
    assert.deepEqual(few.orig.data, whole.orig.data.subarray(0, 170));
    assert.deepEqual(build(pkts, { maxPackets: 13 }).truncated, false);
  });

  it('flag letters in the order S A P F R U E C', () => {
    assert.equal(tcpFlagLetters(0x02 | 0x40 | 0x80), 'SEC');
    assert.equal(tcpFlagLetters(0x01 | 0x04 | 0x08 | 0x10 | 0x20), 'APFRU');
    assert.equal(tcpFlagLetters(0), '');
  });
});
