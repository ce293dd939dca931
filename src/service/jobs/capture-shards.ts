/**
 * A large capture as shard jobs, which any workers take up side by side. Shard k of N reads and
 * decodes the whole file but tracks only the connections whose innermost 5-tuple hashes to k, the
 * hash `analyze --threads N` places them on threads by (analyze/threads.ts), so its records are
 * exactly those `--threads N` (and so the one-thread run) makes for them, uids included; it
 * writes them to the store itself. It also spools every item it emits, with its place in the
 * one-tracker order, to a file beside the uploads.
 *
 * The capture's own job enqueues the shards on their own queue (it waits on them, so it must not
 * hold a slot they need), reports the whole capture's progress from theirs, and when all are done
 * runs what needs the whole capture over the shards' spools merged in that order: the announced
 * connections (FTP data, IRC DCC) whose announcer was another shard's connection, and the
 * detectors, fed exactly what one job would have fed them. A shard that fails is retried alone (its
 * queue's attempts); one that fails for good fails the capture's attempt, and the capture's retry
 * runs again only the shards without a result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { once } from 'node:events';
import { CaptureError } from '../../../parsers/capture/types';
import type { Expectation } from '../../../parsers/conntrack/expect';
import type { AppRecordOut } from '../../../parsers/record/app';
import type { ConnRecord } from '../../../parsers/record/conn';
import { ExpectedResolver } from '../../analyze/app';
import { ItemKind } from '../../analyze/shard-protocol';
import { analyzeFileThreaded, compareItems, type OrderedItem } from '../../analyze/threads';
import { clusterApp, DEFAULT_CLUSTER } from '../../k8s/cluster';
import { placeByInventory } from '../../k8s/placement';
import type { StoreRecord } from '../../store/types';
import {
  type CaptureJobData,
  type CaptureProgress,
  type CaptureResult,
  type CaptureShardJobData,
  type CaptureShardResult,
  captureIdOf,
  type JobContext,
  type JobQueue,
  PermanentJobError,
} from '../queue';
import { type CaptureJobDeps, capturedRecord, hider, progressSender, runCaptureJob, uploadedFile } from './capture';

export interface CaptureSharding {
  queue: JobQueue<CaptureShardJobData, CaptureProgress, CaptureShardResult>;
  /** Shard jobs per capture (>= 2 to shard). */
  shards: number;
  /** Captures of at least this many bytes are sharded (0: none). */
  minBytes: number;
}

/** The shards' spools: beside the uploads (a volume every worker has), out of retention's sight. */
function spoolDir(uploadsDir: string): string {
  return path.join(uploadsDir, '.shards');
}

function spoolName(data: CaptureJobData, index: number, of: number): string {
  return `${captureIdOf(data)}-${data.reanalysis?.count ?? 0}-${index}of${of}.jsonl`;
}

/** One spooled item: its order key, then the record as the store got it (what the detectors are fed). */
type SpoolLine = [number, number, number, number, number, string, number, number, ItemKind, number, number, ConnRecord | AppRecordOut | Expectation];

