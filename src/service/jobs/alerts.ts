/**
 * Where the workers' records meet the detectors. A capture job runs them in batch over its
 * records; flow jobs feed the continuous detectors, whose windowed state lives in the shared
 * state store so that it survives worker restarts and is the same whichever worker takes a batch.
 */
import type { ConnRecord } from '../../../parsers/record/conn';
import type { K8sResolver } from '../../k8s/resolver';
import type { FlowJobData } from '../queue';
import type { AppRecordOut } from '../../../parsers/record/app';
import type { AlertOrigin } from '../../store/types';

export interface AlertBatch {
  conn(r: ConnRecord): void;
  app(r: AppRecordOut): void;
  /** Runs the detectors over what was fed, stores the alerts; resolves with their ids (null: no detector runs). */
  finish(): Promise<string[] | null>;
}

export interface AlertSink {
  /**
   * The resolver (when an inventory is loaded) names the workloads behind application records'
   * addresses; the origin (the capture) is kept with the alerts, for its deletion and re-analysis.
   */
  batch(resolver: K8sResolver | null, origin?: AlertOrigin): AlertBatch;
  /** Feeds a batch of ingested flow records to the continuous detectors; resolves with alerts raised. */
  continuous(records: readonly ConnRecord[], resolver: K8sResolver | null, dns?: FlowJobData['dns'], cluster?: string): Promise<number>;
}

/** For `--no-detectors`: records are stored, no detector runs. */
export const NO_ALERTS: AlertSink = {
  batch: () => ({ conn() {}, app() {}, finish: async () => null }),
  continuous: async () => 0,
};
