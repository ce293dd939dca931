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

/** The flow's identity completed by the inventory's (same connection, same time). */
export function mergeIdentity(flow: ConnK8s | undefined, inv: ConnK8s): ConnK8s {
  if (!flow) return inv;
  const orig = mergeEnd(flow.orig, inv.orig);
  const resp = mergeEnd(flow.resp, inv.resp);
  const out: ConnK8s = { orig, resp, direction: direction(orig, resp), scope: scope(orig, resp) };
  const policy = flow.policy ?? inv.policy;
  if (policy) out.policy = policy;
  return out;
}
