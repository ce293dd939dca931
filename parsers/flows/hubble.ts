/**
 * Cilium Hubble flows (`hubble observe -o json`: the `{"flow": {...}}` envelope of the Observer
 * API, or the bare flow object of older CLIs) folded into connections.
 *
 * Hubble emits one event per observed packet (or verdict), not per connection. Events are
 * grouped by 5-tuple: the originator is the source of the first event unless that event is a
 * reply (`is_reply`, or the deprecated `reply`), a TCP SYN-ACK, or an ICMP reply type; later
 * events of either direction join it. A connection ends (is emitted) when FIN was seen both
 * ways or a RST was seen, after a 5 s grace for the last ACKs (Zeek's tcp_close_delay), when a
 * fresh SYN reuses the tuple, after an inactivity timeout in event time (Zeek's 300 s TCP,
 * 60 s UDP/ICMP/other), or at the end of the input.
 *
 * What Hubble cannot give: byte counts (orig_bytes, *_ip_bytes stay 0); packet counts are the
 * L3/L4 events seen per direction (a packet seen at two observation points counts twice; Hubble
 * may also sample). With Cilium's default monitor aggregation (`medium`; `monitorAggregation`
 * option, default 'medium' since the events do not say) the datapath reports per conntrack entry
 * and direction only the first packet, a packet adding SYN, FIN or RST (monitor-aggregation-flags)
 * and one packet more than 5 s (monitor-aggregation-interval) after the last report: the
 * counts are then report counts (`counts: 'reports'`), the handshake's SYN-ACK and both sides'
 * FIN/RST are always there, is_reply still tells the directions apart, and data packets are
 * mostly missing (no 'd' in the history of a short reply). conn_state and history follow Zeek's rules applied to the TCP flags seen
 * (each history letter recorded once): S/s SYN, H/h SYN-ACK, A/a pure ACK, D/d PSH (data) or any
 * UDP/ICMP packet, F/f FIN, R/r RST. Identities go to `k8s` (namespace, pod, workload, labels,
 * service, node) as Hubble reports them; the inventory resolver fills gaps later. L7 events add
 * their protocol to `service` (dns, http, kafka) and extend the connection but are not packets.
 *
 * What Hubble could not see is said on the record (`observed`, parsers/record/conn.ts):
 * - 'midstream': a TCP connection with no SYN or SYN-ACK from either side (it opened before the
 *   capture window, or only proxy L7 events were seen: kubelet probes from `reserved:host`
 *   through a long-lived connection). conn_state as Zeek gives a connection whose endpoints are
 *   both partial: SF with FIN both ways, SH / SHR with one side's FIN, RSTRH / OTH with a RST, else OTH.
 * - 'one-way': a TCP connection whose originator acknowledged after its SYN (so the SYN-ACK
 *   came back) but whose responder's packets were observed elsewhere (Hubble sees a flow at one
 *   node's observation point). conn_state as for a one-way flow record: S1, S2 with FIN, RSTO with RST.
 * Verdicts: Cilium's verdict of the events (DROPPED, AUDIT, ERROR, REDIRECTED, FORWARDED; the most
 * severe one wins), `drop_reason_desc`, and the policies Hubble names as allowing or denying each
 * direction (`egress_allowed_by`, `ingress_denied_by`, ...) go to `k8s.policy`: `verdict`
 * 'denied' when a policy dropped the flow (a POLICY_* drop reason or a denying policy named), else
 * 'allowed'; the direction of the drop (traffic_direction) 'denied', a direction with allowing
 * policies 'allowed', one Hubble did not report on 'not-applicable'; `dataplane_verdict` and
 * `drop_reason` as Cilium gave them. Connections whose events were all FORWARDED without policy
 * names get no `policy`. A dropped packet did not reach its peer, so a flow whose SYNs were all
 * dropped stays S0 (never answered).
 */
import type { AppRecordOut } from '../record/app';
import type { ConnRecord, ConnState } from '../record/conn';
import { HubbleHttpLog } from './hubble-http';
import type { ConnK8s, K8sDirection, K8sDirVerdict, K8sEnd, K8sEndKind, K8sPolicyVerdict, K8sScope } from '../record/k8s';
import { icmpCounterpart } from '../record/community-id';
import type { UidGenerator } from '../record/uid';
import {
  type Addr,
  type FormatParser,
  type ParserCounters,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_SCTP,
  PROTO_TCP,
  PROTO_UDP,
  type RecordKit,
  addrOf,
  fail,
  portOf,
  rfc3339Of,
  show,
  splitTs,
} from './common';
import type { HubbleFoldOptions } from './types';
import { parseObject } from './zeek';

