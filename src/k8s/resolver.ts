/**
 * Enrichment of connection records with Kubernetes identity: both ends resolved at the
 * connection's time, the ECS direction, our scope, and the network-policy verdict.
 */
import { LocalNets, DEFAULT_LOCAL_NETS } from '../../parsers/record/local-nets';
import type { ConnRecord } from '../../parsers/record/conn';
import type { InventoryStore, L4Protocol, PodEntry, ServiceEntry } from './inventory';
import { PolicySet, type DirectionOutcome, type PolicyEndpoint, type PolicyResult } from './policy';
import type { ConnK8s, K8sDirVerdict, K8sDirection, K8sEnd, K8sPolicyVerdict, K8sScope } from '../../parsers/record/k8s';

export interface ResolverOptions {
  /** Networks counted as internal for unresolved addresses (default: eastwatch's local networks). */
  localNets?: readonly string[];
  /**
   * Policies to evaluate: a PolicySet, 'inventory' (the NetworkPolicies in the store, the default),
   * or null to skip evaluation.
   */
  policies?: PolicySet | 'inventory' | null;
}

/** An end with the inventory objects behind it, for policy evaluation. */
export interface ResolvedEnd {
  end: K8sEnd;
  pod?: PodEntry;
  service?: ServiceEntry;
  nodeName?: string;
}

export interface ResolvedConn {
  orig: ResolvedEnd;
  resp: ResolvedEnd;
  direction: K8sDirection;
  scope: K8sScope;
}

export function protocolOf(r: Pick<ConnRecord, 'proto' | 'ip_proto'>): L4Protocol | null {
  if (r.proto === 'tcp') return 'TCP';
  if (r.proto === 'udp') return 'UDP';
  return r.ip_proto === 132 ? 'SCTP' : null;
}

export class K8sResolver {
  private readonly local: LocalNets;
  private readonly fixedPolicies: PolicySet | null | undefined;
  private inventoryPolicies: PolicySet | null = null;
  private inventoryPolicyCount = -1;

  constructor(
    readonly store: InventoryStore,
    opts: ResolverOptions = {},
  ) {
    this.local = new LocalNets(opts.localNets ?? DEFAULT_LOCAL_NETS);
    this.fixedPolicies = opts.policies === 'inventory' ? undefined : opts.policies;
  }

  /** The hook for analyzeFile: sets r.k8s. */
  enrich = (r: ConnRecord): void => {
    r.k8s = this.describe(r);
  };

  describe(r: ConnRecord, policies?: PolicySet | null): ConnK8s {
    const c = this.resolve(r);
    const out: ConnK8s = { orig: c.orig.end, resp: c.resp.end, direction: c.direction, scope: c.scope };
    const set = policies === undefined ? this.policySet() : policies;
    if (set) out.policy = this.verdict(r, c, set);
    return out;
  }

  private policySet(): PolicySet | null {
    if (this.fixedPolicies !== undefined) return this.fixedPolicies;
    const pols = this.store.networkPolicies();
    // Rebuilt only when the store's policies change (a live watch may add some).
    if (pols.length !== this.inventoryPolicyCount) {
      this.inventoryPolicyCount = pols.length;
      this.inventoryPolicies = new PolicySet(pols);
    }
    return this.inventoryPolicies;
  }

  resolve(r: Pick<ConnRecord, 'ts' | 'orig_h' | 'orig_p' | 'resp_h' | 'resp_p' | 'proto' | 'ip_proto'>): ResolvedConn {
    const protocol = protocolOf(r);
    const orig = this.resolveEnd(r.orig_h, r.ts, null, protocol);
    const resp = this.resolveEnd(r.resp_h, r.ts, r.resp_p, protocol);
    return { orig, resp, direction: direction(orig.end, resp.end), scope: scope(orig.end, resp.end) };
  }

  /** `port` is given for the responder: it picks a hostNetwork pod on a node address, and the service of an endpoint. */
  resolveEnd(ip: string, ts: number, port: number | null, protocol: L4Protocol | null): ResolvedEnd {
    const s = this.store;
    const pod = s.podAt(ip, ts);
    if (pod) {
      const end = podEnd(pod);
      if (port !== null) {
        const ep = s
          .endpointsOf(ip)
          .find(
            (e) =>
              e.namespace === pod.namespace && (e.ports.length === 0 || e.ports.some((p) => p.port === port && (protocol === null || p.protocol === protocol))),
          );
        if (ep) end.service = ep.service;
      }
      return { end, pod, nodeName: undefined };
    }
    const svc = s.serviceAt(ip, ts);
    if (svc) return { end: { kind: 'service', namespace: svc.namespace, service: svc.name }, service: svc };
    const node = s.nodeByIp(ip);
    if (node) {
      if (port !== null) {
        const hp = s.hostNetworkPods(node.name, ts).find((p) => p.ports.some((c) => c.port === port && (protocol === null || c.protocol === protocol)));
        if (hp) return { end: { ...podEnd(hp), host_network: true }, nodeName: node.name };
      }
      return { end: { kind: 'node', node: node.name }, nodeName: node.name };
    }
    const ep = s.endpointsOf(ip)[0];
    if (ep) return { end: { kind: 'endpoint', namespace: ep.namespace, service: ep.service } };
    return { end: { kind: this.local.containsAddress(ip) ? 'internal' : 'external' } };
  }

