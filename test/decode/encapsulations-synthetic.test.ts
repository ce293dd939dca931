/**
 * Byte-built packets for the encapsulations no corpus capture holds (PBB, VN-Tag, SNAP, GRE in
 * UDP, ERSPAN type I, GRE in GRE, MPLS in GRE, GTP extension headers, Teredo authentication, the
 * other PPP link types, 802.11 variants and A-MSDU) and for how each header's faults are reported.
 */
import * as assert from 'node:assert/strict';
import { type DecodedPacket, DecodeStatus, TunnelKind } from '../../parsers/decode/layers';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { cat, eth, ipv4, ipv6, MAC_A, MAC_B, packet, u16, u32, udp, V6_A, V6_B } from './build';
import { dst, src } from './oracle';
import type { CapturedPacket } from '../../parsers/capture/types';

function run(p: CapturedPacket, dec = new PacketDecoder()): DecodedPacket {
  const out = dec.newPacket();
  dec.decode(p, out);
  return out;
}

const PAYLOAD = Buffer.from('payload!');
const inner4 = ipv4({ proto: 17, src: [192, 168, 7, 1], dst: [192, 168, 7, 2] }, udp(1111, 2222, PAYLOAD));
const inner6 = ipv6(17, udp(3333, 4444, PAYLOAD));
const MAC_C = [0x02, 0, 0, 0, 0, 0xcc];
const MAC_D = [0x02, 0, 0, 0, 0, 0xdd];
const mplsLabel = (label: number, bottom: boolean): number[] => u32(((label << 12) | (bottom ? 0x100 : 0) | 64) >>> 0);
const gre = (flags: number, proto: number, body: Buffer, extra: number[] = []): Buffer => cat(u16(flags), u16(proto), extra, body);

describe('decode: layer-2 shims (byte-built)', () => {
  it('PBB 802.1ah: B-tag, I-TAG, customer MACs and C-tag; VLANs as Zeek keeps them', () => {
    const itag = cat([0, 0x01, 0x23, 0x45], MAC_C, MAC_D, u16(0x8100), u16(20), u16(0x0800), inner4);
    const p = packet(eth(0x88e7, itag, [[0x88a8, 100]]));
    const out = run(p);
    assert.equal(out.status, DecodeStatus.OK);
    const l = out.layers[0];
    assert.equal(l.vlan, 100);
    assert.equal(l.innerVlan, 20);
    assert.equal(l.dstMacOff, p.offset + 14 + 4 + 4, 'customer DA after the B-tag and I-TAG');
    assert.equal(l.srcMacOff, l.dstMacOff + 6);
    assert.equal(l.ipOff, p.offset + 14 + 4 + 4 + 12 + 4 + 2);
    assert.equal(src(l), '192.168.7.1');
  });

  it('VN-Tag before a VLAN tag or directly before IP', () => {
    let out = run(packet(eth(0x8926, cat([0x80, 0x01, 0x00, 0x02], u16(0x8100), u16(7), u16(0x0800), inner4))));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].vlan, 7);
    out = run(packet(eth(0x8926, cat([0, 0, 0, 0], u16(0x86dd), inner6))));
    assert.equal(out.layers[0].ipVersion, 6);
    assert.equal(out.layers[0].sport, 3333);
  });

  it('third VLAN tag overwrites the inner one (Zeek); 802.3 SNAP names IPv4; other LLC is not IP', () => {
    let out = run(
      packet(
        eth(0x0800, inner4, [
          [0x88a8, 1],
          [0x8100, 2],
          [0x8100, 3],
        ]),
      ),
    );
    assert.equal(out.layers[0].vlan, 1);
    assert.equal(out.layers[0].innerVlan, 3);
    const snap = cat([0xaa, 0xaa, 0x03, 0, 0, 0], u16(0x0800), inner4);
    out = run(packet(eth(snap.length, snap)));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(src(out.layers[0]), '192.168.7.1');
    const stp = cat([0x42, 0x42, 0x03], Buffer.alloc(35));
    out = run(packet(eth(stp.length, stp)));
    assert.equal(out.status, DecodeStatus.NOT_IP);
    assert.equal(out.etherType, stp.length);
  });

  it('MPLS: two labels then IPv6 by its version nibble; a pseudowire is not IP; a cut stack is MALFORMED where it ends', () => {
    let out = run(packet(eth(0x8847, cat(mplsLabel(16, false), mplsLabel(17, true), inner6))));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].ipOff - 7, 14 + 8);
    out = run(packet(eth(0x8847, cat(mplsLabel(16, true), [0, 0, 0, 0], Buffer.alloc(40)))));
    assert.equal(out.status, DecodeStatus.NOT_IP);
    assert.equal(out.etherType, 0x8847);
    out = run(packet(eth(0x8847, Buffer.from(mplsLabel(16, false)))));
    assert.equal(out.status, DecodeStatus.MALFORMED);
    assert.equal(out.errorCode, 'mpls-label-truncated');
    assert.equal(out.errorOffset, 18);
  });

  it('FabricPath and PPPoE headers cut short are MALFORMED with their offsets', () => {
    const fp = cat(MAC_B, MAC_A, u16(0x8903), [0, 0]);
    let out = run(packet(cat(fp, MAC_B, [1, 2])));
    assert.equal(out.errorCode, 'fabricpath-header-truncated');
    assert.equal(out.errorOffset, 0);
    out = run(packet(eth(0x8864, Buffer.from([0x11, 0, 0, 1, 0]))));
    assert.equal(out.errorCode, 'pppoe-header-truncated');
    assert.equal(out.errorOffset, 14);
  });
});

