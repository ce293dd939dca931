/**
 * JSON values encoded straight to UTF-8 bytes, exactly as `Buffer.from(JSON.stringify(v))` would
 * encode them, for the app-log lines written by the hundred thousand (http and dns ndjson). A
 * line built as a string of many pieces had to be flattened, then encoded, then collected: more
 * than the HTTP parse that made its record (measured with --cpu-prof on the short-session bench
 * capture). The caller reserves room first (`bound*`), then writes; a value of an unexpected type
 * sets `bad`, and the caller rewinds and writes the line the generic way.
 */

/** Bytes a JSON string or null takes at most: 6 per UTF-16 unit (`\u001f`, a lone surrogate), quotes. */
export function boundStr(s: string | null): number {
  return typeof s === 'string' ? 6 * s.length + 2 : 8;
}

/** Bytes a JSON number, boolean or null takes at most (`-1.7976931348623157e+308` is 24). */
export const BOUND_SCALAR = 32;

const HEX = '0123456789abcdef';

/**
 * ASCII text (a key with its punctuation) as little-endian 4-byte words, written a word at a
 * time by `JsonBytes.text`: a byte at a time, these constant runs were the largest part of a
 * connection line's cost.
 */
export class AsciiRun {
  readonly length: number;
  readonly words: Int32Array;

  constructor(s: string) {
    const bytes = Buffer.alloc(Math.ceil(s.length / 4) * 4);
    bytes.write(s, 'latin1');
    this.length = s.length;
    this.words = new Int32Array(bytes.length / 4);
    for (let i = 0; i < this.words.length; i++) this.words[i] = bytes.readInt32LE(4 * i);
  }
}

/** Room an AsciiRun may write past its end (see `JsonBytes.text`). */
export const RUN_SLACK = 3;

export class JsonBytes {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  /** A value had another type than the record's: the line must be made another way. */
  bad = false;
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, 0);

  /** Starts writing at `buf[pos]`. */
  begin(buf: Buffer, pos: number): void {
    if (buf !== this.buf) {
      this.buf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    }
    this.pos = pos;
    this.bad = false;
  }

  /**
   * An AsciiRun, in whole words: the last word writes up to RUN_SLACK bytes past the run, which
   * what follows overwrites or which stay past the end of what is kept. The room for them must
   * be in the caller's bound. Only after `begin` (it keeps the buffer's view).
   */
  text(run: AsciiRun): void {
    const v = this.view;
    const w = run.words;
    const p = this.pos;
    for (let i = 0; i < w.length; i++) v.setInt32(p + 4 * i, w[i], true);
    this.pos = p + run.length;
  }

  /** Bytes given as ASCII text (keys and punctuation, known not to need escaping). */
  lit(bytes: Uint8Array): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < bytes.length; i++) b[p++] = bytes[i];
    this.pos = p;
  }

  /** Text known to be ASCII without characters JSON escapes (a number's digits). */
  ascii(s: string): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  private null(): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = 0x6e;
    b[p + 1] = 0x75;
    b[p + 2] = 0x6c;
    b[p + 3] = 0x6c;
    this.pos = p + 4;
  }

  /** JSON.stringify(s) for a string or null. */
  str(s: string | null): void {
    if (s === null) {
      this.null();
      return;
    }
    if (typeof s !== 'string') {
      this.bad = true;
      return;
    }
    const b = this.buf;
    let p = this.pos;
    b[p++] = 0x22;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0x80) {
        if (c === 0x22 || c === 0x5c) b[p++] = 0x5c;
        b[p++] = c;
      } else if (c < 0x20) {
        b[p++] = 0x5c;
        if (c === 0x08) b[p++] = 0x62;
        else if (c === 0x09) b[p++] = 0x74;
        else if (c === 0x0a) b[p++] = 0x6e;
        else if (c === 0x0c) b[p++] = 0x66;
        else if (c === 0x0d) b[p++] = 0x72;
        else p = escapeUnit(b, p, c);
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        p = utf8Three(b, p, c);
      } else {
        const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (d >= 0xdc00 && d <= 0xdfff) {
          p = utf8Four(b, p, 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
          i++;
        } else {
          // A lone surrogate: well-formed JSON.stringify escapes it.
          b[p++] = 0x5c;
          p = escapeUnit(b, p, c);
        }
      }
    }
    b[p++] = 0x22;
    this.pos = p;
  }

  /**
   * A string written as it is (JSON.stringify's output, or a value a line has between its quotes
   * unescaped), UTF-8 encoded as Buffer.write encodes it; 3 bytes per unit at most.
   */
  raw(s: string): void {
    if (typeof s !== 'string') {
      // A line with another type here is made the generic way.
      this.bad = true;
      return;
    }
    const b = this.buf;
    let p = this.pos;
    const n = s.length;
    // ASCII (nearly all text here) in a loop small enough to be inlined; the rest apart.
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[p++] = c;
    }
    this.pos = i < n ? utf8Rest(b, p, s, i) : p;
  }

  /** JSON.stringify(n) for a number or null: non-finite numbers are null. */
  num(n: number | null): void {
    if (typeof n !== 'number') {
      if (n !== null) this.bad = true;
      this.null();
      return;
    }
    if (Number.isFinite(n)) this.numText(n);
    else this.null();
  }

  /**
   * `${n}` for a number, as string concatenation writes it (NaN and the infinities too, which
   * JSON would make null): what the connection line's numbers are.
   */
  numText(n: number): void {
    if (typeof n !== 'number') {
      this.bad = true;
      return;
    }
    if ((n | 0) === n && n >= 0) {
      this.pos = uint(this.buf, this.pos, n | 0);
      return;
    }
    if (n > 0 && n < 4294967296) {
      // A time or a duration in seconds with microseconds (nearly every such number here): its
      // shortest round-trip text, which `${n}` computes, is its six decimals without trailing
      // zeros. When k / 1e6 is n those decimals round to n, and any other decimal with no more
      // significant digits is at least 1e-6 from them, while the decimals that round to n are
      // less than 1e-6 apart (doubles below 2^32 are). From 1e-6 (k >= 1) to 1, `${n}` writes
      // "0.000123".
      const k = Math.round(n * 1e6);
      if (k / 1e6 === n) {
        const whole = Math.floor(n);
        // Below 1e6, as an int32: divided and taken modulo as integers, not doubles (fmod is a call).
        let frac = (k - whole * 1e6) | 0;
        let p = uintWide(this.buf, this.pos, whole);
        if (frac !== 0) {
          const b = this.buf;
          let digits = 6;
          while (frac % 10 === 0) {
            frac = (frac / 10) | 0;
            digits--;
          }
          b[p++] = 0x2e;
          const end = p + digits;
          for (let q = end; q > p; ) {
            const t = (frac / 10) | 0;
            b[--q] = 0x30 + frac - t * 10;
            frac = t;
          }
          p = end;
        }
        this.pos = p;
        return;
      }
    }
    this.ascii(`${n}`);
  }

  bool(v: boolean): void {
    if (typeof v !== 'boolean') this.bad = true;
    this.ascii(v ? 'true' : 'false');
  }
}

