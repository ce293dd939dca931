/**
 * Plausibility of a connection record before it is stored or queued: what both backends can hold
 * the same way (uid charset and length, a time a date_nanos field holds, ports, addresses, sizes),
 * checked in one place so that SQLite and Elasticsearch refuse (dead-letter) the same records and
 * one bad record never costs its batch. The ingest path checks the same with a tighter time window.
 */
import { ipKey } from '../query/ip';
import type { StoreRecord } from './types';

/** Letters, digits, `_` and `-`, 1..64 characters: Zeek's uids and ours, and a safe Elasticsearch _id. */
export const UID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Elasticsearch date_nanos ends in 2262; SQLite has no limit, and the two must agree. */
const MAX_STORE_TS = Date.UTC(2262, 0, 1) / 1000;
/** A year: longer connections are cut into interim records long before. */
export const MAX_DURATION_SECONDS = 366 * 86400;
/** A petabyte: more than any one connection's counters. */
const MAX_COUNT = 1e15;
const TRANSPORTS = new Set(['tcp', 'udp', 'icmp', 'unknown_transport']);

export interface RecordProblem {
  field: string;
  reason: string;
}

export interface PlausibleOptions {
  /** Earliest and latest acceptable ts, epoch seconds; default 1970 .. 2262 (what both stores hold). */
  minTs?: number;
  maxTs?: number;
}

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}... (${s.length} characters)` : s;
};

function count(field: string, v: unknown): RecordProblem | null {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_COUNT) return { field, reason: `${show(v)} is not a count in 0..1e15` };
  return null;
}

function port(field: string, v: unknown): RecordProblem | null {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) return { field, reason: `${show(v)} is not a port (0..65535)` };
  return null;
}

/** The first implausible field of a record, or null when it may be stored. */
export function recordProblem(r: StoreRecord, o: PlausibleOptions = {}): RecordProblem | null {
  if (typeof r.uid !== 'string' || !UID_RE.test(r.uid)) return { field: 'uid', reason: `${show(r.uid)} is not a uid (1..64 letters, digits, _ or -)` };
  const minTs = o.minTs ?? 0;
  const maxTs = o.maxTs ?? MAX_STORE_TS;
  if (typeof r.ts !== 'number' || !Number.isFinite(r.ts) || r.ts < minTs || r.ts > maxTs)
    return { field: 'ts', reason: `${show(r.ts)} is outside ${new Date(minTs * 1000).toISOString()} .. ${new Date(maxTs * 1000).toISOString()}` };
  if (typeof r.duration !== 'number' || !Number.isFinite(r.duration) || r.duration < 0 || r.duration > MAX_DURATION_SECONDS)
    return { field: 'duration', reason: `${show(r.duration)} is not a duration in 0..${MAX_DURATION_SECONDS} s` };
  if (typeof r.orig_h !== 'string' || ipKey(r.orig_h) === null) return { field: 'orig_h', reason: `${show(r.orig_h)} is not an IP address` };
  if (typeof r.resp_h !== 'string' || ipKey(r.resp_h) === null) return { field: 'resp_h', reason: `${show(r.resp_h)} is not an IP address` };
  const p = port('orig_p', r.orig_p) ?? port('resp_p', r.resp_p);
  if (p) return p;
  if (!TRANSPORTS.has(r.proto)) return { field: 'proto', reason: `${show(r.proto)} is not tcp, udp, icmp or unknown_transport` };
  for (const f of ['orig_bytes', 'resp_bytes', 'orig_pkts', 'resp_pkts', 'orig_ip_bytes', 'resp_ip_bytes', 'missed_bytes'] as const) {
    const c = count(f, r[f]);
    if (c) return c;
  }
  if (!Array.isArray(r.tunnel_parents) || r.tunnel_parents.length > 16 || !r.tunnel_parents.every((u) => typeof u === 'string' && UID_RE.test(u)))
    return { field: 'tunnel_parents', reason: 'at most 16 uids' };
  if (!Array.isArray(r.service) || r.service.length > 16 || !r.service.every((s) => typeof s === 'string' && s.length <= 64))
    return { field: 'service', reason: 'at most 16 names of at most 64 characters' };
  if (typeof r.history !== 'string' || r.history.length > 1024) return { field: 'history', reason: 'at most 1024 characters' };
  if (typeof r.community_id !== 'string' || r.community_id.length > 128) return { field: 'community_id', reason: 'at most 128 characters' };
  return null;
}
