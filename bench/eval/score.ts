/**
 * Scoring of one detector run against the labels. An alert matches a label only when it is the
 * label's detector and its evidence uids include one of the label's connections (by client
 * address and port, the same in the capture and in the flows); each label is matched by one
 * alert at most, so a duplicate alert for a label already found is a false positive, as is every
 * alert that matches no label.
 */
import type { Alert } from '../../detectors/contract/alert';
import { DETECTOR_NAMES, type DetectorName } from '../../detectors/config';
import type { ConnRecord } from '../../parsers/record/conn';
import type { LearningReport } from '../../detectors/engine';
import type { EvalData } from './generate';
import type { EvalLabel } from './traffic';

export interface InputRun {
  alerts: Alert[];
  /** Final connection records (uid, ts, orig_h, orig_p are enough). */
  records: ConnRecord[];
  /** The engine's learning window and its share of the data. */
  learning: LearningReport;
  /** uid -> "client ip|client port" of application records whose uid is no connection's (Hubble's DNS events). */
  dnsClients?: Map<string, string>;
}

export interface DetectorScore {
  labels: number;
  alerts: number;
  truePositives: number;
  /** 1 when there were no alerts and no labels. */
  precision: number;
  recall: number;
}

export interface EvalScore {
  connections: number;
  benign: number;
  alerts: number;
  falseAlerts: number;
  falsePer10k: number;
  /** Alerts whose evidence includes a connection of a benign-surprise pod, or whose source is the CronJob. */
  surpriseAlerts: number;
  perDetector: Record<DetectorName, DetectorScore>;
  false: Alert[];
  missed: EvalLabel[];
}

export function sourceOf(a: Alert): string {
  return a.source.workload !== undefined ? `${a.source.namespace ?? ''}/${a.source.workload}` : (a.source.ip ?? '');
}

/** Every name the alert's destination goes by. */
export function destNames(a: Alert): string[] {
  const d = a.destination;
  const out: string[] = [];
  if (d.ip !== undefined) out.push(d.ip);
  if (d.domain !== undefined) out.push(d.domain);
  if (d.workload !== undefined) out.push(`${d.namespace ?? ''}/${d.workload}`);
  if (d.service !== undefined) out.push(`${d.namespace ?? ''}/${d.service}`);
  if (d.node !== undefined) out.push(`node/${d.node}`);
  if (d.port !== undefined) out.push(`port:${d.port}`);
  return out;
}

/** Whether the alert is about the label: same detector, and its evidence holds one of the label's connections. */
export function matches(a: Alert, l: EvalLabel, clientOf: (uid: string) => string | undefined): boolean {
  if (l.detector !== a.detector) return false;
  const keys = new Set(l.records);
  return a.evidence.uids.some((u) => {
    const k = clientOf(u);
    return k !== undefined && keys.has(k);
  });
}

export function score(data: EvalData, run: InputRun): EvalScore {
  const byUid = new Map<string, ConnRecord>();
  let benign = 0;
  for (const r of run.records) {
    byUid.set(r.uid, r);
    if (!data.anomalous.has(`${r.orig_h}|${r.orig_p}`)) benign++;
  }
  const fromSurprise = (a: Alert): boolean =>
    data.surprises.some((s) => s.workload === sourceOf(a) && s.workload === 'batch/report') ||
    a.evidence.uids.some((u) => {
      const r = byUid.get(u);
      return r !== undefined && data.surprises.some((s) => s.ip === r.orig_h && r.ts >= s.from && r.ts < s.to);
    });
  const clientOf = (u: string): string | undefined => {
    const r = byUid.get(u);
    return r === undefined ? run.dnsClients?.get(u) : `${r.orig_h}|${r.orig_p}`;
  };
  // Labels with none of their connections in the data (a cut capture) are not expected.
  const present = new Set<string>();
  for (const r of run.records) present.add(`${r.orig_h}|${r.orig_p}`);
  for (const k of run.dnsClients?.values() ?? []) present.add(k);
  const expected = data.labels.filter((l) => l.records.some((k) => present.has(k)));
  // One alert per label: the first (in first-seen order) that matches a label not yet taken.
  const taken = new Set<EvalLabel>();
  const truePos = new Set<Alert>();
  for (const a of [...run.alerts].sort((x, y) => x.first_seen - y.first_seen)) {
    const l = expected.find((x) => !taken.has(x) && matches(a, x, clientOf));
    if (l !== undefined) {
      taken.add(l);
      truePos.add(a);
    }
  }
  const per = {} as Record<DetectorName, DetectorScore>;
  for (const d of DETECTOR_NAMES) {
    const labels = expected.filter((l) => l.detector === d);
    const alerts = run.alerts.filter((a) => a.detector === d);
    const tp = alerts.filter((a) => truePos.has(a)).length;
    const found = labels.filter((l) => taken.has(l)).length;
    per[d] = {
      labels: labels.length,
      alerts: alerts.length,
      truePositives: tp,
      precision: alerts.length === 0 ? (labels.length === 0 ? 1 : 0) : tp / alerts.length,
      recall: labels.length === 0 ? 1 : found / labels.length,
    };
  }
  const falseAlerts = run.alerts.filter((a) => !truePos.has(a));
  return {
    connections: run.records.length,
    benign,
    alerts: run.alerts.length,
    falseAlerts: falseAlerts.length,
    falsePer10k: benign === 0 ? 0 : (falseAlerts.length / benign) * 10_000,
    surpriseAlerts: run.alerts.filter(fromSurprise).length,
    perDetector: per,
    false: falseAlerts,
    missed: expected.filter((l) => !taken.has(l)),
  };
}
