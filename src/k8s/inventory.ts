/**
 * The inventory store: pods, services, endpoint slices, nodes, namespaces and owner objects,
 * merged from any number of snapshots (kubectl output files, API uploads, a live watch), with
 * every address's owner kept over a validity interval, because pod IPs are reused: the owner of
 * 10.244.1.7 at 10:00 may be gone by 10:05 and the address handed to another pod.
 */
import {
  parseObjects,
  type EndpointSliceObject,
  type K8sObject,
  type NamespaceObject,
  type NetworkPolicyObject,
  type NodeObject,
  type OwnerObject,
  type ParsedObjects,
  type PodObject,
  type ServiceObject,
} from './schema';

export type L4Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ContainerPort {
  name?: string;
  port: number;
  protocol: L4Protocol;
}

export interface PodEntry {
  namespace: string;
  name: string;
  uid?: string;
  labels: Record<string, string>;
  node?: string;
  hostNetwork: boolean;
  workload: string;
  workloadKind: string;
  ports: ContainerPort[];
  ips: string[];
  /** Validity of the pod's addresses, seconds since the epoch (open ends are +-Infinity). */
  from: number;
  to: number;
  /** Snapshot times this pod was seen at (first/last), when snapshots carry one. */
  firstSeen?: number;
  lastSeen?: number;
}

export interface ServicePort {
  name?: string;
  port: number;
  protocol: L4Protocol;
  targetPort?: number | string;
}

export interface ServiceEntry {
  namespace: string;
  name: string;
  clusterIPs: string[];
  ports: ServicePort[];
  from: number;
  to: number;
}

export interface SliceEndpoint {
  ip: string;
  namespace: string;
  service: string;
  /** The pod behind the address, when the slice names it. */
  pod?: string;
  /** The slice's ports (target ports); empty means "all ports". */
  ports: { name?: string; port?: number; protocol: L4Protocol }[];
}

export interface NodeEntry {
  name: string;
  ips: string[];
  labels: Record<string, string>;
}

export interface AddInventoryOptions {
  /** When the snapshot was taken (seconds): pods without creationTimestamp start at their first sighting, and pods absent from a later pod snapshot end there. */
  observedAt?: number;
}

interface TimedOwner<T> {
  from: number;
  to: number;
  v: T;
}

/** Owners of one address over time, sorted by start. */
class Timeline<T> {
  private readonly m = new Map<string, TimedOwner<T>[]>();

  add(ip: string, from: number, to: number, v: T): void {
    let a = this.m.get(ip);
    if (!a) {
      a = [];
      this.m.set(ip, a);
    }
    a.push({ from, to, v });
    a.sort((x, y) => x.from - y.from);
  }

  /**
   * The owner at `ts`: the latest-starting owner that had started by then, if it has not ended.
   * A later owner implicitly ends an earlier open-ended one: the address cannot be held twice.
   */
  at(ip: string, ts: number): T | undefined {
    const a = this.m.get(ip);
    if (!a) return undefined;
    for (let i = a.length - 1; i >= 0; i--) {
      if (a[i].from <= ts) return ts < a[i].to ? a[i].v : undefined;
    }
    return undefined;
  }

  clear(): void {
    this.m.clear();
  }
}

const seconds = (t: string | null | undefined): number | undefined => (t ? Date.parse(t) / 1000 : undefined);
const proto = (p: string | null | undefined): L4Protocol => (p === 'UDP' || p === 'SCTP' ? p : 'TCP');

/** ReplicaSets are named <deployment>-<pod-template-hash>; the hash uses this alphabet (k8s.io/apimachinery rand.SafeEncodeString). */
const RS_HASH = /^(.+)-([bcdfghjklmnpqrstvwxz2456789]{5,10})$/;
/** Jobs created by a CronJob are named <cronjob>-<scheduled time in minutes since the epoch>. */
const CRONJOB_JOB = /^(.+)-(\d{8,})$/;

