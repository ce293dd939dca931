/**
 * What an inventory arriving after its records can change: the snapshot's time range, and a stored
 * record's identity recomputed (a capture's replaced, a Hubble flow's own identity kept).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InventoryStore } from '../../src/k8s/inventory';
import { K8sResolver } from '../../src/k8s/resolver';
import { reidentify, snapshotRange } from '../../src/k8s/reresolve';
import { mergeIdentity } from '../../src/k8s/merge';
import { fromEcs, toEcs } from '../../src/store/ecs';
import type { ConnK8s } from '../../parsers/record/k8s';
import type { ConnRecord } from '../../parsers/record/conn';

const REPO = [2, 3].map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..'))).find((d) => fs.existsSync(path.join(d, 'package.json'))) as string;
const text = fs.readFileSync(path.join(REPO, 'samples/k8s/inventory.json'), 'utf8');
type Item = { kind: string; metadata: { creationTimestamp?: string } };
const doc = JSON.parse(text) as { items: Item[] };
const without = (pred: (o: Item) => boolean): string => JSON.stringify({ ...doc, items: doc.items.filter((o) => !pred(o)) });

describe('k8s: re-resolution after a late inventory', () => {
  it('a snapshot with NetworkPolicies can change every record of its cluster', () => {
    assert.deepEqual(snapshotRange(text, 't', null), { from: null, to: null });
  });

  it('without policies, from the earliest start of its pods and services on', () => {
    // The sample's endpoint slices carry no creationTimestamp: since ever, unless the snapshot says when it was observed.
    const noPolicies = without((o) => o.kind === 'NetworkPolicy');
    assert.deepEqual(snapshotRange(noPolicies, 't', null), { from: null, to: null });
    const observed = Date.parse('2026-01-20T00:00:00Z') / 1000;
    assert.deepEqual(snapshotRange(noPolicies, 't', observed), { from: Date.parse('2026-01-14T10:00:00Z') / 1000, to: null });
    const podsOnly = without((o) => o.kind !== 'Pod');
    assert.deepEqual(snapshotRange(podsOnly, 't', null), { from: Date.parse('2026-01-15T09:00:00Z') / 1000, to: null });
    assert.deepEqual(
      snapshotRange(
        without((o) => o.kind === 'Pod' || o.kind === 'Service' || o.kind === 'EndpointSlice' || o.kind === 'NetworkPolicy'),
        't',
        observed,
      ),
      {
        from: observed,
        to: null,
      },
    );
  });

  it("replaces a capture record's identity, keeps a Hubble flow's own", () => {
    const store = new InventoryStore();
    store.addDocument(JSON.parse(text), 'sample');
    const resolver = new K8sResolver(store, { policies: 'inventory' });
    const base: ConnRecord = { ...recordAt('10.244.1.10', '10.244.2.20'), uid: 'Cx' };
    const stale = { orig: { kind: 'internal' as const }, resp: { kind: 'internal' as const }, direction: 'internal' as const, scope: 'other' as const };
    const capture = reidentify({ ...base, capture: 'a'.repeat(64), k8s: stale }, resolver);
    assert.equal(capture.orig.workload, 'frontend');
    assert.equal(capture.resp.workload, 'api');
    assert.ok(capture.policy && capture.policy.dataplane_verdict === undefined, 'evaluated from the NetworkPolicies');
    const hubble = reidentify(
      {
        ...base,
        k8s: {
          orig: { kind: 'pod', namespace: 'cilium-says', pod: 'p' },
          resp: { kind: 'internal' },
          direction: 'internal',
          scope: 'other',
          policy: { verdict: 'denied', egress: 'denied', ingress: 'not-applicable', denied_by: [], allowed_by: [], dataplane_verdict: 'DROPPED' },
        },
      },
      resolver,
    );
    assert.equal(hubble.orig.namespace, 'cilium-says', "the flow's own fields win");
    assert.equal(hubble.resp.workload, 'api', 'the inventory fills what it lacked');
    assert.equal(hubble.policy?.dataplane_verdict, 'DROPPED');
  });
  it("replaces only the inventory's part of a Hubble record merged with an older inventory", () => {
    const resolverOf = (t: string): K8sResolver => {
      const store = new InventoryStore();
      store.addDocument(JSON.parse(t), 'sample');
      return new K8sResolver(store, { policies: 'inventory' });
    };
    // The newer inventory: api's pod moved to node-7 and lost its pod-template-hash label for tier=backend.
    const newer = JSON.parse(text) as { items: { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: { nodeName?: string } }[] };
    const pod = newer.items.find((o) => o.kind === 'Pod' && o.metadata.name === 'api-5c8d7b9f4-xk2lp');
    assert.ok(pod?.spec && pod.metadata.labels);
    pod.spec.nodeName = 'node-7';
    pod.metadata.labels = { app: 'api', tier: 'backend' };
    const r: ConnRecord = { ...recordAt('10.244.1.10', '10.244.2.20'), uid: 'Hx' };
    // Cilium's view: the destination pod with one label of its own, the source only an address.
    const hubble: ConnK8s = {
      orig: { kind: 'internal' },
      resp: { kind: 'pod', namespace: 'shop', pod: 'api-5c8d7b9f4-xk2lp', labels: { app: 'api-from-cilium' } },
      direction: 'internal',
      scope: 'other',
      policy: { verdict: 'denied', egress: 'not-isolated', ingress: 'denied', denied_by: [], allowed_by: [], dataplane_verdict: 'DROPPED' },
    };
    // At ingestion, with the older inventory (as the flow job merges), then stored and read back.
    const ingested = mergeIdentity(hubble, resolverOf(text).describe(r, null));
    assert.equal(ingested.resp.node, 'node-2');
    assert.deepEqual(ingested.resp.labels, { app: 'api-from-cilium', 'pod-template-hash': '5c8d7b9f4' });
    assert.deepEqual(ingested.resp.from_flow, ['kind', 'namespace', 'pod', 'labels.app']);
    assert.deepEqual(ingested.orig.from_flow, [], 'the source was all the inventory');
    const stored = fromEcs(toEcs({ ...r, k8s: ingested })).k8s as ConnK8s;
    assert.deepEqual(stored, ingested, 'the marker survives the store');

    const again = reidentify({ ...r, k8s: stored }, resolverOf(JSON.stringify(newer)));
    assert.equal(again.resp.node, 'node-7', "the older inventory's node replaced");
    assert.deepEqual(again.resp.labels, { app: 'api-from-cilium', tier: 'backend' }, "the flow's label kept, the older inventory's gone");
    assert.equal(again.resp.workload_kind, 'Deployment');
    assert.equal(again.resp.pod, 'api-5c8d7b9f4-xk2lp');
    assert.deepEqual(again.resp.from_flow, ['kind', 'namespace', 'pod', 'labels.app'], 'still what the flow gave');
    assert.equal(again.orig.workload, 'frontend');
    assert.equal(again.policy?.dataplane_verdict, 'DROPPED');
    // Resolving again against the same inventory changes nothing.
    assert.deepEqual(reidentify({ ...r, k8s: again }, resolverOf(JSON.stringify(newer))), again);
    // A record stored without the marker cannot tell: all of it is kept as the flow's.
    const { from_flow: _o, ...origOld } = stored.orig;
    const { from_flow: _r, ...respOld } = stored.resp;
    const old = reidentify({ ...r, k8s: { ...stored, orig: origOld, resp: respOld } }, resolverOf(JSON.stringify(newer)));
    assert.equal(old.resp.node, 'node-2');
  });

  it('decides the verdict by the source the record says it came from', () => {
    const store = new InventoryStore();
    store.addDocument(JSON.parse(text), 'sample');
    const resolver = new K8sResolver(store, { policies: 'inventory' });
    const base = recordAt('10.244.1.10', '10.244.2.20');
    const stale = { orig: { kind: 'internal' as const }, resp: { kind: 'internal' as const }, direction: 'internal' as const, scope: 'other' as const };
    // Sources whose records get a verdict at ingestion get the what-if now, and the identities.
    for (const source of ['capture', 'agent', 'ndjson', 'zeek'] as const) {
      const k = reidentify({ ...base, source, k8s: stale }, resolver);
      assert.equal(k.orig.workload, 'frontend', source);
      assert.equal(k.resp.workload, 'api', source);
      assert.ok(k.policy && k.policy.dataplane_verdict === undefined && k.policy.verdict !== undefined, `${source}: evaluated from the NetworkPolicies`);
    }
    // VPC, NetFlow and IPFIX: identity only, even where the stored record (wrongly) carried a verdict.
    const evaluated = reidentify({ ...base, source: 'capture' }, resolver).policy;
    assert.ok(evaluated);
    for (const source of ['aws-vpc', 'netflow', 'ipfix'] as const) {
      const k = reidentify({ ...base, source, k8s: { ...stale, policy: evaluated } }, resolver);
      assert.equal(k.orig.workload, 'frontend', source);
      assert.equal(k.resp.workload, 'api', source);
      assert.equal(k.policy, undefined, `${source}: no verdict`);
    }
    // Hubble: Cilium's own identity and verdict kept, the inventory fills the rest, never the what-if.
    const cilium = {
      orig: { kind: 'pod' as const, namespace: 'cilium-says', pod: 'p' },
      resp: { kind: 'internal' as const },
      direction: 'internal' as const,
      scope: 'other' as const,
    };
    const own = reidentify({ ...base, source: 'hubble', k8s: cilium }, resolver);
    assert.equal(own.orig.namespace, 'cilium-says');
    assert.equal(own.resp.workload, 'api');
    assert.equal(own.policy, undefined, 'a Hubble flow without a dataplane verdict gets no what-if verdict');
    // Records stored before the source was recorded keep the old rule: a stored evaluated verdict is evaluated again.
    assert.ok(reidentify({ ...base, k8s: { ...stale, policy: evaluated } }, resolver).policy?.verdict);
    assert.equal(reidentify({ ...base, k8s: stale }, resolver).policy, undefined);
  });
});

function recordAt(orig: string, resp: string): ConnRecord {
  return {
    ts: Date.parse('2026-01-15T09:30:00Z') / 1000,
    uid: 'Cy',
    orig_h: orig,
    orig_p: 40000,
    resp_h: resp,
    resp_p: 8080,
    proto: 'tcp',
    ip_proto: 6,
    service: [],
    duration: 1,
    orig_bytes: 1,
    resp_bytes: 1,
    conn_state: 'SF',
    local_orig: true,
    local_resp: true,
    missed_bytes: 0,
    history: 'ShADadFf',
    orig_pkts: 3,
    orig_ip_bytes: 100,
    resp_pkts: 3,
    resp_ip_bytes: 100,
    tunnel_parents: [],
    community_id: '',
    vlan: null,
    inner_vlan: null,
    orig_l2_addr: null,
    resp_l2_addr: null,
    tunnel_type: null,
    tunnel_id: null,
    interim: false,
  };
}
