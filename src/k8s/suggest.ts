/**
 * The policy advisor: least-privilege NetworkPolicies (one per workload, grouped by namespace)
 * from the connections observed in a window, and their verification by what-if against the same
 * traffic. Rules are built post-DNAT as policies see traffic: a connection to a ClusterIP becomes
 * rules to and from the service's backend workloads on the target port. Egress to kube-dns is
 * always kept; egress to public addresses is written as ipBlocks or left out on request;
 * connections under an open alert are left out, so the suggestion denies them.
 */
import { stringify } from 'yaml';
import type { Alert } from '../../detectors/contract/alert';
import type { ConnRecord } from '../../parsers/record/conn';
import type { L4Protocol, PodEntry } from './inventory';
import { PolicySet, type PolicyEndpoint } from './policy';
import { protocolOf, type K8sResolver, type ResolvedConn } from './resolver';
import type { LabelSelector, NetworkPolicyObject, NetworkPolicyPeer, NetworkPolicyPort } from './schema';
import { selectorMatches } from './selector';
import { endLabel } from './whatif';

export interface SuggestOptions {
  /** Egress to public (non-local, non-cluster) addresses: as ipBlocks (default) or left out, hence denied. */
  external?: 'cidr' | 'omit';
  /** Prefix length external/internal IPv4 addresses are widened to (default 32: the address alone). */
  ipv4Prefix?: number;
  /** Only connections with ts in [from, to) count (epoch seconds). */
  from?: number;
  to?: number;
  /** Alerts: connections under an open, unsuppressed one are not allowed by the suggestion. */
  alerts?: readonly Alert[];
  /** Namespaces that get policies (default: every namespace of an observed pod except kube-system). */
  namespaces?: readonly string[];
}

/** One observed (or probed) edge as reported: labels as the what-if writes them. */
export interface SuggestEdge {
  src: string;
  dst: string;
  port: number;
  protocol: string;
  connections: number;
  /** Why it is listed: the alert id, 'external egress omitted', 'ICMP and other port-less protocols cannot be allowed narrowly'... */
  reason?: string;
}

export interface SuggestVerification {
  /** Every included observed edge is allowed by the suggestion alone, every excluded deniable one denied, and no unobserved workload pair is allowed. */
  ok: boolean;
  /** Observed edges the suggestion must allow, and those it does not. */
  mustAllow: number;
  notAllowed: SuggestEdge[];
  /** Observed edges left out (alerts, omitted external egress) that a policy can deny, and those it does not. */
  mustDeny: number;
  notDenied: SuggestEdge[];
  /** Observed edges no NetworkPolicy can see (neither end is a pod: node to node, external to a node...). */
  outsidePolicy: number;
  /** Unobserved pairs of observed workloads on observed ports, probed: all must be denied. */
  probes: number;
  probesAllowed: SuggestEdge[];
  /** The probes stopped at MAX_PROBES (a large cluster): the rest were not checked. */
  probesTruncated: boolean;
}

export interface SuggestReport {
  window: { from: number | null; to: number | null };
  /** Connections counted (final records in the window). */
  connections: number;
  policies: NetworkPolicyObject[];
  /** Observed edges the suggestion deliberately does not allow. */
  excluded: SuggestEdge[];
  warnings: string[];
  verification: SuggestVerification;
}

/** Labels that differ between pods of one workload (per revision, per Job run, per ordinal). */
const VOLATILE_LABELS = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'controller-uid',
  'job-name',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
  'batch.kubernetes.io/job-completion-index',
]);

/** Bound on the pair probes: workloads x workloads x ports grows fast on a large cluster. */
export const MAX_PROBES = 2_000_000;

const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'eastwatch' };

/** A workload's identity: namespace, kind and name. */
function workloadKey(p: PodEntry): string {
  return `${p.namespace}/${p.workloadKind}/${p.workload}`;
}

interface WorkloadInfo {
  namespace: string;
  kind: string;
  name: string;
  /** null: no label common to its pods, so no selector can pick it alone. */
  selector: Record<string, string> | null;
  ingress: Map<string, PeerRule>;
  egress: Map<string, PeerRule>;
}

/** A peer and the ports allowed with it. */
interface PeerRule {
  peer: NetworkPolicyPeer;
  ports: Set<string>;
}

