/**
 * Flow-log ingestion over HTTP: the request body is parsed as it streams in (any of the flow
 * formats, named or sniffed), bad lines are reported with their line numbers while the good ones
 * are kept, and records go to the `flows` queue in batches bounded by count and bytes. The parse
 * waits when too many batches are still being queued, so a fast client cannot make the server
 * buffer its whole body; when the workers stay behind, the body is cut at a line boundary and the
 * client told which lines were taken and where to resume.
 *
 * Every record is checked before it is queued (store/validate.ts, with a time window around now),
 * and its uid is derived here from the caller's namespace (the ingest key), as is the uid of a
 * Hubble L7 DNS record stored beside the flows: neither can carry the uid of a capture-derived
 * record nor of another key's records, and as the uid depends on the record's time, one uid is
 * one document in every backend, whatever the day index.
 */
import * as crypto from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { FlowFieldError, parseFlows, type FlowFormat, type FlowLineError, type FlowParseSummary, type MonitorAggregation } from '../../parsers/flows';
import { recordProblem } from '../store/validate';
import { hubbleDns } from '../../parsers/flows/hubble-dns';
import { LocalNets, DEFAULT_LOCAL_NETS } from '../../parsers/record/local-nets';
import type { ConnRecord } from '../../parsers/record/conn';
import type { AppRecordOut } from '../../parsers/record/app';
import type { FlowJobData, FlowResult, JobQueue } from './queue';

export interface FlowIngestOptions {
  source: string;
  /**
   * Whose records these are (the ingest key's id): uids are derived from it, so one key's records
   * can replace only its own earlier copies. Default: the source.
   */
  uidNamespace?: string;
  /** The cluster of the flow source (k8s/cluster.ts): its records resolve against that inventory. Default: the default cluster. */
  cluster?: string;
  /**
   * The registered capture agent that sent the records (checked by the caller against the key):
   * each record keeps a link to its packets in that agent's ring, by the agent's own uid.
   */
  agent?: string;
  /**
   * Admission control: while the flows queue holds `max` batches or more not yet stored, reading
   * the body waits (the client's TCP window closes); after `maxWaitMs` of that the request fails
   * with BacklogError (lines before it were queued). Keeps Redis from growing without bound when
   * flows arrive faster than the workers store them.
   */
  backlog?: { max: number; maxWaitMs: number; pollMs?: number };
  format?: FlowFormat;
  /** AWS VPC flow logs without a header line: their fields (parseVpcFields). */
  vpcFields?: readonly string[];
  /** Hubble: Cilium's monitor aggregation on the flows' nodes ('none': events are packets; else report counts). */
  monitorAggregation?: MonitorAggregation;
  maxLineBytes: number;
  /** A body that is one Firehose / CloudWatch Logs delivery may be this long as one line (parseFlows maxDocumentBytes). */
  maxDocumentBytes?: number;
  batchRecords: number;
  batchBytes: number;
  localNets?: readonly string[];
  /** Errors listed one by one in the answer (the rest are counted). */
  maxErrorsListed?: number;
  /**
   * Rejected lines after which the rest of the body is not read (TooManyRejectedError): a body of
   * bad lines costs a few microseconds of the event loop each, so 8 MiB of them took seconds of
   * CPU from every other request. Default: no bound.
   */
  maxRejectedLines?: number;
}

export class BacklogError extends Error {
  /** Set once the body was cut: lines 1..linesRead were parsed (their records queued); resend from resumeAtLine. */
  taken: { linesRead: number; resumeAtLine: number; records: number; rejected: number; jobs: string[] } | null = null;

  constructor(
    readonly backlog: number,
    readonly waitedMs: number,
  ) {
    super(`the flows queue has ${backlog} batches waiting for the workers and did not drain in ${Math.round(waitedMs / 1000)} s`);
    this.name = 'BacklogError';
  }