interface HubbleEndpoint {
  ID?: number;
  identity?: number;
  namespace?: string;
  labels?: string[];
  pod_name?: string;
  workloads?: { name?: string; kind?: string }[];
}

interface HubbleService {
  name?: string;
  namespace?: string;
}

// Per-direction TCP observations, as bits.
const B_SYN = 1; // SYN without ACK
const B_SYNACK = 2;
const B_FIN = 4;
const B_RST = 8;
const B_ANY = 16;
const B_ACK = 32; // an ACK without SYN

/** Cilium verdicts by severity: the connection keeps its most severe one. */
const VERDICT_RANK: Readonly<Record<string, number>> = {
  FORWARDED: 1,
  TRACED: 1,
  TRANSLATED: 1,
  REDIRECTED: 2,
  AUDIT: 3,
  ERROR: 4,
  DROPPED: 5,
};

interface HConn {
  key: string;
  first: number;
  last: number;
  ipProto: number;
  orig: Addr;
  resp: Addr;
  origP: number;
  respP: number;
  origPkts: number;
  respPkts: number;
  origBits: number;
  respBits: number;
  history: string;
  services: string[];
  origEp: HubbleEndpoint | undefined;
  respEp: HubbleEndpoint | undefined;
  respService: HubbleService | undefined;
  origService: HubbleService | undefined;
  origNode: string | undefined;
  respNode: string | undefined;
  done: boolean;
  /** Most severe Cilium verdict of its events, and the drop reason and direction of a drop. */
  verdict: string | undefined;
  dropReason: string | undefined;
  dropDirection: string | undefined;
  /** "namespace/name" of the policies Hubble named, per direction. */
  egressAllowed: string[];
  ingressAllowed: string[];
  egressDenied: string[];
  ingressDenied: string[];
  /** HTTP transactions of its L7 events, emitted with it (only when the caller takes app records). */
  http: HubbleHttpLog | undefined;
  /** Which of the three activity-ordered tables holds it. */
  table: Map<string, HConn>;
}

const ICMP4_REQUESTS: ReadonlySet<number> = new Set([8, 13, 15, 10, 17]);
const ICMP6_REQUESTS: ReadonlySet<number> = new Set([128, 133, 135, 130, 139, 144]);

const CLOSE_DELAY = 5;

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function addLetter(c: HConn, l: string): void {
  if (c.history.indexOf(l) < 0) c.history += l;
}

export class HubbleParser implements FormatParser {
  // Live connections in activity order (oldest first), one table per timeout so expiry only looks at the front.
  private readonly tcp = new Map<string, HConn>();
  private readonly other = new Map<string, HConn>();
  private readonly closing = new Map<string, HConn>();
  private readonly byKey = new Map<string, HConn>();
  private now = 0;
  private readonly tcpTimeout: number;
  private readonly otherTimeout: number;
  private readonly icmpTimeout: number;
  private readonly maxConnections: number;
  /** Events are monitor-aggregation reports, not packets (see HubbleFoldOptions.monitorAggregation). */
  private readonly reportCounts: boolean;

  constructor(
    private readonly kit: RecordKit,
    private readonly uids: UidGenerator,
    private readonly emit: (r: ConnRecord) => void,
    private readonly counters: ParserCounters,
    opts: HubbleFoldOptions = {},
    /** Takes the http records of L7 HTTP events, each with its connection's uid, right after that connection. */
    private readonly emitApp?: (r: AppRecordOut) => void,
  ) {
    this.tcpTimeout = opts.tcpTimeout ?? 300;
    this.otherTimeout = opts.udpTimeout ?? 60;
    this.icmpTimeout = opts.icmpTimeout ?? 60;
    this.maxConnections = opts.maxConnections ?? 1_000_000;
    this.reportCounts = (opts.monitorAggregation ?? 'medium') !== 'none';
  }

