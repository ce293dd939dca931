/**
 * Hubble's identities completed by the inventory: the flow's own fields win, the inventory fills
 * what Cilium leaves out, scope and direction follow the merged ends.
 */
import { strict as assert } from 'node:assert';
import { mergeEnd, mergeIdentity } from '../../src/k8s/merge';
import type { ConnK8s, K8sEnd } from '../../parsers/record/k8s';

const hubblePod: K8sEnd = { kind: 'pod', namespace: 'shop', pod: 'api-5c8d7b9f4-xk2lp', workload: 'api', labels: { app: 'api' } };
const inventoryPod: K8sEnd = {
  kind: 'pod',
  namespace: 'shop',
  pod: 'api-5c8d7b9f4-xk2lp',
  workload: 'api',
  workload_kind: 'Deployment',
  node: 'node-2',
  labels: { app: 'api', 'pod-template-hash': '5c8d7b9f4' },
};

describe('k8s: Hubble identity merged with the inventory', () => {
  it("keeps the flow's fields and adds what only the inventory knows", () => {
    const m = mergeEnd({ ...hubblePod, labels: { app: 'api-from-cilium' } }, inventoryPod);
    assert.deepEqual(m, {
      kind: 'pod',
      namespace: 'shop',
      pod: 'api-5c8d7b9f4-xk2lp',
      workload: 'api',
      workload_kind: 'Deployment',
      node: 'node-2',
      labels: { app: 'api-from-cilium', 'pod-template-hash': '5c8d7b9f4' },
    });
  });

  it("takes the inventory's identity where Cilium saw only an address (world, reserved)", () => {
    assert.deepEqual(mergeEnd({ kind: 'external' }, { kind: 'node', node: 'node-1' }), { kind: 'node', node: 'node-1' });
    assert.deepEqual(mergeEnd({ kind: 'internal' }, inventoryPod), inventoryPod);
    assert.deepEqual(mergeEnd(hubblePod, { kind: 'internal' }), hubblePod);
  });

  it("recomputes scope and direction from the merged ends and keeps the flow's policy verdict", () => {
    const flow: ConnK8s = {
      orig: hubblePod,
      resp: { kind: 'external' },
      direction: 'outbound',
      scope: 'pod-to-external',
      policy: { verdict: 'denied', egress: 'denied', ingress: 'not-applicable', denied_by: ['shop/default-deny-egress'], allowed_by: [] },
    };
    const inv: ConnK8s = {
      orig: inventoryPod,
      resp: { kind: 'pod', namespace: 'data', pod: 'postgres-0', workload: 'postgres', workload_kind: 'StatefulSet' },
      direction: 'internal',
      scope: 'cross-namespace',
      policy: { verdict: 'allowed', egress: 'allowed', ingress: 'allowed', denied_by: [], allowed_by: ['data/postgres-allow'] },
    };
    const m = mergeIdentity(flow, inv);
    assert.equal(m.scope, 'cross-namespace');
    assert.equal(m.direction, 'internal');
    assert.equal(m.resp.pod, 'postgres-0');
    assert.equal(m.orig.node, 'node-2');
    assert.deepEqual(m.policy, flow.policy);
  });

  it("is the inventory's identity when the flow has none", () => {
    const inv: ConnK8s = { orig: inventoryPod, resp: { kind: 'external' }, direction: 'outbound', scope: 'pod-to-external' };
    assert.equal(mergeIdentity(undefined, inv), inv);
  });
});
