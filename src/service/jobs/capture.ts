/**
 * The `captures` job: one uploaded capture through the same pipeline as `eastwatch analyze`
 * (reader, decoder, tracker, protocol analyzers, Kubernetes identity) into the store, with
 * progress at least every second. Records are keyed by their stable uid, so a retried or
 * recovered job rewrites the same records instead of adding copies.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureError } from '../../../parsers/capture/types';
import { analyzeFile } from '../../analyze/pipeline';
import { analyzerFactory } from '../../analyze/app';
import type { Store, StoreRecord } from '../../store/types';
import type { ConnRecord } from '../../../parsers/record/conn';
import { clusterApp, clusterConn, DEFAULT_CLUSTER } from '../../k8s/cluster';
import { placeByInventory } from '../../k8s/placement';
import { type CaptureJobData, type CaptureProgress, type CaptureResult, captureIdOf, type JobContext, PermanentJobError } from '../queue';
import type { ResolverCache } from '../inventory';
import type { Metrics } from '../metrics';
import type { AlertSink } from './alerts';
import type { AppRecordOut } from '../../../parsers/record/app';

export interface CaptureJobDeps {
  store: Store;
  resolvers: ResolverCache;
  metrics: Metrics;
  alerts: AlertSink;
  localNets?: readonly string[];
  /**
   * Where uploads are kept: a job names a file in it and nowhere else (a job created through the
   * queue dashboard or Redis cannot make a worker open /etc/passwd).
   */
  uploadsDir: string;
  /** Protocol analysis of the payload (default on). */
  analyzers?: boolean;
  progressEveryMs?: number;
}

