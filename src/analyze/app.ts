/**
 * Payload analysis for `analyze`: each TCP or UDP connection gets a multiplexer of the protocol
 * analyzers (parsers/protocols), fed by the tracker's reassembled streams and datagrams; the
 * records they produce come out tied to their connection, and the confirmed protocols become the
 * connection's `service`.
 */
import { AnalyzerMux, type MuxOptions, selectAnalyzers, startsOn } from '../../parsers/protocols/mux';
import type { AnyAppRecord } from '../../parsers/record/app';
import type { PayloadObserver, PayloadObserverFactory } from '../../parsers/conntrack/payload';
import type { AppRecordOut, ConnInfo } from '../../parsers/record/app';
import type { AnnouncedConnection } from '../../parsers/protocols/analyzer';
import { type Expectation, ExpectationTable, type OrderKey } from '../../parsers/conntrack/expect';
import type { ConnRecord } from '../../parsers/record/conn';

/**
 * How a run's connections meet the connections their control connections announce (FTP data,
 * IRC DCC): `directExpectations` for one tracker; threads.ts defers the matching to its merge.
 */
export interface ExpectHooks {
  announce(e: Expectation): void;
  /** A connection begins: the services it gets from what was announced before. */
  begin(info: ConnInfo): readonly string[];
  /** A connection that got `services` as it began ends. */
  end(info: ConnInfo, services: readonly string[]): void;
}

/**
 * A tracker of `analyze --threads` (a worker's or the reading thread's own): matches nothing
 * itself, as the announcement may be another thread's. It hands announcements to `onAnnounce`
 * and remembers where each analysed connection began (`now`), which `began` gives for its record
 * (and forgets with the final one); the merge matches there (`resolveExpected`).
 */
export function deferredExpectations(
  now: () => OrderKey,
  onAnnounce: (e: Expectation) => void,
): { hooks: ExpectHooks; began: (r: ConnRecord) => OrderKey | null } {
  const starts = new Map<string, OrderKey>();
  return {
    hooks: {
      announce: onAnnounce,
      begin: (info) => {
        // Only TCP connections are ever announced.
        if (info.proto === 'tcp') starts.set(info.uid, now());
        return NO_SERVICES;
      },
      end: () => {},
    },
    began: (r) => {
      const at = starts.get(r.uid);
      if (at === undefined) return null;
      if (!r.interim) starts.delete(r.uid);
      return at;
    },
  };
}

/**
 * The merge's side of `deferredExpectations`, fed in the one-tracker order: announcements as they
 * come, and each connection record with where its connection began. Gives the record the services
 * one tracker's `directExpectations` would have, at the same place in its `service`.
 */
export class ExpectedResolver {
  private readonly table = new ExpectationTable();

  announce(e: Expectation, at: OrderKey): void {
    this.table.add(e, at);
  }

  record(r: ConnRecord, began: OrderKey, at: OrderKey): void {
    // Changes made at the very place it began (an old connection's end on reuse) came first there.
    const services = this.table.match(r, { g: began.g, phase: began.phase + 0.5 });
    if (services.length === 0) return;
    r.service = [...services, ...r.service.filter((s) => !services.includes(s))];
    if (!r.interim) this.table.ended(r, services, at);
  }
}

const NO_SERVICES: readonly string[] = [];

/** One tracker's expectations, matched as connections begin, in the order things happen. */
export function directExpectations(): ExpectHooks {
  const table = new ExpectationTable();
  let seq = 0;
  return {
    announce: (e) => table.add(e, { g: seq++, phase: 0 }),
    begin: (info) => table.match(info),
    end: (info, services) => table.ended(info, services, { g: seq++, phase: 0 }),
  };
}

/** What every observer of one factory shares: one object, rather than three fields on each of tens of thousands. */
interface ObserverContext {
  readonly onRecord: (r: AppRecordOut) => void;
  readonly opts: MuxOptions;
  readonly expect: ExpectHooks;
}