  line(text: string): void {
    const o = parseObject(text);
    const f =
      obj(o.flow) ?? (o.IP !== undefined || o.verdict !== undefined || o.l4 !== undefined || (o.time !== undefined && o.Type !== undefined) ? o : undefined);
    if (f === undefined) {
      // agent_event, debug_event, lost_events and the like: not flows.
      this.counters.ignored++;
      return;
    }
    const ts = rfc3339Of('time', f.time);
    const ip = obj(f.IP);
    if (ip === undefined) {
      // Non-IP flows (ARP, bare Ethernet) have no connection to join.
      this.counters.ignored++;
      return;
    }
    this.counters.events++;
    const src = addrOf('IP.source', ip.source);
    const dst = addrOf('IP.destination', ip.destination);
    if (src.bytes.length !== dst.bytes.length) fail('IP', `address families differ: ${src.text} / ${dst.text}`);
    const isL7 = f.Type === 'L7';
    const replyRaw = f.is_reply ?? f.reply;
    const isReply = typeof replyRaw === 'boolean' ? replyRaw : undefined;

    // Transport and ports; `fromOrig` undefined means "decide by table lookup".
    const l4 = obj(f.l4);
    let ipProto = 0;
    let sp = 0;
    let dp = 0;
    let flags: Record<string, unknown> | undefined;
    let icmpOriented: { origP: number; respP: number; fromOrig: boolean } | undefined;
    if (l4 !== undefined) {
      const tcp = obj(l4.TCP);
      const udp = obj(l4.UDP);
      const sctp = obj(l4.SCTP);
      const icmp4 = obj(l4.ICMPv4);
      const icmp6 = obj(l4.ICMPv6);
      const ported = tcp ?? udp ?? sctp;
      if (ported !== undefined) {
        ipProto = tcp ? PROTO_TCP : udp ? PROTO_UDP : PROTO_SCTP;
        const which = tcp ? 'l4.TCP' : udp ? 'l4.UDP' : 'l4.SCTP';
        sp = portOf(`${which}.source_port`, ported.source_port ?? 0);
        dp = portOf(`${which}.destination_port`, ported.destination_port ?? 0);
        if (tcp) flags = obj(tcp.flags);
      } else if (icmp4 !== undefined || icmp6 !== undefined) {
        ipProto = icmp4 ? PROTO_ICMP : PROTO_ICMPV6;
        const m = (icmp4 ?? icmp6)!;
        const type = num(m.type ?? 0);
        const code = num(m.code ?? 0);
        if (type === undefined || type < 0 || type > 255) fail('l4.ICMP.type', `${show(m.type)} is not an ICMP type`);
        if (code === undefined || code < 0 || code > 255) fail('l4.ICMP.code', `${show(m.code)} is not an ICMP code`);
        // Zeek's ICMP "ports": request type and its reply type, whichever way the packet went.
        const cp = icmpCounterpart(ipProto, type);
        const requests = ipProto === PROTO_ICMP ? ICMP4_REQUESTS : ICMP6_REQUESTS;
        if (cp < 0) icmpOriented = { origP: type, respP: code, fromOrig: true };
        else if (requests.has(type)) icmpOriented = { origP: type, respP: cp, fromOrig: true };
        else icmpOriented = { origP: cp, respP: type, fromOrig: false };
      }
    }

    const syn = flags?.SYN === true;
    const ack = flags?.ACK === true;
    let c: HConn | undefined;
    let fromOrig: boolean;
    if (icmpOriented !== undefined) {
      fromOrig = icmpOriented.fromOrig;
      const [oa, ra] = fromOrig ? [src, dst] : [dst, src];
      const key = `${ipProto}|${oa.text}|${icmpOriented.origP}|${ra.text}|${icmpOriented.respP}`;
      c = this.byKey.get(key);
      if (c !== undefined && ts - c.last > this.timeoutOf(c)) {
        this.finish(c);
        c = undefined;
      }
      c ??= this.open(key, ts, ipProto, oa, icmpOriented.origP, ra, icmpOriented.respP);
    } else {
      const fwd = `${ipProto}|${src.text}|${sp}|${dst.text}|${dp}`;
      const rev = `${ipProto}|${dst.text}|${dp}|${src.text}|${sp}`;
      c = this.byKey.get(fwd);
      fromOrig = true;
      if (c === undefined) {
        c = this.byKey.get(rev);
        fromOrig = false;
      }
      // A new SYN on a finished connection starts the next one on the same tuple; so does an
      // event after the connection's idle timeout (even before a sweep has noticed).
      if (c !== undefined && ((c.done && syn && !ack) || ts - c.last > this.timeoutOf(c))) {
        this.finish(c);
        c = undefined;
      }
      if (c === undefined) {
        fromOrig = !(isReply === true || (syn && ack));
        c = fromOrig ? this.open(fwd, ts, ipProto, src, sp, dst, dp) : this.open(rev, ts, ipProto, dst, dp, src, sp);
      }
    }

    // Event times from a relay can be slightly out of order.
    if (ts < c.first) c.first = ts;
    if (ts > c.last) c.last = ts;
    if (ts > this.now) this.now = ts;

    const srcEp = obj(f.source) as HubbleEndpoint | undefined;
    const dstEp = obj(f.destination) as HubbleEndpoint | undefined;
    const origEp = fromOrig ? srcEp : dstEp;
    const respEp = fromOrig ? dstEp : srcEp;
    if (origEp !== undefined && (c.origEp === undefined || (c.origEp.pod_name === undefined && origEp.pod_name !== undefined))) c.origEp = origEp;
    if (respEp !== undefined && (c.respEp === undefined || (c.respEp.pod_name === undefined && respEp.pod_name !== undefined))) c.respEp = respEp;
    const srcSvc = obj(f.source_service) as HubbleService | undefined;
    const dstSvc = obj(f.destination_service) as HubbleService | undefined;
    const respSvc = fromOrig ? dstSvc : srcSvc;
    const origSvc = fromOrig ? srcSvc : dstSvc;
    if (typeof respSvc?.name === 'string' && c.respService === undefined) c.respService = respSvc;
    if (typeof origSvc?.name === 'string' && c.origService === undefined) c.origService = origSvc;
    // traffic_direction is the connection's direction seen from the local endpoint (replies keep
    // it): EGRESS means the observing node hosts the originator, INGRESS the responder.
    if (typeof f.node_name === 'string') {
      if (f.traffic_direction === 'EGRESS') c.origNode ??= f.node_name;
      else if (f.traffic_direction === 'INGRESS') c.respNode ??= f.node_name;
    }

    this.verdictEvent(c, f);

    if (isL7) {
      const l7 = obj(f.l7);
      const svc = l7 === undefined ? undefined : l7.dns !== undefined ? 'dns' : l7.http !== undefined ? 'http' : l7.kafka !== undefined ? 'kafka' : undefined;
      if (svc !== undefined && !c.services.includes(svc)) c.services.push(svc);
      if (svc === 'http' && this.emitApp !== undefined && l7 !== undefined) {
        c.http ??= new HubbleHttpLog();
        c.http.event(l7, ts);
      }
    } else {
      if (fromOrig) c.origPkts++;
      else c.respPkts++;
      if (ipProto === PROTO_TCP) this.tcpEvent(c, fromOrig, flags);
      else addLetter(c, fromOrig ? 'D' : 'd');
    }
    this.touch(c);
    this.expire();
  }