/** One observed connection kept as the representative of its edge, for verification. */
interface Observed {
  r: Pick<ConnRecord, 'ts' | 'orig_h' | 'orig_p' | 'resp_h' | 'resp_p' | 'proto' | 'ip_proto'>;
  connections: number;
  expect: 'allow' | 'deny' | 'unexpressible';
  reason?: string;
}

function portKey(protocol: L4Protocol, port: number): string {
  return `${protocol}/${port}`;
}

function toPolicyPorts(keys: Set<string>): NetworkPolicyPort[] {
  return [...keys]
    .map((k) => {
      const [protocol, port] = k.split('/');
      return { protocol: protocol as L4Protocol, port: Number(port) };
    })
    .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port);
}

/** The CIDR an address is allowed as: the address alone, or its IPv4 network of `prefix` bits. */
function cidrOf(ip: string, prefix: number): string {
  if (ip.includes(':')) return `${ip}/128`;
  if (prefix >= 32) return `${ip}/32`;
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - prefix);
  const base = Math.floor(n / size) * size;
  return `${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.')}/${prefix}`;
}

function openAlert(a: Alert): boolean {
  return a.status === 'open' && !a.suppressed_by;
}

export class PolicySuggester {
  private readonly workloads = new Map<string, WorkloadInfo>();
  private readonly observed = new Map<string, Observed>();
  private readonly warnings = new Set<string>();
  private readonly alertUids = new Map<string, string>();
  private readonly alertEdges: Alert[] = [];
  private readonly ipv4Prefix: number;
  private total = 0;
  private first = Number.POSITIVE_INFINITY;
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly resolver: K8sResolver,
    private readonly opts: SuggestOptions = {},
  ) {
    this.ipv4Prefix = opts.ipv4Prefix ?? 32;
    if (!Number.isInteger(this.ipv4Prefix) || this.ipv4Prefix < 8 || this.ipv4Prefix > 32)
      throw new RangeError(`IPv4 prefix ${this.ipv4Prefix}: expected an integer from 8 to 32`);
    for (const a of opts.alerts ?? []) {
      if (!openAlert(a)) continue;
      for (const u of a.evidence.uids) this.alertUids.set(u, a.id);
      if (a.source.ip && a.destination.ip) this.alertEdges.push(a);
    }
  }

  private alertOn(r: ConnRecord): string | undefined {
    const byUid = this.alertUids.get(r.uid);
    if (byUid) return byUid;
    return this.alertEdges.find(
      (a) => a.source.ip === r.orig_h && a.destination.ip === r.resp_h && (a.destination.port === undefined || a.destination.port === r.resp_p),
    )?.id;
  }

  /** Whether policies are written for this pod's workload. */
  private governed(p: PodEntry | undefined): p is PodEntry {
    if (!p || p.hostNetwork) return false;
    return this.opts.namespaces ? this.opts.namespaces.includes(p.namespace) : p.namespace !== 'kube-system';
  }

  private workload(p: PodEntry): WorkloadInfo {
    const k = workloadKey(p);
    let w = this.workloads.get(k);
    if (!w) {
      w = { namespace: p.namespace, kind: p.workloadKind, name: p.workload, selector: this.selectorFor(p), ingress: new Map(), egress: new Map() };
      this.workloads.set(k, w);
    }
    return w;
  }

  /** The labels every pod of the workload carries (volatile ones dropped); null when none. */
  private selectorFor(p: PodEntry): Record<string, string> | null {
    const k = workloadKey(p);
    const pods = this.resolver.store.allPods().filter((x) => !x.hostNetwork && workloadKey(x) === k);
    const sel: Record<string, string> = {};
    for (const [key, v] of Object.entries(p.labels)) {
      if (!VOLATILE_LABELS.has(key) && pods.every((x) => x.labels[key] === v)) sel[key] = v;
    }
    if (Object.keys(sel).length === 0) {
      this.warnings.add(`${p.namespace}/${p.workload}: its pods share no stable label, so no policy can select it; it gets none`);
      return null;
    }
    const others = this.resolver.store
      .allPods()
      .filter((x) => !x.hostNetwork && x.namespace === p.namespace && workloadKey(x) !== k && selectorMatches({ matchLabels: sel }, x.labels));
    if (others.length) {
      const names = [...new Set(others.map((x) => x.workload))].sort().join(', ');
      this.warnings.add(`${p.namespace}/${p.workload}: its selector ${JSON.stringify(sel)} also selects ${names}`);
    }
    return sel;
  }

  /** The peer a policy in `fromNs` names `end` with: the workload's pods, or the address as an ipBlock. */
  private peerOf(end: PolicyEndpoint, fromNs: string): { key: string; peer: NetworkPolicyPeer } | null {
    if (end.pod && !end.pod.hostNetwork) {
      const w = this.workload(end.pod);
      if (!w.selector) return null;
      const peer: NetworkPolicyPeer = { podSelector: { matchLabels: w.selector } };
      if (w.namespace !== fromNs) peer.namespaceSelector = { matchLabels: { 'kubernetes.io/metadata.name': w.namespace } };
      return { key: `pod:${w.namespace}/${JSON.stringify(w.selector)}`, peer };
    }
    // Node addresses stay single: widening them would open the other nodes (and their hostNetwork pods).
    const cidr = cidrOf(end.ip, end.nodeName ? 32 : this.ipv4Prefix);
    return { key: `cidr:${cidr}`, peer: { ipBlock: { cidr } } };
  }

  private allow(w: WorkloadInfo, dir: 'ingress' | 'egress', peer: { key: string; peer: NetworkPolicyPeer }, port: string): void {
    const m = w[dir];
    const e = m.get(peer.key);
    if (e) e.ports.add(port);
    else m.set(peer.key, { peer: peer.peer, ports: new Set([port]) });
  }

  add(r: ConnRecord): void {
    // Interim records repeat their connection: count each connection once, on its final record.
    if (r.interim) return;
    if (this.opts.from !== undefined && r.ts < this.opts.from) return;
    if (this.opts.to !== undefined && r.ts >= this.opts.to) return;
    this.total++;
    this.first = Math.min(this.first, r.ts);
    this.last = Math.max(this.last, r.ts);
    const c = this.resolver.resolve(r);
    const protocol = protocolOf(r);
    const dests = this.resolver.policyDestinations(r, c);
    const alert = this.alertOn(r);
    const key = `${alert ?? ''}|${r.orig_h}|${c.orig.pod?.uid ?? c.orig.pod?.name ?? ''}|${r.resp_h}|${r.resp_p}|${r.proto}|${r.ip_proto}|${dests.map((d) => d.dst.pod?.name ?? d.dst.ip).join(',')}`;
    const known = this.observed.get(key);
    if (known) {
      known.connections++;
      return;
    }
    const ob: Observed = {
      r: { ts: r.ts, orig_h: r.orig_h, orig_p: r.orig_p, resp_h: r.resp_h, resp_p: r.resp_p, proto: r.proto, ip_proto: r.ip_proto },
      connections: 1,
      expect: 'allow',
    };
    this.observed.set(key, ob);
    if (alert) {
      ob.expect = 'deny';
      ob.reason = `open alert ${alert}`;
      return;
    }
    if (this.opts.external === 'omit' && c.resp.end.kind === 'external') {
      ob.expect = 'deny';
      ob.reason = 'external egress omitted';
      return;
    }
    const src: PolicyEndpoint = { ip: r.orig_h, pod: c.orig.pod, nodeName: c.orig.nodeName };
    if (protocol === null) {
      // Policies name TCP, UDP and SCTP ports only; allowing ICMP needs a port-less rule that opens every port.
      if (this.governed(src.pod) || dests.some((d) => this.governed(d.dst.pod))) {
        ob.expect = 'unexpressible';
        ob.reason = `${r.proto === 'icmp' ? 'ICMP' : `IP protocol ${r.ip_proto}`} cannot be allowed without opening every port`;
      }
      return;
    }
    for (const { dst, port } of dests) this.addEdge(src, dst, portKey(protocol, port));
  }

  private addEdge(src: PolicyEndpoint, dst: PolicyEndpoint, port: string): void {
    if (src.pod && src.pod === dst.pod) return; // a pod cannot block itself
    if (this.governed(src.pod)) {
      const w = this.workload(src.pod);
      // Traffic between a pod and its own node is always allowed.
      const ownNode = src.pod.node !== undefined && dst.nodeName === src.pod.node;
      const peer = this.peerOf(dst, w.namespace);
      if (w.selector && peer && !ownNode) this.allow(w, 'egress', peer, port);
    }
    if (this.governed(dst.pod)) {
      const w = this.workload(dst.pod);
      const ownNode = dst.pod.node !== undefined && src.nodeName === dst.pod.node;
      const peer = this.peerOf(src, w.namespace);
      if (w.selector && peer && !ownNode) this.allow(w, 'ingress', peer, port);
    }
  }

  /** Egress to the cluster DNS kept for every workload: its backends on their DNS target ports, or k8s-app=kube-dns on 53. */
  private dnsRule(): { key: string; peer: NetworkPolicyPeer; ports: string[] } {
    const store = this.resolver.store;
    const svc = store.backendsOf('kube-system', 'kube-dns');
    const pods = svc.map((b) => store.allPods().find((p) => p.ips.includes(b.ip) && p.namespace === 'kube-system')).filter((p): p is PodEntry => !!p);
    let sel: Record<string, string> = { 'k8s-app': 'kube-dns' };
    if (pods.length) {
      const common: Record<string, string> = {};
      for (const [k, v] of Object.entries(pods[0].labels)) if (!VOLATILE_LABELS.has(k) && pods.every((p) => p.labels[k] === v)) common[k] = v;
      if (Object.keys(common).length) sel = common;
    }
    // DNS is UDP and TCP 53; a slice may name other target ports for its dns ports (not its metrics port).
    const ports = new Set<string>(['UDP/53', 'TCP/53']);
    for (const b of svc)
      for (const p of b.ports) if (p.port !== undefined && (p.port === 53 || p.name?.startsWith('dns'))) ports.add(portKey(p.protocol, p.port));
    return {
      key: `pod:kube-system/${JSON.stringify(sel)}`,
      peer: { podSelector: { matchLabels: sel }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } },
      ports: [...ports],
    };
  }

  private policies(): NetworkPolicyObject[] {
    const dns = this.dnsRule();
    const ws = [...this.workloads.values()].filter((w) => w.selector !== null && this.isGovernedNs(w.namespace));
    const names = new Map<string, number>();
    for (const w of ws) names.set(`${w.namespace}/${w.name}`, (names.get(`${w.namespace}/${w.name}`) ?? 0) + 1);
    const out: NetworkPolicyObject[] = [];
    for (const w of ws.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind))) {
      for (const p of dns.ports) this.allow(w, 'egress', dns, p);
      const clash = (names.get(`${w.namespace}/${w.name}`) ?? 0) > 1;
      const rules = (m: Map<string, PeerRule>): { peers: NetworkPolicyPeer[]; ports: NetworkPolicyPort[] }[] => {
        // Peers with the same ports share a rule: the rule allows exactly peers x ports, as observed.
        const byPorts = new Map<string, { peers: [string, NetworkPolicyPeer][]; ports: NetworkPolicyPort[] }>();
        for (const [k, e] of m) {
          const ports = toPolicyPorts(e.ports);
          const pk = JSON.stringify(ports);
          const g = byPorts.get(pk);
          if (g) g.peers.push([k, e.peer]);
          else byPorts.set(pk, { peers: [[k, e.peer]], ports });
        }
        return [...byPorts.entries()]
          .sort((a, b) => a[0].localeCompare(b[0]))
          .map(([, g]) => ({ peers: g.peers.sort((a, b) => a[0].localeCompare(b[0])).map(([, p]) => p), ports: g.ports }));
      };
      const selector: LabelSelector = { matchLabels: w.selector ?? {} };
      out.push({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {
          name: `eastwatch-${clash ? `${w.kind.toLowerCase()}-` : ''}${w.name}`.slice(0, 253),
          namespace: w.namespace,
          labels: { ...MANAGED_BY },
        },
        spec: {
          podSelector: selector,
          policyTypes: ['Ingress', 'Egress'],
          ingress: rules(w.ingress).map((r) => ({ from: r.peers, ports: r.ports })),
          egress: rules(w.egress).map((r) => ({ to: r.peers, ports: r.ports })),
        },
      } as NetworkPolicyObject);
    }
    return out;
  }

  private isGovernedNs(ns: string): boolean {
    return this.opts.namespaces ? this.opts.namespaces.includes(ns) : ns !== 'kube-system';
  }

  suggest(): SuggestReport {
    const policies = this.policies();
    const verification = this.verify(policies);
    const excluded: SuggestEdge[] = [];
    for (const ob of this.observed.values()) if (ob.expect !== 'allow') excluded.push({ ...this.edgeOf(ob.r), connections: ob.connections, reason: ob.reason });
    return {
      window: {
        from: this.opts.from ?? (this.total ? this.first : null),
        to: this.opts.to ?? (this.total ? this.last : null),
      },
      connections: this.total,
      policies,
      excluded: mergeEdges(excluded),
      warnings: [...this.warnings].sort(),
      verification,
    };
  }

  private edgeOf(r: Observed['r']): { src: string; dst: string; port: number; protocol: string } {
    const c: ResolvedConn = this.resolver.resolve(r);
    return {
      src: endLabel(c.orig.end, r.orig_h),
      dst: endLabel(c.resp.end, r.resp_h),
      port: r.resp_p,
      protocol: r.proto === 'unknown_transport' ? `ip/${r.ip_proto}` : r.proto,
    };
  }

  /** What-if of the suggestion alone against the observed traffic, and probes of the workload pairs not observed. */
  verify(policies: readonly NetworkPolicyObject[]): SuggestVerification {
    const set = new PolicySet(policies);
    const v: SuggestVerification = {
      ok: true,
      mustAllow: 0,
      notAllowed: [],
      mustDeny: 0,
      notDenied: [],
      outsidePolicy: 0,
      probes: 0,
      probesAllowed: [],
      probesTruncated: false,
    };
    const notAllowed: SuggestEdge[] = [];
    const notDenied: SuggestEdge[] = [];
    for (const ob of this.observed.values()) {
      const c = this.resolver.resolve(ob.r);
      const verdict = this.resolver.verdict(ob.r, c, set);
      const reachable = [verdict.egress, verdict.ingress].some((d) => d !== 'not-applicable' && d !== 'not-isolated');
      if (ob.expect === 'allow') {
        if (!reachable) v.outsidePolicy += ob.connections;
        else v.mustAllow += ob.connections;
        if (verdict.verdict !== 'allowed') notAllowed.push({ ...this.edgeOf(ob.r), connections: ob.connections, reason: `verdict ${verdict.verdict}` });
      } else if (ob.expect === 'deny') {
        if (!reachable) {
          v.outsidePolicy += ob.connections;
          continue;
        }
        v.mustDeny += ob.connections;
        if (verdict.verdict !== 'denied')
          notDenied.push({ ...this.edgeOf(ob.r), connections: ob.connections, reason: `${ob.reason}: verdict ${verdict.verdict}` });
      }
    }
    v.notAllowed = mergeEdges(notAllowed);
    v.notDenied = mergeEdges(notDenied);
    this.probe(set, v);
    v.ok = v.notAllowed.length === 0 && v.notDenied.length === 0 && v.probesAllowed.length === 0;
    return v;
  }

  /**
   * Every pair of observed pods (workload A to workload B, both under policy or one of them) on
   * every port observed anywhere, where A -> B on that port was not among the allowed edges: the
   * suggestion must deny it. This is "allows nothing else" beyond the single observed connections.
   */
  private probe(set: PolicySet, v: SuggestVerification): void {
    const pods = new Map<string, PodEntry>();
    const allowedPairs = new Set<string>();
    const ports = new Set<string>();
    for (const ob of this.observed.values()) {
      const c = this.resolver.resolve(ob.r);
      const protocol = protocolOf(ob.r);
      const dests = this.resolver.policyDestinations(ob.r, c);
      const src = c.orig.pod;
      if (src && !src.hostNetwork) pods.set(workloadKey(src), src);
      for (const d of dests) {
        if (d.dst.pod && !d.dst.pod.hostNetwork) pods.set(workloadKey(d.dst.pod), d.dst.pod);
        if (protocol === null) continue;
        ports.add(portKey(protocol, d.port));
        if (ob.expect === 'allow' && src && d.dst.pod) allowedPairs.add(`${workloadKey(src)}|${workloadKey(d.dst.pod)}|${portKey(protocol, d.port)}`);
      }
    }
    const nsLabels = (ns: string) => this.resolver.store.namespaceLabels(ns);
    const dns = this.dnsRule().peer;
    const list = [...pods.values()];
    for (const a of list) {
      for (const b of list) {
        if (!this.governed(a) && !this.governed(b)) continue;
        // One pod stands for its workload; traffic within a workload is not probed.
        if (a === b) continue;
        for (const pk of ports) {
          if (allowedPairs.has(`${workloadKey(a)}|${workloadKey(b)}|${pk}`)) continue;
          if (v.probes >= MAX_PROBES) {
            v.probesTruncated = true;
            return;
          }
          const [protocol, port] = pk.split('/');
          v.probes++;
          const res = set.evaluate(
            { src: { ip: a.ips[0] ?? '', pod: a }, dst: { ip: b.ips[0] ?? '', pod: b }, port: Number(port), protocol: protocol as L4Protocol },
            nsLabels,
          );
          if (res.allowed && !isDns(b, dns, nsLabels, Number(port)))
            v.probesAllowed.push({
              src: `${a.namespace}/${a.workload}`,
              dst: `${b.namespace}/${b.workload}`,
              port: Number(port),
              protocol: protocol.toLowerCase(),
              connections: 0,
            });
        }
      }
    }
  }
}

