/**
 * Link layers: Ethernet (with stacked 802.1Q/802.1ad tags), Linux cooked v1/v2, raw IP,
 * BSD null/loop. Results go into a reused LinkInfo (no per-packet objects).
 */
import type { DecodedPacket } from './layers';
import { fail } from './errors';

export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;
export const ETH_TEB = 0x6558; // transparent Ethernet bridging

/** Outcome of link decoding. */
export enum Link {
  IPV4 = 4,
  IPV6 = 6,
  NOT_IP = 1,
  MALFORMED = 2,
  UNSUPPORTED = 3,
}

/** Scratch result of a link-layer decode; absolute offsets into the buffer. */
export class LinkInfo {
  l3Off = 0;
  etherType = -1;
  srcMacOff = -1;
  dstMacOff = -1;
  vlan = -1;
  innerVlan = -1;

  clear(): void {
    this.l3Off = 0;
    this.etherType = -1;
    this.srcMacOff = -1;
    this.dstMacOff = -1;
    this.vlan = -1;
    this.innerVlan = -1;
  }
}

/** More tags than this is not a real network; stop rather than walk a crafted chain. */
const MAX_VLAN_TAGS = 8;

function isVlanTpid(t: number): boolean {
  return t === 0x8100 || t === 0x88a8 || t === 0x9100 || t === 0x9200;
}

/**
 * Walks VLAN tags starting with EtherType `type` whose tag begins at `off`; then classifies
 * the final EtherType. `base` turns absolute offsets into packet offsets for errors.
 */
function finishEtherType(buf: Buffer, type: number, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  let tags = 0;
  while (isVlanTpid(type)) {
    if (off + 4 > end) {
      fail(out, 'vlan-tag-truncated', `802.1Q/802.1ad tag truncated: 4 bytes needed, ${end - off} captured`, off - base);
      return Link.MALFORMED;
    }
    if (++tags > MAX_VLAN_TAGS) {
      fail(out, 'vlan-too-many-tags', `more than ${MAX_VLAN_TAGS} stacked VLAN tags`, off - base);
      return Link.MALFORMED;
    }
    const id = buf.readUInt16BE(off) & 0x0fff;
    if (li.vlan < 0) li.vlan = id;
    else if (li.innerVlan < 0) li.innerVlan = id;
    type = buf.readUInt16BE(off + 2);
    off += 4;
  }
  li.etherType = type;
  li.l3Off = off;
  if (type === ETH_IPV4) return Link.IPV4;
  if (type === ETH_IPV6) return Link.IPV6;
  return Link.NOT_IP;
}

/** Ethernet II frame at `off`. 802.3 length-field frames (<= 1500) are NOT_IP with that value as etherType. */
export function decodeEthernet(buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket, base: number): Link {
  if (off + 14 > end) {
    fail(out, 'ethernet-header-truncated', `Ethernet header truncated: 14 bytes needed, ${end - off} captured`, off - base);
    return Link.MALFORMED;
  }
  li.dstMacOff = off;
  li.srcMacOff = off + 6;
  return finishEtherType(buf, buf.readUInt16BE(off + 12), off + 14, end, li, out, base);
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
 * Decodes the link header of a captured frame of `linktype` at [off, end).
 * On MALFORMED, `out` carries the error.
 */
export function decodeLink(linktype: number, buf: Buffer, off: number, end: number, li: LinkInfo, out: DecodedPacket): Link {
  li.clear();
  const base = off;
  switch (linktype) {
    case 1: // ETHERNET
      return decodeEthernet(buf, off, end, li, out, base);
    case 101: // RAW
      return rawIp(buf, off, end, li, out, base);
    case 228: // IPV4
      li.l3Off = off;
      li.etherType = ETH_IPV4;
      return Link.IPV4;
    case 229: // IPV6
      li.l3Off = off;
      li.etherType = ETH_IPV6;
      return Link.IPV6;
    case 113: {
      // LINUX_SLL: type(2) hatype(2) halen(2) addr(8) protocol(2)
      if (off + 16 > end) {
        fail(out, 'sll-header-truncated', `Linux cooked (SLL) header truncated: 16 bytes needed, ${end - off} captured`, 0);
        return Link.MALFORMED;
      }
      // ARPHRD_ETHER with a 6-byte address: that is the sender's MAC.
      if (buf.readUInt16BE(off + 2) === 1 && buf.readUInt16BE(off + 4) === 6) li.srcMacOff = off + 6;
      return finishEtherType(buf, buf.readUInt16BE(off + 14), off + 16, end, li, out, base);
    }
    case 276: {
      // LINUX_SLL2: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
      if (off + 20 > end) {
        fail(out, 'sll2-header-truncated', `Linux cooked v2 (SLL2) header truncated: 20 bytes needed, ${end - off} captured`, 0);
        return Link.MALFORMED;
      }
      if (buf.readUInt16BE(off + 8) === 1 && buf[off + 11] === 6) li.srcMacOff = off + 12;
      return finishEtherType(buf, buf.readUInt16BE(off), off + 20, end, li, out, base);
    }
    case 0: {
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
    case 108: {
      if (off + 4 > end) {
        fail(out, 'loop-header-truncated', `OpenBSD loopback header truncated: 4 bytes needed, ${end - off} captured`, 0);
        return Link.MALFORMED;
      }
      return afToLink(buf.readUInt32BE(off), off + 4, li);
    }
    default:
      return Link.UNSUPPORTED;
  }
}
