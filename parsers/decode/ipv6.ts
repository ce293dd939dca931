/** IPv6 header view with the extension-header walk. */
import type { DecodedPacket, FlowLayer } from './layers';
import { fail } from './errors';
import type { FragInfo } from './ipv4';

/**
 * Decodes the IPv6 header at `off` and walks extension headers (hop-by-hop 0, routing 43,
 * fragment 44, destination options 60, AH 51, mobility 135); ESP 50 and no-next-header 59 end the
 * walk with that value as `proto`. A non-atomic fragment header ends the walk too: what follows
 * belongs to the fragmentable part. Returns false when malformed.
 */
export function decodeIpv6(
  buf: Buffer,
  off: number,
  capEnd: number,
  wireEnd: number,
  layer: FlowLayer,
  fi: FragInfo,
  out: DecodedPacket,
  base: number,
): boolean {
  if (off + 40 > capEnd) {
    return fail(out, 'ipv6-header-truncated', `IPv6 header truncated: 40 bytes needed, ${Math.max(0, capEnd - off)} captured`, off - base);
  }
  const v = buf[off] >> 4;
  if (v !== 6) return fail(out, 'ipv6-bad-version', `IPv6 header has version ${v}`, off - base);
  const plen = buf.readUInt16BE(off + 4);
  let next = buf[off + 6];
  if (plen === 0 && next === 0) {
    return fail(out, 'ipv6-jumbogram-unsupported', 'IPv6 payload length 0 with hop-by-hop header (jumbogram) is not supported', off - base);
  }
  const total = 40 + plen;
  if (off + total > wireEnd) {
    return fail(out, 'ipv6-payload-length-exceeds-frame', `IPv6 payload length ${plen} exceeds the ${wireEnd - off - 40} bytes on the wire`, off - base);
  }
  const ipEnd = off + total;
  layer.ipVersion = 6;
  layer.ipOff = off;
  layer.ipTotalLen = total;
  layer.ttl = buf[off + 7];
  layer.srcOff = off + 8;
  layer.dstOff = off + 24;
  layer.addrLen = 16;
  layer.ipChecksumBad = false;
  fi.isFragment = false;

  let nextOff = off + 6; // where the current Next Header value lives
  let p = off + 40;
  // Each extension header is at least 8 bytes, so the loop is bounded by the packet length.
  for (;;) {
    if (next === 0 || next === 43 || next === 60 || next === 51 || next === 135 || next === 44) {
      if (p + 2 > ipEnd) {
        return fail(out, 'ipv6-ext-header-overflow', `IPv6 extension header ${next} at ${p - off} runs past the payload length`, p - base);
      }
      if (p + 2 > capEnd) {
        return fail(out, 'ipv6-ext-header-truncated', `IPv6 extension header ${next} truncated`, p - base);
      }
      let hlen: number;
      if (next === 44) hlen = 8;
      else if (next === 51) hlen = (buf[p + 1] + 2) << 2;
      else hlen = (buf[p + 1] + 1) << 3;
      if (p + hlen > ipEnd) {
        return fail(out, 'ipv6-ext-header-overflow', `IPv6 extension header ${next} (${hlen} bytes) runs past the payload length`, p - base);
      }
      if (p + hlen > capEnd) {
        return fail(out, 'ipv6-ext-header-truncated', `IPv6 extension header ${next} truncated: ${hlen} bytes needed, ${capEnd - p} captured`, p - base);
      }
      if (next === 44) {
        const fo = buf.readUInt16BE(p + 2);
        const more = (fo & 1) !== 0;
        const fragOff = fo & 0xfff8;
        if (more || fragOff !== 0) {
          fi.isFragment = true;
          fi.more = more;
          fi.offset = fragOff;
          fi.id = buf.readUInt32BE(p + 4);
          fi.patchOff = nextOff;
          fi.fragNext = buf[p];
          fi.dataOff = p + 8;
          fi.dataLen = ipEnd - (p + 8);
          layer.proto = 44;
          layer.ipHdrLen = p + 8 - off;
          layer.l4Off = p + 8;
          layer.l4Len = ipEnd - (p + 8);
          return true;
        }
        // Atomic fragment (RFC 6946): not really fragmented, keep walking.
      }
      nextOff = p;
      next = buf[p];
      p += hlen;
      continue;
    }
    break;
  }
  layer.proto = next;
  layer.ipHdrLen = p - off;
  layer.l4Off = p;
  layer.l4Len = ipEnd - p;
  return true;
}
