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
  // One-shot hash: a Hash object per connection cost more than the digest itself.
  const digest = hash('sha1', buf.subarray(0, o), base64 ? 'base64' : 'hex');
  return `1:${digest}`;
}

/** Textual variant: addresses as strings (both the same family). Throws on unparsable input. */
export function communityId(seed: number, proto: number, saddr: string, daddr: string, sport: number, dport: number, base64 = true): string {
  const s = parseAddress(saddr);
  const d = parseAddress(daddr);
  if (!s || !d || s.length !== d.length) throw new Error(`community-id: bad address pair ${saddr} / ${daddr}`);
  return communityIdFromBytes(seed, proto, s, 0, d, 0, s.length, sport, dport, base64);
}
