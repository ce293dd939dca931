/**
 * Deleting one capture's data and the origins of alerts, one suite per backend: the capture's
 * connection and application records go and no other's; a second delete removes nothing; the
 * same records written again after a delete are stored (Elasticsearch: no tombstone above their
 * version); alerts lose only the capture, and go only when nothing else raised them.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Alert } from '../../detectors/contract/alert';
import type { AppRecordOut } from '../../parsers/record/app';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { Store, StoreRecord } from '../../src/store/types';
import { BACKENDS, cleanUp } from './backends';
import { SAMPLES_DIR } from './fixtures';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

async function capture(file: string, sha: string): Promise<{ conns: StoreRecord[]; apps: AppRecordOut[] }> {
  const conns: StoreRecord[] = [];
  const apps: AppRecordOut[] = [];
  await analyzeFile(
    path.join(SAMPLES_DIR, file),
    (r) => {
      r.capture = sha;
      conns.push(r);
    },
    { tracker: { payload: analyzerFactory((r) => apps.push(r)) } },
  );
  return { conns, apps };
}

function alert(id: string, uid: string): Alert {
  return {
    id,
    detector: 'scan',
    title: `alert ${id}`,
    severity: 'high',
    score: 0.9,
    mitre: ['T1046'],
    source: { ip: '10.244.1.10' },
    destination: { ip: '10.244.2.10' },
    first_seen: 1_768_471_200,
    last_seen: 1_768_471_260,
    count: 1,
    evidence: { uids: [uid], figures: { ports: 20 } },
    status: 'open',
  };
}

for (const backend of BACKENDS) {
  describe(`store: deleting a capture, ${backend.name} backend`, function () {
    this.timeout(120_000);
    let store: Store;
    let a: { conns: StoreRecord[]; apps: AppRecordOut[] };
    let b: { conns: StoreRecord[]; apps: AppRecordOut[] };
    after(cleanUp);

    before(async function () {
      store = await backend.make(this, 'capdel');
      a = await capture('pod-traffic.pcap', A);
      b = await capture('scan.pcap', B);
      assert.ok(a.apps.length > 0, 'pod-traffic has DNS/HTTP records');
      for (const c of [a, b]) {
        const w = store.writer();
        for (const r of c.conns) w.add(r);
        for (const r of c.apps) w.addApp(r);
        const res = await w.close();
        assert.equal(res.deadLettered, 0);
      }
      await store.refresh();
    });

    it("removes the capture's connection and application records and nothing else's", async () => {
      assert.equal(await store.count({ query: `capture:${A}` }), a.conns.length);
      const appUid = a.apps[0].uid;
      assert.ok((await store.appsOf(appUid)).length > 0);
      const got = await store.deleteCapture(A);
      assert.deepEqual(got, { records: a.conns.length, appRecords: a.apps.length });
      await store.refresh();
      assert.equal(await store.count({ query: `capture:${A}` }), 0);
      assert.equal(await store.count({}), b.conns.length);
      assert.deepEqual(await store.appsOf(appUid), []);
      for (const r of b.conns.slice(0, 5)) assert.equal((await store.get(r.uid))?.uid, r.uid);
      assert.deepEqual(await store.deleteCapture(A), { records: 0, appRecords: 0 });
    });

    it('stores the same records again after a delete (a re-analysis)', async () => {
      const w = store.writer();
      for (const r of a.conns) w.add(r);
      for (const r of a.apps) w.addApp(r);
      const res = await w.close();
      assert.deepEqual(res, { written: a.conns.length + a.apps.length, stale: 0, deadLettered: 0 });
      await store.refresh();
      assert.equal(await store.count({ query: `capture:${A}` }), a.conns.length);
      assert.equal((await store.appsOf(a.apps[0].uid)).length > 0, true);
    });

    it('takes the capture off its alerts: removes those only it raised, keeps those raised elsewhere, the kept ids and older alerts', async () => {
      const uid = a.conns[0].uid;
      await store.writeAlerts([alert('only-a', uid), alert('a-and-b', uid), alert('kept', uid)], { capture: A });
      await store.writeAlerts([alert('a-and-b', uid)], { capture: B });
      await store.writeAlerts([alert('a-and-flows', uid)], { capture: A });
      await store.writeAlerts([alert('a-and-flows', uid)]);
      await store.writeAlerts([alert('flows-only', uid)]);
      // The analyst's change keeps the origins.
      assert.equal((await store.patchAlert('kept', { status: 'acknowledged', note: 'seen' }))?.status, 'acknowledged');
      const read = await store.getAlert('only-a');
      assert.deepEqual(read, { ...alert('only-a', uid), suppressed_by: null }, 'origins are kept by the store, not read back with the alert');

      assert.deepEqual(await store.releaseCaptureAlerts(A, ['kept']), { removed: 1, released: 2 });
      assert.equal(await store.getAlert('only-a'), null);
      for (const id of ['a-and-b', 'a-and-flows', 'flows-only']) assert.equal((await store.getAlert(id))?.id, id);
      assert.equal((await store.getAlert('kept'))?.status, 'acknowledged');
      // Released already: a second call changes nothing but the kept one, now no longer kept.
      assert.deepEqual(await store.releaseCaptureAlerts(A), { removed: 1, released: 0 });
      assert.equal(await store.getAlert('kept'), null);
      assert.deepEqual(await store.releaseCaptureAlerts(B), { removed: 1, released: 0 });
      assert.equal(await store.getAlert('a-and-b'), null);
      assert.equal((await store.getAlert('a-and-flows'))?.id, 'a-and-flows');
      const left = (await store.searchAlerts({ includeSuppressed: true })).alerts.map((x) => x.id).sort();
      assert.deepEqual(left, ['a-and-flows', 'flows-only']);
    });

    it('changes many alerts at once (bulk triage), naming the ids it does not hold', async () => {
      const got = await store.patchAlerts(['a-and-flows', 'flows-only', 'no-such-alert', 'flows-only'], { status: 'closed', note: 'triaged in bulk' });
      assert.deepEqual({ updated: got.updated.sort(), missing: got.missing }, { updated: ['a-and-flows', 'flows-only'], missing: ['no-such-alert'] });
      const closed = (await store.searchAlerts({ status: 'closed', includeSuppressed: true })).alerts;
      assert.deepEqual(closed.map((x) => [x.id, x.status, x.note]).sort(), [
        ['a-and-flows', 'closed', 'triaged in bulk'],
        ['flows-only', 'closed', 'triaged in bulk'],
      ]);
      assert.equal((await store.searchAlerts({ status: 'open', includeSuppressed: true })).alerts.length, 0);
      // Status only: the note stays.
      await store.patchAlerts(['flows-only'], { status: 'open' });
      assert.deepEqual(await store.getAlert('flows-only').then((x) => [x?.status, x?.note]), ['open', 'triaged in bulk']);
    });
  });
}
