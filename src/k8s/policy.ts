/**
 * NetworkPolicy evaluation as Kubernetes defines it (networking.k8s.io/v1):
 * - a pod is isolated for a direction when any policy of that type selects it; otherwise that
 *   direction is allowed by default;
 * - an isolated direction allows what the union of the selecting policies' rules allows;
 * - policyTypes defaults to Ingress, plus Egress when the policy has egress rules;
 * - a connection passes only if the source's egress AND the destination's ingress allow it;
 * - a pod cannot block itself, and traffic between a pod and its own node is always allowed.
 * Policies see traffic after service DNAT: the caller passes the backend pod and target port.
 */
import { LocalNets } from '../../parsers/record/local-nets';
import type { L4Protocol, PodEntry } from './inventory';
import type { LabelSelector, NetworkPolicyObject, NetworkPolicyPeer, NetworkPolicyPort } from './schema';
import { selectorMatches } from './selector';

/** One end of a connection as policy sees it. */
export interface PolicyEndpoint {
  ip: string;
  /** The pod behind the address (not hostNetwork pods: policy does not apply to them). */
  pod?: PodEntry;
  /** Set when the address is a node's (a node, or a hostNetwork pod on it). */
  nodeName?: string;
}

export interface PolicyQuery {
  src: PolicyEndpoint;
  dst: PolicyEndpoint;
  /** Destination port after DNAT. */
  port: number;
  /** null for protocols policies cannot name (ICMP...): only port-less rules allow them. */
  protocol: L4Protocol | null;
}

export type DirectionOutcome = 'allowed' | 'denied' | 'not-isolated' | 'not-applicable';

export interface DirectionResult {
  outcome: DirectionOutcome;
  /** "namespace/name" of the policies selecting the pod for this direction. */
  isolating: string[];
  /** "namespace/name" of the selecting policies whose rules allow the connection. */
  allowedBy: string[];
}

export interface PolicyResult {
  allowed: boolean;
  egress: DirectionResult;
  ingress: DirectionResult;
}

type NamespaceLabels = (ns: string) => Readonly<Record<string, string>> | undefined;

interface CompiledPeer {
  pod?: LabelSelector;
  ns?: LabelSelector;
  cidr?: LocalNets;
  except?: LocalNets;
}

interface CompiledPort {
  protocol: L4Protocol;
  port?: number | string;
  endPort?: number;
}

interface CompiledRule {
  /** null: every peer (rule without from/to). */
  peers: CompiledPeer[] | null;
  /** null: every port and protocol. */
  ports: CompiledPort[] | null;
}

interface CompiledPolicy {
  id: string;
  namespace: string;
  selector: LabelSelector;
  ingress: CompiledRule[] | null;
  egress: CompiledRule[] | null;
}

export class PolicyError extends Error {}

function compilePeer(p: NetworkPolicyPeer, where: string): CompiledPeer {
  if (p.ipBlock) {
    try {
      return {
        cidr: new LocalNets([p.ipBlock.cidr]),
        except: p.ipBlock.except?.length ? new LocalNets(p.ipBlock.except) : undefined,
      };
    } catch (e) {
      throw new PolicyError(`${where}: ipBlock: ${(e as Error).message}`);
    }
  }
  return { pod: p.podSelector ?? undefined, ns: p.namespaceSelector ?? undefined };
}

function compilePorts(ports: NetworkPolicyPort[] | null | undefined): CompiledPort[] | null {
  if (!ports || ports.length === 0) return null;
  return ports.map((p) => ({ protocol: p.protocol ?? 'TCP', port: p.port ?? undefined, endPort: p.endPort ?? undefined }));
}

function compileRules(
  rules: ReadonlyArray<{ peers: NetworkPolicyPeer[] | null | undefined; ports: NetworkPolicyPort[] | null | undefined }>,
  where: string,
): CompiledRule[] {
  return rules.map((r, i) => ({
    peers: r.peers?.length ? r.peers.map((p, j) => compilePeer(p, `${where}[${i}].peers[${j}]`)) : null,
    ports: compilePorts(r.ports),
  }));
}

