/**
 * Stitching one-way flow records into connections: NetFlow v5/v9, IPFIX without biflow elements
 * and AWS VPC flow logs describe ONE direction per record, so a conversation arrives as two
 * records (A->B and B->A). The stitcher pairs them into one connection record with both sides'
 * counters, and marks a record that stays alone `observed: 'one-way'` (parsers/record/conn.ts),
 * so that nobody reads its empty resp_* side as "never answered".
 *
 * Pairing: same scope (exporter and observation domain, or VPC interface), same protocol, the
 * two endpoints crossed, and times that overlap (within `slackSec`, for exporters with whole
 * seconds). ICMP pairs a request type with its reply type (echo 8 with echo reply 0).
 *
 * Originator, in order of evidence:
 *   1. TCP: the side whose flags show a bare SYN (SYN without ACK) when the other's do not; the
 *      side that answered SYN+ACK to no SYN at all is the responder.
 *   2. TCP with no SYN on either side (a record of a connection already open: active timeout,
 *      midstream): the port heuristic first, since both sides' times only say when the window began.
 *   3. The earlier start.
 *   4. Port heuristic (as Zeek's flips): a well-known port (< 1024) facing an ephemeral one is
 *      the server's; otherwise the lower port is the server's.
 *   5. The record that arrived first.
 * conn_state and history come from the combined TCP flags as for a biflow (to-conn.ts).
 *
 * Memory is bounded: a record waits at most `holdSec` (of the caller's clock: arrival time for
 * a collector, event time for a file) and at most `maxPending` records wait; beyond either the
 * oldest are emitted alone, marked one-way. A second record of the same direction replaces the
 * waiting one, which is emitted alone (its reverse, if any, was not seen in time).
 */
import { icmpCounterpart } from '../record/community-id';
import type { ConnRecord } from '../record/conn';
import { payloadEstimate, tcpConnState, tcpHistory } from './to-conn';

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

export interface StitchOptions {
  /** How long a record waits for its reverse, seconds of the caller's clock (default 60). */
  holdSec?: number;
  /** Records waiting at once (default 100000); beyond it the oldest is emitted alone. */
  maxPending?: number;
  /** Times of the two directions may miss each other by this much and still overlap (default 1 s). */
  slackSec?: number;
}

export interface StitchStats {
  /** One-way records taken in. */
  records: number;
  /** Connections made of two records. */
  paired: number;
  /** Records emitted alone, marked one-way. */
  oneWay: number;
  /** Of which pushed out by the maxPending cap. */
  evicted: number;
}

interface Pending {
  key: string;
  r: ConnRecord;
  /** Caller's clock when it arrived. */
  at: number;
  /** Paired, replaced or emitted: left in the arrival queue until the queue's head passes it. */
  gone: boolean;
}

/** The side of a one-way record that sent its packets. */
interface Side {
  h: string;
  p: number;
  pkts: number;
  ipBytes: number;
  bytes: number;
  l2: string | null;
  local: boolean;
  /** TCP flags read back from the record's history; -1 when the record has none. */
  flags: number;
  start: number;
  end: number;
}

/** Whether the record's packets went resp -> orig (a VPC record flipped on its SYN-ACK). */
function flipped(r: ConnRecord): boolean {
  return r.orig_pkts === 0 && r.resp_pkts > 0;
}

/** The TCP flags a one-way record's history letters prove (either case: either orientation). */
function flagsOf(history: string): number {
  if (history === '') return -1;
  let f = 0;
  for (let i = 0; i < history.length; i++) {
    switch (history[i]) {
      case 'S':
      case 's':
        f |= SYN;
        break;
      case 'H':
      case 'h':
        f |= SYN | ACK;
        break;
      case 'A':
      case 'a':
        f |= ACK;
        break;
      case 'F':
      case 'f':
        f |= FIN;
        break;
      case 'R':
      case 'r':
        f |= RST;
        break;
      default:
        break;
    }
  }
  return f;
}

function sideOf(r: ConnRecord): Side {
  const fl = flipped(r);
  return {
    h: fl ? r.resp_h : r.orig_h,
    p: fl ? r.resp_p : r.orig_p,
    pkts: fl ? r.resp_pkts : r.orig_pkts,
    ipBytes: fl ? r.resp_ip_bytes : r.orig_ip_bytes,
    bytes: fl ? r.resp_bytes : r.orig_bytes,
    l2: fl ? r.resp_l2_addr : r.orig_l2_addr,
    local: fl ? r.local_resp : r.local_orig,
    flags: r.ip_proto === 6 ? flagsOf(r.history) : -1,
    start: r.ts,
    end: r.ts + r.duration,
  };
}

function peerOf(r: ConnRecord): { h: string; p: number; l2: string | null; local: boolean } {
  return flipped(r)
    ? { h: r.orig_h, p: r.orig_p, l2: r.orig_l2_addr, local: r.local_orig }
    : { h: r.resp_h, p: r.resp_p, l2: r.resp_l2_addr, local: r.local_resp };
}