// AppObserver.flags: one small integer rather than a field each.
/** The connection's first packet carried no SYN. */
const F_MID_STREAM = 0x1;
/** Analysis stopped short at a limit, kept once the multiplexer is let go. */
const F_PARTIAL = 0x2;
/** Directions whose stream ended. */
const F_ENDED_ORIG = 0x4;
const F_ENDED_RESP = 0x8;
/** A record was tied to the connection's identity (a role flip must still reach it). */
const F_TIED = 0x10;

/**
 * One connection's observer. The tracker keeps one for every live connection (tens of thousands,
 * many of which never carry a payload byte: scans, refused and unanswered connections), so it is
 * one small object until payload arrives: a class rather than closures, the multiplexer made on
 * first use, what is the same for every observer in a shared context. Once no analyzer can take
 * the connection it says so (`idle`) and the tracker lets it go.
 */
class AppObserver implements PayloadObserver {
  /** null until the first payload; false once nothing will ever be analysed (no candidate took it). */
  private m: AnalyzerMux | null | false = null;
  /** F_* */
  private flags: number;
  /** The confirmed services, kept once a finished multiplexer is let go (both streams ended). */
  private kept: readonly string[] = NONE;

  constructor(
    private readonly info: ConnInfo,
    private readonly ctx: ObserverContext,
    midStream: boolean,
  ) {
    this.flags = midStream ? F_MID_STREAM : 0;
  }

  /** Services an announcement gave this connection as it began (ftp-data, irc-dcc-data): none but in ExpectedObserver. */
  protected get expected(): readonly string[] {
    return NONE;
  }

  /** An announcement of this connection's analyzers, in addresses. */
  private announce(a: AnnouncedConnection): void {
    const i = this.info;
    this.ctx.expect.announce({
      orig_h: a.opener === null ? null : a.opener === 'orig' ? i.orig_h : i.resp_h,
      resp_h: a.resp_h ?? i.resp_h,
      resp_p: a.resp_p,
      service: a.service,
      ts: a.ts,
    });
  }

  /** The multiplexer, made for the first payload, unless no analyzer would take it (then null, for good). */
  private mux(isOrig: boolean, buf: Buffer, off: number, len: number): AnalyzerMux | null {
    if (this.m === false) return null;
    if (this.m === null) {
      const opts = this.ctx.opts;
      const transport = this.info.proto as 'tcp' | 'udp';
      const midStream = (this.flags & F_MID_STREAM) !== 0 && opts.analyzePartial !== true;
      // The candidates' pre-filters first: a tunnel carrier (VXLAN's outer flow, a third of the
      // short-session bench's flows) or any payload nothing takes makes no multiplexer at all.
      if (!startsOn(transport, opts.factories, this.info.resp_p, midStream, isOrig, buf, off, len)) {
        this.m = false;
        return null;
      }
      // SSH banners and datastore identification arrive on their own channel (ssh.log, app.log).
      const tie = (rec: AnyAppRecord): void => this.tie(rec);
      // The shared options as they are, this connection's beside them (no copy of them per
      // connection). The announce closure is bound here, with the multiplexer: one per observer
      // was ~100 bytes on every live connection, most of which never announce anything.
      this.m = new AnalyzerMux(transport, tie, opts, this.info.resp_p, midStream, tie, (a) => this.announce(a));
    }
    return this.m;
  }

  private feed(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    const m = this.mux(isOrig, buf, off, len);
    if (m === null) return;
    m.data(isOrig, buf, off, len, ts);
    // Nothing took the connection (a third of the bench capture is VXLAN): let the analysis state go.
    if (m.done && m.confirmed === null) {
      // A candidate that hit a limit before it was dropped (too many DNS questions) still marks `X`.
      if (m.partial) this.flags |= F_PARTIAL;
      this.m = false;
    }
  }