export function compilePolicy(p: NetworkPolicyObject): CompiledPolicy {
  const s = p.spec;
  const id = `${p.metadata.namespace}/${p.metadata.name}`;
  const types = s.policyTypes ?? (s.egress?.length ? ['Ingress', 'Egress'] : ['Ingress']);
  return {
    id,
    namespace: p.metadata.namespace,
    selector: s.podSelector,
    ingress: types.includes('Ingress')
      ? compileRules(
          (s.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })),
          `${id}: ingress`,
        )
      : null,
    egress: types.includes('Egress')
      ? compileRules(
          (s.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })),
          `${id}: egress`,
        )
      : null,
  };
}

export class PolicySet {
  private readonly byNamespace = new Map<string, CompiledPolicy[]>();
  readonly size: number;

  /** Throws PolicyError on an unusable CIDR (validation has checked the rest). */
  constructor(policies: readonly NetworkPolicyObject[]) {
    for (const p of policies) {
      const c = compilePolicy(p);
      const a = this.byNamespace.get(c.namespace);
      if (a) a.push(c);
      else this.byNamespace.set(c.namespace, [c]);
    }
    this.size = policies.length;
  }

  evaluate(q: PolicyQuery, nsLabels: NamespaceLabels): PolicyResult {
    const samePod = q.src.pod !== undefined && q.src.pod === q.dst.pod;
    const egress = this.direction('egress', q.src, q.dst, q, nsLabels, samePod);
    const ingress = this.direction('ingress', q.dst, q.src, q, nsLabels, samePod);
    const ok = (d: DirectionResult): boolean => d.outcome !== 'denied';
    return { allowed: ok(egress) && ok(ingress), egress, ingress };
  }

  /** `self` is the pod whose policies apply; `peer` the other end. */
  private direction(
    dir: 'ingress' | 'egress',
    self: PolicyEndpoint,
    peer: PolicyEndpoint,
    q: PolicyQuery,
    nsLabels: NamespaceLabels,
    samePod: boolean,
  ): DirectionResult {
    const pod = self.pod;
    if (!pod) return { outcome: 'not-applicable', isolating: [], allowedBy: [] };
    const isolating: string[] = [];
    const allowedBy: string[] = [];
    for (const p of this.byNamespace.get(pod.namespace) ?? []) {
      const rules = p[dir];
      if (rules === null || !selectorMatches(p.selector, pod.labels)) continue;
      isolating.push(p.id);
      if (rules.some((r) => this.ruleAllows(r, p.namespace, peer, q, nsLabels))) allowedBy.push(p.id);
    }
    if (isolating.length === 0) return { outcome: 'not-isolated', isolating, allowedBy };
    // The documented exceptions: a pod cannot block itself, and its own node always reaches it.
    const ownNode = pod.node !== undefined && peer.nodeName === pod.node;
    const outcome = allowedBy.length > 0 || samePod || ownNode ? 'allowed' : 'denied';
    return { outcome, isolating, allowedBy };
  }

  private ruleAllows(r: CompiledRule, policyNs: string, peer: PolicyEndpoint, q: PolicyQuery, nsLabels: NamespaceLabels): boolean {
    if (r.ports !== null && !r.ports.some((p) => portMatches(p, q))) return false;
    if (r.peers === null) return true;
    return r.peers.some((p) => peerMatches(p, policyNs, peer, nsLabels));
  }
}

function peerMatches(p: CompiledPeer, policyNs: string, peer: PolicyEndpoint, nsLabels: NamespaceLabels): boolean {
  if (p.cidr) return p.cidr.containsAddress(peer.ip) && !(p.except?.containsAddress(peer.ip) ?? false);
  const pod = peer.pod;
  if (!pod) return false;
  if (p.ns) {
    const labels = nsLabels(pod.namespace) ?? { 'kubernetes.io/metadata.name': pod.namespace };
    if (!selectorMatches(p.ns, labels)) return false;
  } else if (pod.namespace !== policyNs) {
    // A podSelector alone selects pods in the policy's own namespace.
    return false;
  }
  return p.pod ? selectorMatches(p.pod, pod.labels) : true;
}

function portMatches(p: CompiledPort, q: PolicyQuery): boolean {
  if (q.protocol === null || p.protocol !== q.protocol) return false;
  if (p.port === undefined) return true;
  if (typeof p.port === 'number') return p.endPort !== undefined ? q.port >= p.port && q.port <= p.endPort : q.port === p.port;
  // Named ports are the destination pod's container ports (for ingress the selected pod, for egress the peer).
  const dst = q.dst.pod;
  if (!dst) return false;
  return dst.ports.some((c) => c.name === p.port && c.protocol === p.protocol && c.port === q.port);
}
