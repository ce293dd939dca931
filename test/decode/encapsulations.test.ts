/**
 * Layer-2 encapsulations, link types and tunnels that Zeek decodes, on the corpus captures that
 * hold them, checked against tshark's decode (the .tshark.tsv and tcpdump.txt oracles) and, where
 * tshark does not decode a tunnel, against the inner connections of Zeek's conn.log baseline.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { CapturedPacket } from '../../parsers/capture/types';
import { type DecodedPacket, DecodeStatus, type FlowLayer, TunnelKind } from '../../parsers/decode/layers';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readZeekLog } from '../conformance/zeek-log';
import { checkAgainstOracle, dst, src } from './oracle';
import { loadCapture, loadTsv } from './load-pcap';

const count = (sts: DecodeStatus[], s: DecodeStatus): number => sts.filter((x) => x === s).length;

const mac = (l: FlowLayer, off: number): string => [...l.buf.subarray(off, off + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');

/** A snapshot of one decoded packet's layers (tests keep them beyond the reused DecodedPacket). */
interface Snap {
  frame: number;
  status: DecodeStatus;
  repeated: number;
  layers: { src: string; dst: string; proto: number; sport: number; dport: number; ipLen: number; payloadLen: number; tunnel: TunnelKind; tunnelId: number }[];
}

/** Every packet of a capture, A-MSDU subframes included, as snapshots. */
function decodeAll(rel: string, dec = new PacketDecoder()): Snap[] {
  const out = dec.newPacket();
  const snaps: Snap[] = [];
  const take = (frame: number, st: DecodeStatus, d: DecodedPacket): void => {
    const layers = [];
    for (let i = 0; i < d.count; i++) {
      const l = d.layers[i];
      layers.push({
        src: src(l),
        dst: dst(l),
        proto: l.proto,
        sport: l.sport,
        dport: l.dport,
        ipLen: l.ipTotalLen,
        payloadLen: l.payloadLen,
        tunnel: l.tunnel,
        tunnelId: l.tunnelId,
      });
    }
    snaps.push({ frame, status: st, repeated: d.repeated, layers });
  };
  loadCapture(corpusPath(rel)).forEach((p: CapturedPacket, i) => {
    take(i + 1, dec.decode(p, out), out);
    while (dec.hasNext()) take(i + 1, dec.decodeNext(out), out);
  });
  return snaps;
}

/**
 * The innermost TCP/UDP flows we decode, against the connections of a Zeek conn.log: per
 * 5-tuple (either direction) the packets and IP bytes of both directions together, which do not
 * depend on how a tracker orients or splits connections. ICMP by address pair.
 */
function innerFlowsAgainstZeek(rel: string, log: string, snaps: Snap[]): number {
  const key = (proto: string, a: string, ap: number | string, b: string, bp: number | string): string => {
    const x = `${a}|${proto === 'icmp' ? '' : ap}`;
    const y = `${b}|${proto === 'icmp' ? '' : bp}`;
    return x < y ? `${proto} ${x} ${y}` : `${proto} ${y} ${x}`;
  };
  const ours = new Map<string, { pkts: number; bytes: number }>();
  for (const s of snaps) {
    if (s.layers.length < 2 || s.status !== DecodeStatus.OK) continue;
    const l = s.layers[s.layers.length - 1];
    const proto = l.proto === 6 ? 'tcp' : l.proto === 17 ? 'udp' : l.proto === 1 || l.proto === 58 ? 'icmp' : '';
    if (proto === '') continue; // e.g. a Teredo bubble (IPv6 no next header): no connection in Zeek
    const k = key(proto, l.src, l.sport, l.dst, l.dport);
    const v = ours.get(k) ?? { pkts: 0, bytes: 0 };
    v.pkts++;
    v.bytes += l.ipLen;
    ours.set(k, v);
  }
  const zeek = new Map<string, { pkts: number; bytes: number }>();
  for (const r of readZeekLog(corpusPath(log))) {
    if (r.tunnel_parents === '-' || r.tunnel_parents === '(empty)') continue; // outer connections
    const k = key(r.proto, r['id.orig_h'], r['id.orig_p'], r['id.resp_h'], r['id.resp_p']);
    const v = zeek.get(k) ?? { pkts: 0, bytes: 0 };
    v.pkts += Number(r.orig_pkts) + Number(r.resp_pkts);
    v.bytes += Number(r.orig_ip_bytes) + Number(r.resp_ip_bytes);
    zeek.set(k, v);
  }
  assert.deepEqual([...ours.entries()].sort(), [...zeek.entries()].sort(), `${rel}: inner flows vs ${log}`);
  return zeek.size;
}

