/**
 * Zeek's connection rules that decide keys, orientation and history, each checked on the real
 * capture whose Zeek baseline shows it (values below are the baselines' in ../shared/corpus):
 * checksum verification (Zeek without -C), tunnel-change limit (X), SYN-ACK and port-based
 * flips, the broadcast exception, SCTP as unknown_transport; plus the DNS session timeout,
 * which no corpus capture exercises, on hand-built packets.
 */
import * as assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { extractConnections } from '../../src/analyze/extract';
import { analyzeFile, type AnalyzeOptions } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';
import type { PayloadObserverFactory } from '../../parsers/conntrack/payload';
import { ConnectionTracker } from '../../parsers/conntrack/tracker';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { DecodeStatus, TunnelKind } from '../../parsers/decode/layers';
import {
  Flags,
  Proto,
  ethernet,
  etherTypeFor,
  finishChecksum,
  icmpEcho,
  ip,
  ipBytes,
  pseudoHeaderSum,
  sum16,
  tcp,
  udp,
} from '../../samples/lib/packet-builder';
import { type Pkt, runPackets } from './helpers';

async function analyse(rel: string, opts: AnalyzeOptions = {}): Promise<ConnRecord[]> {
  const recs: ConnRecord[] = [];
  const res = await analyzeFile(corpusPath(rel), (r) => recs.push(r), opts);
  assert.equal(res.error, null);
  return recs.filter((r) => !r.interim);
}

const tuple = (r: ConnRecord): string => `${r.orig_h}:${r.orig_p} > ${r.resp_h}:${r.resp_p} ${r.proto}`;

