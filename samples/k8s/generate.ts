/**
 * Deterministic generator of the Kubernetes end-to-end sample: a small cluster's inventory
 * (kubectl get ... -A -o json shape, with its current NetworkPolicies), a capture of traffic
 * between its pods, services, nodes and the outside, and a proposed set of policies (YAML).
 *
 *   node dist/samples/k8s/generate.js [outdir]      (default: samples/k8s)
 *
 * Fixed seed and base time (2026-01-15T10:00:00Z): regenerating gives byte-identical files.
 * What each connection must resolve to is written out in test/k8s/e2e.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { httpRequest, httpResponse, dnsMessage, DnsType } from '../lib/packet-builder';
import { encodePcap } from '../lib/pcap-writer';
import { Rng, ethernetFramer, mergeByTime, tcpSession, udpFlow, type Conversation, type Pkt } from '../lib/session';

export const BASE_US = Date.UTC(2026, 0, 15, 10, 0, 0) * 1000;
const SEED = 0x0e6b;

const iso = (offsetSec: number): string => new Date(BASE_US / 1000 + offsetSec * 1000).toISOString().replace('.000Z', 'Z');
const mac = (ip: string): string => ['0a', '58', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');

export const IPS = {
  node1: '192.168.10.11',
  node2: '192.168.10.12',
  frontend: '10.244.1.10',
  api: '10.244.2.20',
  postgres: '10.244.2.30',
  coredns: '10.244.1.2',
  prometheus: '10.244.1.50',
  /** Held by the CronJob's pod until 10:00:50, then by a worker pod from 10:01:00. */
  reused: '10.244.1.40',
  apiSvc: '10.96.12.34',
  postgresSvc: '10.96.45.6',
  dnsSvc: '10.96.0.10',
  internet: '93.184.216.34',
  scanner: '203.0.113.9',
  corpNet: '10.250.3.3',
} as const;

type Json = Record<string, unknown>;

function pod(
  ns: string,
  name: string,
  o: {
    ip: string;
    node: string;
    labels: Record<string, string>;
    owner?: [string, string];
    created?: number;
    ports?: { name?: string; containerPort: number; protocol?: string }[];
    hostNetwork?: boolean;
    finished?: number;
  },
): Json {
  const metadata: Json = { name, namespace: ns, uid: `uid-${ns}-${name}`, labels: o.labels, creationTimestamp: iso(o.created ?? -3600) };
  if (o.owner)
    metadata.ownerReferences = [
      { apiVersion: 'apps/v1', kind: o.owner[0], name: o.owner[1], uid: `uid-${o.owner[1]}`, controller: true, blockOwnerDeletion: true },
    ];
  const status: Json = {
    phase: o.finished !== undefined ? 'Succeeded' : 'Running',
    hostIP: o.node === 'node-1' ? IPS.node1 : IPS.node2,
    podIP: o.ip,
    podIPs: [{ ip: o.ip }],
  };
  if (o.finished !== undefined)
    status.containerStatuses = [{ name: 'main', state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: iso(o.finished) } } }];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: { nodeName: o.node, hostNetwork: o.hostNetwork || undefined, containers: [{ name: 'main', image: `example/${name}`, ports: o.ports }] },
    status,
  };
}

function service(ns: string, name: string, ip: string, ports: Json[], selector: Record<string, string>): Json {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, uid: `uid-svc-${name}`, creationTimestamp: iso(-86400) },
    spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ports, selector },
  };
}

