/**
 * The service's two queues, on Bull when Redis is configured and in-process otherwise, and the
 * shapes of their jobs.
 */
import type { ConnRecord } from '../../../parsers/record/conn';
import type { ServiceConfig } from '../config';
import { captureId } from '../../k8s/cluster';
import { BullQueue } from './bull';
import { LocalQueueJournal } from './local';
import type { JobQueue } from './types';
import type { CaptureProgress, ResolutionProgress } from '../api/wire';
import type { AppInput, ConnContext } from '../../../parsers/record/app';
import type { FlowFormat } from '../../../parsers/flows/types';

export type { CaptureProgress, ResolutionProgress } from '../api/wire';

export * from './types';

export interface CaptureJobData {
  /** Where the upload is kept (shared by API servers and workers: a common volume). */
  path: string;
  sha256: string;
  bytes: number;
  /** The name the uploader gave, for display. */
  name: string;
  format: 'pcap' | 'pcapng' | 'gzip';
  uploadedAt: string;
  uploadedBy: string;
  /** The id of the key that uploaded it: an ingest key sees only its own uploads. */
  uploadedByKey?: string;
  /**
   * A re-analysis (POST /captures/:id/reanalyze): the job first removes the capture's stored
   * records, then writes them again from the file, and afterwards takes the capture off the
   * alerts it no longer raises. Absent on a first analysis, which has nothing to replace.
   */
  reanalysis?: { requestedAt: string; requestedBy: string; count: number };
  /** The cluster the capture was taken in (k8s/cluster.ts); absent on jobs queued before clusters were named: the default. */
  cluster?: string;
  /**
   * The cluster the capture was uploaded to, when not the default: its id (the job's) and its
   * records' uids are qualified with it (k8s/cluster.ts captureId, clusterUid), so the same bytes
   * uploaded to two clusters are two sets of records. Kept when a re-analysis moves the capture to
   * another cluster: its id and uids stay. Absent: the bare SHA-256 and the packets' uids.
   */
  idCluster?: string;
}

/** The capture's id: the job's, and record.capture of its records. */
export function captureIdOf(data: Pick<CaptureJobData, 'sha256' | 'idCluster'>): string {
  return captureId(data.sha256, data.idCluster);
}

export interface CaptureResult {
  packets: number;
  records: number;
  appRecords: number;
  alerts: number;
  malformed: number;
  malformedByCode: Record<string, number>;
  /** Records the store refused (in its dead-letter store) or kept a newer version of. */
  deadLettered: number;
  stale: number;
  /** The capture could not be read to its end: where and why (every record before it was kept). */
  error: string | null;
  seconds: number;
  /** A re-analysis: what it replaced (records removed before the run, alerts no longer raised). */
  replaced?: { records: number; appRecords: number; alertsRemoved: number; alertsReleased: number };
}

/**
 * One shard of a large capture (jobs/capture-shards.ts): its connections whose innermost 5-tuple
 * hashes to `index` of `of`. Its job id names the capture, the generation and the shard.
 */
export interface CaptureShardJobData {
  capture: CaptureJobData;
  index: number;
  of: number;
  /** The file, in the uploads directory's shard spool, its items go to in order for the capture's final step. */
  spool: string;
}

export interface CaptureShardResult {
  packets: number;
  records: number;
  appRecords: number;
  malformed: number;
  malformedByCode: Record<string, number>;
  deadLettered: number;
  stale: number;
  error: string | null;
  seconds: number;
}

export interface FlowJobData {
  /** Where the records came from (request id, exporter), for messages. */
  source: string;
  records: ConnRecord[];
  /**
   * Hubble's L7 records: DNS answers (no connection record carries them) and HTTP transactions
   * (with their connection's uid), stored as application records and given to the detectors.
   * Named `dns` still so that jobs queued before HTTP was read stay readable.
   */
  dns?: { rec: AppInput; ctx: ConnContext }[];
  /** The cluster of the flow source (k8s/cluster.ts); absent on jobs queued before clusters were named: the default. */
  cluster?: string;
  /**
   * What produced the records: a flow format, or `netflow` (the UDP collector). Decides whether
   * the inventory's NetworkPolicies are evaluated for them (jobs/flows.ts flowPolicyEvaluated).
   * Absent on jobs queued before it was recorded: no verdict is attached to those.
   */
  origin?: FlowOrigin;
}

