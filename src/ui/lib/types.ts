/** The shapes of the API answers the views read (see GET /api/v1/openapi.json). No DOM here: Node tests import it. */
import type { CaptureProgress } from '../../service/api/wire';

/** Shared with the service: one definition each. */
export type {
  CaptureProgress,
  FlowSource,
  InventoryResolution,
  InventorySummary as InventorySnapshot,
  SessionHopWire as SessionHop,
  SessionPacketWire as SessionPacket,
  SessionPayloadWire as SessionPayload,
  SessionWire as Session,
} from '../../service/api/wire';

export interface Whoami {
  key: { id: string; name: string; role: string };
  service: { version?: string; store?: string; queue?: string };
}

export interface Capture {
  id: string;
  state: 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';
  /** Completed, but not read to its end or with records refused; `problem` says what to do. */
  finishedWithErrors?: boolean;
  problem?: string | null;
  name: string;
  sha256: string;
  bytes: number;
  format: string;
  uploadedAt: string;
  uploadedBy: string;
  /** The latest re-analysis asked for; null when analysed once. */
  reanalysis?: { requestedAt: string; requestedBy: string; count: number } | null;
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
  /** Destinations only: the Kubernetes service of the address (a ClusterIP's, or the one it is an endpoint of). */
  service?: string | null;
  /** External destinations: the host name clients reached it by (TLS SNI, HTTP host, DNS), when known. */
  name?: string;
}

export interface Edge {
  source: EdgeEnd;
  destination: EdgeEnd;
  transport: string;
  connections: number;
  bytes: number;
}

/** The alert contract the detectors, the store and the API share. */
export type { Alert, AlertEntity } from '../../../detectors/contract/alert';