describe('decode: PPP and 802.11 link types (byte-built)', () => {
  it('PPP (9) framed, unframed and protocol-compressed; PPP_HDLC (50) with PPP and Cisco HDLC; C_HDLC (104); PPP_ETHER (51); MPLS over PPP', () => {
    const ok = (bytes: Buffer, lt: number, ipOff: number): void => {
      const p = packet(bytes, lt);
      const out = run(p);
      assert.equal(out.status, DecodeStatus.OK, `linktype ${lt}: ${out.errorMessage}`);
      assert.equal(out.layers[0].ipOff - p.offset, ipOff, `linktype ${lt}`);
    };
    ok(cat([0xff, 0x03], u16(0x0021), inner4), 9, 4);
    ok(cat(u16(0x0057), inner6), 9, 2);
    ok(cat([0x21], inner4), 9, 1);
    ok(cat([0xff, 0x03], u16(0x0281), mplsLabel(3, true), inner4), 9, 8);
    ok(cat([0xff, 0x03], u16(0x0021), inner4), 50, 4);
    ok(cat([0x0f, 0x00], u16(0x0800), inner4), 50, 4);
    ok(cat([0x8f, 0x00], u16(0x86dd), inner6), 104, 4);
    ok(cat([0x11, 0x00, 0x12, 0x34], u16(inner4.length + 2), u16(0x0021), inner4), 51, 8);
    const lcp = run(packet(cat([0xff, 0x03], u16(0xc021), [1, 1, 0, 4]), 9));
    assert.equal(lcp.status, DecodeStatus.NOT_IP);
    assert.equal(lcp.etherType, 0xc021);
    const cut = run(packet(Buffer.from([0xff, 0x03, 0x00]), 9));
    assert.equal(cut.errorCode, 'ppp-header-truncated');
  });

  it('NFLOG (239): TLVs in either byte order skipped to the payload TLV; a record without one is MALFORMED', () => {
    const tlv = (type: number, body: Buffer, le: boolean): Buffer => {
      const h = Buffer.alloc(4);
      if (le) {
        h.writeUInt16LE(4 + body.length, 0);
        h.writeUInt16LE(type, 2);
      } else {
        h.writeUInt16BE(4 + body.length, 0);
        h.writeUInt16BE(type, 2);
      }
      return cat(h, body, Buffer.alloc((4 - ((4 + body.length) % 4)) % 4));
    };
    // The little-endian record as tshark 4 reads it (written to a pcap): nflog:ip:udp, prefix "hello".
    const le = cat([2, 0, 0, 0], tlv(1, Buffer.from([8, 0, 0, 0]), true), tlv(10, Buffer.from('hello'), true), tlv(9, inner4, true));
    let p = packet(le, 239);
    let out = run(p);
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(src(out.layers[0]), '192.168.7.1');
    assert.equal(out.layers[0].ipOff - p.offset, 4 + 8 + 12 + 4);
    p = packet(cat([10, 0, 0, 0], tlv(10, Buffer.from('hello'), false), tlv(9, inner6, false)), 239);
    out = run(p);
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].ipVersion, 6);
    out = run(packet(cat([2, 0, 0, 0], tlv(10, Buffer.from('hello'), true)), 239));
    assert.equal(out.errorCode, 'nflog-no-payload');
    assert.equal(out.errorOffset, 16);
  });

  const llc = (type: number, body: Buffer): Buffer => cat([0xaa, 0xaa, 0x03, 0, 0, 0], u16(type), body);
  const addrs = cat(MAC_A, MAC_B, MAC_C); // addr1, addr2, addr3
  const seq = [0, 0];

  it('802.11 (105): To-DS data, QoS with +HTC, WDS 4 addresses; MACs by the DS bits', () => {
    // To DS (flags 0x01): addr1 = BSSID, addr2 = SA, addr3 = DA.
    let p = packet(cat([0x08, 0x01, 0, 0], addrs, seq, llc(0x0800, inner4)), 105);
    let out = run(p);
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].srcMacOff, p.offset + 10);
    assert.equal(out.layers[0].dstMacOff, p.offset + 16);
    // QoS data (0x88) with the order bit (0x80): QoS control (2) and HT control (4) skipped.
    p = packet(cat([0x88, 0x82, 0, 0], addrs, seq, [0, 0], [0, 0, 0, 0], llc(0x86dd, inner6)), 105);
    out = run(p);
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].ipOff - p.offset, 24 + 2 + 4 + 8);
    assert.equal(out.layers[0].dstMacOff, p.offset + 4, 'From DS: DA is addr1');
    assert.equal(out.layers[0].srcMacOff, p.offset + 16, 'From DS: SA is addr3');
    // WDS: To DS and From DS, a 4th address that is the source.
    p = packet(cat([0x08, 0x03, 0, 0], addrs, seq, MAC_D, llc(0x0800, inner4)), 105);
    out = run(p);
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].srcMacOff, p.offset + 24);
    assert.equal(out.layers[0].dstMacOff, p.offset + 16);
  });

  it('802.11 management, null data and protected frames are not IP; radiotap with a bad length is MALFORMED', () => {
    const beacon = cat([0x80, 0, 0, 0], addrs, seq, Buffer.alloc(20));
    assert.equal(run(packet(beacon, 105)).status, DecodeStatus.NOT_IP);
    const nullData = cat([0x48, 0x01, 0, 0], addrs, seq, Buffer.alloc(8));
    assert.equal(run(packet(nullData, 105)).status, DecodeStatus.NOT_IP);
    const prot = cat([0x08, 0x41, 0, 0], addrs, seq, Buffer.alloc(8), llc(0x0800, inner4));
    assert.equal(run(packet(prot, 105)).status, DecodeStatus.NOT_IP);
    const rt = cat([0, 0], [0xff, 0x00], [0, 0, 0, 0], Buffer.alloc(30));
    const out = run(packet(rt, 127));
    assert.equal(out.errorCode, 'radiotap-bad-length');
    assert.equal(out.errorOffset, 0);
  });

  it('802.11 A-MSDU: three subframes (IPv4, ARP, IPv6) padded to 4 bytes, one packet per decode', () => {
    const sub = (type: number, body: Buffer, last: boolean): Buffer => {
      const msdu = llc(type, body);
      const pad = last ? 0 : (4 - ((14 + msdu.length) % 4)) % 4;
      return cat(MAC_C, MAC_D, u16(msdu.length), msdu, Buffer.alloc(pad));
    };
    const arp = Buffer.alloc(28, 1);
    const agg = cat(sub(0x0800, inner4, false), sub(0x0806, arp, false), sub(0x86dd, inner6, true));
    const frame = cat([0x88, 0x02, 0, 0], addrs, seq, [0x80, 0], agg);
    const rt = cat([0, 0], [8, 0], [0, 0, 0, 0]);
    const dec = new PacketDecoder();
    const out = dec.newPacket();
    const p = packet(cat(rt, frame), 127);
    assert.equal(dec.decode(p, out), DecodeStatus.OK);
    assert.equal(src(out.layers[0]), '192.168.7.1');
    assert.equal(out.repeated, 0);
    assert.ok(dec.hasNext());
    assert.equal(dec.decodeNext(out), DecodeStatus.NOT_IP);
    assert.equal(out.etherType, 0x0806);
    assert.ok(dec.hasNext());
    assert.equal(dec.decodeNext(out), DecodeStatus.OK);
    assert.equal(out.count, 1);
    assert.equal(out.layers[0].ipVersion, 6);
    assert.equal(dst(out.layers[0]), '2001:db8::2');
    assert.equal(out.layers[0].dstMacOff, p.offset + 8 + 4, 'the 802.11 header names the MACs of every subframe');
    assert.equal(dec.hasNext(), false);
    assert.equal(dec.stats.amsduSubframes, 2);
    assert.equal(dec.stats.packets, 1);
    // A subframe claiming more than the frame holds.
    const bad = cat([0x88, 0x02, 0, 0], addrs, seq, [0x80, 0], MAC_C, MAC_D, u16(500), llc(0x0800, inner4));
    const o2 = run(packet(bad, 105));
    assert.equal(o2.errorCode, 'wlan-amsdu-subframe-truncated');
    assert.equal(o2.errorOffset, 26);
    // Nothing pending: NOT_IP, nothing counted.
    const d2 = new PacketDecoder();
    assert.equal(d2.decodeNext(d2.newPacket()), DecodeStatus.NOT_IP);
    assert.equal(d2.stats.notIp, 0);
  });
});