export async function runCaptureShardJob(ctx: JobContext<CaptureShardJobData, CaptureProgress>, deps: CaptureJobDeps): Promise<CaptureShardResult> {
  const started = Date.now();
  const { capture: data, index, of } = ctx.data;
  if (!Number.isInteger(of) || of < 2 || !Number.isInteger(index) || index < 0 || index >= of || typeof data !== 'object' || data === null)
    throw new PermanentJobError('not a capture shard job');
  const file = uploadedFile(data, deps.uploadsDir);
  const hide = hider(data, file, deps.uploadsDir);
  // Named by the capture and the shard, never by the job data: a job cannot make a worker write elsewhere.
  const spool = path.join(spoolDir(deps.uploadsDir), spoolName(data, index, of));
  fs.mkdirSync(path.dirname(spool), { recursive: true });
  const cluster = data.cluster ?? DEFAULT_CLUSTER;
  const idCluster = data.idCluster ?? DEFAULT_CLUSTER;
  const id = captureIdOf(data);
  const resolver = await deps.resolvers.current(cluster);
  const writer = deps.store.writer();
  const out = fs.createWriteStream(`${spool}.part`);
  // A spool that cannot be written (disk full) fails this shard's attempt, not the worker.
  const spooled = new Promise<void>((resolve, reject) => {
    out.once('finish', resolve);
    out.once('error', reject);
  });
  spooled.catch(() => undefined);
  const p: CaptureProgress = { bytesRead: 0, totalBytes: data.bytes, packets: 0, records: 0, appRecords: 0 };
  const { send, ticker } = progressSender(ctx, p, deps.progressEveryMs);
  let at: OrderedItem | null = null;
  const spoolItem = (it: OrderedItem, rec: ConnRecord | AppRecordOut | Expectation): void => {
    const line: SpoolLine = [it.g, it.phase, it.a, it.b, it.c, it.uid, it.source, it.seq, it.kind, it.gs, it.ps, rec];
    out.write(`${JSON.stringify(line)}\n`);
  };
  const onOrdered = (it: OrderedItem): void => {
    if (it.kind === ItemKind.EXPECT) spoolItem(it, it.rec);
    else at = it;
  };
  const onApp = (o: AppRecordOut): void => {
    const r = clusterApp(o, idCluster);
    p.appRecords++;
    writer.addApp(placeByInventory(r, resolver, cluster));
    if (at) spoolItem(at, r);
  };
  const onRecord = (c: ConnRecord): void => {
    p.records++;
    const r = capturedRecord(c, idCluster, id, cluster);
    writer.add(r);
    if (at) spoolItem(at, r);
  };
  let res: Awaited<ReturnType<typeof analyzeFileThreaded>>;
  try {
    res = await analyzeFileThreaded(file, onRecord, {
      threads: 1,
      shard: { index, of },
      analyzers: deps.analyzers !== false,
      onApp,
      onOrdered,
      tracker: { verifyChecksums: false, ...(deps.localNets ? { localNets: [...deps.localNets] } : {}) },
      enrich: resolver?.enrich,
      pace: () => writer.congestion() ?? (out.writableNeedDrain ? Promise.race([once(out, 'drain').then(() => undefined), spooled]) : undefined),
      onProgress: (_consumed, read) => {
        p.bytesRead = read;
        send(false);
      },
    });
  } catch (e) {
    clearInterval(ticker);
    out.destroy();
    await writer.close().catch(() => undefined);
    if (e instanceof CaptureError) throw new PermanentJobError(hide(e.message));
    if (e instanceof Error) e.message = hide(e.message);
    throw e;
  }
  out.end();
  try {
    await spooled;
  } catch (e) {
    clearInterval(ticker);
    await writer.close().catch(() => undefined);
    throw new Error(`shard ${index + 1} of ${of}: its spool could not be written (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  fs.renameSync(`${spool}.part`, spool);
  p.packets = res.packets;
  p.bytesRead = data.bytes;
  const written = await writer.close().finally(() => clearInterval(ticker));
  send(true);
  return {
    packets: res.packets,
    records: p.records,
    appRecords: p.appRecords,
    malformed: res.malformed,
    malformedByCode: res.malformedByCode,
    deadLettered: written.deadLettered,
    stale: written.stale,
    error: res.error ? hide(res.error.message) : null,
    seconds: (Date.now() - started) / 1000,
  };
}

/** The capture's job: as shards when it is large enough (see the top of this file), else runCaptureJob. */
export async function runCaptureJobSharded(
  ctx: JobContext<CaptureJobData, CaptureProgress>,
  deps: CaptureJobDeps,
  sharding: CaptureSharding,
): Promise<CaptureResult> {
  const { data } = ctx;
  if (!(sharding.shards >= 2 && sharding.minBytes > 0 && data.bytes >= sharding.minBytes)) return runCaptureJob(ctx, deps);
  // Refused here as in runCaptureJob (not a capture job, a file outside the uploads directory), before any shard is queued.
  uploadedFile(data, deps.uploadsDir);
  return runShardedCapture(ctx, deps, { queue: sharding.queue, of: sharding.shards, started: Date.now() });
}

async function runShardedCapture(
  ctx: JobContext<CaptureJobData, CaptureProgress>,
  deps: CaptureJobDeps,
  o: { queue: CaptureSharding['queue']; of: number; started: number },
): Promise<CaptureResult> {
  const { data } = ctx;
  const { queue, of } = o;
  const id = captureIdOf(data);
  const cluster = data.cluster ?? DEFAULT_CLUSTER;
  // A re-analysis (every attempt of it) starts from no records, so every shard writes its records again.
  const removed = data.reanalysis ? await deps.store.deleteCapture(id) : null;
  const spools: string[] = [];
  const ids: string[] = [];
  for (let k = 0; k < of; k++) {
    const name = spoolName(data, k, of);
    const spool = path.join(spoolDir(deps.uploadsDir), name);
    const jobId = name.replace(/\.jsonl$/, '');
    const sd: CaptureShardJobData = { capture: data, index: k, of, spool: name };
    spools.push(spool);
    ids.push(jobId);
    const added = await queue.add(sd, { jobId });
    if (added.created) continue;
    // An earlier attempt's shard: one that failed for good runs again, and one that finished runs
    // again when its spool is gone (consumed by a finished analysis) or its records were just removed.
    const j = await queue.get(jobId);
    if (j?.state === 'failed' || (j?.state === 'completed' && (removed !== null || !fs.existsSync(spool)))) {
      const r = await queue.rerun(jobId, sd);
      if (r === 'missing') await queue.add(sd, { jobId });
    }
  }

  const p: CaptureProgress = { bytesRead: 0, totalBytes: data.bytes, packets: 0, records: 0, appRecords: 0 };
  const results: CaptureShardResult[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = queue.onFinished((jid) => {
    if (ids.includes(jid)) wake?.();
  });
  try {
    for (;;) {
      const jobs = await Promise.all(ids.map((j) => queue.get(j)));
      let read = 0;
      let records = 0;
      let apps = 0;
      results.length = 0;
      for (let k = 0; k < of; k++) {
        const j = jobs[k];
        if (j === null) throw new Error(`shard ${k + 1} of ${of} of the capture is gone from the queue`);
        if (j.state === 'failed') throw new Error(`shard ${k + 1} of ${of} failed: ${j.failedReason ?? 'no reason given'}`);
        if (j.state === 'completed' && j.result) {
          results.push(j.result);
          read += data.bytes;
          records += j.result.records;
          apps += j.result.appRecords;
        } else if (j.progress) {
          read += j.progress.bytesRead;
          records += j.progress.records;
          apps += j.progress.appRecords;
        }
      }
      // Every shard reads the whole file: the capture is as far as its shards' mean.
      p.bytesRead = Math.floor(read / of);
      p.records = records;
      p.appRecords = apps;
      if (results.length === of) break;
      void ctx.progress({ ...p }).catch(() => undefined);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deps.progressEveryMs ?? 1000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unsubscribe();
  }

  // ---- the whole capture: the shards' items in the one-job order
  const resolver = await deps.resolvers.current(cluster);
  const batch = deps.alerts.batch(resolver, { capture: id });
  const writer = deps.store.writer();
  const expected = new ExpectedResolver();
  try {
    for await (const it of mergeSpools(spools)) {
      if (it.kind === ItemKind.EXPECT) expected.announce(it.rec as Expectation, it);
      else if (it.kind === ItemKind.APP) batch.app(it.rec as AppRecordOut);
      else {
        const r = it.rec as StoreRecord;
        if (it.gs >= 0) {
          // Announced by another shard's connection: the service its shard could not give it.
          const before = r.service.join(',');
          expected.record(r, { g: it.gs, phase: it.ps }, it);
          if (r.service.join(',') !== before) writer.add(r);
        }
        batch.conn(r);
      }
    }
  } catch (e) {
    await writer.close().catch(() => undefined);
    throw e;
  }
  const written = await writer.close();
  const raised = await batch.finish();
  const released = data.reanalysis && raised !== null ? await deps.store.releaseCaptureAlerts(id, raised) : null;
  for (const s of spools) fs.rmSync(s, { force: true });

  // Every shard read and decoded every packet: the packet counts are any one's.
  const first = results[0];
  p.packets = first.packets;
  p.bytesRead = data.bytes;
  void ctx.progress({ ...p }).catch(() => undefined);
  const sum = (f: (r: CaptureShardResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  const deadLettered = sum((r) => r.deadLettered) + written.deadLettered;
  const stale = sum((r) => r.stale) + written.stale;
  deps.metrics.packets.inc(first.packets);
  deps.metrics.records.inc({ source: 'capture' }, p.records);
  deps.metrics.appRecords.inc(p.appRecords);
  deps.metrics.parseErrors.inc({ source: 'capture' }, first.malformed);
  if (deadLettered) deps.metrics.storeRefused.inc({ reason: 'dead-letter' }, deadLettered);
  if (stale) deps.metrics.storeRefused.inc({ reason: 'stale' }, stale);
  return {
    packets: first.packets,
    records: p.records,
    appRecords: p.appRecords,
    alerts: raised?.length ?? 0,
    malformed: first.malformed,
    malformedByCode: first.malformedByCode,
    deadLettered,
    stale,
    error: first.error,
    seconds: (Date.now() - o.started) / 1000,
    ...(removed
      ? {
          replaced: {
            records: removed.records,
            appRecords: removed.appRecords,
            alertsRemoved: released?.removed ?? 0,
            alertsReleased: released?.released ?? 0,
          },
        }
      : {}),
  };
}

/** The spools' items merged in the one-tracker order (each spool is in it already). */
async function* mergeSpools(files: readonly string[]): AsyncGenerator<OrderedItem> {
  const its = files.map((f) => spoolItems(f)[Symbol.asyncIterator]());
  const heads: (OrderedItem | null)[] = [];
  for (const it of its) {
    const r = await it.next();
    heads.push(r.done ? null : r.value);
  }
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h !== null && (best < 0 || compareItems(h, heads[best] as OrderedItem) < 0)) best = i;
    }
    if (best < 0) return;
    yield heads[best] as OrderedItem;
    const r = await its[best].next();
    heads[best] = r.done ? null : r.value;
  }
}

async function* spoolItems(file: string): AsyncGenerator<OrderedItem> {
  if (!fs.existsSync(file)) throw new Error(`a shard's spool is gone (${path.basename(file)}): the capture is analysed again`);
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    if (line === '') continue;
    const [g, phase, a, b, c, uid, source, seq, kind, gs, ps, rec] = JSON.parse(line) as SpoolLine;
    yield { g, phase, a, b, c, uid, source, seq, kind, gs, ps, rec };
  }
}
