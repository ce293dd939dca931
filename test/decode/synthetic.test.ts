import * as assert from 'node:assert/strict';
import { type DecodedPacket, DecodeStatus, TunnelKind } from '../../parsers/decode/layers';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { cat, eth, ext, ipv4, ipv6, packet, tcp, u16, u32, udp, V6_A, vxlan } from './build';
import { src, dst } from './oracle';
import type { CapturedPacket } from '../../parsers/capture/types';

function run(p: CapturedPacket, dec = new PacketDecoder()): DecodedPacket {
  const out = dec.newPacket();
  dec.decode(p, out);
  return out;
}

const UDP_PAYLOAD = Buffer.from('hello');

describe('decode: link layers (byte-built)', () => {
  it('802.1ad outer (0x88a8) + 802.1Q inner tag', () => {
    const out = run(
      packet(
        eth(0x0800, ipv4({ proto: 17 }, udp(1, 2, UDP_PAYLOAD)), [
          [0x88a8, 100],
          [0x8100, 200],
        ]),
      ),
    );
    assert.equal(out.status, DecodeStatus.OK);
    const l = out.layers[0];
    assert.equal(l.vlan, 100);
    assert.equal(l.innerVlan, 200);
    assert.equal(l.ipOff, 7 + 22);
    assert.equal(l.sport, 1);
  });

  it('0x9100 TPID and VLAN priority bits masked off', () => {
    const out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(1, 2, UDP_PAYLOAD)), [[0x9100, 0xe000 | 42]])));
    assert.equal(out.layers[0].vlan, 42);
    assert.equal(out.layers[0].innerVlan, -1);
  });

  it('truncated VLAN tag is MALFORMED at the tag offset', () => {
    const f = eth(0x0800, Buffer.alloc(0), [[0x8100, 5]]).subarray(0, 16);
    const out = run(packet(f));
    assert.equal(out.status, DecodeStatus.MALFORMED);
    assert.equal(out.errorCode, 'vlan-tag-truncated');
    assert.equal(out.errorOffset, 14);
  });

  it('BSD null with AF_INET (2) little-endian and AF_INET6 30 (macOS), big-endian AF 2; OpenBSD loop AF 24', () => {
    const v4 = ipv4({ proto: 17 }, udp(53, 1000, UDP_PAYLOAD));
    const v6 = ipv6(17, udp(53, 1000, UDP_PAYLOAD));
    const le = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    const be = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    let out = run(packet(cat(le(2), v4), 0));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].ipVersion, 4);
    assert.equal(out.layers[0].ipOff, 7 + 4);
    assert.equal(out.layers[0].srcMacOff, -1);
    out = run(packet(cat(le(30), v6), 0));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].ipVersion, 6);
    assert.equal(src(out.layers[0]), '2001:db8::1');
    out = run(packet(cat(be(2), v4), 0));
    assert.equal(out.layers[0].ipVersion, 4);
    out = run(packet(cat(be(24), v6), 108));
    assert.equal(out.layers[0].ipVersion, 6);
    out = run(packet(cat(le(7), v4), 0));
    assert.equal(out.status, DecodeStatus.NOT_IP);
    assert.equal(out.etherType, 7);
  });

  it('raw IPv6 (LINKTYPE_RAW 101 and LINKTYPE_IPV6 229), raw IPv4 228', () => {
    const v6 = ipv6(17, udp(5353, 5353, UDP_PAYLOAD));
    for (const lt of [101, 229]) {
      const out = run(packet(v6, lt));
      assert.equal(out.status, DecodeStatus.OK);
      assert.equal(out.layers[0].ipVersion, 6);
      assert.equal(out.layers[0].ipOff, 7);
      assert.equal(out.layers[0].ipTotalLen, 40 + 8 + 5);
      assert.equal(out.layers[0].payloadLen, 5);
    }
    assert.equal(run(packet(ipv4({ proto: 17 }, udp(1, 2, UDP_PAYLOAD)), 228)).layers[0].ipVersion, 4);
  });

  it('unknown link type is UNSUPPORTED_LINK', () => {
    const dec = new PacketDecoder();
    assert.equal(run(packet(Buffer.alloc(40), 147), dec).status, DecodeStatus.UNSUPPORTED_LINK);
    assert.equal(dec.stats.unsupportedLink, 1);
  });
});

