/**
 * Query-language text the UI writes for the analyst (edge and capture filters) and the
 * autocomplete's view of what is being typed. The service parses and checks every query; this
 * only has to produce text its parser reads as meant (see src/query/parser.ts).
 */

const BARE = /^[A-Za-z0-9_.:/@*-]+$/;
const KEYWORD = /^(and|or|not)$/i;

/** A value as the parser reads it literally: bare when safe, else double-quoted with escapes. */
export function quoteValue(v: string): string {
  if (v !== '' && BARE.test(v) && !KEYWORD.test(v) && !v.includes('*')) return v;
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function clause(field: string, value: string | number): string {
  return `${field}:${quoteValue(String(value))}`;
}

/** Whether `or` binds at the top of the query text (outside parentheses and quotes). */
export function hasTopLevelOr(q: string): boolean {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === '\\') i++;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && (q.startsWith('||', i) || (/^or\b/i.test(q.slice(i, i + 3)) && (i === 0 || /[\s)]/.test(q[i - 1]))))) return true;
  }
  return false;
}

/** The parts joined with `and`; a part whose own `or` would otherwise bind looser is parenthesized. */
export function and(...parts: (string | null | undefined | false)[]): string {
  const kept = parts.filter((p): p is string => typeof p === 'string' && p.trim() !== '');
  return kept.map((p) => (kept.length > 1 && hasTopLevelOr(p) ? `(${p})` : p)).join(' and ');
}

export interface EndIdentity {
  ip?: string | null;
  namespace?: string | null;
  workload?: string | null;
  service?: string | null;
  /** Any of these addresses (a collapsed group of external destinations). */
  ips?: string[];
}

/** The clauses that select one end of a connection: its workload when known, else its service, else its address. */
export function endQuery(side: 'source' | 'destination', e: EndIdentity): string {
  if (e.workload) {
    return and(e.namespace ? clause(`eastwatch.${side}.namespace`, e.namespace) : null, clause(`eastwatch.${side}.workload`, e.workload));
  }
  if (e.service) {
    return and(e.namespace ? clause(`eastwatch.${side}.namespace`, e.namespace) : null, clause(`eastwatch.${side}.service`, e.service));
  }
  if (e.ip) return clause(side === 'source' ? 'source.ip' : 'destination.ip', e.ip);
  if (e.ips?.length) return anyOf(side === 'source' ? 'source.ip' : 'destination.ip', e.ips);
  if (e.namespace) return clause(`eastwatch.${side}.namespace`, e.namespace);
  return '';
}

export function anyOf(field: string, values: string[]): string {
  if (values.length === 0) return '';
  if (values.length === 1) return clause(field, values[0]);
  return `${field}:(${values.map(quoteValue).join(' or ')})`;
}

/** The word being typed at the caret, when it is (the start of) a field name. */
export interface FieldToken {
  start: number;
  end: number;
  prefix: string;
}

const STOP = /[\s()!]/;

export function fieldTokenAt(q: string, caret: number): FieldToken | null {
  let start = caret;
  while (start > 0 && !STOP.test(q[start - 1])) start--;
  let end = caret;
  while (end < q.length && !STOP.test(q[end]) && q[end] !== ':') end++;
  const word = q.slice(start, caret);
  // Past the colon the analyst is typing a value; inside quotes, a literal.
  if (word.includes(':') || word.includes('"') || word.includes("'") || /[<>=]/.test(word)) return null;
  if (KEYWORD.test(word)) return null;
  const before = q.slice(0, start);
  if ((before.match(/"/g)?.length ?? 0) % 2 === 1) return null;
  return { start, end, prefix: word };
}

export interface Suggestion {
  name: string;
  /** The name as written when an alias matched (e.g. dport for destination.port). */
  insert: string;
  type: string;
  description: string;
}

export interface FieldLike {
  name: string;
  type: string;
  aliases: string[];
  description: string;
}

/** Fields whose name or alias starts with (then contains) the prefix; at most `max`. */
export function suggestFields(fields: FieldLike[], prefix: string, max = 12): Suggestion[] {
  const p = prefix.toLowerCase();
  const starts: Suggestion[] = [];
  const contains: Suggestion[] = [];
  for (const f of fields) {
    for (const n of [...f.aliases, f.name]) {
      const l = n.toLowerCase();
      const s = { name: f.name, insert: n, type: f.type, description: f.description };
      if (l.startsWith(p)) starts.push(s);
      else if (p.length > 1 && l.includes(p)) contains.push(s);
    }
  }
  const seen = new Set<string>();
  const out: Suggestion[] = [];
  for (const s of [...starts, ...contains]) {
    if (seen.has(s.insert)) continue;
    seen.add(s.insert);
    out.push(s);
    if (out.length >= max) break;
  }
  return out;
}

/** The query with the token replaced by `name:`; and where the caret goes. */
export function applySuggestion(q: string, t: FieldToken, insert: string): { query: string; caret: number } {
  const rest = q.slice(t.end);
  const colon = rest.startsWith(':') ? '' : ':';
  const query = `${q.slice(0, t.start)}${insert}${colon}${rest}`;
  return { query, caret: t.start + insert.length + 1 };
}
