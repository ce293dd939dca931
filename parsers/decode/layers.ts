/**
 * The decoder's output: a fixed set of preallocated, reused views over packet bytes.
 *
 * One DecodedPacket is allocated per decoder and overwritten for every packet (no per-packet
 * objects). It holds up to `maxDepth` FlowLayers: layer 0 is the outermost IP flow, each
 * following layer is the flow carried inside the previous one's tunnel (VXLAN, Geneve, GRE,
 * IP-in-IP, 6in4, Teredo, AYIYA, GTP-U). Addresses and payloads are offsets into `buf`, never copies; `buf` is the
 * captured packet's buffer, or a reassembly buffer when IP fragments were put back together.
 */

// biome-ignore lint/suspicious/noConstEnum: read per packet; tsc (our only compiler here) inlines the values, a plain enum is two property loads per use
export const enum TunnelKind {
  NONE = 0,
  VXLAN = 1,
  GENEVE = 2,
  GRE = 3, // GRE in IP (proto 47) or in UDP (4754), ERSPAN, Aruba, PPTP
  IPIP = 4, // IPv4 in IPv4 (proto 4) and IPv6 in IPv4 (proto 41) / IPv6 in IPv6
  TEREDO = 5, // IPv6 in UDP (RFC 4380)
  AYIYA = 6, // Anything In Anything, UDP 5072
  GTP = 7, // GTPv1-U G-PDU, UDP 2152
}

/** The tunnel's type as records name it (tunnel_type), by TunnelKind. */
export const TUNNEL_NAMES = ['', 'vxlan', 'geneve', 'gre', 'ip-in-ip', 'teredo', 'ayiya', 'gtpv1'] as const;

/**
 * The `service` Zeek names on the connection that carries a tunnel, by TunnelKind: the UDP
 * tunnels' analyzers confirm their protocol; GRE (also over UDP 4754) and IP-in-IP have no
 * carrying connection of their own in Zeek, so no service.
 */
export const TUNNEL_SERVICES = ['', 'vxlan', 'geneve', '', '', 'teredo', 'ayiya', 'gtpv1'] as const;

/** IP protocol numbers we treat specially. */
export const IpProto = {
  ICMP: 1,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  GRE: 47,
  ICMPV6: 58,
  SCTP: 132,
} as const;

/** TCP flag bits as in the header's low byte (plus ECE/CWR). */
export class FlowLayer {
  /** Buffer the offsets below point into. */
  buf: Buffer = EMPTY;

  // ---- link layer context (of the frame that carried this IP packet) ----
  /** Offset of the 6-byte source / destination MAC, or -1 when the link layer has none. */
  srcMacOff = -1;
  dstMacOff = -1;
  /** Outer and inner 802.1Q/802.1ad VLAN ids; -1 when absent. */
  vlan = -1;
  innerVlan = -1;

  // ---- tunnel context: how this layer was carried (NONE for layer 0) ----
  tunnel: TunnelKind = TunnelKind.NONE;
  /** VXLAN/Geneve VNI or GRE key; -1 when absent. */
  tunnelId = -1;

  // ---- network layer ----
  ipVersion: 0 | 4 | 6 = 0;
  ipOff = 0;
  /** IPv4 header length / IPv6 header plus extension headers. */
  ipHdrLen = 0;
  /** IP bytes of this packet per the header (IPv4 total length; IPv6 40 + payload length); Zeek's ip_bytes. */
  ipTotalLen = 0;
  /** Offsets of source/destination address and its length (4 or 16). */
  srcOff = 0;
  dstOff = 0;
  addrLen = 0;
  ttl = 0;
  /** IPv4 header checksum verified false; always false for IPv6. */
  ipChecksumBad = false;
  /** This IP packet was reassembled from fragments. */
  reassembled = false;
  /** Final protocol after IPv6 extension headers. */
  proto = 0;