  end(): void {
    // Whatever is still open at the end, in order of first packet (deterministic output).
    const open = [...this.closing.values(), ...this.other.values(), ...this.tcp.values()].sort((a, b) => a.first - b.first);
    for (const c of open) this.finish(c);
  }

  private open(key: string, ts: number, ipProto: number, orig: Addr, origP: number, resp: Addr, respP: number): HConn {
    const c: HConn = {
      key,
      first: ts,
      last: ts,
      ipProto,
      orig,
      resp,
      origP,
      respP,
      origPkts: 0,
      respPkts: 0,
      origBits: 0,
      respBits: 0,
      history: '',
      services: [],
      origEp: undefined,
      respEp: undefined,
      respService: undefined,
      origService: undefined,
      origNode: undefined,
      respNode: undefined,
      done: false,
      verdict: undefined,
      dropReason: undefined,
      dropDirection: undefined,
      egressAllowed: [],
      ingressAllowed: [],
      egressDenied: [],
      ingressDenied: [],
      http: undefined,
      table: ipProto === PROTO_TCP ? this.tcp : this.other,
    };
    this.byKey.set(key, c);
    if (this.byKey.size > this.maxConnections) {
      const oldest = [this.closing, this.other, this.tcp]
        .map((t) => t.values().next().value as HConn | undefined)
        .filter((x): x is HConn => x !== undefined)
        .sort((a, b) => a.last - b.last)[0];
      if (oldest !== undefined) this.finish(oldest);
    }
    return c;
  }

