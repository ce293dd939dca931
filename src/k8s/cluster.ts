/**
 * Cluster names. Inventories, captures and flow sources carry one, and a record's identities are
 * resolved only against its own cluster's inventory: two clusters reusing the same pod CIDR
 * (every kind/minikube cluster does) must not name each other's pods.
 */
import { createHash } from 'node:crypto';
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

/**
 * The records of one cluster, in the query language. Records stored before clusters were named
 * were all the default cluster's.
 */
export function clusterQuery(q: string | undefined, cluster: string): string {
  const own = cluster === DEFAULT_CLUSTER ? `(cluster:${cluster} or not cluster:*)` : `cluster:${cluster}`;
  return q && q.trim() !== '' ? `(${q}) and ${own}` : own;
}

/** A capture's id: the SHA-256 of its bytes, followed by `-<cluster>` when it was uploaded to a cluster other than the default. */
export const CAPTURE_ID = /^[0-9a-f]{64}(-[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$/;

/**
 * The id of a capture with these bytes uploaded to `cluster`. Uids come from the packets, so the
 * same bytes in two clusters would otherwise be one set of records; the default cluster's keeps
 * the bare SHA-256, as every capture had before clusters were named.
 */
export function captureId(sha256: string, cluster: string = DEFAULT_CLUSTER): string {
  return cluster === DEFAULT_CLUSTER ? sha256 : `${sha256}-${cluster}`;
}

/**
 * A packet-derived uid (connection, tunnel parent, application record's connection) of a capture
 * uploaded to `cluster`: unchanged for the default cluster (stored data and the Zeek conformance
 * keep their uids), `<uid>-<cluster>` otherwise, or a digest of the cluster where that would
 * pass the 64 characters a uid may have.
 */
export function clusterUid(uid: string, cluster: string = DEFAULT_CLUSTER): string {
  if (cluster === DEFAULT_CLUSTER) return uid;
  const plain = `${uid}-${cluster}`;
  if (plain.length <= 64) return plain;
  return `${uid.slice(0, 40)}-${createHash('sha256').update(cluster).update('\0').update(uid).digest('base64url').slice(0, 16)}`;
}

/**
 * A connection record of a capture taken in `cluster`, with its packet-derived uids qualified
 * (clusterUid): a copy when they change, as the tracker may hand the same object again (an
 * interim, then its final). The capture job and `analyze --store` both store through this.
 */
export function clusterConn<R extends { uid: string; tunnel_parents: string[] }>(r: R, cluster: string = DEFAULT_CLUSTER): R {
  if (cluster === DEFAULT_CLUSTER) return r;
  return { ...r, uid: clusterUid(r.uid, cluster), tunnel_parents: r.tunnel_parents.map((u) => clusterUid(u, cluster)) };
}

/** An application record of a capture taken in `cluster`: its uid and its connection's qualified as clusterConn's. */
export function clusterApp<R extends { uid: string; conn: { uid: string } }>(r: R, cluster: string = DEFAULT_CLUSTER): R {
  if (cluster === DEFAULT_CLUSTER) return r;
  return { ...r, uid: clusterUid(r.uid, cluster), conn: { ...r.conn, uid: clusterUid(r.conn.uid, cluster) } };
}

/**
 * The stored id of an alert raised on records of `cluster`: the detector's id (which names
 * workloads, not clusters) qualified by the cluster, so that the same workloads misbehaving in two
 * clusters are two alerts with a status and a note each. The default cluster's, and an alert
 * with no single cluster, keep the detector's id, as every alert had before clusters were named.
 */
export function clusterAlertId(id: string, cluster: string | undefined): string {
  if (cluster === undefined || cluster === DEFAULT_CLUSTER) return id;
  return createHash('sha256').update(id).update('\0').update(cluster).digest('hex').slice(0, 20);
}
