/**
 * The evaluation cluster: nodes, namespaces, workloads and their pods over time (a rollout, a
 * scale-up, hourly CronJob runs), services with their backends, NetworkPolicies. It writes the
 * inventory (kubectl List JSON) and answers "who is this address at time t" for the Hubble flows,
 * so both inputs describe the same cluster.
 */

export const T0 = Date.UTC(2026, 0, 15, 0, 0, 0) / 1000;
/** Length of the generated traffic, seconds. */
export const SPAN = 6 * 3600;

export interface PodSpec {
  ns: string;
  name: string;
  workload: string;
  kind: 'Deployment' | 'CronJob' | 'StatefulSet';
  /** ReplicaSet, Job or StatefulSet owning the pod. */
  owner: string;
  ip: string;
  node: 'node-1' | 'node-2';
  /** Seconds after T0 (may be negative: before the capture). */
  from: number;
  to: number | null;
  labels: Record<string, string>;
  ports: { name: string; port: number }[];
  /** Job pods: phase Succeeded, finished at `to`. */
  finished?: boolean;
}

export interface SvcSpec {
  ns: string;
  name: string;
  ip: string;
  ports: { name: string; port: number; targetPort: number; protocol: 'TCP' | 'UDP' }[];
  selector: Record<string, string> | null;
  /** Endpoints outside the pod network (the API server). */
  external?: { ip: string; node: string }[];
}

export const NODES = { 'node-1': '192.168.10.11', 'node-2': '192.168.10.12', 'cp-1': '192.168.10.10' } as const;
export type NodeName = keyof typeof NODES;

const H = 3600;

function deploy(
  ns: string,
  workload: string,
  rs: string,
  pods: [string, string, 'node-1' | 'node-2', number, number | null][],
  ports: { name: string; port: number }[],
  extra: Record<string, string> = {},
): PodSpec[] {
  const hash = rs.slice(workload.length + 1);
  return pods.map(([suffix, ip, node, from, to]) => ({
    ns,
    name: `${rs}-${suffix}`,
    workload,
    kind: 'Deployment' as const,
    owner: rs,
    ip,
    node,
    from,
    to,
    labels: { app: workload, 'pod-template-hash': hash, ...extra },
    ports,
  }));
}

/** The rollout of shop/api at T0+3h replaces its two pods (new ReplicaSet, new addresses). */
export const ROLLOUT_AT = 3 * H;
/** frontend scales from 3 to 4 replicas at T0+4h. */
export const SCALE_AT = 4 * H;

