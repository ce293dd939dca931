/**
 * A decoded flow record as a connection record (parsers/record/conn.ts).
 *
 * A NetFlow v5/v9 or plain IPFIX record describes ONE direction: the record's source is taken as
 * the originator, and the resp_* counters stay 0; stitch.ts pairs the two directions into one
 * connection (records.ts does it for a collector) and marks a record left alone one-way. An IPFIX biflow (RFC 5103 reverse elements, e.g. `softflowd -b`) fills both sides,
 * oriented by biflowReversed (exporters may put either side forward).
 *
 * conn_state from the cumulative TCP flags (the exporter ORs every packet's flags, so order is lost):
 *   orig SYN, no ACK ............ RSTOS0 with RST, SH with FIN, else S0 (a reply would carry ACK)
 *   orig SYN+ACK, resp unknown .. RSTO with RST, S2 with FIN, else S1 (the ACK proves the handshake completed)
 *   orig SYN+ACK, resp SYN+ACK .. SF when both sent FIN; RSTO / RSTR on orig / resp RST; S2 / S3 one FIN; else S1
 *   orig SYN, resp RST, no SYN .. REJ
 *   no orig SYN, resp SYN+ACK ... RSTRH with resp RST, SHR with resp FIN, else OTH
 *   no SYN at all, or no flags .. OTH (midstream, as Zeek)
 *   UDP/ICMP/other: SF when a biflow shows reply packets, S0 when it shows none, OTH for a one-way record.
 * history: Zeek's letters for what the flags prove, in the canonical order a normal connection
 * produces them (S h A a D d F f R r; upper case orig, lower resp; `h` = SYN+ACK, `s` = bare SYN).
 * Never chronological: the flags carry no order. TCP D/d only when the payload estimate exceeds
 * what TCP options could account for (40 bytes a packet).
 *
 * orig_bytes/resp_bytes (payload) are estimates: IP bytes minus minimal headers per packet
 * (IPv4 20 / IPv6 40, plus TCP 20 / UDP 8 / ICMP 8). Exact for UDP and ICMP without IP options
 * or extension headers; for TCP an upper bound (TCP options are not visible). *_ip_bytes are exact.
 *
 * ICMP: Zeek's orig_p/resp_p are type/code. Taken from icmpTypeCode elements when present, else from
 * the destination port, where v5 and most v9 exporters (softflowd included) put type << 8 | code.
 */
import { communityIdFromBytes } from '../record/community-id';
import { formatAddress } from '../record/address';
import { LocalNets, DEFAULT_LOCAL_NETS } from '../record/local-nets';
import { UidGenerator } from '../record/uid';
import { transportOf, type ConnRecord, type ConnState } from '../record/conn';
import type { FlowFields } from './fields';

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

export interface ConverterOptions {
  /** Networks for local_orig/local_resp (default: as `analyze`). */
  localNets?: readonly string[];
}

function l4Header(proto: number): number {
  if (proto === 6) return 20;
  if (proto === 17 || proto === 1 || proto === 58) return 8;
  return 0;
}

/** Payload estimate (see the file comment). */
export function payloadEstimate(ipBytes: number, packets: number, ipVersion: number, proto: number): number {
  const per = (ipVersion === 6 ? 40 : 20) + l4Header(proto);
  return Math.max(0, ipBytes - packets * per);
}

