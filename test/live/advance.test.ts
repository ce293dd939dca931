/**
 * ConnectionTracker.advance: the wall clock of a live capture ends idle connections at their
 * timeouts without a later packet, gives the same records as the end of input would, and never
 * moves the clock backwards.
 */
import { strict as assert } from 'node:assert';
import { DecodedPacket, DecodeStatus } from '../../parsers/decode/layers';
import { ConnectionTracker } from '../../parsers/conntrack/tracker';
import type { ConnRecord } from '../../parsers/record/conn';
import { fillLayer, type Pkt, runPackets } from '../conntrack/helpers';

const A = '10.213.0.1';
const B = '10.213.0.2';
const T0 = 1_700_000_000;

function feeder(recs: ConnRecord[]): { tracker: ConnectionTracker; send: (t: number, p: Pkt) => void } {
  const tracker = new ConnectionTracker({}, (r) => recs.push(r));
  const d = new DecodedPacket(4);
  return {
    tracker,
    send(t, p) {
      fillLayer(d.layers[0], p);
      d.count = 1;
      d.status = DecodeStatus.OK;
      const sec = Math.floor(t);
      tracker.onPacket(d, sec, Math.round((t - sec) * 1e6) * 1000);
    },
  };
}

const HANDSHAKE_AND_CLOSE: [number, Pkt][] = [
  [T0, { src: A, dst: B, sport: 40000, dport: 80, flags: 'S', seq: 100 }],
  [T0 + 0.01, { src: B, dst: A, sport: 80, dport: 40000, flags: 'SA', seq: 500, ack: 101 }],
  [T0 + 0.02, { src: A, dst: B, sport: 40000, dport: 80, flags: 'A', seq: 101, ack: 501 }],
  [T0 + 0.03, { src: A, dst: B, sport: 40000, dport: 80, flags: 'PA', seq: 101, ack: 501, len: 20 }],
  [T0 + 0.04, { src: B, dst: A, sport: 80, dport: 40000, flags: 'PA', seq: 501, ack: 121, len: 300 }],
  [T0 + 0.05, { src: A, dst: B, sport: 40000, dport: 80, flags: 'FA', seq: 121, ack: 801 }],
  [T0 + 0.06, { src: B, dst: A, sport: 80, dport: 40000, flags: 'FA', seq: 801, ack: 122 }],
  [T0 + 0.07, { src: A, dst: B, sport: 40000, dport: 80, flags: 'A', seq: 122, ack: 802 }],
];

describe('ConnectionTracker.advance (the wall clock of live capture)', () => {
  it('ends a closed TCP connection after the close delay, with the record end of input gives', () => {
    const recs: ConnRecord[] = [];
    const { tracker, send } = feeder(recs);
    for (const [t, p] of HANDSHAKE_AND_CLOSE) send(t, p);
    tracker.advance(T0 + 4, 0);
    assert.equal(recs.length, 0, 'still within the 5 s close delay');
    tracker.advance(T0 + 5, 100_000_000);
    assert.equal(recs.length, 1);
    assert.equal(tracker.stats.live, 0);
    const { recs: atEnd } = runPackets(HANDSHAKE_AND_CLOSE);
    assert.deepEqual(recs, atEnd);
    assert.equal(recs[0].conn_state, 'SF');
    assert.equal(recs[0].history, 'ShADdFf');
  });

  // Not a DNS port: Zeek's DNS analyzer (DNS::ports 53, 137, 5353, 5355 on the responder) ends
  // its UDP flows earlier, at dns_session_timeout (the next test).
  it('ends an idle UDP flow at its inactivity timeout, not before', () => {
    const recs: ConnRecord[] = [];
    const { tracker, send } = feeder(recs);
    send(T0, { src: A, dst: B, sport: 40001, dport: 9999, proto: 17, len: 30 });
    send(T0 + 1, { src: B, dst: A, sport: 9999, dport: 40001, proto: 17, len: 60 });
    tracker.advance(T0 + 60, 0);
    assert.equal(recs.length, 0);
    tracker.advance(T0 + 61, 1);
    assert.equal(recs.length, 1);
    assert.deepEqual([recs[0].orig_pkts, recs[0].resp_pkts, recs[0].conn_state], [1, 1, 'SF']);
  });

  it('ends an idle UDP DNS flow at the DNS session check (every 10 s from its start), not before', () => {
    // Zeek's DNS_Analyzer::ExpireTimer runs dns_session_timeout (10 s) after the start and removes
    // the connection when idle for at least that minus 1 s: last packet at T0+1 -> gone at T0+10.
    const recs: ConnRecord[] = [];
    const { tracker, send } = feeder(recs);
    send(T0, { src: A, dst: B, sport: 5353, dport: 53, proto: 17, len: 30 });
    send(T0 + 1, { src: B, dst: A, sport: 53, dport: 5353, proto: 17, len: 60 });
    tracker.advance(T0 + 9, 999_000_000);
    assert.equal(recs.length, 0);
    tracker.advance(T0 + 10, 0);
    assert.equal(recs.length, 1);
    assert.deepEqual([recs[0].orig_pkts, recs[0].resp_pkts, recs[0].conn_state], [1, 1, 'SF']);
  });

  it('never moves the clock backwards', () => {
    const recs: ConnRecord[] = [];
    const { tracker, send } = feeder(recs);
    // A non-DNS port, so the 60 s UDP inactivity timeout is the one that applies.
    send(T0 + 100, { src: A, dst: B, sport: 40001, dport: 9999, proto: 17, len: 30 });
    // A wall clock behind the packets (a replayed capture, a skewed clock) changes nothing.
    tracker.advance(T0, 0);
    tracker.advance(T0 + 150, 0);
    assert.equal(recs.length, 0);
    send(T0 + 155, { src: B, dst: A, sport: 9999, dport: 40001, proto: 17, len: 60 });
    tracker.finish();
    assert.equal(recs.length, 1);
    assert.equal(recs[0].resp_pkts, 1);
  });
});
