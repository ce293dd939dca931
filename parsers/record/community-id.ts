/**
 * Community ID v1 (corelight/community-id-spec): SHA-1 over
 * seed(u16 BE) | saddr | daddr | proto(u8) | 0x00 | sport(u16 BE) | dport(u16 BE),
 * endpoints ordered so that (saddr, sport) < (daddr, dport); "1:" + base64 (or hex).
 */
import { hash } from 'node:crypto';
import { parseAddress } from './address';

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;
const PROTO_SCTP = 132;

// Request/reply counterparts; any other type is one-way (dport = code, never swapped).
const ICMP4_COUNTERPART = new Int16Array(256).fill(-1);
const ICMP6_COUNTERPART = new Int16Array(256).fill(-1);
for (const [a, b] of [
  [8, 0],
  [13, 14],
  [15, 16],
  [10, 9],
  [17, 18],
]) {
  ICMP4_COUNTERPART[a] = b;
  ICMP4_COUNTERPART[b] = a;
}
for (const [a, b] of [
  [128, 129],
  [133, 134],
  [135, 136],
  [130, 131],
  [139, 140],
  [144, 145],
]) {
  ICMP6_COUNTERPART[a] = b;
  ICMP6_COUNTERPART[b] = a;
}

/** Counterpart ICMP type for request/reply pairs, or -1 when the type is one-way. Shared with the tracker (Zeek uses the same table). */
export function icmpCounterpart(proto: number, type: number): number {
  if (type < 0 || type > 255) return -1;
  return proto === PROTO_ICMPV6 ? ICMP6_COUNTERPART[type] : ICMP4_COUNTERPART[type];
}

export function protoHasPorts(proto: number): boolean {
  return proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP || proto === PROTO_ICMP || proto === PROTO_ICMPV6;
}

const scratch = Buffer.alloc(2 + 16 + 16 + 1 + 1 + 4);

// SHA-1 of a message that fits one block (at most 55 bytes; the tuple is 40 at most), in plain
// integer arithmetic: node:crypto's one-shot hash, with its native call, Buffer view and base64
// string, took 210 ms of the Community IDs' 4.9 s run on the bench's short-session capture
// (--cpu-prof), this 150 ms.
const W = new Int32Array(80);
const H = new Int32Array(5);
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Character codes of `1:` and the 28 of the digest's base64, filled per call. */
const TEXT: number[] = new Array<number>(30).fill(0);
TEXT[0] = 49; // 1
TEXT[1] = 58; // :
TEXT[29] = 61; // = (20 bytes leave one pad)

/** SHA-1 of m[0..n) (n <= 55) into H. */
export function sha1Short(m: Uint8Array, n: number): Int32Array {
  const w = W;
  for (let i = 0; i < 16; i++) w[i] = 0;
  for (let i = 0; i < n; i++) w[i >> 2] |= m[i] << (24 - 8 * (i & 3));
  w[n >> 2] |= 0x80 << (24 - 8 * (n & 3));
  w[15] = n * 8;
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  let e = 0xc3d2e1f0 | 0;
  // Four loops of twenty rounds: no branch on the round inside them.
  for (let i = 0; i < 20; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[i]) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 20; i < 40; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[i]) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 40; i < 60; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + w[i]) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 60; i < 80; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + w[i]) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  H[0] = (0x67452301 + a) | 0;
  H[1] = (0xefcdab89 + b) | 0;
  H[2] = (0x98badcfe + c) | 0;
  H[3] = (0x10325476 + d) | 0;
  H[4] = (0xc3d2e1f0 + e) | 0;
  return H;
}

/** `1:` and the base64 of the 20 digest bytes in H, as Buffer's base64 writes them. */
function digestText(h: Int32Array): string {
  const t = TEXT;
  let o = 2;
  // 20 bytes: six groups of three, then two bytes and the pad.
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < 20; i++) {
    const byte = (h[i >> 2] >>> (24 - 8 * (i & 3))) & 0xff;
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      t[o++] = B64.charCodeAt((acc >>> bits) & 63);
    }
    acc &= (1 << bits) - 1;
  }
  t[o] = B64.charCodeAt((acc << (6 - bits)) & 63);
  return String.fromCharCode.apply(null, t);
}

/**
 * Community ID from raw address bytes. For ICMP/ICMPv6 pass sport = type and dport = code:
 * the counterpart mapping is applied here.
 */
export function communityIdFromBytes(
  seed: number,
  proto: number,
  saddr: Uint8Array,
  saddrOff: number,
  daddr: Uint8Array,
  daddrOff: number,
  addrLen: number,
  sport: number,
  dport: number,
  base64 = true,
): string {
  const hasPorts = protoHasPorts(proto);
  let oneWay = false;
  if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
    const cp = icmpCounterpart(proto, sport);
    if (cp >= 0) dport = cp;
    else oneWay = true;
  }
  if (!hasPorts) {
    sport = 0;
    dport = 0;
  }
  // Compare addresses first, then ports when the addresses are equal (spec's ordering).
  let cmp = 0;
  for (let i = 0; i < addrLen && cmp === 0; i++) cmp = saddr[saddrOff + i] - daddr[daddrOff + i];
  const swap = !oneWay && (cmp > 0 || (cmp === 0 && sport > dport));
  const buf = scratch;
  let o = 0;
  buf[o++] = (seed >> 8) & 0xff;
  buf[o++] = seed & 0xff;
  const a = swap ? daddr : saddr;
  const aOff = swap ? daddrOff : saddrOff;
  const b = swap ? saddr : daddr;
  const bOff = swap ? saddrOff : daddrOff;
  for (let i = 0; i < addrLen; i++) buf[o++] = a[aOff + i];
  for (let i = 0; i < addrLen; i++) buf[o++] = b[bOff + i];
  buf[o++] = proto & 0xff;
  buf[o++] = 0;
  if (hasPorts) {
    const p1 = swap ? dport : sport;
    const p2 = swap ? sport : dport;
    buf[o++] = (p1 >> 8) & 0xff;
    buf[o++] = p1 & 0xff;
    buf[o++] = (p2 >> 8) & 0xff;
    buf[o++] = p2 & 0xff;
  }
  if (base64) return digestText(sha1Short(buf, o));
  // One-shot hash: a Hash object per connection cost more than the digest itself.
  return `1:${hash('sha1', buf.subarray(0, o), 'hex')}`;
}

/** Textual variant: addresses as strings (both the same family). Throws on unparsable input. */
export function communityId(seed: number, proto: number, saddr: string, daddr: string, sport: number, dport: number, base64 = true): string {
  const s = parseAddress(saddr);
  const d = parseAddress(daddr);
  if (!s || !d || s.length !== d.length) throw new Error(`community-id: bad address pair ${saddr} / ${daddr}`);
  return communityIdFromBytes(seed, proto, s, 0, d, 0, s.length, sport, dport, base64);
}