/** conn_state from the OR of each side's TCP flags; `resp` -1 when the record is one-way. */
export function tcpConnState(orig: number, resp: number): ConnState {
  const oSyn = (orig & SYN) !== 0;
  const oAck = (orig & ACK) !== 0;
  const oFin = (orig & FIN) !== 0;
  const oRst = (orig & RST) !== 0;
  if (resp < 0) {
    if (oSyn && !oAck) return oRst ? 'RSTOS0' : oFin ? 'SH' : 'S0';
    if (oSyn && oAck) return oRst ? 'RSTO' : oFin ? 'S2' : 'S1';
    return 'OTH';
  }
  const rSyn = (resp & SYN) !== 0;
  const rAck = (resp & ACK) !== 0;
  const rFin = (resp & FIN) !== 0;
  const rRst = (resp & RST) !== 0;
  if (oSyn && rSyn && rAck) {
    if (oRst) return 'RSTO';
    if (rRst) return 'RSTR';
    if (oFin && rFin) return 'SF';
    if (oFin) return 'S2';
    if (rFin) return 'S3';
    return 'S1';
  }
  if (oSyn && !rSyn) {
    if (rRst) return 'REJ';
    if (resp === 0) return oRst ? 'RSTOS0' : oFin ? 'SH' : 'S0';
    return 'OTH';
  }
  if (!oSyn && rSyn && rAck) {
    if (rRst) return 'RSTRH';
    if (rFin) return 'SHR';
  }
  return 'OTH';
}

export function tcpHistory(orig: number, resp: number, origData: boolean, respData: boolean): string {
  let h = '';
  if (orig & SYN) h += 'S';
  if (resp > 0 && resp & SYN) h += resp & ACK ? 'h' : 's';
  if (orig & ACK) h += 'A';
  if (resp > 0 && resp & ACK && !(resp & SYN)) h += 'a';
  if (origData) h += 'D';
  if (respData) h += 'd';
  if (orig & FIN) h += 'F';
  if (resp > 0 && resp & FIN) h += 'f';
  if (orig & RST) h += 'R';
  if (resp > 0 && resp & RST) h += 'r';
  return h;
}

/**
 * A record that counts both directions: RFC 5103 reverse counters, IXIA's, or NSEL's
 * responderOctets (a reverse byte count without packets still describes the reply).
 */
export function isBiflow(f: FlowFields): boolean {
  return f.revPackets >= 0 || f.revBytes >= 0;
}

/**
 * Whether a biflow's reverse side is the originator. RFC 5103 lets the exporter pick the
 * forward side when it cannot tell (softflowd orders by address), so: the side that sent a bare
 * SYN opens a TCP connection; otherwise a well-known source port talking to an ephemeral one is
 * the server (Zeek guesses the same way for UDP).
 */
export function biflowReversed(f: FlowFields): boolean {
  if (f.proto === 6) {
    // Cumulative flags: an originator past its handshake shows SYN+ACK too, so only a bare SYN
    // proves the opener; a SYN+ACK facing no SYN at all marks the responder.
    const fwd = f.tcpFlags;
    const rev = Math.max(0, f.revTcpFlags);
    const bare = (x: number): boolean => (x & (SYN | ACK)) === SYN;
    const synAck = (x: number): boolean => (x & (SYN | ACK)) === (SYN | ACK);
    if (bare(rev) && !bare(fwd)) return true;
    if (bare(fwd) && !bare(rev)) return false;
    if (synAck(fwd) && (rev & SYN) === 0) return true;
    if (synAck(rev) && (fwd & SYN) === 0) return false;
  }
  if (f.proto !== 6 && f.proto !== 17 && f.proto !== 132) return false;
  return f.srcPort < 1024 && f.dstPort >= 1024;
}

function formatMac48(v: number): string | null {
  if (v < 0) return null;
  let s = '';
  for (let i = 5; i >= 0; i--) {
    const byte = Math.floor(v / 2 ** (8 * i)) % 256;
    s += (i < 5 ? ':' : '') + (byte < 16 ? '0' : '') + byte.toString(16);
  }
  return s;
}

export class FlowConverter {
  private readonly uids = new UidGenerator();
  private readonly local: LocalNets;

  constructor(opts: ConverterOptions = {}) {
    this.local = new LocalNets(opts.localNets ?? DEFAULT_LOCAL_NETS);
  }