describe('decode: IPv4 and transport details (byte-built)', () => {
  it('bad IPv4 header checksum is flagged, decoding continues', () => {
    const dec = new PacketDecoder();
    const out = run(packet(eth(0x0800, ipv4({ proto: 17, badSum: true }, udp(1, 2, UDP_PAYLOAD)))), dec);
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].ipChecksumBad, true);
    assert.equal(dec.stats.ipChecksumBad, 1);
    assert.equal(run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(1, 2, UDP_PAYLOAD))))).layers[0].ipChecksumBad, false);
  });

  it('IPv4 options are skipped by IHL', () => {
    const out = run(packet(eth(0x0800, ipv4({ proto: 17, ihl: 7 }, udp(7, 9, UDP_PAYLOAD)))));
    const l = out.layers[0];
    assert.equal(l.ipHdrLen, 28);
    assert.equal(l.l4Off, l.ipOff + 28);
    assert.equal(l.sport, 7);
    assert.equal(l.ipChecksumBad, false);
  });

  it('IPv4 total length beyond the wire bytes and IHL < 5 are MALFORMED', () => {
    let out = run(packet(eth(0x0800, ipv4({ proto: 17, totalLen: 500 }, udp(1, 2, UDP_PAYLOAD)))));
    assert.equal(out.errorCode, 'ipv4-total-length-exceeds-frame');
    assert.equal(out.errorOffset, 14);
    const f = eth(0x0800, ipv4({ proto: 17 }, udp(1, 2, UDP_PAYLOAD)));
    f[14] = 0x44;
    out = run(packet(f));
    assert.equal(out.errorCode, 'ipv4-bad-ihl');
  });

  it('Ethernet padding is not payload', () => {
    const f = cat(eth(0x0800, ipv4({ proto: 17 }, udp(1, 2, Buffer.from('a')))), Buffer.alloc(20));
    const l = run(packet(f)).layers[0];
    assert.equal(l.ipTotalLen, 29);
    assert.equal(l.payloadLen, 1);
    assert.equal(l.capturedPayloadLen, 1);
  });

  it('TCP options: MSS, NOP, window scale, SACK-permitted, timestamps, EOL', () => {
    const opts = [2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, ...u32(0x01020304), ...u32(0x0a0b0c0d), 0];
    const out = run(packet(eth(0x0800, ipv4({ proto: 6 }, tcp(40000, 443, 0x02, opts)))));
    const l = out.layers[0];
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(l.optMss, 1460);
    assert.equal(l.optWscale, 7);
    assert.equal(l.optSackPerm, true);
    assert.equal(l.optTsVal, 0x01020304);
    assert.equal(l.optTsEcr, 0x0a0b0c0d);
    assert.equal(l.tcpFlags, 0x02);
    assert.equal(l.seq, 1000);
    assert.equal(l.ack, 2000);
    assert.equal(l.window, 65535);
    assert.equal(l.payloadLen, 0);
  });

  it('TCP options with bad lengths are skipped or stop the walk; no option fields invented', () => {
    // MSS with length 3 (wrong) then a window scale: MSS ignored, walk continues by its length.
    let l = run(packet(eth(0x0800, ipv4({ proto: 6 }, tcp(1, 2, 0x02, [2, 3, 0, 3, 3, 9]))))).layers[0];
    assert.equal(l.optMss, -1);
    assert.equal(l.optWscale, 9);
    // Length 0: cannot be framed; walk stops.
    l = run(packet(eth(0x0800, ipv4({ proto: 6 }, tcp(1, 2, 0x02, [99, 0, 2, 4, 1, 0]))))).layers[0];
    assert.equal(l.optMss, -1);
    // Length running past the options area.
    l = run(packet(eth(0x0800, ipv4({ proto: 6 }, tcp(1, 2, 0x02, [8, 10, 0, 0]))))).layers[0];
    assert.equal(l.optTsVal, -1);
  });

  it('TCP bad data offset is MALFORMED; a header cut inside options parses what is there', () => {
    let out = run(packet(eth(0x0800, ipv4({ proto: 6 }, tcp(1, 2, 0x10, [], Buffer.alloc(0), 4)))));
    assert.equal(out.status, DecodeStatus.MALFORMED);
    assert.equal(out.errorCode, 'tcp-bad-data-offset');
    assert.equal(out.errorOffset, 14 + 20 + 12);
    out = run(packet(eth(0x0800, ipv4({ proto: 6 }, tcp(1, 2, 0x10, [], Buffer.alloc(0), 15)))));
    assert.equal(out.errorCode, 'tcp-bad-data-offset');
    // Snap length cuts after the MSS option but inside the timestamps option.
    const f = eth(0x0800, ipv4({ proto: 6 }, tcp(1, 2, 0x02, [2, 4, 5, 0xb4, 8, 10, ...u32(1), ...u32(2), 1, 1], Buffer.alloc(100))));
    out = run(packet(f, 1, { caplen: 14 + 20 + 20 + 8 }));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].optMss, 1460);
    assert.equal(out.layers[0].optTsVal, -1);
    assert.equal(out.layers[0].payloadLen, 100);
    assert.equal(out.layers[0].capturedPayloadLen, 0);
    // Fixed header not captured: malformed.
    out = run(packet(f, 1, { caplen: 14 + 20 + 12 }));
    assert.equal(out.errorCode, 'tcp-header-truncated');
    assert.equal(out.count, 0);
  });

  it('TCP payload cut by the snap length is not malformed', () => {
    const f = eth(0x0800, ipv4({ proto: 6 }, tcp(1, 2, 0x18, [], Buffer.alloc(1000, 0x41))));
    const out = run(packet(f, 1, { caplen: 100 }));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].payloadLen, 1000);
    assert.equal(out.layers[0].capturedPayloadLen, 100 - 54);
  });

  it('SCTP chunks: INIT, DATA, SACK, HEARTBEAT collected in the mask; vtag; bad chunk length stops', () => {
    const chunk = (type: number, body: number): number[] => {
      const len = 4 + body;
      const c = [type, 0, ...u16(len), ...new Array<number>(body).fill(0)];
      while (c.length % 4) c.push(0);
      return c;
    };
    const sctp = cat(u16(5000), u16(36412), u32(0xdeadbeef), u32(0), chunk(0, 13), chunk(3, 12), chunk(4, 4), chunk(1, 16));
    let l = run(packet(eth(0x0800, ipv4({ proto: 132 }, sctp)))).layers[0];
    assert.equal(l.sport, 5000);
    assert.equal(l.dport, 36412);
    assert.equal(l.sctpVtag, 0xdeadbeef);
    assert.equal(l.sctpChunkMask, (1 << 0) | (1 << 3) | (1 << 4) | (1 << 1));
    // A chunk of length 2 ends the walk after recording its type.
    const bad = cat(u16(1), u16(2), u32(7), u32(0), [6, 0, 0, 2], chunk(1, 16));
    l = run(packet(eth(0x0800, ipv4({ proto: 132 }, bad)))).layers[0];
    assert.equal(l.sctpChunkMask, 1 << 6);
    const out = run(packet(eth(0x0800, ipv4({ proto: 132 }, Buffer.alloc(8)))));
    assert.equal(out.errorCode, 'sctp-header-overflow');
  });

  it('ICMP echo id, ICMPv6 echo id; ports are type/code', () => {
    const icmp = Buffer.from([8, 0, 0, 0, 0x12, 0x34, 0, 1, 9, 9]);
    const l = run(packet(eth(0x0800, ipv4({ proto: 1 }, icmp)))).layers[0];
    assert.deepEqual([l.icmpType, l.icmpCode, l.icmpId, l.sport, l.dport, l.payloadLen], [8, 0, 0x1234, 8, 0, 2]);
    const l6 = run(packet(eth(0x86dd, ipv6(58, Buffer.from([129, 0, 0, 0, 0xab, 0xcd, 0, 1]))))).layers[0];
    assert.deepEqual([l6.icmpType, l6.icmpId, l6.sport, l6.dport], [129, 0xabcd, 129, 0]);
  });
});

