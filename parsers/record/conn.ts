/**
 * The connection record: Zeek conn.log semantics (../shared/spec/connection-record.md),
 * with Zeek's field names. Output formats and the store map these to their own names.
 */
import type { ConnK8s } from './k8s';

export type Transport = 'tcp' | 'udp' | 'icmp' | 'unknown_transport';

/** The `proto` of a record for an IP protocol number (ICMPv6 is 'icmp', as in Zeek). */
export function transportOf(ipProto: number): Transport {
  return ipProto === 6 ? 'tcp' : ipProto === 17 ? 'udp' : ipProto === 1 || ipProto === 58 ? 'icmp' : 'unknown_transport';
}

/**
 * How a record entered eastwatch: 'capture' (an uploaded or analysed pcap), 'agent' (live capture
 * by a capture agent), 'hubble' (Cilium Hubble flows), 'aws-vpc' (VPC / Transit Gateway flow
 * logs), 'netflow' (NetFlow v5/v9 collector), 'ipfix' (IPFIX collector), 'zeek' (Zeek conn logs),
 * 'ndjson' (eastwatch's own records posted back). Stored as ECS event.module.
 */
export type RecordSource = 'capture' | 'agent' | 'hubble' | 'aws-vpc' | 'netflow' | 'ipfix' | 'zeek' | 'ndjson';
export const RECORD_SOURCES: readonly RecordSource[] = ['capture', 'agent', 'hubble', 'aws-vpc', 'netflow', 'ipfix', 'zeek', 'ndjson'];

export type ConnState = 'S0' | 'S1' | 'SF' | 'REJ' | 'S2' | 'S3' | 'RSTO' | 'RSTR' | 'RSTOS0' | 'RSTRH' | 'SH' | 'SHR' | 'OTH';

export interface ConnRecord {
  /** First packet, seconds since the epoch (microsecond resolution is meaningful). */
  ts: number;
  uid: string;
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  proto: Transport;
  /** IP protocol number (e.g. 132 for SCTP, which Zeek reports as unknown_transport). */
  ip_proto: number;
  /** Protocols confirmed by payload analysis (filled by the protocol analyzers; tunnels by the decoder). */
  service: string[];
  /** Last packet minus first packet, seconds. */
  duration: number;
  orig_bytes: number;
  resp_bytes: number;
  conn_state: ConnState;
  local_orig: boolean;
  local_resp: boolean;
  missed_bytes: number;
  history: string;
  orig_pkts: number;
  orig_ip_bytes: number;
  resp_pkts: number;
  resp_ip_bytes: number;
  /** uids of the tunnel connections that carried this one, outermost first. */
  tunnel_parents: string[];
  community_id: string;
  /** 802.1Q / 802.1ad ids; null when untagged. */
  vlan: number | null;
  inner_vlan: number | null;
  orig_l2_addr: string | null;
  resp_l2_addr: string | null;
  /** How this connection was carried, when it is inside a tunnel: kind and VNI/key. */
  tunnel_type: string | null;
  tunnel_id: number | null;
  /** True for a record emitted while the connection is still open (interim); the final record has the same uid. */
  interim: boolean;
  /** Kubernetes identity of both ends, direction, scope and policy verdict; set by the k8s enrichment when an inventory is given. */
  k8s?: ConnK8s;
  /**
   * Where the record's packets are, so they can be cut out again: the uploaded capture (its SHA-256)
   * it was analysed from, or `agent:NAME:UID` for a live-captured record shipped by a registered
   * agent (NAME) whose packet ring indexes it by its own UID (src/service/flow-ingest.ts).
   */
  capture?: string;
  /**
   * What the producer could observe, when it is not a packet capture that saw both directions:
   * 'one-way' for a flow exporter's unidirectional record (NetFlow v5/v9, IPFIX without biflow,
   * VPC flow logs) that no reverse record was paired with, so the resp_* fields are unknown rather
   * than zero; 'midstream' for a flow first seen after it opened (no handshake observed), so its
   * start and originator are uncertain. Absent for captures and for paired or biflow records.
   */
  observed?: 'one-way' | 'midstream';
  /**
   * True when the record is two one-way flow records (A->B and B->A, parsers/netflow/stitch.ts)
   * paired into one connection by eastwatch; absent otherwise (captures, biflows, records left alone).
   */
  stitched?: boolean;
  /**
   * The ingestion path the record came through (RecordSource). Decides, among other things,
   * whether a NetworkPolicy verdict is evaluated for it (src/k8s/reresolve.ts). Absent on records
   * stored before it was recorded.
   */
  source?: RecordSource;
  /**
   * 'reports' when orig_pkts/resp_pkts count the producer's reports, not packets: Hubble with
   * Cilium's monitor aggregation (its default, `medium`) emits per connection and direction the
   * first packet, a packet adding SYN, FIN or RST, and then at most one packet per 5 s, so the
   * counts are lower bounds that grow with duration rather than volume, and the responder's data
   * packets are mostly unseen (history letters come from the reported packets only). Absent:
   * the counts are packets.
   */
  counts?: 'reports';
}
