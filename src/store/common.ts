/**
 * What both backends share: turning a SearchFilter into one AST (time range included), which
 * fields can be sorted and aggregated, and the order of edges. Keeping it here is what makes the
 * two backends give the same answers.
 */
import { instantFromSeconds, type Instant, type Query } from '../query/ast';
import { CONN_FIELDS, type FieldDef, type FieldRegistry } from '../query/fields';
import { instantInRange, MAX_INSTANT_SECONDS, parseInstant, parseQuery } from '../query/parser';
import { StoreRequestError, type Edge, type SearchFilter, type TimeBound } from './types';

export function toInstant(b: TimeBound, now: Date): Instant {
  const i = b instanceof Date ? instantFromSeconds(b.getTime() / 1000) : typeof b === 'number' ? instantFromSeconds(b) : parseInstant(b, now);
  if (i === null) throw new StoreRequestError(`'${String(b)}' is not a time: use ISO 8601 or now-15m`);
  // Beyond these no Date (nor Elasticsearch's date_nanos) holds the bound: refused, not a 500.
  if (!instantInRange(i)) throw new StoreRequestError(`'${String(b)}' is outside the times a search can name (1970 to 9999)`);
  return i;
}

/** The filter as one AST: query and [from, to) on @timestamp. */
export function filterQuery(f: SearchFilter, now = new Date(), fields: FieldRegistry = CONN_FIELDS): Query {
  const parts: Query[] = [];
  const q = typeof f.query === 'string' || f.query === undefined ? parseQuery(f.query ?? '', { now, fields }) : f.query;
  if (q.kind !== 'all') parts.push(q);
  const ts = fields.field('@timestamp') as FieldDef;
  if (f.from !== undefined) parts.push({ kind: 'range', field: ts, op: 'gte', value: { kind: 'date', v: toInstant(f.from, now) }, pos: 0 });
  if (f.to !== undefined) parts.push({ kind: 'range', field: ts, op: 'lt', value: { kind: 'date', v: toInstant(f.to, now) }, pos: 0 });
  if (parts.length === 0) return { kind: 'all' };
  return parts.length === 1 ? parts[0] : { kind: 'and', children: parts };
}

/** Columns that may be absent; keyset pagination needs a value on every row, so these do not sort. */
const OPTIONAL = new Set([
  'network.vlan.id',
  'network.inner.vlan.id',
  'source.mac',
  'destination.mac',
  'eastwatch.tunnel.type',
  'eastwatch.tunnel.id',
  'eastwatch.source.kind',
  'eastwatch.source.namespace',
  'eastwatch.source.pod',
  'eastwatch.source.workload',
  'eastwatch.source.service',
  'eastwatch.source.node',
  'eastwatch.destination.kind',
  'eastwatch.destination.namespace',
  'eastwatch.destination.pod',
  'eastwatch.destination.workload',
  'eastwatch.destination.service',
  'eastwatch.destination.node',
  'eastwatch.scope',
  'eastwatch.policy.verdict',
]);

export function sortField(name: string, fields: FieldRegistry = CONN_FIELDS): FieldDef {
  const d = fields.field(name);
  if (!d) throw new StoreRequestError(`unknown sort field '${name}'`);
  if (d.multi || d.optional || OPTIONAL.has(d.name)) throw new StoreRequestError(`'${d.name}' cannot be sorted on (it may hold no value or several)`);
  return d;
}

/** A field to aggregate on; `pooled` when it is an either-alias whose fields' values count together. */
export type AggDef = FieldDef & { readonly pooled?: readonly string[] };

/**
 * A field, alias or either-alias (`ns`, `port`): every name a query takes is aggregated on too. An
 * either-alias pools both ends' values, a connection counting once per distinct value, as related.ip does.
 */
