/**
 * Inventory import and address resolution: validation errors naming item and field, reused pod
 * IPs resolved by time, ownerReferences chains, services and their endpoints, nodes, hostNetwork
 * pods, and unresolved addresses split by the local networks.
 */
import { strict as assert } from 'node:assert';
import type { ConnRecord } from '../../parsers/record/conn';
import { InventoryStore } from '../../src/k8s/inventory';
import { parseK8sText } from '../../src/k8s/load';
import { K8sResolver } from '../../src/k8s/resolver';
import { InventoryError } from '../../src/k8s/schema';

const T0 = Date.UTC(2026, 0, 15, 10, 0, 0) / 1000;
const iso = (s: number): string => new Date((T0 + s) * 1000).toISOString();

function pod(
  ns: string,
  name: string,
  ip: string,
  o: {
    created?: number;
    deleted?: number;
    labels?: Record<string, string>;
    owner?: [string, string];
    node?: string;
    hostNetwork?: boolean;
    ports?: { name?: string; containerPort: number; protocol?: string }[];
    phase?: string;
    finished?: number;
  } = {},
): object {
  return {
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      uid: `u-${ns}-${name}-${o.created ?? 0}`,
      labels: o.labels ?? {},
      creationTimestamp: iso(o.created ?? -3600),
      ...(o.deleted !== undefined ? { deletionTimestamp: iso(o.deleted) } : {}),
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner[0], name: o.owner[1], uid: 'x', controller: true }] } : {}),
    },
    spec: { nodeName: o.node ?? 'n1', hostNetwork: o.hostNetwork, containers: [{ name: 'c', ports: o.ports }] },
    status: {
      phase: o.phase ?? 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      ...(o.finished !== undefined ? { containerStatuses: [{ state: { terminated: { finishedAt: iso(o.finished) } } }] } : {}),
    },
  };
}

const list = (...items: object[]) => ({ apiVersion: 'v1', kind: 'List', items });

function conn(orig: string, resp: string, port: number, at: number, proto: 'tcp' | 'udp' = 'tcp'): ConnRecord {
  return {
    ts: T0 + at,
    uid: 'C1',
    orig_h: orig,
    orig_p: 40000,
    resp_h: resp,
    resp_p: port,
    proto,
    ip_proto: proto === 'tcp' ? 6 : 17,
    service: [],
    duration: 1,
    orig_bytes: 0,
    resp_bytes: 0,
    conn_state: 'SF',
    local_orig: true,
    local_resp: true,
    missed_bytes: 0,
    history: 'ShADdFf',
    orig_pkts: 1,
    orig_ip_bytes: 40,
    resp_pkts: 1,
    resp_ip_bytes: 40,
    tunnel_parents: [],
    community_id: '1:x',
    vlan: null,
    inner_vlan: null,
    orig_l2_addr: null,
    resp_l2_addr: null,
    tunnel_type: null,
    tunnel_id: null,
    interim: false,
  };
}

describe('k8s: inventory import', () => {
  it('reads a v1 List, a single object and several YAML documents; counts kinds it does not use', () => {
    const s = new InventoryStore();
    s.addDocument(list(pod('a', 'p1', '10.244.0.5'), { kind: 'ConfigMap', metadata: { name: 'x', namespace: 'a' } }));
    s.addDocument(pod('a', 'p2', '10.244.0.6'));
    s.addDocument(
      parseK8sText(
        `kind: Node\nmetadata:\n  name: n9\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.1.9\n---\nkind: Namespace\nmetadata:\n  name: b\n  labels: {team: x}\n`,
        'm.yaml',
      ),
    );
    assert.deepEqual(s.size, { pods: 2, services: 0, endpointSlices: 0, nodes: 1, namespaces: 2, networkPolicies: 0 });
    assert.deepEqual(s.ignored, { ConfigMap: 1 });
    assert.equal(s.nodeByIp('192.168.1.9')?.name, 'n9');
    // kubernetes.io/metadata.name is added, for Namespace objects and for namespaces only seen on pods.
    assert.deepEqual(s.namespaceLabels('b'), { team: 'x', 'kubernetes.io/metadata.name': 'b' });
    assert.deepEqual(s.namespaceLabels('a'), { 'kubernetes.io/metadata.name': 'a' });
  });

  it('reports the item index and the field of an invalid item', () => {
    const s = new InventoryStore();
    const bad = list(pod('a', 'ok', '10.0.0.1'), { kind: 'Service', metadata: { name: 's', namespace: 'a' }, spec: { ports: [{ port: 70000 }] } });
    assert.throws(
      () => s.addDocument(bad, 'inv.json'),
      (e: unknown) => {
        assert.ok(e instanceof InventoryError);
        assert.equal(e.itemIndex, 1);
        assert.equal(e.field, 'spec.ports[0].port');
        assert.match(e.message, /^inv\.json: items\[1\] \(Service a\/s\): spec\.ports\[0\]\.port: /);
        return true;
      },
    );
    assert.throws(() => s.addDocument(list({ kind: 'Pod', metadata: { name: 'p' } })), /items\[0\] \(Pod p\): metadata\.namespace: Required/);
    assert.throws(
      () => s.addDocument(list({ kind: 'Pod', metadata: { name: 'p', namespace: 'a', creationTimestamp: 'yesterday' } })),
      /metadata\.creationTimestamp: not an RFC 3339 time/,
    );
    assert.throws(() => s.addDocument({ items: [] }), /kind: expected a string/);
    assert.throws(() => parseK8sText('{"kind": ', 'broken.json'), /broken\.json: not valid JSON/);
  });
});