export function pods(): PodSpec[] {
  const web = [{ name: 'http', port: 8080 }];
  const out: PodSpec[] = [
    ...deploy(
      'kube-system',
      'coredns',
      'coredns-5d78c9869d',
      [
        ['k8s7p', '10.244.1.2', 'node-1', -30 * H, null],
        ['w2xq9', '10.244.2.2', 'node-2', -30 * H, null],
      ],
      [{ name: 'dns', port: 53 }],
      { 'k8s-app': 'kube-dns' },
    ),
    ...deploy(
      'shop',
      'frontend',
      'frontend-7d9f8b6c5d',
      [
        ['abcde', '10.244.1.10', 'node-1', -10 * H, null],
        ['fghij', '10.244.1.11', 'node-1', -10 * H, null],
        ['klmno', '10.244.2.10', 'node-2', -10 * H, null],
        ['pqrst', '10.244.2.11', 'node-2', SCALE_AT, null],
      ],
      web,
    ),
    ...deploy(
      'shop',
      'api',
      'api-5c8d7b9f4',
      [
        ['xk2lp', '10.244.2.20', 'node-2', -10 * H, ROLLOUT_AT + 30],
        ['m9n8b', '10.244.1.20', 'node-1', -10 * H, ROLLOUT_AT + 60],
      ],
      web,
    ),
    ...deploy(
      'shop',
      'api',
      'api-6f7a8b9c0',
      [
        ['q1w2e', '10.244.2.22', 'node-2', ROLLOUT_AT - 60, null],
        ['r4t5y', '10.244.1.22', 'node-1', ROLLOUT_AT - 30, null],
      ],
      web,
    ),
    ...deploy(
      'shop',
      'worker',
      'worker-84c6d5f7b9',
      [
        ['h7j8k', '10.244.1.30', 'node-1', -10 * H, null],
        ['z3x4c', '10.244.2.32', 'node-2', -10 * H, null],
      ],
      [],
    ),
    ...deploy('shop', 'toolbox', 'toolbox-6b5c4d3e2f', [['v5b6n', '10.244.1.66', 'node-1', -10 * H, null]], []),
    ...deploy('payments', 'ledger', 'ledger-7c6b5a4d3e', [['p0o9i', '10.244.2.40', 'node-2', -10 * H, null]], web),
    ...deploy('monitoring', 'prometheus', 'prometheus-5f4e3d2c1b', [['u7y6t', '10.244.1.50', 'node-1', -30 * H, null]], [{ name: 'web', port: 9090 }]),
    ...deploy('ops', 'operator', 'operator-8e7d6c5b4a', [['g5f4d', '10.244.2.60', 'node-2', -30 * H, null]], []),
  ];
  out.push(
    {
      ns: 'shop',
      name: 'postgres-0',
      workload: 'postgres',
      kind: 'StatefulSet',
      owner: 'postgres',
      ip: '10.244.2.30',
      node: 'node-2',
      from: -30 * H,
      to: null,
      labels: { app: 'postgres' },
      ports: [{ name: 'pg', port: 5432 }],
    },
    {
      ns: 'shop',
      name: 'redis-0',
      workload: 'redis',
      kind: 'StatefulSet',
      owner: 'redis',
      ip: '10.244.2.31',
      node: 'node-2',
      from: -30 * H,
      to: null,
      labels: { app: 'redis' },
      ports: [{ name: 'redis', port: 6379 }],
    },
    {
      ns: 'shop',
      name: 'kafka-0',
      workload: 'kafka',
      kind: 'StatefulSet',
      owner: 'kafka',
      ip: '10.244.2.33',
      node: 'node-2',
      from: -30 * H,
      to: null,
      labels: { app: 'kafka' },
      ports: [{ name: 'kafka', port: 9092 }],
    },
  );
  // batch/report: a CronJob at :05 every hour; each run is a new Job, pod and address.
  for (let i = 0; i < SPAN / H; i++) {
    const sched = 29_450_160 + i * 60;
    out.push({
      ns: 'batch',
      name: `report-${sched}-${'bcdfg'[i % 5]}${i}x7q`,
      workload: 'report',
      kind: 'CronJob',
      owner: `report-${sched}`,
      ip: `10.244.2.${100 + i}`,
      node: 'node-2',
      from: i * H + 300,
      to: i * H + 300 + 150,
      labels: { 'job-name': `report-${sched}`, app: 'report' },
      ports: [],
      finished: true,
    });
  }
  return out;
}