export type FlowOrigin = FlowFormat | 'netflow';

export interface FlowResult {
  written: number;
  stale: number;
  deadLettered: number;
  alerts: number;
}

/** Stored records of a cluster resolved again after an inventory snapshot of it arrived (jobs/resolve.ts). */
export interface ResolutionJobData {
  /** The snapshot (InventorySummary.id). */
  inventory: number;
  cluster: string;
  /** The records' time range the snapshot can change (epoch seconds; null: open; k8s/reresolve.ts snapshotRange). */
  from: number | null;
  to: number | null;
  /** When the snapshot was received (epoch seconds): captures started before it are waited for. */
  receivedAt: number;
}

export interface ResolutionResult {
  scanned: number;
  updated: number;
  /** Alerts raised or rewritten because of the new identities and verdicts (absent on jobs finished before they were). */
  alerts?: number;
  stale: number;
  deadLettered: number;
  seconds: number;
}

export interface Queues {
  kind: 'bull' | 'local';
  captures: JobQueue<CaptureJobData, CaptureProgress, CaptureResult>;
  /** Shards of large captures: a capture job waits on its shards' here (a queue of their own, so the waiting job never holds a slot its shards need). */
  captureShards: JobQueue<CaptureShardJobData, CaptureProgress, CaptureShardResult>;
  flows: JobQueue<FlowJobData, null, FlowResult>;
  resolutions: JobQueue<ResolutionJobData, ResolutionProgress, ResolutionResult>;
  /** Bull queues for the operators' dashboard (empty for the local queue). */
  bullQueues: BullQueue<unknown, unknown, unknown>[];
  close(graceMs?: number): Promise<void>;
}

export function openQueues(cfg: ServiceConfig): Queues {
  const base = {
    attempts: cfg.jobs.attempts,
    backoffMs: cfg.jobs.backoffMs,
    keepCompleted: cfg.jobs.keepCompleted,
    keepFailed: cfg.jobs.keepFailed,
  };
  if (cfg.redisUrl) {
    const o = { ...base, redisUrl: cfg.redisUrl, prefix: cfg.queuePrefix, lockMs: cfg.jobs.lockMs, stalledIntervalMs: cfg.jobs.stalledIntervalMs };
    const captures = new BullQueue<CaptureJobData, CaptureProgress, CaptureResult>('captures', o);
    const captureShards = new BullQueue<CaptureShardJobData, CaptureProgress, CaptureShardResult>('captureShards', o);
    const flows = new BullQueue<FlowJobData, null, FlowResult>('flows', o);
    const resolutions = new BullQueue<ResolutionJobData, ResolutionProgress, ResolutionResult>('resolutions', o);
    return {
      kind: 'bull',
      captures,
      captureShards,
      flows,
      resolutions,
      bullQueues: [captures, captureShards, flows, resolutions] as unknown as BullQueue<unknown, unknown, unknown>[],
      async close(graceMs) {
        await Promise.all([captures.close(graceMs), captureShards.close(graceMs), flows.close(graceMs), resolutions.close(graceMs)]);
      },
    };
  }
  const journal = new LocalQueueJournal(cfg.dataDir);
  const captures = journal.queue<CaptureJobData, CaptureProgress, CaptureResult>('captures', base);
  const captureShards = journal.queue<CaptureShardJobData, CaptureProgress, CaptureShardResult>('captureShards', base);
  const flows = journal.queue<FlowJobData, null, FlowResult>('flows', base);
  const resolutions = journal.queue<ResolutionJobData, ResolutionProgress, ResolutionResult>('resolutions', base);
  return {
    kind: 'local',
    captures,
    captureShards,
    flows,
    resolutions,
    bullQueues: [],
    async close(graceMs) {
      await Promise.all([captures.close(graceMs), captureShards.close(graceMs), flows.close(graceMs), resolutions.close(graceMs)]);
      journal.close();
    },
  };
}
