/**
 * The detectors in the service. A capture job runs a fresh engine over its records as they
 * stream (as `analyze` does). Flow jobs share one continuous engine whose state (windows,
 * learned edges, open alerts) is kept in Redis, or in the data directory on the embedded
 * default: each batch runs under a lock, starting from the newest saved state, so any worker may
 * take the next batch and a restarted worker loses nothing.
 */
import { DetectorEngine } from '../../../detectors/engine';
import type { DetectorControl } from '../detector-control';
import { identifyWith } from '../../k8s/identify';
import type { K8sResolver } from '../../k8s/resolver';
import type { Alert } from '../../../detectors/contract/alert';
import type { ConnRecord } from '../../../parsers/record/conn';
import type { AlertOrigin, Store, StoreRecord } from '../../store/types';
import type { Metrics } from '../metrics';
import { NO_ALERTS, type AlertBatch, type AlertRevision, type AlertSink } from './alerts';
import type { DetectorName } from '../../../detectors/config';
import { POLICY_VIOLATION } from '../../../detectors/policy-violation';
import type { AppRecordOut } from '../../../parsers/record/app';
import { clusterAlertId } from '../../k8s/cluster';

export { FileStateSlot, RedisStateSlot, type StateSlot } from '../detector-control';

export interface DetectorServiceOptions {
  store: Store;
  metrics: Metrics;
  /** Settings, baseline and the continuous engine's state (runtime.detectors). */
  control: DetectorControl;
}

async function storeAlerts(store: Store, metrics: Metrics, alerts: readonly Alert[], origin?: AlertOrigin): Promise<number> {
  if (alerts.length === 0) return 0;
  await store.writeAlerts(alerts, origin);
  for (const a of alerts) metrics.alerts.inc({ detector: a.detector });
  return alerts.length;
}

/**
 * The detectors a re-resolution runs again: those whose finding on a record rests on the
 * record's identity and verdict alone, so that a batch over the re-resolved records gives what
 * the capture's own analysis would have. The others judge windows, learned edges or counts over
 * all of a source's traffic: a batch over what a walk found would not be that.
 */
const IDENTITY_DETECTORS: readonly DetectorName[] = [POLICY_VIOLATION];

/**
 * Each alert with the cluster of the records it was raised on (its evidence uids): those of this
 * batch as fed, others (an earlier batch of the continuous engine's windows) as stored. Set only
 * when every one found names the same cluster: an alert over two clusters' records, or over
 * records without one, has none, and so stays out of every cluster-scoped key's searches.
 * Its id is scoped to that cluster (clusterAlertId): the same workloads in two clusters are two alerts.
 */
export async function withClusters(alerts: readonly Alert[], fed: ReadonlyMap<string, string | undefined>, store: Store): Promise<Alert[]> {
  // null: not stored (any more).
  const stored = new Map<string, string | undefined | null>();
  const out: Alert[] = [];
  for (const a of alerts) {
    const seen = new Set<string | undefined>();
    for (const uid of a.evidence.uids) {
      if (fed.has(uid)) seen.add(fed.get(uid));
      else {
        if (!stored.has(uid)) {
          const r = await store.get(uid);
          stored.set(uid, r === null ? null : r.cluster);
        }
        const c = stored.get(uid);
        // A record no longer stored (retention, a deleted capture) says nothing either way.
        if (c !== null) seen.add(c);
      }
    }
    const [only] = seen;
    const { cluster: _old, ...rest } = a;
    out.push(seen.size === 1 && only !== undefined ? { ...rest, id: clusterAlertId(a.id, only), cluster: only } : rest);
  }
  return out;
}

