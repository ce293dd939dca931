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

/** A layer around a session packet: the flow that carried it, and the tunnel it came through. */
export interface SessionHopWire {
  /** How the next layer inward was carried: gre, vxlan, geneve, ip-in-ip, teredo, ayiya, gtpv1. */
  tunnel: string;
  /** The tunnel header's id (VNI, GRE key, TEID) when it carries one. */
  tunnelId: number | null;
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
}

/** One packet of a session (GET /api/v1/connections/{uid}/session). */
export interface SessionPacketWire {
  /** Its number in the connection's pcap (GET /connections/{uid}/pcap), from 1. */
  n: number;
  /** Seconds since the epoch. */
  ts: number;
  /** orig: from the record's originator (id.orig_h/orig_p); resp: from its responder. */
  dir: 'orig' | 'resp';
  /** The connection's own (innermost) layer: addresses, ports (ICMP: type and code). */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  transport: 'tcp' | 'udp' | 'icmp' | 'other';
  /** TCP flags as letters, in the order S A P F R U E C; '' otherwise. */
  flags: string;
  /** Relative as Wireshark shows them; null without TCP (ack: without the ACK flag). */
  seq: number | null;
  ack: number | null;
  ipLen: number;
  payloadLen: number;
  /** The layers it was tunnelled in, outermost first; empty when none. */
  encap: SessionHopWire[];
}

/** One direction's payload, reassembled. */
export interface SessionPayloadWire {
  /** The first bytes (at most maxPayload), base64. */
  data: string;
  /** Bytes in `data`. */
  bytes: number;
  /** Payload bytes the direction carried in all (TCP: each byte once). */
  total: number;
  /** TCP: bytes the capture never saw between the direction's first and last. */
  missing: number;
  /** More than maxPayload bytes: `data` holds the first maxPayload. */
  truncated: boolean;
}

/** A connection's packets decoded by the service, and its payload per direction. */
export interface SessionWire {
  uid: string;
  packets: SessionPacketWire[];
  orig: SessionPayloadWire;
  resp: SessionPayloadWire;
  /** Packets of the cut that were not the connection's (not IP, undecodable). */
  skipped: number;
  /** The cut reached maxPackets or the byte limit: later packets are left out (they are in the pcap up to its own limits). */
  truncated: boolean;
  maxPackets: number;
  maxPayload: number;
  /** What stopped the capture being read to its end, when something did; null otherwise. */
  problem: string | null;
}