  private verdictEvent(c: HConn, f: Record<string, unknown>): void {
    const v = typeof f.verdict === 'string' ? f.verdict : undefined;
    if (v !== undefined && (VERDICT_RANK[v] ?? 0) >= (VERDICT_RANK[c.verdict ?? ''] ?? 0)) {
      c.verdict = v;
      if (v === 'DROPPED') {
        if (typeof f.drop_reason_desc === 'string') c.dropReason = f.drop_reason_desc;
        if (typeof f.traffic_direction === 'string') c.dropDirection = f.traffic_direction;
      }
    }
    policyNames(f.egress_allowed_by, c.egressAllowed);
    policyNames(f.ingress_allowed_by, c.ingressAllowed);
    policyNames(f.egress_denied_by, c.egressDenied);
    policyNames(f.ingress_denied_by, c.ingressDenied);
  }

  private tcpEvent(c: HConn, fromOrig: boolean, flags: Record<string, unknown> | undefined): void {
    const syn = flags?.SYN === true;
    const ack = flags?.ACK === true;
    const fin = flags?.FIN === true;
    const rst = flags?.RST === true;
    const psh = flags?.PSH === true;
    let bits = B_ANY;
    if (syn) bits |= ack ? B_SYNACK : B_SYN;
    if (fin) bits |= B_FIN;
    if (rst) bits |= B_RST;
    if (ack && !syn) bits |= B_ACK;
    if (fromOrig) c.origBits |= bits;
    else c.respBits |= bits;
    if (syn) addLetter(c, ack ? (fromOrig ? 'H' : 'h') : fromOrig ? 'S' : 's');
    if (psh) addLetter(c, fromOrig ? 'D' : 'd');
    else if (ack && !syn && !fin && !rst) addLetter(c, fromOrig ? 'A' : 'a');
    if (fin) addLetter(c, fromOrig ? 'F' : 'f');
    if (rst) addLetter(c, fromOrig ? 'R' : 'r');
    if (!c.done && (rst || (c.origBits & B_FIN && c.respBits & B_FIN))) {
      c.done = true;
      c.table.delete(c.key);
      c.table = this.closing;
    }
  }

  /** Move to the back of its table: tables stay ordered by last activity. */
  private touch(c: HConn): void {
    c.table.delete(c.key);
    c.table.set(c.key, c);
  }

  private timeoutOf(c: HConn): number {
    if (c.done) return CLOSE_DELAY;
    if (c.ipProto === PROTO_TCP) return this.tcpTimeout;
    return c.ipProto === PROTO_ICMP || c.ipProto === PROTO_ICMPV6 ? this.icmpTimeout : this.otherTimeout;
  }

  private expire(): void {
    this.expireTable(this.closing, CLOSE_DELAY);
    this.expireTable(this.tcp, this.tcpTimeout);
    this.expireTable(this.other, Math.min(this.otherTimeout, this.icmpTimeout));
  }

  private expireTable(t: Map<string, HConn>, minTimeout: number): void {
    for (const c of t.values()) {
      if (c.last + minTimeout >= this.now) return;
      // ICMP and UDP share a table; one whose own timeout is longer only delays the sweep.
      if (c.last + this.timeoutOf(c) >= this.now) return;
      this.finish(c);
    }
  }

