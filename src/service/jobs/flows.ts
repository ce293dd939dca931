/**
 * The `flows` job: a batch of connection records parsed from flow logs (by the API or the
 * NetFlow collector), given the Kubernetes identity of both ends (a flow's own identity, e.g.
 * Hubble's, completed by the inventory), written to the store (idempotent by uid) and fed to
 * the continuous detectors. Hubble's L7 DNS answers and HTTP transactions that came with the batch
 * are stored as dns and http records (they carry their connection) and go to the detectors too.
 */
import type { AppRecordOut, ConnContext } from '../../../parsers/record/app';
import { recordSourceOf } from '../../../parsers/flows';
import { placeByInventory, placementOf } from '../../k8s/placement';
import { mergeIdentity } from '../../k8s/merge';
import { verdictAtIngest } from '../../k8s/reresolve';
import type { Store, StoreAppRecord, StoreRecord } from '../../store/types';
import { DEFAULT_CLUSTER } from '../../k8s/cluster';
import type { FlowJobData, FlowOrigin, FlowResult, JobContext } from '../queue';
import type { ResolverCache } from '../inventory';
import type { Metrics } from '../metrics';
import type { AlertSink } from './alerts';

export interface FlowJobDeps {
  store: Store;
  resolvers: ResolverCache;
  metrics: Metrics;
  alerts: AlertSink;
}

/**
 * Whether records of this origin get the inventory's NetworkPolicy verdict: the sources of
 * k8s/reresolve.ts verdictAtIngest (eastwatch's own NDJSON, Zeek's conn logs; not VPC, NetFlow or
 * IPFIX, and Hubble keeps Cilium's own verdict, merged from the record). The records say their
 * source, so re-resolution after an inventory upload gives the same answer. Identity by address
 * is given to every origin.
 */
export function flowPolicyEvaluated(origin: FlowOrigin | undefined): boolean {
  return origin !== undefined && origin !== 'netflow' && verdictAtIngest(recordSourceOf(origin));
}

export async function runFlowJob(ctx: JobContext<FlowJobData, null>, deps: FlowJobDeps): Promise<FlowResult> {
  const records: StoreRecord[] = ctx.data.records;
  const cluster = ctx.data.cluster ?? DEFAULT_CLUSTER;
  // The flow source's own cluster's inventory only: another cluster may reuse the same pod addresses.
  const resolver = await deps.resolvers.current(cluster);
  // undefined: the inventory's policies; null: identity only.
  const policies = flowPolicyEvaluated(ctx.data.origin) ? undefined : null;
  for (const r of records) {
    r.cluster = cluster;
    if (resolver) r.k8s = mergeIdentity(r.k8s, resolver.describe(r, policies));
  }
  const res = records.length > 0 ? await deps.store.write(records) : { written: 0, stale: 0, deadLettered: 0 };
  // Each with its connection's placement: the batch's record of that uid (identity merged above),
  // else the identity the flow gave with it completed by the inventory (a DNS answer's connection has no record).
  const byUid = new Map(records.map((r) => [r.uid, r]));
  const app: StoreAppRecord[] = (ctx.data.dns ?? [])
    .filter((d): d is { rec: AppRecordOut; ctx: ConnContext } => 'conn' in d.rec)
    .map((d) => {
      const conn = byUid.get(d.rec.uid);
      if (conn) return { ...d.rec, placement: placementOf(conn.k8s, cluster) };
      const placed = placeByInventory(d.rec, resolver, cluster);
      const own = placementOf(d.ctx.k8s, cluster);
      return { ...placed, placement: { ...placed.placement, ...own } };
    });
  if (app.length > 0) {
    const a = await deps.store.writeApp(app);
    deps.metrics.appRecords.inc(a.written);
  }
  const alerts = await deps.alerts.continuous(records, resolver, ctx.data.dns, cluster);
  deps.metrics.records.inc({ source: 'flows' }, res.written);
  if (res.deadLettered) deps.metrics.storeRefused.inc({ reason: 'dead-letter' }, res.deadLettered);
  if (res.stale) deps.metrics.storeRefused.inc({ reason: 'stale' }, res.stale);
  return { written: res.written, stale: res.stale, deadLettered: res.deadLettered, alerts };
}
