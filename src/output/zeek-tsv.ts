/**
 * The pieces of Zeek's ASCII log format shared by every log we write (conn.log and the
 * application logs): header and footer lines, timestamps in them, and field escaping.
 */

/** `#open`/`#close` time as Zeek writes it: 2026-01-15-10-00-00 (UTC). */
export function zeekTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

/**
 * A string field as Zeek's ASCII writer writes it (as zeek-cut reads it): the field separator
 * (tab), newline, backslash and other control characters as \xHH; a string that reads as the
 * unset marker ('-') as \x2d; valid UTF-8 as is and each byte of invalid UTF-8 as \xHH. The set
 * separator (',') is escaped only inside set and vector values (tsvElement).
 *
 * Strings the analyzers take from the wire are latin1 text, a character per byte: their bytes
 * are judged as UTF-8 here. A string with characters above U+00FF, or one the caller says is
 * decoded text already (`unicode`), is written as is.
 */
export function tsvEscape(s: string, unicode = false): string {
  if (s === '-') return '\\x2d';
  // Our strings rarely carry such characters: test before paying for the walk.
  return PLAIN.test(s) ? s : zeekText(s, escapeTsv, unicode);
}

/** An element of a set or vector value: tsvEscape, and the set separator ',' as \x2c. */
export function tsvElement(s: string, unicode = false): string {
  if (s === '-') return '\\x2d';
  return PLAIN_ELEMENT.test(s) ? s : zeekText(s, escapeTsvElement, unicode);
}

/** A string for Zeek's JSON writer: valid UTF-8 decoded, each byte of invalid UTF-8 as the text \xHH (JSON escapes the rest). */
export function jsonText(s: string, unicode = false): string {
  return unicode || isAscii(s) ? s : zeekText(s, () => false, false);
}

const PLAIN = /^[\x20-\x5b\x5d-\x7e]*$/;
const PLAIN_ELEMENT = /^[\x20-\x2b\x2d-\x5b\x5d-\x7e]*$/;
/** Only ASCII: no byte to judge as UTF-8. */
const isAscii = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
};
const escapeTsv = (c: number): boolean => c < 0x20 || c === 0x5c || c === 0x7f;
const escapeTsvElement = (c: number): boolean => c < 0x20 || c === 0x5c || c === 0x7f || c === 0x2c;

const hex2 = (c: number): string => `\\x${c.toString(16).padStart(2, '0')}`;

/** Walks `s`: ASCII escaped where `esc` says, latin1 bytes >= 0x80 decoded as UTF-8 when they form a valid sequence, else \xHH. */
function zeekText(s: string, esc: (c: number) => boolean, unicode: boolean): string {
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      out += esc(c) ? hex2(c) : s[i];
      continue;
    }
    if (c > 0xff || unicode) {
      out += s[i];
      continue;
    }
    const len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    let cp = len === 2 ? c & 0x1f : len === 3 ? c & 0x0f : c & 0x07;
    let ok = len > 0 && i + len <= n;
    for (let k = 1; ok && k < len; k++) {
      const b = s.charCodeAt(i + k);
      if (b < 0x80 || b > 0xbf) ok = false;
      else cp = (cp << 6) | (b & 0x3f);
    }
    // Overlong forms, surrogates and code points beyond U+10FFFF are not valid UTF-8.
    if (ok && ((len === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len === 4 && (cp < 0x10000 || cp > 0x10ffff)))) ok = false;
    if (ok) {
      out += String.fromCodePoint(cp);
      i += len - 1;
    } else out += hex2(c);
  }
  return out;
}

/** Header of a Zeek TSV log: separators, path, open time, then the field names and types (the first two entries of each column). */
export function zeekHeader(logPath: string, fields: readonly (readonly [string, string, ...unknown[]])[], now: Date): string {
  return (
    `#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t${logPath}\n#open\t${zeekTime(now)}\n` +
    `#fields\t${fields.map((f) => f[0]).join('\t')}\n#types\t${fields.map((f) => f[1]).join('\t')}\n`
  );
}

export function zeekFooter(now: Date): string {
  return `#close\t${zeekTime(now)}\n`;
}