describe('decode: GRE variants (byte-built)', () => {
  it('GRE in UDP 4754, also a reply from 4754; a short header on a reply port is no error', () => {
    const g = gre(0, 0x0800, inner4);
    let out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(40000, 4754, g)))));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnel, TunnelKind.GRE);
    assert.equal(src(out.layers[1]), '192.168.7.1');
    out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(4754, 40000, g)))));
    assert.equal(out.count, 2);
    out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(4754, 40000, Buffer.from([0, 0]))))));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.count, 1);
    out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(40000, 4754, Buffer.from([0, 0]))))));
    assert.equal(out.errorCode, 'gre-header-truncated');
  });

  it('ERSPAN type I (no S bit: no header) and type II (S bit: 8-byte header) carry Ethernet', () => {
    const frame = eth(0x0800, inner4);
    let out = run(packet(eth(0x0800, ipv4({ proto: 47 }, gre(0, 0x88be, frame)))));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].srcMacOff, out.layers[0].payloadOff + 4 + 6);
    out = run(packet(eth(0x0800, ipv4({ proto: 47 }, gre(0x1000, 0x88be, cat([0x10, 0x17, 0x08, 0x64, 0, 0, 0, 0], frame), u32(9))))));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].ipOff - out.layers[0].payloadOff, 8 + 8 + 14);
    out = run(packet(eth(0x0800, ipv4({ proto: 47 }, gre(0x1000, 0x88be, Buffer.alloc(3), u32(9))))));
    assert.equal(out.errorCode, 'erspan-header-truncated');
  });

  it('GRE in GRE; MPLS in GRE; reserved flag bits and routing are not decoded (as Zeek)', () => {
    const innerGre = ipv4({ proto: 47, src: [10, 10, 11, 2], dst: [10, 10, 13, 2] }, gre(0, 0x0800, inner4));
    let out = run(packet(eth(0x0800, ipv4({ proto: 47 }, gre(0x2000, 0x0800, innerGre, u32(77))))));
    assert.equal(out.count, 3);
    assert.deepEqual(
      out.layers.slice(0, 3).map((l) => [l.tunnel, l.tunnelId, src(l)]),
      [
        [TunnelKind.NONE, -1, '10.0.0.1'],
        [TunnelKind.GRE, 77, '10.10.11.2'],
        [TunnelKind.GRE, -1, '192.168.7.1'],
      ],
    );
    out = run(packet(eth(0x0800, ipv4({ proto: 47 }, gre(0, 0x8847, cat(mplsLabel(100, true), inner4))), [[0x8100, 5]])));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].vlan, 5);
    assert.equal(out.layers[1].srcMacOff, -1);
    assert.equal(run(packet(eth(0x0800, ipv4({ proto: 47 }, gre(0x0008, 0x0800, inner4))))).count, 1);
    assert.equal(run(packet(eth(0x0800, ipv4({ proto: 47 }, gre(0x4000, 0x0800, inner4))))).count, 1);
  });
});

