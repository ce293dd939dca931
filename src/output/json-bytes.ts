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

export class JsonBytes {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  /** A value had another type than the record's: the line must be made another way. */
  bad = false;

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

  /** Text that is already JSON (JSON.stringify's output: no lone surrogates), UTF-8 encoded; 3 bytes per unit at most. */
  raw(s: string): void {
    const b = this.buf;
    let p = this.pos;
    const n = s.length;
    for (let i = 0; i < n; i++) {
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
    this.pos = p;
  }

  /** JSON.stringify(n) for a number or null: non-finite numbers are null. */
  num(n: number | null): void {
    if (typeof n !== 'number') {
      if (n !== null) this.bad = true;
      this.null();
      return;
    }
    if ((n | 0) === n && n >= 0) {
      this.pos = uint(this.buf, this.pos, n);
      return;
    }
    if (n >= 1 && n < 4294967296) {
      // A time in seconds with microseconds (nearly every such number here): its shortest
      // round-trip text, which `${n}` computes, is its six decimals without trailing zeros. The
      // decimals are the only ones that round to n when k / 1e6 is n, and no shorter decimal
      // rounds to n either (doubles below 2^32 are less than 1e-6 apart).
      const k = Math.round(n * 1e6);
      if (k / 1e6 === n) {
        const whole = Math.floor(k / 1e6);
        let frac = k - whole * 1e6;
        let p = uintWide(this.buf, this.pos, whole);
        if (frac !== 0) {
          const b = this.buf;
          let digits = 6;
          while (frac % 10 === 0) {
            frac /= 10;
            digits--;
          }
          b[p++] = 0x2e;
          const end = p + digits;
          for (let q = end; q > p; ) {
            const d = frac % 10;
            b[--q] = 0x30 + d;
            frac = (frac - d) / 10;
          }
          p = end;
        }
        this.pos = p;
        return;
      }
    }
    if (Number.isFinite(n)) this.ascii(`${n}`);
    else this.null();
  }

  bool(v: boolean): void {
    if (typeof v !== 'boolean') this.bad = true;
    this.ascii(v ? 'true' : 'false');
  }
}

/** A non-negative 31-bit integer in decimal at b[p]; returns the end. */
function uint(b: Buffer, p: number, n: number): number {
  let digits = 1;
  for (let t = n; t >= 10; t = (t / 10) | 0) digits++;
  const end = p + digits;
  let q = end;
  do {
    const t = (n / 10) | 0;
    b[--q] = 0x30 + n - t * 10;
    n = t;
  } while (n > 0);
  return end;
}

/** The same for an integer in [0, 2^32). */
function uintWide(b: Buffer, p: number, n: number): number {
  if (n < 0x80000000) return uint(b, p, n);
  let digits = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
  const end = p + digits;
  let q = end;
  do {
    const t = Math.floor(n / 10);
    b[--q] = 0x30 + n - t * 10;
    n = t;
  } while (n > 0);
  return end;
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