export function detectorSink(o: DetectorServiceOptions): AlertSink {
  return {
    batch(resolver: K8sResolver | null, origin?: AlertOrigin): AlertBatch {
      let engine: DetectorEngine | null = null;
      const queued: (() => void)[] = [];
      // Suppressions are read once per capture; the engine starts at the first record.
      const ready = Promise.all([o.store.listSuppressions(), o.control.effective()]).then(([suppressions, eff]) => {
        engine = new DetectorEngine({
          config: eff.config,
          baseline: eff.baseline?.baseline,
          learning: eff.learnSeconds !== null ? { seconds: eff.learnSeconds } : undefined,
          suppressions,
          identify: resolver ? identifyWith(resolver) : undefined,
        });
        for (const q of queued.splice(0)) q();
      });
      const feed = (f: (e: DetectorEngine) => void): void => {
        if (engine) f(engine);
        else queued.push(() => f(engine as DetectorEngine));
      };
      const fed = new Map<string, string | undefined>();
      return {
        conn: (r: ConnRecord) => {
          fed.set(r.uid, (r as StoreRecord).cluster);
          feed((e) => e.observe(r));
        },
        app: (r: AppRecordOut) => feed((e) => e.observeApp(r)),
        async finish() {
          await ready;
          const e = engine as DetectorEngine;
          e.flush();
          const raised = await withClusters(e.alerts(), fed, o.store);
          await storeAlerts(o.store, o.metrics, raised, origin);
          return raised.map((a) => a.id);
        },
      };
    },
    async revision(): Promise<AlertRevision> {
      const [suppressions, eff] = await Promise.all([o.store.listSuppressions(), o.control.effective()]);
      const make = (): DetectorEngine => new DetectorEngine({ config: eff.config, enabled: IDENTITY_DETECTORS, suppressions });
      // Per origin: every walked record (what the alerts say), and the fresh ones (which alerts to write).
      const origins = new Map<string, { origin?: AlertOrigin; all: DetectorEngine; fresh: DetectorEngine; anyFresh: boolean }>();
      const fed = new Map<string, string | undefined>();
      return {
        conn(r, fresh) {
          // Only a record with a verdict other than allowed can make a policy violation: no engine for the rest.
          const v = r.k8s?.policy?.verdict;
          if (v === undefined || v === 'allowed') return;
          const key = r.capture ?? '';
          let e = origins.get(key);
          if (!e) {
            e = { ...(r.capture !== undefined ? { origin: { capture: r.capture } } : {}), all: make(), fresh: make(), anyFresh: false };
            origins.set(key, e);
          }
          e.all.observe(r);
          fed.set(r.uid, (r as StoreRecord).cluster);
          if (fresh) {
            e.fresh.observe(r);
            e.anyFresh = true;
          }
        },
        async finish() {
          let n = 0;
          for (const e of origins.values()) {
            if (!e.anyFresh) continue;
            e.fresh.flush();
            const ids = new Set(e.fresh.alerts().map((a) => a.id));
            e.all.flush();
            n += await storeAlerts(
              o.store,
              o.metrics,
              await withClusters(
                e.all.alerts().filter((a) => ids.has(a.id)),
                fed,
                o.store,
              ),
              e.origin,
            );
          }
          return n;
        },
      };
    },
    async continuous(records, resolver, dns, cluster) {
      if (records.length === 0 && !dns?.length) return 0;
      let raised: Alert[] = [];
      const suppressions = await o.store.listSuppressions();
      const eff = await o.control.effective();
      await o.control.slot.update(async (state) => {
        const engine = o.control.engineFor(eff, state, { suppressions, identify: resolver ? identifyWith(resolver) : undefined });
        let now = 0;
        for (const d of dns ?? []) {
          engine.observeAppWith(d.rec, d.ctx);
          if (d.ctx.ts > now) now = d.ctx.ts;
        }
        for (const r of records) {
          engine.observe(r);
          if (r.ts > now) now = r.ts;
        }
        // Windows that ended before the newest record are judged now; open ones wait for more data.
        raised = engine.flush(now);
        return o.control.stateOf(engine, eff, state);
      });
      // Hubble's DNS answers have no connection record: theirs is the flow source's cluster.
      const fed = new Map<string, string | undefined>((dns ?? []).map((d) => [d.rec.uid, cluster]));
      for (const r of records) fed.set(r.uid, (r as StoreRecord).cluster);
      return storeAlerts(o.store, o.metrics, await withClusters(raised, fed, o.store));
    },
  };
}

/** The CLI's choice: detectors on (default) with state where the deployment keeps shared state, or off. */
export function serviceAlerts(rt: { store: Store; metrics: Metrics; detectors: DetectorControl }, enabled: boolean): AlertSink {
  if (!enabled) return NO_ALERTS;
  return detectorSink({ store: rt.store, metrics: rt.metrics, control: rt.detectors });
}
