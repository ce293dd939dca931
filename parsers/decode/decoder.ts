/**
 * PacketDecoder: captured frame -> DecodedPacket (outer IP flow plus tunnelled flows).
 *
 * Tunnels are found by IP protocol (GRE, IP-in-IP), by UDP port (VXLAN, Geneve, Teredo, AYIYA,
 * GTP-U, GRE in UDP; the destination port, or the source port of a reply) and, as Zeek does, by
 * sniffing any other UDP payload for Teredo and AYIYA. A frame holding several packets (802.11
 * A-MSDU) yields the first from decode() and the others from decodeNext().
 *
 * Hot path rules: typed reads over the packet buffer, no per-packet allocation, no strings, no
 * exceptions. Every length is checked before the bytes are read; faults become MALFORMED with the
 * layers decoded before the fault left valid. Scratch state lives on the decoder instance.
 */
import type { CapturedPacket } from '../capture/types';
import { DecodedPacket, DecodeStatus, type FlowLayer, IpProto, TunnelKind } from './layers';
import { decode80211, decodeAmsduSubframe, decodeEthernet, decodeLink, decodeMpls, Link, LinkInfo } from './link';
import { decodeIpv4, FragInfo } from './ipv4';
import { decodeIpv6 } from './ipv6';
import { decodeTcp } from './tcp';
import { decodeUdp } from './udp';
import { decodeIcmp } from './icmp';
import { decodeSctp } from './sctp';
import { detectAyiya, detectTeredo, Inner, parseAyiya, parseGeneve, parseGre, parseGtp, parseTeredo, parseVxlan, TunnelInfo } from './tunnels';
import { FragmentReassembler, type FragmentStats, FragResult } from './fragments';
import { fail } from './errors';

export interface DecoderOptions {
  /** Layers in a DecodedPacket; default 4 (outer + 3 nested). Deeper -> depthLimited, status OK. */
  maxTunnelDepth?: number;
  /** UDP ports decoded as VXLAN (the destination port, or the source port of a reply); default [4789, 8472] (8472 = Linux/Flannel default). */
  vxlanPorts?: number[];
  /** UDP ports decoded as Geneve; default [6081]. */
  genevePorts?: number[];
  /** UDP ports decoded as Teredo; default [3544]. */
  teredoPorts?: number[];
  /** UDP ports decoded as AYIYA; default [5072]. */
  ayiyaPorts?: number[];
  /** UDP ports decoded as GTPv1 (user plane 2152; control plane 2123 carries no packets); default [2152, 2123]. */
  gtpPorts?: number[];
  /** UDP ports decoded as GRE (RFC 8086); default [4754]. */
  greUdpPorts?: number[];
  /** Look for Teredo and AYIYA in UDP payloads on other ports too, as Zeek does; default true. */
  detectUdpTunnels?: boolean;
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
  /**
   * Packets found after the first in an 802.11 A-MSDU (decodeNext); `packets` counts frames,
   * the status counters count every packet.
   */
  amsduSubframes: number;
}

/** What a UDP port carries (udpTunnelPorts values). */
const PORT_VXLAN = 1;
const PORT_GENEVE = 2;
const PORT_TEREDO = 3;
const PORT_AYIYA = 4;
const PORT_GTP = 5;
const PORT_GRE = 6;