describe('decode: layer-2 encapsulations on the corpus', () => {
  it('zeek/cisco-fabric-path.pcap: each packet plain and again inside FabricPath; the inner frame gives the MACs', function () {
    requireCorpus(this);
    const rel = 'zeek/cisco-fabric-path.pcap';
    const packets = loadCapture(corpusPath(rel));
    const rows = loadTsv(corpusPath(`${rel}.tshark.tsv`));
    const dec = new PacketDecoder();
    const out = dec.newPacket();
    let cfp = 0;
    let plain: { src: string; dst: string; proto: number; len: number } | null = null;
    packets.forEach((p, i) => {
      const protos = rows[i]['frame.protocols'];
      const st = dec.decode(p, out);
      const isIp = /:ipv?6?(:|$)/.test(protos) || protos.endsWith(':ip');
      if (!isIp) {
        assert.equal(st, DecodeStatus.NOT_IP, `frame ${i + 1}`);
        return;
      }
      assert.equal(st, DecodeStatus.OK, `frame ${i + 1}: ${out.errorMessage}`);
      assert.equal(out.count, 1);
      const l = out.layers[0];
      const here = { src: src(l), dst: dst(l), proto: l.proto, len: l.ipTotalLen };
      if (protos.startsWith('eth:cfp:eth')) {
        cfp++;
        // tshark: the FabricPath frame repeats the plain frame before it.
        assert.deepEqual(here, plain, `frame ${i + 1}`);
        assert.equal(l.dstMacOff, p.offset + 16);
        assert.equal(l.srcMacOff, p.offset + 22);
        assert.equal(l.ipOff, p.offset + 30);
      } else {
        assert.equal(here.src, rows[i]['ip.src'] || rows[i]['ipv6.src'], `frame ${i + 1}: src`);
        assert.equal(here.dst, rows[i]['ip.dst'] || rows[i]['ipv6.dst'], `frame ${i + 1}: dst`);
        assert.equal(l.dstMacOff, p.offset);
        plain = here;
      }
    });
    assert.equal(cfp, 64);
    assert.equal(dec.stats.ok, 128);
  });

  it('zeek/pppoe.pcap: PPPoE session, PPP IPv6 decoded; LCP/IPCP/IPv6CP and discovery are not IP', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/pppoe.pcap');
    assert.equal(run.layersCompared, 25);
    assert.equal(count(run.statuses, DecodeStatus.NOT_IP), 40);
    const lcp = run.rows.findIndex((r) => r['frame.protocols'].endsWith(':ppp:lcp'));
    assert.equal(run.decoded[lcp].etherType, 0xc021, 'PPP protocol number of LCP');
    const discovery = run.rows.findIndex((r) => r['frame.protocols'].endsWith(':pppoed'));
    assert.equal(run.decoded[discovery].etherType, 0x8863);
    const i = run.rows.findIndex((r) => r['frame.protocols'].includes(':ppp:ipv6:'));
    assert.equal(run.decoded[i].layers[0].ipOff - run.packets[i].offset, 14 + 6 + 2, 'Ethernet + PPPoE + PPP protocol');
  });

  it('zeek/pppoe-over-qinq.pcap: two VLAN tags, then PPPoE; VLAN ids as tshark reads them', function () {
    requireCorpus(this);
    // tshark bounds TCP payloads by the PPPoE length field, Zeek by the IP total length (as we do);
    // the bytes delivered end at the PPPoE length, as Zeek's PPPoE analyzer passes them on.
    const run = checkAgainstOracle('zeek/pppoe-over-qinq.pcap', undefined, { ignoreTcpLen: true, pppoe: true });
    assert.equal(run.layersCompared, 86);
    // Frame 19: IP total length 46, PPPoE length 42 (40 bytes of IP): the 6 payload bytes beyond are frame padding, not captured.
    const t = run.decoded[18].layers[0];
    assert.equal(t.ipTotalLen, 46);
    assert.equal(t.payloadLen, 6);
    assert.equal(t.capturedPayloadLen, 0);
    assert.equal(run.decoded[0].layers[0].vlan, 3704);
    assert.equal(run.decoded[0].layers[0].innerVlan, 2474);
    assert.equal(run.decoded[0].layers[0].ipOff - run.packets[0].offset, 14 + 4 + 4 + 8);
  });

  it('zeek/mpls-in-vlan.pcap: MPLS label stack inside a VLAN, and a plain VLAN frame', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/mpls-in-vlan.pcap');
    assert.equal(run.layersCompared, 3);
    const i = run.rows.findIndex((r) => r['frame.protocols'].includes(':mpls:'));
    const l = run.decoded[i].layers[0];
    assert.equal(l.vlan, Number(run.rows[i]['vlan.id']));
    assert.equal(l.ipOff - run.packets[i].offset, 14 + 4 + 4, 'one label');
  });

  it('zeek/ppp/quic-interop-retry.pcap: LINKTYPE_PPP (9), IPv4 and IPv6', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/ppp/quic-interop-retry.pcap');
    assert.equal(run.packets[0].linktype, 9);
    assert.equal(run.layersCompared, 26);
    assert.equal(count(run.statuses, DecodeStatus.OK), 26);
    assert.equal(run.decoded[0].layers[0].srcMacOff, -1);
  });

  it('zeek/radiotap.pcap: radiotap + 802.11 QoS data + LLC/SNAP; MACs as tcpdump (and Zeek) name SA/DA', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/radiotap.pcap');
    assert.equal(run.packets[0].linktype, 127);
    assert.equal(run.layersCompared, 3);
    const lines = fs.readFileSync(corpusPath('zeek/radiotap.pcap.tcpdump.txt'), 'utf8').split('\n').slice(1, 3);
    lines.forEach((line, i) => {
      const l = run.decoded[i].layers[0];
      assert.equal(mac(l, l.srcMacOff), /SA:([0-9a-f:]{17})/.exec(line)?.[1], `frame ${i + 1} SA`);
      assert.equal(mac(l, l.dstMacOff), /DA:([0-9a-f:]{17})/.exec(line)?.[1], `frame ${i + 1} DA`);
    });
    // Zeek's mac-logging baseline: the mDNS frame's source and destination.
    const l = run.decoded[2].layers[0];
    assert.equal(mac(l, l.srcMacOff), 'a4:67:06:f7:ec:54');
    assert.equal(mac(l, l.dstMacOff), '33:33:00:00:00:fb');
  });
});

