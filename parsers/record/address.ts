/**
 * Address bytes <-> canonical strings, printed the way Zeek prints them (Zeek uses inet_ntop,
 * so IPv6 follows RFC 5952 plus glibc's embedded-IPv4 forms `::ffff:a.b.c.d` and `::a.b.c.d`).
 */

type Bytes = Uint8Array;

export function formatIPv4(b: Bytes, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function formatIPv6(b: Bytes, off: number): string {
  // Find the longest run of zero 16-bit groups (first one wins a tie); runs of 1 are not compressed.
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    const w = (b[off + 2 * i] << 8) | b[off + 2 * i + 1];
    if (w === 0) {
      if (curBase < 0) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase >= 0) {
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase >= 0 && curLen > bestLen) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestLen < 2) bestBase = -1;

  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i > 0) out += ':';
    // glibc prints an embedded IPv4 tail for ::a.b.c.d (not :: or ::1) and ::ffff:a.b.c.d
    if (
      i === 6 &&
      bestBase === 0 &&
      (bestLen === 6 || (bestLen === 7 && ((b[off + 14] << 8) | b[off + 15]) !== 1) || (bestLen === 5 && b[off + 10] === 0xff && b[off + 11] === 0xff))
    ) {
      out += formatIPv4(b, off + 12);
      return out;
    }
    out += ((b[off + 2 * i] << 8) | b[off + 2 * i + 1]).toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}

/** Address of `len` (4 or 16) bytes at `off`. */
export function formatAddress(b: Bytes, off: number, len: number): string {
  return len === 4 ? formatIPv4(b, off) : formatIPv6(b, off);
}

const HEX = '0123456789abcdef';

/** 6-byte MAC as aa:bb:cc:dd:ee:ff. */
export function formatMac(b: Bytes, off: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const v = b[off + i];
    if (i > 0) s += ':';
    s += HEX[v >> 4] + HEX[v & 15];
  }
  return s;
}

function parseIPv4Into(s: string, out: Uint8Array, off: number): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return false;
    const v = Number(parts[i]);
    if (v > 255) return false;
    out[off + i] = v;
  }
  return true;
}

/** Parse a textual IPv4/IPv6 address into 4 or 16 bytes; null when it is not an address. */
export function parseAddress(s: string): Uint8Array | null {
  if (s.indexOf(':') < 0) {
    const out = new Uint8Array(4);
    return parseIPv4Into(s, out, 0) ? out : null;
  }
  const out = new Uint8Array(16);
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  const head = dbl >= 0 ? s.slice(0, dbl) : s;
  const tail = dbl >= 0 ? s.slice(dbl + 2) : '';
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const res: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (i === items.length - 1 && it.indexOf('.') >= 0) {
        const v4 = new Uint8Array(4);
        if (!parseIPv4Into(it, v4, 0)) return null;
        res.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return null;
        res.push(parseInt(it, 16));
      }
    }
    return res;
  };
  const h = groups(head);
  const t = groups(tail);
  if (!h || !t) return null;
  if (dbl < 0 && h.length !== 8) return null;
  if (dbl >= 0 && h.length + t.length > 7) return null;
  const words = new Array<number>(8).fill(0);
  for (let i = 0; i < h.length; i++) words[i] = h[i];
  for (let i = 0; i < t.length; i++) words[8 - t.length + i] = t[i];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}