describe('conntrack: Zeek rules on corpus captures', () => {
  it('bad TCP checksum (tcp/syn-bad.pcap, core.tcp.bad-checksum-syn): C, OTH, nothing counted; kept without verification', async function (this: Mocha.Context) {
    requireCorpus(this);
    const [r] = await analyse('zeek/tcp/syn-bad.pcap', { verifyChecksums: true });
    assert.equal(tuple(r), '141.142.228.5:59856 > 192.150.187.43:80 tcp');
    assert.deepEqual([r.history, r.conn_state, r.orig_pkts, r.resp_pkts, r.orig_ip_bytes], ['C', 'OTH', 0, 0, 0]);
    // The tracker option is the same switch.
    const [t] = await analyse('zeek/tcp/syn-bad.pcap', { tracker: { verifyChecksums: true } });
    assert.equal(t.history, 'C');
    // Default (as zeek -C): the SYN counts.
    const [d] = await analyse('zeek/tcp/syn-bad.pcap');
    assert.deepEqual([d.history, d.conn_state, d.orig_pkts], ['S', 'S0', 1]);
  });

  it('bad UDP checksums both ways (dns/dns-corrupt.pcap, core.udp-corrupt): Cc, OTH, 0 packets', async function (this: Mocha.Context) {
    requireCorpus(this);
    const recs = await analyse('zeek/dns/dns-corrupt.pcap', { verifyChecksums: true });
    assert.equal(recs.length, 1);
    assert.deepEqual([recs[0].history, recs[0].conn_state, recs[0].orig_pkts, recs[0].resp_pkts], ['Cc', 'OTH', 0, 0]);
  });

  it('bad checksum on VXLAN (vxlan-encapsulated-igmp-v2.pcap): outer flows C with nothing decapsulated', async function (this: Mocha.Context) {
    requireCorpus(this);
    const recs = await analyse('zeek/tunnels/vxlan-encapsulated-igmp-v2.pcap', { verifyChecksums: true });
    assert.deepEqual(recs.map(tuple).sort(), [
      '172.30.0.1:36030 > 172.30.0.2:4789 udp',
      '172.30.0.1:45303 > 172.30.0.2:4789 udp',
      '172.30.0.1:48036 > 172.30.0.2:4789 udp',
    ]);
    for (const r of recs) assert.deepEqual([r.history, r.conn_state, r.orig_pkts, r.orig_ip_bytes, r.service], ['C', 'OTH', 0, 0, []]);
  });

  it('tunnel changes (tunnels/vxlan.pcap, core.tunnels.vxlan): ICMP alternating outer flows gets X, both parents', async function (this: Mocha.Context) {
    requireCorpus(this);
    const recs = await analyse('zeek/tunnels/vxlan.pcap');
    const icmp = recs.filter((r) => r.proto === 'icmp');
    assert.equal(icmp.length, 1);
    const r = icmp[0];
    assert.equal(tuple(r), '10.0.0.1:8 > 10.0.0.2:0 icmp');
    assert.deepEqual([r.history, r.orig_pkts, r.resp_pkts, r.orig_ip_bytes, r.resp_ip_bytes, r.conn_state], ['X', 4, 4, 336, 336, 'OTH']);
    const outer = new Map(recs.filter((o) => o.proto === 'udp').map((o) => [o.uid, o.orig_p]));
    assert.deepEqual(r.tunnel_parents.map((u) => outer.get(u)).sort(), [38071, 48134]);
    // No limit: no X.
    const [free] = (await analyse('zeek/tunnels/vxlan.pcap', { tracker: { tunnelMaxChanges: 0 } })).filter((o) => o.proto === 'icmp');
    assert.equal(free.history, '');
  });

  it('DHCP (dhcp/dhcp.pcap, dhcp-all-msg-types): a reply from 67 to a client is flipped (^d), one to 255.255.255.255 is not', async function (this: Mocha.Context) {
    requireCorpus(this);
    const recs = await analyse('zeek/dhcp/dhcp.pcap');
    const by = new Map(recs.map((r) => [tuple(r), r]));
    for (const client of ['128.2.6.97', '128.2.6.189']) {
      const r = by.get(`${client}:68 > 128.2.6.152:67 udp`);
      assert.ok(r, `${client} flipped to originator`);
      assert.deepEqual([r.history, r.conn_state, r.orig_pkts, r.resp_pkts, r.resp_ip_bytes], ['^d', 'SHR', 0, 1, 395]);
    }
    const b = by.get('128.2.6.152:67 > 255.255.255.255:68 udp');
    assert.ok(b, 'broadcast reply keeps its sender as originator');
    assert.deepEqual([b.history, b.conn_state, b.orig_pkts, b.orig_ip_bytes], ['D', 'S0', 1, 328]);
  });

  it('SYN-ACK first (http/zeek-image-post-1080-8000-x.pcap, core.local-flip): sender is the responder although both ports are likely servers', async function (this: Mocha.Context) {
    requireCorpus(this);
    const [r] = await analyse('zeek/http/zeek-image-post-1080-8000-x.pcap');
    assert.equal(tuple(r), '127.0.0.1:1080 > 44.1.1.1:8000 tcp');
    assert.deepEqual([r.history, r.conn_state, r.orig_pkts, r.orig_ip_bytes, r.resp_pkts, r.resp_ip_bytes], ['^hADadFf', 'SF', 10, 6478, 9, 658]);
  });

  it('SCTP (community-id-spec/combined.pcap): unknown_transport with ports 0/0; the Community ID keeps the ports', async function (this: Mocha.Context) {
    requireCorpus(this);
    const recs = (await analyse('community-id-spec/combined.pcap')).filter((r) => r.ip_proto === 132);
    assert.equal(recs.length, 1);
    assert.equal(tuple(recs[0]), '192.168.170.8:0 > 192.168.170.56:0 unknown_transport');
    assert.equal(recs[0].community_id, '1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=');
    // Cutting it back out of the capture finds its packets by the addresses.
    const out = new PassThrough();
    out.resume();
    const x = await extractConnections([{ file: corpusPath('community-id-spec/combined.pcap'), targets: recs }], out);
    assert.equal(x.packets, recs[0].orig_pkts + recs[0].resp_pkts);
  });
});

describe("conntrack: Zeek's dns_session_timeout (UDP DNS)", () => {
  const T0 = 1_700_000_000;
  const q = (p: Partial<Pkt> = {}): Pkt => ({ src: '10.0.0.1', dst: '10.0.0.53', sport: 40000, dport: 53, proto: 17, len: 30, ...p });
  const a = (p: Partial<Pkt> = {}): Pkt => ({ src: '10.0.0.53', dst: '10.0.0.1', sport: 53, dport: 40000, proto: 17, len: 60, ...p });

  it('checks every 10 s from the start and removes a flow idle for 9 s or more', () => {
    // Ticks at T0+10, +20, +30, +40. Last activity T0+12: idle 8 s at +20 (kept), so the query at
    // +29 (17 s idle, but no tick yet) joins; last +29: idle 11 s at the +40 tick -> removed.
    const { recs } = runPackets([
      [T0, q()],
      [T0 + 5, a()],
      [T0 + 12, q()],
      [T0 + 29, q()],
      [T0 + 45, q()],
    ]);
    assert.deepEqual(
      recs.map((r) => [r.ts, r.orig_pkts, r.resp_pkts]),
      [
        [T0, 3, 1],
        [T0 + 45, 1, 0],
      ],
    );
  });

  it('exactly at the tick a flow idle since the start is removed; other UDP ports keep the 60 s inactivity', () => {
    const dns = runPackets([
      [T0, q()],
      [T0 + 10, q()],
    ]).recs;
    assert.equal(dns.length, 2);
    const other = runPackets([
      [T0, q({ dport: 5000 })],
      [T0 + 30, q({ dport: 5000 })],
    ]).recs;
    assert.equal(other.length, 1);
    const off = runPackets(
      [
        [T0, q()],
        [T0 + 30, q()],
      ],
      { dnsSessionTimeoutSec: 0 },
    ).recs;
    assert.equal(off.length, 1);
  });
});