  // ---- transport layer ----
  /** Offset of the transport header and bytes of it per IP length (may exceed what was captured). */
  l4Off = 0;
  l4Len = 0;
  /** TCP/UDP/SCTP ports; ICMP: sport = type, dport = code (the conn record's convention). */
  sport = 0;
  dport = 0;
  /** Offset and length (per IP length, not caplen) of the transport payload; capturedPayloadLen <= payloadLen. */
  payloadOff = 0;
  payloadLen = 0;
  capturedPayloadLen = 0;

  // TCP
  tcpFlags = 0;
  seq = 0; // uint32 as a JS number
  ack = 0;
  window = 0;
  /** TCP options; -1 when absent. */
  optMss = -1;
  optWscale = -1;
  optSackPerm = false;
  optTsVal = -1;
  optTsEcr = -1;

  // ICMP / ICMPv6
  icmpType = -1;
  icmpCode = -1;
  icmpId = -1;

  // SCTP: bitmask of chunk types seen (bit n set for chunk type n < 32), verification tag
  sctpChunkMask = 0;
  sctpVtag = 0;

  reset(): void {
    this.buf = EMPTY;
    this.srcMacOff = -1;
    this.dstMacOff = -1;
    this.vlan = -1;
    this.innerVlan = -1;
    this.tunnel = TunnelKind.NONE;
    this.tunnelId = -1;
    this.ipVersion = 0;
    this.ipOff = 0;
    this.ipHdrLen = 0;
    this.ipTotalLen = 0;
    this.srcOff = 0;
    this.dstOff = 0;
    this.addrLen = 0;
    this.ttl = 0;
    this.ipChecksumBad = false;
    this.reassembled = false;
    this.proto = 0;
    this.l4Off = 0;
    this.l4Len = 0;
    this.sport = 0;
    this.dport = 0;
    this.payloadOff = 0;
    this.payloadLen = 0;
    this.capturedPayloadLen = 0;
    this.tcpFlags = 0;
    this.seq = 0;
    this.ack = 0;
    this.window = 0;
    this.optMss = -1;
    this.optWscale = -1;
    this.optSackPerm = false;
    this.optTsVal = -1;
    this.optTsEcr = -1;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.icmpId = -1;
    this.sctpChunkMask = 0;
    this.sctpVtag = 0;
  }
}

// biome-ignore lint/suspicious/noConstEnum: read per packet; tsc (our only compiler here) inlines the values, a plain enum is two property loads per use
export const enum DecodeStatus {
  /** `count` layers are valid. */
  OK = 0,
  /** Not an IP packet (ARP, LLDP, ...): counted, not tracked. */
  NOT_IP = 1,
  /** An IP fragment was stored for reassembly; nothing to track yet. */
  FRAGMENT_HELD = 2,
  /** Malformed: `count` layers before the fault are still valid, `error*` describes the fault. */
  MALFORMED = 3,
  /** The link type is not one we decode. */
  UNSUPPORTED_LINK = 4,
}

export class DecodedPacket {
  status: DecodeStatus = DecodeStatus.OK;
  /** Number of valid layers in `layers`. */
  count = 0;
  readonly layers: FlowLayer[];
  /** For MALFORMED: a short machine-usable code (e.g. 'ipv4-truncated'), a human description, and the byte offset within the packet. */
  errorCode = '';
  errorMessage = '';
  errorOffset = -1;
  /** Non-IP EtherType seen (for NOT_IP), -1 otherwise. */
  etherType = -1;
  /** The tunnel depth limit stopped decapsulation. */
  depthLimited = false;
  /**
   * A tunnel header found after the last valid layer whose inner packet yields no layer (ARP or a
   * malformed frame inside VXLAN, say): the last layer still carried that tunnel. NONE otherwise.
   */
  innerTunnel: TunnelKind = TunnelKind.NONE;
  /**
   * Leading layers that repeat the previous decode of the same frame: an 802.11 A-MSDU carries
   * several packets, delivered one per decode with the layers that carried them (0 otherwise).
   * Those layers were counted with the first packet and must not be counted again.
   */
  repeated = 0;

  constructor(readonly maxDepth: number) {
    this.layers = [];
    for (let i = 0; i < maxDepth; i++) this.layers.push(new FlowLayer());
  }
}

const EMPTY = Buffer.alloc(0);