/** Probes to the cluster DNS on 53 are allowed by design (DNS egress is kept). */
function isDns(p: PodEntry, dns: NetworkPolicyPeer, nsLabels: (ns: string) => Record<string, string> | undefined, port: number): boolean {
  if (port !== 53 || !dns.podSelector || !dns.namespaceSelector) return false;
  const nl = nsLabels(p.namespace) ?? { 'kubernetes.io/metadata.name': p.namespace };
  return selectorMatches(dns.namespaceSelector, nl) && selectorMatches(dns.podSelector, p.labels);
}

function mergeEdges(edges: SuggestEdge[]): SuggestEdge[] {
  const m = new Map<string, SuggestEdge>();
  for (const e of edges) {
    const k = `${e.src}\0${e.dst}\0${e.port}\0${e.protocol}\0${e.reason ?? ''}`;
    const x = m.get(k);
    if (x) x.connections += e.connections;
    else m.set(k, { ...e });
  }
  return [...m.values()].sort((a, b) => a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst) || a.port - b.port);
}

/** The policies as YAML documents for `kubectl apply -f`. */
export function suggestionYaml(rep: SuggestReport): string {
  const head = [
    '# NetworkPolicies suggested by eastwatch from the observed traffic',
    `# window: ${rep.window.from === null ? '-' : new Date(rep.window.from * 1000).toISOString()} .. ${rep.window.to === null ? '-' : new Date(rep.window.to * 1000).toISOString()}, ${rep.connections} connections`,
    `# verification: ${rep.verification.ok ? 'ok' : 'FAILED'} (${rep.verification.mustAllow} connections allowed as observed, ${rep.verification.mustDeny} left out and denied, ${rep.verification.probes} unobserved workload pairs probed)`,
  ];
  const docs = rep.policies.map((p) => stringify(p, { lineWidth: 0 }));
  return `${head.join('\n')}\n${docs.map((d) => `---\n${d}`).join('')}`;
}

