/**
 * Link layers and the layer-2 shims between a frame and its IP packet: Ethernet (Cisco FabricPath,
 * 802.1Q/802.1ad tags, MPLS label stacks, PPPoE sessions, PBB 802.1ah, VN-Tag, 802.3 LLC/SNAP),
 * Linux cooked v1/v2, raw IP, BSD null/loop, Linux NFLOG, PPP (plain, HDLC-framed, Cisco HDLC,
 * PPPoE without Ethernet), and 802.11 with or without a radiotap header (LLC/SNAP, A-MSDU). Each decoder fills
 * a reused LinkInfo (no per-packet objects) and returns what the payload is.
 */
import type { DecodedPacket } from './layers';
import { fail } from './errors';
import { LinkType } from '../capture/types';

export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;
export const ETH_TEB = 0x6558; // transparent Ethernet bridging
export const ETH_MPLS = 0x8847;
const ETH_MPLS_MCAST = 0x8848;
const ETH_FABRICPATH = 0x8903;
const ETH_PPPOE_SESSION = 0x8864;
const ETH_PBB = 0x88e7;
const ETH_VNTAG = 0x8926;

/** Ethernet, the common case, tested before the switch: a module constant, not a property load per packet. */
const LT_ETHERNET = LinkType.ETHERNET;

/** PPP protocol numbers (RFC 1661 / IANA) that carry something we decode. */
const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
const PPP_MPLS = 0x0281;
const PPP_MPLS_MCAST = 0x0283;

/** Outcome of link decoding. */
// biome-ignore lint/suspicious/noConstEnum: read per packet; tsc (our only compiler here) inlines the values, a plain enum is two property loads per use
export const enum Link {
  IPV4 = 4,
  IPV6 = 6,
  NOT_IP = 1,
  MALFORMED = 2,
  UNSUPPORTED = 3,
}

/** Scratch result of a link-layer decode; absolute offsets into the buffer. */
export class LinkInfo {
  l3Off = 0;
  /** The EtherType (or, on PPP links, the PPP protocol number) that named the payload. */
  etherType = -1;
  srcMacOff = -1;
  dstMacOff = -1;
  vlan = -1;
  innerVlan = -1;
  /**
   * 802.11 A-MSDU: where the next subframe header starts and where the aggregate ends; -1 when
   * the frame holds no further subframe. The decoder walks them one packet at a time.
   */
  amsduNext = -1;
  amsduEnd = -1;
  /**
   * Where the layer-3 payload ends by the link's own length field, when it has one and it ends
   * before the captured frame (PPPoE's payload length); -1: the frame's end. Zeek hands the IP
   * layer only that much: bytes past it (padding the frame still carries) count as not captured.
   */
  l3CapEnd = -1;

  clear(): void {
    this.l3Off = 0;
    this.etherType = -1;
    this.srcMacOff = -1;
    this.dstMacOff = -1;
    this.vlan = -1;
    this.innerVlan = -1;
    this.amsduNext = -1;
    this.amsduEnd = -1;
    this.l3CapEnd = -1;
  }
}

/**
 * Shim headers (VLAN tags, PBB, VN-Tag, SNAP) walked before the payload's EtherType is final.
 * Each takes at least 4 bytes, so the packet length bounds the walk anyway; this stops a crafted
 * chain early with a clear error.
 */
const MAX_SHIMS = 16;
/** MPLS labels per stack, same reasoning (RFC 3032 sets no limit; real stacks hold a handful). */
const MAX_MPLS_LABELS = 16;

function isVlanTpid(t: number): boolean {
  return t === 0x8100 || t === 0x88a8 || t === 0x9100 || t === 0x9200;
}

/** First nibble at `off` decides IPv4/IPv6 (payloads that do not name their protocol: MPLS, raw links). */
function ipByNibble(buf: Buffer, off: number, end: number, li: LinkInfo): Link {
  li.l3Off = off;
  if (off >= end) return Link.NOT_IP;
  const v = buf[off] >> 4;
  if (v === 4) return Link.IPV4;
  if (v === 6) return Link.IPV6;
  return Link.NOT_IP;
}

/**
 * MPLS label stack at `off` (RFC 3032): labels up to the bottom-of-stack bit, then the payload,
 * which names no protocol: like Zeek, IPv4/IPv6 by the version nibble, anything else (pseudowires)
 * is not IP.
 */
