/**
 * Alerts and suppressions in the store, one suite per backend: upsert by id keeping the
 * analyst's status and note, suppression at write time, and the alert search (filters, order,
 * pages). The alerts are built on the contract (detectors/contract/alert.ts) over real sample uids.
 */
import * as assert from 'node:assert/strict';
import type { Alert, AlertStatus, Severity, Suppression } from '../../detectors/contract/alert';
import type { AlertSearch, Store } from '../../src/store/types';
import { BACKENDS, cleanUp } from './backends';
import { sampleRecords } from './fixtures';

const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];
const RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3, critical: 4 };
const DETECTORS = ['scan', 'beacon', 'new-edge'];
const T0 = Date.UTC(2026, 0, 15, 10) / 1000;

function makeAlerts(uids: string[]): Alert[] {
  return Array.from(
    { length: 30 },
    (_, i): Alert => ({
      id: `al-${String(i).padStart(2, '0')}`,
      detector: DETECTORS[i % 3],
      title: `alert ${i}`,
      severity: SEVERITIES[i % 4],
      score: (i % 10) / 10,
      mitre: i % 2 === 0 ? ['T1046'] : [],
      source: { ip: `10.244.1.${10 + (i % 5)}`, namespace: 'shop', workload: i % 2 === 0 ? 'frontend' : 'checkout' },
      destination: i % 3 === 1 && i % 4 !== 3 ? { domain: 'evil.example', port: 443 } : { ip: '10.96.0.10', port: 53, namespace: 'kube-system' },
      first_seen: T0 + i * 60,
      // Ties on last_seen (every 4th pair) test the order by id.
      last_seen: T0 + Math.floor(i / 2) * 600 + 0.25,
      count: 1 + i,
      evidence: { uids: uids.slice(i, i + 3), figures: { ports: 10 + i, threshold: 5, rate: 0.5, beacon: i % 2 === 0 } },
      status: 'open',
    }),
  );
}

const order = (a: Alert, b: Alert): number => b.last_seen - a.last_seen || (a.id < b.id ? -1 : 1);