function slice(ns: string, svc: string, endpoints: { ip: string; pod: string; node: string }[], ports: Json[]): Json {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-x1y2z`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: true },
      nodeName: e.node,
      targetRef: { kind: 'Pod', name: e.pod, namespace: ns },
    })),
    ports,
  };
}

function node(name: string, ip: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: {
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

function policy(ns: string, name: string, spec: Json): Json {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec };
}

/** The policies in force: shop denies ingress by default; postgres only takes its own namespace and shop's api. */
export function currentPolicies(): Json[] {
  return [
    policy('shop', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
    policy('shop', 'api-allow', {
      podSelector: { matchLabels: { app: 'api' } },
      ingress: [
        {
          from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['frontend', 'worker'] }] } }],
          ports: [{ protocol: 'TCP', port: 'http' }],
        },
      ],
    }),
    policy('shop', 'frontend-allow-web', {
      podSelector: { matchLabels: { app: 'frontend' } },
      ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['203.0.113.0/24'] } }], ports: [{ port: 8080 }] }],
    }),
    policy('data', 'postgres-allow', {
      podSelector: { matchLabels: { app: 'postgres' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: { team: 'shop' } }, podSelector: { matchLabels: { app: 'api' } } }, { podSelector: {} }],
          ports: [{ protocol: 'TCP', port: 'pg' }],
        },
      ],
    }),
  ];
}

export function inventory(): Json {
  const items: Json[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'shop' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'data', labels: { team: 'data' } } },
    node('node-1', IPS.node1),
    node('node-2', IPS.node2),
    // The api's ReplicaSet is in the inventory; the frontend's is not (named from the pod-template-hash convention).
    {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'api-5c8d7b9f4', namespace: 'shop', ownerReferences: [{ kind: 'Deployment', name: 'api', controller: true }] },
    },
    pod('shop', 'frontend-7d9f8b6c5d-abcde', {
      ip: IPS.frontend,
      node: 'node-1',
      labels: { app: 'frontend', 'pod-template-hash': '7d9f8b6c5d' },
      owner: ['ReplicaSet', 'frontend-7d9f8b6c5d'],
      ports: [{ name: 'web', containerPort: 8080 }],
    }),
    pod('shop', 'api-5c8d7b9f4-xk2lp', {
      ip: IPS.api,
      node: 'node-2',
      labels: { app: 'api', 'pod-template-hash': '5c8d7b9f4' },
      owner: ['ReplicaSet', 'api-5c8d7b9f4'],
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'metrics', containerPort: 9090 },
      ],
    }),
    pod('data', 'postgres-0', {
      ip: IPS.postgres,
      node: 'node-2',
      labels: { app: 'postgres' },
      owner: ['StatefulSet', 'postgres'],
      ports: [{ name: 'pg', containerPort: 5432 }],
    }),
    pod('kube-system', 'coredns-6f6b679f8f-q8r2t', {
      ip: IPS.coredns,
      node: 'node-1',
      labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '6f6b679f8f' },
      owner: ['ReplicaSet', 'coredns-6f6b679f8f'],
      ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }],
    }),
    pod('monitoring', 'prometheus-0', { ip: IPS.prometheus, node: 'node-1', labels: { app: 'prometheus' }, owner: ['StatefulSet', 'prometheus'] }),
    pod('monitoring', 'node-exporter-7xk9p', {
      ip: IPS.node2,
      node: 'node-2',
      hostNetwork: true,
      labels: { app: 'node-exporter' },
      owner: ['DaemonSet', 'node-exporter'],
      ports: [{ name: 'metrics', containerPort: 9100 }],
    }),
    // IP reuse: the CronJob's pod releases 10.244.1.40 at 10:00:50; a worker pod gets it at 10:01:00.
    pod('data', 'report-29474400-7bq2m', {
      ip: IPS.reused,
      node: 'node-1',
      labels: { app: 'report' },
      owner: ['Job', 'report-29474400'],
      created: 30,
      finished: 50,
    }),
    pod('shop', 'worker-5b7d9c8f6-mn8pq', {
      ip: IPS.reused,
      node: 'node-1',
      labels: { app: 'worker' },
      owner: ['ReplicaSet', 'worker-5b7d9c8f6'],
      created: 60,
    }),
    service('shop', 'api', IPS.apiSvc, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }], { app: 'api' }),
    service('data', 'postgres', IPS.postgresSvc, [{ name: 'pg', port: 5432, targetPort: 5432, protocol: 'TCP' }], { app: 'postgres' }),
    service('kube-system', 'kube-dns', IPS.dnsSvc, [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }], { 'k8s-app': 'kube-dns' }),
    slice('shop', 'api', [{ ip: IPS.api, pod: 'api-5c8d7b9f4-xk2lp', node: 'node-2' }], [{ name: 'http', port: 8080, protocol: 'TCP' }]),
    slice('data', 'postgres', [{ ip: IPS.postgres, pod: 'postgres-0', node: 'node-2' }], [{ name: 'pg', port: 5432, protocol: 'TCP' }]),
    slice('kube-system', 'kube-dns', [{ ip: IPS.coredns, pod: 'coredns-6f6b679f8f-q8r2t', node: 'node-1' }], [{ name: 'dns', port: 53, protocol: 'UDP' }]),
    ...currentPolicies(),
  ];
  return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items };
}

/** The proposal: shop also denies egress by default, allowing DNS, and frontend -> api on 8080-8090. */
export const PROPOSED_YAML = `# Proposed: default-deny egress in shop, with DNS and the frontend's calls to the api allowed.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-egress
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-dns
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: kube-system
          podSelector:
            matchLabels:
              k8s-app: kube-dns
      ports:
        - protocol: UDP
          port: 53
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: frontend-egress
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: frontend
  egress:
    - to:
        - podSelector:
            matchLabels:
              app: api
      ports:
        - protocol: TCP
          port: 8080
          endPort: 8090
`;

/** The connections in the capture, in time order: [label, client ip, server ip, server port, start offset (s), udp?]. */
export const CONNECTIONS: ReadonlyArray<readonly [string, string, string, number, number, boolean]> = [
  ['frontend -> api service', IPS.frontend, IPS.apiSvc, 8080, 1, false],
  ['api -> postgres service', IPS.api, IPS.postgresSvc, 5432, 2, false],
  ['frontend -> postgres pod directly', IPS.frontend, IPS.postgres, 5432, 3, false],
  ['frontend -> kube-dns', IPS.frontend, IPS.dnsSvc, 53, 4, true],
  ['prometheus -> node-exporter (hostNetwork)', IPS.prometheus, IPS.node2, 9100, 5, false],
  ['kubelet probe node-1 -> frontend', IPS.node1, IPS.frontend, 8080, 6, false],
  ['frontend -> internet', IPS.frontend, IPS.internet, 443, 7, false],
  ['scanner -> frontend', IPS.scanner, IPS.frontend, 8080, 8, false],
  ['api -> itself', IPS.api, IPS.api, 8080, 9, false],
  ['frontend -> corporate network', IPS.frontend, IPS.corpNet, 8080, 10, false],
  ['frontend -> api metrics port', IPS.frontend, IPS.api, 9090, 11, false],
  ['report job -> postgres pod (10.244.1.40 as the CronJob pod)', IPS.reused, IPS.postgres, 5432, 40, false],
  ['worker -> api pod (10.244.1.40 reused by the worker)', IPS.reused, IPS.api, 8080, 70, false],
];

export function capture(): Buffer {
  const rng = new Rng(SEED);
  const convs: Conversation[] = [];
  for (const [, c, s, port, off, isUdp] of CONNECTIONS) {
    const client = { mac: mac(c), ip: c, port: rng.ephemeralPort() };
    const server = { mac: mac(s), ip: s, port };
    const startUs = BASE_US + off * 1_000_000;
    const framer = ethernetFramer(client.mac, server.mac);
    if (isUdp) {
      const q = dnsMessage({ id: rng.int(0, 0xffff), response: false, rd: true, questions: [{ name: 'api.shop.svc.cluster.local', type: DnsType.A }] });
      const r = dnsMessage({
        id: q.readUInt16BE(0),
        response: true,
        aa: true,
        rd: true,
        ra: true,
        questions: [{ name: 'api.shop.svc.cluster.local', type: DnsType.A }],
        answers: [{ name: 'api.shop.svc.cluster.local', type: DnsType.A, ttl: 30, data: IPS.apiSvc }],
      });
      convs.push({
        startUs,
        packets: udpFlow({
          client,
          server,
          startUs,
          rttUs: 300,
          messages: [
            { from: 'client', data: q },
            { from: 'server', data: r },
          ],
          framer,
          rng,
        }),
      });
    } else {
      const req = httpRequest('GET', '/healthz', `${s}:${port}`);
      const res = httpResponse(200, 'OK', [['Content-Type', 'text/plain']], Buffer.from('ok'));
      convs.push({
        startUs,
        packets: tcpSession({
          client,
          server,
          startUs,
          rttUs: 400,
          messages: [
            { from: 'client', data: req },
            { from: 'server', data: res },
          ],
          framer,
          rng,
        }),
      });
    }
  }
  const pkts: Pkt[] = [...mergeByTime(convs[Symbol.iterator]())];
  return encodePcap(pkts);
}

export function generate(outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const files: [string, Buffer | string][] = [
    ['cluster.pcap', capture()],
    ['inventory.json', `${JSON.stringify(inventory(), null, 2)}\n`],
    ['policies-proposed.yaml', PROPOSED_YAML],
  ];
  for (const [name, data] of files) fs.writeFileSync(path.join(outDir, name), data);
  return files.map((f) => path.join(outDir, f[0]));
}

if (require.main === module) {
  for (const f of generate(path.resolve(process.argv[2] ?? 'samples/k8s'))) console.log(f);
}