  /** The record is the analyzer's to give away once emitted: tie it to the connection in place, no copy. */
  private tie(rec: AnyAppRecord): void {
    this.flags |= F_TIED;
    const out = rec as AnyAppRecord & { uid?: string; conn?: ConnInfo };
    out.uid = this.info.uid;
    out.conn = this.info;
    this.ctx.onRecord(out as AppRecordOut);
  }

  stream(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    this.feed(isOrig, buf, off, len, ts);
  }

  gap(isOrig: boolean, len: number): void {
    // A gap before any payload: nothing can be detected from a stream that starts mid-way.
    if (this.m === null) this.m = false;
    else if (this.m) this.m.gap(isOrig, len);
  }

  datagram(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    this.feed(isOrig, buf, off, len, ts);
  }

  endOfDirection(isOrig: boolean, ts: number): void {
    if (!this.m) return;
    this.m.endOfDirection(isOrig, ts);
    this.flags |= isOrig ? F_ENDED_ORIG : F_ENDED_RESP;
  }

  /**
   * Both streams ended and the analyzers have nothing left to log: what the connection's record
   * needs from them is kept, and they go. A short connection's analysis state then dies young
   * instead of waiting out the close delay in the table (most of the analyzers' cost on short
   * connections was the garbage collector moving it).
   */
  finished(): boolean {
    const m = this.m;
    if (m === null || m === false) return true;
    if ((this.flags & (F_ENDED_ORIG | F_ENDED_RESP)) !== (F_ENDED_ORIG | F_ENDED_RESP) || !m.finished) return false;
    this.kept = m.services;
    if (m.partial) this.flags |= F_PARTIAL;
    this.m = false;
    return true;
  }

  /**
   * Nothing is or will be analysed, no service or `X` came of it and no record holds the identity:
   * the observer is as good as none.
   */
  idle(): boolean {
    return this.m === false && (this.flags & (F_PARTIAL | F_TIED)) === 0 && this.kept.length === 0 && this.expected.length === 0;
  }

  end(ts: number): void {
    if (this.m) this.m.end(ts);
    const expected = this.expected;
    if (expected.length > 0) this.ctx.expect.end(this.info, expected);
  }

  services(): readonly string[] {
    const found = this.m ? this.m.services : this.kept;
    const expected = this.expected;
    if (expected.length === 0) return found;
    // Zeek adds the announced service as the connection begins, before any it confirms.
    return [...expected, ...found.filter((s) => !expected.includes(s))];
  }

  partial(): boolean {
    return this.m ? this.m.partial : (this.flags & F_PARTIAL) !== 0;
  }
}

/** A connection an announcement gave services as it began (rare): the one observer that keeps them. */
class ExpectedObserver extends AppObserver {
  constructor(
    info: ConnInfo,
    ctx: ObserverContext,
    midStream: boolean,
    private readonly announced: readonly string[],
  ) {
    super(info, ctx, midStream);
  }

  protected override get expected(): readonly string[] {
    return this.announced;
  }
}

const NONE: readonly string[] = [];

/** `expect`: how announced connections are matched (default: within this factory's connections, as they begin). */
export function analyzerFactory(
  onRecord: (r: AppRecordOut) => void,
  opts: MuxOptions = {},
  expect: ExpectHooks = directExpectations(),
): PayloadObserverFactory {
  const ctx: ObserverContext = { onRecord, opts, expect };
  return (info, midStream = false) => {
    if (info.proto !== 'tcp' && info.proto !== 'udp') return null;
    const expected = expect.begin(info);
    return expected.length === 0 ? new AppObserver(info, ctx, midStream) : new ExpectedObserver(info, ctx, midStream, expected);
  };
}

/**
 * The analyzers `--analyzers` names (or every one: true), as the mux takes them. Names cross to
 * worker threads as a plain list, so each thread builds its own selection from them.
 */
export function analyzerSelection(analyzers: true | readonly string[], analyzePartial = false): MuxOptions {
  const selected = analyzers === true ? {} : selectAnalyzers(analyzers);
  return analyzePartial ? { ...selected, analyzePartial } : selected;
}
