/**
 * Flow-log ingestion over HTTP: the request body is parsed as it streams in (any of the flow
 * formats, named or sniffed), bad lines are reported with their line numbers while the good ones
 * are kept, and records go to the `flows` queue in batches bounded by count and bytes. The parse
 * waits when too many batches are still being queued, so a fast client cannot make the server
 * buffer its whole body.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { parseFlows, type FlowFormat, type FlowLineError, type FlowParseSummary } from '../../parsers/flows';
import { hubbleDns } from '../../parsers/flows/hubble-dns';
import { LocalNets, DEFAULT_LOCAL_NETS } from '../../parsers/record/local-nets';
import type { ConnRecord } from '../../parsers/record/conn';
import type { FlowJobData, FlowResult, JobQueue } from './queue';

export interface FlowIngestOptions {
  source: string;
  /**
   * Admission control: while the flows queue holds `max` batches or more not yet stored, reading
   * the body waits (the client's TCP window closes); after `maxWaitMs` of that the request fails
   * with BacklogError (lines before it were queued). Keeps Redis from growing without bound when
   * flows arrive faster than the workers store them.
   */
  backlog?: { max: number; maxWaitMs: number; pollMs?: number };
  format?: FlowFormat;
  maxLineBytes: number;
  batchRecords: number;
  batchBytes: number;
  localNets?: readonly string[];
  /** Errors listed one by one in the answer (the rest are counted). */
  maxErrorsListed?: number;
}

export class BacklogError extends Error {
  constructor(
    readonly backlog: number,
    readonly waitedMs: number,
  ) {
    super(
      `the flows queue has ${backlog} batches waiting for the workers and did not drain in ${Math.round(waitedMs / 1000)} s; lines before this point were queued, send the rest later`,
    );
    this.name = 'BacklogError';
  }
}

export interface FlowIngestResult {
  summary: FlowParseSummary;
  errors: Pick<FlowLineError, 'line' | 'field' | 'reason'>[];
  jobs: string[];
}

/** Holds chunks back while `blocked()` says the consumer is behind. */
class Gate extends Transform {
  private waiter: (() => void) | null = null;

  constructor(private readonly blocked: () => boolean) {
    super();
  }

  open(): void {
    if (this.blocked()) return;
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    if (!this.blocked()) {
      cb(null, chunk);
      return;
    }
    this.waiter = () => cb(null, chunk);
  }
}

const MAX_PENDING_BATCHES = 4;

export async function ingestFlows(body: Readable, queue: JobQueue<FlowJobData, null, FlowResult>, o: FlowIngestOptions): Promise<FlowIngestResult> {
  const errors: FlowIngestResult['errors'] = [];
  const jobs: string[] = [];
  const pending = new Set<Promise<void>>();
  let failure: Error | null = null;
  let batch: ConnRecord[] = [];
  let dns: NonNullable<FlowJobData['dns']> = [];
  let batchBytes = 0;
  // Hubble's DNS events, which the flow parser folds away, go to the detectors with the batch.
  const onLine = (line: string, format: FlowFormat): void => {
    if (format !== 'hubble') return;
    const d = hubbleDns(line);
    if (d === null) return;
    dns.push(d);
    batchBytes += 300 + line.length / 2;
    if (batchBytes >= o.batchBytes) flush();
  };
  // The queue's count, read every pollMs, plus what this request queued since: a fast client must
  // not get a whole body in between two polls.
  let backlogSeen = 0;
  let queuedSincePoll = 0;
  const backlogFull = (): boolean => o.backlog !== undefined && backlogSeen + queuedSincePoll >= o.backlog.max;
  const gate = new Gate(() => pending.size >= MAX_PENDING_BATCHES || backlogFull());
  let poll: NodeJS.Timeout | null = null;
  if (o.backlog) {
    const { max, maxWaitMs } = o.backlog;
    let fullSince = 0;
    const check = async (): Promise<void> => {
      const before = queuedSincePoll;
      const c = await queue.counts();
      const n = c.waiting + c.delayed;
      backlogSeen = n;
      queuedSincePoll -= before;
      if (n < max) {
        fullSince = 0;
        gate.open();
      }
      if (!backlogFull()) return;
      if (fullSince === 0) fullSince = Date.now();
      else if (Date.now() - fullSince > maxWaitMs) gate.destroy(new BacklogError(n, Date.now() - fullSince));
    };
    await check();
    poll = setInterval(() => void check().catch(() => undefined), o.backlog.pollMs ?? 250);
  }

  const flush = (): void => {
    if (batch.length === 0 && dns.length === 0) return;
    const data: FlowJobData = { source: o.source, records: batch };
    if (dns.length > 0) data.dns = dns;
    batch = [];
    dns = [];
    batchBytes = 0;
    const p = queue
      .add(data)
      .then(
        (j) => {
          jobs.push(j.id);
          queuedSincePoll++;
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

  body.on('error', (e) => gate.destroy(e));
  body.pipe(gate);
  let cut: unknown = null;
  const summary = await parseFlows(
    gate,
    {
      source: o.source,
      format: o.format,
      maxLineBytes: o.maxLineBytes,
      localNets: o.localNets ? new LocalNets(o.localNets) : new LocalNets(DEFAULT_LOCAL_NETS),
      onLine,
    },
    (r) => {
      batch.push(r);
      // A record's JSON is a few hundred bytes; its estimate keeps the job under the byte bound without serialising twice.
      batchBytes += 400 + (r.k8s ? 600 : 0) + r.history.length;
      if (batch.length >= o.batchRecords || batchBytes >= o.batchBytes) flush();
    },
    (e) => {
      if (errors.length < (o.maxErrorsListed ?? 100)) errors.push({ line: e.line, field: e.field, reason: e.reason });
    },
  )
    .catch((e: unknown) => {
      // The body failed (size limit, client gone, backlog): what was parsed before it is still queued.
      cut = e;
      return null;
    })
    .finally(() => {
      if (poll) clearInterval(poll);
    });
  flush();
  await Promise.all([...pending]);
  if (failure) throw failure;
  if (cut !== null || summary === null) throw cut;
  return { summary, errors, jobs };
}
