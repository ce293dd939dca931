/**
 * CIDR membership on raw address bytes (IPv4 and IPv6), for local_orig/local_resp and,
 * later, Kubernetes pod/service ranges. Lookups cost one Set probe per distinct prefix length.
 */
import { parseAddress } from './address';

/**
 * Zeek's default Site::private_address_space (base/utils/site.zeek, as of the corpus's Zeek), which Zeek copies into
 * Site::local_nets because private_address_space_is_local is on by default: IANA's special-purpose
 * blocks that are not globally reachable, each IPv4 block also as its 6to4 (2002::/16) image.
 * Keeping the same list makes local_orig/local_resp, and the network.direction derived from them,
 * the values Zeek logs when no --local-nets is given (loopback, 0.0.0.0 and broadcast included).
 */
export const DEFAULT_LOCAL_NETS: readonly string[] = [
  '0.0.0.0/8',
  '2002::/24',
  '10.0.0.0/8',
  '2002:a00::/24',
  '100.64.0.0/10',
  '2002:6440::/26',
  '127.0.0.0/8',
  '2002:7f00::/24',
  '169.254.0.0/16',
  '2002:a9fe::/32',
  '172.16.0.0/12',
  '2002:ac10::/28',
  '192.0.0.0/24',
  '2002:c000::/40',
  '192.0.2.0/24',
  '2002:c000:200::/40',
  '192.168.0.0/16',
  '2002:c0a8::/32',
  // Added by zeek/zeek#4164 (Zeek 7.2): the multicast local network control block (RFC 5771) and
  // administratively scoped multicast (RFC 2365), with their 6to4 images, and deprecated site-local IPv6 (RFC 3879).
  '224.0.0.0/24',
  '2002:e000::/40',
  '239.0.0.0/8',
  '2002:ef00::/24',
  'fec0::/10',
  '198.18.0.0/15',
  '2002:c612::/31',
  '198.51.100.0/24',
  '2002:c633:6400::/40',
  '203.0.113.0/24',
  '2002:cb00:7100::/40',
  '240.0.0.0/4',
  '2002:f000::/20',
  '255.255.255.255/32',
  '2002:ffff:ffff::/48',
  '::/128',
  '::1/128',
  '64:ff9b:1::/48',
  '100::/64',
  '2001::/23',
  '2001:2::/48',
  '2001:db8::/32',
  'fc00::/7',
  'fe80::/10',
];

interface V6Bucket {
  prefix: number;
  nets: Set<string>;
}

function v6Key(b: Uint8Array, off: number, prefix: number): string {
  // Masked address as a compact string; only built per lookup of a new connection, not per packet.
  let s = '';
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) s += String.fromCharCode(b[off + i]);
  const rem = prefix & 7;
  if (rem) s += String.fromCharCode(b[off + full] & ((0xff << (8 - rem)) & 0xff));
  return s;
}

export class LocalNets {
  private readonly v4Masks: number[] = [];
  private readonly v4Sets: Set<number>[] = [];
  private readonly v6: V6Bucket[] = [];

  /** Throws on an unparsable CIDR (configuration error, reported at startup). */
  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) this.add(c);
  }

  private add(cidr: string): void {
    const slash = cidr.indexOf('/');
    const addrText = slash >= 0 ? cidr.slice(0, slash) : cidr;
    const bytes = parseAddress(addrText.replace(/^\[|\]$/g, ''));
    if (!bytes) throw new Error(`invalid CIDR '${cidr}'`);
    const max = bytes.length * 8;
    const prefix = slash >= 0 ? Number(cidr.slice(slash + 1)) : max;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`invalid CIDR prefix in '${cidr}'`);
    if (bytes.length === 4) {
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const v = (((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) & mask) >>> 0;
      let i = this.v4Masks.indexOf(mask);
      if (i < 0) {
        i = this.v4Masks.length;
        this.v4Masks.push(mask);
        this.v4Sets.push(new Set());
      }
      this.v4Sets[i].add(v);
    } else {
      let bucket = this.v6.find((x) => x.prefix === prefix);
      if (!bucket) {
        bucket = { prefix, nets: new Set() };
        this.v6.push(bucket);
      }
      bucket.nets.add(v6Key(bytes, 0, prefix));
    }
  }

  /** Whether the `len`-byte (4 or 16) address at `off` is inside one of the networks. */
  contains(b: Uint8Array, off: number, len: number): boolean {
    if (len === 4) {
      const v = ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
      for (let i = 0; i < this.v4Masks.length; i++) {
        if (this.v4Sets[i].has((v & this.v4Masks[i]) >>> 0)) return true;
      }
      return false;
    }
    if (len !== 16) return false;
    for (let i = 0; i < this.v6.length; i++) {
      const bk = this.v6[i];
      if (bk.nets.has(v6Key(b, off, bk.prefix))) return true;
    }
    return false;
  }

  /** Textual variant (tests, configuration checks). */
  containsAddress(addr: string): boolean {
    const b = parseAddress(addr);
    return b !== null && this.contains(b, 0, b.length);
  }
}