export class InventoryStore {
  private readonly pods = new Map<string, PodEntry>();
  private readonly services = new Map<string, ServiceEntry>();
  private readonly slices = new Map<string, EndpointSliceObject>();
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly namespaces = new Map<string, Record<string, string>>();
  private readonly owners = new Map<string, OwnerObject>();
  private readonly policies = new Map<string, NetworkPolicyObject>();

  private dirty = true;
  private readonly podIps = new Timeline<PodEntry>();
  private readonly serviceIps = new Timeline<ServiceEntry>();
  private readonly nodeIps = new Map<string, NodeEntry>();
  private readonly hostNetPods = new Map<string, PodEntry[]>();
  private readonly endpointIps = new Map<string, SliceEndpoint[]>();
  private readonly backends = new Map<string, SliceEndpoint[]>();

  /** Items ignored across all imports, by kind. */
  readonly ignored: Record<string, number> = {};

  /** Validates and adds a parsed document (see parseObjects); returns what was read. */
  addDocument(doc: unknown, source = 'inventory', opts: AddInventoryOptions = {}): ParsedObjects {
    const parsed = parseObjects(doc, source);
    this.addObjects(parsed.objects, opts);
    for (const [k, n] of Object.entries(parsed.ignored)) this.ignored[k] = (this.ignored[k] ?? 0) + n;
    return parsed;
  }

  addObjects(objects: readonly K8sObject[], opts: AddInventoryOptions = {}): void {
    const seenPods = new Set<string>();
    // Owners first: a pod's workload is named from them.
    for (const o of objects) if (o.kind !== 'Pod') this.addOther(o);
    for (const o of objects) if (o.kind === 'Pod') seenPods.add(this.addPod(o, opts.observedAt));
    if (opts.observedAt !== undefined && seenPods.size > 0) {
      for (const [k, p] of this.pods) {
        if (!seenPods.has(k) && p.to === Infinity && (p.lastSeen ?? -Infinity) < opts.observedAt && p.from < opts.observedAt) p.to = opts.observedAt;
      }
    }
    this.dirty = true;
  }

  /** A live watch's deletion: the object stops owning its addresses at `at` (seconds). */
  remove(kind: 'Pod' | 'Service' | 'EndpointSlice' | 'Node' | 'NetworkPolicy', namespace: string | undefined, name: string, at: number, uid?: string): void {
    const key = namespace ? `${namespace}/${name}` : name;
    if (kind === 'Pod') {
      // By uid when known: a StatefulSet's replacement pod has the same name.
      for (const p of this.pods.values()) if (p.namespace === namespace && p.name === name && (!uid || !p.uid || p.uid === uid) && p.to > at) p.to = at;
    } else if (kind === 'Service') {
      const s = this.services.get(key);
      if (s && s.to > at) s.to = at;
    } else if (kind === 'EndpointSlice') this.slices.delete(key);
    else if (kind === 'Node') this.nodes.delete(name);
    else this.policies.delete(key);
    this.dirty = true;
  }

  private addOther(o: Exclude<K8sObject, PodObject>): void {
    const m = o.metadata;
    if (m.namespace) this.noteNamespace(m.namespace);
    switch (o.kind) {
      case 'Service':
        this.addService(o);
        return;
      case 'EndpointSlice':
        this.slices.set(`${m.namespace}/${m.name}`, o);
        return;
      case 'Node':
        this.addNode(o);
        return;
      case 'Namespace':
        this.addNamespace(o);
        return;
      case 'NetworkPolicy':
        this.policies.set(`${m.namespace}/${m.name}`, o);
        return;
      default:
        this.owners.set(`${o.kind}/${m.namespace}/${m.name}`, o);
    }
  }

  private noteNamespace(ns: string): void {
    if (!this.namespaces.has(ns)) this.namespaces.set(ns, { 'kubernetes.io/metadata.name': ns });
  }

  private addNamespace(o: NamespaceObject): void {
    // The API server sets kubernetes.io/metadata.name on every namespace; older dumps may lack it.
    this.namespaces.set(o.metadata.name, { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name });
  }