describe('conntrack: X when payload analysis reports a limit', () => {
  const T0 = 1_700_000_000;
  const q = (p: Partial<Pkt> = {}): Pkt => ({ src: '10.0.0.1', dst: '10.0.0.9', sport: 40000, dport: 7000, proto: 17, len: 30, ...p });
  const a = (p: Partial<Pkt> = {}): Pkt => ({ src: '10.0.0.9', dst: '10.0.0.1', sport: 7000, dport: 40000, proto: 17, len: 60, ...p });
  /** An observer that gives up after `limit` datagrams, as a Zeek analyzer at its limit. */
  const limited =
    (limit: number): PayloadObserverFactory =>
    () => {
      let n = 0;
      return {
        stream: () => undefined,
        gap: () => undefined,
        datagram: () => {
          n++;
        },
        end: () => undefined,
        services: () => [],
        partial: () => n > limit,
      };
    };

  it('puts X where the limit was hit, once', () => {
    const pkts: [number, Pkt][] = [
      [T0, q()],
      [T0 + 0.1, q()],
      [T0 + 0.2, a()],
      [T0 + 0.3, q()],
    ];
    assert.equal(runPackets(pkts, { payload: limited(1) }).recs[0].history, 'DXd');
    assert.equal(runPackets(pkts, { payload: limited(10) }).recs[0].history, 'Dd');
  });
});

describe('conntrack: key context and IPv4 header checksums', () => {
  const T0 = 1_700_000_000;
  const outer = (sport: number): Pkt => ({ src: '192.168.56.12', dst: '192.168.56.11', sport, dport: 4789, proto: 17, len: 106 });
  const inner = (req: boolean, vni: number): Pkt => ({
    src: req ? '10.0.0.1' : '10.0.0.2',
    dst: req ? '10.0.0.2' : '10.0.0.1',
    proto: 1,
    icmpType: req ? 8 : 0,
    len: 56,
    tunnel: TunnelKind.VXLAN,
    tunnelId: vni,
  });

  it('an answer through another outer flow (other VNI) is the same connection; keyTunnel splits it', () => {
    const pkts: [number, Pkt[]][] = [
      [T0, [outer(1000), inner(true, 7)]],
      [T0 + 0.001, [outer(2000), inner(false, 8)]],
    ];
    const icmp = runPackets(pkts).recs.filter((r) => r.proto === 'icmp');
    assert.equal(icmp.length, 1);
    assert.deepEqual([icmp[0].orig_pkts, icmp[0].resp_pkts, icmp[0].tunnel_id, icmp[0].tunnel_parents.length], [1, 1, 7, 2]);
    const split = runPackets(pkts, { keyTunnel: true }).recs.filter((r) => r.proto === 'icmp');
    assert.deepEqual(split.map((r) => r.tunnel_id).sort(), [7, 8]);
  });

  it('verifyChecksums: a bad IPv4 header checksum drops the packet before any connection sees it (inner layers too)', () => {
    const bad: Pkt = { ...outer(1000), ipChecksumBad: true };
    const pkts: [number, Pkt | Pkt[]][] = [
      [T0, [bad, inner(true, 7)]],
      [T0 + 0.5, outer(3000)],
    ];
    const verified = runPackets(pkts, { verifyChecksums: true }).recs;
    assert.deepEqual(
      verified.map((r) => [r.orig_p, r.history, r.orig_pkts]),
      [[3000, 'D', 1]],
    );
    // Without verification (zeek -C) the packet and what it carries count.
    assert.equal(runPackets(pkts).recs.length, 3);
  });
});