/** A non-negative 31-bit integer in decimal at b[p]; returns the end. */
function uint(b: Buffer, p: number, n: number): number {
  // Most are a few digits (ports, packet and byte counts): compared, not divided, to count them.
  const digits =
    n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
  const end = p + digits;
  let q = end;
  while (n >= 10) {
    const t = (n / 10) | 0;
    b[--q] = 0x30 + n - t * 10;
    n = t;
  }
  b[--q] = 0x30 + n;
  return end;
}

/** The same for an integer in [0, 2^32). */
function uintWide(b: Buffer, p: number, n: number): number {
  if (n < 0x80000000) return uint(b, p, n);
  const t = Math.floor(n / 10);
  p = uint(b, p, t);
  b[p] = 0x30 + n - t * 10;
  return p + 1;
}

/** s from unit i on, UTF-8 encoded at b[p] (see `JsonBytes.raw`); returns the end. */
function utf8Rest(b: Buffer, p: number, s: string, i: number): number {
  const n = s.length;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) b[p++] = c;
    else if (c < 0x800) {
      b[p++] = 0xc0 | (c >> 6);
      b[p++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) p = utf8Three(b, p, c);
    else {
      const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        p = utf8Four(b, p, 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
        i++;
      } else p = utf8Three(b, p, 0xfffd); // as Buffer.write encodes a lone surrogate
    }
  }
  return p;
}

/** `u` and four lower-case hex digits (the backslash is written by the caller). */
function escapeUnit(b: Buffer, p: number, c: number): number {
  b[p++] = 0x75;
  b[p++] = HEX.charCodeAt(c >> 12);
  b[p++] = HEX.charCodeAt((c >> 8) & 15);
  b[p++] = HEX.charCodeAt((c >> 4) & 15);
  b[p++] = HEX.charCodeAt(c & 15);
  return p;
}

function utf8Three(b: Buffer, p: number, c: number): number {
  b[p++] = 0xe0 | (c >> 12);
  b[p++] = 0x80 | ((c >> 6) & 0x3f);
  b[p++] = 0x80 | (c & 0x3f);
  return p;
}

function utf8Four(b: Buffer, p: number, cp: number): number {
  b[p++] = 0xf0 | (cp >> 18);
  b[p++] = 0x80 | ((cp >> 12) & 0x3f);
  b[p++] = 0x80 | ((cp >> 6) & 0x3f);
  b[p++] = 0x80 | (cp & 0x3f);
  return p;
}
