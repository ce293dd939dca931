/**
 * What both backends share: turning a SearchFilter into one AST (time range included), which
 * fields can be sorted and aggregated, and the order of edges. Keeping it here is what makes the
 * two backends give the same answers.
 */
import { instantFromSeconds, type Instant, type Query } from '../query/ast';
import { CONN_FIELDS, type FieldDef, type FieldRegistry } from '../query/fields';
import { parseInstant, parseQuery } from '../query/parser';
import { StoreRequestError, type Edge, type SearchFilter, type TimeBound } from './types';

export function toInstant(b: TimeBound, now: Date): Instant {
  if (b instanceof Date) return instantFromSeconds(b.getTime() / 1000);
  if (typeof b === 'number') return instantFromSeconds(b);
  const i = parseInstant(b, now);
  if (i === null) throw new StoreRequestError(`'${b}' is not a time: use ISO 8601 or now-15m`);
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

export function aggField(name: string, fields: FieldRegistry = CONN_FIELDS): FieldDef {
  const d = fields.field(name);
  if (!d) throw new StoreRequestError(`unknown field '${name}'`);
  if (d.type === 'date') throw new StoreRequestError(`'${d.name}' is a time: use the histogram`);
  return d;
}

export function pageSize(limit: number | undefined): number {
  const n = limit ?? 100;
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new StoreRequestError(`limit must be 1..10000, got ${n}`);
  return n;
}

export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(c: string, n: number): unknown[] {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === n) return v;
  } catch {
    // fall through to the error below
  }
  throw new StoreRequestError('invalid page cursor (it must be the `next` of a previous page with the same sort)');
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
  ].join('\u0000');
}

/** Start of the UTC day `days` days before `now`. */
export function retentionCutoff(days: number, now: Date): Date {
  if (!Number.isInteger(days) || days < 0) throw new StoreRequestError(`retention must be a whole number of days >= 0, got ${days}`);
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  d.setUTCDate(d.getUTCDate() - days);
  return d;
}
