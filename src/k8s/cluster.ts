/**
 * Cluster names. Inventories, captures and flow sources carry one, and a record's identities are
 * resolved only against its own cluster's inventory: two clusters reusing the same pod CIDR
 * (every kind/minikube cluster does) must not name each other's pods.
 */
import { InvalidArgumentError } from 'commander';

/** The cluster of anything uploaded without a name. */
export const DEFAULT_CLUSTER = 'default';

/** RFC 1123 label, as Kubernetes names namespaces: lower-case alphanumerics and '-', 1..63. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export class ClusterNameError extends Error {}

export function isClusterName(s: string): boolean {
  return DNS_LABEL.test(s);
}

/** The name, or throws saying what a cluster name may be (`what` names where it came from). */
export function clusterName(s: string | undefined | null, what = 'cluster'): string {
  if (s === undefined || s === null) return DEFAULT_CLUSTER;
  if (!isClusterName(s))
    throw new ClusterNameError(
      `${what}: '${s.length > 80 ? `${s.slice(0, 80)}...` : s}' is not a cluster name (a DNS label: 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit)`,
    );
  return s;
}

/** The commander parser of --cluster: the name, or a usage error saying what a cluster name may be. */
export function clusterOption(v: string): string {
  try {
    return clusterName(v, '--cluster');
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}
