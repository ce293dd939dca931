/**
 * Sensitive destinations: pods reaching the cloud metadata service, the Kubernetes API server or
 * a kubelet when their workload does not normally (learned in the learning window or given in a
 * baseline; or allowed by configuration). Attempts count as much as answered connections.
 */
import type { ConnRecord } from '../parsers/record/conn';
import type { Severity } from './contract/alert';
import { CappedMap, FindingBuffer } from './common';
import { workloadAllowed, type DetectorConfig } from './config';
import { destEntity, podWorkload, sourceEntity } from './entity';
import { LearningWindow } from './learning';
import { SeenUids } from './seen';
import type { Detector, Finding, Json } from './types';

export const SENSITIVE_DESTINATION = 'sensitive-destination';

export type SensitiveCategory = 'metadata' | 'apiserver' | 'kubelet';

const WHAT: Record<SensitiveCategory, { title: string; severity: Severity; score: number; mitre: string[] }> = {
  metadata: { title: 'Pod reached the cloud metadata service', severity: 'high', score: 0.9, mitre: ['T1552.005'] },
  apiserver: { title: 'Pod reached the Kubernetes API server', severity: 'medium', score: 0.7, mitre: ['T1613'] },
  kubelet: { title: 'Pod reached a kubelet API', severity: 'high', score: 0.85, mitre: ['T1613', 'T1609'] },
};

export class SensitiveDestinationDetector implements Detector {
  readonly name = SENSITIVE_DESTINATION;
  private readonly out = new FindingBuffer();
  private readonly seen = new SeenUids();
  private readonly normal = new CappedMap<string, 1>(100_000);
  private readonly metadata: Set<string>;
  private readonly apiIps: Set<string>;
  readonly window: LearningWindow;
  constructor(private readonly cfg: DetectorConfig['sensitive-destination']) {
    this.metadata = new Set(cfg.metadata_ips.map((s) => s.toLowerCase()));
    this.apiIps = new Set(cfg.apiserver_ips.map((s) => s.toLowerCase()));
    this.window = new LearningWindow(cfg.learning_seconds);
  }

  categoryOf(r: ConnRecord): SensitiveCategory | null {
    const ip = r.resp_h.toLowerCase();
    if (this.metadata.has(ip)) return 'metadata';
    const end = r.k8s?.resp;
    const onNode = end !== undefined && (end.kind === 'node' || end.host_network === true);
    if (this.apiIps.has(ip) || (end?.service === 'kubernetes' && end.namespace === 'default') || (onNode && this.cfg.apiserver_ports.includes(r.resp_p)))
      return 'apiserver';
    if (onNode && this.cfg.kubelet_ports.includes(r.resp_p)) return 'kubelet';
    return null;
  }

  addBaseline(entries: Iterable<string>): void {
    for (const e of entries) this.normal.set(e, 1);
  }

  knownAccess(): string[] {
    return [...this.normal.entries()].map(([k]) => k).sort();
  }

  observe(r: ConnRecord): void {
    const wl = podWorkload(r);
    if (wl === null) return;
    const learning = this.window.learning(r.ts);
    const cat = this.categoryOf(r);
    if (cat === null) return;
    const k = `${wl}|${cat}`;
    if (learning) {
      this.normal.set(k, 1);
      return;
    }
    if (this.normal.touch(k) !== undefined || workloadAllowed(this.cfg.allow_workloads, wl)) return;
    const w = WHAT[cat];
    this.out.add({
      detector: SENSITIVE_DESTINATION,
      title: w.title,
      severity: w.severity,
      score: w.score,
      mitre: w.mitre,
      source: sourceEntity(r),
      destination: destEntity(r),
      key: cat,
      first_seen: r.ts,
      last_seen: r.ts + r.duration,
      count: this.seen.first(r.uid) ? 1 : 0,
      uids: [r.uid],
      figures: { category: cat, port: r.resp_p, conn_state: r.conn_state, normal_for_workload: false },
    });
  }

  flush(): Finding[] {
    return this.out.take();
  }

  snapshot(): Json {
    return {
      out: this.out.snapshot(),
      seen: this.seen.snapshot(),
      normal: [...this.normal.map.keys()],
      start: this.window.start,
      seconds: this.window.seconds,
    };
  }

  restore(s: Json): void {
    const o = s as { out: Json; seen: Json; normal: string[]; start: number | null; seconds: number };
    this.out.restore(o.out);
    this.seen.restore(o.seen);
    this.normal.clear();
    this.addBaseline(o.normal);
    this.window.start = o.start;
    this.window.seconds = o.seconds;
  }
}
