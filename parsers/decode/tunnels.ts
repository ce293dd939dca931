/**
 * Tunnel headers and what they carry: VXLAN, Geneve, GRE (v0 with ERSPAN I/II/III, MPLS and
 * Aruba 802.11 payloads; v1 PPTP), Teredo, AYIYA and GTPv1-U, plus the payload sniffing Zeek uses
 * to find Teredo and AYIYA on any UDP port. IP-in-IP needs no header of its own and is handled by
 * the decoder. Parsers read only below `end` and fill a reused TunnelInfo.
 */
import { type DecodedPacket, TunnelKind } from './layers';
import { fail } from './errors';
import { ETH_IPV4, ETH_IPV6, ETH_MPLS, ETH_TEB } from './link';

/** What the tunnel carries. */
// biome-ignore lint/suspicious/noConstEnum: read per packet; tsc (our only compiler here) inlines the values, a plain enum is two property loads per use
export const enum Inner {
  /** Nothing we decode further (unknown payload type, control packet): stop, status OK. */
  NONE = 0,
  ETHERNET = 1,
  IPV4 = 4,
  IPV6 = 6,
  /** An MPLS label stack, then IP. */
  MPLS = 7,
  /** An 802.11 frame (Aruba's GRE). */
  IEEE80211 = 8,
  MALFORMED = 9,
  /** A tunnel, but the depth limit stops decapsulation (decoder only). */
  DEPTH = 10,
}

/** Scratch result of a tunnel header parse. */
export class TunnelInfo {
  kind: TunnelKind = TunnelKind.NONE;
  id = -1;
  innerOff = 0;
}

function etherTypeToInner(t: number): Inner {
  if (t === ETH_IPV4) return Inner.IPV4;
  if (t === ETH_IPV6) return Inner.IPV6;
  if (t === ETH_TEB) return Inner.ETHERNET;
  if (t === ETH_MPLS) return Inner.MPLS;
  return Inner.NONE;
}

/** IPv4/IPv6 by the version nibble at `off`. */
function ipVersionAt(buf: Buffer, off: number, end: number): Inner {
  if (off >= end) return Inner.NONE;
  const v = buf[off] >> 4;
  if (v === 4) return Inner.IPV4;
  if (v === 6) return Inner.IPV6;
  return Inner.NONE;
}

/**
 * Whether the IP packet at `off` fills [off, end) exactly, as Zeek's Teredo and GTP analyzers
 * demand of what they decapsulate (a packet cut short or followed by other bytes is a protocol
 * violation there). `v` is its version.
 */
function ipFillsPayload(buf: Buffer, off: number, end: number, v: Inner): boolean {
  const avail = end - off;
  if (v === Inner.IPV4) return avail >= 20 && buf.readUInt16BE(off + 2) === avail;
  return avail >= 40 && 40 + buf.readUInt16BE(off + 4) === avail;
}

/**
 * VXLAN header at `off` (UDP payload; `end` = captured end of that payload). The I flag says the
 * VNI is valid; without it this is not a VXLAN packet we can attribute, so we stop.
 */
export function parseVxlan(buf: Buffer, off: number, end: number, ti: TunnelInfo, out: DecodedPacket, base: number): Inner {
  if (off + 8 > end) {
    fail(out, 'vxlan-header-truncated', `VXLAN header truncated: 8 bytes needed, ${Math.max(0, end - off)} available`, off - base);
    return Inner.MALFORMED;
  }
  if ((buf[off] & 0x08) === 0) return Inner.NONE;
  ti.kind = TunnelKind.VXLAN;
  ti.id = (buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6];
  ti.innerOff = off + 8;
  return Inner.ETHERNET;
}