  private finish(c: HConn): void {
    c.table.delete(c.key);
    if (this.byKey.get(c.key) === c) this.byKey.delete(c.key);
    const [s, ns] = splitTs(c.first);
    const uid = this.uids.next(`hubble|${c.key}`, s, ns);
    const r = this.kit.base(c.first, uid, { orig: c.orig, resp: c.resp, origP: c.origP, respP: c.respP, ipProto: c.ipProto });
    r.duration = Math.round((c.last - c.first) * 1e6) / 1e6;
    r.orig_pkts = c.origPkts;
    r.resp_pkts = c.respPkts;
    r.history = c.history;
    r.service = c.services;
    r.conn_state = connState(c);
    if (c.ipProto === PROTO_TCP) {
      const any = c.origBits | c.respBits;
      if ((any & (B_SYN | B_SYNACK)) === 0) r.observed = 'midstream';
      else if (c.respPkts === 0 && c.origBits & B_SYN && c.origBits & B_ACK && c.verdict !== 'DROPPED') {
        // The originator's ACK after its SYN proves the SYN-ACK: the reply was observed elsewhere.
        r.observed = 'one-way';
        r.conn_state = c.origBits & B_RST ? 'RSTO' : c.origBits & B_FIN ? 'S2' : 'S1';
      }
    }
    if (this.reportCounts) r.counts = 'reports';
    const k8s = k8sOf(c);
    if (k8s !== undefined) {
      const policy = policyOf(c);
      if (policy !== undefined) k8s.policy = policy;
      r.k8s = k8s;
    }
    this.emit(r);
    if (c.http !== undefined && this.emitApp !== undefined) {
      const conn = { uid, proto: r.proto, orig_h: r.orig_h, orig_p: r.orig_p, resp_h: r.resp_h, resp_p: r.resp_p, ts: r.ts };
      for (const h of c.http.done()) this.emitApp({ ...h, uid, conn });
      this.counters.ignored += c.http.dropped;
    }
  }
}

/** Hubble's Policy objects ({name, namespace, ...}) as "namespace/name" (cluster-wide ones: name), added once. */
function policyNames(v: unknown, into: string[]): void {
  if (!Array.isArray(v)) return;
  for (const p of v) {
    const o = obj(p);
    if (o === undefined || typeof o.name !== 'string') continue;
    const n = typeof o.namespace === 'string' && o.namespace !== '' ? `${o.namespace}/${o.name}` : o.name;
    if (!into.includes(n)) into.push(n);
  }
}

/** The policy verdict Hubble reported for the connection (see the file comment), or undefined when it reported none. */
function policyOf(c: HConn): K8sPolicyVerdict | undefined {
  const named = c.egressAllowed.length + c.ingressAllowed.length + c.egressDenied.length + c.ingressDenied.length > 0;
  if (!named && (c.verdict === undefined || (VERDICT_RANK[c.verdict] ?? 0) <= 2)) return undefined;
  const policyDrop = c.verdict === 'DROPPED' && c.dropReason !== undefined && /POLICY/.test(c.dropReason);
  const dir = (denied: string[], allowed: string[], name: string): K8sDirVerdict =>
    denied.length > 0 || (policyDrop && c.dropDirection === name) ? 'denied' : allowed.length > 0 ? 'allowed' : 'not-applicable';
  const egress = dir(c.egressDenied, c.egressAllowed, 'EGRESS');
  const ingress = dir(c.ingressDenied, c.ingressAllowed, 'INGRESS');
  const p: K8sPolicyVerdict = {
    verdict: policyDrop || egress === 'denied' || ingress === 'denied' ? 'denied' : 'allowed',
    egress,
    ingress,
    denied_by: [...c.egressDenied, ...c.ingressDenied],
    allowed_by: [...c.egressAllowed, ...c.ingressAllowed],
  };
  if (c.verdict !== undefined) p.dataplane_verdict = c.verdict;
  if (c.dropReason !== undefined) p.drop_reason = c.dropReason;
  return p;
}

/** Zeek's conn_state rules on what was seen per direction. */
function connState(c: HConn): ConnState {
  if (c.ipProto !== PROTO_TCP) {
    if (c.ipProto !== PROTO_UDP) return 'OTH';
    if (c.origPkts > 0) return c.respPkts > 0 ? 'SF' : 'S0';
    return c.respPkts > 0 ? 'SHR' : 'OTH';
  }
  const o = c.origBits;
  const r = c.respBits;
  if (((o | r) & (B_SYN | B_SYNACK)) === 0) {
    // Midstream: Zeek's endpoints are partial (inactive for its rules) until they close or reset.
    if (r & B_RST) return 'RSTRH';
    if (o & B_RST) return 'OTH';
    if (o & B_FIN && r & B_FIN) return 'SF';
    if (o & B_FIN) return 'SH';
    if (r & B_FIN) return 'SHR';
    return 'OTH';
  }
  const origSyn = (o & B_SYN) !== 0;
  const respSynAck = (r & B_SYNACK) !== 0;
  const established = origSyn && respSynAck;
  if (r & B_RST) {
    if (origSyn && !respSynAck) return 'REJ';
    return !origSyn && respSynAck ? 'RSTRH' : 'RSTR';
  }
  if (o & B_RST) {
    if (origSyn && !(r & B_ANY)) return 'RSTOS0';
    return r & B_ANY ? 'RSTO' : 'OTH';
  }
  if (o & B_FIN && r & B_FIN) return 'SF';
  if (o & B_FIN) return established ? 'S2' : origSyn ? 'SH' : 'OTH';
  if (r & B_FIN) return established ? 'S3' : respSynAck && !origSyn ? 'SHR' : 'OTH';
  if (origSyn && !(r & B_ANY)) return 'S0';
  if (established) return 'S1';
  return 'OTH';
}

