/**
 * Resolving stored records again when an inventory arrives after them: which records a snapshot
 * can change (its validity time range), and a stored record's identity recomputed against the
 * cluster's inventory as it is now.
 */
import type { ConnRecord, RecordSource } from '../../parsers/record/conn';
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
 * The sources whose records get the inventory's NetworkPolicy verdict at ingestion: packet
 * captures (uploaded, or live by an agent) and connection records as a capture inside the cluster
 * sees them (eastwatch's NDJSON, Zeek's conn logs). A VPC flow log or a NetFlow/IPFIX exporter sees
 * traffic at an ENI or a switch, after SNAT and outside the pod network: a verdict there would be
 * a guess presented as a finding. Hubble keeps Cilium's own verdict. Ingestion (the capture job,
 * jobs/flows.ts flowPolicyEvaluated) and re-resolution both follow this one list.
 */
const VERDICT_SOURCES: ReadonlySet<RecordSource> = new Set<RecordSource>(['capture', 'agent', 'ndjson', 'zeek']);

export function verdictAtIngest(source: RecordSource): boolean {
  return VERDICT_SOURCES.has(source);
}

/**
 * The identity a stored record gets from `resolver` now, by the record's source: capture, agent,
 * NDJSON and Zeek records get the resolver's answer (identities, and the verdict evaluated from the
 * NetworkPolicies); a Hubble record keeps its own identity (Cilium's view of both ends and the
 * dataplane's verdict) field by field, completed by the inventory as at ingestion (k8s/merge.ts):
 * the fields an older inventory filled in (those not in the end's from_flow) are replaced; VPC,
 * NetFlow and IPFIX records get the resolver's identities and no verdict.
 */
export function reidentify(r: ConnRecord, resolver: K8sResolver): ConnK8s {
  if (r.source !== undefined) {
    const fresh = resolver.describe(r, verdictAtIngest(r.source) ? undefined : null);
    return mergeIdentity(r.source === 'hubble' ? r.k8s : undefined, fresh);
  }
  // Records stored before they said their source: a capture's records are linked to it, and a
  // flow record's verdict tells what ingestion did (an evaluated one has no dataplane verdict,
  // Hubble's has one); any other flow record stays without a verdict (no verdict is safer than a guessed one).
  const evaluated = r.capture !== undefined || (r.k8s?.policy !== undefined && r.k8s.policy.dataplane_verdict === undefined);
  const fresh = resolver.describe(r, evaluated ? undefined : null);
  const own = r.capture === undefined && r.k8s?.policy?.dataplane_verdict !== undefined ? r.k8s : undefined;
  return mergeIdentity(own, fresh);
}
