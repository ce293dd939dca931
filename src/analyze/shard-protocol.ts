/** Messages from the workers of `analyze --threads` (shard-worker.ts) to the reading thread (threads.ts). */
import type { TrackerStats } from '../../parsers/conntrack/tracker';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import type { Expectation } from '../../parsers/conntrack/expect';
import type { DecoderStats } from '../../parsers/decode/decoder';
import type { AnalyzeResult } from './pipeline';

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

/** What a reading worker (shard-reader.ts) sends. */
export type ReaderMessage =
  /** source 0: the outer layers' items (worker 0 only); 1: the worker's own connections'. */
  | (Omit<ShardBatch, 'type'> & { type: 'batch'; source: 0 | 1 })
  /** Worker 0, as its reader reports progress. */
  | { type: 'progress'; consumed: number; read: number }
  /** The file is not a capture (nothing could be read): a CaptureError for the caller. */
  | { type: 'unreadable'; error: CaptureErrorFields }
  | {
      type: 'done';
      /** The decode counts (every worker decodes every packet: worker 0's are the run's). */
      res: Omit<AnalyzeResult, 'tracker' | 'decoder' | 'error'>;
      decoder: DecoderStats;
      /** The outer layers' tracker (worker 0's are the run's) and the worker's own connections'. */
      outer: TrackerStats;
      inner: TrackerStats;
      error: CaptureErrorFields | null;
    };

export interface CaptureErrorFields {
  message: string;
  file: string;
  offset: number;
  record?: number;
}
