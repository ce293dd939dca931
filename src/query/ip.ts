/**
 * Addresses as 16-byte keys (IPv4 as v4-mapped IPv6, the way Elasticsearch's `ip` type stores them),
 * so that one byte-wise order and one CIDR = [low, high] range serve both v4 and v6 on SQLite.
 */
import { formatIPv6, parseAddress } from '../../parsers/record/address';

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** 16-byte key of an address; null when `s` is not an IPv4/IPv6 address. */
export function ipKey(s: string): Buffer | null {
  const a = parseAddress(s);
  if (a === null) return null;
  if (a.length === 16) return Buffer.from(a);
  return Buffer.from([...V4_MAPPED_PREFIX, a[0], a[1], a[2], a[3]]);
}

export interface CidrRange {
  /** Network address / prefix, host bits cleared, in the family the user wrote. */
  normalized: string;
  low: Buffer;
  high: Buffer;
}

/** Parse `addr/prefix`; null when it is not a CIDR. Host bits are cleared (10.244.1.7/16 = 10.244.0.0/16). */
export function parseCidr(s: string): CidrRange | null {
  const slash = s.indexOf('/');
  if (slash < 0 || s.indexOf('/', slash + 1) >= 0) return null;
  const addr = s.slice(0, slash);
  const bitsText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return null;
  const raw = parseAddress(addr);
  if (raw === null) return null;
  const bits = Number(bitsText);
  const isV4 = raw.length === 4;
  if (bits > (isV4 ? 32 : 128)) return null;
  const key = ipKey(addr) as Buffer;
  const keyBits = isV4 ? bits + 96 : bits;
  const low = Buffer.from(key);
  const high = Buffer.from(key);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, keyBits - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    low[i] = key[i] & mask;
    high[i] = (key[i] & mask) | (~mask & 0xff);
  }
  return { normalized: `${formatKey(low, isV4)}/${bits}`, low, high };
}

/** Text form of a 16-byte key (v4 when asked and the key is v4-mapped). */
export function formatKey(k: Buffer, asV4: boolean): string {
  if (asV4) return `${k[12]}.${k[13]}.${k[14]}.${k[15]}`;
  return formatIPv6(k, 0);
}
