/**
 * Kubernetes identity of a connection: who is behind each address at the connection's time,
 * which way the traffic flows, and what the network policies say about it. Stored on
 * ConnRecord.k8s; field names are snake_case like the rest of the record.
 */

/** What an address turned out to be. `internal`/`external` are the unresolved ones, split by the local networks. */
export type K8sEndKind = 'pod' | 'service' | 'node' | 'endpoint' | 'internal' | 'external';

export interface K8sEnd {
  kind: K8sEndKind;
  namespace?: string;
  pod?: string;
  /** The controller behind the pod, after following ownerReferences (e.g. Deployment "api"); a bare pod is its own workload. */
  workload?: string;
  workload_kind?: string;
  node?: string;
  /** Service name (in `namespace`): the ClusterIP's service, or the service this address is an endpoint of. */
  service?: string;
  labels?: Record<string, string>;
  /** A hostNetwork pod: it shares its node's address, so it is recognised by node IP and container port. */
  host_network?: boolean;
  /**
   * On a flow's end completed by the inventory (Hubble): which of these fields the flow itself
   * gave (`labels.KEY` for each of its labels), so that resolving it again against a newer
   * inventory replaces only what an inventory filled in. Absent: all of it is the flow's (stored
   * before an inventory, or before this was recorded) or none of it (a capture's record).
   */
  from_flow?: string[];
}

/** ECS network.direction, relative to the monitored networks (cluster entities and the local networks). */
export type K8sDirection = 'internal' | 'inbound' | 'outbound' | 'external';

export type K8sScope =
  | 'same-pod'
  | 'same-namespace'
  | 'cross-namespace'
  | 'pod-to-service'
  | 'pod-to-node'
  | 'node-to-pod'
  | 'pod-to-external'
  | 'external-to-pod'
  | 'node-to-service'
  | 'external-to-service'
  | 'node-to-node'
  | 'other';

/**
 * One direction's outcome. `not-isolated`: no policy of that type selects the pod (default allow).
 * `not-applicable`: that end is not a pod subject to policy (node, hostNetwork pod, external).
 * `mixed`: a service destination whose backends got different answers.
 */
export type K8sDirVerdict = 'allowed' | 'denied' | 'not-isolated' | 'not-applicable' | 'mixed';

export interface K8sPolicyVerdict {
  verdict: 'allowed' | 'denied' | 'mixed';
  egress: K8sDirVerdict;
  ingress: K8sDirVerdict;
  /** "namespace/name" of the isolating policies of each denying direction (empty when allowed). */
  denied_by: string[];
  /** "namespace/name" of the policies with a rule that allowed this connection. */
  allowed_by: string[];
  /**
   * The dataplane's own verdict when the record comes from it (Cilium Hubble: FORWARDED,
   * REDIRECTED, AUDIT, ERROR, DROPPED; the most severe of the flow's events). Absent when the
   * verdict was evaluated from NetworkPolicies by eastwatch.
   */
  dataplane_verdict?: string;
  /** Why the dataplane dropped the flow (Hubble's drop_reason_desc, e.g. POLICY_DENIED, CT_MAP_INSERTION_FAILED). */
  drop_reason?: string;
}

export interface ConnK8s {
  orig: K8sEnd;
  resp: K8sEnd;
  direction: K8sDirection;
  scope: K8sScope;
  policy?: K8sPolicyVerdict;
}
