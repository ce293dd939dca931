/**
 * Hubble flows carry Cilium's own view of both ends; the inventory knows what Cilium leaves out
 * (workload kind, node of a remote pod, services behind an endpoint, host-network pods, and
 * identities of addresses Cilium saw as `world`/`reserved:*`). The flow's own identity wins
 * field by field; the inventory fills the gaps, and scope and direction are recomputed from the
 * merged ends.
 */
import { direction, scope } from './resolver';
import type { ConnK8s, K8sEnd } from '../../parsers/record/k8s';

/** True when `e` says nothing more than "some address inside/outside". */
function unresolved(e: K8sEnd): boolean {
  return (
    (e.kind === 'internal' || e.kind === 'external') && e.pod === undefined && e.namespace === undefined && e.node === undefined && e.service === undefined
  );
}

export function mergeEnd(flow: K8sEnd, inv: K8sEnd): K8sEnd {
  if (unresolved(flow)) return inv;
  if (unresolved(inv)) return flow;
  const out: K8sEnd = { ...inv, ...flow };
  for (const k of Object.keys(out) as (keyof K8sEnd)[]) {
    if (out[k] === undefined) delete out[k];
  }
  // A pod the inventory knows is more than Cilium's endpoint label set: keep both label sets, the flow's winning.
  if (inv.labels && flow.labels) out.labels = { ...inv.labels, ...flow.labels };
  return out;
}

/** What of `e` the flow gave (K8sEnd.from_flow): none of an unresolved end, which the inventory replaces whole. */
function flowFields(e: K8sEnd): string[] {
  if (unresolved(e)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined || k === 'from_flow') continue;
    if (k === 'labels') for (const l of Object.keys(v as Record<string, string>)) out.push(`labels.${l}`);
    else out.push(k);
  }
  return out;
}

/** The flow's own end from a stored merged one: the fields from_flow names; the whole end where it names none. */
export function flowEnd(e: K8sEnd): K8sEnd {
  const own = e.from_flow;
  if (own === undefined) return e;
  // Nothing of the flow's: an unresolved end, which the inventory's replaces in mergeEnd.
  if (!own.includes('kind')) return { kind: e.kind === 'internal' ? 'internal' : 'external' };
  const out: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  for (const f of own) {
    if (f.startsWith('labels.')) {
      const k = f.slice('labels.'.length);
      if (e.labels?.[k] !== undefined) labels[k] = e.labels[k];
    } else if (f !== 'labels' && f !== 'from_flow' && (e as unknown as Record<string, unknown>)[f] !== undefined) {
      out[f] = (e as unknown as Record<string, unknown>)[f];
    }
  }
  if (Object.keys(labels).length > 0) out.labels = labels;
  return out as unknown as K8sEnd;
}

/**
 * The flow's identity completed by the inventory's (same connection, same time). Each end records
 * which fields were the flow's (from_flow), so a later resolution can tell them from the
 * inventory's; a flow end that already says so (a stored record resolved again) is read with flowEnd.
 */
export function mergeIdentity(flow: ConnK8s | undefined, inv: ConnK8s): ConnK8s {
  if (!flow) return inv;
  const fo = flowEnd(flow.orig);
  const fr = flowEnd(flow.resp);
  const orig = { ...mergeEnd(fo, inv.orig), from_flow: flowFields(fo) };
  const resp = { ...mergeEnd(fr, inv.resp), from_flow: flowFields(fr) };
  const out: ConnK8s = { orig, resp, direction: direction(orig, resp), scope: scope(orig, resp) };
  const policy = flow.policy ?? inv.policy;
  if (policy) out.policy = policy;
  return out;
}
