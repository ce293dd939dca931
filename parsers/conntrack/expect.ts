/**
 * Expected connections: a control connection announces one to come (FTP's PORT, EPRT and its
 * server's 227 / 229 answers to PASV and EPSV; an IRC DCC SEND offer), and a later connection
 * that matches it gets a service of its own (`ftp-data`, `irc-dcc-data`), as Zeek does.
 *
 * Zeek keeps two things for each announcement, and a connection gets the service only when both
 * hold at its first packet (base/protocols/ftp/main.zeek, base/protocols/irc/dcc-send.zeek):
 * - the analyzer scheduled for (orig or any, resp, resp port), for 5 minutes from the
 *   announcement (Analyzer::schedule_analyzer; never taken back before that);
 * - the script's table entry for (resp, resp port), which the end of a connection that got the
 *   service deletes (finalize_ftp_data, finalize_irc_data) until an announcement adds it again.
 *
 * Every change is stamped with its place in the one-tracker order (`OrderKey`), and a match asks
 * for the state as it was before a given place: so `analyze --threads`, whose reading thread learns
 * a worker's announcements and another worker's connections out of order, resolves them in its
 * merge exactly as one tracker does when they happen (src/analyze/threads.ts).
 */

/** How long an announcement holds: Zeek's 5 min schedule_analyzer timeout and the tables' read_expire. */
export const EXPECT_TIMEOUT_SEC = 300;

/** A place in the one-tracker order: the packet's global index, then the tracker's EmitPhase. */
export interface OrderKey {
  g: number;
  phase: number;
}

export function compareOrder(x: OrderKey, y: OrderKey): number {
  return x.g - y.g || x.phase - y.phase;
}

/** A connection to come, in absolute addresses (as ConnInfo prints them). */
export interface Expectation {
  /** Who will open it; null: anyone (Zeek's 0.0.0.0, as the DCC script schedules). */
  orig_h: string | null;
  resp_h: string;
  resp_p: number;
  /** The service the matching connection gets. */
  service: string;
  /** When it was announced (seconds since the epoch). */
  ts: number;
}

/** What a new connection is matched on. */
export interface ExpectedConnInfo {
  proto: string;
  orig_h: string;
  resp_h: string;
  resp_p: number;
  /** Its first packet. */
  ts: number;
}

interface Change {
  at: OrderKey;
  /** null: the entry was deleted (a connection that had the service ended). */
  exp: Expectation | null;
}

/** Changes kept per (resp, port, service): plenty for a control connection's retries. */
const MAX_CHANGES = 64;
/**
 * Entries held; beyond it the oldest goes. Not by age: the threaded merge matches a connection
 * when its record comes out, possibly long after its first packet, and must find what one tracker
 * found then. Only a connection that outlives this many later announcements can tell the two apart.
 */
const MAX_ENTRIES = 65536;

export class ExpectationTable {
  /** Changes per `resp_h|resp_p`, then per service, in order. */
  private readonly changes = new Map<string, Map<string, Change[]>>();

  /** Number of (resp, port) entries held. */
  get size(): number {
    return this.changes.size;
  }

  add(e: Expectation, at: OrderKey): void {
    if (!(Number.isInteger(e.resp_p) && e.resp_p >= 0 && e.resp_p <= 65535) || e.resp_h === '')
      throw new Error(`expectation for ${e.service}: bad responder ${e.resp_h}:${e.resp_p}`);
    const k = `${e.resp_h}|${e.resp_p}`;
    let m = this.changes.get(k);
    if (m === undefined) {
      m = new Map();
      this.changes.set(k, m);
      if (this.changes.size > MAX_ENTRIES) this.changes.delete(this.changes.keys().next().value as string);
    }
    let l = m.get(e.service);
    if (l === undefined) {
      l = [];
      m.set(e.service, l);
    }
    l.push({ at, exp: e });
    if (l.length > MAX_CHANGES) l.splice(0, l.length - MAX_CHANGES);
  }

  /**
   * The services a connection gets, from the state before `before` (its first packet's place;
   * omitted: the current state, for a caller that matches as the connection begins).
   */
  match(c: ExpectedConnInfo, before?: OrderKey): string[] {
    if (c.proto !== 'tcp' || this.changes.size === 0) return NONE;
    const m = this.changes.get(`${c.resp_h}|${c.resp_p}`);
    if (m === undefined) return NONE;
    let out: string[] = NONE;
    for (const [service, l] of m) {
      // The analyzer scheduled for this originator (or any), and the script's entry still there.
      let scheduled = false;
      let present = false;
      for (const ch of l) {
        if (before !== undefined && compareOrder(ch.at, before) >= 0) break;
        if (ch.exp === null) {
          present = false;
          continue;
        }
        const live = ch.exp.ts + EXPECT_TIMEOUT_SEC > c.ts;
        present = live;
        if (live && (ch.exp.orig_h === null || ch.exp.orig_h === c.orig_h)) scheduled = true;
      }
      if (scheduled && present) out = out === NONE ? [service] : [...out, service];
    }
    return out;
  }

  /** A connection that got these services ended: their entries for its responder go (until announced again). */
  ended(c: ExpectedConnInfo, services: readonly string[], at: OrderKey): void {
    const m = this.changes.get(`${c.resp_h}|${c.resp_p}`);
    if (m === undefined) return;
    for (const s of services) m.get(s)?.push({ at, exp: null });
  }
}

const NONE: string[] = [];
