/** Tunables of the connection tracker, with Zeek's defaults. */
import { DEFAULT_LOCAL_NETS } from '../record/local-nets';
import type { PayloadObserverFactory } from './payload';

export interface TrackerOptions {
  /** Live connections; at the limit the oldest idle one is emitted (never dropped). */
  maxConnections: number;
  tcpInactivitySec: number;
  udpInactivitySec: number;
  icmpInactivitySec: number;
  /** unknown_transport (SCTP, GRE, IP-in-IP outer flows). */
  otherInactivitySec: number;
  /** Interim record every this many seconds of a connection's life; 0 disables. */
  interimIntervalSec: number;
  localNets: string[];
  communityIdSeed: number;
  /** Zeek tcp_attempt_delay: a SYN with no reply for this long ends the attempt (S0) and frees the 4-tuple. */
  tcpAttemptDelaySec: number;
  /** Zeek tcp_close_delay: a fully closed (or reset) connection is removed this long after its last activity. */
  tcpCloseDelaySec: number;
  /** Zeek tcp_reset_delay: a RST after a FIN removes the connection this long after the RST. */
  tcpResetDelaySec: number;
  /**
   * Zeek without -C: a packet whose IPv4 header checksum fails is dropped unseen; one whose TCP
   * or UDP checksum fails is dropped after a `C`/`c` in its connection's history. Off by default,
   * as `zeek -C`: captures taken in pods and on nodes carry offloaded (unfilled) checksums.
   */
  verifyChecksums: boolean;
  /** Zeek's frameworks/conn_key/vlan_fivetuple: VLAN and inner VLAN join the 5-tuple in the key. */
  keyVlan: boolean;
  /** Likewise for the tunnel (kind and VNI / GRE key) a layer arrived in, for overlays that reuse addresses. */
  keyTunnel: boolean;
  /** Zeek Tunnel::max_changes_per_connection: outer-flow changes noted (tunnel_parents) before `X` marks the history; 0 = no limit. */
  tunnelMaxChanges: number;
  /** Zeek dns_session_timeout: a UDP DNS connection idle this long is removed at its analyzer's next 10 s tick. */
  dnsSessionTimeoutSec: number;
  /** Zeek likely_server_ports: decides the initial role flip for mid-stream TCP and for UDP. */
  likelyServerPortsTcp: number[];
  likelyServerPortsUdp: number[];
  /** Payload analysis: called for each new connection; null (the default) analyses no payload. */
  payload: PayloadObserverFactory | null;
  /** Out-of-order TCP bytes held for payload analysis, per direction and across all connections. */
  reassemblyPerDirectionBytes: number;
  reassemblyTotalBytes: number;
}

export interface TrackerStats {
  live: number;
  created: number;
  emitted: number;
  forcedFlushes: number;
  timedOut: number;
  interim: number;
}

/** Ports Zeek's default analyzers register (and thereby put in likely_server_ports). */
export const DEFAULT_LIKELY_SERVER_PORTS_TCP: readonly number[] = [
  21, 22, 23, 25, 53, 79, 80, 81, 88, 110, 113, 135, 139, 143, 179, 389, 443, 445, 465, 502, 563, 585, 587, 614, 631, 636, 989, 990, 992, 993, 995, 1080, 1433,
  1883, 2049, 2811, 3128, 3268, 3306, 3389, 5060, 5222, 5223, 5269, 5432, 5900, 6379, 6443, 6666, 6667, 6668, 6669, 8000, 8080, 8443, 8888, 9200, 20000,
];
// 67 without 68: Zeek's DHCP script adds only the server port, so a reply to a client is flipped.
export const DEFAULT_LIKELY_SERVER_PORTS_UDP: readonly number[] = [
  53, 67, 69, 88, 123, 137, 138, 161, 162, 443, 500, 514, 1812, 1813, 2123, 2152, 3478, 3544, 4500, 4789, 5060, 5072, 5353, 5355, 6081, 47808,
];

/**
 * likely_server_ports of `zeek -b` (bare mode: only the packet-protocol scripts add theirs:
 * GTPv1, Teredo, VXLAN, Geneve, AYIYA), for comparing with baselines Zeek produced that way.
 */
export const BARE_LIKELY_SERVER_PORTS_TCP: readonly number[] = [];
export const BARE_LIKELY_SERVER_PORTS_UDP: readonly number[] = [2123, 2152, 3544, 4789, 5072, 6081];

export const TRACKER_DEFAULTS: TrackerOptions = {
  maxConnections: 1_000_000,
  tcpInactivitySec: 300,
  udpInactivitySec: 60,
  icmpInactivitySec: 60,
  otherInactivitySec: 60,
  interimIntervalSec: 3600,
  localNets: [...DEFAULT_LOCAL_NETS],
  communityIdSeed: 0,
  tcpAttemptDelaySec: 5,
  tcpCloseDelaySec: 5,
  tcpResetDelaySec: 5,
  verifyChecksums: false,
  keyVlan: false,
  keyTunnel: false,
  tunnelMaxChanges: 5,
  dnsSessionTimeoutSec: 10,
  likelyServerPortsTcp: [...DEFAULT_LIKELY_SERVER_PORTS_TCP],
  likelyServerPortsUdp: [...DEFAULT_LIKELY_SERVER_PORTS_UDP],
  payload: null,
  reassemblyPerDirectionBytes: 256 * 1024,
  reassemblyTotalBytes: 256 * 1024 * 1024,
};
