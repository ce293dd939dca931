/**
 * HPACK header block decoding (RFC 7541) for one direction of an HTTP/2 connection: prefixed
 * integers, string literals (plain or Huffman), the static table and the dynamic table with its
 * size updates and eviction.
 *
 * A passive observer must decode every block of a direction, in order, to keep its dynamic table
 * in step with the endpoints'; a decoding error (COMPRESSION_ERROR for the endpoints) leaves the
 * table unknown, so the caller stops decoding that direction. Everything an attacker controls is
 * bounded: integers, string lengths, the table size (`maxTableSize`) and the decoded header list.
 */
import { canonicalCode, HUFFMAN_EOS, HUFFMAN_LENGTHS, STATIC_TABLE } from './hpack-tables';

export class HpackError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Offset in the decoded buffer where decoding stopped. */
    readonly at: number,
  ) {
    super(message);
  }
}

const HUFF = canonicalCode(HUFFMAN_LENGTHS);
const H_FIRST = HUFF.firstCode;
const H_COUNT = HUFF.count;
const H_OFFSET = HUFF.offset;
const H_SYMBOLS = HUFF.symbols;

/** Scratch space for Huffman output: decoded text is at most 8/5 of the encoded length. */
let scratch = Buffer.allocUnsafe(4096);

/**
 * Decodes `buf[off, end)` as a Huffman-coded string (latin1, one char per octet). Throws on EOS in
 * the data, on padding longer than 7 bits or not made of 1 bits (section 5.2).
 */
export function huffmanDecode(buf: Buffer, off: number, end: number): string {
  const need = Math.ceil(((end - off) * 8) / 5);
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let code = 0;
  let len = 0;
  for (let p = off; p < end; p++) {
    const byte = buf[p];
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      len++;
      // Canonical code: a code of this length is one of the `count` consecutive values from `first`.
      const idx = code - H_FIRST[len];
      if (idx < H_COUNT[len]) {
        const sym = H_SYMBOLS[H_OFFSET[len] + idx];
        if (sym === HUFFMAN_EOS) throw new HpackError('hpack-huffman-eos', 'EOS symbol inside a Huffman string', p);
        out[n++] = sym;
        code = 0;
        len = 0;
      } else if (len >= 30) {
        throw new HpackError('hpack-huffman', 'invalid Huffman code', p);
      }
    }
  }
  if (len > 7) throw new HpackError('hpack-huffman-padding', 'Huffman padding longer than 7 bits', end);
  if (code !== (1 << len) - 1) throw new HpackError('hpack-huffman-padding', 'Huffman padding is not the EOS prefix', end);
  return out.toString('latin1', 0, n);
}

export interface HeaderField {
  name: string;
  value: string;
}

/** Size of an entry as the dynamic table counts it (section 4.1): octets plus 32. */
export const entrySize = (name: string, value: string): number => name.length + value.length + 32;

/**
 * The dynamic table (section 2.3.2): newest entry first in the index space, evicted oldest first.
 * Entries live in a ring so that insertion and eviction are O(1).
 */
export class DynamicTable {
  private names: string[] = [];
  private values: string[] = [];
  /** Ring position of the oldest entry, and number of entries. */
  private head = 0;
  private n = 0;
  /** Sum of entry sizes. */
  size = 0;

  constructor(
    /** Current maximum size (changed by size updates). */
    public maxSize: number,
  ) {}

  get length(): number {
    return this.n;
  }

  /** Entry `i`, 0 = newest. */
  get(i: number): HeaderField | null {
    if (i < 0 || i >= this.n) return null;
    const r = (this.head + this.n - 1 - i) % this.names.length;
    return { name: this.names[r], value: this.values[r] };
  }

  add(name: string, value: string): void {
    const s = entrySize(name, value);
    // An entry larger than the table empties it and is not added (section 4.4).
    if (s > this.maxSize) {
      this.clear();
      return;
    }
    while (this.size + s > this.maxSize) this.evictOldest();
    if (this.n === this.names.length) this.grow();
    const r = (this.head + this.n) % this.names.length;
    this.names[r] = name;
    this.values[r] = value;
    this.n++;
    this.size += s;
  }

  resize(max: number): void {
    this.maxSize = max;
    while (this.size > max) this.evictOldest();
  }

  /** Entries newest first (for tests and diagnostics). */
  entries(): HeaderField[] {
    const out: HeaderField[] = [];
    for (let i = 0; i < this.n; i++) out.push(this.get(i)!);
    return out;
  }

  private clear(): void {
    this.names = [];
    this.values = [];
    this.head = 0;
    this.n = 0;
    this.size = 0;
  }

  private evictOldest(): void {
    const r = this.head;
    this.size -= entrySize(this.names[r], this.values[r]);
    this.names[r] = '';
    this.values[r] = '';
    this.head = (this.head + 1) % this.names.length;
    this.n--;
  }