export function decodeMpls(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  for (let n = 0; ; n++) {
    if (off + 4 > end) {
      fail(out, 'mpls-label-truncated', `MPLS label stack entry truncated: 4 bytes needed, ${Math.max(0, end - off)} captured`, off - base);
      return Link.MALFORMED;
    }
    if (n >= MAX_MPLS_LABELS) {
      fail(out, 'mpls-too-many-labels', `more than ${MAX_MPLS_LABELS} MPLS labels without bottom of stack`, off - base);
      return Link.MALFORMED;
    }
    const bottom = (buf[off + 2] & 0x01) !== 0;
    off += 4;
    if (bottom) break;
  }
  li.etherType = ETH_MPLS;
  return ipByNibble(buf, off, end, li);
}

/** A PPP protocol number with its payload at `off`. */
function pppPayload(proto: number, buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  li.l3Off = off;
  li.etherType = proto;
  if (proto === PPP_IPV4) return Link.IPV4;
  if (proto === PPP_IPV6) return Link.IPV6;
  if (proto === PPP_MPLS || proto === PPP_MPLS_MCAST) return decodeMpls(buf, off, end, li, out, base);
  return Link.NOT_IP; // LCP, IPCP, CHAP, ...
}

/**
 * Walks the shim headers from EtherType `type`, whose header begins at `off`, to the payload.
 * `base` turns absolute offsets into packet offsets for errors. VLAN ids as Zeek keeps them:
 * the first tag is `vlan`, each later one overwrites `innerVlan`.
 */
function walkEtherType(buf: Buffer, type: number, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  for (let shims = 0; ; shims++) {
    // Plain IP first: the common case pays for one comparison.
    if (type === ETH_IPV4) {
      li.etherType = type;
      li.l3Off = off;
      return Link.IPV4;
    }
    if (type === ETH_IPV6) {
      li.etherType = type;
      li.l3Off = off;
      return Link.IPV6;
    }
    if (shims >= MAX_SHIMS) {
      fail(out, 'link-too-many-headers', `more than ${MAX_SHIMS} stacked VLAN/PBB/VN-Tag/SNAP headers`, off - base);
      return Link.MALFORMED;
    }
    if (isVlanTpid(type)) {
      if (off + 4 > end) {
        fail(out, 'vlan-tag-truncated', `802.1Q/802.1ad tag truncated: 4 bytes needed, ${Math.max(0, end - off)} captured`, off - base);
        return Link.MALFORMED;
      }
      const id = buf.readUInt16BE(off) & 0x0fff;
      if (li.vlan < 0) li.vlan = id;
      else li.innerVlan = id;
      type = buf.readUInt16BE(off + 2);
      off += 4;
      continue;
    }
    switch (type) {
      case ETH_MPLS:
      case ETH_MPLS_MCAST:
        return decodeMpls(buf, off, end, li, out, base);
      case ETH_PPPOE_SESSION: {
        // ver/type(1) code(1) session(2) length(2), then the PPP protocol (2).
        if (off + 8 > end) {
          fail(out, 'pppoe-header-truncated', `PPPoE session header truncated: 8 bytes needed, ${Math.max(0, end - off)} captured`, off - base);
          return Link.MALFORMED;
        }
        pppoeLength(buf, off, end, li);
        return pppPayload(buf.readUInt16BE(off + 6), buf, off + 8, end, li, out, base);
      }
      case ETH_PBB: {
        // 802.1ah I-TAG (4 bytes: flags + I-SID), then the customer's MACs and EtherType.
        if (off + 18 > end) {
          fail(
            out,
            'pbb-header-truncated',
            `PBB (802.1ah) I-TAG and customer header truncated: 18 bytes needed, ${Math.max(0, end - off)} captured`,
            off - base,
          );
          return Link.MALFORMED;
        }
        li.dstMacOff = off + 4;
        li.srcMacOff = off + 10;
        type = buf.readUInt16BE(off + 16);
        off += 18;
        continue;
      }
      case ETH_VNTAG: {
        // Cisco VN-Tag: 4 bytes of tag, then the EtherType.
        if (off + 6 > end) {
          fail(out, 'vntag-header-truncated', `VN-Tag header truncated: 6 bytes needed, ${Math.max(0, end - off)} captured`, off - base);
          return Link.MALFORMED;
        }
        type = buf.readUInt16BE(off + 4);
        off += 6;
        continue;
      }
      default:
        break;
    }
    if (type <= 1500) {
      // 802.3 length field (or, in Linux cooked captures, an 802.2 frame type): only SNAP with
      // OUI 0 names an EtherType; plain LLC and Novell raw carry no IP.
      const len = type;
      if (off + 3 <= end && buf[off] === 0xaa && buf[off + 1] === 0xaa) {
        // An unnumbered control field is 1 byte, others 2.
        const llcLen = (buf[off + 2] & 0x03) === 0x03 ? 3 : 4;
        const p = off + llcLen;
        if (p + 5 > end) {
          fail(out, 'snap-header-truncated', `802.2 SNAP header truncated: ${llcLen + 5} bytes needed, ${end - off} captured`, off - base);
          return Link.MALFORMED;
        }
        if (buf[p] === 0 && buf[p + 1] === 0 && buf[p + 2] === 0) {
          type = buf.readUInt16BE(p + 3);
          off = p + 5;
          continue;
        }
      }
      li.etherType = len;
      li.l3Off = off;
      return Link.NOT_IP;
    }
    li.etherType = type;
    li.l3Off = off;
    return Link.NOT_IP;
  }
}