describe('conntrack: TCP/UDP/ICMP checksums computed in place (packets from the sample builder, whose checksums are the oracle)', () => {
  const T0 = 1_700_000_000;
  const MAC = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
  const icmp6Echo = (src: string, dst: string, payload: Buffer): Buffer => {
    const m = Buffer.alloc(8 + payload.length);
    m[0] = 128;
    m.writeUInt16BE(0x77, 4);
    m.writeUInt16BE(1, 6);
    payload.copy(m, 8);
    m.writeUInt16BE(finishChecksum(sum16(m, 0, m.length, pseudoHeaderSum(ipBytes(src), ipBytes(dst), Proto.ICMPV6, m.length))), 2);
    return m;
  };
  const odd = Buffer.from('seventeen bytes!!');
  const cases: [string, string, string, Buffer][] = [
    [
      'tcp v4, odd length',
      '10.0.0.1',
      '10.0.0.2',
      tcp('10.0.0.1', '10.0.0.2', { sport: 40000, dport: 80, seq: 1, ack: 1, flags: Flags.ACK | Flags.PSH, window: 500 }, odd),
    ],
    ['tcp v6', 'fd00::1', 'fd00::2', tcp('fd00::1', 'fd00::2', { sport: 40000, dport: 80, seq: 1, ack: 1, flags: Flags.ACK, window: 500 }, odd)],
    ['udp v4', '10.0.0.1', '10.0.0.2', udp('10.0.0.1', '10.0.0.2', 40000, 5000, odd)],
    ['udp v6', 'fd00::1', 'fd00::2', udp('fd00::1', 'fd00::2', 40000, 5000, odd)],
    ['icmp v4', '10.0.0.1', '10.0.0.2', icmpEcho(false, 7, 1, odd)],
    ['icmp v6', 'fd00::1', 'fd00::2', icmp6Echo('fd00::1', 'fd00::2', odd)],
  ];
  const protoOf = (name: string): number =>
    name.startsWith('tcp') ? Proto.TCP : name.startsWith('udp') ? Proto.UDP : name.endsWith('v6') ? Proto.ICMPV6 : Proto.ICMP;

  function track(frames: Buffer[], verifyChecksums: boolean): ConnRecord[] {
    const recs: ConnRecord[] = [];
    const tracker = new ConnectionTracker({ verifyChecksums }, (r) => recs.push(r));
    const dec = new PacketDecoder();
    const d = dec.newPacket();
    frames.forEach((f, i) => {
      const st = dec.decode(
        {
          buf: f,
          offset: 0,
          caplen: f.length,
          origlen: f.length,
          tsSec: T0 + i,
          tsNsec: 0,
          linktype: 1,
          interfaceId: 0,
          section: 0,
          index: i + 1,
          fileOffset: 0,
        },
        d,
      );
      assert.equal(st, DecodeStatus.OK);
      tracker.onPacket(d, T0 + i, 0);
    });
    tracker.finish();
    return recs;
  }

  for (const [name, src, dst, l4] of cases) {
    it(name, () => {
      const frame = (seg: Buffer): Buffer => ethernet(MAC, etherTypeFor(src), ip({ src, dst }, protoOf(name), seg));
      const good = track([frame(l4)], true);
      assert.equal(good[0].orig_pkts, 1, 'a correct checksum verifies');
      assert.equal(good[0].history.includes('C'), false);
      const bad = Buffer.from(l4);
      bad[bad.length - 1] ^= 0x40;
      const dropped = track([frame(bad)], true);
      assert.deepEqual([dropped[0].orig_pkts, dropped[0].orig_ip_bytes, dropped[0].history], [0, 0, 'C']);
      assert.equal(track([frame(bad)], false)[0].orig_pkts, 1, 'kept without verification');
    });
  }

  it('UDP without a checksum (0) passes over IPv4, fails over IPv6', () => {
    const v4 = udp('10.0.0.1', '10.0.0.2', 40000, 5000, odd, false);
    assert.equal(v4.readUInt16BE(6), 0);
    assert.equal(track([ethernet(MAC, 0x0800, ip({ src: '10.0.0.1', dst: '10.0.0.2' }, Proto.UDP, v4))], true)[0].orig_pkts, 1);
    const v6 = Buffer.from(udp('fd00::1', 'fd00::2', 40000, 5000, odd));
    v6.writeUInt16BE(0, 6);
    assert.equal(track([ethernet(MAC, 0x86dd, ip({ src: 'fd00::1', dst: 'fd00::2' }, Proto.UDP, v6))], true)[0].history, 'C');
  });
});
