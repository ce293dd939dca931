/**
 * The live-connection index: an open-addressing hash table over fixed-size integer keys.
 *
 * Why not a Map with string keys: building a fresh key string per packet and hashing it in
 * Map.get cost more than all the rest of a packet's decoding and tracking (measured: ~0.85 µs
 * per lookup over 68k live flows). Here the caller stages the key in `key` (KEY_WORDS int32
 * words), and the lookup hashes and compares those words in place: no allocation per packet.
 *
 * Entries live in dense slots addressed by an entry id that never moves while the entry lives
 * (values keep their id to be deleted); the hash index maps to ids with linear probing and
 * backward-shift deletion, so there are no tombstones to degrade long runs.
 *
 * Each entry may also own `doublesPerEntry` words of `cols` (from id * doublesPerEntry) and
 * `intsPerEntry` words of `ints`: values that would be boxed doubles or references between
 * stored objects, kept where the garbage collector does not copy or trace them. They are not
 * cleared on insert or delete: the caller writes them before reading.
 */

export const KEY_WORDS = 12;

export class FlowTable<V> {
  /** Stage the key of the next get/insert here. */
  readonly key = new Int32Array(KEY_WORDS);

  /** Per-entry double words; reallocated when the table grows, so read it after any insert. */
  cols: Float64Array;
  /** Per-entry int32 words; reallocated like cols. */
  ints: Int32Array;
  private readonly doublesPerEntry: number;
  private readonly intsPerEntry: number;
  private keys: Int32Array;
  private hashes: Int32Array;
  private vals: (V | undefined)[];
  /** Hash index: entry id + 1, 0 = empty. Power-of-two sized, kept at most half full. */
  private index: Int32Array;
  private mask: number;
  private freeIds: number[] = [];
  private nextId = 0;
  private count = 0;

  constructor(initialEntries = 1 << 12, doublesPerEntry = 0, intsPerEntry = 0) {
    let cap = 16;
    while (cap < initialEntries) cap <<= 1;
    this.doublesPerEntry = doublesPerEntry;
    this.cols = new Float64Array(cap * doublesPerEntry);
    this.intsPerEntry = intsPerEntry;
    this.ints = new Int32Array(cap * intsPerEntry);
    this.keys = new Int32Array(cap * KEY_WORDS);
    this.hashes = new Int32Array(cap);
    this.vals = new Array<V | undefined>(cap);
    this.index = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The value stored under the staged key, or undefined. */
  get(): V | undefined {
    const k = this.key;
    const h = hashKey(k);
    const index = this.index;
    const mask = this.mask;
    const keys = this.keys;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const e = index[slot];
      if (e === 0) return undefined;
      const id = e - 1;
      if (this.hashes[id] !== h) continue;
      const o = id * KEY_WORDS;
      if (
        keys[o] === k[0] &&
        keys[o + 1] === k[1] &&
        keys[o + 2] === k[2] &&
        keys[o + 3] === k[3] &&
        keys[o + 4] === k[4] &&
        keys[o + 5] === k[5] &&
        keys[o + 6] === k[6] &&
        keys[o + 7] === k[7] &&
        keys[o + 8] === k[8] &&
        keys[o + 9] === k[9] &&
        keys[o + 10] === k[10] &&
        keys[o + 11] === k[11]
      ) {
        return this.vals[id];
      }
    }
  }

  /** Stores `v` under the staged key, which must not be present; returns the entry id. */
  insert(v: V): number {
    if (this.nextId === this.hashes.length && this.freeIds.length === 0) this.grow();
    const id = this.freeIds.length > 0 ? (this.freeIds.pop() as number) : this.nextId++;
    const h = hashKey(this.key);
    this.keys.set(this.key, id * KEY_WORDS);
    this.hashes[id] = h;
    this.vals[id] = v;
    this.place(id, h);
    this.count++;
    return id;
  }

  /** The value of a live entry id; undefined for a free one or -1. */
  at(id: number): V | undefined {
    return id >= 0 ? this.vals[id] : undefined;
  }

  /** Removes the entry with this id. */
  delete(id: number): void {
    const index = this.index;
    const mask = this.mask;
    let slot = this.hashes[id] & mask;
    while (index[slot] !== id + 1) {
      if (index[slot] === 0) throw new Error(`flow table: entry ${id} not indexed`);
      slot = (slot + 1) & mask;
    }
    // Backward-shift: pull later members of the probe run into the hole so lookups never stop early.
    let hole = slot;
    for (let next = (hole + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
      const home = this.hashes[index[next] - 1] & mask;
      // Move `next` into the hole unless its home lies cyclically in (hole, next].
      const between = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!between) {
        index[hole] = index[next];
        hole = next;
      }
    }
    index[hole] = 0;
    this.vals[id] = undefined;
    this.freeIds.push(id);
    this.count--;
  }

  /** Every live value, in entry-id order. */
  values(): V[] {
    const out: V[] = [];
    for (let id = 0; id < this.nextId; id++) {
      const v = this.vals[id];
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  clear(): void {
    this.index.fill(0);
    this.vals.fill(undefined);
    this.freeIds = [];
    this.nextId = 0;
    this.count = 0;
  }

  private place(id: number, h: number): void {
    const index = this.index;
    const mask = this.mask;
    let slot = h & mask;
    while (index[slot] !== 0) slot = (slot + 1) & mask;
    index[slot] = id + 1;
  }

  private grow(): void {
    // By half, not double: the entry columns are most of the table's memory, and on the 10M-packet
    // bench capture 132k live connections doubled them to 262k entries (~22 MB, beside the heap).
    // The hash index stays a power of two at least twice the entries.
    const cap = this.hashes.length + (this.hashes.length >> 1);
    const keys = new Int32Array(cap * KEY_WORDS);
    keys.set(this.keys);
    this.keys = keys;
    const hashes = new Int32Array(cap);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const cols = new Float64Array(cap * this.doublesPerEntry);
    cols.set(this.cols);
    this.cols = cols;
    const ints = new Int32Array(cap * this.intsPerEntry);
    ints.set(this.ints);
    this.ints = ints;
    this.vals.length = cap;
    let slots = this.index.length;
    while (slots < cap * 2) slots <<= 1;
    this.index = new Int32Array(slots);
    this.mask = slots - 1;
    for (let id = 0; id < this.nextId; id++) {
      if (this.vals[id] !== undefined) this.place(id, this.hashes[id]);
    }
  }
}

/** murmur3-style mixing of the 12 key words into 31 bits (non-negative, usable as an index). */
function hashKey(k: Int32Array): number {
  let h = 0x2f0b3c1d;
  for (let i = 0; i < KEY_WORDS; i++) {
    let w = Math.imul(k[i], 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    h ^= Math.imul(w, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & 0x7fffffff;
}
