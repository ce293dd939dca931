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