for (const backend of BACKENDS) {
  describe(`store: alerts and suppressions, ${backend.name} backend`, function () {
    this.timeout(120_000);
    let store: Store;
    let alerts: Alert[];
    /** What the store must hold: the alerts as written, with suppressed_by and the analyst's edits. */
    const want = new Map<string, Alert>();
    after(cleanUp);

    before(async function () {
      const uids = (await sampleRecords()).map((r) => r.uid);
      alerts = makeAlerts(uids);
      store = await backend.make(this, 'alerts');
    });

    it('suppressions: add, list oldest first, replace by id, delete', async () => {
      const rules: Suppression[] = [
        {
          id: 'sup-b',
          detector: 'beacon',
          destination: { domain: 'evil.example' },
          reason: 'known updater',
          created_by: 'ana',
          created_at: '2026-01-10T00:00:00Z',
          expires_at: null,
        },
        {
          id: 'sup-a',
          detector: 'scan',
          source: { ip: '10.244.1.12' },
          reason: 'the security scanner',
          created_by: 'ana',
          created_at: '2026-01-11T00:00:00Z',
          expires_at: '2099-01-01T00:00:00Z',
        },
        { id: 'sup-old', detector: 'new-edge', reason: 'expired', created_by: 'bo', created_at: '2026-01-09T00:00:00Z', expires_at: '2026-01-01T00:00:00Z' },
        { id: 'sup-gone', detector: 'new-edge', reason: 'to delete', created_by: 'bo', created_at: '2026-01-12T00:00:00Z', expires_at: null },
      ];
      for (const r of rules) await store.addSuppression(r);
      await store.addSuppression({ ...rules[0], reason: 'known updater (v2)' });
      assert.deepEqual(
        (await store.listSuppressions()).map((r) => [r.id, r.reason]),
        [
          ['sup-old', 'expired'],
          ['sup-b', 'known updater (v2)'],
          ['sup-a', 'the security scanner'],
          ['sup-gone', 'to delete'],
        ],
      );
      assert.equal(await store.deleteSuppression('sup-gone'), true);
      assert.equal(await store.deleteSuppression('sup-gone'), false);
      assert.deepEqual(
        (await store.listSuppressions()).map((r) => r.id),
        ['sup-old', 'sup-b', 'sup-a'],
      );
    });

    it('writes alerts, suppressing the ones an active rule matches, and reads each back', async () => {
      await store.writeAlerts(alerts);
      for (const a of alerts) {
        const sup =
          a.detector === 'beacon' && a.destination.domain === 'evil.example'
            ? 'sup-b'
            : a.detector === 'scan' && a.source.ip === '10.244.1.12'
              ? 'sup-a'
              : null;
        want.set(a.id, { ...a, suppressed_by: sup });
      }
      assert.ok([...want.values()].some((a) => a.suppressed_by === 'sup-a') && [...want.values()].some((a) => a.suppressed_by === 'sup-b'));
      // The expired rule silences nothing.
      assert.ok([...want.values()].every((a) => a.detector !== 'new-edge' || a.suppressed_by === null));
      for (const a of alerts) assert.deepStrictEqual(await store.getAlert(a.id), want.get(a.id), a.id);
      assert.equal(await store.getAlert('no-such-alert'), null);
    });

    it("patch: the analyst's status and note; null for an unknown id", async () => {
      const p = await store.patchAlert('al-05', { status: 'acknowledged', note: 'looking into it' });
      const w = { ...(want.get('al-05') as Alert), status: 'acknowledged' as AlertStatus, note: 'looking into it' };
      want.set('al-05', w);
      assert.deepStrictEqual(p, w);
      assert.deepStrictEqual(await store.getAlert('al-05'), w);
      const closed = await store.patchAlert('al-07', { status: 'closed' });
      want.set('al-07', { ...(want.get('al-07') as Alert), status: 'closed' });
      assert.deepStrictEqual(closed, want.get('al-07'));
      assert.equal(await store.patchAlert('no-such-alert', { status: 'closed' }), null);
    });

    it("a repeat write replaces the detector's fields and keeps the analyst's", async () => {
      const repeat = alerts
        .filter((a) => ['al-05', 'al-07', 'al-08'].includes(a.id))
        .map((a) => ({
          ...a,
          title: `${a.title} (again)`,
          count: a.count + 10,
          last_seen: a.last_seen + 5000,
          severity: 'critical' as Severity,
          // A figure gone from the new evidence must be gone from the stored alert too.
          evidence: { uids: a.evidence.uids.slice(0, 1), figures: { ports: 99 } },
        }));
      await store.writeAlerts(repeat);
      for (const r of repeat) {
        const old = want.get(r.id) as Alert;
        const w: Alert = { ...r, status: old.status, suppressed_by: old.suppressed_by };
        if (old.note !== undefined) w.note = old.note;
        want.set(r.id, w);
        assert.deepStrictEqual(await store.getAlert(r.id), w, r.id);
      }
      const cleared = await store.patchAlert('al-05', { note: null });
      want.set('al-05', { ...(want.get('al-05') as Alert), note: null });
      assert.deepStrictEqual(cleared, want.get('al-05'));
    });

    describe('search', () => {
      const expect = (req: AlertSearch): Alert[] =>
        [...want.values()]
          .filter(
            (a) =>
              (req.includeSuppressed || !a.suppressed_by) &&
              (req.status === undefined || a.status === req.status) &&
              (req.detector === undefined || a.detector === req.detector) &&
              (req.severity === undefined || RANK[a.severity] >= RANK[req.severity]) &&
              (req.from === undefined || a.last_seen >= (req.from as number)) &&
              (req.to === undefined || a.last_seen < (req.to as number)),
          )
          .sort(order);
      const cases: [string, AlertSearch][] = [
        ['everything not suppressed', {}],
        ['suppressed too', { includeSuppressed: true }],
        ['open, high or worse', { status: 'open', severity: 'high' }],
        ['one detector in a time range', { detector: 'new-edge', from: T0 + 1200.25, to: T0 + 6000.25 }],
        ['acknowledged', { status: 'acknowledged', includeSuppressed: true }],
      ];
      for (const [name, req] of cases) {
        it(name, async () => {
          const w = expect(req);
          assert.ok((w.length > 0 && w.length < 33) || name === 'suppressed too', `${name}: ${w.length}`);
          const got = await store.searchAlerts({ ...req, limit: 1000 });
          assert.deepStrictEqual(got.alerts, w);
          assert.equal(got.next, null);
        });
      }
      it('pages of 4 give every alert once, newest last_seen first, ties by id', async () => {
        const out: Alert[] = [];
        let after: string | undefined;
        for (let n = 0; n < 100; n++) {
          const p = await store.searchAlerts({ includeSuppressed: true, limit: 4, after });
          assert.ok(p.alerts.length <= 4);
          out.push(...p.alerts);
          if (p.next === null) break;
          after = p.next;
        }
        assert.deepStrictEqual(
          out.map((a) => a.id),
          expect({ includeSuppressed: true }).map((a) => a.id),
        );
      });
    });
  });
}
