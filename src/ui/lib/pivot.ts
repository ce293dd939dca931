/**
 * Pivots: the searches one value or one connection leads to, as query text and URL parameters
 * the views read. No DOM code, so test/ui/helpers.test.ts checks them against the real parser.
 */
import { and, clause } from './query';
import { isoOf } from './time';

/** The window around a connection that "the same pair" is searched in, on each side. */
export const PAIR_WINDOW_SEC = 3600;

/** `field: value` added to the query (or `not field: value`), joined with `and`. */
export function addClause(q: string, field: string, value: string | number, negate = false): string {
  const c = clause(field, value);
  return and(q, negate ? `not ${c}` : c);
}

export interface PairEnds {
  orig_h?: unknown;
  resp_h?: unknown;
  resp_p?: unknown;
  ts: number;
  duration?: unknown;
}

/** The query for connections of the same originator, responder and responder port. */
export function samePairQuery(r: PairEnds): string {
  return and(
    typeof r.orig_h === 'string' ? clause('source.ip', r.orig_h) : null,
    typeof r.resp_h === 'string' ? clause('destination.ip', r.resp_h) : null,
    typeof r.resp_p === 'number' ? clause('destination.port', r.resp_p) : null,
  );
}

/**
 * The time window of the same-pair pivot: the connection's own span widened by PAIR_WINDOW_SEC
 * each side, in whole seconds so the link reads well (the bounds still contain the connection).
 */
export function pairWindow(r: PairEnds, padSec = PAIR_WINDOW_SEC): { from: string; to: string } {
  const dur = typeof r.duration === 'number' && Number.isFinite(r.duration) ? r.duration : 0;
  return { from: isoOf(Math.floor(r.ts - padSec)), to: isoOf(Math.ceil(r.ts + dur + padSec)) };
}

/** The fields of the search page's summary sidebar (query names the service takes in `top`). */
export const SUMMARY_FIELDS: { field: string; label: string }[] = [
  { field: 'eastwatch.source.namespace', label: 'Source namespace' },
  { field: 'eastwatch.source.workload', label: 'Source workload' },
  { field: 'eastwatch.destination.namespace', label: 'Destination namespace' },
  { field: 'eastwatch.destination.workload', label: 'Destination workload' },
  { field: 'destination.port', label: 'Destination port' },
  { field: 'network.transport', label: 'Transport' },
  { field: 'network.protocol', label: 'Service' },
  { field: 'zeek.connection.state', label: 'Connection state' },
];

/** Whether an alert's evidence names the connection. */
export function evidenceNames(a: { evidence?: { uids?: readonly string[] } | null }, uid: string): boolean {
  return a.evidence?.uids?.includes(uid) ?? false;
}

/**
 * Connection record fields (as GET /connections/{uid} names them, flattened) whose values make
 * a useful term; times, durations and counts are ranges, not terms, so they are left out.
 */
export const RECORD_QUERY_FIELDS: Record<string, string> = {
  orig_h: 'source.ip',
  orig_p: 'source.port',
  resp_h: 'destination.ip',
  resp_p: 'destination.port',
  proto: 'network.transport',
  service: 'network.protocol',
  conn_state: 'zeek.connection.state',
  history: 'zeek.connection.history',
  community_id: 'network.community_id',
  'k8s.orig.namespace': 'eastwatch.source.namespace',
  'k8s.orig.workload': 'eastwatch.source.workload',
  'k8s.orig.pod': 'eastwatch.source.pod',
  'k8s.orig.service': 'eastwatch.source.service',
  'k8s.orig.node': 'eastwatch.source.node',
  'k8s.resp.namespace': 'eastwatch.destination.namespace',
  'k8s.resp.workload': 'eastwatch.destination.workload',
  'k8s.resp.pod': 'eastwatch.destination.pod',
  'k8s.resp.service': 'eastwatch.destination.service',
  'k8s.resp.node': 'eastwatch.destination.node',
  'k8s.policy.verdict': 'eastwatch.policy.verdict',
};

/** The term a record field's value pivots to, or null when it has none (empty, a list of several, not a term field). */
export function recordPivot(key: string, value: unknown): { field: string; value: string } | null {
  const field = RECORD_QUERY_FIELDS[key];
  if (!field) return null;
  const v = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
  if (typeof v === 'string' ? v === '' : typeof v !== 'number') return null;
  return { field, value: String(v) };
}
