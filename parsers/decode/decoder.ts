/**
 * PacketDecoder: captured frame -> DecodedPacket (outer IP flow plus tunnelled flows).
 *
 * Hot path rules: typed reads over the packet buffer, no per-packet allocation, no strings, no
 * exceptions. Every length is checked before the bytes are read; faults become MALFORMED with the
 * layers decoded before the fault left valid. Scratch state lives on the decoder instance.
 */
import type { CapturedPacket } from '../capture/types';
import { DecodedPacket, DecodeStatus, type FlowLayer, IpProto, TunnelKind } from './layers';
import { decodeEthernet, decodeLink, Link, LinkInfo } from './link';
import { decodeIpv4, FragInfo } from './ipv4';
import { decodeIpv6 } from './ipv6';
import { decodeTcp } from './tcp';
import { decodeUdp } from './udp';
import { decodeIcmp } from './icmp';
import { decodeSctp } from './sctp';
import { Inner, parseGeneve, parseGre, parseVxlan, TunnelInfo } from './tunnels';
import { FragmentReassembler, type FragmentStats, FragResult } from './fragments';
import { fail } from './errors';

export interface DecoderOptions {
  /** Layers in a DecodedPacket; default 4 (outer + 3 nested). Deeper -> depthLimited, status OK. */
  maxTunnelDepth?: number;
  /** UDP destination ports decoded as VXLAN; default [4789, 8472] (8472 = Linux/Flannel default). */
  vxlanPorts?: number[];
  /** UDP destination ports decoded as Geneve; default [6081]. */
  genevePorts?: number[];
  /** Reassembly bounds; defaults 16 MiB, 4096 datagrams, 30 s (packet time), 65535 bytes per datagram. */
  fragments?: { maxBytesTotal?: number; maxDatagrams?: number; timeoutSec?: number; maxDatagramBytes?: number };
}

export interface DecoderStats extends FragmentStats {
  packets: number;
  ok: number;
  notIp: number;
  malformed: number;
  unsupportedLink: number;
  /** Packets whose tunnel nesting hit maxTunnelDepth. */
  depthLimited: number;
  /** Packets with at least one IPv4 header whose checksum did not verify. */
  ipChecksumBad: number;
}

const PORT_VXLAN = 1;
const PORT_GENEVE = 2;

export class PacketDecoder {
  readonly stats: DecoderStats = {
    packets: 0,
    ok: 0,
    notIp: 0,
    malformed: 0,
    unsupportedLink: 0,
    depthLimited: 0,
    ipChecksumBad: 0,
    fragmentsHeld: 0,
    datagramsReassembled: 0,
    fragmentsExpired: 0,
    datagramsExpired: 0,
    fragmentsDropped: 0,
    datagramsEvicted: 0,
    datagramsTooLarge: 0,
    fragmentsTruncated: 0,
    pendingDatagrams: 0,
    pendingBytes: 0,
  };
  readonly maxTunnelDepth: number;

  /** UDP destination port -> PORT_VXLAN / PORT_GENEVE: one indexed read per UDP packet. */
  private readonly udpTunnelPorts = new Uint8Array(65536);
  private readonly link = new LinkInfo();
  private readonly frag = new FragInfo();
  private readonly tun = new TunnelInfo();
  private readonly reassembler: FragmentReassembler;

  constructor(opts: DecoderOptions = {}) {
    this.maxTunnelDepth = Math.max(1, opts.maxTunnelDepth ?? 4);
    for (const p of opts.vxlanPorts ?? [4789, 8472]) this.udpTunnelPorts[p & 0xffff] = PORT_VXLAN;
    for (const p of opts.genevePorts ?? [6081]) this.udpTunnelPorts[p & 0xffff] = PORT_GENEVE;
    const f = opts.fragments ?? {};
    this.reassembler = new FragmentReassembler(
      {
        maxBytesTotal: f.maxBytesTotal ?? 16 * 1024 * 1024,
        maxDatagrams: f.maxDatagrams ?? 4096,
        timeoutSec: f.timeoutSec ?? 30,
        maxDatagramBytes: f.maxDatagramBytes ?? 65535,
      },
      this.stats,
    );
  }

  /** A DecodedPacket sized for this decoder's depth limit. */
  newPacket(): DecodedPacket {
    return new DecodedPacket(this.maxTunnelDepth);
  }

