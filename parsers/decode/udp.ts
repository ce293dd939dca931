/** UDP header view. */
import type { DecodedPacket, FlowLayer } from './layers';
import { fail } from './errors';
import { capturedLen } from './tcp';

/**
 * UDP at layer.l4Off. The payload length is the UDP length when it is consistent (8..IP length),
 * else what the IP length leaves (UDP length 0 = jumbogram, or a too-large value).
 */
export function decodeUdp(buf: Buffer, layer: FlowLayer, capEnd: number, out: DecodedPacket, base: number): boolean {
  const off = layer.l4Off;
  if (layer.l4Len < 8) {
    return fail(out, 'udp-header-overflow', `UDP header needs 8 bytes, IP length leaves ${layer.l4Len}`, off - base);
  }
  if (off + 8 > capEnd) {
    return fail(out, 'udp-header-truncated', `UDP header truncated: 8 bytes needed, ${Math.max(0, capEnd - off)} captured`, off - base);
  }
  layer.sport = buf.readUInt16BE(off);
  layer.dport = buf.readUInt16BE(off + 2);
  const ulen = buf.readUInt16BE(off + 4);
  layer.payloadOff = off + 8;
  layer.payloadLen = (ulen >= 8 && ulen <= layer.l4Len ? ulen : layer.l4Len) - 8;
  layer.capturedPayloadLen = capturedLen(layer.payloadOff, layer.payloadLen, capEnd);
  return true;
}