/**
 * Ethernet II frame at `off`. A Cisco FabricPath header (EtherType 0x8903) is skipped to the
 * frame it carries, as Zeek does; the MACs are then the inner frame's. 802.3 length-field frames
 * (<= 1500) are NOT_IP with that value as etherType unless SNAP names IP.
 */
export function decodeEthernet(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  if (off + 14 > end) {
    fail(out, 'ethernet-header-truncated', `Ethernet header truncated: 14 bytes needed, ${Math.max(0, end - off)} captured`, off - base);
    return Link.MALFORMED;
  }
  let type = buf.readUInt16BE(off + 12);
  if (type === ETH_FABRICPATH) {
    // FabricPath: outer DA/SA, EtherType, FTag/TTL (16 bytes), then the classic Ethernet frame.
    if (off + 16 + 14 > end) {
      fail(out, 'fabricpath-header-truncated', `Cisco FabricPath frame truncated: 30 bytes needed, ${end - off} captured`, off - base);
      return Link.MALFORMED;
    }
    off += 16;
    type = buf.readUInt16BE(off + 12);
  }
  li.dstMacOff = off;
  li.srcMacOff = off + 6;
  // Untagged IPv4 without a call into the shim walk: the bulk of all traffic.
  if (type === ETH_IPV4) {
    li.etherType = type;
    li.l3Off = off + 14;
    return Link.IPV4;
  }
  return walkEtherType(buf, type, off + 14, end, li, out, base);
}

/** First nibble decides; anything else is not IP. */
function rawIp(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  li.l3Off = off;
  if (off >= end) {
    fail(out, 'raw-ip-empty', 'raw IP packet has no bytes', off - base);
    return Link.MALFORMED;
  }
  const v = buf[off] >> 4;
  if (v === 4) {
    li.etherType = ETH_IPV4;
    return Link.IPV4;
  }
  if (v === 6) {
    li.etherType = ETH_IPV6;
    return Link.IPV6;
  }
  fail(out, 'raw-ip-bad-version', `raw IP packet with IP version ${v}`, off - base);
  return Link.MALFORMED;
}

/** AF_ values: 2 is AF_INET everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS), 10 (Linux). */
function afToLink(af: number, off: number, li: LinkInfo): Link {
  li.l3Off = off;
  if (af === 2) {
    li.etherType = ETH_IPV4;
    return Link.IPV4;
  }
  if (af === 24 || af === 28 || af === 30 || af === 10) {
    li.etherType = ETH_IPV6;
    return Link.IPV6;
  }
  li.etherType = af;
  return Link.NOT_IP;
}

/**
 * LINKTYPE_PPP (9): PPP in HDLC-like framing when it starts with address/control 0xff 0x03,
 * else a bare PPP header; the protocol field may be compressed to one (odd) byte (RFC 1661).
 */