describe('decode: IPv6 extension headers (byte-built)', () => {
  it('hop-by-hop -> routing -> destination options -> TCP', () => {
    const payload = cat(ext(43, 0), ext(60, 1), ext(6, 0), tcp(1234, 80, 0x02, [2, 4, 0x05, 0xb4]));
    const l = run(packet(eth(0x86dd, ipv6(0, payload)))).layers[0];
    assert.equal(l.proto, 6);
    assert.equal(l.ipHdrLen, 40 + 8 + 16 + 8);
    assert.equal(l.sport, 1234);
    assert.equal(l.optMss, 1460);
  });

  it('AH length in 4-octet units, then UDP', () => {
    const ah = Buffer.alloc(16);
    ah[0] = 17;
    ah[1] = 2; // (2 + 2) * 4 = 16 bytes
    const l = run(packet(eth(0x86dd, ipv6(51, cat(ah, udp(500, 500, UDP_PAYLOAD)))))).layers[0];
    assert.equal(l.proto, 17);
    assert.equal(l.ipHdrLen, 56);
    assert.equal(l.sport, 500);
  });

  it('ESP ends the walk; no-next-header 59', () => {
    let l = run(packet(eth(0x86dd, ipv6(0, cat(ext(50, 0), Buffer.alloc(24)))))).layers[0];
    assert.equal(l.proto, 50);
    assert.equal(l.ipHdrLen, 48);
    assert.equal(l.payloadLen, 24);
    l = run(packet(eth(0x86dd, ipv6(60, ext(59, 0))))).layers[0];
    assert.equal(l.proto, 59);
  });

  it('extension header running past the payload length is MALFORMED', () => {
    const out = run(packet(eth(0x86dd, ipv6(0, ext(6, 3).subarray(0, 8)))));
    assert.equal(out.status, DecodeStatus.MALFORMED);
    assert.equal(out.errorCode, 'ipv6-ext-header-overflow');
    assert.equal(out.errorOffset, 14 + 40);
  });

  it('atomic fragment (offset 0, M=0) is not held', () => {
    const frag = Buffer.from([17, 0, 0, 0, ...u32(99)]);
    const out = run(packet(eth(0x86dd, ipv6(44, cat(frag, udp(1, 2, UDP_PAYLOAD))))));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.layers[0].proto, 17);
    assert.equal(out.layers[0].reassembled, false);
  });
});

