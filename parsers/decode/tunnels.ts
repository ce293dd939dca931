/**
 * Tunnel headers: VXLAN, Geneve, GRE (v0 incl. ERSPAN II/III, v1 PPTP), and the inner
 * protocol they carry. IP-in-IP needs no header of its own and is handled by the decoder.
 */
import { type DecodedPacket, TunnelKind } from './layers';
import { fail } from './errors';
import { ETH_IPV4, ETH_IPV6, ETH_TEB } from './link';

/** What the tunnel carries. */
export enum Inner {
  /** Nothing we decode further (unknown payload type, control packet): stop, status OK. */
  NONE = 0,
  ETHERNET = 1,
  IPV4 = 4,
  IPV6 = 6,
  MALFORMED = 9,
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
  return Inner.NONE;
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

/**
 * GRE at `off` (the IP payload; `end` = its captured end).
 * Version 0 (RFC 2784/2890): C, K, S flags; key -> tunnel id. Routing present (RFC 1701 R bit)
 * is not decoded. ERSPAN II (0x88BE) and III (0x22EB) carry Ethernet after their own header.
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
  if (version === 0) {
    if (flags & 0x4000) return Inner.NONE; // source routing: obsolete, not decoded
    let p = off + 4;
    if (flags & 0x8000) p += 4; // checksum + reserved1
    if (flags & 0x2000) {
      if (p + 4 > end) {
        fail(out, 'gre-header-truncated', 'GRE header truncated in the key field', off - base);
        return Inner.MALFORMED;
      }
      ti.id = buf.readUInt32BE(p);
      p += 4;
    }
    if (flags & 0x1000) p += 4; // sequence number
    if (p > end) {
      fail(out, 'gre-header-truncated', `GRE header truncated: ${p - off} bytes needed, ${end - off} available`, off - base);
      return Inner.MALFORMED;
    }
    if (proto === 0x88be) {
      // ERSPAN type II: 8-byte header, then the mirrored Ethernet frame.
      if (p + 8 > end) {
        fail(out, 'erspan-header-truncated', 'ERSPAN II header truncated', p - base);
        return Inner.MALFORMED;
      }
      ti.innerOff = p + 8;
      return Inner.ETHERNET;
    }
    if (proto === 0x22eb) {
      // ERSPAN type III: 12-byte header, plus an 8-byte platform subheader when O is set.
      if (p + 12 > end) {
        fail(out, 'erspan-header-truncated', 'ERSPAN III header truncated', p - base);
        return Inner.MALFORMED;
      }
      ti.innerOff = p + 12 + ((buf[p + 11] & 0x01) !== 0 ? 8 : 0);
      return Inner.ETHERNET;
    }
    ti.innerOff = p;
    return etherTypeToInner(proto);
  }
  if (version === 1) {
    // PPTP enhanced GRE: K must be set; S and A (0x0080) add 4 bytes each.
    if ((flags & 0x2000) === 0 || proto !== 0x880b) return Inner.NONE;
    let p = off + 8;
    if (p > end) {
      fail(out, 'gre-header-truncated', 'PPTP GRE header truncated in the key field', off - base);
      return Inner.MALFORMED;
    }
    const payloadLen = buf.readUInt16BE(off + 4);
    ti.id = buf.readUInt16BE(off + 6);
    if (flags & 0x1000) p += 4;
    if (flags & 0x0080) p += 4;
    if (p > end) {
      fail(out, 'gre-header-truncated', `PPTP GRE header truncated: ${p - off} bytes needed, ${end - off} available`, off - base);
      return Inner.MALFORMED;
    }
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
  return Inner.NONE;
}
