import * as assert from 'node:assert/strict';
import { TunnelKind } from '../../parsers/decode/layers';
import type { ConnRecord } from '../../parsers/record/conn';
import { type Pkt, runPackets } from './helpers';

const C = '10.0.0.1';
const S = '93.184.216.34';
const out = (o: Partial<Pkt>): Pkt => ({ src: C, dst: S, sport: 40000, dport: 80, ...o });
const back = (o: Partial<Pkt>): Pkt => ({ src: S, dst: C, sport: 80, dport: 40000, ...o });
const T0 = 1_700_000_000;

function one(recs: ConnRecord[]): ConnRecord {
  assert.equal(recs.length, 1, JSON.stringify(recs, null, 1));
  return recs[0];
}

describe('conntrack/tracker: TCP state machine', () => {
  it('handshake + data + FIN/FIN: SF, ShADadFf, bytes from sequence numbers', () => {
    const { recs } = runPackets([
      [T0, out({ flags: 'S', seq: 1000 })],
      [T0 + 0.01, back({ flags: 'SA', seq: 5000, ack: 1001 })],
      [T0 + 0.02, out({ flags: 'A', seq: 1001, ack: 5001 })],
      [T0 + 0.03, out({ flags: 'PA', seq: 1001, ack: 5001, len: 100 })],
      [T0 + 0.04, back({ flags: 'A', seq: 5001, ack: 1101 })],
      [T0 + 0.05, back({ flags: 'PA', seq: 5001, ack: 1101, len: 300 })],
      [T0 + 0.06, out({ flags: 'FA', seq: 1101, ack: 5301 })],
      [T0 + 0.07, back({ flags: 'FA', seq: 5301, ack: 1102 })],
      [T0 + 0.08, out({ flags: 'A', seq: 1102, ack: 5302 })],
    ]);
    const r = one(recs);
    assert.equal(r.conn_state, 'SF');
    assert.equal(r.history, 'ShADadFf');
    assert.equal(r.orig_h, C);
    assert.equal(r.resp_p, 80);
    assert.equal(r.orig_bytes, 100);
    assert.equal(r.resp_bytes, 300);
    assert.equal(r.orig_pkts, 5);
    assert.equal(r.resp_pkts, 4);
    assert.equal(r.orig_ip_bytes, 5 * 40 + 100);
    // Zeek's duration stops at the second FIN (the trailing ACK comes after both closed)
    assert.equal(r.duration, 0.07);
    assert.equal(r.missed_bytes, 0);
    assert.equal(r.local_orig, true);
    assert.equal(r.local_resp, false);
    assert.equal(r.proto, 'tcp');
    assert.equal(r.ip_proto, 6);
    assert.equal(r.interim, false);
    assert.match(r.community_id, /^1:[A-Za-z0-9+/]{27}=$/);
  });

  it('SYN only: S0', () => {
    const r = one(runPackets([[T0, out({ flags: 'S', seq: 7 })]]).recs);
    assert.equal(r.conn_state, 'S0');
    assert.equal(r.history, 'S');
    assert.equal(r.duration, 0);
  });

  it('SYN answered by RST: REJ, Sr', () => {
    const r = one(
      runPackets([
        [T0, out({ flags: 'S', seq: 7 })],
        [T0 + 0.05, back({ flags: 'RA', seq: 0, ack: 8 })],
      ]).recs,
    );
    assert.equal(r.conn_state, 'REJ');
    assert.equal(r.history, 'Sr');
    assert.equal(r.orig_bytes, 0);
    assert.equal(r.resp_bytes, 0);
  });

  it('SYN-ACK seen first from a server port: roles flipped, ^h', () => {
    const r = one(
      runPackets([
        [T0, back({ flags: 'SA', seq: 5000, ack: 1001 })],
        [T0 + 0.01, out({ flags: 'A', seq: 1001, ack: 5001 })],
      ]).recs,
    );
    assert.equal(r.orig_h, C);
    assert.equal(r.orig_p, 40000);
    assert.equal(r.resp_h, S);
    assert.equal(r.history, '^hA');
    assert.equal(r.conn_state, 'S1');
    assert.equal(r.orig_pkts, 1);
    assert.equal(r.resp_pkts, 1);
  });

  // Expected values from zeek/tcp/*.pcap.zeek.scripts.base.protocols.conn.conn_state-RST-behavior.out
  // (lines 1-4: "R, OTH", "SR, RSTOS0", "SaR, RSTOS0", "SaFR, OTH"), rebuilt packet by packet.
  const A = { src: '1.1.1.1', dst: '1.1.1.2', sport: 13131, dport: 31313 };
  const B = { src: '1.1.1.2', dst: '1.1.1.1', sport: 31313, dport: 13131 };
  const rstCases: [string, [number, Pkt][], string, string][] = [
    ['single-rst', [[T0, { ...A, flags: 'R', seq: 100 }]], 'R', 'OTH'],
    [
      'syn-then-rst',
      [
        [T0, { ...A, flags: 'S', seq: 100 }],
        [T0 + 0.1, { ...A, flags: 'R', seq: 101 }],
      ],
      'SR',
      'RSTOS0',
    ],
    [
      'syn-then-ack-then-rst',
      [
        [T0, { ...A, flags: 'S', seq: 100 }],
        [T0 + 0.1, { ...B, flags: 'A', seq: 900, ack: 101 }],
        [T0 + 0.2, { ...A, flags: 'R', seq: 101 }],
      ],
      'SaR',
      'RSTOS0',
    ],
    [
      'syn-then-stuff-then-rst',
      [
        [T0, { ...A, flags: 'S', seq: 100 }],
        [T0 + 0.1, { ...B, flags: 'A', seq: 900, ack: 101 }],
        [T0 + 0.2, { ...A, flags: 'FA', seq: 101, ack: 900 }],
        [T0 + 0.3, { ...A, flags: 'R', seq: 102 }],
      ],
      'SaFR',
      'OTH',
    ],
  ];
  for (const [name, pkts, hist, state] of rstCases) {
    it(`RST behaviour ${name}: ${hist} ${state}`, () => {
      const r = one(runPackets(pkts).recs);
      assert.equal(r.history, hist);
      assert.equal(r.conn_state, state);
    });
  }

  it('retransmitted payload counts once and marks t/T', () => {
    const r = one(
      runPackets([
        [T0, out({ flags: 'S', seq: 1000 })],
        [T0 + 0.01, back({ flags: 'SA', seq: 5000, ack: 1001 })],
        [T0 + 0.02, out({ flags: 'PA', seq: 1001, ack: 5001, len: 500 })],
        [T0 + 0.5, out({ flags: 'PA', seq: 1001, ack: 5001, len: 500 })],
        [T0 + 0.6, back({ flags: 'A', seq: 5001, ack: 1501 })],
      ]).recs,
    );
    assert.equal(r.orig_bytes, 500);
    assert.equal(r.history, 'ShDTa');
    assert.equal(r.orig_pkts, 3);
    assert.equal(r.conn_state, 'S1');
  });

  it('counts retransmissions logarithmically (T at 1 and 10)', () => {
    const pkts: [number, Pkt][] = [
      [T0, out({ flags: 'S', seq: 1000 })],
      [T0 + 0.01, back({ flags: 'SA', seq: 5000, ack: 1001 })],
      [T0 + 0.02, out({ flags: 'PA', seq: 1001, ack: 5001, len: 10 })],
    ];
    for (let i = 0; i < 10; i++) pkts.push([T0 + 0.1 + i * 0.01, out({ flags: 'PA', seq: 1001, ack: 5001, len: 10 })]);
    const r = one(runPackets(pkts).recs);
    assert.equal(r.history, 'ShDTT');
    assert.equal(r.orig_bytes, 10);
  });

  it('handles sequence wraparound (bytes across 2^32)', () => {
    const isn = 4294967000;
    const r = one(
      runPackets([
        [T0, out({ flags: 'S', seq: isn })],
        [T0 + 0.01, back({ flags: 'SA', seq: 7, ack: isn + 1 })],
        [T0 + 0.02, out({ flags: 'PA', seq: isn + 1, ack: 8, len: 1000 })],
        [T0 + 0.03, out({ flags: 'PA', seq: (isn + 1001) % 2 ** 32, ack: 8, len: 1000 })],
        [T0 + 0.04, back({ flags: 'A', seq: 8, ack: (isn + 2001) % 2 ** 32 })],
        [T0 + 0.05, out({ flags: 'FA', seq: (isn + 2001) % 2 ** 32, ack: 8 })],
        [T0 + 0.06, back({ flags: 'FA', seq: 8, ack: (isn + 2002) % 2 ** 32 })],
      ]).recs,
    );
    assert.equal(r.orig_bytes, 2000);
    assert.equal(r.conn_state, 'SF');
    assert.equal(r.missed_bytes, 0);
  });

  it('reports a content gap (g) when the peer ACKs data never seen', () => {
    const r = one(
      runPackets([
        [T0, out({ flags: 'S', seq: 1000 })],
        [T0 + 0.01, back({ flags: 'SA', seq: 5000, ack: 1001 })],
        [T0 + 0.02, out({ flags: 'A', seq: 1001, ack: 5001 })],
        [T0 + 0.03, back({ flags: 'PA', seq: 5001, ack: 1001, len: 100 })],
        // 5101..5300 lost by the capture
        [T0 + 0.05, back({ flags: 'PA', seq: 5301, ack: 1001, len: 100 })],
        [T0 + 0.06, out({ flags: 'A', seq: 1001, ack: 5401 })],
      ]).recs,
    );
    assert.equal(r.missed_bytes, 200);
    assert.equal(r.history, 'ShAdg');
    assert.equal(r.resp_bytes, 400);
  });

  it('zero window advertisement is w', () => {
    const r = one(
      runPackets([
        [T0, out({ flags: 'S', seq: 1000 })],
        [T0 + 0.01, back({ flags: 'SA', seq: 5000, ack: 1001 })],
        [T0 + 0.02, out({ flags: 'PA', seq: 1001, ack: 5001, len: 10 })],
        [T0 + 0.03, back({ flags: 'A', seq: 5001, ack: 1011, win: 0 })],
      ]).recs,
    );
    assert.equal(r.history, 'ShDaw');
  });

  it('a new SYN after a close starts a new connection on the same 4-tuple', () => {
    const { recs } = runPackets([
      [T0, out({ flags: 'S', seq: 7 })],
      [T0 + 0.05, back({ flags: 'RA', seq: 0, ack: 8 })],
      [T0 + 1, out({ flags: 'S', seq: 9000 })],
      [T0 + 1.05, back({ flags: 'RA', seq: 0, ack: 9001 })],
    ]);
    assert.equal(recs.length, 2);
    assert.deepEqual(
      recs.map((r) => r.conn_state),
      ['REJ', 'REJ'],
    );
    assert.notEqual(recs[0].uid, recs[1].uid);
  });

  it('an unanswered SYN ends after tcp_attempt_delay: later packets form a new (partial) connection', () => {
    const { recs } = runPackets([
      [T0, out({ flags: 'S', seq: 100 })],
      [T0 + 1, out({ flags: 'PA', seq: 101, ack: 1, len: 20 })],
      [T0 + 6, out({ flags: 'PA', seq: 121, ack: 1, len: 20 })],
      [T0 + 7, out({ flags: 'FA', seq: 141, ack: 1 })],
    ]);
    assert.equal(recs.length, 2);
    assert.equal(recs[0].history, 'SD');
    assert.equal(recs[0].conn_state, 'S0');
    assert.equal(recs[1].history, 'DF');
    assert.equal(recs[1].conn_state, 'SH');
  });
});

