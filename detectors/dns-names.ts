/** DNS name helpers for the DNS detectors: registered domain, subdomain part, character entropy. */

/** Second-level labels under which ccTLDs register names (co.uk, com.au, ...): a short list, not the Public Suffix List. */
const SECOND_LEVEL = new Set(['co', 'com', 'net', 'org', 'gov', 'ac', 'edu', 'ne', 'or', 'go']);

export function normalizeName(q: string): string {
  return q.toLowerCase().replace(/\.$/, '');
}

/** The registered domain ("example.com", "example.co.uk") and what precedes it ("" when nothing does). */
export function splitRegistered(name: string): { registered: string; sub: string } {
  const labels = name.split('.').filter((l) => l.length > 0);
  if (labels.length <= 2) return { registered: labels.join('.'), sub: '' };
  const tld = labels[labels.length - 1];
  const sld = labels[labels.length - 2];
  const n = tld.length === 2 && SECOND_LEVEL.has(sld) ? 3 : 2;
  return { registered: labels.slice(-n).join('.'), sub: labels.slice(0, -n).join('.') };
}

/** Shannon entropy, bits per character. */
export function entropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

export function underSuffix(name: string, suffixes: readonly string[]): boolean {
  for (const s of suffixes) if (name === s || name.endsWith(`.${s}`)) return true;
  return false;
}