describe('decode: tunnels (byte-built)', () => {
  const innerFrame = eth(0x0800, ipv4({ proto: 17, src: [192, 168, 0, 1], dst: [192, 168, 0, 2] }, udp(1111, 2222, UDP_PAYLOAD)));

  it('VXLAN on 8472 (Flannel) by default; not on an unlisted port', () => {
    let out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(40000, 8472, vxlan(7, innerFrame))))));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnel, TunnelKind.VXLAN);
    assert.equal(out.layers[1].tunnelId, 7);
    assert.equal(src(out.layers[1]), '192.168.0.1');
    assert.equal(out.layers[1].sport, 1111);
    out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(40000, 9999, vxlan(7, innerFrame))))));
    assert.equal(out.count, 1);
    out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(40000, 9999, vxlan(7, innerFrame))))), new PacketDecoder({ vxlanPorts: [9999] }));
    assert.equal(out.count, 2);
  });

  it('tunnel bomb: VXLAN in VXLAN 10 deep stops at the depth limit', () => {
    let f = innerFrame;
    for (let i = 0; i < 10; i++) f = eth(0x0800, ipv4({ proto: 17 }, udp(40000 + i, 4789, vxlan(i, f))));
    const dec = new PacketDecoder();
    const out = run(packet(f), dec);
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.depthLimited, true);
    assert.equal(out.count, 4);
    assert.deepEqual(
      out.layers.map((l) => l.tunnelId),
      [-1, 9, 8, 7],
    );
    assert.equal(dec.stats.depthLimited, 1);
    const d2 = new PacketDecoder({ maxTunnelDepth: 2 });
    const o2 = run(packet(f), d2);
    assert.equal(o2.count, 2);
    assert.equal(o2.depthLimited, true);
  });

  it('VXLAN outer valid, inner IPv4 truncated -> count 1, MALFORMED', () => {
    const badInner = eth(0x0800, Buffer.from([0x45, 0, 0, 20]));
    const out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(40000, 4789, vxlan(5, badInner))))));
    assert.equal(out.status, DecodeStatus.MALFORMED);
    assert.equal(out.count, 1);
    assert.equal(out.errorCode, 'ipv4-header-truncated');
    assert.equal(out.errorOffset, 14 + 20 + 8 + 8 + 14);
    assert.equal(out.layers[0].dport, 4789);
  });

  it('GRE with key and sequence: key -> tunnelId; transparent Ethernet bridging (0x6558)', () => {
    const inner = ipv4({ proto: 17, src: [172, 16, 0, 1] }, udp(5, 6, UDP_PAYLOAD));
    let out = run(packet(eth(0x0800, ipv4({ proto: 47 }, cat([0x30, 0], u16(0x0800), u32(0xabcdef), u32(1), inner)))));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnel, TunnelKind.GRE);
    assert.equal(out.layers[1].tunnelId, 0xabcdef);
    assert.equal(src(out.layers[1]), '172.16.0.1');
    assert.equal(out.layers[1].srcMacOff, -1);
    out = run(packet(eth(0x0800, ipv4({ proto: 47 }, cat([0x80, 0], u16(0x6558), [0, 0, 0, 0], innerFrame)), [[0x8100, 9]])));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].vlan, -1, 'inner Ethernet frame has no tag');
    assert.equal(out.layers[0].vlan, 9);
    assert.ok(out.layers[1].srcMacOff > out.layers[0].l4Off);
  });

  it('GRE v1 (PPTP): call id -> tunnelId, PPP IPv4 (0x0021) decoded, LCP stops', () => {
    const inner = ipv4({ proto: 6, src: [10, 9, 9, 9] }, tcp(1, 2, 0x02));
    const gre = (ppp: number[], body: Buffer): Buffer => cat([0x30, 0x01], u16(0x880b), u16(ppp.length + body.length), u16(0x4242), u32(5), ppp, body);
    let out = run(packet(eth(0x0800, ipv4({ proto: 47 }, gre([0xff, 0x03, 0x00, 0x21], inner)))));
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnelId, 0x4242);
    assert.equal(src(out.layers[1]), '10.9.9.9');
    // Protocol-field-compressed PPP (single byte 0x21).
    out = run(packet(eth(0x0800, ipv4({ proto: 47 }, gre([0x21], inner)))));
    assert.equal(out.count, 2);
    // Acknowledgement number present (A flag, 0x0080): 4 more header bytes.
    const withAck = cat([0x30, 0x81], u16(0x880b), u16(inner.length + 4), u16(0x77), u32(5), u32(4), [0xff, 0x03, 0x00, 0x21], inner);
    out = run(packet(eth(0x0800, ipv4({ proto: 47 }, withAck))));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnelId, 0x77);
    out = run(packet(eth(0x0800, ipv4({ proto: 47 }, gre([0xff, 0x03, 0xc0, 0x21], Buffer.alloc(10))))));
    assert.equal(out.count, 1);
    assert.equal(out.status, DecodeStatus.OK);
  });

  it('IPv4 in IPv6 (proto 4) and IPv6 in IPv6 (proto 41)', () => {
    const in4 = ipv4({ proto: 17 }, udp(1, 2, UDP_PAYLOAD));
    let out = run(packet(eth(0x86dd, ipv6(4, in4))));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].ipVersion, 4);
    assert.equal(out.layers[1].tunnel, TunnelKind.IPIP);
    out = run(packet(eth(0x86dd, ipv6(41, ipv6(17, udp(3, 4, UDP_PAYLOAD), V6_A, V6_A)))));
    assert.equal(out.count, 2);
    assert.equal(dst(out.layers[1]), '2001:db8::1');
  });

  it('Geneve carrying IPv4 directly (protocol 0x0800) with options', () => {
    const inner = ipv4({ proto: 17 }, udp(8, 9, UDP_PAYLOAD));
    const gen = cat([0x01, 0], u16(0x0800), [0, 0, 0x2a, 0], Buffer.alloc(4), inner);
    const out = run(packet(eth(0x0800, ipv4({ proto: 17 }, udp(1, 6081, gen)))));
    assert.equal(out.count, 2);
    assert.equal(out.layers[1].tunnel, TunnelKind.GENEVE);
    assert.equal(out.layers[1].tunnelId, 42);
    assert.equal(out.layers[1].sport, 8);
  });
});