/** The report for a terminal: verification, exclusions and warnings. */
export function renderSuggestSummary(rep: SuggestReport): string {
  const v = rep.verification;
  const lines = [
    `${rep.policies.length} policies from ${rep.connections} connections; verification ${v.ok ? 'ok' : 'FAILED'}: ` +
      `${v.mustAllow - v.notAllowed.reduce((n, e) => n + e.connections, 0)}/${v.mustAllow} observed connections allowed, ` +
      `${v.mustDeny - v.notDenied.reduce((n, e) => n + e.connections, 0)}/${v.mustDeny} left-out connections denied, ` +
      `${v.probes - v.probesAllowed.length}/${v.probes} unobserved workload pairs denied${v.probesTruncated ? ` (probes stopped at ${MAX_PROBES})` : ''}, ${v.outsidePolicy} connections outside any policy's reach`,
  ];
  const edge = (e: SuggestEdge): string =>
    `  ${e.src} -> ${e.dst}:${e.port}/${e.protocol}${e.connections ? ` (${e.connections})` : ''}${e.reason ? `: ${e.reason}` : ''}`;
  if (rep.excluded.length) lines.push('left out (denied by the suggestion):', ...rep.excluded.map(edge));
  if (v.notAllowed.length) lines.push('observed but NOT allowed:', ...v.notAllowed.map(edge));
  if (v.notDenied.length) lines.push('left out but NOT denied:', ...v.notDenied.map(edge));
  if (v.probesAllowed.length) lines.push('unobserved but allowed:', ...v.probesAllowed.map(edge));
  for (const w of rep.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