/** Geneve (RFC 8926) at `off`: version 0 only; options skipped by their length. */
export function parseGeneve(buf: Buffer, off: number, end: number, ti: TunnelInfo, out: DecodedPacket, base: number): Inner {
  if (off + 8 > end) {
    fail(out, 'geneve-header-truncated', `Geneve header truncated: 8 bytes needed, ${Math.max(0, end - off)} available`, off - base);
    return Inner.MALFORMED;
  }
  if (buf[off] >> 6 !== 0) return Inner.NONE;
  const optLen = (buf[off] & 0x3f) << 2;
  if (off + 8 + optLen > end) {
    fail(out, 'geneve-options-truncated', `Geneve options truncated: ${optLen} bytes declared, ${Math.max(0, end - off - 8)} available`, off - base);
    return Inner.MALFORMED;
  }
  ti.kind = TunnelKind.GENEVE;
  ti.id = (buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6];
  ti.innerOff = off + 8 + optLen;
  return etherTypeToInner(buf.readUInt16BE(off + 2));
}

/** Aruba's GRE protocol types for 802.11 frames from its access points (as Zeek lists them). */
function isArubaProto(p: number): boolean {
  return ((p & 0xff0f) === 0x8200 && p <= 0x82f0) || ((p & 0xff0f) === 0x8300 && p <= 0x8370) || p === 0x9000;
}

/**
 * GRE at `off` (the IP or UDP payload; `end` = its captured end). The header is 4 bytes plus 4
 * for each of the checksum (C), key (K), sequence (S) and acknowledgement (A) flags, as Zeek
 * counts it; routing (R, RFC 1701) and the reserved flag bits are not decoded.
 * Version 0 (RFC 2784/2890): the key is the tunnel id. Protocol types: IPv4, IPv6, Ethernet
 * (0x6558), MPLS (0x8847), ERSPAN type I (0x88BE without S: no header) and II (0x88BE with S:
 * 8-byte header), ERSPAN type III (0x22EB: 12 bytes, plus 8 when its O bit is set), Aruba 802.11.
 * Version 1 (RFC 2637, PPTP): key is payload length + call id (the tunnel id); payload is PPP,
 * and only PPP protocol 0x0021 (IPv4) / 0x0057 (IPv6) is followed.
 */
export function parseGre(buf: Buffer, off: number, end: number, ti: TunnelInfo, out: DecodedPacket, base: number): Inner {
  if (off + 4 > end) {
    fail(out, 'gre-header-truncated', `GRE header truncated: 4 bytes needed, ${Math.max(0, end - off)} available`, off - base);
    return Inner.MALFORMED;
  }
  const flags = buf.readUInt16BE(off);
  const proto = buf.readUInt16BE(off + 2);
  const version = flags & 0x7;
  ti.kind = TunnelKind.GRE;
  ti.id = -1;
  if (version > 1 || (flags & 0x4000) !== 0 || (flags & 0x0078) !== 0) return Inner.NONE;
  let p = off + 4;
  if (flags & 0x8000) p += 4;
  const keyOff = p;
  if (flags & 0x2000) p += 4;
  const seq = (flags & 0x1000) !== 0;
  if (seq) p += 4;
  if (flags & 0x0080) p += 4;
  if (p > end) {
    fail(out, 'gre-header-truncated', `GRE header truncated: ${p - off} bytes needed, ${end - off} available`, off - base);
    return Inner.MALFORMED;
  }
  if (version === 0) {
    if (flags & 0x2000) ti.id = buf.readUInt32BE(keyOff);
    if (proto === 0x88be) {
      // ERSPAN: type II marks itself with the sequence number; type I has no header at all.
      if (seq) {
        if (p + 8 > end) {
          fail(out, 'erspan-header-truncated', `ERSPAN II header truncated: 8 bytes needed, ${end - p} available`, p - base);
          return Inner.MALFORMED;
        }
        p += 8;
      }
      ti.innerOff = p;
      return Inner.ETHERNET;
    }
    if (proto === 0x22eb) {
      if (p + 12 > end) {
        fail(out, 'erspan-header-truncated', `ERSPAN III header truncated: 12 bytes needed, ${end - p} available`, p - base);
        return Inner.MALFORMED;
      }
      const sub = (buf[p + 11] & 0x01) !== 0 ? 8 : 0;
      if (p + 12 + sub > end) {
        fail(out, 'erspan-header-truncated', 'ERSPAN III platform-specific subheader truncated', p - base);
        return Inner.MALFORMED;
      }
      ti.innerOff = p + 12 + sub;
      return Inner.ETHERNET;
    }
    ti.innerOff = p;
    if (isArubaProto(proto)) return Inner.IEEE80211;
    return etherTypeToInner(proto);
  }
  // PPTP enhanced GRE: K must be set.
  if ((flags & 0x2000) === 0 || proto !== 0x880b) return Inner.NONE;
  const payloadLen = buf.readUInt16BE(off + 4);
  ti.id = buf.readUInt16BE(off + 6);
  if (payloadLen === 0) return Inner.NONE; // acknowledgement only
  // PPP: optional address/control 0xff 0x03, then a 1-byte (compressed, odd) or 2-byte protocol.
  if (p + 2 <= end && buf[p] === 0xff && buf[p + 1] === 0x03) p += 2;
  if (p >= end) return Inner.NONE;
  let pppProto: number;
  if (buf[p] & 1) {
    pppProto = buf[p];
    p += 1;
  } else {
    if (p + 2 > end) return Inner.NONE;
    pppProto = buf.readUInt16BE(p);
    p += 2;
  }
  ti.innerOff = p;
  if (pppProto === 0x21) return Inner.IPV4;
  if (pppProto === 0x57) return Inner.IPV6;
  return Inner.NONE;
}

