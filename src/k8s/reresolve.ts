/**
 * Resolving stored records again when an inventory arrives after them: which records a snapshot
 * can change (its validity time range), and a stored record's identity recomputed against the
 * cluster's inventory as it is now.
 */
import type { ConnRecord } from '../../parsers/record/conn';
import type { ConnK8s } from '../../parsers/record/k8s';
import { parseK8sText } from './load';
import { mergeIdentity } from './merge';
import type { K8sResolver } from './resolver';
import { parseObjects } from './schema';

/** Epoch seconds; null is an open end. */
export interface TimeRange {
  from: number | null;
  to: number | null;
}

/**
 * The times at which a snapshot can name a connection end: from the earliest start of its pods,
 * services and endpoint slices (creationTimestamp, else when the snapshot was observed, else
 * since ever) on, with no end (pods still running at the snapshot live on, and a later snapshot
 * ends them). NetworkPolicies change the verdict of every record whatever its time: a snapshot
 * holding any is valid since ever. Nodes and namespaces do not widen the range: a node's address
 * names its connections only where pods are named too, in practice.
 */
export function snapshotRange(text: string, source: string, observedAt: number | null): TimeRange {
  const parsed = parseObjects(parseK8sText(text, source), source);
  let from = Number.POSITIVE_INFINITY;
  for (const o of parsed.objects) {
    if (o.kind === 'NetworkPolicy') return { from: null, to: null };
    if (o.kind !== 'Pod' && o.kind !== 'Service' && o.kind !== 'EndpointSlice') continue;
    const created = o.metadata.creationTimestamp ? Date.parse(o.metadata.creationTimestamp) / 1000 : Number.NaN;
    const start = Number.isFinite(created) ? created : (observedAt ?? Number.NEGATIVE_INFINITY);
    if (start < from) from = start;
  }
  if (from === Number.NEGATIVE_INFINITY) return { from: null, to: null };
  // Nothing with a time in it: the snapshot names no connection, but a pod may come with the next.
  if (from === Number.POSITIVE_INFINITY) return { from: observedAt, to: null };
  return { from, to: null };
}

/**
 * The identity a stored record gets from `resolver` now. A capture's records are the resolver's
 * answer (identities and verdict evaluated from the NetworkPolicies). A flow that came with its
 * own identity (Hubble: Cilium's view of both ends and the dataplane's verdict) keeps it field
 * by field and is completed by the inventory, as at ingestion (k8s/merge.ts): the fields an older
 * inventory filled in (those not in the end's from_flow) are that inventory's and are replaced;
 * other flow records
 * (NetFlow, VPC flow logs) carry none of their own and get the resolver's identities.
 */
export function reidentify(r: ConnRecord, resolver: K8sResolver): ConnK8s {
  // The what-if verdict only where ingestion gave one (see flowPolicyEvaluated in the flow job): a
  // capture's records, and flow records stored with an evaluated policy. A VPC or NetFlow record
  // stored without one stays without one; so does any flow record stored before an inventory,
  // whose origin the record does not say (no verdict is safer than a guessed one).
  const evaluated = r.capture !== undefined || (r.k8s?.policy !== undefined && r.k8s.policy.dataplane_verdict === undefined);
  const fresh = resolver.describe(r, evaluated ? undefined : null);
  const own = r.capture === undefined && r.k8s?.policy?.dataplane_verdict !== undefined ? r.k8s : undefined;
  return mergeIdentity(own, fresh);
}