export function aggField(name: string, fields: FieldRegistry = CONN_FIELDS): AggDef {
  const r = fields.resolve(name);
  if (!r) {
    const hint = fields.suggest(name);
    throw new StoreRequestError(`unknown field '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
  }
  if (r.kind === 'either') {
    const [first] = r.defs;
    return {
      ...first,
      name,
      aliases: [],
      multi: true,
      sql: { columns: r.defs.flatMap((d) => d.sql.columns), json: false, text: first.sql.text },
      pooled: r.defs.map((d) => d.name),
    };
  }
  const d = r.def;
  if (d.type === 'date') throw new StoreRequestError(`'${d.name}' is a time: use the histogram`);
  return d;
}

/** The most buckets a top-values answer may hold. */
export const MAX_TOP = 1000;

export function topSize(size: number | undefined): number {
  const n = size ?? 10;
  if (!Number.isInteger(n) || n < 1 || n > MAX_TOP) throw new StoreRequestError(`the top size must be 1..${MAX_TOP}, got ${n}`);
  return n;
}

/** The most application records one connection's answer holds (a DNS flow can carry millions). */
export const MAX_APPS_OF = 10_000;

/** The most edges one answer may hold. */
export const MAX_EDGES = 5000;

/**
 * The most distinct edges (address pairs with port, transport and identities) one answer reads
 * before ranking. Ranking needs every pair's total, and a scan of a large /16 can make millions
 * of pairs; past this the answer ranks the pairs read and says it was cut (EdgeList.truncated).
 */
export const MAX_EDGE_PAIRS = 50_000;

export function edgePairCap(n: number | undefined): number {
  const v = n ?? MAX_EDGE_PAIRS;
  if (!Number.isInteger(v) || v < 1 || v > MAX_EDGE_PAIRS) throw new StoreRequestError(`the edge pair cap must be 1..${MAX_EDGE_PAIRS}, got ${v}`);
  return v;
}

export function edgeLimit(limit: number | undefined): number {
  const n = limit ?? 1000;
  if (!Number.isInteger(n) || n < 1 || n > MAX_EDGES) throw new StoreRequestError(`the edge limit must be 1..${MAX_EDGES}, got ${n}`);
  return n;
}

export function pageSize(limit: number | undefined): number {
  const n = limit ?? 100;
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new StoreRequestError(`limit must be 1..10000, got ${n}`);
  return n;
}

export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/**
 * What one value of a cursor may be: the cursor comes back from the client, so every value is
 * checked against what the sort field can hold before it reaches SQL or search_after.
 */
export type CursorKind = 'number' | 'string' | 'date-text' | 'hex-key' | 'ip-text' | 'any-scalar';

const DATE_TEXT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

function cursorValueOk(v: unknown, kind: CursorKind): boolean {
  switch (kind) {
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_INSTANT_SECONDS * 1e9;
    case 'string':
      return typeof v === 'string' && v.length <= 1024;
    case 'date-text':
      return typeof v === 'string' && DATE_TEXT.test(v) && v.slice(0, 4) >= '1970';
    case 'hex-key':
      return typeof v === 'string' && /^[0-9a-f]{32}$/.test(v);
    case 'ip-text':
      return typeof v === 'string' && v.length <= 64 && /^[0-9a-fA-F.:]+$/.test(v);
    case 'any-scalar':
      return (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' || (typeof v === 'string' && v.length <= 1024);
  }
}

export function decodeCursor(c: string, n: number, kinds?: readonly CursorKind[]): unknown[] {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === n && v.every((x, k) => cursorValueOk(x, kinds?.[k] ?? 'any-scalar'))) return v;
  } catch {
    // fall through to the error below
  }
  throw new StoreRequestError('invalid page cursor (it must be the `next` of a previous page with the same sort)');
}

/**
 * Histogram bounds: at most this many buckets per answer. A wider request gets the smallest
 * interval from NICE_INTERVALS (or a multiple of a year) at least as wide as asked that fits.
 */
export const MAX_HISTOGRAM_BUCKETS = 2000;
const NICE_INTERVALS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 7 * 86400, 30 * 86400, 365 * 86400];

/** Buckets aligned to the epoch (both backends) between two times, for an interval. */
function bucketsBetween(min: number, max: number, iv: number): number {
  return Math.floor(max / iv) - Math.floor(min / iv) + 1;
}

/** The interval a histogram over [min, max] (epoch seconds) uses when `iv` was asked: `iv` when it fits. */
export function fitInterval(iv: number, min: number, max: number, maxBuckets = MAX_HISTOGRAM_BUCKETS): number {
  if (bucketsBetween(min, max, iv) <= maxBuckets) return iv;
  for (const n of NICE_INTERVALS) if (n > iv && bucketsBetween(min, max, n) <= maxBuckets) return n;
  const year = 365 * 86400;
  let k = Math.ceil((max - min) / year / (maxBuckets - 1));
  while (bucketsBetween(min, max, k * year) > maxBuckets) k++;
  return k * year;
}

export function checkInterval(iv: number): void {
  if (!Number.isInteger(iv) || iv < 1 || iv > 366 * 86400)
    throw new StoreRequestError(`the histogram interval must be 1..${366 * 86400} whole seconds, got ${iv}`);
}

/** Most connections first, then most bytes, then by names: a total order, identical for both backends. */
export function compareEdges(a: Edge, b: Edge): number {
  return b.connections - a.connections || b.bytes - a.bytes || edgeKey(a).localeCompare(edgeKey(b));
}

function edgeKey(e: Edge): string {
  return [
    e.source.ip,
    e.destination.ip,
    String(e.destination.port).padStart(5, '0'),
    e.transport,
    e.source.namespace,
    e.source.workload,
    e.destination.namespace,
    e.destination.workload,
    e.destination.service,
  ].join('\u0000');
}

/** Start of the UTC day `days` days before `now`. */
export function retentionCutoff(days: number, now: Date): Date {
  if (!Number.isInteger(days) || days < 0) throw new StoreRequestError(`retention must be a whole number of days >= 0, got ${days}`);
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  d.setUTCDate(d.getUTCDate() - days);
  return d;
}
