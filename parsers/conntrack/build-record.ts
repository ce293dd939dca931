/**
 * Turns a connection's state into its conn.log record: Zeek's conn_state rules, byte counts,
 * addresses and MACs formatted, Community ID, local_orig/local_resp.
 */
import { formatAddress, formatMac } from '../record/address';
import { communityIdFromBytes } from '../record/community-id';
import type { LocalNets } from '../record/local-nets';
import type { ConnRecord, ConnState, Transport } from '../record/conn';
import { type Conn, type ConnColumns, EMPTY_STRINGS, Ep, Kind, T_FIRST_SEC, T_LAST_SEC, T_WORDS, bytesOf, startTs } from './conn';
import { E_STATE, EI, type TcpTable, tcpSize } from './tcp-table';
import type { ConnInfo } from '../record/app';

/** An address as the record shows it, and whether it is in the local networks. */
interface AddrText {
  readonly text: string;
  readonly local: boolean;
}

/**
 * Entries kept per cache before it starts over. Records repeat a few addresses and MACs (pods,
 * gateways) many times; formatting builds a dozen intermediate strings per field, a sizeable share
 * of what analyze allocates on many short connections.
 */
const TEXT_CACHE_MAX = 16384;

export class RecordBuilder {
  /** Scratch bytes to hand stored addresses and MACs to byte-oriented helpers. */
  private readonly scratchA = new Uint8Array(16);
  private readonly scratchB = new Uint8Array(16);
  /** Keyed by the stored (latin1) address and MAC strings; the local networks never change. */
  private readonly addrs = new Map<string, AddrText>();
  private readonly macs = new Map<string, string>();

  constructor(
    private readonly local: LocalNets,
    private readonly seed: number,
    private readonly tcp: TcpTable,
    private readonly conns: ConnColumns,
  ) {}

  connState(c: Conn, history: string): ConnState {
    if (c.kind === Kind.TCP) {
      const t = this.tcp;
      const oe = t.origEp(c.tcp);
      const re = oe ^ 1;
      const os = t.i32[oe * EI + E_STATE];
      const rs = t.i32[re * EI + E_STATE];
      const oInactive = os === Ep.INACTIVE || os === Ep.PARTIAL;
      const rInactive = rs === Ep.INACTIVE || rs === Ep.PARTIAL;
      if (rs === Ep.RESET) {
        if (os === Ep.SYN_SENT || os === Ep.SYN_ACK_SENT || (os === Ep.RESET && tcpSize(t, oe) === 0 && tcpSize(t, re) === 0)) return 'REJ';
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
      // From the cache: a formatted IPv4 address is a chain of concatenations, and one kept per
      // live connection and side was ~60 bytes each (heap snapshot of a 78k-connection table).
      orig_h: this.addrText(c.origAddr, c.addrLen).text,
      orig_p: c.origP,
      resp_h: this.addrText(c.respAddr, c.addrLen).text,
      resp_p: c.respP,
      ts: startTs(c, this.conns.cols),
    };
  }

  build(c: Conn, interim: boolean): ConnRecord {
    const history = c.hist;
    let ob: number;
    let rb: number;
    if (c.kind === Kind.TCP) {
      const oe = this.tcp.origEp(c.tcp);
      ob = tcpSize(this.tcp, oe);
      rb = tcpSize(this.tcp, oe ^ 1);
    } else {
      ob = Math.max(c.origLen, 0);
      rb = Math.max(c.respLen, 0);
    }
    // Not kept on the connection: computed once per record (interim records are rare), and a
    // role flip would have to drop a kept one.
    const x = c.x;
    const oa = bytesOf(c.origAddr, this.scratchA);
    const ra = bytesOf(c.respAddr, this.scratchB);
    const sctp = x !== null && x.cidOrigP >= 0;
    const cid = communityIdFromBytes(this.seed, c.ipProto, oa, 0, ra, 0, c.addrLen, sctp ? x.cidOrigP : c.origP, sctp ? x.cidRespP : c.respP);
    const orig = this.addrText(c.origAddr, c.addrLen);
    const resp = this.addrText(c.respAddr, c.addrLen);
    const proto = transportOf(c);
    const cols = this.conns.cols;
    const at = c.fid * T_WORDS;
    const dur = cols[at + T_LAST_SEC] - cols[at + T_FIRST_SEC] + (c.lastNsec - c.firstNsec) / 1e9;
    const r: ConnRecord = {
      ts: startTs(c, cols),
      uid: c.uid,
      orig_h: orig.text,
      orig_p: c.origP,
      resp_h: resp.text,
      resp_p: c.respP,
      proto,
      ip_proto: c.ipProto,
      service: c.service !== null ? c.service.slice() : EMPTY_STRINGS.slice(),
      duration: dur > 0 ? Math.round(dur * 1e9) / 1e9 : 0,
      orig_bytes: ob,
      resp_bytes: rb,
      conn_state: this.connState(c, history),
      local_orig: orig.local,
      local_resp: resp.local,
      missed_bytes: c.missed,
      history,
      orig_pkts: c.origPkts,
      orig_ip_bytes: c.origIpBytes,
      resp_pkts: c.respPkts,
      resp_ip_bytes: c.respIpBytes,
      tunnel_parents: x !== null && x.parents !== null ? x.parents.slice() : EMPTY_STRINGS.slice(),
      community_id: cid,
      vlan: x !== null ? x.vlan : null,
      inner_vlan: x !== null ? x.innerVlan : null,
      orig_l2_addr: c.origMac === null ? null : this.macText(c.origMac),
      resp_l2_addr: c.respMac === null ? null : this.macText(c.respMac),
      tunnel_type: x !== null ? x.tunnelType : null,
      tunnel_id: x !== null ? x.tunnelId : null,
      interim,
    };
    return r;
  }

  /** `raw`: an address as the connection stores it (its bytes as latin1). */
  private addrText(raw: string, len: number): AddrText {
    let e = this.addrs.get(raw);
    if (e === undefined) {
      const b = bytesOf(raw, this.scratchA);
      e = { text: formatAddress(b, 0, len), local: this.local.contains(b, 0, len) };
      if (this.addrs.size >= TEXT_CACHE_MAX) this.addrs.clear();
      this.addrs.set(raw, e);
    }
    return e;
  }

  private macText(raw: string): string {
    let t = this.macs.get(raw);
    if (t === undefined) {
      t = formatMac(bytesOf(raw, this.scratchA), 0);
      if (this.macs.size >= TEXT_CACHE_MAX) this.macs.clear();
      this.macs.set(raw, t);
    }
    return t;
  }
}

function transportOf(c: Conn): Transport {
  return c.kind === Kind.TCP ? 'tcp' : c.kind === Kind.UDP ? 'udp' : c.kind === Kind.ICMP ? 'icmp' : 'unknown_transport';
}
