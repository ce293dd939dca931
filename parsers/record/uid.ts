/**
 * Stable connection uids: "C" + base62 of a 96-bit hash of the connection's canonical key and
 * its first-packet timestamp (ns). No clock, no randomness: the same capture analysed twice
 * yields the same uids, so re-processing never duplicates records in the index.
 */

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixK(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** One murmur3-style 32-bit lane over the key's UTF-16 units and the extra words. */
function lane(key: string, w0: number, w1: number, w2: number, seed: number): number {
  let h = seed;
  for (let i = 0; i < key.length; i++) h = mixK(h, key.charCodeAt(i));
  h = mixK(h, w0 | 0);
  h = mixK(h, w1 | 0);
  h = mixK(h, w2 | 0);
  h ^= key.length;
  return fmix(h);
}

/** base62 of the 96-bit number hi:mid:lo (32-bit limbs), most significant digit first. */
export function base62of96(hi: number, mid: number, lo: number): string {
  return base62Digits(hi, mid, lo, -1);
}

/** A connection uid: `C` and the base62 of hi:mid:lo. */
function uidText(hi: number, mid: number, lo: number): string {
  return base62Digits(hi, mid, lo, 67 /* C */);
}

// 96 bits need at most 17 base62 digits, and a prefix 1 more.
const digits: number[] = new Array<number>(18).fill(0);

/**
 * The digits (after `prefix`, a character code, when not -1) made as one flat string. A uid made
 * as `C${digits}` is two strings joined: V8 keeps such a string as a pair of pieces, 32 bytes more
 * than the flat one for as long as its connection lives (the uids of live connections were most
 * of the joined strings on the heap of a 10M-packet run).
 */
function base62Digits(hi: number, mid: number, lo: number, prefix: number): string {
  let a = hi >>> 0;
  let b = mid >>> 0;
  let c = lo >>> 0;
  // Fill from the right, then cut once.
  let n = 18;
  while (a !== 0 || b !== 0 || c !== 0) {
    // rem < 62, so rem * 2^32 + limb stays well inside 2^53.
    let cur = a;
    a = Math.floor(cur / 62);
    let rem = cur - a * 62;
    cur = rem * 4294967296 + b;
    b = Math.floor(cur / 62);
    rem = cur - b * 62;
    cur = rem * 4294967296 + c;
    c = Math.floor(cur / 62);
    rem = cur - c * 62;
    digits[--n] = B62.charCodeAt(rem);
  }
  if (n === 18) digits[--n] = 48; // 0
  if (prefix >= 0) digits[--n] = prefix;
  const d = digits;
  // A uid is nearly always `C` and 16 or 17 digits: spelt out, those lengths need no array
  // slice per connection (the slice was 190 bytes a connection of what analyze allocates).
  if (n === 0) return String.fromCharCode(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15], d[16], d[17]);
  if (n === 1) return String.fromCharCode(d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15], d[16], d[17]);
  return String.fromCharCode.apply(null, d.slice(n));
}

/** One lane over integer key words (the flow table's key) and the extra words. */
function laneWords(words: Int32Array, w0: number, w1: number, w2: number, seed: number): number {
  let h = seed;
  for (let i = 0; i < words.length; i++) h = mixK(h, words[i]);
  h = mixK(h, w0 | 0);
  h = mixK(h, w1 | 0);
  h = mixK(h, w2 | 0);
  h ^= words.length;
  return fmix(h);
}

/**
 * uid of a connection from its canonical key words and first-packet time. `seq` tells apart
 * connections that share both (a connection replaced by another at the very same instant);
 * the tracker knows when that happens, so no per-instant bookkeeping is needed here.
 */
export function uidFromWords(words: Int32Array, tsSec: number, tsNsec: number, seq: number): string {
  const w0 = tsSec % 4294967296;
  const w1 = tsNsec ^ Math.imul(Math.floor(tsSec / 4294967296), 0x9e3779b1);
  return uidText(laneWords(words, w0, w1, seq, 0x2545f491), laneWords(words, w0, w1, seq, 0x61c88647), laneWords(words, w0, w1, seq, 0x7f4a7c15));
}

/** uids for string keys (flow records from other sources), counting repeats of key and instant itself. */
export class UidGenerator {
  // Two connections can only share key and first timestamp when one replaced the other at the
  // same instant; counting per timestamp keeps them apart with memory bounded by one instant.
  private curSec = -1;
  private curNsec = -1;
  private readonly sameInstant = new Map<string, number>();

  /** uid for a connection whose canonical key is `key` and first packet is at tsSec + tsNsec. */
  next(key: string, tsSec: number, tsNsec: number): string {
    if (tsSec !== this.curSec || tsNsec !== this.curNsec) {
      this.curSec = tsSec;
      this.curNsec = tsNsec;
      if (this.sameInstant.size) this.sameInstant.clear();
    }
    const n = this.sameInstant.get(key) ?? 0;
    this.sameInstant.set(key, n + 1);
    const secLo = tsSec % 4294967296;
    const secHi = Math.floor(tsSec / 4294967296);
    const w0 = secLo;
    const w1 = tsNsec ^ Math.imul(secHi, 0x9e3779b1);
    const h1 = lane(key, w0, w1, n, 0x2545f491);
    const h2 = lane(key, w0, w1, n, 0x61c88647);
    const h3 = lane(key, w0, w1, n, 0x7f4a7c15);
    return uidText(h1, h2, h3);
  }
}