const ICMP4_REQUESTS: ReadonlySet<number> = new Set([8, 13, 15, 10, 17]);
const ICMP6_REQUESTS: ReadonlySet<number> = new Set([128, 133, 135, 130, 139, 144]);

function isIcmp(proto: number): boolean {
  return proto === 1 || proto === 58;
}

function icmpIsRequest(proto: number, type: number): boolean {
  return (proto === 1 ? ICMP4_REQUESTS : ICMP6_REQUESTS).has(type);
}

/**
 * Directional keys: `key` names this record's direction, `reverse` the direction its partner
 * would have. ICMP uses the request type on both sides, so a reply finds its request.
 */
function keysOf(scope: string, r: ConnRecord, s: Side): { key: string; reverse: string } {
  const peer = peerOf(r);
  if (isIcmp(r.ip_proto)) {
    const t = s.p;
    const cp = icmpCounterpart(r.ip_proto, t);
    const req = cp < 0 || icmpIsRequest(r.ip_proto, t) ? t : cp;
    return { key: `${scope}|${r.ip_proto}|${s.h}|${peer.h}|${req}`, reverse: `${scope}|${r.ip_proto}|${peer.h}|${s.h}|${req}` };
  }
  return {
    key: `${scope}|${r.ip_proto}|${s.h}|${s.p}|${peer.h}|${peer.p}`,
    reverse: `${scope}|${r.ip_proto}|${peer.h}|${peer.p}|${s.h}|${s.p}`,
  };
}

/** > 0 when the side with port `a` looks like the server against port `b`, < 0 the other way, 0 undecided. */
function serverPort(a: number, b: number): number {
  const wa = a < 1024;
  const wb = b < 1024;
  if (wa !== wb) return wa ? 1 : -1;
  return a === b ? 0 : a < b ? 1 : -1;
}

const bareSyn = (f: number): boolean => f >= 0 && (f & (SYN | ACK)) === SYN;
const synAck = (f: number): boolean => f >= 0 && (f & (SYN | ACK)) === (SYN | ACK);
const hasSyn = (f: number): boolean => f >= 0 && (f & SYN) !== 0;

/** Whether `a` (arrived first) is the originator of the pair. */
export function firstIsOriginator(ra: ConnRecord, a: Side, rb: ConnRecord, b: Side): boolean {
  if (ra.ip_proto === 6) {
    if (bareSyn(a.flags) && !bareSyn(b.flags)) return true;
    if (bareSyn(b.flags) && !bareSyn(a.flags)) return false;
    if (synAck(a.flags) && !hasSyn(b.flags)) return false;
    if (synAck(b.flags) && !hasSyn(a.flags)) return true;
    if (!hasSyn(a.flags) && !hasSyn(b.flags)) {
      const sp = serverPort(a.p, b.p);
      if (sp !== 0) return sp < 0;
    }
  }
  if (isIcmp(ra.ip_proto)) {
    const ta = icmpIsRequest(ra.ip_proto, a.p);
    const tb = icmpIsRequest(rb.ip_proto, b.p);
    if (ta !== tb) return ta;
  }
  if (a.start !== b.start) return a.start < b.start;
  if (ra.ip_proto === 6 || ra.ip_proto === 17 || ra.ip_proto === 132) {
    const sp = serverPort(a.p, b.p);
    if (sp !== 0) return sp < 0;
  }
  return true;
}

/** One connection from the originator's record `o` and the responder's record `q`. */
export function mergePair(o: ConnRecord, q: ConnRecord): ConnRecord {
  const so = sideOf(o);
  const sq = sideOf(q);
  const ipVersion = so.h.includes(':') ? 6 : 4;
  const start = Math.min(so.start, sq.start);
  const end = Math.max(so.end, sq.end);
  // Payload: the exporter's estimate when it made one (NetFlow), else from IP bytes (VPC).
  const origBytes = so.bytes > 0 ? so.bytes : payloadEstimate(so.ipBytes, so.pkts, ipVersion, o.ip_proto);
  const respBytes = sq.bytes > 0 ? sq.bytes : payloadEstimate(sq.ipBytes, sq.pkts, ipVersion, o.ip_proto);
  let state = o.conn_state;
  let history = '';
  if (o.ip_proto === 6) {
    const of = Math.max(0, so.flags);
    const rf = Math.max(0, sq.flags);
    state = so.flags < 0 && sq.flags < 0 ? 'OTH' : tcpConnState(of, rf);
    history = tcpHistory(of, rf, origBytes > so.pkts * 40, respBytes > sq.pkts * 40);
  } else {
    // The responder's own record proves it sent, even from templates without packet counters
    // (Cisco ASA's NSEL counts bytes only; some exporters send no counters at all).
    state = 'SF';
    if (o.ip_proto === 17) history = (origBytes > 0 ? 'D' : '') + (respBytes > 0 ? 'd' : '');
  }
  const peer = peerOf(o);
  const r: ConnRecord = {
    ...o,
    ts: start,
    orig_h: so.h,
    orig_p: so.p,
    resp_h: peer.h,
    resp_p: peer.p,
    duration: Math.round((end - start) * 1e6) / 1e6,
    orig_bytes: origBytes,
    resp_bytes: respBytes,
    conn_state: state,
    local_orig: so.local,
    local_resp: peer.local,
    history,
    orig_pkts: so.pkts,
    orig_ip_bytes: so.ipBytes,
    resp_pkts: sq.pkts,
    resp_ip_bytes: sq.ipBytes,
    orig_l2_addr: so.l2,
    resp_l2_addr: peer.l2 ?? sq.l2,
  };
  delete r.observed;
  r.stitched = true;
  return r;
}

