/** SCTP common header and chunk walk. */
import type { DecodedPacket, FlowLayer } from './layers';
import { fail } from './errors';
import { capturedLen } from './tcp';

/** A packet has far fewer chunks in practice; the cap keeps crafted input cheap. */
const MAX_CHUNKS = 256;

/**
 * SCTP at layer.l4Off: ports and verification tag from the 12-byte common header, then the
 * chunks (type, flags, length; padded to 4) within captured bytes and the IP length, setting bit
 * `type` of sctpChunkMask for types < 32. A chunk length below 4 ends the walk (cannot be framed).
 */
export function decodeSctp(buf: Buffer, layer: FlowLayer, capEnd: number, out: DecodedPacket, base: number): boolean {
  const off = layer.l4Off;
  if (layer.l4Len < 12) {
    return fail(out, 'sctp-header-overflow', `SCTP common header needs 12 bytes, IP length leaves ${layer.l4Len}`, off - base);
  }
  if (off + 12 > capEnd) {
    return fail(out, 'sctp-header-truncated', `SCTP common header truncated: 12 bytes needed, ${Math.max(0, capEnd - off)} captured`, off - base);
  }
  layer.sport = buf.readUInt16BE(off);
  layer.dport = buf.readUInt16BE(off + 2);
  layer.sctpVtag = buf.readUInt32BE(off + 4);
  layer.payloadOff = off + 12;
  layer.payloadLen = layer.l4Len - 12;
  layer.capturedPayloadLen = capturedLen(layer.payloadOff, layer.payloadLen, capEnd);
  const end = Math.min(off + layer.l4Len, capEnd);
  let mask = 0;
  let p = off + 12;
  for (let n = 0; n < MAX_CHUNKS && p + 4 <= end; n++) {
    const type = buf[p];
    const len = buf.readUInt16BE(p + 2);
    if (type < 32) mask |= 1 << type;
    if (len < 4) break;
    p += (len + 3) & ~3;
  }
  layer.sctpChunkMask = mask >>> 0;
  return true;
}
