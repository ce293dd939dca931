/** TCP header view and option parser. */
import type { DecodedPacket, FlowLayer } from './layers';
import { fail } from './errors';

/** Captured part of [off, off+len): what a consumer can actually read. */
export function capturedLen(off: number, len: number, capEnd: number): number {
  const c = capEnd - off;
  return c <= 0 ? 0 : Math.min(c, len);
}

/**
 * Walks TCP options in [p, end) (end already clipped to what was captured). Unknown options
 * and known ones with a wrong length are skipped by their own length; a length below 2 or past
 * the end stops the walk (the rest cannot be framed).
 */
// Big-endian 32-bit fields are read byte by byte rather than with Buffer.readUInt32BE: half of
// all sequence numbers are above the small-integer range, and when V8 does not inline that call
// (it depends on what else the caller inlined) each one comes back as a newly allocated heap
// number, two to four per TCP segment for the garbage collector.
export function parseTcpOptions(buf: Buffer, p: number, end: number, layer: FlowLayer): void {
  while (p < end) {
    const kind = buf[p];
    if (kind === 0) return; // EOL
    if (kind === 1) {
      p++;
      continue;
    }
    if (p + 2 > end) return;
    const len = buf[p + 1];
    if (len < 2 || p + len > end) return;
    switch (kind) {
      case 2:
        if (len === 4) layer.optMss = buf.readUInt16BE(p + 2);
        break;
      case 3:
        if (len === 3) layer.optWscale = buf[p + 2];
        break;
      case 4:
        if (len === 2) layer.optSackPerm = true;
        break;
      case 8:
        if (len === 10) {
          layer.optTsVal = ((buf[p + 2] << 24) | (buf[p + 2 + 1] << 16) | (buf[p + 2 + 2] << 8) | buf[p + 2 + 3]) >>> 0;
          layer.optTsEcr = ((buf[p + 6] << 24) | (buf[p + 6 + 1] << 16) | (buf[p + 6 + 2] << 8) | buf[p + 6 + 3]) >>> 0;
        }
        break;
      default:
        break;
    }
    p += len;
  }
}

/**
 * TCP at layer.l4Off; `capEnd` is the end of captured bytes of this IP packet. The fixed 20 bytes
 * must be captured; options cut by the snap length are parsed as far as they go.
 */
export function decodeTcp(buf: Buffer, layer: FlowLayer, capEnd: number, out: DecodedPacket, base: number): boolean {
  const off = layer.l4Off;
  if (layer.l4Len < 20) {
    return fail(out, 'tcp-header-overflow', `TCP header needs 20 bytes, IP length leaves ${layer.l4Len}`, off - base);
  }
  if (off + 20 > capEnd) {
    return fail(out, 'tcp-header-truncated', `TCP header truncated: 20 bytes needed, ${Math.max(0, capEnd - off)} captured`, off - base);
  }
  const hl = (buf[off + 12] >> 4) << 2;
  if (hl < 20 || hl > layer.l4Len) {
    return fail(out, 'tcp-bad-data-offset', `TCP data offset ${hl >> 2} (${hl} bytes) is outside 20..${layer.l4Len}`, off + 12 - base);
  }
  layer.sport = buf.readUInt16BE(off);
  layer.dport = buf.readUInt16BE(off + 2);
  layer.seq = ((buf[off + 4] << 24) | (buf[off + 4 + 1] << 16) | (buf[off + 4 + 2] << 8) | buf[off + 4 + 3]) >>> 0;
  layer.ack = ((buf[off + 8] << 24) | (buf[off + 8 + 1] << 16) | (buf[off + 8 + 2] << 8) | buf[off + 8 + 3]) >>> 0;
  layer.tcpFlags = buf[off + 13];
  layer.window = buf.readUInt16BE(off + 14);
  if (hl > 20) parseTcpOptions(buf, off + 20, Math.min(off + hl, capEnd), layer);
  layer.payloadOff = off + hl;
  layer.payloadLen = layer.l4Len - hl;
  layer.capturedPayloadLen = capturedLen(layer.payloadOff, layer.payloadLen, capEnd);
  return true;
}