describe('decode: tunnels on the corpus', () => {
  it('zeek/erspanII.pcap and erspanIII.pcap: ERSPAN headers skipped to the mirrored frame', function () {
    requireCorpus(this);
    const a = checkAgainstOracle('zeek/erspanII.pcap');
    assert.equal(a.layersCompared, 8);
    const l = a.decoded[0].layers[1];
    assert.equal(l.tunnel, TunnelKind.GRE);
    // GRE with a sequence number (8 bytes) + ERSPAN II (8) + Ethernet (14) after the outer IP payload start.
    assert.equal(l.ipOff - a.decoded[0].layers[0].payloadOff, 8 + 8 + 14);
    const b = checkAgainstOracle('zeek/erspanIII.pcap');
    assert.equal(b.layersCompared, 4);
    assert.equal(b.decoded[0].layers[1].icmpType, 8);
  });

  it('zeek/tunnels/gre-pptp.pcap: IPv4 in IPv6, then PPTP GRE; call ids differ by direction', function () {
    requireCorpus(this);
    const rel = 'zeek/tunnels/gre-pptp.pcap';
    const run = checkAgainstOracle(rel);
    assert.equal(run.layersCompared, 6);
    assert.deepEqual(
      run.decoded.map((d) => d.layers.slice(0, 3).map((l) => l.tunnel)),
      [
        [TunnelKind.NONE, TunnelKind.IPIP, TunnelKind.GRE],
        [TunnelKind.NONE, TunnelKind.IPIP, TunnelKind.GRE],
      ],
    );
    // tshark -V: Call ID 6016 (0x1780) out, 17 back.
    assert.deepEqual(
      run.decoded.map((d) => d.layers[2].tunnelId),
      [0x1780, 0x0011],
    );
    assert.equal(innerFlowsAgainstZeek(rel, `${rel}.zeek.core.tunnels.gre-pptp.conn.log`, decodeAll(rel)), 1);
  });

  it('zeek/tunnels/gre-aruba-amsdu.pcap: Aruba GRE, 802.11 A-MSDU of two TCP packets, one per decode', function () {
    requireCorpus(this);
    const rel = 'zeek/tunnels/gre-aruba-amsdu.pcap';
    const rows = loadTsv(corpusPath(`${rel}.tshark.tsv`));
    assert.equal(rows[0]['frame.protocols'], 'eth:ethertype:vlan:ethertype:ip:gre:wlan:llc:ip:tcp:tls:llc:ip:tcp:tls');
    const snaps = decodeAll(rel);
    assert.equal(snaps.length, 2);
    assert.deepEqual(
      snaps.map((s) => [s.frame, s.status, s.repeated, s.layers.length]),
      [
        [1, DecodeStatus.OK, 0, 2],
        [1, DecodeStatus.OK, 1, 2],
      ],
    );
    // tshark -T fields -e ip.len: 451 (outer), 281 and 75 (the subframes); ip.src/ip.dst outer-first.
    const ipLens = [451, 281, 75];
    const srcs = rows[0]['ip.src'].split(',');
    const dsts = rows[0]['ip.dst'].split(',');
    assert.equal(snaps[0].layers[0].ipLen, ipLens[0]);
    assert.deepEqual(
      snaps.map((s) => [s.layers[1].src, s.layers[1].dst, s.layers[1].ipLen, s.layers[1].tunnel]),
      [
        [srcs[1], dsts[1], ipLens[1], TunnelKind.GRE],
        [srcs[2], dsts[2], ipLens[2], TunnelKind.GRE],
      ],
    );
    assert.equal(snaps[0].layers[0].proto, 47);
    // The repeated outer layer is the very same view.
    assert.equal(snaps[1].layers[0].ipLen, snaps[0].layers[0].ipLen);
    innerFlowsAgainstZeek(rel, `${rel}.zeek.core.tunnels.gre-aruba-amsdu.conn.log`, snaps);
  });

  it('zeek/tunnels/teredo_bubble_with_payload.pcap: Teredo on 3544 and, found by its payload, on 32900', function () {
    requireCorpus(this);
    const rel = 'zeek/tunnels/teredo_bubble_with_payload.pcap';
    const snaps = decodeAll(rel);
    const teredo = snaps.filter((s) => s.layers.length === 2);
    assert.ok(teredo.every((s) => s.layers[1].tunnel === TunnelKind.TEREDO && s.layers[1].tunnelId === -1));
    // tshark decodes Teredo only on its port: the frames it names teredo are among ours.
    const rows = loadTsv(corpusPath(`${rel}.tshark.tsv`));
    rows.forEach((r, i) => {
      if (r['frame.protocols'].includes(':teredo:ipv6')) {
        const s = snaps[i];
        assert.equal(s.layers.length, 2, `frame ${i + 1}`);
        assert.equal(s.layers[1].src, r['ipv6.src']);
        assert.equal(s.layers[1].dst, r['ipv6.dst']);
      }
    });
    assert.ok(teredo.some((s) => s.layers[0].sport === 32900 || s.layers[0].dport === 32900));
    // Frame 3: a bubble (IPv6, no next header, empty) followed by 4 more bytes, which Zeek allows.
    assert.equal(snaps[2].layers[1].proto, 59);
    assert.equal(snaps[2].layers[1].ipLen, 40);
    assert.equal(snaps[2].layers[0].payloadLen, 44);
    assert.equal(innerFlowsAgainstZeek(rel, `${rel}.zeek.core.tunnels.teredo_bubble_with_payload.conn.log`, snaps), 4);
  });

  it('zeek/tunnels/ayiya3.pcap: AYIYA over UDP 5072 carrying IPv6; inner flows as Zeek counts them', function () {
    requireCorpus(this);
    const rel = 'zeek/tunnels/ayiya3.pcap';
    const run = checkAgainstOracle(rel);
    assert.equal(run.layersCompared, 67);
    const inner = run.decoded.filter((d) => d.count === 2).map((d) => d.layers[1]);
    assert.equal(inner.length, 32);
    assert.ok(inner.every((l) => l.tunnel === TunnelKind.AYIYA && l.ipVersion === 6));
    // The three AYIYA frames tshark decodes without an inner packet are not forwards.
    assert.equal(run.rows.filter((r) => r['frame.protocols'].endsWith(':ayiya')).length, 3);
    assert.equal(innerFlowsAgainstZeek(rel, `${rel}.zeek.core.tunnels.ayiya.conn.log`, decodeAll(rel)), 6);
  });

  it('zeek/tunnels/gtp: GTPv1-U with TEIDs per direction; outer IP fragments reassembled first', function () {
    requireCorpus(this);
    const a = 'zeek/tunnels/gtp/gtp2_different_udp_port.pcap';
    const ra = checkAgainstOracle(a);
    assert.equal(ra.layersCompared, 156);
    // tshark -T fields -e gtp.teid: 0x9e40ba4f uplink, 0x0000bf2e downlink.
    const teids = new Set(ra.decoded.filter((d) => d.count === 2).map((d) => d.layers[1].tunnelId));
    assert.deepEqual([...teids].sort(), [0x0000bf2e, 0x9e40ba4f].sort());
    assert.ok(ra.decoded.filter((d) => d.count === 2).every((d) => d.layers[1].tunnel === TunnelKind.GTP));
    assert.equal(innerFlowsAgainstZeek(a, `${a}.zeek.core.tunnels.gtp.different_dl_and_ul.conn.log`, decodeAll(a)), 1);

    const b = 'zeek/tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap';
    const dec = new PacketDecoder();
    const rb = checkAgainstOracle(b, dec);
    assert.equal(rb.layersCompared, 136);
    assert.ok(dec.stats.datagramsReassembled > 0);
    const reassembled = rb.decoded.filter((d) => d.count === 2 && d.layers[0].reassembled);
    assert.equal(reassembled.length, dec.stats.datagramsReassembled);
    assert.ok(reassembled.every((d) => d.layers[1].tunnel === TunnelKind.GTP));
    assert.equal(innerFlowsAgainstZeek(b, `${b}.zeek.core.tunnels.gtp.outer_ip_frag.conn.log`, decodeAll(b)), 1);
  });
});