  /** Fills `out` (reused) from `pkt`; returns out.status. Never throws on packet content. */
  decode(pkt: CapturedPacket, out: DecodedPacket): DecodeStatus {
    const st = this.stats;
    st.packets++;
    out.status = DecodeStatus.OK;
    out.count = 0;
    out.errorCode = '';
    out.errorMessage = '';
    out.errorOffset = -1;
    out.etherType = -1;
    out.depthLimited = false;
    out.innerTunnel = TunnelKind.NONE;

    const now = pkt.tsSec + pkt.tsNsec * 1e-9;
    if (this.reassembler.pending > 0) this.reassembler.expire(now);

    const buf = pkt.buf;
    const base = pkt.offset;
    let end = base + pkt.caplen;
    if (end > buf.length) end = buf.length;
    const wireEnd = base + Math.max(pkt.origlen, pkt.caplen);

    const li = this.link;
    const r = decodeLink(pkt.linktype, buf, base, end, li, out);
    let status: DecodeStatus;
    if (r === Link.IPV4 || r === Link.IPV6) {
      status = this.decodeIp(buf, base, r, li.l3Off, end, wireEnd, now, out);
    } else if (r === Link.NOT_IP) {
      out.etherType = li.etherType;
      status = out.status = DecodeStatus.NOT_IP;
    } else if (r === Link.UNSUPPORTED) {
      status = out.status = DecodeStatus.UNSUPPORTED_LINK;
    } else {
      status = DecodeStatus.MALFORMED;
    }
    switch (status) {
      case DecodeStatus.OK:
        st.ok++;
        break;
      case DecodeStatus.NOT_IP:
        st.notIp++;
        break;
      case DecodeStatus.MALFORMED:
        st.malformed++;
        break;
      case DecodeStatus.UNSUPPORTED_LINK:
        st.unsupportedLink++;
        break;
      default:
        break;
    }
    return status;
  }