  /** The answer's message once the cut is known. */
  withTaken(t: NonNullable<BacklogError['taken']>): this {
    this.taken = t;
    this.message = `${this.message}; lines 1..${t.linesRead} were read (${t.records} records queued, ${t.rejected} rejected): send the rest again from line ${t.resumeAtLine} later`;
    return this;
  }
}

/** The body had more rejected lines than the server reads: the rest was not read. */
export class TooManyRejectedError extends Error {
  taken: { linesRead: number; resumeAtLine: number; records: number; rejected: number; jobs: string[] } | null = null;

  constructor(readonly maxRejected: number) {
    super(`more than ${maxRejected} lines of the request were rejected: the rest of the body was not read`);
    this.name = 'TooManyRejectedError';
  }

  withTaken(t: NonNullable<TooManyRejectedError['taken']>): this {
    this.taken = t;
    this.message = `${this.message}; lines 1..${t.linesRead} were read (${t.records} records queued, ${t.rejected} rejected): fix the sender, then resend from line ${t.resumeAtLine}`;
    return this;
  }
}

/** A uid an agent's ring indexes (src/capture/agent-http.ts serves these). */
const RING_UID = /^[A-Za-z0-9_-]{1,64}$/;

/** The capture reference of a record whose packets are in an agent's ring: `agent:NAME:UID`. */
export function agentCapture(agent: string, uid: string): string {
  return `agent:${agent}:${uid}`;
}

/** The agent and its uid of an `agent:NAME:UID` capture reference, or null for an uploaded capture's SHA-256. */
export function parseAgentCapture(capture: string): { agent: string; uid: string } | null {
  const m = /^agent:([A-Za-z0-9][A-Za-z0-9_.-]{0,62}):([A-Za-z0-9_-]{1,64})$/.exec(capture);
  return m ? { agent: m[1], uid: m[2] } : null;
}

/** Earliest time a flow record may carry: 1990, before any flow exporter we read. */
const MIN_FLOW_TS = Date.UTC(1990, 0, 1) / 1000;
/** How far ahead of the server's clock a flow record may be (clock skew of an exporter). */
const MAX_FLOW_AHEAD_SECONDS = 7 * 86400;

/**
 * The stored uid of a flow record: a digest of the caller's namespace, the record's own uid and
 * its time. Nobody can choose it to equal another record's uid (a capture's, another key's).
 */
export function flowUid(namespace: string, uid: string, ts: number): string {
  // One-shot: a Hash object per record was a third of this function's cost in the soak's profile.
  const d = crypto.hash('sha256', `${namespace}\0${uid}\0${String(ts)}`, 'base64url');
  return `F${d.slice(0, 21)}`;
}

export interface FlowIngestResult {
  summary: FlowParseSummary;
  errors: Pick<FlowLineError, 'line' | 'field' | 'reason'>[];
  jobs: string[];
}

/**
 * Holds chunks back while `blocked()` says the consumer is behind. It passes whole lines only
 * (the bytes after a chunk's last newline wait for the next chunk), so that cut() can end the
 * parser's input at a line boundary: the client is then told exactly which lines were taken.
 */
class Gate extends Transform {
  private held: { cb: TransformCallback; data: Buffer } | null = null;
  private tail: Buffer | null = null;
  private stopped = false;

  constructor(
    private readonly blocked: () => boolean,
    /** A line longer than this goes through unsplit (the parser refuses it): the tail stays bounded. */
    private readonly maxTail: number,
  ) {
    super();
  }

  open(): void {
    if (this.blocked() || this.held === null) return;
    const h = this.held;
    this.held = null;
    h.cb(null, h.data);
  }

