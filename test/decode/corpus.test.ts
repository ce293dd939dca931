import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { DecodeStatus, TunnelKind } from '../../parsers/decode/layers';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { corpusPath, requireCorpus } from '../util/corpus';
import { checkAgainstOracle, dst, src } from './oracle';
import { loadCapture } from './load-pcap';

const count = (sts: DecodeStatus[], s: DecodeStatus): number => sts.filter((x) => x === s).length;

describe('decode: corpus captures against the tshark oracle', () => {
  it('zeek/wikipedia.pcap: Ethernet IPv4 TCP/UDP, every packet', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/wikipedia.pcap');
    assert.equal(run.packets.length, 136);
    assert.equal(count(run.statuses, DecodeStatus.OK), 126);
    assert.equal(run.layersCompared, 126);
    // 6 ARP and 4 STP (802.3 length field + LLC) frames.
    assert.equal(count(run.statuses, DecodeStatus.NOT_IP), 10);
    assert.equal(run.decoded.filter((d) => d.etherType === 0x0806).length, 6);
    assert.ok(run.decoded.every((d) => d.count === 0 || !d.layers[0].ipChecksumBad));
    // MACs of frame 1 (tcpdump.txt: first line) sit right at the start of the Ethernet header.
    const l = run.decoded[0].layers[0];
    const p = run.packets[0];
    assert.equal(l.dstMacOff, p.offset);
    assert.equal(l.srcMacOff, p.offset + 6);
    assert.equal(l.ipOff, p.offset + 14);
    assert.equal(l.ipHdrLen, 20);
  });

  it('zeek/q-in-q.pcap: stacked 802.1Q tags 13,10; ARP is NOT_IP', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/q-in-q.pcap');
    assert.equal(run.decoded[0].layers[0].vlan, 13);
    assert.equal(run.decoded[0].layers[0].innerVlan, 10);
    assert.equal(run.statuses[4], DecodeStatus.NOT_IP);
    assert.equal(run.decoded[4].etherType, 0x0806);
  });

  it('zeek/icmp_dot1q.pcap: VLAN 123, ICMP echo id', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/icmp_dot1q.pcap');
    const l = run.decoded[4].layers[0];
    assert.equal(l.vlan, 123);
    assert.equal(l.icmpType, 8);
    assert.ok(l.icmpId >= 0);
    assert.equal(l.icmpId, run.decoded[8].layers[0].icmpId, 'echo reply carries the request id');
  });

  it('zeek/tls/irc-starttls.pcap: Linux SLL (113)', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/tls/irc-starttls.pcap');
    assert.equal(run.layersCompared, 20);
    const l = run.decoded[0].layers[0];
    assert.equal(l.ipOff, run.packets[0].offset + 16);
    assert.equal(l.dstMacOff, -1);
  });

  it('zeek/linux_dlt_sll2.pcap and zeek/tls/openjdk-25.0.2-zeek.org.pcap: SLL2 (276)', function () {
    requireCorpus(this);
    const a = checkAgainstOracle('zeek/linux_dlt_sll2.pcap');
    assert.equal(a.packets[0].linktype, 276);
    assert.equal(a.decoded[0].layers[0].ipOff, a.packets[0].offset + 20);
    assert.equal(a.decoded[2].layers[0].icmpType, 128);
    assert.equal(count(a.statuses, DecodeStatus.NOT_IP), 2); // ARP and RARP
    const b = checkAgainstOracle('zeek/tls/openjdk-25.0.2-zeek.org.pcap');
    assert.equal(b.layersCompared, 6);
  });

  it('zeek/tunnels/vxlan.pcap: VNI 123, inner ICMP; inner ARP keeps the outer layer', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/tunnels/vxlan.pcap');
    const arp = run.decoded[0];
    assert.equal(arp.status, DecodeStatus.OK);
    assert.equal(arp.count, 1);
    const inner = run.decoded[2].layers[1];
    assert.equal(inner.tunnel, TunnelKind.VXLAN);
    assert.equal(inner.tunnelId, 123);
    assert.equal(src(inner), '10.0.0.1');
    assert.ok(inner.srcMacOff > run.decoded[2].layers[0].payloadOff, 'inner MACs are the inner frame');
  });

  it('zeek/tunnels/geneve.pcap: Geneve with options, inner ICMP', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/tunnels/geneve.pcap');
    assert.equal(run.decoded[0].layers[1].tunnel, TunnelKind.GENEVE);
    assert.equal(run.decoded[0].layers[1].tunnelId, 0);
    assert.equal(run.decoded[0].layers[1].icmpType, 8);
  });

  it('zeek/tunnels/gre-sample.pcap: GRE v0 carrying ICMP/UDP/TCP', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/tunnels/gre-sample.pcap');
    assert.equal(run.layersCompared, 80);
    const inner = run.decoded[10].layers[1];
    assert.equal(inner.tunnel, TunnelKind.GRE);
    assert.equal(inner.tunnelId, -1);
    assert.equal(inner.srcMacOff, -1);
    assert.equal(inner.tcpFlags, 0xc2); // SYN with ECE+CWR
    assert.ok(inner.optMss > 0);
  });

  it('zeek/tunnels/4in4.pcap and 6in4.pcap: IP-in-IP', function () {
    requireCorpus(this);
    const a = checkAgainstOracle('zeek/tunnels/4in4.pcap');
    assert.equal(a.decoded[0].layers[1].tunnel, TunnelKind.IPIP);
    const b = checkAgainstOracle('zeek/tunnels/6in4.pcap');
    const l1 = b.decoded[0].layers[1];
    assert.equal(l1.tunnel, TunnelKind.IPIP);
    assert.equal(l1.ipVersion, 6);
    assert.equal(src(l1), 'dead::beef');
    assert.equal(dst(l1), 'cafe::babe');
    assert.equal(l1.sport, 30000);
  });

  it('zeek/ftp/ipv6.pcap: IPv6 TCP', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/ftp/ipv6.pcap');
    assert.equal(count(run.statuses, DecodeStatus.OK), run.packets.length);
    assert.equal(run.decoded[0].layers[0].ipHdrLen, 40);
  });

  it('zeek/ipv4/fragmented-1.pcap: overlapping IPv4 fragments reassembled first-wins', function () {
    requireCorpus(this);
    const dec = new PacketDecoder();
    const run = checkAgainstOracle('zeek/ipv4/fragmented-1.pcap', dec);
    assert.deepEqual(run.statuses, [DecodeStatus.FRAGMENT_HELD, DecodeStatus.FRAGMENT_HELD, DecodeStatus.OK]);
    const l = run.decoded[2].layers[0];
    assert.equal(l.reassembled, true);
    // tshark: "Reassembled IPv4 (164 bytes)" of payload.
    assert.equal(l.ipTotalLen, 20 + 164);
    assert.equal(l.l4Len, 164);
    assert.equal(l.ipChecksumBad, false);
    // first 18 bytes from fragment 1 (UDP header + zeros), then 'X' from fragment 3 fills the gap.
    assert.equal(l.buf[l.l4Off + 17], 0x00);
    assert.equal(l.buf[l.l4Off + 18], 0x58);
    assert.equal(l.buf[l.l4Off + 163], 0x00); // from fragment 2 (zeros), not fragment 3's 'X'
    assert.equal(dec.stats.datagramsReassembled, 1);
    assert.equal(dec.stats.fragmentsHeld, 2);
    assert.equal(dec.stats.pendingDatagrams, 0);
    assert.equal(dec.stats.pendingBytes, 0);
  });

  it('zeek/ipv6-fragmented-dns.pcap: IPv6 fragment header reassembly', function () {
    requireCorpus(this);
    const dec = new PacketDecoder();
    const run = checkAgainstOracle('zeek/ipv6-fragmented-dns.pcap', dec);
    assert.equal(count(run.statuses, DecodeStatus.FRAGMENT_HELD), 3);
    const l = run.decoded[7].layers[0];
    assert.equal(l.reassembled, true);
    assert.equal(l.proto, 17);
    assert.equal(l.ipHdrLen, 40);
    assert.equal(l.sport, 53);
    // The UDP length of the reassembled datagram matches the IPv6 payload.
    assert.equal(l.buf.readUInt16BE(l.l4Off + 4), l.ipTotalLen - 40);
    assert.equal(l.payloadLen, l.ipTotalLen - 48);
    assert.equal(dec.stats.datagramsReassembled, 1);
  });

  it('zeek/trunc/ip4-trunc.pcap: truncated IPv4 header (Zeek weird truncated_IP) is MALFORMED', function () {
    requireCorpus(this);
    const weird = fs.readFileSync(corpusPath('zeek/trunc/ip4-trunc.pcap.zeek.core.truncation.output'), 'utf8');
    assert.match(weird.split('#close')[0], /truncated_IP\t/);
    const [p] = loadCapture(corpusPath('zeek/trunc/ip4-trunc.pcap'));
    const dec = new PacketDecoder();
    const out = dec.newPacket();
    assert.equal(dec.decode(p, out), DecodeStatus.MALFORMED);
    assert.equal(out.count, 0);
    assert.equal(out.errorCode, 'ipv4-header-truncated');
    assert.equal(out.errorOffset, 14);
    assert.match(out.errorMessage, /6 captured/);
    assert.equal(dec.stats.malformed, 1);
  });

  it('tcpdump/pptp.pcap: PPTP control over TCP; GRE v1 with PPP LCP stops after the outer layer', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('tcpdump/pptp.pcap');
    const i = run.rows.findIndex((r) => r['frame.protocols'].includes('gre'));
    assert.ok(i >= 0);
    const out = run.decoded[i];
    assert.equal(out.status, DecodeStatus.OK);
    assert.equal(out.count, 1);
    assert.equal(out.layers[0].proto, 47);
    assert.equal(out.depthLimited, false);
  });

  it('community-id-spec/combined.pcap: ICMP, ICMPv6 (errors not tunnels), SCTP, snaplen-cut TCP, RSVP', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('community-id-spec/combined.pcap');
    // SCTP INIT (frame 48): chunk type 1; frame 52: two DATA chunks (type 0).
    const init = run.decoded[47].layers[0];
    assert.equal(init.proto, 132);
    assert.equal(init.sctpChunkMask, 1 << 1);
    assert.equal(init.sctpVtag, 0);
    assert.equal(run.decoded[48].layers[0].sctpChunkMask, 1 << 2); // INIT ACK
    assert.equal(run.decoded[51].layers[0].sctpChunkMask, 1 << 0);
    for (const f of [48, 49, 50, 51, 52]) {
      const r = run.rows[f - 1];
      assert.ok(r['frame.protocols'].includes('sctp'));
    }
    // Frame 56: caplen 96 of 562; the TCP payload length still comes from the IP header.
    const cut = run.decoded[55].layers[0];
    assert.equal(cut.payloadLen, 496);
    assert.equal(cut.capturedPayloadLen, 96 - (cut.payloadOff - run.packets[55].offset));
    // ICMP time exceeded quoting UDP (frame 30): one layer, type 11.
    assert.equal(run.decoded[29].count, 1);
    assert.equal(run.decoded[29].layers[0].icmpType, 11);
    // RSVP (46): decoded as IP with no transport.
    assert.equal(run.decoded[66].layers[0].proto, 46);
    assert.equal(run.decoded[66].layers[0].sport, 0);
    // TCP SYN options (frame 53).
    const syn = run.decoded[52].layers[0];
    assert.ok(syn.optMss > 0);
    assert.ok(syn.optTsVal >= 0);
  });

  it('zeek/pcapng-multi-interface.pcapng: checksum-offloaded packets are flagged ipChecksumBad', function () {
    requireCorpus(this);
    const run = checkAgainstOracle('zeek/pcapng-multi-interface.pcapng');
    // tshark -o ip.check_checksum:TRUE: frames 3 and 5 carry checksum 0x0000 (bad), the rest are good.
    assert.deepEqual(
      run.decoded.map((d) => d.layers[0].ipChecksumBad),
      [false, false, true, false, true, false],
    );
  });

  it('other corpus captures decode without MALFORMED', function () {
    requireCorpus(this);
    for (const rel of [
      'zeek/http/get.pcap',
      'zeek/pop3/pop3.pcap',
      'zeek/dns/ech.pcap',
      'zeek/tcp-syslog.pcap',
      'tcpdump/tcp-handshake-nano.pcap',
      'zeek/icmp/icmp-ping.pcap',
    ]) {
      checkAgainstOracle(rel);
    }
  });
});
