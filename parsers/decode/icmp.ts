/** ICMP and ICMPv6 header view. */
import type { DecodedPacket, FlowLayer } from './layers';
import { fail } from './errors';
import { capturedLen } from './tcp';

/**
 * ICMP (v6 = false) or ICMPv6 at layer.l4Off. Type and code need 4 captured bytes; the echo
 * identifier is read when the 8-byte echo header was captured. Ports follow the conn record's
 * convention: sport = type, dport = code.
 */
export function decodeIcmp(buf: Buffer, layer: FlowLayer, capEnd: number, v6: boolean, out: DecodedPacket, base: number): boolean {
  const off = layer.l4Off;
  const name = v6 ? 'icmpv6' : 'icmp';
  if (layer.l4Len < 4) {
    return fail(out, `${name}-header-overflow`, `${v6 ? 'ICMPv6' : 'ICMP'} header needs 4 bytes, IP length leaves ${layer.l4Len}`, off - base);
  }
  if (off + 4 > capEnd) {
    return fail(
      out,
      `${name}-header-truncated`,
      `${v6 ? 'ICMPv6' : 'ICMP'} header truncated: 4 bytes needed, ${Math.max(0, capEnd - off)} captured`,
      off - base,
    );
  }
  const type = buf[off];
  const code = buf[off + 1];
  layer.icmpType = type;
  layer.icmpCode = code;
  layer.sport = type;
  layer.dport = code;
  const echo = v6 ? type === 128 || type === 129 : type === 8 || type === 0;
  if (echo && layer.l4Len >= 8 && off + 8 <= capEnd) layer.icmpId = buf.readUInt16BE(off + 4);
  const hl = Math.min(layer.l4Len, 8);
  layer.payloadOff = off + hl;
  layer.payloadLen = layer.l4Len - hl;
  layer.capturedPayloadLen = capturedLen(layer.payloadOff, layer.payloadLen, capEnd);
  return true;
}