export class PacketDecoder {
  readonly stats: DecoderStats = {
    packets: 0,
    ok: 0,
    notIp: 0,
    malformed: 0,
    unsupportedLink: 0,
    depthLimited: 0,
    ipChecksumBad: 0,
    amsduSubframes: 0,
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

  /** UDP port -> PORT_*: one indexed read per UDP packet. */
  private readonly udpTunnelPorts = new Uint8Array(65536);
  private readonly detectUdpTunnels: boolean;
  private readonly link = new LinkInfo();
  private readonly frag = new FragInfo();
  private readonly tun = new TunnelInfo();
  private readonly reassembler: FragmentReassembler;

  // The rest of an 802.11 A-MSDU whose first packet decode() or decodeNext() delivered: the frame's
  // buffer (null when none is pending), the layers before it, and the context its packets share.
  private amsduBuf: Buffer | null = null;
  private amsduBase = 0;
  private amsduNext = 0;
  private amsduEnd = 0;
  private amsduCount = 0;
  private amsduKind: TunnelKind = TunnelKind.NONE;
  private amsduTid = -1;
  private amsduSrcMac = -1;
  private amsduDstMac = -1;
  private amsduNow = 0;
  /**
   * The packet's time in seconds, for fragment reassembly. A field, not a parameter: a double
   * passed to a call V8 does not inline (decodeIp) is boxed, a heap number per packet.
   */
  private now = 0;

  /** Whether UDP `port` is one this decoder looks for a tunnel on (as destination, or source of a reply). */
  isTunnelPort(port: number): boolean {
    return this.udpTunnelPorts[port & 0xffff] !== 0;
  }

  constructor(opts: DecoderOptions = {}) {
    this.maxTunnelDepth = Math.max(1, opts.maxTunnelDepth ?? 4);
    const ports = this.udpTunnelPorts;
    // Later lists win a port named twice: the VXLAN/Geneve lists a deployment overrides come last.
    for (const p of opts.greUdpPorts ?? [4754]) ports[p & 0xffff] = PORT_GRE;
    for (const p of opts.gtpPorts ?? [2152, 2123]) ports[p & 0xffff] = PORT_GTP;
    for (const p of opts.ayiyaPorts ?? [5072]) ports[p & 0xffff] = PORT_AYIYA;
    for (const p of opts.teredoPorts ?? [3544]) ports[p & 0xffff] = PORT_TEREDO;
    for (const p of opts.genevePorts ?? [6081]) ports[p & 0xffff] = PORT_GENEVE;
    for (const p of opts.vxlanPorts ?? [4789, 8472]) ports[p & 0xffff] = PORT_VXLAN;
    this.detectUdpTunnels = opts.detectUdpTunnels ?? true;
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
    this.stats.packets++;
    this.amsduBuf = null;
    resetPacket(out);

    this.now = pkt.tsSec + pkt.tsNsec * 1e-9;
    if (this.reassembler.pending > 0) this.reassembler.expire(this.now);

    const buf = pkt.buf;
    const base = pkt.offset;
    let end = base + pkt.caplen;
    if (end > buf.length) end = buf.length;
    const wireEnd = base + Math.max(pkt.origlen, pkt.caplen);

    const li = this.link;
    const r = decodeLink(pkt.linktype, buf, base, end, li, out);
    if (li.amsduNext >= 0) this.holdAmsdu(buf, base, li, 0, TunnelKind.NONE, -1);
    let status: DecodeStatus;
    if (r === Link.IPV4 || r === Link.IPV6) {
      status = this.decodeIp(buf, base, r, li.l3Off, li.l3CapEnd < 0 ? end : li.l3CapEnd, wireEnd, out, TunnelKind.NONE, -1);
    } else if (r === Link.NOT_IP) {
      out.etherType = li.etherType;
      status = out.status = DecodeStatus.NOT_IP;
    } else if (r === Link.UNSUPPORTED) {
      status = out.status = DecodeStatus.UNSUPPORTED_LINK;
    } else {
      status = DecodeStatus.MALFORMED;
    }
    return this.tally(status);
  }

  /**
   * Whether the frame last decoded holds another packet: the next subframe of an 802.11 A-MSDU
   * (at the link layer, or inside Aruba's GRE). Call decodeNext() for it, within the same reader
   * callback (the packets are views over the frame's bytes).
   */
  hasNext(): boolean {
    return this.amsduBuf !== null;
  }

  /**
   * Decodes the next packet of the frame last decoded into `out`. The layers that carried the
   * aggregate stay in front, unchanged; `out.repeated` says how many there are, so they are not
   * counted twice. A subframe that is not IP gives NOT_IP (the carrying layers were counted with
   * the first packet). With nothing pending: NOT_IP, count 0, nothing counted.
   */
  decodeNext(out: DecodedPacket): DecodeStatus {
    const buf = this.amsduBuf;
    const count = this.amsduCount;
    resetPacket(out);
    if (buf === null) {
      out.status = DecodeStatus.NOT_IP;
      return DecodeStatus.NOT_IP;
    }
    this.stats.amsduSubframes++;
    out.count = count;
    out.repeated = count;
    // The last carrying layer brought a tunnel even if this subframe yields no layer.
    if (count > 0) out.innerTunnel = this.amsduKind;

    const li = this.link;
    li.clear();
    li.srcMacOff = this.amsduSrcMac;
    li.dstMacOff = this.amsduDstMac;
    const base = this.amsduBase;
    const end = this.amsduEnd;
    const r = decodeAmsduSubframe(buf, this.amsduNext, end, li, out, base);
    if (li.amsduNext >= 0) this.amsduNext = li.amsduNext;
    else this.amsduBuf = null;
    let status: DecodeStatus;
    if (r === Link.IPV4 || r === Link.IPV6) {
      this.now = this.amsduNow;
      status = this.decodeIp(buf, base, r, li.l3Off, end, end, out, this.amsduKind, this.amsduTid);
    } else if (r === Link.NOT_IP) {
      out.etherType = li.etherType;
      status = out.status = DecodeStatus.NOT_IP;
    } else {
      status = DecodeStatus.MALFORMED;
    }
    return this.tally(status);
  }

  /** Keeps what decodeNext() needs for the rest of an A-MSDU, unless one is pending already (one level of aggregation). */
  private holdAmsdu(buf: Buffer, base: number, li: LinkInfo, count: number, kind: TunnelKind, tid: number): void {
    if (this.amsduBuf !== null) return;
    this.amsduBuf = buf;
    this.amsduBase = base;
    this.amsduNext = li.amsduNext;
    this.amsduEnd = li.amsduEnd;
    this.amsduCount = count;
    this.amsduKind = kind;
    this.amsduTid = tid;
    this.amsduSrcMac = li.srcMacOff;
    this.amsduDstMac = li.dstMacOff;
    this.amsduNow = this.now;
  }

  private tally(status: DecodeStatus): DecodeStatus {
    const st = this.stats;
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
   * packet or sets up the next layer. `base` is where the packet starts in `buf` (error offsets);
   * `kind`/`tid` say how the first IP packet here was carried (NONE at the link layer).
   */
  private decodeIp(
    buf: Buffer,
    base: number,
    ver: number,
    off: number,
    capEnd: number,
    wireEnd: number,
    out: DecodedPacket,
    kind: TunnelKind,
    tid: number,
  ): DecodeStatus {
    const li = this.link;
    const fi = this.frag;
    const ti = this.tun;
    const limit = Math.min(out.layers.length, this.maxTunnelDepth);
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
        const fr = this.reassembler.add(buf, base, capEnd, layer, fi, this.now);
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
        inner = this.udpInner(buf, layer, pCap, out, base, out.count >= limit);
        if (inner === Inner.DEPTH) return this.finishDepth(out, sawBadSum);
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
      if (inner === Inner.IPV4 || inner === Inner.IPV6) {
        // A bare IP packet has no link frame of its own: the outer frame's VLANs still describe
        // where it travelled, its MACs do not.
        li.srcMacOff = -1;
        li.dstMacOff = -1;
        ver = inner;
        continue;
      }
      const lr = this.innerFrame(inner, buf, off, capEnd, out, base, kind, tid);
      if (lr === Link.MALFORMED) return this.finishMalformed(out, sawBadSum);
      if (lr !== Link.IPV4 && lr !== Link.IPV6) return this.finishOk(out, sawBadSum); // e.g. ARP inside VXLAN
      ver = lr;
      off = li.l3Off;
    }
  }

  /**
   * Whether this UDP packet carries a tunnel, and what: by the destination port, by the source
   * port of a reply (the tunnel's port is the lower one), else, like Zeek, by the payload (Teredo,
   * AYIYA). DEPTH when it does but `atLimit`. Kept out of decodeIp, whose size decides how much
   * of the per-packet work V8 inlines.
   */
  private udpInner(buf: Buffer, layer: FlowLayer, pCap: number, out: DecodedPacket, base: number, atLimit: boolean): Inner {
    const ports = this.udpTunnelPorts;
    let t = ports[layer.dport];
    const byDport = t !== 0;
    if (t === 0 && layer.sport < layer.dport) t = ports[layer.sport];
    const po = layer.payloadOff;
    if (t === 0) {
      if (!this.detectUdpTunnels) return Inner.NONE;
      const len = pCap - po;
      // The first bytes rule out both for most datagrams before the full checks.
      if (len < 3) return Inner.NONE;
      const b0 = buf[po];
      const b1 = buf[po + 1];
      if (b0 >> 4 !== 6 && !(b0 === 0 && b1 <= 1) && !(b1 === 0x52 && buf[po + 2] === 0x11)) return Inner.NONE;
      if (detectTeredo(buf, po, len)) t = PORT_TEREDO;
      else if (detectAyiya(buf, po, len)) t = PORT_AYIYA;
      else return Inner.NONE;
    }
    if (atLimit) return Inner.DEPTH;
    const inner = this.udpTunnel(t, buf, po, pCap, out, base, layer.tunnel);
    if (inner === Inner.MALFORMED && !byDport) {
      // Only a guess made this a tunnel: a header that does not parse means it is not one.
      clearError(out);
      return Inner.NONE;
    }
    return inner;
  }

  /** The frame a tunnel carries (Ethernet, 802.11, MPLS) down to its IP packet. */
  private innerFrame(inner: Inner, buf: Buffer, off: number, capEnd: number, out: DecodedPacket, base: number, kind: TunnelKind, tid: number): Link {
    const li = this.link;
    if (inner === Inner.ETHERNET) {
      li.clear(); // the inner frame has its own MACs and VLANs
      return decodeEthernet(buf, off, capEnd, li, out, base);
    }
    if (inner === Inner.IEEE80211) {
      li.clear();
      const lr = decode80211(buf, off, capEnd, li, out, base);
      if (li.amsduNext >= 0) this.holdAmsdu(buf, base, li, out.count, kind, tid);
      return lr;
    }
    // MPLS: no link frame of its own, like a bare IP packet.
    li.srcMacOff = -1;
    li.dstMacOff = -1;
    return decodeMpls(buf, off, capEnd, li, out, base);
  }

  /** The tunnel header a UDP port (or payload detection) named; `carriedBy` is how this UDP packet itself was carried. */
  private udpTunnel(t: number, buf: Buffer, off: number, end: number, out: DecodedPacket, base: number, carriedBy: TunnelKind): Inner {
    const ti = this.tun;
    switch (t) {
      case PORT_VXLAN:
        return parseVxlan(buf, off, end, ti, out, base);
      case PORT_GENEVE:
        return parseGeneve(buf, off, end, ti, out, base);
      case PORT_TEREDO:
        return parseTeredo(buf, off, end, ti);
      case PORT_AYIYA:
        return parseAyiya(buf, off, end, ti);
      case PORT_GTP:
        // GTP is never carried in GTP (Zeek): a G-PDU's user packet to port 2152 is user traffic.
        return carriedBy === TunnelKind.GTP ? Inner.NONE : parseGtp(buf, off, end, ti);
      default:
        return parseGre(buf, off, end, ti, out, base);
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

function resetPacket(out: DecodedPacket): void {
  out.status = DecodeStatus.OK;
  out.count = 0;
  out.errorCode = '';
  out.errorMessage = '';
  out.errorOffset = -1;
  out.etherType = -1;
  out.depthLimited = false;
  out.innerTunnel = TunnelKind.NONE;
  out.repeated = 0;
}

function clearError(out: DecodedPacket): void {
  out.status = DecodeStatus.OK;
  out.errorCode = '';
  out.errorMessage = '';
  out.errorOffset = -1;
}
