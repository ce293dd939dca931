/**
 * What Zeek's per-protocol analyzers change in conn.log beyond `service`, reproduced in the
 * tracker: the DNS and NTP analyzers turn a connection round when its messages show the sender is
 * the server (history `^`), and the unknown-transport adapter counts no payload bytes. Each rule
 * on the corpus capture whose baseline shows it (values are the baselines'), and on hand-built
 * packets for the cases no capture has.
 */
import * as assert from 'node:assert/strict';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';
import { type Pkt, runPackets } from './helpers';

async function analyse(rel: string, verifyChecksums = false): Promise<{ conns: ConnRecord[]; apps: AppRecordOut[] }> {
  const conns: ConnRecord[] = [];
  const apps: AppRecordOut[] = [];
  const res = await analyzeFile(corpusPath(rel), (r) => conns.push(r), { tracker: { payload: analyzerFactory((a) => apps.push(a)), verifyChecksums } });
  assert.equal(res.error, null);
  return { conns: conns.filter((r) => !r.interim), apps };
}

const tuple = (r: { orig_h: string; orig_p: number; resp_h: string; resp_p: number }): string => `${r.orig_h}:${r.orig_p} > ${r.resp_h}:${r.resp_p}`;
const counts = (r: ConnRecord): (string | number)[] => [
  r.history,
  r.conn_state,
  r.orig_pkts,
  r.orig_bytes,
  r.orig_ip_bytes,
  r.resp_pkts,
  r.resp_bytes,
  r.resp_ip_bytes,
];

const T0 = 1_700_000_000;
/** A DNS header: flags word with QR set for a response. */
const dns = (response: boolean): number[] => [0x12, 0x34, response ? 0x81 : 0x01, response ? 0x80 : 0x00, 0, 1, 0, response ? 1 : 0, 0, 0, 0, 0];
/** First byte of an NTP v4 message in the given mode (3 client, 4 server). */
const ntp = (mode: number): number[] => [(4 << 3) | mode];

describe("conntrack: Zeek's DNS analyzer turns a connection that starts with a response", () => {
  it('dns53.pcap (dns.flip): the lone response makes its receiver the originator; the dns record follows', async function (this: Mocha.Context) {
    requireCorpus(this);
    const { conns, apps } = await analyse('zeek/dns53.pcap', true);
    assert.equal(conns.length, 1);
    assert.equal(tuple(conns[0]), '10.20.1.31:53 > 207.158.192.40:53');
    // The datagram counts where Zeek counts it: its length on the side it came from before the
    // flip (the UDP adapter keeps request_len), its packet after it (ConnSize sees the old is_orig).
    assert.deepEqual(counts(conns[0]), ['D^', 'S0', 1, 433, 461, 0, 0, 0]);
    const rec = apps.find((a) => a.kind === 'dns');
    assert.ok(rec);
    assert.equal(tuple(rec.conn), '10.20.1.31:53 > 207.158.192.40:53');
  });

  const a = '10.0.0.1';
  const s = '10.0.0.53';
  it('only the first message decides: a query first, or a response to a multicast group, stays as it is', () => {
    const queryFirst = runPackets([
      [T0, { src: a, dst: s, sport: 53, dport: 53, proto: 17, len: 30, payload: dns(false) }],
      [T0 + 0.1, { src: s, dst: a, sport: 53, dport: 53, proto: 17, len: 60, payload: dns(true) }],
      [T0 + 0.2, { src: a, dst: s, sport: 53, dport: 53, proto: 17, len: 60, payload: dns(true) }],
    ]).recs;
    assert.deepEqual([tuple(queryFirst[0]), queryFirst[0].history], ['10.0.0.1:53 > 10.0.0.53:53', 'Dd']);
    const mdns = runPackets([[T0, { src: a, dst: '224.0.0.251', sport: 5353, dport: 5353, proto: 17, len: 60, payload: dns(true) }]]).recs;
    assert.deepEqual([tuple(mdns[0]), mdns[0].history], ['10.0.0.1:5353 > 224.0.0.251:5353', 'D']);
  });

  it('a datagram too short for a header is not the first message; other ports are not DNS', () => {
    const short: Pkt = { src: a, dst: s, sport: 53, dport: 53, proto: 17, len: 4, payload: [0, 0, 0x80, 0] };
    const resp: Pkt = { src: a, dst: s, sport: 53, dport: 53, proto: 17, len: 60, payload: dns(true) };
    const r = runPackets([
      [T0, short],
      [T0 + 0.1, resp],
    ]).recs[0];
    // Both came from 10.0.0.1: the first packet's count moves with the flip, the second's counts
    // for the old side; the payload sums (4 + 60) stay on the originator's side.
    assert.deepEqual([tuple(r), r.history, r.orig_pkts, r.resp_pkts, r.orig_bytes], ['10.0.0.53:53 > 10.0.0.1:53', 'D^', 1, 1, 64]);
    const other = runPackets([[T0, { ...resp, sport: 7000, dport: 7000 }]]).recs[0];
    assert.deepEqual([tuple(other), other.history], ['10.0.0.1:7000 > 10.0.0.53:7000', 'D']);
  });
});