  /** The connection record for a decoded flow, or null when the flow carries no IP addresses. */
  toConn(f: FlowFields): ConnRecord | null {
    if (f.ipVersion !== 4 && f.ipVersion !== 6) return null;
    const alen = f.ipVersion === 4 ? 4 : 16;
    const proto = f.proto;
    const transport = transportOf(proto);
    const biflow = isBiflow(f);
    const swap = biflow && biflowReversed(f);
    const orig = swap ? f.dst : f.src;
    const resp = swap ? f.src : f.dst;
    let sport = swap ? f.dstPort : f.srcPort;
    let dport = swap ? f.srcPort : f.dstPort;
    if (transport === 'icmp') {
      if (f.icmpType >= 0) {
        sport = f.icmpType;
        dport = Math.max(f.icmpCode, 0);
      } else {
        const tc = f.dstPort;
        sport = tc >> 8;
        dport = tc & 0xff;
      }
    }
    const origH = formatAddress(orig, 0, alen);
    const respH = formatAddress(resp, 0, alen);
    const fwdPkts = f.packets;
    const fwdBytes = f.bytes;
    const revPkts = biflow ? Math.max(0, f.revPackets) : 0;
    const revBytes = biflow && f.revBytes >= 0 ? f.revBytes : 0;
    const origPkts = swap ? revPkts : fwdPkts;
    const origIpBytes = swap ? revBytes : fwdBytes;
    const respPkts = swap ? fwdPkts : revPkts;
    const respIpBytes = swap ? fwdBytes : revBytes;
    const origBytes = payloadEstimate(origIpBytes, origPkts, f.ipVersion, proto);
    const respBytes = payloadEstimate(respIpBytes, respPkts, f.ipVersion, proto);

    let state: ConnState;
    let history = '';
    if (transport === 'tcp') {
      const rev = biflow ? Math.max(0, f.revTcpFlags) : -1;
      const of = swap ? rev : f.tcpFlags;
      const rf = swap ? f.tcpFlags : rev;
      state = of === 0 && rf <= 0 ? 'OTH' : tcpConnState(of, rf);
      // TCP options (up to 40 bytes a packet) hide in the estimate: D/d only when data is certain.
      history = tcpHistory(of, rf, origBytes > origPkts * 40, respBytes > respPkts * 40);
    } else {
      // A reply counted in bytes alone (NSEL has no packet counters) answers the connection too.
      state = biflow ? (respPkts > 0 || respIpBytes > 0 ? 'SF' : 'S0') : 'OTH';
      if (transport === 'udp') history = (origBytes > 0 ? 'D' : '') + (respBytes > 0 ? 'd' : '');
    }

    const startMs = f.startMs;
    const tsSec = Math.floor(startMs / 1000);
    const tsNsec = Math.round((startMs - tsSec * 1000) * 1e6);
    // Key: exporter and observation point first, so two exporters seeing the same flow keep two uids.
    const key = `${f.exporter}|${f.domain}|${proto}|${origH}|${sport}|${respH}|${dport}`;
    return {
      ts: startMs / 1000,
      uid: this.uids.next(key, tsSec, tsNsec),
      orig_h: origH,
      orig_p: sport,
      resp_h: respH,
      resp_p: dport,
      proto: transport,
      ip_proto: proto,
      service: [],
      duration: Math.max(0, f.endMs - startMs) / 1000,
      orig_bytes: origBytes,
      resp_bytes: respBytes,
      conn_state: state,
      local_orig: this.local.contains(orig, 0, alen),
      local_resp: this.local.contains(resp, 0, alen),
      missed_bytes: 0,
      history,
      orig_pkts: origPkts,
      orig_ip_bytes: origIpBytes,
      resp_pkts: respPkts,
      resp_ip_bytes: respIpBytes,
      tunnel_parents: [],
      community_id: communityIdFromBytes(0, proto, orig, 0, resp, 0, alen, sport, dport),
      vlan: f.vlan >= 0 ? f.vlan : null,
      inner_vlan: null,
      orig_l2_addr: formatMac48(swap ? f.dstMac : f.srcMac),
      resp_l2_addr: formatMac48(swap ? f.srcMac : f.dstMac),
      tunnel_type: null,
      tunnel_id: null,
      interim: false,
      source: f.version === 10 ? 'ipfix' : 'netflow',
    };
  }
}