  /**
   * The layer loop: IP header, fragments, transport, then tunnel detection which either ends the
   * packet or sets up the next layer. `base` is where the packet starts in `buf` (error offsets).
   */
  private decodeIp(buf: Buffer, base: number, ver: number, off: number, capEnd: number, wireEnd: number, now: number, out: DecodedPacket): DecodeStatus {
    const li = this.link;
    const fi = this.frag;
    const ti = this.tun;
    const limit = Math.min(out.layers.length, this.maxTunnelDepth);
    let kind: TunnelKind = TunnelKind.NONE;
    let tid = -1;
    let sawBadSum = false;
    for (;;) {
      const layer: FlowLayer = out.layers[out.count];
      layer.reset();
      layer.buf = buf;
      layer.srcMacOff = li.srcMacOff;
      layer.dstMacOff = li.dstMacOff;
      layer.vlan = li.vlan;
      layer.innerVlan = li.innerVlan;
      layer.tunnel = kind;
      layer.tunnelId = tid;

      const ok = ver === 4 ? decodeIpv4(buf, off, capEnd, wireEnd, layer, fi, out, base) : decodeIpv6(buf, off, capEnd, wireEnd, layer, fi, out, base);
      if (!ok) return this.finishMalformed(out, sawBadSum);
      if (layer.ipChecksumBad) sawBadSum = true;

      if (fi.isFragment) {
        const fr = this.reassembler.add(buf, base, capEnd, layer, fi, now);
        if (fr === FragResult.COMPLETE) {
          // Continue on the reassembled copy: same layer slot, offsets now into the new buffer,
          // which starts with the bytes that preceded the IP header in this packet.
          const rb = this.reassembler.result as Buffer;
          off = this.reassembler.resultIpOff;
          if (li.srcMacOff >= 0) li.srcMacOff -= base;
          if (li.dstMacOff >= 0) li.dstMacOff -= base;
          buf = rb;
          base = 0;
          capEnd = wireEnd = rb.length;
          const ok2 = ver === 4 ? decodeIpv4(buf, off, capEnd, wireEnd, layer, fi, out, base) : decodeIpv6(buf, off, capEnd, wireEnd, layer, fi, out, base);
          layer.buf = buf;
          layer.srcMacOff = li.srcMacOff;
          layer.dstMacOff = li.dstMacOff;
          layer.reassembled = true;
          if (!ok2) return this.finishMalformed(out, sawBadSum);
          if (fi.isFragment) {
            // Cannot happen with the header we rebuilt; refuse rather than loop.
            fail(out, 'fragment-reassembly-failed', 'reassembled packet still marked as a fragment', off);
            return this.finishMalformed(out, sawBadSum);
          }
        } else if (fr === FragResult.TOO_LARGE) {
          fail(out, 'fragment-too-large', `IP fragment at offset ${fi.offset} with ${fi.dataLen} bytes exceeds the largest datagram`, layer.ipOff - base);
          return this.finishMalformed(out, sawBadSum);
        } else {
          out.status = DecodeStatus.FRAGMENT_HELD;
          this.stats.ipChecksumBad += sawBadSum ? 1 : 0;
          return DecodeStatus.FRAGMENT_HELD;
        }
      }

      // Transport: only captured bytes of this IP packet count (Ethernet padding excluded).
      const ipEnd = layer.ipOff + layer.ipTotalLen;
      const l4Cap = Math.min(capEnd, ipEnd);
      const proto = layer.proto;
      let tok = true;
      if (proto === IpProto.TCP) tok = decodeTcp(buf, layer, l4Cap, out, base);
      else if (proto === IpProto.UDP) tok = decodeUdp(buf, layer, l4Cap, out, base);
      else if (proto === IpProto.ICMP) tok = decodeIcmp(buf, layer, l4Cap, false, out, base);
      else if (proto === IpProto.ICMPV6) tok = decodeIcmp(buf, layer, l4Cap, true, out, base);
      else if (proto === IpProto.SCTP) tok = decodeSctp(buf, layer, l4Cap, out, base);
      else {
        // Other protocols (GRE, IP-in-IP, ESP, ...): the payload is everything after the IP header.
        layer.payloadOff = layer.l4Off;
        layer.payloadLen = layer.l4Len;
        const c = l4Cap - layer.l4Off;
        layer.capturedPayloadLen = c <= 0 ? 0 : Math.min(c, layer.l4Len);
      }
      if (!tok) return this.finishMalformed(out, sawBadSum);
      out.count++;
      out.innerTunnel = TunnelKind.NONE;

      // Tunnel detection.
      let inner: Inner = Inner.NONE;
      const pEnd = layer.payloadOff + layer.payloadLen;
      const pCap = Math.min(l4Cap, pEnd);
      if (proto === IpProto.UDP) {
        const t = this.udpTunnelPorts[layer.dport];
        if (t === 0) return this.finishOk(out, sawBadSum);
        if (out.count >= limit) return this.finishDepth(out, sawBadSum);
        inner = t === PORT_VXLAN ? parseVxlan(buf, layer.payloadOff, pCap, ti, out, base) : parseGeneve(buf, layer.payloadOff, pCap, ti, out, base);
      } else if (proto === IpProto.GRE) {
        if (out.count >= limit) return this.finishDepth(out, sawBadSum);
        inner = parseGre(buf, layer.payloadOff, pCap, ti, out, base);
      } else if (proto === IpProto.IPIP || proto === IpProto.IPV6) {
        if (out.count >= limit) return this.finishDepth(out, sawBadSum);
        ti.kind = TunnelKind.IPIP;
        ti.id = -1;
        ti.innerOff = layer.payloadOff;
        inner = proto === IpProto.IPIP ? Inner.IPV4 : Inner.IPV6;
      } else {
        return this.finishOk(out, sawBadSum);
      }

      if (inner === Inner.MALFORMED) return this.finishMalformed(out, sawBadSum);
      if (inner === Inner.NONE) return this.finishOk(out, sawBadSum);
      out.innerTunnel = ti.kind;
      kind = ti.kind;
      tid = ti.id;
      off = ti.innerOff;
      capEnd = pCap;
      wireEnd = pEnd;
      if (inner === Inner.ETHERNET) {
        li.clear(); // the inner frame has its own MACs and VLANs
        const lr = decodeEthernet(buf, off, capEnd, li, out, base);
        if (lr === Link.MALFORMED) return this.finishMalformed(out, sawBadSum);
        if (lr === Link.NOT_IP) return this.finishOk(out, sawBadSum); // e.g. ARP inside VXLAN
        ver = lr;
        off = li.l3Off;
      } else {
        // GRE/IP-in-IP carry a bare IP packet: no link frame of its own, the outer frame's
        // VLANs still describe where it travelled.
        li.srcMacOff = -1;
        li.dstMacOff = -1;
        ver = inner;
      }
    }
  }

  private finishOk(out: DecodedPacket, badSum: boolean): DecodeStatus {
    if (badSum) this.stats.ipChecksumBad++;
    out.status = DecodeStatus.OK;
    return DecodeStatus.OK;
  }

  private finishDepth(out: DecodedPacket, badSum: boolean): DecodeStatus {
    out.depthLimited = true;
    this.stats.depthLimited++;
    return this.finishOk(out, badSum);
  }

  private finishMalformed(out: DecodedPacket, badSum: boolean): DecodeStatus {
    if (badSum) this.stats.ipChecksumBad++;
    out.status = DecodeStatus.MALFORMED;
    return DecodeStatus.MALFORMED;
  }
}
