/**
 * Where the workers' records meet the detectors. A capture job runs them in batch over its
 * records; flow jobs feed the continuous detectors, whose windowed state lives in the shared
 * state store so that it survives worker restarts and is the same whichever worker takes a batch.
 */
import type { ConnRecord } from '../../../parsers/record/conn';
import type { K8sResolver } from '../../k8s/resolver';
import type { FlowJobData } from '../queue';
import type { AppRecordOut } from '../../../parsers/record/app';
import type { AlertOrigin, StoreRecord } from '../../store/types';

export interface AlertBatch {
  conn(r: ConnRecord): void;
  app(r: AppRecordOut): void;
  /** Runs the detectors over what was fed, stores the alerts; resolves with their ids (null: no detector runs). */
  finish(): Promise<string[] | null>;
}

/**
 * The alerts a re-resolution owes (the resolutions job): records stored before their inventory
 * were judged without their identity, so the detectors that judge by identity alone run again
 * over the records as re-resolved.
 */
export interface AlertRevision {
  /** A record as re-resolved; `fresh` when this walk changed its identity or verdict. */
  conn(r: StoreRecord, fresh: boolean): void;
  /**
   * Stores the alerts with evidence among the fresh records, each judged over every walked record
   * of its origin (a capture, else flows) as that capture's own analysis would have; resolves with
   * their number (null: no detector runs). Alerts with no fresh evidence are not rewritten.
   */
  finish(): Promise<number | null>;
}

export interface AlertSink {
  /**
   * The resolver (when an inventory is loaded) names the workloads behind application records'
   * addresses; the origin (the capture) is kept with the alerts, for its deletion and re-analysis.
   */
  batch(resolver: K8sResolver | null, origin?: AlertOrigin): AlertBatch;
  /** Feeds a batch of ingested flow records to the continuous detectors; resolves with alerts raised. */
  continuous(records: readonly ConnRecord[], resolver: K8sResolver | null, dns?: FlowJobData['dns'], cluster?: string): Promise<number>;
  /** For the resolutions job (see AlertRevision). */
  revision(): Promise<AlertRevision>;
}

/** For `--no-detectors`: records are stored, no detector runs. */
export const NO_ALERTS: AlertSink = {
  batch: () => ({ conn() {}, app() {}, finish: async () => null }),
  continuous: async () => 0,
  revision: async () => ({ conn() {}, finish: async () => null }),
};
