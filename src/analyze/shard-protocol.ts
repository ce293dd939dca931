/** Messages from the workers of `analyze --threads` (shard-worker.ts) to the reading thread (threads.ts). */
import type { TrackerStats } from '../../parsers/conntrack/tracker';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';

/** The event index of what the trackers' finish() emits: after every packet. */
export const FIN_EVENT = Number.MAX_SAFE_INTEGER;

/** Per item in `meta`: event index, EmitOrder phase, a, b, c, and 1 for an application record (0: connection). */
export const META_WORDS = 6;

export interface ShardBatch {
  type: 'batch';
  /** Every item of events before this one has been sent. */
  upTo: number;
  recs: (ConnRecord | AppRecordOut)[];
  meta: Float64Array;
  /** EmitOrder uid for FINISH items, '' otherwise. */
  uids: string[];
}

export interface ShardDone {
  type: 'done';
  stats: TrackerStats;
}

export type ShardMessage = ShardBatch | ShardDone;
