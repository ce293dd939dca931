/** DNS name helpers for the DNS detectors: registered domain, subdomain part, character entropy. */
import { getDomain } from 'tldts';

export function normalizeName(q: string): string {
  return q.toLowerCase().replace(/\.$/, '');
}

/**
 * The registered domain and what precedes it ("" when nothing does), by the Public Suffix List
 * with its private section (tldts): a cloud's per-customer suffixes (s3.eu-west-1.amazonaws.com,
 * appspot.com, ...) register names of their own, so a bucket's long name is its registered domain,
 * not a high-entropy subdomain of amazonaws.com. Names under no known suffix (cluster.local,
 * bare hosts) fall back to the last two labels.
 */
export function splitRegistered(name: string): { registered: string; sub: string } {
  const labels = name.split('.').filter((l) => l.length > 0);
  const clean = labels.join('.');
  const reg = getDomain(clean, { allowPrivateDomains: true, validateHostname: false }) ?? (labels.length <= 2 ? clean : labels.slice(-2).join('.'));
  if (reg === clean || !clean.endsWith(`.${reg}`)) return { registered: reg, sub: '' };
  return { registered: reg, sub: clean.slice(0, clean.length - reg.length - 1) };
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