describe('decode: fragment reassembly bounds (byte-built)', () => {
  const data = Buffer.alloc(64);
  for (let i = 0; i < 64; i++) data[i] = i;
  const dgram = udp(7000, 53, data.subarray(0, 56)); // 64 bytes
  const frag = (off: number, len: number, mf: boolean, id = 1, ts = 1_700_000_000): CapturedPacket =>
    packet(eth(0x0800, ipv4({ proto: 17, id, mf, fragOff: off }, dgram.subarray(off, off + len))), 1, { tsSec: ts });

  it('out of order with duplicates reassembles; later overlapping bytes do not win', () => {
    const dec = new PacketDecoder();
    const out = dec.newPacket();
    assert.equal(dec.decode(frag(32, 32, false), out), DecodeStatus.FRAGMENT_HELD);
    assert.equal(dec.decode(frag(32, 32, false), out), DecodeStatus.FRAGMENT_HELD);
    const forged = packet(eth(0x0800, ipv4({ proto: 17, id: 1, mf: true, fragOff: 8 }, Buffer.alloc(32, 0xff))));
    assert.equal(dec.decode(forged, out), DecodeStatus.FRAGMENT_HELD); // bytes 8..40: 32..40 already held
    assert.equal(dec.decode(frag(0, 16, true), out), DecodeStatus.OK); // 0..8 new, 8..16 already from forged
    const l = out.layers[0];
    assert.equal(l.reassembled, true);
    assert.equal(l.sport, 7000);
    assert.equal(l.ipTotalLen, 84);
    assert.equal(l.buf[l.l4Off + 8], 0xff, 'forged bytes arrived first and win');
    assert.equal(l.buf[l.l4Off + 40], dgram[40], 'bytes from the first final fragment win over forged');
    assert.equal(l.srcMacOff, 6, 'MAC offsets rebased into the reassembled buffer');
    assert.equal(l.buf.readUInt16BE(l.srcMacOff + 4), 0x00aa);
  });

  it('expires by packet time, evicts beyond maxDatagrams, rejects oversize (ping of death)', () => {
    const dec = new PacketDecoder({ fragments: { maxDatagrams: 2, timeoutSec: 30 } });
    const out = dec.newPacket();
    dec.decode(frag(0, 16, true, 1, 1000), out);
    dec.decode(frag(0, 16, true, 2, 1010), out);
    dec.decode(frag(0, 16, true, 3, 1020), out); // evicts id 1
    assert.equal(dec.stats.datagramsEvicted, 1);
    assert.equal(dec.stats.pendingDatagrams, 2);
    dec.decode(packet(eth(0x0806, Buffer.alloc(28)), 1, { tsSec: 1045 }), out); // any packet advances time
    assert.equal(dec.stats.fragmentsExpired, 1); // id 2 (t=1010) is older than 30 s
    assert.equal(dec.stats.pendingDatagrams, 1);
    assert.equal(dec.decode(frag(16, 48, false, 3, 1046), out), DecodeStatus.OK);
    assert.equal(dec.stats.pendingBytes, 0);
    const pod = packet(eth(0x0800, ipv4({ proto: 1, id: 9, fragOff: 65528 }, Buffer.alloc(16))));
    assert.equal(dec.decode(pod, out), DecodeStatus.MALFORMED);
    assert.equal(out.errorCode, 'fragment-too-large');
  });

  it('IPv6 fragments after a hop-by-hop header: header kept, its Next Header patched', () => {
    const body = udp(9000, 9001, Buffer.alloc(40, 0x33)); // 48 bytes
    const fr = (off: number, len: number, m: boolean): CapturedPacket => {
      const fh = Buffer.from([17, 0, ...u16(off | (m ? 1 : 0)), ...u32(0xcafe)]);
      return packet(eth(0x86dd, ipv6(0, cat(ext(44, 0), fh, body.subarray(off, off + len)))));
    };
    const dec = new PacketDecoder();
    const out = dec.newPacket();
    assert.equal(dec.decode(fr(24, 24, false), out), DecodeStatus.FRAGMENT_HELD);
    assert.equal(dec.decode(fr(0, 24, true), out), DecodeStatus.OK);
    const l = out.layers[0];
    assert.equal(l.reassembled, true);
    assert.equal(l.proto, 17);
    assert.equal(l.ipHdrLen, 48);
    assert.equal(l.ipTotalLen, 40 + 8 + 48);
    assert.equal(l.buf[l.ipOff + 40], 17, 'hop-by-hop Next Header now names UDP');
    assert.equal(l.sport, 9000);
    assert.equal(l.payloadLen, 40);
  });

  it('total byte budget is enforced', () => {
    const dec = new PacketDecoder({ fragments: { maxBytesTotal: 100 } });
    const out = dec.newPacket();
    for (let id = 0; id < 10; id++) dec.decode(frag(0, 32, true, id), out);
    assert.ok(dec.stats.pendingBytes <= 100);
    assert.ok(dec.stats.datagramsEvicted >= 7);
  });
});
