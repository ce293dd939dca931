/**
 * The one interface every detector implements, and what detectors hand to the engine.
 *
 * A detector sees connection records (final and interim) and application records (tied to their
 * connection), keeps bounded, windowed state, and reports Findings when asked (flush). The engine
 * (detectors/engine.ts) turns findings into Alerts: stable ids, grouping, suppression. State is
 * JSON-serialisable (snapshot/restore) so a worker can keep it across restarts.
 */
import type { ConnRecord } from '../parsers/record/conn';
import type { AppInput, ConnContext } from '../parsers/record/app';
import type { AlertEntity, Severity } from './contract/alert';

/** What a detector reports; the engine adds id, status and grouping. */
export interface Finding {
  detector: string;
  title: string;
  severity: Severity;
  /** 0..1 */
  score: number;
  mitre: string[];
  source: AlertEntity;
  destination: AlertEntity;
  /**
   * The detector's grouping key beyond the entities' identity (e.g. 'tcp/22', a domain): part of
   * the stable id, so never a time or a count.
   */
  key: string;
  first_seen: number;
  last_seen: number;
  /** Occurrences this finding stands for (added to the alert's count). */
  count: number;
  uids: string[];
  figures: Record<string, number | string | boolean>;
}

/** JSON-serialisable state. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface Detector {
  readonly name: string;
  /** Every connection record, interim ones included (r.interim). */
  observe(conn: ConnRecord): void;
  /** Application records, with their connection (identity, addresses). */
  observeApp?(rec: AppInput, conn: ConnContext): void;
  /**
   * Findings since the last flush. `now` (epoch seconds of data time) closes windows that ended
   * before it; without it, everything still open is evaluated too (end of a batch).
   */
  flush(now?: number): Finding[];
  snapshot(): Json;
  restore(state: Json): void;
}
