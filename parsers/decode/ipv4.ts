/** IPv4 header view: fills a FlowLayer's network fields and notes fragmentation. */
import type { DecodedPacket, FlowLayer } from './layers';
import { fail } from './errors';

/** Scratch: fragmentation facts of the IP header just decoded (IPv4 or IPv6). */
export class FragInfo {
  isFragment = false;
  /** Fragment offset in bytes. */
  offset = 0;
  more = false;
  id = 0;
  /** IPv6: offset of the Next Header byte that names the Fragment header (to patch on reassembly). */
  patchOff = 0;
  /** IPv6: the Fragment header's Next Header. */
  fragNext = 0;
  /** Offset and length (per IP length) of the fragment's data. */
  dataOff = 0;
  dataLen = 0;
}

/** One's-complement sum over [off, off+len) (len even); 0xffff means the checksum field is right. */
export function ipv4HeaderSum(buf: Buffer, off: number, len: number): number {
  let sum = 0;
  for (let i = off; i < off + len; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * Decodes the IPv4 header at `off`. `capEnd` is the end of captured bytes, `wireEnd` the end of
 * the bytes that were on the wire (what the total length may claim). Returns false when malformed.
 */
export function decodeIpv4(
  buf: Buffer,
  off: number,
  capEnd: number,
  wireEnd: number,
  layer: FlowLayer,
  fi: FragInfo,
  out: DecodedPacket,
  base: number,
): boolean {
  if (off + 20 > capEnd) {
    return fail(out, 'ipv4-header-truncated', `IPv4 header truncated: at least 20 bytes needed, ${Math.max(0, capEnd - off)} captured`, off - base);
  }
  const b0 = buf[off];
  if (b0 >> 4 !== 4) return fail(out, 'ipv4-bad-version', `IPv4 header has version ${b0 >> 4}`, off - base);
  const hl = (b0 & 0x0f) << 2;
  if (hl < 20) return fail(out, 'ipv4-bad-ihl', `IPv4 IHL ${hl >> 2} is below the minimum of 5`, off - base);
  if (off + hl > capEnd) {
    return fail(out, 'ipv4-header-truncated', `IPv4 header truncated: IHL says ${hl} bytes, ${capEnd - off} captured`, off - base);
  }
  let total = buf.readUInt16BE(off + 2);
  // Total length 0 is what TSO-offloaded captures show: the frame itself is the truth.
  if (total === 0) total = wireEnd - off;
  if (total < hl) {
    return fail(out, 'ipv4-bad-total-length', `IPv4 total length ${total} is smaller than its header (${hl})`, off - base);
  }
  if (off + total > wireEnd) {
    return fail(out, 'ipv4-total-length-exceeds-frame', `IPv4 total length ${total} exceeds the ${wireEnd - off} bytes on the wire`, off - base);
  }
  layer.ipVersion = 4;
  layer.ipOff = off;
  layer.ipHdrLen = hl;
  layer.ipTotalLen = total;
  layer.ttl = buf[off + 8];
  layer.proto = buf[off + 9];
  layer.srcOff = off + 12;
  layer.dstOff = off + 16;
  layer.addrLen = 4;
  layer.ipChecksumBad = ipv4HeaderSum(buf, off, hl) !== 0xffff;
  layer.l4Off = off + hl;
  layer.l4Len = total - hl;

  const ff = buf.readUInt16BE(off + 6);
  const more = (ff & 0x2000) !== 0;
  const fragOff = (ff & 0x1fff) << 3;
  if (more || fragOff !== 0) {
    fi.isFragment = true;
    fi.more = more;
    fi.offset = fragOff;
    fi.id = buf.readUInt16BE(off + 4);
    fi.dataOff = off + hl;
    fi.dataLen = total - hl;
  } else {
    fi.isFragment = false;
  }
  return true;
}
