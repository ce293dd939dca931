/**
 * The alert contract: what every detector produces, what the store keeps and the API serves.
 * Detectors (detectors/), the store (src/store) and the service (src/service) all build on it,
 * so change it only additively.
 */

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export type AlertStatus = 'open' | 'acknowledged' | 'closed';

/** One end of what an alert is about: whatever of it is known. */
export interface AlertEntity {
  ip?: string;
  port?: number;
  namespace?: string;
  pod?: string;
  workload?: string;
  service?: string;
  node?: string;
  /** A DNS name or TLS server name when that, not an address, is the destination (beacons to a domain, DNS tunnels). */
  domain?: string;
}

export interface AlertEvidence {
  /** The connections behind the alert (bounded: the first ALERT_MAX_UIDS, in time order). */
  uids: string[];
  /** The figures that crossed the threshold, with the thresholds themselves (e.g. { score: 0.93, threshold: 0.8 }). */
  figures: Record<string, number | string | boolean>;
}

export interface Alert {
  /**
   * Stable: a hash of detector + the entities' identity (+ the detector's grouping key), never of
   * times or counts, so re-running over the same data gives the same ids and repeats group.
   */
  id: string;
  detector: string;
  title: string;
  severity: Severity;
  /** 0..1, detector-specific meaning, documented per detector. */
  score: number;
  /** MITRE ATT&CK technique ids, e.g. ['T1046']. */
  mitre: string[];
  source: AlertEntity;
  destination: AlertEntity;
  /** Epoch seconds of the first and last connection behind the alert. */
  first_seen: number;
  last_seen: number;
  /** How many times the alert fired (repeats grouped into this one). */
  count: number;
  evidence: AlertEvidence;
  status: AlertStatus;
  /** Set when a suppression rule matches; suppressed alerts are kept but hidden by default. */
  suppressed_by?: string | null;
  /** Analyst note (PATCH). */
  note?: string | null;
  /**
   * The cluster of the records it was raised on (their orchestrator.cluster.name), set by the
   * service when they all name the same one; absent otherwise and on alerts stored before it was kept.
   */
  cluster?: string;
}

export const ALERT_MAX_UIDS = 100;

/** Silences known-good behaviour: alerts of `detector` whose entities match every given field. */
export interface Suppression {
  id: string;
  detector: string;
  /** Fields of the alert's source/destination to match exactly; absent fields match anything. */
  source?: AlertEntity;
  destination?: AlertEntity;
  reason: string;
  created_by: string;
  /** RFC 3339. */
  created_at: string;
  /** RFC 3339; null = never. */
  expires_at: string | null;
}