describe("conntrack: Zeek's NTP analyzer turns a connection by the message mode", () => {
  it('misordered-ntp.pcap: a server reply captured before its request; both datagrams count for the client', async function (this: Mocha.Context) {
    requireCorpus(this);
    const { conns } = await analyse('zeek/ntp/misordered-ntp.pcap');
    assert.equal(conns.length, 1);
    assert.equal(tuple(conns[0]), '192.168.1.95:123 > 17.253.4.253:123');
    assert.deepEqual(counts(conns[0]), ['D^', 'S0', 2, 96, 152, 0, 0, 0]);
  });

  const c = '10.0.0.1';
  const srv = '10.0.0.123';
  const msg = (from: string, to: string, mode: number, len = 48): Pkt => ({ src: from, dst: to, sport: 123, dport: 123, proto: 17, len, payload: ntp(mode) });
  it('client mode from the responder flips; request then reply does not; short messages are not parsed', () => {
    const inOrder = runPackets([
      [T0, msg(c, srv, 3)],
      [T0 + 0.1, msg(srv, c, 4)],
    ]).recs[0];
    assert.deepEqual([tuple(inOrder), inOrder.history, inOrder.orig_pkts, inOrder.resp_pkts], ['10.0.0.1:123 > 10.0.0.123:123', 'Dd', 1, 1]);
    // First a symmetric-active message (mode 1) from the server side: no flip until the client's
    // request arrives from the responder. Zeek's ConnSize swaps the packets counted so far and then
    // counts this one for the side it came from before the flip; the UDP payload sums stay put.
    const late = runPackets([
      [T0, msg(srv, c, 1)],
      [T0 + 0.1, msg(c, srv, 3)],
    ]).recs[0];
    assert.deepEqual(
      [tuple(late), late.history, late.orig_pkts, late.resp_pkts, late.orig_bytes, late.resp_bytes],
      ['10.0.0.1:123 > 10.0.0.123:123', 'Dd^', 0, 2, 48, 48],
    );
    const short = runPackets([[T0, msg(srv, c, 4, 20)]]).recs[0];
    assert.deepEqual([tuple(short), short.history], ['10.0.0.123:123 > 10.0.0.1:123', 'D']);
  });
});

describe('conntrack: unknown transports count no payload bytes', () => {
  it('cisco-fabric-path.pcap: SCTP with 12-byte chunks logs orig_bytes 0, its IP bytes counted', async function (this: Mocha.Context) {
    requireCorpus(this);
    const { conns } = await analyse('zeek/cisco-fabric-path.pcap', true);
    const sctp = conns.filter((r) => r.ip_proto === 132);
    assert.equal(sctp.length, 16);
    const first = sctp.find((r) => r.orig_h === '1.1.1.0');
    assert.ok(first);
    assert.deepEqual([first.proto, first.orig_p, first.resp_p, ...counts(first)], ['unknown_transport', 0, 0, '', 'OTH', 2, 0, 64, 0, 0, 0]);
    assert.ok(sctp.every((r) => r.orig_bytes === 0 && r.resp_bytes === 0));
  });

  it('both directions, hand-built (IP protocol 99)', () => {
    const r = runPackets([
      [T0, { src: '10.0.0.1', dst: '10.0.0.2', proto: 99, len: 100 }],
      [T0 + 0.1, { src: '10.0.0.2', dst: '10.0.0.1', proto: 99, len: 30 }],
    ]).recs[0];
    // fillLayer gives non-TCP an 8-byte transport header: IP bytes are 20 + 8 + len.
    assert.deepEqual([r.proto, r.conn_state, r.orig_bytes, r.resp_bytes, r.orig_ip_bytes, r.resp_ip_bytes], ['unknown_transport', 'OTH', 0, 0, 128, 58]);
  });
});