  /**
   * Where a connection lands as policy sees it (post-DNAT): each backend of a service destination
   * with its target port, or the responder itself.
   */
  policyDestinations(r: Pick<ConnRecord, 'ts' | 'resp_h' | 'resp_p' | 'proto' | 'ip_proto'>, c: ResolvedConn): { dst: PolicyEndpoint; port: number }[] {
    const protocol = protocolOf(r);
    const svc = c.resp.service;
    const backends = svc ? this.store.backendsOf(svc.namespace, svc.name) : [];
    if (!svc || backends.length === 0) return [{ dst: { ip: r.resp_h, pod: c.resp.pod, nodeName: c.resp.nodeName }, port: r.resp_p }];
    const out: { dst: PolicyEndpoint; port: number }[] = [];
    const sp = svc.ports.find((p) => p.port === r.resp_p && p.protocol === protocol);
    const seen = new Set<string>();
    for (const b of backends) {
      if (seen.has(b.ip)) continue;
      seen.add(b.ip);
      const pod = this.store.podAt(b.ip, r.ts);
      const target =
        b.ports.find((p) => (p.name ?? '') === (sp?.name ?? '') && p.protocol === protocol)?.port ??
        (typeof sp?.targetPort === 'number'
          ? sp.targetPort
          : typeof sp?.targetPort === 'string'
            ? pod?.ports.find((x) => x.name === sp.targetPort)?.port
            : undefined) ??
        r.resp_p;
      out.push({ dst: { ip: b.ip, pod, nodeName: this.store.nodeByIp(b.ip)?.name }, port: target });
    }
    return out;
  }

  /** Evaluates a resolved connection against a policy set (post-DNAT: a service is replaced by its backends). */
  verdict(r: Pick<ConnRecord, 'ts' | 'orig_h' | 'resp_h' | 'resp_p' | 'proto' | 'ip_proto'>, c: ResolvedConn, set: PolicySet): K8sPolicyVerdict {
    const protocol = protocolOf(r);
    const src: PolicyEndpoint = { ip: r.orig_h, pod: c.orig.pod, nodeName: c.orig.nodeName };
    const nsLabels = (ns: string) => this.store.namespaceLabels(ns);
    return combine(this.policyDestinations(r, c).map(({ dst, port }) => set.evaluate({ src, dst, port, protocol }, nsLabels)));
  }
}

function podEnd(p: PodEntry): K8sEnd {
  const e: K8sEnd = { kind: 'pod', namespace: p.namespace, pod: p.name, workload: p.workload, workload_kind: p.workloadKind, labels: p.labels };
  if (p.node) e.node = p.node;
  return e;
}

const isPod = (e: K8sEnd): boolean => e.kind === 'pod' && !e.host_network;
const isNode = (e: K8sEnd): boolean => e.kind === 'node' || (e.kind === 'pod' && e.host_network === true);
const isOutside = (e: K8sEnd): boolean => e.kind === 'external' || e.kind === 'internal' || e.kind === 'endpoint';

export function scope(o: K8sEnd, r: K8sEnd): K8sScope {
  if (isPod(o)) {
    if (isPod(r)) return o.namespace === r.namespace ? (o.pod === r.pod ? 'same-pod' : 'same-namespace') : 'cross-namespace';
    if (r.kind === 'service') return 'pod-to-service';
    if (isNode(r)) return 'pod-to-node';
    return 'pod-to-external';
  }
  if (isPod(r)) return isNode(o) ? 'node-to-pod' : isOutside(o) ? 'external-to-pod' : 'other';
  if (r.kind === 'service') return isNode(o) ? 'node-to-service' : isOutside(o) ? 'external-to-service' : 'other';
  if (isNode(o) && isNode(r)) return 'node-to-node';
  return 'other';
}

/** ECS network.direction: cluster entities and the local networks are the monitored side. */
export function direction(o: K8sEnd, r: K8sEnd): K8sDirection {
  const oi = o.kind !== 'external',
    ri = r.kind !== 'external';
  return oi ? (ri ? 'internal' : 'outbound') : ri ? 'inbound' : 'external';
}

function combineDir(outcomes: DirectionOutcome[]): K8sDirVerdict {
  return outcomes.every((x) => x === outcomes[0]) ? outcomes[0] : 'mixed';
}

export function combine(results: PolicyResult[]): K8sPolicyVerdict {
  const allowed = results.filter((x) => x.allowed).length;
  const denied = new Set<string>();
  const by = new Set<string>();
  for (const x of results) {
    if (x.egress.outcome === 'denied') for (const p of x.egress.isolating) denied.add(p);
    if (x.ingress.outcome === 'denied') for (const p of x.ingress.isolating) denied.add(p);
    for (const p of x.egress.allowedBy) by.add(p);
    for (const p of x.ingress.allowedBy) by.add(p);
  }
  return {
    verdict: allowed === results.length ? 'allowed' : allowed === 0 ? 'denied' : 'mixed',
    egress: combineDir(results.map((x) => x.egress.outcome)),
    ingress: combineDir(results.map((x) => x.ingress.outcome)),
    denied_by: [...denied].sort(),
    allowed_by: [...by].sort(),
  };
}