export function services(): SvcSpec[] {
  return [
    {
      ns: 'default',
      name: 'kubernetes',
      ip: '10.96.0.1',
      ports: [{ name: 'https', port: 443, targetPort: 6443, protocol: 'TCP' }],
      selector: null,
      external: [{ ip: NODES['cp-1'], node: 'cp-1' }],
    },
    {
      ns: 'kube-system',
      name: 'kube-dns',
      ip: '10.96.0.10',
      ports: [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }],
      selector: { 'k8s-app': 'kube-dns' },
    },
    { ns: 'shop', name: 'api', ip: '10.96.10.1', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { app: 'api' } },
    { ns: 'shop', name: 'postgres', ip: '10.96.10.2', ports: [{ name: 'pg', port: 5432, targetPort: 5432, protocol: 'TCP' }], selector: { app: 'postgres' } },
    { ns: 'shop', name: 'redis', ip: '10.96.10.3', ports: [{ name: 'redis', port: 6379, targetPort: 6379, protocol: 'TCP' }], selector: { app: 'redis' } },
    { ns: 'shop', name: 'kafka', ip: '10.96.10.4', ports: [{ name: 'kafka', port: 9092, targetPort: 9092, protocol: 'TCP' }], selector: { app: 'kafka' } },
    { ns: 'payments', name: 'ledger', ip: '10.96.20.1', ports: [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP' }], selector: { app: 'ledger' } },
  ];
}

export class Cluster {
  readonly pods = pods();
  readonly services = services();
  private readonly byIp = new Map<string, PodSpec[]>();
  private readonly svcByIp = new Map<string, SvcSpec>();

  constructor() {
    for (const p of this.pods) {
      const l = this.byIp.get(p.ip) ?? [];
      l.push(p);
      this.byIp.set(p.ip, l);
    }
    for (const s of this.services) this.svcByIp.set(s.ip, s);
  }

  /** The pod holding `ip` at `t` (seconds after T0). */
  podAt(ip: string, t: number): PodSpec | undefined {
    return this.byIp.get(ip)?.find((p) => p.from <= t && (p.to === null || t < p.to));
  }

  service(ip: string): SvcSpec | undefined {
    return this.svcByIp.get(ip);
  }

  /** Live backends of a service at `t`. */
  backends(s: SvcSpec, t: number): { ip: string; pod?: PodSpec }[] {
    if (s.external) return s.external.map((e) => ({ ip: e.ip }));
    const sel = s.selector ?? {};
    return this.pods
      .filter((p) => p.ns === s.ns && p.from <= t && (p.to === null || t < p.to) && Object.entries(sel).every(([k, v]) => p.labels[k] === v))
      .map((p) => ({ ip: p.ip, pod: p }));
  }

  /** Pods of a workload alive at `t`. */
  live(ns: string, workload: string, t: number): PodSpec[] {
    return this.pods.filter((p) => p.ns === ns && p.workload === workload && p.from <= t && (p.to === null || t < p.to));
  }

  nodeOf(ip: string): NodeName | undefined {
    return (Object.keys(NODES) as NodeName[]).find((n) => NODES[n] === ip);
  }

  /** kubectl get nodes,namespaces,pods,services,endpointslices,networkpolicies -A -o json */
  inventory(): unknown {
    const iso = (t: number) => new Date((T0 + t) * 1000).toISOString().replace('.000Z', 'Z');
    const items: unknown[] = [];
    for (const [name, ip] of Object.entries(NODES)) {
      items.push({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name, labels: { 'kubernetes.io/hostname': name } },
        status: {
          addresses: [
            { type: 'InternalIP', address: ip },
            { type: 'Hostname', address: name },
          ],
        },
      });
    }
    for (const [ns, team] of [
      ['default', 'platform'],
      ['kube-system', 'platform'],
      ['shop', 'shop'],
      ['payments', 'payments'],
      ['monitoring', 'platform'],
      ['ops', 'platform'],
      ['batch', 'shop'],
    ]) {
      items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team, 'kubernetes.io/metadata.name': ns } } });
    }
    for (const p of this.pods) {
      const ownerKind = p.kind === 'Deployment' ? 'ReplicaSet' : p.kind === 'CronJob' ? 'Job' : 'StatefulSet';
      const metadata: Record<string, unknown> = {
        name: p.name,
        namespace: p.ns,
        uid: `uid-${p.ns}-${p.name}`,
        labels: p.labels,
        creationTimestamp: iso(p.from),
        ownerReferences: [{ apiVersion: 'apps/v1', kind: ownerKind, name: p.owner, uid: `uid-${p.owner}`, controller: true }],
      };
      const status: Record<string, unknown> = { phase: p.finished ? 'Succeeded' : 'Running', hostIP: NODES[p.node], podIP: p.ip, podIPs: [{ ip: p.ip }] };
      if (p.to !== null && !p.finished) metadata.deletionTimestamp = iso(p.to);
      if (p.finished && p.to !== null)
        status.containerStatuses = [{ name: 'main', state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: iso(p.to) } } }];
      items.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata,
        spec: {
          nodeName: p.node,
          containers: [
            {
              name: 'main',
              image: `example/${p.workload}:1`,
              ports: p.ports.map((x) => ({ name: x.name, containerPort: x.port, protocol: x.name === 'dns' ? 'UDP' : 'TCP' })),
            },
          ],
        },
        status,
      });
    }
    for (const s of this.services) {
      items.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: s.name, namespace: s.ns, uid: `uid-svc-${s.ns}-${s.name}`, creationTimestamp: iso(-40 * H) },
        spec: {
          type: 'ClusterIP',
          clusterIP: s.ip,
          clusterIPs: [s.ip],
          ports: s.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol })),
          selector: s.selector ?? undefined,
        },
      });
      const eps = s.external
        ? s.external.map((e) => ({ addresses: [e.ip], conditions: { ready: true }, nodeName: e.node }))
        : this.pods
            .filter((p) => p.ns === s.ns && Object.entries(s.selector ?? {}).every(([k, v]) => p.labels[k] === v))
            .map((p) => ({ addresses: [p.ip], conditions: { ready: true }, nodeName: p.node, targetRef: { kind: 'Pod', name: p.name, namespace: p.ns } }));
      items.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${s.name}-ev01`, namespace: s.ns, labels: { 'kubernetes.io/service-name': s.name } },
        addressType: 'IPv4',
        endpoints: eps,
        ports: s.ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: p.protocol })),
      });
    }
    items.push(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'default-deny-ingress', namespace: 'payments' },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'ledger-from-api', namespace: 'payments' },
        spec: {
          podSelector: { matchLabels: { app: 'ledger' } },
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [{ namespaceSelector: { matchLabels: { team: 'shop' } }, podSelector: { matchLabels: { app: 'api' } } }],
              ports: [{ protocol: 'TCP', port: 8080 }],
            },
          ],
        },
      },
    );
    return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items };
  }
}