function decodePpp(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  let p = off;
  if (p + 2 <= end && buf[p] === 0xff && buf[p + 1] === 0x03) p += 2;
  if (p + 1 > end || ((buf[p] & 1) === 0 && p + 2 > end)) {
    fail(out, 'ppp-header-truncated', `PPP header truncated: ${Math.max(0, end - off)} bytes captured`, off - base);
    return Link.MALFORMED;
  }
  if (buf[p] & 1) return pppPayload(buf[p], buf, p + 1, end, li, out, base);
  return pppPayload(buf.readUInt16BE(p), buf, p + 2, end, li, out, base);
}

/**
 * LINKTYPE_PPP_HDLC (50, "PPP_SERIAL"): address, control, 2-byte protocol. Captures of serial
 * links mix in Cisco HDLC frames (address 0x0f unicast / 0x8f broadcast) whose protocol field is
 * an EtherType; LINKTYPE_C_HDLC (104) holds only those.
 */
function decodePppSerial(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number, ciscoOnly: boolean): Link {
  if (off + 4 > end) {
    fail(out, ciscoOnly ? 'chdlc-header-truncated' : 'ppp-serial-header-truncated', `HDLC header truncated: 4 bytes needed, ${end - off} captured`, off - base);
    return Link.MALFORMED;
  }
  const proto = buf.readUInt16BE(off + 2);
  if (ciscoOnly || buf[off] === 0x0f || buf[off] === 0x8f) return walkEtherType(buf, proto, off + 4, end, li, out, base);
  return pppPayload(proto, buf, off + 4, end, li, out, base);
}

/** LINKTYPE_PPP_ETHER (51): a PPPoE header without the Ethernet frame around it. */
function decodePppEther(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  if (off + 8 > end) {
    fail(out, 'pppoe-header-truncated', `PPPoE session header truncated: 8 bytes needed, ${end - off} captured`, off - base);
    return Link.MALFORMED;
  }
  pppoeLength(buf, off, end, li);
  return pppPayload(buf.readUInt16BE(off + 6), buf, off + 8, end, li, out, base);
}

/**
 * PPPoE's length field (RFC 2516: the payload after the 6-byte header, the PPP protocol number
 * included) bounds what follows, as Zeek's PPPoE analyzer bounds it (pppoe-over-qinq.pcap: a
 * segment whose IP total length runs 6 bytes past it into zero padding is counted, its payload
 * not delivered).
 */
function pppoeLength(buf: Buffer, off: number, end: number, li: LinkInfo): void {
  const payloadEnd = off + 6 + Math.max(buf.readUInt16BE(off + 4), 2);
  if (payloadEnd < end) li.l3CapEnd = payloadEnd;
}

/**
 * 802.2 LLC/SNAP as 802.11 carries it (RFC 1042): AA AA 03 00 00 00, then the EtherType. Other
 * LLC payloads carry nothing we decode.
 */
function snap80211(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  if (off + 8 > end) {
    fail(out, 'wlan-llc-truncated', `802.11 LLC/SNAP header truncated: 8 bytes needed, ${Math.max(0, end - off)} available`, off - base);
    return Link.MALFORMED;
  }
  if (buf[off] !== 0xaa || buf[off + 1] !== 0xaa || buf[off + 2] !== 0x03 || buf[off + 3] !== 0 || buf[off + 4] !== 0 || buf[off + 5] !== 0) {
    li.l3Off = off;
    return Link.NOT_IP;
  }
  return walkEtherType(buf, buf.readUInt16BE(off + 6), off + 8, end, li, out, base);
}

/**
 * One A-MSDU subframe at `off` (DA, SA, length, then LLC/SNAP and the MSDU), bounded by `end`.
 * Records where the next subframe starts (each but the last is padded to 4 bytes) in `li`.
 */
export function decodeAmsduSubframe(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  li.amsduNext = -1;
  if (off + 14 > end) {
    fail(out, 'wlan-amsdu-header-truncated', `802.11 A-MSDU subframe header truncated: 14 bytes needed, ${end - off} available`, off - base);
    return Link.MALFORMED;
  }
  const len = buf.readUInt16BE(off + 12);
  const msduEnd = off + 14 + len;
  if (msduEnd > end) {
    fail(out, 'wlan-amsdu-subframe-truncated', `802.11 A-MSDU subframe of ${len} bytes runs past the frame (${end - off - 14} available)`, off - base);
    return Link.MALFORMED;
  }
  // What follows the subframe: padding to a multiple of 4, then the next subframe; a tail too
  // short for a subframe header (the last subframe, a trailing FCS) ends the aggregate.
  const next = msduEnd + ((4 - ((14 + len) & 3)) & 3);
  if (next + 14 <= end) {
    li.amsduNext = next;
    li.amsduEnd = end;
  }
  return snap80211(buf, off + 14, msduEnd, li, out, base);
}

