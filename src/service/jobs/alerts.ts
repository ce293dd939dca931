/**
 * Where the workers' records meet the detectors. A capture job runs them in batch over its
 * records; flow jobs feed the continuous detectors, whose windowed state lives in the shared
 * state store so that it survives worker restarts and is the same whichever worker takes a batch.
 */
import type { ConnRecord } from '../../../parsers/record/conn';
import type { K8sResolver } from '../../k8s/resolver';
import type { FlowJobData } from '../queue';
import type { AppRecordOut } from '../../../parsers/record/app';

export interface AlertBatch {
  conn(r: ConnRecord): void;
  app(r: AppRecordOut): void;
  /** Runs the detectors over what was fed, stores the alerts; resolves with how many. */
  finish(): Promise<number>;
}

export interface AlertSink {
  /** The resolver (when an inventory is loaded) names the workloads behind application records' addresses. */
  batch(resolver: K8sResolver | null): AlertBatch;
  /** Feeds a batch of ingested flow records to the continuous detectors; resolves with alerts raised. */
  continuous(records: readonly ConnRecord[], resolver: K8sResolver | null, dns?: FlowJobData['dns']): Promise<number>;
}

/** For `--no-detectors`: records are stored, no detector runs. */
export const NO_ALERTS: AlertSink = {
  batch: () => ({ conn() {}, app() {}, finish: async () => 0 }),
  continuous: async () => 0,
};