describe('conntrack/tracker: UDP, ICMP, timers, tunnels', () => {
  const dns = (o: Partial<Pkt>): Pkt => ({ src: C, dst: '8.8.8.8', sport: 5353 + 50000, dport: 53, proto: 17, ...o });
  const dnsBack = (o: Partial<Pkt>): Pkt => ({ src: '8.8.8.8', dst: C, sport: 53, dport: 5353 + 50000, proto: 17, ...o });

  it('UDP request/response: SF Dd; request only: S0; response only: SHR after the port-based flip', () => {
    const sf = one(
      runPackets([
        [T0, dns({ len: 30 })],
        [T0 + 0.01, dnsBack({ len: 90 })],
      ]).recs,
    );
    assert.deepEqual([sf.conn_state, sf.history, sf.orig_bytes, sf.resp_bytes, sf.orig_ip_bytes], ['SF', 'Dd', 30, 90, 58]);
    const s0 = one(
      runPackets([
        [T0, dns({ len: 30 })],
        [T0 + 1, dns({ len: 30 })],
      ]).recs,
    );
    assert.deepEqual([s0.conn_state, s0.history, s0.orig_bytes, s0.orig_pkts], ['S0', 'D', 60, 2]);
    const shr = one(runPackets([[T0, dnsBack({ len: 90 })]]).recs);
    assert.deepEqual([shr.conn_state, shr.history, shr.orig_h, shr.resp_p, shr.resp_pkts], ['SHR', '^d', C, 53, 1]);
  });

  it('ICMP echo request and reply are one connection (orig_p 8, resp_p 0)', () => {
    const r = one(
      runPackets([
        [T0, { src: C, dst: S, proto: 1, icmpType: 8, len: 56 }],
        [T0 + 0.02, { src: S, dst: C, proto: 1, icmpType: 0, len: 56 }],
      ]).recs,
    );
    assert.deepEqual([r.proto, r.orig_p, r.resp_p, r.orig_bytes, r.resp_bytes, r.conn_state, r.history], ['icmp', 8, 0, 56, 56, 'OTH', '']);
    const un = runPackets([
      [T0, { src: C, dst: S, proto: 1, icmpType: 3, icmpCode: 3, len: 28 }],
      [T0 + 0.02, { src: S, dst: C, proto: 1, icmpType: 3, icmpCode: 3, len: 28 }],
    ]).recs;
    assert.equal(un.length, 2, 'one-way ICMP types are not paired');
    assert.deepEqual([un[0].orig_p, un[0].resp_p], [3, 3]);
  });

  it('inactivity timeout closes a connection; the next packet starts a second record', () => {
    const { recs, tracker } = runPackets([
      [T0, dns({ len: 30 })],
      [T0 + 0.01, dnsBack({ len: 90 })],
      [T0 + 100, dns({ len: 30 })],
    ]);
    assert.equal(recs.length, 2);
    assert.equal(recs[0].conn_state, 'SF');
    assert.equal(recs[1].conn_state, 'S0');
    assert.equal(recs[1].ts, T0 + 100);
    assert.equal(tracker.stats.timedOut, 1);
    assert.notEqual(recs[0].uid, recs[1].uid);
  });

  it('forced flush under a tiny maxConnections still emits every connection', () => {
    const pkts: [number, Pkt][] = [];
    for (let i = 0; i < 5; i++) pkts.push([T0 + i, dns({ sport: 1000 + i, len: 10 })]);
    const { recs, tracker } = runPackets(pkts, { maxConnections: 2 });
    assert.equal(recs.length, 5);
    assert.deepEqual(recs.map((r) => r.orig_p).sort(), [1000, 1001, 1002, 1003, 1004]);
    assert.equal(tracker.stats.forcedFlushes, 3);
    assert.equal(tracker.stats.created, 5);
    assert.equal(tracker.stats.emitted, 5);
    assert.equal(tracker.stats.live, 0);
  });

  it('long connections emit interim records with the same uid', () => {
    const pkts: [number, Pkt][] = [];
    for (let t = 0; t <= 9000; t += 50) pkts.push([T0 + t, dns({ len: 10 })]);
    // A DNS flow pausing 50 s would be split by Zeek's dns_session_timeout: off here, the point is the interim records.
    const { recs, tracker } = runPackets(pkts, { interimIntervalSec: 3600, dnsSessionTimeoutSec: 0 });
    assert.equal(recs.length, 3);
    assert.deepEqual(
      recs.map((r) => r.interim),
      [true, true, false],
    );
    assert.equal(new Set(recs.map((r) => r.uid)).size, 1);
    assert.equal(recs[0].orig_pkts, 73); // t = 0..3600 step 50
    assert.equal(recs[2].orig_pkts, 181);
    assert.equal(tracker.stats.interim, 2);
  });

  it('two-layer packet: inner connection lists the outer uid in tunnel_parents; outer gets the tunnel service', () => {
    const outerA: Pkt = { src: '192.168.56.12', dst: '192.168.56.11', sport: 38071, dport: 4789, proto: 17, len: 106 };
    const outerB: Pkt = { src: '192.168.56.11', dst: '192.168.56.12', sport: 48134, dport: 4789, proto: 17, len: 106 };
    const inner = (req: boolean): Pkt => ({
      src: req ? '10.0.0.1' : '10.0.0.2',
      dst: req ? '10.0.0.2' : '10.0.0.1',
      proto: 1,
      icmpType: req ? 8 : 0,
      len: 56,
      tunnel: TunnelKind.VXLAN,
      tunnelId: 123,
    });
    const { recs } = runPackets([
      [T0, [outerA, inner(true)]],
      [T0 + 0.001, [outerB, inner(false)]],
    ]);
    assert.equal(recs.length, 3);
    const icmp = recs.find((r) => r.proto === 'icmp')!;
    const udp = recs.filter((r) => r.proto === 'udp');
    assert.deepEqual(
      icmp.tunnel_parents,
      udp.map((r) => r.uid),
    );
    assert.equal(icmp.tunnel_type, 'vxlan');
    assert.equal(icmp.tunnel_id, 123);
    assert.deepEqual([icmp.orig_pkts, icmp.resp_pkts], [1, 1]);
    for (const u of udp) assert.deepEqual(u.service, ['vxlan']);
  });

  it("VLAN is not part of Zeek's default key (the record keeps the first seen); keyVlan adds it", () => {
    const pkts: [number, Pkt][] = [
      [T0, dns({ len: 10, vlan: 10 })],
      [T0 + 0.1, dns({ len: 10, vlan: 20 })],
    ];
    const one = runPackets(pkts).recs;
    assert.equal(one.length, 1);
    assert.equal(one[0].vlan, 10);
    assert.equal(one[0].orig_pkts, 2);
    const two = runPackets(pkts, { keyVlan: true }).recs;
    assert.equal(two.length, 2);
    assert.deepEqual(two.map((r) => r.vlan).sort(), [10, 20]);
  });

  it('the same input analysed twice yields the same uids', () => {
    const pkts: [number, Pkt][] = [
      [T0, dns({ len: 10 })],
      [T0 + 0.5, out({ flags: 'S', seq: 1 })],
    ];
    const a = runPackets(pkts).recs.map((r) => r.uid);
    const b = runPackets(pkts).recs.map((r) => r.uid);
    assert.deepEqual(a, b);
    assert.notEqual(a[0], a[1]);
  });
});
