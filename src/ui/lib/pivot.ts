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
