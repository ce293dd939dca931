/**
 * Field checks and record assembly shared by the flow formats. Checks throw FlowFieldError with
 * the field name and what is wrong; the driver turns that into a line error and goes on.
 */
import { formatAddress, parseAddress } from '../record/address';
import { communityIdFromBytes } from '../record/community-id';
import type { LocalNets } from '../record/local-nets';
import { transportOf, type ConnRecord, type ConnState, type RecordSource } from '../record/conn';
import { FlowFieldError } from './types';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;
export const PROTO_SCTP = 132;

const CONN_STATES: ReadonlySet<string> = new Set(['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH']);

export function fail(field: string | undefined, reason: string): never {
  throw new FlowFieldError(field, reason);
}

/** JSON-ish rendering of a bad value for messages, cut short. */
export function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'missing' : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export function portOf(field: string, v: string | number | unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(field, `${show(v)} is not a port`);
  return n;
}

export function countOf(field: string, v: string | number | unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) fail(field, `${show(v)} is not a count`);
  return n;
}

export function intOf(field: string, v: string | number | unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) fail(field, `${show(v)} is not an integer`);
  return n;
}

/** Non-negative seconds, decimal (Zeek `time`/`interval`, epoch seconds). */
export function secondsOf(field: string, v: string | number | unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0) fail(field, `${show(v)} is not a time in seconds`);
  return n;
}

/** RFC 3339 time (Hubble, Zeek's ISO8601 JSON timestamps) to epoch seconds, keeping microseconds. */
export function rfc3339Of(field: string, v: unknown): number {
  const m = typeof v === 'string' ? /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(v) : null;
  const base = m ? Date.parse(m[1] + m[3]) : NaN;
  if (!m || !Number.isFinite(base)) fail(field, `${show(v)} is not an RFC 3339 time`);
  // Fraction parsed apart so nanosecond digits do not lose the microseconds to float rounding.
  const frac = m[2] ? Math.round(Number(`${m[2]}000000000`.slice(0, 9)) / 1000) / 1e6 : 0;
  return base / 1000 + frac;
}

export function boolOf(field: string, v: unknown): boolean {
  if (v === true || v === 'T' || v === 'true') return true;
  if (v === false || v === 'F' || v === 'false') return false;
  return fail(field, `${show(v)} is not a boolean`);
}

export interface Addr {
  text: string;
  bytes: Uint8Array;
}

/** Address checked and printed canonically (as Zeek prints it), so keys and ids agree across sources. */
export function addrOf(field: string, v: unknown): Addr {
  const bytes = typeof v === 'string' ? parseAddress(v) : null;
  if (!bytes) fail(field, `${show(v)} is not an IP address`);
  return { text: formatAddress(bytes, 0, bytes.length), bytes };
}

export function stateOf(field: string, v: unknown): ConnState {
  if (typeof v !== 'string' || !CONN_STATES.has(v)) fail(field, `${show(v)} is not a Zeek conn_state`);
  return v as ConnState;
}

export interface Endpoints {
  orig: Addr;
  resp: Addr;
  origP: number;
  respP: number;
  ipProto: number;
}

/** Shared by the formats: Community ID and local flags from the oriented 5-tuple. */
export class RecordKit {
  constructor(
    readonly localNets: LocalNets,
    readonly seed: number,
    /** The source every record of the parse says it came from (ConnRecord.source). */
    readonly source: RecordSource,
  ) {}

  communityId(e: Endpoints): string {
    if (e.orig.bytes.length !== e.resp.bytes.length) fail('id', `address families differ: ${e.orig.text} / ${e.resp.text}`);
    return communityIdFromBytes(this.seed, e.ipProto, e.orig.bytes, 0, e.resp.bytes, 0, e.orig.bytes.length, e.origP, e.respP);
  }

  isLocal(a: Addr): boolean {
    return this.localNets.contains(a.bytes, 0, a.bytes.length);
  }

  /** A record with the 5-tuple set and every other field at its documented default. */
  base(ts: number, uid: string, e: Endpoints): ConnRecord {
    return {
      ts,
      uid,
      orig_h: e.orig.text,
      orig_p: e.origP,
      resp_h: e.resp.text,
      resp_p: e.respP,
      proto: transportOf(e.ipProto),
      ip_proto: e.ipProto,
      service: [],
      duration: 0,
      orig_bytes: 0,
      resp_bytes: 0,
      conn_state: 'OTH',
      local_orig: this.isLocal(e.orig),
      local_resp: this.isLocal(e.resp),
      missed_bytes: 0,
      history: '',
      orig_pkts: 0,
      orig_ip_bytes: 0,
      resp_pkts: 0,
      resp_ip_bytes: 0,
      tunnel_parents: [],
      community_id: this.communityId(e),
      vlan: null,
      inner_vlan: null,
      orig_l2_addr: null,
      resp_l2_addr: null,
      tunnel_type: null,
      tunnel_id: null,
      interim: false,
      source: this.source,
    };
  }
}

/** Whole seconds and nanoseconds of an epoch time, for UidGenerator. */
export function splitTs(ts: number): [number, number] {
  const sec = Math.floor(ts);
  return [sec, Math.round((ts - sec) * 1e6) * 1000];
}

/** A line-oriented format parser: one call per non-empty unit, then end() to flush held state. */
export interface FormatParser {
  /** Parse one line; records go to the emit callback given at construction. Throws FlowFieldError on a bad line. */
  line(text: string, lineNo: number): void;
  /** End of input: emit whatever is held (Hubble's open connections). */
  end(): void;
}

export interface ParserCounters {
  events: number;
  noData: number;
  skipData: number;
  ignored: number;
}
