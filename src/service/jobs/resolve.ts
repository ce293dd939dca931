/**
 * The `resolutions` job: after an inventory snapshot arrives, the stored records of its cluster
 * within the snapshot's time range are resolved again against the cluster's inventory as it is
 * now and written back where their identity or verdict changed, so that uploading a capture
 * before its inventory ends the same as the other way round. Keyset pages of bounded size, one
 * written before the next is read; progress after every page. Idempotent: a retried or
 * recovered job walks again and finds nothing left to change.
 */
import { clusterQuery, DEFAULT_CLUSTER } from '../../k8s/cluster';
import { reidentify } from '../../k8s/reresolve';
import { placementOf } from '../../k8s/placement';
import type { Store, StoreAppRecord, StoreRecord } from '../../store/types';
import type { ResolverCache } from '../inventory';
import type { AlertSink } from './alerts';
import type { CaptureJobData, CaptureProgress, CaptureResult, JobContext, JobQueue, ResolutionJobData, ResolutionProgress, ResolutionResult } from '../queue';

export interface ResolutionJobDeps {
  store: Store;
  resolvers: ResolverCache;
  /** Captures of the cluster being analysed when the snapshot arrived write records this walk must see. */
  captures: JobQueue<CaptureJobData, CaptureProgress, CaptureResult>;
  /** The alerts the records' new identities and verdicts raise (see AlertRevision). */
  alerts: AlertSink;
  /** Records per page (default 1000). */
  pageSize?: number;
  /** How often to look again at the captures being waited for (default 500 ms). */
  pollMs?: number;
}

export async function runResolutionJob(ctx: JobContext<ResolutionJobData, ResolutionProgress>, deps: ResolutionJobDeps): Promise<ResolutionResult> {
  const started = Date.now();
  const { cluster, from, to, receivedAt } = ctx.data;
  const filter = {
    query: clusterQuery(undefined, cluster),
    ...(from !== null ? { from } : {}),
    ...(to !== null ? { to } : {}),
  };
  const p: ResolutionProgress = { phase: 'waiting', total: 0, scanned: 0, updated: 0 };
  // A capture that took its resolver before the snapshot arrived writes unresolved records: walk after it.
  // Those started since resolve against the snapshot already, and so do the ones still queued.
  for (;;) {
    const running = (await deps.captures.list({ states: ['active'], limit: 1000 })).filter(
      (j) => (j.data.cluster ?? DEFAULT_CLUSTER) === cluster && (j.processedAt ?? 0) <= receivedAt * 1000,
    );
    if (running.length === 0) break;
    await ctx.progress({ ...p });
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 500));
  }
  const resolver = await deps.resolvers.current(cluster);
  // The snapshot is kept before its job is queued: no resolver here means the repository lost it.
  if (!resolver) throw new Error(`inventory ${ctx.data.inventory}: cluster ${cluster} has no inventory to resolve against`);
  await deps.store.refresh();
  p.phase = 'resolving';
  p.total = await deps.store.count(filter);
  await ctx.progress({ ...p });
  const revision = await deps.alerts.revision();
  let after: string | undefined;
  let stale = 0;
  let deadLettered = 0;
  for (;;) {
    const page = await deps.store.search({ ...filter, limit: deps.pageSize ?? 1000, after, sort: { field: '@timestamp', order: 'asc' } });
    const changed: StoreRecord[] = [];
    for (const r of page.records) {
      const k8s = reidentify(r, resolver);
      const fresh = canonical(k8s) !== canonical(r.k8s);
      const now = fresh ? { ...r, k8s } : r;
      if (fresh) changed.push(now);
      revision.conn(now, fresh);
    }
    p.scanned += page.records.length;
    if (changed.length > 0) {
      // Same uid and version: the write replaces the record, unless a newer one (a final after an interim) came meanwhile.
      const w = await deps.store.write(changed);
      p.updated += w.written;
      stale += w.stale;
      deadLettered += w.deadLettered;
      // Their application records follow (the same ids: replaced), so that a scoped key sees them
      // with their connection: a capture stored before its inventory ends as if uploaded after it.
      const moved: StoreAppRecord[] = [];
      for (const r of changed) {
        const want = placementOf(r.k8s, r.cluster);
        for (const a of await deps.store.appsOf(r.uid)) if (canonical(a.placement ?? null) !== canonical(want)) moved.push({ ...a, placement: want });
      }
      if (moved.length > 0) await deps.store.writeApp(moved);
    }
    await ctx.progress({ ...p });
    if (page.next === null) break;
    after = page.next;
  }
  await deps.store.refresh();
  // After the records, as the alerts are judged over the whole walk. A job that dies between the
  // two leaves these alerts unraised: its retry finds the records right and nothing fresh.
  const alerts = (await revision.finish()) ?? 0;
  return { scanned: p.scanned, updated: p.updated, alerts, stale, deadLettered, seconds: (Date.now() - started) / 1000 };
}

/** JSON with keys in order: a backend may give a record's fields back in another order than they were written. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}
