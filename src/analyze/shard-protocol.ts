/** Messages from the workers of `analyze --threads` (shard-worker.ts) to the reading thread (threads.ts). */
import type { TrackerStats } from '../../parsers/conntrack/tracker';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import type { Expectation } from '../../parsers/conntrack/expect';

/** The event index of what the trackers' finish() emits: after every packet. */
export const FIN_EVENT = Number.MAX_SAFE_INTEGER;

/**
 * Per item in `meta`: event index, EmitOrder phase, a, b, c, the item's kind (ItemKind), and for a
 * connection record the event index and phase where its connection began (-1: not analysed).
 */
export const META_WORDS = 8;

export enum ItemKind {
  CONN = 0,
  APP = 1,
  /** A connection announced (FTP data, IRC DCC): matched in the merge, see threads.ts. */
  EXPECT = 2,
}

export interface ShardBatch {
  type: 'batch';
  /** Every item of events before this one has been sent. */
  upTo: number;
  recs: (ConnRecord | AppRecordOut | Expectation)[];
  meta: Float64Array;
  /** EmitOrder uid for FINISH items, '' otherwise. */
  uids: string[];
}

export interface ShardDone {
  type: 'done';
  stats: TrackerStats;
}

export type ShardMessage = ShardBatch | ShardDone;
