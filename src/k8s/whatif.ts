/**
 * "What would these policies do to the traffic we saw?": every connection evaluated against a
 * proposed policy set; the ones it would deny, grouped by edge (source workload -> destination
 * workload:port/protocol), with counts.
 */
import type { ConnRecord } from '../../parsers/record/conn';
import type { NetworkPolicyObject } from './schema';
import type { PolicySet } from './policy';
import type { K8sResolver } from './resolver';
import type { K8sEnd } from '../../parsers/record/k8s';

export interface WhatIfEdge {
  src: string;
  dst: string;
  port: number;
  protocol: string;
  /** Connections on this edge the proposed policies deny (verdict denied or mixed). */
  connections: number;
  /** Of those, how many a service destination denies only for some backends. */
  mixed: number;
  /** How many of them the current policies (the inventory's) already deny. */
  alreadyDenied: number;
  /** The proposed policies that isolate the pods and let this traffic through none of their rules. */
  deniedBy: string[];
  firstTs: number;
  lastTs: number;
}

export interface WhatIfReport {
  connections: number;
  denied: number;
  edges: WhatIfEdge[];
}

/** Display name of a connection end for edges: namespace/workload for pods, the service, node or address otherwise. */
export function endLabel(e: K8sEnd, ip: string): string {
  switch (e.kind) {
    case 'pod':
      return `${e.namespace}/${e.workload ?? e.pod}${e.host_network ? ' (hostNetwork)' : ''}`;
    case 'service':
      return `${e.namespace}/service:${e.service}`;
    case 'node':
      return `node:${e.node}`;
    case 'endpoint':
      return `${e.namespace}/service:${e.service} endpoint ${ip}`;
    default:
      return `${e.kind}:${ip}`;
  }
}

/** The policies in force after applying a proposal: proposed objects replace same-named ones and add the rest. */
export function applyProposal(current: readonly NetworkPolicyObject[], proposed: readonly NetworkPolicyObject[]): NetworkPolicyObject[] {
  const key = (p: NetworkPolicyObject): string => `${p.metadata.namespace}/${p.metadata.name}`;
  const m = new Map(current.map((p) => [key(p), p]));
  for (const p of proposed) m.set(key(p), p);
  return [...m.values()];
}

export class WhatIf {
  private readonly edges = new Map<string, WhatIfEdge>();
  private total = 0;
  private denied = 0;

  /** `current` is the set the proposal is compared with (null: none). */
  constructor(
    private readonly resolver: K8sResolver,
    private readonly proposed: PolicySet,
    private readonly current: PolicySet | null = null,
  ) {}

  add(r: ConnRecord): void {
    // Interim records repeat their connection: count each connection once, on its final record.
    if (r.interim) return;
    this.total++;
    const c = this.resolver.resolve(r);
    const v = this.resolver.verdict(r, c, this.proposed);
    if (v.verdict === 'allowed') return;
    this.denied++;
    const src = endLabel(c.orig.end, r.orig_h);
    const dst = endLabel(c.resp.end, r.resp_h);
    const protocol = r.proto === 'unknown_transport' ? `ip/${r.ip_proto}` : r.proto;
    const key = `${src}\0${dst}\0${r.resp_p}\0${protocol}`;
    let e = this.edges.get(key);
    if (!e) {
      e = { src, dst, port: r.resp_p, protocol, connections: 0, mixed: 0, alreadyDenied: 0, deniedBy: [], firstTs: r.ts, lastTs: r.ts };
      this.edges.set(key, e);
    }
    e.connections++;
    if (v.verdict === 'mixed') e.mixed++;
    if (this.current && this.resolver.verdict(r, c, this.current).verdict !== 'allowed') e.alreadyDenied++;
    for (const p of v.denied_by) if (!e.deniedBy.includes(p)) e.deniedBy.push(p);
    e.firstTs = Math.min(e.firstTs, r.ts);
    e.lastTs = Math.max(e.lastTs, r.ts);
  }

  report(): WhatIfReport {
    const edges = [...this.edges.values()].sort(
      (a, b) => b.connections - a.connections || a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst) || a.port - b.port,
    );
    for (const e of edges) e.deniedBy.sort();
    return { connections: this.total, denied: this.denied, edges };
  }
}

export function renderWhatIf(rep: WhatIfReport): string {
  const lines = [`${rep.denied} of ${rep.connections} connections would be denied, on ${rep.edges.length} edges`];
  if (rep.edges.length) {
    const rows = rep.edges.map((e) => [e.src, `${e.dst}:${e.port}/${e.protocol}`, String(e.connections), String(e.alreadyDenied), e.deniedBy.join(',')]);
    const head = ['source', 'destination', 'conns', 'already', 'isolated by'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const fmt = (r: string[]): string =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i])))
        .join('  ')
        .trimEnd();
    lines.push(fmt(head), ...rows.map(fmt));
  }
  return `${lines.join('\n')}\n`;
}