/**
 * 802.11 frame at `off` (LINKTYPE_IEEE802_11 105, after radiotap, or inside Aruba GRE). Only
 * data frames with data carry packets; management, control, null-data and protected (encrypted)
 * frames are NOT_IP. MACs follow the To-DS/From-DS bits (source and destination station, as Zeek
 * logs them). The QoS control field, an HT control field (+HTC, order bit) and the 4th address
 * are skipped; an A-MSDU yields its first subframe here and leaves the rest in `li`.
 */
export function decode80211(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  if (off + 24 > end) {
    fail(out, 'wlan-header-truncated', `802.11 header truncated: 24 bytes needed, ${Math.max(0, end - off)} captured`, off - base);
    return Link.MALFORMED;
  }
  const fc = buf[off];
  const flags = buf[off + 1];
  li.l3Off = off;
  // Type 2 (data) only; subtypes with bit 2 set (null data, CF-ack/poll without data) hold nothing.
  if ((fc & 0x0c) !== 0x08 || (fc & 0x40) !== 0) return Link.NOT_IP;
  const ds = flags & 0x03;
  let hl = ds === 0x03 ? 30 : 24;
  const qos = (fc & 0x80) !== 0;
  if (qos) hl += 2;
  if (qos && (flags & 0x80) !== 0) hl += 4; // +HTC: order bit on a QoS data frame
  if (off + hl > end) {
    fail(out, 'wlan-header-truncated', `802.11 data header truncated: ${hl} bytes needed, ${end - off} captured`, off - base);
    return Link.MALFORMED;
  }
  if ((flags & 0x40) !== 0) return Link.NOT_IP; // protected: encrypted payload
  switch (ds) {
    case 0x00:
      li.dstMacOff = off + 4;
      li.srcMacOff = off + 10;
      break;
    case 0x01:
      li.dstMacOff = off + 16;
      li.srcMacOff = off + 10;
      break;
    case 0x02:
      li.dstMacOff = off + 4;
      li.srcMacOff = off + 16;
      break;
    default:
      li.dstMacOff = off + 16;
      li.srcMacOff = off + 24;
      break;
  }
  const amsdu = qos && (buf[off + (ds === 0x03 ? 30 : 24)] & 0x80) !== 0;
  if (amsdu) return decodeAmsduSubframe(buf, off + hl, end, li, out, base);
  return snap80211(buf, off + hl, end, li, out, base);
}

/** Radiotap header (LINKTYPE_IEEE802_11_RADIOTAP 127): its little-endian length, then 802.11. */
function decodeRadiotap(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  if (off + 4 > end) {
    fail(out, 'radiotap-header-truncated', `radiotap header truncated: 4 bytes needed, ${end - off} captured`, off - base);
    return Link.MALFORMED;
  }
  const len = buf.readUInt16LE(off + 2);
  if (len < 8 || off + len > end) {
    fail(out, 'radiotap-bad-length', `radiotap header length ${len} does not fit the ${end - off} captured bytes`, off - base);
    return Link.MALFORMED;
  }
  return decode80211(buf, off + len, end, li, out, base);
}

/** NFULA_PAYLOAD: the TLV holding the logged packet. */
const NFULA_PAYLOAD = 9;

/**
 * LINKTYPE_NFLOG (239): family (AF_INET/AF_INET6), version 0, resource id, then TLVs whose length
 * (header included, padded to 4) and type are in the capturing host's byte order; the payload TLV
 * holds the packet. The byte order is read off the first TLV: types are small numbers.
 */