/**
 * A record emitted alone, marked one-way. A TCP record of exactly one packet whose flags are
 * SYN+ACK is a lone SYN-ACK: its source is the responder, so it is turned round as Zeek does
 * (originator = the SYN-ACK's destination, history `h`, state OTH).
 */
export function oneWay(r: ConnRecord): ConnRecord {
  r.observed = 'one-way';
  if (r.ip_proto !== 6 || r.orig_pkts !== 1 || r.resp_pkts !== 0 || flagsOf(r.history) !== (SYN | ACK)) return r;
  return {
    ...r,
    orig_h: r.resp_h,
    orig_p: r.resp_p,
    resp_h: r.orig_h,
    resp_p: r.orig_p,
    orig_bytes: 0,
    resp_bytes: r.orig_bytes,
    orig_pkts: 0,
    orig_ip_bytes: 0,
    resp_pkts: 1,
    resp_ip_bytes: r.orig_ip_bytes,
    local_orig: r.local_resp,
    local_resp: r.local_orig,
    orig_l2_addr: r.resp_l2_addr,
    resp_l2_addr: r.orig_l2_addr,
    history: 'h',
    conn_state: 'OTH',
  };
}

export class FlowStitcher {
  private readonly pending = new Map<string, Pending>();
  // Arrival order, for expiry and the cap: a plain queue, because a Map emptied from its front
  // keeps the deleted slots and makes every look at the front walk past them.
  private queue: Pending[] = [];
  private head = 0;
  private readonly holdSec: number;
  private readonly maxPending: number;
  private readonly slackSec: number;
  readonly stats: StitchStats = { records: 0, paired: 0, oneWay: 0, evicted: 0 };

  constructor(
    private readonly emit: (r: ConnRecord) => void,
    o: StitchOptions = {},
  ) {
    this.holdSec = o.holdSec ?? 60;
    this.maxPending = Math.max(1, o.maxPending ?? 100_000);
    this.slackSec = o.slackSec ?? 1;
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * Take a one-way record. `scope` keeps apart what two observation points saw (exporter and
   * domain; VPC interface); `now` is the clock the hold is measured in.
   */
  add(r: ConnRecord, scope: string, now: number): void {
    this.stats.records++;
    this.expire(now);
    const s = sideOf(r);
    const { key, reverse } = keysOf(scope, r, s);
    const other = this.pending.get(reverse);
    if (other !== undefined) {
      const so = sideOf(other.r);
      if (Math.max(s.start, so.start) <= Math.min(s.end, so.end) + this.slackSec) {
        this.pending.delete(reverse);
        other.gone = true;
        this.stats.paired++;
        this.emit(firstIsOriginator(other.r, so, r, s) ? mergePair(other.r, r) : mergePair(r, other.r));
        return;
      }
    }
    const same = this.pending.get(key);
    if (same !== undefined) {
      this.pending.delete(key);
      same.gone = true;
      this.alone(same.r);
    }
    const p: Pending = { key, r, at: now, gone: false };
    this.pending.set(key, p);
    this.queue.push(p);
    if (this.pending.size > this.maxPending) {
      const first = this.front() as Pending;
      this.drop(first);
      this.stats.evicted++;
      this.alone(first.r);
    }
  }

  /** Emit, alone, every record that waited longer than holdSec by `now`. */
  expire(now: number): void {
    for (let p = this.front(); p !== undefined && p.at + this.holdSec < now; p = this.front()) {
      this.drop(p);
      this.alone(p.r);
    }
  }

  /** Emit everything still waiting, alone, in arrival order (end of input, shutdown). */
  flush(): void {
    for (let p = this.front(); p !== undefined; p = this.front()) {
      this.drop(p);
      this.alone(p.r);
    }
    this.queue = [];
    this.head = 0;
  }

  /** The oldest record still waiting. */
  private front(): Pending | undefined {
    while (this.head < this.queue.length && this.queue[this.head].gone) this.head++;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    } else if (this.queue.length - this.head > 2 * this.pending.size + 4096) {
      // Paired records behind a long-waiting front: keep the queue bounded by the live ones.
      this.queue = this.queue.slice(this.head).filter((p) => !p.gone);
      this.head = 0;
    }
    return this.queue[this.head];
  }

  private drop(p: Pending): void {
    p.gone = true;
    this.pending.delete(p.key);
  }

  private alone(r: ConnRecord): void {
    this.stats.oneWay++;
    this.emit(oneWay(r));
  }
}