  /** Ends the output at the last line boundary passed; what is held and what follows is dropped. */
  cut(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.push(null);
    const h = this.held;
    this.held = null;
    h?.cb();
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    if (this.stopped) {
      cb();
      return;
    }
    const all = this.tail === null ? chunk : Buffer.concat([this.tail, chunk]);
    const nl = all.lastIndexOf(0x0a);
    let data: Buffer;
    if (nl < 0 && all.length <= this.maxTail) {
      this.tail = all;
      cb();
      return;
    }
    if (nl < 0) {
      data = all;
      this.tail = null;
    } else {
      data = all.subarray(0, nl + 1);
      this.tail = nl + 1 < all.length ? all.subarray(nl + 1) : null;
    }
    if (!this.blocked()) cb(null, data);
    else this.held = { cb, data };
  }

  override _flush(cb: TransformCallback): void {
    if (!this.stopped && this.tail !== null) this.push(this.tail);
    this.tail = null;
    cb();
  }
}

const MAX_PENDING_BATCHES = 4;

/**
 * The flow queue's backlog as all requests in flight see it: one count in Redis at a time, reused
 * for up to `maxAgeMs`. Each request used to poll on its own every 250 ms, so 20 bodies trickling
 * in (a slowloris, or slow senders) meant 80 counts a second and 5% of the server's CPU in the
 * soak (bench/soak.ts, CPU profile): the count is the queue's, not the request's.
 */
interface BacklogCount {
  n: number;
  /** When the count was asked for: jobs queued before it are in `n`. */
  at: number;
}
const sharedCounts = new WeakMap<object, { last: BacklogCount | null; inFlight: Promise<BacklogCount> | null }>();

function backlogCount(queue: JobQueue<FlowJobData, null, FlowResult>, maxAgeMs: number): Promise<BacklogCount> {
  let s = sharedCounts.get(queue);
  if (!s) {
    s = { last: null, inFlight: null };
    sharedCounts.set(queue, s);
  }
  const st = s;
  if (st.last !== null && performance.now() - st.last.at < maxAgeMs) return Promise.resolve(st.last);
  if (st.inFlight !== null) return st.inFlight;
  const at = performance.now();
  st.inFlight = queue.counts().then(
    (c) => {
      st.inFlight = null;
      st.last = { n: c.waiting + c.delayed, at };
      return st.last;
    },
    (e: unknown) => {
      st.inFlight = null;
      throw e;
    },
  );
  return st.inFlight;
}