/**
 * Teredo (RFC 4380) at `off`: optional authentication and origin indication headers (at most
 * one each, authentication first), then an IPv6 packet that must fill the datagram, except a
 * bubble (no next header, empty payload) that may carry trailing bytes. Anything else is not
 * Teredo (NONE): Zeek treats it as a protocol violation, not a broken packet.
 */
export function parseTeredo(buf: Buffer, off: number, end: number, ti: TunnelInfo): Inner {
  let p = off;
  let origin = false;
  let auth = false;
  for (;;) {
    if (p + 2 > end) return Inner.NONE;
    const tag = buf.readUInt16BE(p);
    if (tag === 0) {
      if (origin || p + 8 > end) return Inner.NONE;
      origin = true;
      p += 8;
    } else if (tag === 1) {
      if (origin || auth || p + 4 > end) return Inner.NONE;
      const len = 4 + buf[p + 2] + buf[p + 3] + 8 + 1; // ids, nonce, confirmation byte
      if (p + len > end) return Inner.NONE;
      auth = true;
      p += len;
    } else if (buf[p] >> 4 === 6) {
      if (p + 40 > end) return Inner.NONE;
      const plen = buf.readUInt16BE(p + 4);
      const avail = end - p;
      if (40 + plen > avail) return Inner.NONE;
      if (40 + plen < avail && !(plen === 0 && buf[p + 6] === 59)) return Inner.NONE;
      ti.kind = TunnelKind.TEREDO;
      ti.id = -1;
      ti.innerOff = p;
      return Inner.IPV6;
    } else {
      return Inner.NONE;
    }
  }
}

/** No newline in [from, to): what the regular expression `.` of Zeek's Teredo signature needs. */
function noNewline(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] === 0x0a) return false;
  return true;
}

/** 2001:0000::/32, the Teredo prefix, at `i`. */
function teredoPrefixAt(buf: Buffer, i: number): boolean {
  return buf[i] === 0x20 && buf[i + 1] === 0x01 && buf[i + 2] === 0 && buf[i + 3] === 0;
}

/**
 * Zeek's Teredo detection on a UDP payload of any port: an IPv6 header whose source or destination
 * is a Teredo address (its signature), or an authentication and/or origin indication header in
 * front of an IPv6 header. `len` is the payload's captured length.
 */