describe('decode: Teredo, AYIYA, GTP-U (byte-built)', () => {
  const onUdp = (sport: number, dport: number, body: Buffer): CapturedPacket => packet(eth(0x0800, ipv4({ proto: 17 }, udp(sport, dport, body))));
  const teredoV6 = ipv6(17, udp(5, 6, PAYLOAD), [0x20, 0x01, 0, 0, ...V6_A.slice(4)], V6_B);

  it('Teredo: authentication + origin indication headers; the IPv6 packet must fill the datagram unless a bubble', () => {
    const auth = cat([0, 1, 2, 3], [0xaa, 0xbb], [1, 2, 3], Buffer.alloc(8), [0]);
    const origin = cat([0, 0], u16(0xffff ^ 3544), u32(~0x01020304 >>> 0));
    let out = run(onUdp(40000, 3544, cat(auth, origin, teredoV6)));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnel, TunnelKind.TEREDO);
    assert.equal(out.layers[1].sport, 5);
    assert.equal(run(onUdp(40000, 3544, cat(origin, auth, teredoV6))).count, 1, 'authentication after origin');
    assert.equal(run(onUdp(40000, 3544, cat(teredoV6, [0]))).count, 1, 'trailing byte after a full packet');
    const bubble = ipv6(59, Buffer.alloc(0), V6_A, V6_B);
    out = run(onUdp(40000, 3544, cat(bubble, [1, 2, 3, 4])));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].proto, 59);
  });

  it("Teredo and AYIYA found by their payload on other ports (Zeek's detection); ordinary UDP is left alone", () => {
    // The signature: IPv6 with a Teredo (2001:0::/32) source.
    let out = run(onUdp(50000, 50001, teredoV6));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnel, TunnelKind.TEREDO);
    // Origin indication then IPv6 (no Teredo address needed).
    out = run(onUdp(50000, 50001, cat([0, 0, 0, 0, 0, 0, 0, 0], inner6)));
    assert.equal(out.count, 2);
    assert.equal(
      run(onUdp(50000, 53, Buffer.from('\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01', 'latin1'))).count,
      1,
    );
    assert.equal(run(onUdp(50000, 50001, teredoV6), new PacketDecoder({ detectUdpTunnels: false })).count, 1);
    const ayiya = (op: number, next: number, body: Buffer): Buffer => cat([0x41, 0x52, 0x10 | op, next], u32(0), Buffer.alloc(16), Buffer.alloc(20), body);
    out = run(onUdp(50000, 50001, ayiya(1, 41, inner6)));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnel, TunnelKind.AYIYA);
    assert.equal(out.layers[1].ipOff - out.layers[0].payloadOff, 8 + 16 + 20);
  });

  it('AYIYA on 5072: only the forward opcode with IPv4/IPv6 carries a packet', () => {
    const ayiya = (op: number, next: number, body: Buffer): Buffer => cat([0x20, 0x00, op, next], u32(0), Buffer.alloc(4), body);
    let out = run(onUdp(40000, 5072, ayiya(1, 4, inner4)));
    assert.equal(out.count, 2);
    assert.equal(src(out.layers[1]), '192.168.7.1');
    out = run(onUdp(5072, 40000, ayiya(1, 41, inner6)));
    assert.equal(out.count, 2, 'a reply from 5072');
    assert.equal(run(onUdp(40000, 5072, ayiya(2, 41, inner6))).count, 1);
    assert.equal(run(onUdp(40000, 5072, ayiya(1, 17, inner6))).count, 1);
    assert.equal(run(onUdp(40000, 5072, ayiya(1, 41, Buffer.alloc(0)))).count, 1);
  });

  it('GTPv1-U: extension header chain, TEID as tunnel id; echo, GTP in GTP, trailing bytes and a zero-length extension are not decapsulated', () => {
    const gtp = (flags: number, type: number, teid: number, opt: number[], body: Buffer): Buffer =>
      cat([flags, type], u16(opt.length + body.length), u32(teid), opt, body);
    const ext = [0, 0, 0, 0x85, 1, 0x10, 0x01, 0x85, 2, 1, 2, 3, 4, 5, 6, 0];
    let out = run(onUdp(2152, 2152, gtp(0x34, 255, 0x11223344, ext, inner4)));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnel, TunnelKind.GTP);
    assert.equal(out.layers[1].tunnelId, 0x11223344);
    assert.equal(out.layers[1].ipOff - out.layers[0].payloadOff, 8 + 4 + 4 + 8);
    out = run(onUdp(2152, 2152, gtp(0x32, 255, 7, [0, 1, 0, 0], inner6)));
    assert.equal(out.count, 2, 'sequence number only');
    assert.equal(run(onUdp(2152, 2152, gtp(0x32, 1, 0, [0, 1, 0, 0], Buffer.alloc(0)))).count, 1, 'echo request');
    const gtpInGtp = gtp(0x30, 255, 1, [], ipv4({ proto: 17 }, udp(2152, 2152, gtp(0x30, 255, 2, [], inner4))));
    out = run(onUdp(2152, 2152, gtpInGtp));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].dport, 2152);
    assert.equal(run(onUdp(2152, 2152, gtp(0x30, 255, 1, [], cat(inner4, [0])))).count, 1);
    assert.equal(run(onUdp(2152, 2152, gtp(0x34, 255, 1, [0, 0, 0, 0x85, 0, 0, 0, 0], inner4))).count, 1);
    assert.equal(run(onUdp(2152, 2152, gtp(0x50, 255, 1, [], inner4))).count, 1, 'GTPv2');
  });
});
