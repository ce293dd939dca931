/**
 * Shapes the API answers with that the web UI reads too. No imports, no Node types: the UI's
 * own TypeScript build includes this file.
 */

/** Progress of a capture job. */
export interface CaptureProgress {
  /** Bytes of the file read so far and its size. */
  bytesRead: number;
  totalBytes: number;
  packets: number;
  records: number;
  appRecords: number;
}

/** One Kubernetes inventory snapshot the service holds (GET /api/v1/inventory). */
export interface InventorySummary {
  id: number;
  source: string;
  /** The cluster the snapshot describes. */
  cluster: string;
  observedAt: number | null;
  receivedAt: number;
  objects: Record<string, number>;
  ignored: Record<string, number>;
}

/** One sender of flows (GET /api/v1/flows/sources). */
export interface FlowSource {
  source: string;
  format: string | null;
  requests: number;
  records: number;
  rejected: number;
  firstSeen: string;
  lastSeen: string;
}

/** Progress of the re-resolution of stored records after an inventory upload. */
export interface ResolutionProgress {
  /** 'waiting': captures of the cluster that started before the inventory arrived are still being analysed; 'resolving': walking the records. */
  phase: 'waiting' | 'resolving';
  /** Records of the cluster in the snapshot's time range when the walk began. */
  total: number;
  scanned: number;
  /** Records whose identity or verdict changed, written back. */
  updated: number;
}

/** The re-resolution job of one inventory snapshot (GET /api/v1/inventory/{id}/resolution). */
export interface InventoryResolution {
  /** The snapshot's id. */
  id: string;
  cluster: string;
  state: 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';
  /** The records' time range it covers (epoch seconds; null: open). */
  from: number | null;
  to: number | null;
  progress: ResolutionProgress | null;
  /** alerts: raised or rewritten for the records' new identities and verdicts (the policy violations a capture stored before its inventory owes). */
  result: { scanned: number; updated: number; alerts?: number; stale: number; deadLettered: number; seconds: number } | null;
  failedReason: string | null;
  createdAt: string;
  finishedAt: string | null;
}
