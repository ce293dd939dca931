/**
 * Turns a connection's state into its conn.log record: Zeek's conn_state rules, byte counts,
 * addresses and MACs formatted, Community ID, local_orig/local_resp.
 */
import { formatAddress, formatMac } from '../record/address';
import { communityIdFromBytes } from '../record/community-id';
import type { LocalNets } from '../record/local-nets';
import type { ConnRecord, ConnState, Transport } from '../record/conn';
import { type Conn, EMPTY_STRINGS, Ep, Kind, bytesOf, tcpSize } from './conn';
import type { ConnInfo } from '../record/app';

export class RecordBuilder {
  /** Scratch bytes to hand stored addresses and MACs to byte-oriented helpers. */
  private readonly scratchA = new Uint8Array(16);
  private readonly scratchB = new Uint8Array(16);

  constructor(
    private readonly local: LocalNets,
    private readonly seed: number,
  ) {}

  connState(c: Conn, history: string): ConnState {
    if (c.kind === Kind.TCP) {
      const t = c.tcp!;
      const os = t.orig.state;
      const rs = t.resp.state;
      const oInactive = os === Ep.INACTIVE || os === Ep.PARTIAL;
      const rInactive = rs === Ep.INACTIVE || rs === Ep.PARTIAL;
      if (rs === Ep.RESET) {
        if (os === Ep.SYN_SENT || os === Ep.SYN_ACK_SENT || (os === Ep.RESET && tcpSize(t.orig) === 0 && tcpSize(t.resp) === 0)) return 'REJ';
        return oInactive ? 'RSTRH' : 'RSTR';
      }
      if (os === Ep.RESET) {
        if (rInactive) return /^\^?S[^HAFGIQ]*R/.test(history) ? 'RSTOS0' : 'OTH';
        return 'RSTO';
      }
      if (rs === Ep.CLOSED && os === Ep.CLOSED) return 'SF';
      if (os === Ep.CLOSED) return rInactive ? 'SH' : 'S2';
      if (rs === Ep.CLOSED) return oInactive ? 'SHR' : 'S3';
      if (os === Ep.SYN_SENT && rs === Ep.INACTIVE) return 'S0';
      if (os === Ep.ESTABLISHED && rs === Ep.ESTABLISHED) return 'S1';
      return 'OTH';
    }
    if (c.kind === Kind.UDP) {
      if (c.origLen >= 0) return c.respLen >= 0 ? 'SF' : 'S0';
      return c.respLen >= 0 ? 'SHR' : 'OTH';
    }
    return 'OTH';
  }

  /** The identity of a connection for payload analysis, formatted once when it starts. */
  info(c: Conn): ConnInfo {
    return {
      uid: c.uid,
      proto: transportOf(c),
      orig_h: formatAddress(bytesOf(c.origAddr, this.scratchA), 0, c.addrLen),
      orig_p: c.origP,
      resp_h: formatAddress(bytesOf(c.respAddr, this.scratchB), 0, c.addrLen),
      resp_p: c.respP,
      ts: c.startTs,
    };
  }

  build(c: Conn, interim: boolean): ConnRecord {
    const history = c.hist;
    let ob: number;
    let rb: number;
    if (c.kind === Kind.TCP) {
      ob = tcpSize(c.tcp!.orig);
      rb = tcpSize(c.tcp!.resp);
    } else {
      ob = Math.max(c.origLen, 0);
      rb = Math.max(c.respLen, 0);
    }
    const oa = bytesOf(c.origAddr, this.scratchA);
    const ra = bytesOf(c.respAddr, this.scratchB);
    if (c.cid === null) {
      const sp = c.cidOrigP >= 0 ? c.cidOrigP : c.origP;
      const dp = c.cidOrigP >= 0 ? c.cidRespP : c.respP;
      c.cid = communityIdFromBytes(this.seed, c.ipProto, oa, 0, ra, 0, c.addrLen, sp, dp);
    }
    const local_orig = this.local.contains(oa, 0, c.addrLen);
    const local_resp = this.local.contains(ra, 0, c.addrLen);
    const proto = transportOf(c);
    const dur = c.lastSec - c.firstSec + (c.lastNsec - c.firstNsec) / 1e9;
    const r: ConnRecord = {
      ts: c.startTs,
      uid: c.uid,
      orig_h: formatAddress(oa, 0, c.addrLen),
      orig_p: c.origP,
      resp_h: formatAddress(ra, 0, c.addrLen),
      resp_p: c.respP,
      proto,
      ip_proto: c.ipProto,
      service: c.service !== null ? c.service.slice() : EMPTY_STRINGS.slice(),
      duration: dur > 0 ? Math.round(dur * 1e9) / 1e9 : 0,
      orig_bytes: ob,
      resp_bytes: rb,
      conn_state: this.connState(c, history),
      local_orig,
      local_resp,
      missed_bytes: c.missed,
      history,
      orig_pkts: c.origPkts,
      orig_ip_bytes: c.origIpBytes,
      resp_pkts: c.respPkts,
      resp_ip_bytes: c.respIpBytes,
      tunnel_parents: c.parents !== null ? c.parents.slice() : EMPTY_STRINGS.slice(),
      community_id: c.cid,
      vlan: c.vlan,
      inner_vlan: c.innerVlan,
      orig_l2_addr: c.origMac === null ? null : formatMac(bytesOf(c.origMac, this.scratchA), 0),
      resp_l2_addr: c.respMac === null ? null : formatMac(bytesOf(c.respMac, this.scratchA), 0),
      tunnel_type: c.tunnelType,
      tunnel_id: c.tunnelId,
      interim,
    };
    return r;
  }
}

function transportOf(c: Conn): Transport {
  return c.kind === Kind.TCP ? 'tcp' : c.kind === Kind.UDP ? 'udp' : c.kind === Kind.ICMP ? 'icmp' : 'unknown_transport';
}