  private grow(): void {
    const cap = Math.max(8, this.names.length * 2);
    const names = new Array<string>(cap);
    const values = new Array<string>(cap);
    for (let i = 0; i < this.n; i++) {
      const r = (this.head + i) % this.names.length;
      names[i] = this.names[r];
      values[i] = this.values[r];
    }
    this.names = names;
    this.values = values;
    this.head = 0;
  }
}

export interface HpackDecoderOptions {
  /**
   * Largest table size a size update may set: what the peer decoding this direction allows
   * (SETTINGS_HEADER_TABLE_SIZE, 4096 until it says otherwise), capped by our own memory bound.
   */
  maxTableSize?: number;
  /** Bound on one decoded header list (sum of entry sizes, as SETTINGS_MAX_HEADER_LIST_SIZE counts); default 64 KiB. */
  maxHeaderListSize?: number;
}

/** Largest integer accepted: far above any legitimate index, length or size, far below 2^53. */
const MAX_INT = 0x7fffffff;

export class HpackDecoder {
  readonly table: DynamicTable;
  /** Upper bound for size updates; the connection raises it when the decoding peer announces more. */
  maxTableSize: number;
  private readonly maxList: number;
  private pos = 0;

  constructor(opts: HpackDecoderOptions = {}) {
    this.maxTableSize = opts.maxTableSize ?? 4096;
    this.maxList = opts.maxHeaderListSize ?? 64 * 1024;
    this.table = new DynamicTable(Math.min(4096, this.maxTableSize));
  }

  /**
   * Decodes one complete header block, calling `field` for each header in order. Throws HpackError
   * on malformed input; the table then no longer matches the endpoints' and must not be used.
   */
  decode(buf: Buffer, off: number, end: number, field: (name: string, value: string) => void): void {
    this.pos = off;
    let listSize = 0;
    let fieldsSeen = false;
    while (this.pos < end) {
      const b = buf[this.pos];
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed header field (6.1).
        const idx = this.int(buf, end, 7);
        const f = this.lookup(idx);
        name = f.name;
        value = f.value;
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (6.3): only before the first field of a block (4.2).
        const at = this.pos;
        const size = this.int(buf, end, 5);
        if (fieldsSeen) throw new HpackError('hpack-size-update', 'dynamic table size update after a header field', at);
        if (size > this.maxTableSize)
          throw new HpackError('hpack-size-update', `dynamic table size update to ${size} above the allowed ${this.maxTableSize}`, at);
        this.table.resize(size);
        continue;
      } else {
        // Literal (6.2): with incremental indexing (01, 6-bit index), without (0000) or never indexed (0001), 4-bit index.
        const indexing = (b & 0xc0) === 0x40;
        const idx = this.int(buf, end, indexing ? 6 : 4);
        name = idx === 0 ? this.str(buf, end) : this.lookup(idx).name;
        value = this.str(buf, end);
        if (indexing) this.table.add(name, value);
      }
      fieldsSeen = true;
      listSize += entrySize(name, value);
      if (listSize > this.maxList) throw new HpackError('hpack-list-size', `decoded header list exceeds ${this.maxList} bytes`, this.pos);
      field(name, value);
    }
  }

  private lookup(idx: number): HeaderField {
    if (idx === 0) throw new HpackError('hpack-index', 'index 0', this.pos);
    if (idx <= STATIC_TABLE.length) {
      const e = STATIC_TABLE[idx - 1];
      return { name: e[0], value: e[1] };
    }
    const f = this.table.get(idx - STATIC_TABLE.length - 1);
    if (f === null) throw new HpackError('hpack-index', `index ${idx} beyond the ${this.table.length}-entry dynamic table`, this.pos);
    return f;
  }

  /** Prefixed integer (5.1) starting at this.pos with an N-bit prefix. */
  private int(buf: Buffer, end: number, prefix: number): number {
    const mask = (1 << prefix) - 1;
    let v = buf[this.pos++] & mask;
    if (v < mask) return v;
    let shift = 0;
    for (;;) {
      if (this.pos >= end) throw new HpackError('hpack-truncated', 'integer runs past the end of the header block', this.pos);
      const b = buf[this.pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (v > MAX_INT) throw new HpackError('hpack-integer', 'integer too large', this.pos);
      if ((b & 0x80) === 0) return v;
      shift += 7;
    }
  }

  /** String literal (5.2). */
  private str(buf: Buffer, end: number): string {
    if (this.pos >= end) throw new HpackError('hpack-truncated', 'string literal missing at the end of the header block', this.pos);
    const huff = (buf[this.pos] & 0x80) !== 0;
    const len = this.int(buf, end, 7);
    if (len > end - this.pos) throw new HpackError('hpack-truncated', `string of ${len} bytes runs past the end of the header block`, this.pos);
    const start = this.pos;
    this.pos += len;
    return huff ? huffmanDecode(buf, start, start + len) : buf.toString('latin1', start, start + len);
  }
}