function endOf(ep: HubbleEndpoint | undefined, svc: HubbleService | undefined, node: string | undefined): K8sEnd {
  const labels = Array.isArray(ep?.labels) ? ep!.labels.filter((l): l is string => typeof l === 'string') : [];
  const reserved = (name: string): boolean => labels.includes(`reserved:${name}`);
  const id = ep?.identity;
  let kind: K8sEndKind;
  if (typeof ep?.pod_name === 'string' && ep.pod_name !== '') kind = 'pod';
  else if (reserved('host') || reserved('remote-node') || id === 1 || id === 6) kind = 'node';
  else if (reserved('world') || id === 2) kind = 'external';
  else kind = 'internal';
  const end: K8sEnd = { kind };
  if (typeof ep?.namespace === 'string' && ep.namespace !== '') end.namespace = ep.namespace;
  if (kind === 'pod') end.pod = ep!.pod_name as string;
  const w = Array.isArray(ep?.workloads) ? obj(ep!.workloads[0]) : undefined;
  if (w !== undefined && typeof w.name === 'string') {
    end.workload = w.name;
    if (typeof w.kind === 'string') end.workload_kind = w.kind;
  }
  if (node !== undefined && kind === 'pod') end.node = node;
  if (typeof svc?.name === 'string' && svc.name !== '') {
    end.service = svc.name;
    if (typeof svc.namespace === 'string') end.namespace ??= svc.namespace;
  }
  const kv: Record<string, string> = {};
  let any = false;
  for (const l of labels) {
    // Pod labels only: Cilium's own io.cilium.* / namespace bookkeeping labels are not the pod's.
    if (!l.startsWith('k8s:') || l.startsWith('k8s:io.cilium.') || l.startsWith('k8s:io.kubernetes.pod.namespace')) continue;
    const eq = l.indexOf('=');
    kv[eq < 0 ? l.slice(4) : l.slice(4, eq)] = eq < 0 ? '' : l.slice(eq + 1);
    any = true;
  }
  if (any) end.labels = kv;
  return end;
}

function k8sOf(c: HConn): ConnK8s | undefined {
  if (c.origEp === undefined && c.respEp === undefined) return undefined;
  const orig = endOf(c.origEp, c.origService, c.origNode);
  const resp = endOf(c.respEp, c.respService, c.respNode);
  const inside = (e: K8sEnd): boolean => e.kind !== 'external';
  const direction: K8sDirection = inside(orig) ? (inside(resp) ? 'internal' : 'outbound') : inside(resp) ? 'inbound' : 'external';
  return { orig, resp, direction, scope: scopeOf(orig, resp) };
}

function scopeOf(o: K8sEnd, r: K8sEnd): K8sScope {
  if (o.kind === 'pod') {
    if (r.service !== undefined) return 'pod-to-service';
    if (r.kind === 'pod') {
      if (o.pod === r.pod && o.namespace === r.namespace) return 'same-pod';
      return o.namespace === r.namespace ? 'same-namespace' : 'cross-namespace';
    }
    if (r.kind === 'node') return 'pod-to-node';
    if (r.kind === 'external') return 'pod-to-external';
    return 'other';
  }
  if (o.kind === 'node') {
    if (r.service !== undefined) return 'node-to-service';
    return r.kind === 'pod' ? 'node-to-pod' : r.kind === 'node' ? 'node-to-node' : 'other';
  }
  if (o.kind === 'external') return r.service !== undefined ? 'external-to-service' : r.kind === 'pod' ? 'external-to-pod' : 'other';
  return 'other';
}
