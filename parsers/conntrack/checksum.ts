/**
 * TCP, UDP and ICMP checksums (RFC 1071; over the RFC 793/768/8200 pseudo-header except for
 * ICMPv4, which has none), computed in place
 * over the packet's bytes through the decoder's offsets: no copy, no allocation. Used only when
 * checksums are verified (Zeek without -C), so the default path never pays for it.
 */
import type { FlowLayer } from '../decode/layers';

/**
 * Whether the transport checksum of `l` (TCP, UDP or ICMP, `l.l4Len` bytes from `l.l4Off`,
 * checksum field included) verifies; `pseudo` false for ICMPv4. The caller makes sure the whole
 * message was captured.
 */
export function transportChecksumOk(l: FlowLayer, pseudo = true): boolean {
  const b = l.buf;
  const len = l.l4Len;
  const off = l.l4Off;
  let sum = 0;
  if (pseudo) {
    // Both addresses, the protocol and the transport length. For IPv6 the length is 32 bits and
    // the protocol sits in the low byte of a 32-bit word: the 16-bit sums are the same.
    const n = l.addrLen;
    for (let i = 0; i < n; i += 2) sum += (b[l.srcOff + i] << 8) | b[l.srcOff + i + 1];
    for (let i = 0; i < n; i += 2) sum += (b[l.dstOff + i] << 8) | b[l.dstOff + i + 1];
    sum += l.proto + (len >>> 16) + (len & 0xffff);
  }
  const end = off + len;
  const evenEnd = off + (len & ~1);
  for (let i = off; i < evenEnd; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (evenEnd < end) sum += b[evenEnd] << 8;
  // At most 32k words of 16 bits: the sum stays far below 2^53, so folding once at the end is exact.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return sum === 0xffff;
}

/** The checksum field of a UDP header (0 = not computed by the sender, allowed over IPv4). */
export function udpChecksumField(l: FlowLayer): number {
  return (l.buf[l.l4Off + 6] << 8) | l.buf[l.l4Off + 7];
}