export async function runCaptureJob(ctx: JobContext<CaptureJobData, CaptureProgress>, deps: CaptureJobDeps): Promise<CaptureResult> {
  const started = Date.now();
  const { data } = ctx;
  const file = uploadedFile(data, deps.uploadsDir);
  const hide = hider(data, file, deps.uploadsDir);
  const cluster = data.cluster ?? DEFAULT_CLUSTER;
  const id = captureIdOf(data);
  // Uids come from the packets: in another cluster than the default, the same bytes must be other records.
  const idCluster = data.idCluster ?? DEFAULT_CLUSTER;
  // Only the capture's own cluster's inventory: another cluster may reuse the same pod addresses.
  const resolver = await deps.resolvers.current(cluster);
  // Uids are deterministic, so the same records come back; removing first also drops those the
  // new settings or inventory no longer produce. A retried attempt removes its own partial writes.
  const removed = data.reanalysis ? await deps.store.deleteCapture(id) : null;
  const writer = deps.store.writer();
  const batch = deps.alerts.batch(resolver, { capture: id });
  const p: CaptureProgress = { bytesRead: 0, totalBytes: data.bytes, packets: 0, records: 0, appRecords: 0 };
  const { send, ticker } = progressSender(ctx, p, deps.progressEveryMs);
  const onApp = (out: AppRecordOut): void => {
    const r = clusterApp(out, idCluster);
    p.appRecords++;
    writer.addApp(placeByInventory(r, resolver, cluster));
    batch.app(r);
  };
  const onRecord = (c: ConnRecord): void => {
    p.records++;
    const r = capturedRecord(c, idCluster, id, cluster);
    writer.add(r);
    batch.conn(r);
  };
  let res: Awaited<ReturnType<typeof analyzeFile>>;
  try {
    res = await analyzeFile(file, onRecord, {
      tracker: {
        verifyChecksums: false,
        ...(deps.localNets ? { localNets: [...deps.localNets] } : {}),
        ...(deps.analyzers === false ? {} : { payload: analyzerFactory(onApp) }),
      },
      enrich: resolver?.enrich,
      pace: () => writer.congestion(),
      onProgress: (_consumed, read) => {
        p.bytesRead = read;
        send(false);
      },
    });
  } catch (e) {
    clearInterval(ticker);
    // Not a capture at all, or unreadable: no retry will change that, but what was written stays.
    await writer.close().catch(() => undefined);
    if (e instanceof CaptureError) throw new PermanentJobError(hide(e.message));
    if (e instanceof Error) e.message = hide(e.message);
    throw e;
  }
  p.packets = res.packets;
  p.bytesRead = data.bytes;
  const written = await writer.close().finally(() => clearInterval(ticker));
  const raised = await batch.finish();
  // Alerts this capture raised before and not now (the inventory changed, a policy now allows it)
  // go, unless something else raised them too; with the detectors off nothing is judged, nothing goes.
  const released = data.reanalysis && raised !== null ? await deps.store.releaseCaptureAlerts(id, raised) : null;
  send(true);
  deps.metrics.packets.inc(res.packets);
  deps.metrics.records.inc({ source: 'capture' }, p.records);
  deps.metrics.appRecords.inc(p.appRecords);
  deps.metrics.parseErrors.inc({ source: 'capture' }, res.malformed);
  if (written.deadLettered) deps.metrics.storeRefused.inc({ reason: 'dead-letter' }, written.deadLettered);
  if (written.stale) deps.metrics.storeRefused.inc({ reason: 'stale' }, written.stale);
  return {
    packets: res.packets,
    records: p.records,
    appRecords: p.appRecords,
    alerts: raised?.length ?? 0,
    malformed: res.malformed,
    malformedByCode: res.malformedByCode,
    deadLettered: written.deadLettered,
    stale: written.stale,
    error: res.error ? hide(res.error.message) : null,
    seconds: (Date.now() - started) / 1000,
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

/** Client-visible (failedReason, result.error): the capture's name, never the server's paths. */
/**
 * A connection record of capture `id` as stored: uid in the id cluster's space, linked to its
 * capture, in the capture's cluster. One place for the whole job and its shards, whose records
 * must be identical. (Its app records get the cluster and namespaces by `placeByInventory`,
 * resolved the same way, for scoped keys.)
 */
export function capturedRecord(c: ConnRecord, idCluster: string, id: string, cluster: string): StoreRecord {
  const r: StoreRecord = clusterConn(c, idCluster);
  r.capture = id;
  r.source = 'capture';
  r.cluster = cluster;
  return r;
}

/**
 * Progress at most every `everyMs` from the packet loop (`send(false)`), and on a timer too: a slow
 * store stalls the reader (pace), and progress still has to go out every second.
 */
export function progressSender<D>(
  ctx: JobContext<D, CaptureProgress>,
  p: CaptureProgress,
  everyMs = 1000,
): { send: (force: boolean) => void; ticker: NodeJS.Timeout } {
  let lastSent = 0;
  const send = (force: boolean): void => {
    const now = Date.now();
    if (!force && now - lastSent < everyMs) return;
    lastSent = now;
    void ctx.progress({ ...p }).catch(() => undefined);
  };
  return { send, ticker: setInterval(() => send(true), everyMs) };
}

export function hider(data: CaptureJobData, file: string, uploadsDir: string): (m: string) => string {
  return (m) =>
    m
      .split(file)
      .join(`capture ${data.sha256.slice(0, 12)}`)
      .split(uploadsDir)
      .join('<uploads>');
}

/** The job's file, if it is a regular file inside the uploads directory (symlinks resolved); otherwise a permanent failure. */
export function uploadedFile(data: CaptureJobData, uploadsDir: string): string {
  const named = `capture ${String(data.sha256).slice(0, 12)}`;
  if (typeof data.path !== 'string' || typeof data.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(data.sha256))
    throw new PermanentJobError('not a capture job: no sha256 and upload file');
  let real: string;
  let root: string;
  try {
    root = fs.realpathSync(uploadsDir);
    real = fs.realpathSync(path.resolve(uploadsDir, data.path));
  } catch {
    // Retried: another worker may have the uploads volume this one lacks.
    throw new Error(`the uploaded ${named} is gone (retention, or a worker without the uploads volume)`);
  }
  if (path.dirname(real) !== root || !path.basename(real).startsWith(captureIdOf(data)) || !fs.statSync(real).isFile())
    throw new PermanentJobError(`${named}: the job names a file outside the uploads directory; refused`);
  return real;
}
