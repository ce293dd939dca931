/**
 * The two fixed tables of HPACK (RFC 7541): the static header table (Appendix A) and the Huffman
 * code (Appendix B).
 *
 * The Huffman code is canonical (codes of one length are consecutive, in symbol order, and each
 * length continues from the previous one), so the 257 code lengths define it completely; the codes
 * are derived from them below and checked against the RFC's printed values in the tests.
 */

/** Appendix A, index 1..61 at [index - 1]. */
export const STATIC_TABLE: readonly (readonly [name: string, value: string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Appendix B: code length in bits of symbols 0..255 and EOS (256). */
// prettier-ignore
export const HUFFMAN_LENGTHS: readonly number[] = [
  // 0..31: control characters
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  // 32..63: ' ' ! " # $ % & ' ( ) * + , - . / 0..9 : ; < = > ?
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  // 64..95: @ A..Z [ \ ] ^ _
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  // 96..127: ` a..z { | } ~ DEL
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128..255
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23,
  21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26,
  24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27,
  27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // EOS
  30,
];

export const HUFFMAN_EOS = 256;

export interface CanonicalCode {
  /** Code of each symbol, right-aligned (as the RFC prints them in hex). */
  codes: Uint32Array;
  /** Per length 1..30: first code of that length, number of codes, and where its symbols start in `symbols`. */
  firstCode: Int32Array;
  count: Int32Array;
  offset: Int32Array;
  /** Symbols sorted by (length, symbol). */
  symbols: Uint16Array;
}

/** Derives the canonical codes from the lengths. */
export function canonicalCode(lengths: readonly number[]): CanonicalCode {
  const maxLen = 30;
  const count = new Int32Array(maxLen + 1);
  for (const l of lengths) count[l]++;
  const firstCode = new Int32Array(maxLen + 1);
  const offset = new Int32Array(maxLen + 1);
  let code = 0;
  let at = 0;
  for (let l = 1; l <= maxLen; l++) {
    code = (code + count[l - 1]) * 2;
    firstCode[l] = code;
    offset[l] = at;
    at += count[l];
  }
  const symbols = new Uint16Array(lengths.length);
  const next = Int32Array.from(offset);
  const codes = new Uint32Array(lengths.length);
  const nextCode = Int32Array.from(firstCode);
  for (let s = 0; s < lengths.length; s++) {
    const l = lengths[s];
    symbols[next[l]++] = s;
    codes[s] = nextCode[l]++;
  }
  return { codes, firstCode, count, offset, symbols };
}
