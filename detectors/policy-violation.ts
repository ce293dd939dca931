/**
 * Policy violations: connections the imported NetworkPolicies deny (the verdict the Kubernetes
 * enrichment put on the record), grouped by edge (source workload to destination), with the
 * ports and the denying policies in the evidence. A denied connection that was answered anyway
 * means the policy is not enforced: higher severity.
 */
import type { ConnRecord } from '../parsers/record/conn';
import { CappedMap, FindingBuffer } from './common';
import type { DetectorConfig } from './config';
import { alertId, answered, destEntity, sourceEntity } from './entity';
import { SeenUids } from './seen';
import type { Detector, Finding, Json } from './types';

export const POLICY_VIOLATION = 'policy-violation';
const MAX_PORTS = 16;

export class PolicyViolationDetector implements Detector {
  readonly name = POLICY_VIOLATION;
  private readonly out = new FindingBuffer();
  private readonly seen = new SeenUids();
  /** Ports seen denied per edge, for the evidence. */
  private readonly ports = new CappedMap<string, string[]>(50_000);
  constructor(private readonly cfg: DetectorConfig['policy-violation']) {}

  observe(r: ConnRecord): void {
    const p = r.k8s?.policy;
    if (p === undefined) return;
    if (!(p.verdict === 'denied' || (p.verdict === 'mixed' && this.cfg.include_mixed))) return;
    const source = sourceEntity(r);
    const destination = destEntity(r, false);
    const id = alertId(POLICY_VIOLATION, source, destination, '');
    const port = `${r.proto}/${r.resp_p}`;
    const ports = this.ports.touch(id) ?? [];
    if (!ports.includes(port) && ports.length < MAX_PORTS) ports.push(port);
    this.ports.set(id, ports);
    const enforcedNot = answered(r);
    this.out.add({
      detector: POLICY_VIOLATION,
      title: enforcedNot ? 'Connection denied by NetworkPolicy was answered (policy not enforced)' : 'Connection denied by NetworkPolicy',
      severity: enforcedNot ? 'high' : 'medium',
      score: enforcedNot ? 0.9 : 0.7,
      mitre: ['T1599'],
      source,
      destination,
      key: '',
      first_seen: r.ts,
      last_seen: r.ts + r.duration,
      count: this.seen.first(r.uid) ? 1 : 0,
      uids: [r.uid],
      figures: {
        verdict: p.verdict,
        egress: p.egress,
        ingress: p.ingress,
        denied_by: p.denied_by.join(','),
        ports: ports.join(','),
        answered: enforcedNot,
      },
    });
  }

  flush(): Finding[] {
    return this.out.take();
  }

  snapshot(): Json {
    return { out: this.out.snapshot(), seen: this.seen.snapshot(), ports: [...this.ports.entries()] };
  }

  restore(s: Json): void {
    const o = s as { out: Json; seen: Json; ports: [string, string[]][] };
    this.out.restore(o.out);
    this.seen.restore(o.seen);
    this.ports.clear();
    for (const [k, v] of o.ports) this.ports.set(k, v);
  }
}