describe('k8s: address resolution', () => {
  it('a reused pod IP resolves to the pod that held it at the connection time', () => {
    const s = new InventoryStore();
    s.addDocument(
      list(
        pod('batch', 'job-a', '10.244.1.40', { created: 30, phase: 'Succeeded', finished: 50 }),
        pod('shop', 'worker-b', '10.244.1.40', { created: 60 }),
        pod('shop', 'old-c', '10.244.1.41', { created: -600, deleted: 100 }),
        pod('shop', 'new-d', '10.244.1.41', { created: 200 }),
      ),
    );
    const at = (ip: string, t: number) => s.podAt(ip, T0 + t)?.name;
    assert.equal(at('10.244.1.40', 20), undefined, 'before the first pod was created');
    assert.equal(at('10.244.1.40', 40), 'job-a');
    assert.equal(at('10.244.1.40', 55), undefined, 'after the job finished, before the worker');
    assert.equal(at('10.244.1.40', 61), 'worker-b');
    assert.equal(at('10.244.1.41', 99), 'old-c');
    assert.equal(at('10.244.1.41', 150), undefined, 'deleted, not yet reused');
    assert.equal(at('10.244.1.41', 250), 'new-d');
  });

  it('a later owner ends an earlier open-ended one; merged snapshots use first/last seen', () => {
    const s = new InventoryStore();
    // No creation times in the first snapshot: validity starts when it was observed.
    const noTime = (name: string, ip: string) => ({ kind: 'Pod', metadata: { name, namespace: 'x', uid: `u-${name}` }, status: { podIP: ip } });
    s.addDocument(list(noTime('p1', '10.9.0.1'), noTime('p2', '10.9.0.2')), 'snap1', { observedAt: T0 });
    s.addDocument(list(noTime('p1', '10.9.0.1'), noTime('p3', '10.9.0.2')), 'snap2', { observedAt: T0 + 600 });
    assert.equal(s.podAt('10.9.0.1', T0 - 1), undefined);
    assert.equal(s.podAt('10.9.0.1', T0 + 1000)?.name, 'p1');
    assert.equal(s.podAt('10.9.0.2', T0 + 300)?.name, 'p2');
    // p2 vanished by the second snapshot, whose p3 holds the address from then on.
    assert.equal(s.podAt('10.9.0.2', T0 + 700)?.name, 'p3');
    assert.equal(s.allPods().find((p) => p.name === 'p2')?.to, T0 + 600);
  });

  it('follows ownerReferences to the workload', () => {
    const s = new InventoryStore();
    s.addDocument(
      list(
        { kind: 'ReplicaSet', metadata: { name: 'api-rs1', namespace: 'n', ownerReferences: [{ kind: 'Deployment', name: 'api', controller: true }] } },
        { kind: 'Job', metadata: { name: 'nightly-manual', namespace: 'n', ownerReferences: [{ kind: 'CronJob', name: 'nightly', controller: true }] } },
        pod('n', 'api-rs1-abcde', '10.1.0.1', { owner: ['ReplicaSet', 'api-rs1'] }),
        pod('n', 'web-7d9f8b6c5d-x', '10.1.0.2', { owner: ['ReplicaSet', 'web-7d9f8b6c5d'], labels: { 'pod-template-hash': '7d9f8b6c5d' } }),
        pod('n', 'cache-5b7d9c8f6-y', '10.1.0.3', { owner: ['ReplicaSet', 'cache-5b7d9c8f6'] }),
        pod('n', 'odd-z', '10.1.0.4', { owner: ['ReplicaSet', 'handmade'] }),
        pod('n', 'nightly-manual-q', '10.1.0.5', { owner: ['Job', 'nightly-manual'] }),
        pod('n', 'report-29474400-k', '10.1.0.6', { owner: ['Job', 'report-29474400'] }),
        pod('n', 'oneoff-k', '10.1.0.7', { owner: ['Job', 'oneoff'] }),
        pod('n', 'db-0', '10.1.0.8', { owner: ['StatefulSet', 'db'] }),
        pod('n', 'agent-x1', '10.1.0.9', { owner: ['DaemonSet', 'agent'] }),
        pod('n', 'bare', '10.1.0.10'),
      ),
    );
    const wl = (ip: string) => {
      const p = s.podAt(ip, T0);
      return `${p?.workloadKind}/${p?.workload}`;
    };
    assert.equal(wl('10.1.0.1'), 'Deployment/api', 'ReplicaSet in the inventory');
    assert.equal(wl('10.1.0.2'), 'Deployment/web', 'pod-template-hash label');
    assert.equal(wl('10.1.0.3'), 'Deployment/cache', 'ReplicaSet name convention');
    assert.equal(wl('10.1.0.4'), 'ReplicaSet/handmade');
    assert.equal(wl('10.1.0.5'), 'CronJob/nightly', 'Job in the inventory');
    assert.equal(wl('10.1.0.6'), 'CronJob/report', 'Job name convention');
    assert.equal(wl('10.1.0.7'), 'Job/oneoff');
    assert.equal(wl('10.1.0.8'), 'StatefulSet/db');
    assert.equal(wl('10.1.0.9'), 'DaemonSet/agent');
    assert.equal(wl('10.1.0.10'), 'Pod/bare');
  });

  it('resolves services, endpoint addresses, nodes, hostNetwork pods and unknown addresses', () => {
    const s = new InventoryStore();
    s.addDocument(
      list(
        { kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.10.11' }] } },
        { kind: 'Node', metadata: { name: 'n2' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.10.12' }] } },
        pod('app', 'client', '10.244.1.10', { node: 'n1', owner: ['StatefulSet', 'client'] }),
        pod('app', 'api-0', '10.244.2.20', { node: 'n2', owner: ['StatefulSet', 'api'], ports: [{ name: 'http', containerPort: 8080 }] }),
        pod('mon', 'exporter-x', '192.168.10.12', { node: 'n2', hostNetwork: true, owner: ['DaemonSet', 'exporter'], ports: [{ containerPort: 9100 }] }),
        {
          kind: 'Service',
          metadata: { name: 'api', namespace: 'app', creationTimestamp: iso(-86400) },
          spec: { clusterIP: '10.96.12.34', ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
        },
        { kind: 'Service', metadata: { name: 'legacy', namespace: 'app' }, spec: { clusterIP: '10.96.0.99', ports: [{ port: 5432 }] } },
        {
          kind: 'EndpointSlice',
          metadata: { name: 'api-1', namespace: 'app', labels: { 'kubernetes.io/service-name': 'api' } },
          endpoints: [{ addresses: ['10.244.2.20'], targetRef: { kind: 'Pod', name: 'api-0' } }],
          ports: [{ name: 'http', port: 8080 }],
        },
        {
          kind: 'EndpointSlice',
          metadata: { name: 'legacy-1', namespace: 'app', labels: { 'kubernetes.io/service-name': 'legacy' } },
          endpoints: [{ addresses: ['172.20.4.17'] }],
          ports: [{ port: 5432 }],
        },
      ),
    );
    const r = new K8sResolver(s, { localNets: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'], policies: null });
    const d = (o: string, rsp: string, port: number) => r.describe(conn(o, rsp, port, 5));

    let k = d('10.244.1.10', '10.96.12.34', 80);
    assert.deepEqual(k.resp, { kind: 'service', namespace: 'app', service: 'api' });
    assert.deepEqual([k.scope, k.direction, k.orig.pod, k.orig.workload, k.orig.node], ['pod-to-service', 'internal', 'client', 'client', 'n1']);
    assert.equal(k.policy, undefined, 'policies off');

    k = d('10.244.1.10', '10.244.2.20', 8080);
    assert.deepEqual([k.scope, k.resp.pod, k.resp.service, k.resp.node], ['same-namespace', 'api-0', 'api', 'n2']);
    k = d('10.244.1.10', '10.244.2.20', 9999);
    assert.equal(k.resp.service, undefined, 'not an endpoint port of the service');

    k = d('10.244.1.10', '192.168.10.12', 9100);
    assert.deepEqual(k.resp, {
      kind: 'pod',
      namespace: 'mon',
      pod: 'exporter-x',
      workload: 'exporter',
      workload_kind: 'DaemonSet',
      labels: {},
      node: 'n2',
      host_network: true,
    });
    assert.equal(k.scope, 'pod-to-node');
    k = d('10.244.1.10', '192.168.10.12', 22);
    assert.deepEqual([k.resp.kind, k.resp.node, k.scope], ['node', 'n2', 'pod-to-node']);
    k = d('192.168.10.11', '10.244.2.20', 8080);
    assert.deepEqual([k.orig.kind, k.orig.node, k.scope], ['node', 'n1', 'node-to-pod']);
    k = d('192.168.10.11', '192.168.10.12', 10250);
    assert.equal(k.scope, 'node-to-node');

    k = d('10.244.1.10', '172.20.4.17', 5432);
    assert.deepEqual([k.resp.kind, k.resp.service, k.scope, k.direction], ['endpoint', 'legacy', 'pod-to-external', 'internal']);
    k = d('10.244.1.10', '10.250.3.3', 443);
    assert.deepEqual([k.resp.kind, k.scope, k.direction], ['internal', 'pod-to-external', 'internal']);
    k = d('10.244.1.10', '93.184.216.34', 443);
    assert.deepEqual([k.resp.kind, k.scope, k.direction], ['external', 'pod-to-external', 'outbound']);
    k = d('203.0.113.9', '10.244.2.20', 8080);
    assert.deepEqual([k.scope, k.direction], ['external-to-pod', 'inbound']);
    k = d('203.0.113.9', '10.96.12.34', 80);
    assert.equal(k.scope, 'external-to-service');
    k = d('203.0.113.9', '198.51.100.1', 80);
    assert.deepEqual([k.scope, k.direction], ['other', 'external']);
    k = d('10.244.2.20', '10.244.2.20', 8080);
    assert.equal(k.scope, 'same-pod');
    // Before the service existed its ClusterIP is nobody's.
    assert.equal(r.describe(conn('10.244.1.10', '10.96.12.34', 80, -90000)).resp.kind, 'internal');
  });
});

describe('k8s: policy verdicts on records', () => {
  it('a service destination is judged at its backends, on the target port; backends that disagree give mixed', () => {
    const s = new InventoryStore();
    s.addDocument(
      list(
        pod('app', 'client', '10.244.1.10', { labels: { app: 'client' } }),
        pod('app', 'api-a', '10.244.2.21', { labels: { app: 'api', track: 'stable' }, ports: [{ name: 'http', containerPort: 8080 }] }),
        pod('app', 'api-b', '10.244.2.22', { labels: { app: 'api', track: 'canary' }, ports: [{ name: 'http', containerPort: 8081 }] }),
        {
          kind: 'Service',
          metadata: { name: 'api', namespace: 'app' },
          spec: { clusterIP: '10.96.1.1', ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
        },
        {
          kind: 'EndpointSlice',
          metadata: { name: 'api-1', namespace: 'app', labels: { 'kubernetes.io/service-name': 'api' } },
          endpoints: [
            { addresses: ['10.244.2.21'], targetRef: { kind: 'Pod', name: 'api-a' } },
            { addresses: ['10.244.2.22'], targetRef: { kind: 'Pod', name: 'api-b' } },
          ],
        },
        {
          kind: 'NetworkPolicy',
          metadata: { name: 'api-in', namespace: 'app' },
          spec: {
            podSelector: { matchLabels: { app: 'api' } },
            ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }],
          },
        },
      ),
    );
    const r = new K8sResolver(s);
    // The slice has no ports: the named targetPort is resolved on each backend pod (8080 on api-a, 8081 on api-b).
    const v = r.describe(conn('10.244.1.10', '10.96.1.1', 80, 0)).policy;
    assert.deepEqual(v, { verdict: 'mixed', egress: 'not-isolated', ingress: 'mixed', denied_by: ['app/api-in'], allowed_by: ['app/api-in'] });
    // Straight to the stable pod on 8080: allowed; to the ClusterIP on a port the service does not have: judged on that port.
    assert.equal(r.describe(conn('10.244.1.10', '10.244.2.21', 8080, 0)).policy?.verdict, 'allowed');
    assert.equal(r.describe(conn('10.244.1.10', '10.244.2.22', 8081, 0)).policy?.verdict, 'denied');
    assert.equal(r.describe(conn('10.244.1.10', '10.96.1.1', 8080, 0)).policy?.verdict, 'allowed');
  });
});