  private addService(o: ServiceObject): void {
    const m = o.metadata;
    const spec = o.spec ?? {};
    const ips = new Set<string>();
    for (const ip of [spec.clusterIP, ...(spec.clusterIPs ?? [])]) if (ip && ip !== 'None') ips.add(ip);
    const key = `${m.namespace}/${m.name}`;
    const prev = this.services.get(key);
    const from = seconds(m.creationTimestamp) ?? -Infinity;
    this.services.set(key, {
      namespace: m.namespace,
      name: m.name,
      clusterIPs: [...ips],
      ports: (spec.ports ?? []).map((p) => ({ name: p.name ?? undefined, port: p.port, protocol: proto(p.protocol), targetPort: p.targetPort ?? undefined })),
      from: prev ? Math.min(prev.from, from) : from,
      to: seconds(m.deletionTimestamp) ?? Infinity,
    });
  }

  private addNode(o: NodeObject): void {
    const ips = (o.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address);
    this.nodes.set(o.metadata.name, { name: o.metadata.name, ips, labels: o.metadata.labels ?? {} });
  }

  private addPod(o: PodObject, observedAt: number | undefined): string {
    const m = o.metadata;
    this.noteNamespace(m.namespace);
    const created = seconds(m.creationTimestamp);
    const key = m.uid ?? `${m.namespace}/${m.name}@${m.creationTimestamp ?? ''}`;
    const st = o.status ?? {};
    const ips = new Set<string>();
    if (st.podIP) ips.add(st.podIP);
    for (const x of st.podIPs ?? []) ips.add(x.ip);
    let end = seconds(m.deletionTimestamp);
    if (end === undefined && (st.phase === 'Succeeded' || st.phase === 'Failed')) {
      // A finished pod's sandbox, and with it the address, is released when its containers end.
      let last: number | undefined;
      for (const c of st.containerStatuses ?? []) {
        const f = seconds(c.state?.terminated?.finishedAt);
        if (f !== undefined && (last === undefined || f > last)) last = f;
      }
      end = last ?? observedAt;
    }
    const labels = m.labels ?? {};
    const wl = this.workloadOf(m.namespace, m.name, labels, m.ownerReferences ?? []);
    const ports: ContainerPort[] = [];
    for (const c of o.spec?.containers ?? [])
      for (const p of c.ports ?? []) ports.push({ name: p.name ?? undefined, port: p.containerPort, protocol: proto(p.protocol) });
    const prev = this.pods.get(key);
    const entry: PodEntry = {
      namespace: m.namespace,
      name: m.name,
      uid: m.uid ?? undefined,
      labels,
      node: o.spec?.nodeName ?? undefined,
      hostNetwork: o.spec?.hostNetwork === true,
      workload: wl.name,
      workloadKind: wl.kind,
      ports,
      ips: ips.size ? [...ips] : (prev?.ips ?? []),
      from: Math.min(created ?? observedAt ?? -Infinity, prev?.from ?? Infinity),
      to: end ?? (prev && !(observedAt !== undefined && prev.to <= observedAt) ? prev.to : Infinity),
      firstSeen: minDef(prev?.firstSeen, observedAt),
      lastSeen: maxDef(prev?.lastSeen, observedAt),
    };
    this.pods.set(key, entry);
    return key;
  }

  /** Follows the controller reference up to the workload a person would name. */
  private workloadOf(
    ns: string,
    pod: string,
    labels: Record<string, string>,
    refs: ReadonlyArray<{ kind: string; name: string; controller?: boolean | null }>,
  ): { kind: string; name: string } {
    const ref = refs.find((r) => r.controller) ?? refs[0];
    if (!ref) return { kind: 'Pod', name: pod };
    if (ref.kind === 'ReplicaSet' || ref.kind === 'Job') {
      const obj = this.owners.get(`${ref.kind}/${ns}/${ref.name}`);
      if (obj) {
        const up = (obj.metadata.ownerReferences ?? []).find((r) => r.controller) ?? obj.metadata.ownerReferences?.[0];
        return up ? { kind: up.kind, name: up.name } : { kind: ref.kind, name: ref.name };
      }
      if (ref.kind === 'ReplicaSet') {
        const hash = labels['pod-template-hash'];
        if (hash && ref.name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: ref.name.slice(0, -hash.length - 1) };
        const m = RS_HASH.exec(ref.name);
        return m ? { kind: 'Deployment', name: m[1] } : { kind: 'ReplicaSet', name: ref.name };
      }
      const m = CRONJOB_JOB.exec(ref.name);
      return m ? { kind: 'CronJob', name: m[1] } : { kind: 'Job', name: ref.name };
    }
    return { kind: ref.kind, name: ref.name };
  }

