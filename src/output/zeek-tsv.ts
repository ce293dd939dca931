/**
 * The pieces of Zeek's ASCII log format shared by every log we write (conn.log and the
 * application logs): header and footer lines, timestamps in them, and field escaping.
 */

/** `#open`/`#close` time as Zeek writes it: 2026-01-15-10-00-00 (UTC). */
export function zeekTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

/** Zeek escapes the separators and non-printable characters as \xHH. */
export function tsvEscape(s: string): string {
  // Our strings rarely carry such characters: test before paying for a replace.
  return /[\t\n\\,]|[^\x20-\x7e]/.test(s) ? s.replace(/[\t\n\\,]|[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`) : s;
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
