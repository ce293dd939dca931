/** The shapes of the API answers the views read (see GET /api/v1/openapi.json). No DOM here: Node tests import it. */

export interface Whoami {
  key: { id: string; name: string; role: string };
  service: { version?: string; store?: string; queue?: string };
}

export interface CaptureProgress {
  bytesRead: number;
  totalBytes: number;
  packets: number;
  records: number;
  appRecords: number;
}

export interface Capture {
  id: string;
  state: 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';
  name: string;
  sha256: string;
  bytes: number;
  format: string;
  uploadedAt: string;
  uploadedBy: string;
  progress: CaptureProgress | null;
  result: Record<string, unknown> | null;
  failedReason: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export type ConnRecord = Record<string, unknown> & { uid: string; ts: number };

export interface SearchPage {
  records: ConnRecord[];
  next: string | null;
  total?: number;
}

export interface FieldInfo {
  name: string;
  type: string;
  aliases: string[];
  description: string;
  sortable: boolean;
}

export interface EdgeEnd {
  ip: string;
  port?: number;
  namespace: string | null;
  workload: string | null;
}

export interface Edge {
  source: EdgeEnd;
  destination: EdgeEnd;
  transport: string;
  connections: number;
  bytes: number;
}

export interface AlertEntity {
  ip?: string;
  port?: number;
  namespace?: string;
  pod?: string;
  workload?: string;
  service?: string;
  node?: string;
  domain?: string;
}

export interface Alert {
  id: string;
  detector: string;
  title: string;
  severity: 'low' | 'medium' | 'high' | 'critical';
  score?: number;
  mitre?: string[];
  source?: AlertEntity;
  destination?: AlertEntity;
  first_seen: number;
  last_seen: number;
  count: number;
  evidence?: { uids?: string[]; figures?: Record<string, unknown> };
  status: 'open' | 'acknowledged' | 'closed';
  suppressed_by: string | null;
  note: string | null;
}

/** GET /api/v1/flows/sources */
export interface FlowSource {
  source: string;
  format: string | null;
  requests: number;
  records: number;
  rejected: number;
  firstSeen: string;
  lastSeen: string;
}

export interface InventorySnapshot {
  id: number;
  source: string;
  observedAt: number | null;
  receivedAt: number;
  objects: Record<string, number>;
  ignored: Record<string, number>;
}