  private rebuild(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.podIps.clear();
    this.serviceIps.clear();
    this.nodeIps.clear();
    this.hostNetPods.clear();
    this.endpointIps.clear();
    this.backends.clear();
    for (const n of this.nodes.values()) for (const ip of n.ips) this.nodeIps.set(ip, n);
    for (const p of this.pods.values()) {
      if (p.hostNetwork) {
        if (!p.node) continue;
        let a = this.hostNetPods.get(p.node);
        if (!a) {
          a = [];
          this.hostNetPods.set(p.node, a);
        }
        a.push(p);
        continue;
      }
      for (const ip of p.ips) this.podIps.add(ip, p.from, p.to, p);
    }
    for (const s of this.services.values()) for (const ip of s.clusterIPs) this.serviceIps.add(ip, s.from, s.to, s);
    for (const sl of this.slices.values()) {
      const svc = sl.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const ports = (sl.ports ?? []).map((p) => ({ name: p.name ?? undefined, port: p.port ?? undefined, protocol: proto(p.protocol) }));
      for (const e of sl.endpoints ?? []) {
        for (const ip of e.addresses) {
          const ep: SliceEndpoint = {
            ip,
            namespace: sl.metadata.namespace,
            service: svc,
            pod: e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined,
            ports,
          };
          push(this.endpointIps, ip, ep);
          push(this.backends, `${sl.metadata.namespace}/${svc}`, ep);
        }
      }
    }
  }

  /** The (non-hostNetwork) pod holding `ip` at `ts`. */
  podAt(ip: string, ts: number): PodEntry | undefined {
    this.rebuild();
    return this.podIps.at(ip, ts);
  }

  serviceAt(ip: string, ts: number): ServiceEntry | undefined {
    this.rebuild();
    return this.serviceIps.at(ip, ts);
  }

  nodeByIp(ip: string): NodeEntry | undefined {
    this.rebuild();
    return this.nodeIps.get(ip);
  }

  node(name: string): NodeEntry | undefined {
    return this.nodes.get(name);
  }

  /** hostNetwork pods of a node alive at `ts`. */
  hostNetworkPods(node: string, ts: number): PodEntry[] {
    this.rebuild();
    return (this.hostNetPods.get(node) ?? []).filter((p) => p.from <= ts && ts < p.to);
  }

  /** Endpoint-slice entries listing `ip`. */
  endpointsOf(ip: string): readonly SliceEndpoint[] {
    this.rebuild();
    return this.endpointIps.get(ip) ?? [];
  }

  /** Every endpoint address of a service. */
  backendsOf(namespace: string, service: string): readonly SliceEndpoint[] {
    this.rebuild();
    return this.backends.get(`${namespace}/${service}`) ?? [];
  }

  /** Labels of a namespace (always with kubernetes.io/metadata.name), or undefined when never seen. */
  namespaceLabels(ns: string): Record<string, string> | undefined {
    return this.namespaces.get(ns);
  }

  namespaceNames(): string[] {
    return [...this.namespaces.keys()];
  }

  networkPolicies(): NetworkPolicyObject[] {
    return [...this.policies.values()];
  }

  allPods(): PodEntry[] {
    return [...this.pods.values()];
  }

  get size(): { pods: number; services: number; endpointSlices: number; nodes: number; namespaces: number; networkPolicies: number } {
    return {
      pods: this.pods.size,
      services: this.services.size,
      endpointSlices: this.slices.size,
      nodes: this.nodes.size,
      namespaces: this.namespaces.size,
      networkPolicies: this.policies.size,
    };
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

function minDef(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function maxDef(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}
