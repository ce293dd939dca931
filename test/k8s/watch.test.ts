/**
 * The live-watch adapter, driven by fake informers (no cluster here): client-node objects (Dates,
 * no kind) land in the store, deletions end ownership at the time seen, bad objects are reported.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { InventoryStore } from '../../src/k8s/inventory';
import { InventoryWatcher, type WatchSource } from '../../src/k8s/watch';

class FakeInformer extends EventEmitter implements WatchSource {
  started = false;
  async start(): Promise<void> {
    this.started = true;
  }
  async stop(): Promise<void> {
    this.started = false;
  }
}

const T0 = Date.UTC(2026, 0, 15, 10, 0, 0) / 1000;

describe('k8s: live watch adapter', () => {
  it('adds, updates and deletes through informer events', async () => {
    let now = T0 + 100;
    const store = new InventoryStore();
    const w = new InventoryWatcher(store, () => now);
    const pods = new FakeInformer();
    const svcs = new FakeInformer();
    w.attach('Pod', pods);
    w.attach('Service', svcs);
    await w.start();
    assert.ok(pods.started && svcs.started);

    // As client-node delivers it: Date objects, no kind.
    const created = new Date((T0 - 60) * 1000);
    pods.emit('add', {
      metadata: {
        name: 'web-0',
        namespace: 'a',
        uid: 'u1',
        creationTimestamp: created,
        ownerReferences: [{ kind: 'StatefulSet', name: 'web', controller: true }],
      },
      spec: { nodeName: 'n1' },
      status: { phase: 'Pending' },
    });
    assert.equal(store.podAt('10.0.0.5', T0), undefined, 'no address yet');
    pods.emit('update', {
      metadata: {
        name: 'web-0',
        namespace: 'a',
        uid: 'u1',
        creationTimestamp: created,
        ownerReferences: [{ kind: 'StatefulSet', name: 'web', controller: true }],
      },
      spec: { nodeName: 'n1' },
      status: { phase: 'Running', podIP: '10.0.0.5' },
    });
    assert.equal(store.podAt('10.0.0.5', T0)?.workload, 'web');
    pods.emit('delete', { metadata: { name: 'web-0', namespace: 'a', uid: 'u1' } });
    assert.equal(store.podAt('10.0.0.5', T0 + 99)?.name, 'web-0', 'still its owner before the deletion was seen');
    assert.equal(store.podAt('10.0.0.5', T0 + 101), undefined);
    // The StatefulSet's replacement: same name, new uid, and a later deletion of the old uid leaves it alone.
    now = T0 + 200;
    pods.emit('add', { metadata: { name: 'web-0', namespace: 'a', uid: 'u2', creationTimestamp: new Date((T0 + 150) * 1000) }, status: { podIP: '10.0.0.9' } });
    pods.emit('delete', { metadata: { name: 'web-0', namespace: 'a', uid: 'u1' } });
    assert.equal(store.podAt('10.0.0.9', T0 + 300)?.uid, 'u2');

    svcs.emit('add', { metadata: { name: 's', namespace: 'a', creationTimestamp: created }, spec: { clusterIP: '10.96.0.5', ports: [{ port: 80 }] } });
    assert.equal(store.serviceAt('10.96.0.5', T0)?.name, 's');
    svcs.emit('add', { metadata: { name: 'bad', namespace: 'a' }, spec: { ports: [{ port: 0 }] } });
    assert.equal(w.errors.length, 1);
    assert.match(w.errors[0], /Service add: document \(Service a\/bad\): spec\.ports\[0\]\.port/);
    pods.emit('error', new Error('watch closed'));
    assert.equal(w.errors[1], 'Pod watch: watch closed');
    await w.stop();
    assert.equal(pods.started, false);
  });
});