export function detectTeredo(buf: Buffer, off: number, len: number): boolean {
  if (len < 40) return false;
  const b0 = buf[off];
  const b1 = buf[off + 1];
  if (b0 >> 4 !== 6 && (b0 !== 0 || (b1 !== 0 && b1 !== 1))) return false;
  if (b0 >> 4 === 6) {
    if (teredoPrefixAt(buf, off + 8) && noNewline(buf, off + 1, off + 8) && noNewline(buf, off + 12, off + 40)) return true;
    if (teredoPrefixAt(buf, off + 24) && noNewline(buf, off + 1, off + 24) && noNewline(buf, off + 28, off + 40)) return true;
  }
  let p = off;
  let rest = len;
  let val = b1;
  if (val === 1) {
    const skip = 13 + buf[p + 2] + buf[p + 3];
    if (rest < skip) return false;
    p += skip;
    rest -= skip;
    if (rest < 40) return false;
    val = buf.readUInt16BE(p);
  }
  if (val === 0) {
    if (rest < 8 + 40) return false;
    return buf[p + 8] >> 4 === 6;
  }
  return false;
}

/**
 * AYIYA at `off`: 8 bytes, plus the identity (2^n bytes) and signature (4n bytes) its first two
 * bytes size. Only the "forward" opcode (1) carries a packet, named by the next-header byte:
 * IPv4 (4) or IPv6 (41).
 */
export function parseAyiya(buf: Buffer, off: number, end: number, ti: TunnelInfo): Inner {
  if (off + 8 > end) return Inner.NONE;
  const hdr = 8 + (1 << (buf[off] >> 4)) + (buf[off + 1] >> 4) * 4;
  if (off + hdr >= end) return Inner.NONE; // truncated, or a header with no packet after it
  if ((buf[off + 2] & 0x0f) !== 1) return Inner.NONE;
  const next = buf[off + 3];
  if (next !== 4 && next !== 41) return Inner.NONE;
  ti.kind = TunnelKind.AYIYA;
  ti.id = -1;
  ti.innerOff = off + hdr;
  return next === 4 ? Inner.IPV4 : Inner.IPV6;
}

/** Zeek's AYIYA detection on a UDP payload of any port. */
export function detectAyiya(buf: Buffer, off: number, len: number): boolean {
  return len >= 3 && buf[off + 1] === 0x52 && buf[off + 2] === 0x11;
}

/** Extension headers per G-PDU: each is at least 4 bytes, so the datagram bounds them too. */
const MAX_GTP_EXTENSIONS = 16;

/**
 * GTPv1-U at `off` (3GPP TS 29.281): version 1 with the protocol-type bit, message type 255
 * (G-PDU) carries a user packet; its TEID is the tunnel id. The sequence/N-PDU/next-extension
 * word follows when any of E, S, PN is set, and with E a chain of extension headers, each sized
 * by its first byte in 4-byte units and naming the next in its last. The user packet must be IP
 * and fill the datagram (Zeek's check); signalling messages and echo carry none.
 */
export function parseGtp(buf: Buffer, off: number, end: number, ti: TunnelInfo): Inner {
  if (off + 8 > end) return Inner.NONE;
  const f = buf[off];
  if (f >> 5 !== 1 || (f & 0x10) === 0 || buf[off + 1] !== 255) return Inner.NONE;
  let p = off + 8;
  if (f & 0x07) {
    if (p + 4 > end) return Inner.NONE;
    let next = buf[p + 3];
    p += 4;
    if (f & 0x04) {
      for (let n = 0; next !== 0; n++) {
        if (n >= MAX_GTP_EXTENSIONS || p >= end) return Inner.NONE;
        const len = buf[p] << 2;
        if (len === 0 || p + len > end) return Inner.NONE;
        next = buf[p + len - 1];
        p += len;
      }
    }
  }
  const v = ipVersionAt(buf, p, end);
  if (v === Inner.NONE || !ipFillsPayload(buf, p, end, v)) return Inner.NONE;
  ti.kind = TunnelKind.GTP;
  ti.id = buf.readUInt32BE(off + 4);
  ti.innerOff = p;
  return v;
}