function decodeNflog(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  if (off + 4 > end) {
    fail(out, 'nflog-header-truncated', `NFLOG header truncated: 4 bytes needed, ${end - off} captured`, off - base);
    return Link.MALFORMED;
  }
  if (buf[off + 1] !== 0) {
    fail(out, 'nflog-bad-version', `NFLOG version ${buf[off + 1]}, only 0 is defined`, off - base);
    return Link.MALFORMED;
  }
  const family = buf[off];
  let p = off + 4;
  const le = p + 4 <= end && buf.readUInt16LE(p + 2) < 0x100;
  for (;;) {
    if (p + 4 > end) {
      fail(out, 'nflog-no-payload', 'NFLOG record ends without a packet payload TLV', p - base);
      return Link.MALFORMED;
    }
    const len = le ? buf.readUInt16LE(p) : buf.readUInt16BE(p);
    const type = le ? buf.readUInt16LE(p + 2) : buf.readUInt16BE(p + 2);
    if (type === NFULA_PAYLOAD) return afToLink(family, p + 4, li);
    if (len < 4) {
      fail(out, 'nflog-bad-tlv-length', `NFLOG TLV of type ${type} with length ${len} (< 4)`, p - base);
      return Link.MALFORMED;
    }
    p += (len + 3) & ~3;
  }
}

/**
 * Decodes the link header of a captured frame of `linktype` at [off, end).
 * On MALFORMED, `out` carries the error.
 */
export function decodeLink(linktype: number, buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket): Link {
  li.clear();
  const base = off;
  if (linktype === LT_ETHERNET) return decodeEthernet(buf, off, end, li, out, base);
  switch (linktype) {
    case LinkType.RAW:
      return rawIp(buf, off, end, li, out, base);
    case LinkType.IPV4:
      li.l3Off = off;
      li.etherType = ETH_IPV4;
      return Link.IPV4;
    case LinkType.IPV6:
      li.l3Off = off;
      li.etherType = ETH_IPV6;
      return Link.IPV6;
    case LinkType.LINUX_SLL: {
      // type(2) hatype(2) halen(2) addr(8) protocol(2)
      if (off + 16 > end) {
        fail(out, 'sll-header-truncated', `Linux cooked (SLL) header truncated: 16 bytes needed, ${end - off} captured`, 0);
        return Link.MALFORMED;
      }
      // ARPHRD_ETHER with a 6-byte address: that is the sender's MAC.
      if (buf.readUInt16BE(off + 2) === 1 && buf.readUInt16BE(off + 4) === 6) li.srcMacOff = off + 6;
      return walkEtherType(buf, buf.readUInt16BE(off + 14), off + 16, end, li, out, base);
    }
    case LinkType.LINUX_SLL2: {
      // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
      if (off + 20 > end) {
        fail(out, 'sll2-header-truncated', `Linux cooked v2 (SLL2) header truncated: 20 bytes needed, ${end - off} captured`, 0);
        return Link.MALFORMED;
      }
      if (buf.readUInt16BE(off + 8) === 1 && buf[off + 11] === 6) li.srcMacOff = off + 12;
      return walkEtherType(buf, buf.readUInt16BE(off), off + 20, end, li, out, base);
    }
    case LinkType.NULL: {
      // NULL: AF in the capturing host's byte order. AF values are small, so a value that
      // does not fit 16 bits read little-endian must have been written big-endian.
      if (off + 4 > end) {
        fail(out, 'null-header-truncated', `BSD loopback header truncated: 4 bytes needed, ${end - off} captured`, 0);
        return Link.MALFORMED;
      }
      let af = buf.readUInt32LE(off);
      if (af > 0xffff) af = buf.readUInt32BE(off);
      return afToLink(af, off + 4, li);
    }
    case LinkType.LOOP: {
      if (off + 4 > end) {
        fail(out, 'loop-header-truncated', `OpenBSD loopback header truncated: 4 bytes needed, ${end - off} captured`, 0);
        return Link.MALFORMED;
      }
      return afToLink(buf.readUInt32BE(off), off + 4, li);
    }
    case LinkType.PPP:
      return decodePpp(buf, off, end, li, out, base);
    case LinkType.PPP_HDLC:
      return decodePppSerial(buf, off, end, li, out, base, false);
    case LinkType.C_HDLC:
      return decodePppSerial(buf, off, end, li, out, base, true);
    case LinkType.PPP_ETHER:
      return decodePppEther(buf, off, end, li, out, base);
    case LinkType.IEEE802_11:
      return decode80211(buf, off, end, li, out, base);
    case LinkType.IEEE802_11_RADIOTAP:
      return decodeRadiotap(buf, off, end, li, out, base);
    case LinkType.NFLOG:
      return decodeNflog(buf, off, end, li, out, base);
    default:
      return Link.UNSUPPORTED;
  }
}