export async function ingestFlows(body: Readable, queue: JobQueue<FlowJobData, null, FlowResult>, o: FlowIngestOptions): Promise<FlowIngestResult> {
  const errors: FlowIngestResult['errors'] = [];
  const namespace = o.uidNamespace ?? o.source;
  let invalid = 0;
  let late = 0;
  let seenFormat: FlowFormat | null = o.format ?? (o.vpcFields ? 'aws-vpc' : null);
  // Until the first line is parsed the format may be unknown: a record emitted then is that line's.
  const lineFormat = (): boolean => seenFormat !== 'hubble';
  const jobs: string[] = [];
  const pending = new Set<Promise<void>>();
  let failure: Error | null = null;
  let batch: ConnRecord[] = [];
  let dns: NonNullable<FlowJobData['dns']> = [];
  let batchBytes = 0;
  // Hubble's DNS events, which the flow parser folds away, go to the detectors with the batch.
  const onLine = (line: string, format: FlowFormat): void => {
    seenFormat = format;
    if (format !== 'hubble') return;
    const d = hubbleDns(line);
    if (d === null) return;
    // Stored as a dns record, so its uid (the event's uuid, the client's to choose) is derived as
    // a flow's is: it can never name a capture's connection nor another key's records.
    const uid = flowUid(namespace, d.rec.uid, d.rec.ts);
    d.rec.uid = uid;
    if ('conn' in d.rec) (d.rec as AppRecordOut).conn.uid = uid;
    d.ctx.uid = uid;
    dns.push(d);
    batchBytes += 300 + line.length / 2;
    if (batchBytes >= o.batchBytes) flush();
  };
  // Hubble's L7 HTTP events come out of the parser as http records right after their connection,
  // with its uid: derived the same way, so they join it; a refused connection takes its own along.
  let refusedRaw: string | null = null;
  const onApp = (rec: AppRecordOut): void => {
    if (rec.conn.uid === refusedRaw) return;
    const uid = flowUid(namespace, rec.uid, rec.conn.ts);
    rec.uid = uid;
    rec.conn.uid = uid;
    dns.push({ rec, ctx: { uid, ts: rec.conn.ts, orig_h: rec.conn.orig_h, resp_h: rec.conn.resp_h, resp_p: rec.conn.resp_p } });
    batchBytes += 600;
    if (batchBytes >= o.batchBytes) flush();
  };
  // The queue's count, read every pollMs, plus what this request queued since: a fast client must
  // not get a whole body in between two polls. The count is shared between requests, so "since" is
  // since that count was asked for: the times this request's jobs were queued say which it holds.
  let backlogSeen = 0;
  let seenAt = Number.NEGATIVE_INFINITY;
  let queuedAt: number[] = [];
  const backlogFull = (): boolean => o.backlog !== undefined && backlogSeen + queuedAt.length >= o.backlog.max;
  const gate = new Gate(() => pending.size >= MAX_PENDING_BATCHES || backlogFull(), o.maxLineBytes + 1);
  // The parse reads the gate's failure as it iterates; one before the parse starts must not be uncaught.
  gate.on('error', () => undefined);
  // From here, not from the pipe below: the body can fail while the first backlog count is read.
  let parsing = true;
  const bodyFailed = (e: Error): void => {
    // After the parse (a cut, the end) a late failure (the client gone) has nothing to stop.
    if (parsing && !gate.destroyed) gate.destroy(e);
  };
  body.on('error', bodyFailed);
  let backlogCut: BacklogError | null = null;
  let rejectCut: TooManyRejectedError | null = null;
  let rejectedLines = 0;
  let poll: NodeJS.Timeout | null = null;
  if (o.backlog) {
    const { max, maxWaitMs } = o.backlog;
    let fullSince = 0;
    const pollMs = o.backlog.pollMs ?? 250;
    const check = async (): Promise<void> => {
      const { n, at } = await backlogCount(queue, pollMs);
      if (at > seenAt) {
        backlogSeen = n;
        seenAt = at;
        queuedAt = queuedAt.filter((t) => t >= at);
      }
      if (n < max) {
        fullSince = 0;
        gate.open();
      }
      if (!backlogFull()) return;
      if (fullSince === 0) fullSince = Date.now();
      else if (Date.now() - fullSince > maxWaitMs && backlogCut === null) {
        // The parse ends cleanly at the last whole line passed: its records are queued, and the
        // answer says where to resume.
        backlogCut = new BacklogError(n, Date.now() - fullSince);
        body.unpipe(gate);
        gate.cut();
      }
    };
    await check();
    poll = setInterval(() => void check().catch(() => undefined), pollMs);
  }

  const flush = (): void => {
    if (batch.length === 0 && dns.length === 0) return;
    const data: FlowJobData = { source: o.source, records: batch };
    if (o.cluster !== undefined) data.cluster = o.cluster;
    if (seenFormat !== null) data.origin = seenFormat;
    if (dns.length > 0) data.dns = dns;
    batch = [];
    dns = [];
    batchBytes = 0;
    const p = queue
      .add(data)
      .then(
        (j) => {
          jobs.push(j.id);
          queuedAt.push(performance.now());
        },
        (e: Error) => {
          failure ??= e;
        },
      )
      .finally(() => {
        pending.delete(p);
        gate.open();
      });
    pending.add(p);
  };

  // A body that failed before this point has emitted its error already, and pipes nothing.
  if (body.errored) bodyFailed(body.errored);
  else if (body.destroyed) bodyFailed(new Error('the request body was closed before it was read'));
  body.pipe(gate);
  let cut: unknown = null;
  const summary = await parseFlows(
    gate,
    {
      source: o.source,
      format: o.format,
      vpcFields: o.vpcFields,
      hubble: o.monitorAggregation === undefined ? undefined : { monitorAggregation: o.monitorAggregation },
      maxLineBytes: o.maxLineBytes,
      maxDocumentBytes: o.maxDocumentBytes,
      localNets: o.localNets ? new LocalNets(o.localNets) : new LocalNets(DEFAULT_LOCAL_NETS),
      onLine,
      onApp,
      onFormat: (f) => {
        seenFormat = f;
      },
    },
    (r) => {
      const bad = recordProblem(r, { minTs: MIN_FLOW_TS, maxTs: Date.now() / 1000 + MAX_FLOW_AHEAD_SECONDS });
      refusedRaw = bad ? r.uid : null;
      if (bad) {
        invalid++;
        // Line formats emit a record while its line is parsed: the parser reports the line.
        // Hubble's folded connections come out later, from many lines: named by the flow's uid.
        if (lineFormat()) throw new FlowFieldError(bad.field, bad.reason);
        late++;
        if (errors.length < (o.maxErrorsListed ?? 100))
          errors.push({ line: 0, field: bad.field, reason: `connection ${String(r.uid).slice(0, 64)}: ${bad.reason}` });
        return;
      }
      const own = r.uid;
      r.uid = flowUid(namespace, r.uid, r.ts);
      r.tunnel_parents = r.tunnel_parents.map((u) => flowUid(namespace, u, r.ts));
      // Only a capture job links a record to a capture (and to its pcap), or the service to an
      // agent's ring: the stored uid is derived, so the link keeps the uid the agent's ring knows.
      delete r.capture;
      if (o.agent !== undefined && RING_UID.test(own)) r.capture = agentCapture(o.agent, own);
      // A registered agent's records are its live capture, whatever the shipper wrote.
      if (o.agent !== undefined && r.source === 'ndjson') r.source = 'agent';
      batch.push(r);
      // A record's JSON is a few hundred bytes; its estimate keeps the job under the byte bound without serialising twice.
      batchBytes += 400 + (r.k8s ? 600 : 0) + r.history.length;
      if (batch.length >= o.batchRecords || batchBytes >= o.batchBytes) flush();
    },
    (e) => {
      if (errors.length < (o.maxErrorsListed ?? 100)) errors.push({ line: e.line, field: e.field, reason: e.reason });
      rejectedLines++;
      if (o.maxRejectedLines !== undefined && rejectedLines >= o.maxRejectedLines && rejectCut === null) {
        // As the backlog cut: the parse ends at the last whole line passed; the rest is not read.
        rejectCut = new TooManyRejectedError(o.maxRejectedLines);
        body.unpipe(gate);
        gate.cut();
      }
    },
  )
    .catch((e: unknown) => {
      // The body failed (size limit, client gone, backlog): what was parsed before it is still queued.
      cut = e;
      return null;
    })
    .finally(() => {
      parsing = false;
      if (poll) clearInterval(poll);
    });
  flush();
  await Promise.all([...pending]);
  if (failure) throw failure;
  if (cut !== null || summary === null) throw cut;
  // The parser counted the refused records as records (and, for line formats, as line errors).
  summary.records -= invalid;
  summary.errors += late;
  if (rejectCut !== null) {
    const b = rejectCut as TooManyRejectedError;
    throw b.withTaken({ linesRead: summary.lines, resumeAtLine: summary.lines + 1, records: summary.records, rejected: summary.errors, jobs });
  }
  if (backlogCut !== null) {
    const b = backlogCut as BacklogError;
    throw b.withTaken({ linesRead: summary.lines, resumeAtLine: summary.lines + 1, records: summary.records, rejected: summary.errors, jobs });
  }
  return { summary, errors, jobs };
}
