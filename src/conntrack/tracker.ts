/**
 * Connection tracking with Zeek's conn.log semantics (see ../shared/spec/connection-record.md).
 *
 * The TCP logic follows Zeek's TCPSessionAdapter / TCP_Endpoint / TCP_Reassembler (gap
 * accounting only) closely, so that conn_state, history, byte counts and the moment a
 * connection is removed (which decides whether a later packet of the same 4-tuple starts a
 * new record) match Zeek's baselines. Per packet: one key string, one Map lookup, integer
 * state updates; objects are created per connection and per emitted record only.
 */
import { DecodedPacket, DecodeStatus, FlowLayer, TUNNEL_NAMES, TunnelKind } from '../../parsers/decode/layers';
import { formatAddress, formatMac } from './address';
import { communityIdFromBytes, icmpCounterpart } from './community-id';
import { DEFAULT_LOCAL_NETS, LocalNets } from './local-nets';
import { ConnRecord, ConnState, Transport } from './record';
import { uidFromWords } from './uid';
import { FlowTable } from './flow-table';

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
  /** Zeek's -C: ignore the decoder's bad-checksum verdicts. */
  ignoreChecksums: boolean;
  /** Zeek likely_server_ports: decides the initial role flip for mid-stream TCP and for UDP. */
  likelyServerPortsTcp: number[];
  likelyServerPortsUdp: number[];
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
  21, 22, 23, 25, 53, 79, 80, 81, 88, 110, 113, 135, 139, 143, 179, 389, 443, 445, 465, 502, 563, 585, 587,
  614, 631, 636, 989, 990, 992, 993, 995, 1080, 1433, 1883, 2049, 2811, 3128, 3268, 3306, 3389, 5060, 5222,
  5223, 5269, 5432, 5900, 6379, 6443, 6666, 6667, 6668, 6669, 8000, 8080, 8443, 8888, 9200, 20000,
];
export const DEFAULT_LIKELY_SERVER_PORTS_UDP: readonly number[] = [
  53, 67, 68, 69, 88, 123, 137, 138, 161, 162, 443, 500, 514, 1812, 1813, 2123, 2152, 3478, 3544, 4500, 4789,
  5060, 5072, 5353, 5355, 6081, 47808,
];

const DEFAULTS: TrackerOptions = {
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
  ignoreChecksums: false,
  likelyServerPortsTcp: [...DEFAULT_LIKELY_SERVER_PORTS_TCP],
  likelyServerPortsUdp: [...DEFAULT_LIKELY_SERVER_PORTS_UDP],
};

// ---- constants -------------------------------------------------------------------------

const enum Kind {
  TCP = 0,
  UDP = 1,
  ICMP = 2,
  OTHER = 3,
}

/** Zeek's TCP endpoint states (values as in Zeek, conn_state depends on them). */
const enum Ep {
  INACTIVE = 0,
  SYN_SENT = 1,
  SYN_ACK_SENT = 2,
  PARTIAL = 3,
  ESTABLISHED = 4,
  CLOSED = 5,
  RESET = 6,
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

// History "seen once" bits (Zeek HIST_*); the responder's are shifted left by 16.
const H_SYN = 0x1;
const H_FIN = 0x2;
const H_RST = 0x4;
const H_FIN_RST = 0x8;
const H_DATA = 0x10;
const H_ACK = 0x20;
const H_MULTI = 0x40;

// Scaled (logarithmic) history counters: index = letter * 2 + (responder ? 1 : 0).
const SC_CHK = 0;
const SC_RXMT = 2;
const SC_WIN0 = 4;
const SC_GAP = 6;

const TOO_LARGE_SEQ_DELTA = 1048576;
const TWO32 = 4294967296;
const NO_DEADLINE = Infinity;
const MAX_HISTORY = 256;
const MAX_BLOCKS = 64;

// Timer lists: inactivity per class (anchored on last activity) plus one list of fixed deadlines.
const L_TCP = 0;
const L_TCP_PRE = 1; // TCP before the handshake completes (Zeek uses udp_inactivity_timeout there)
const L_UDP = 2;
const L_ICMP = 3;
const L_OTHER = 4;
const L_FIXED = 5; // tcp attempt / close / reset delays
const N_LISTS = 6;
const L_NONE = -1;

const CH_UPPER_TO_LOWER = 32;

// ---- per-connection state ----------------------------------------------------------------

class TcpEndpoint {
  state = Ep.INACTIVE;
  prevState = Ep.INACTIVE;
  startSeq = 0;
  lastSeq = 0;
  ackSeq = 0;
  seqWraps = 0;
  ackWraps = 0;
  finCnt = 0;
  rstCnt = 0;
  finSeq = 0;
  histLastSyn = 0;
  histLastFin = 0;
  histLastRst = 0;
  didClose = false;
  // Reassembly bookkeeping (relative sequence space), for content gaps only: no payload kept.
  lastReassem = 1;
  trimSeq = 1;
  blocks: number[] | null = null; // sorted [start, end) pairs above lastReassem
  peer!: TcpEndpoint;
  constructor(public isOrig: boolean) {}
}

class TcpConn {
  readonly a = new TcpEndpoint(true);
  readonly b = new TcpEndpoint(false);
  orig: TcpEndpoint;
  resp: TcpEndpoint;
  isPartial = false;
  firstPacketSeen = 0; // 1 orig, 2 resp
  isActive = true;
  /** Inactivity switched from the handshake timeout to tcp_inactivity_timeout. */
  longTimeout = false;
  attemptAt = NO_DEADLINE;
  deleteAt = NO_DEADLINE;
  constructor() {
    this.a.peer = this.b;
    this.b.peer = this.a;
    this.orig = this.a;
    this.resp = this.b;
  }
}

class Conn {
  // intrusive timer list links
  prev: Conn | null = null;
  next: Conn | null = null;
  list = L_NONE;
  deadline = 0;

  uid = '';
  origIsLow = true;
  /** Addresses and MACs as one-byte strings of their raw bytes: no ArrayBuffer per connection. */
  origAddr = '';
  respAddr = '';
  origP = 0;
  respP = 0;
  origMac: string | null = null;
  respMac: string | null = null;
  vlan: number | null = null;
  innerVlan: number | null = null;
  tunnelType: string | null = null;
  tunnelId: number | null = null;

  firstSec = 0;
  firstNsec = 0;
  startTs = 0;
  lastTs = 0;
  // Exact integer copy of lastTs: duration from doubles of epoch seconds would lose sub-microsecond digits.
  lastSec = 0;
  lastNsec = 0;
  nextInterim = NO_DEADLINE;

  origPkts = 0;
  respPkts = 0;
  origIpBytes = 0;
  respIpBytes = 0;
  /** UDP/ICMP/other payload sums; -1 until that side sent (Zeek request_len/reply_len). */
  origLen = -1;
  respLen = -1;
  missed = 0;

  histSeen = 0;
  /** History letters so far. Short strings are flat in V8, far smaller than an array of codes. */
  hist = '';
  scaled: Float64Array | null = null;

  tcp: TcpConn | null = null;
  service: string[] | null = null;
  parents: string[] | null = null;
  cid: string | null = null;

  /** Entry id in the flow table while live. */
  fid = -1;
  /** Disambiguates uids of connections sharing key and first instant. */
  uidSeq = 0;

  constructor(
    readonly kind: Kind,
    readonly ipProto: number,
    readonly addrLen: number,
  ) {
  }
}

// ---- helpers -------------------------------------------------------------------------------

/** Copies a one-byte string of raw bytes into `out` (at least as long) and returns it. */
function bytesOf(s: string, out: Uint8Array): Uint8Array {
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function seqDelta(a: number, b: number): number {
  return (a - b) | 0;
}

function isHandshake(s: Ep): boolean {
  return s === Ep.INACTIVE || s === Ep.SYN_SENT || s === Ep.SYN_ACK_SENT;
}

function isClean(e: TcpEndpoint): boolean {
  return e.state === Ep.ESTABLISHED || (e.state === Ep.CLOSED && e.prevState === Ep.ESTABLISHED);
}

function addHistory(c: Conn, code: number): void {
  if (c.hist.length < MAX_HISTORY) c.hist += String.fromCharCode(code);
}

/** Zeek Connection::CheckHistory: record `code` the first time `mask` is seen in that direction. Returns whether it was seen before. */
function checkHistory(c: Conn, mask: number, code: number, isOrig: boolean): boolean {
  if (!isOrig) {
    mask <<= 16;
    code += CH_UPPER_TO_LOWER;
  }
  if ((c.histSeen & mask) === 0) {
    c.histSeen |= mask;
    addHistory(c, code);
    return false;
  }
  return true;
}

/** Zeek ScaledHistoryEntry: letter at the 1st, 10th, 100th ... occurrence. */
function scaledHistory(c: Conn, idx: number, code: number, isOrig: boolean): void {
  if (!isOrig) {
    idx += 1;
    code += CH_UPPER_TO_LOWER;
  }
  let s = c.scaled;
  if (s === null) {
    s = c.scaled = new Float64Array(16);
    for (let i = 8; i < 16; i++) s[i] = 1;
  }
  const n = ++s[idx];
  if (n === s[8 + idx]) {
    addHistory(c, code);
    s[8 + idx] *= 10;
  }
}

function setState(e: TcpEndpoint, t: TcpConn, s: Ep): void {
  if (s === e.state) return;
  if (!isHandshake(s) && isHandshake(e.state) && isHandshake(e.peer.state)) t.longTimeout = true;
  e.prevState = e.state;
  e.state = s;
}

function tcpSize(e: TcpEndpoint): number {
  const last64 = e.seqWraps * TWO32 + e.lastSeq;
  const ack64 = e.ackWraps * TWO32 + e.ackSeq;
  if (e.prevState === Ep.SYN_SENT && e.state === Ep.RESET && e.peer.state === Ep.INACTIVE) {
    const noDataAcked = ack64 === e.startSeq || ack64 === e.startSeq + 1;
    if (!noDataAcked) return 0;
  }
  let size = (last64 > ack64 ? last64 : ack64) - e.startSeq;
  if (size < 0) return 0;
  if (size !== 0) --size;
  if (e.finCnt > 0 && size !== 0) --size;
  return size;
}

const EMPTY_STRINGS: string[] = [];

// Scratch results of helpers (no per-packet allocation).
let gUnderflow = false;
let gSrcLow = true;

function relativeSeq(e: TcpEndpoint, cur: number, last: number, wraps: number): number {
  let delta = seqDelta(cur, last);
  if (delta < 0) {
    if (wraps && cur > last) --wraps;
  } else if (delta > 0) {
    if (cur < last) ++wraps;
  }
  if (wraps === 0) {
    delta = seqDelta(cur, e.startSeq);
    if (delta < 0) gUnderflow = true;
    return delta;
  }
  return wraps * TWO32 + cur - e.startSeq;
}

function initEndpoint(e: TcpEndpoint, flags: number, firstSeq: number, lastSeq: number): void {
  switch (e.state) {
    case Ep.INACTIVE:
      if (flags & SYN) {
        e.ackSeq = firstSeq;
        e.startSeq = firstSeq;
      } else {
        // Partial connection: number as though a SYN had been seen.
        e.ackSeq = (firstSeq - 1) >>> 0;
        e.startSeq = (firstSeq - 1) >>> 0;
        lastSeq = firstSeq;
      }
      e.lastSeq = lastSeq;
      break;
    case Ep.SYN_SENT:
    case Ep.SYN_ACK_SENT:
      if (flags & SYN && firstSeq !== e.startSeq) {
        e.startSeq = firstSeq;
        e.ackSeq = firstSeq;
        e.lastSeq = lastSeq;
      }
      break;
    case Ep.ESTABLISHED:
    case Ep.PARTIAL:
      if (flags & SYN) {
        e.startSeq = firstSeq;
        e.ackSeq = firstSeq;
        e.lastSeq = lastSeq;
      }
      break;
    case Ep.RESET:
      if (flags & SYN && e.prevState === Ep.INACTIVE) {
        e.startSeq = firstSeq;
        e.ackSeq = firstSeq;
        e.lastSeq = lastSeq;
      }
      break;
    default:
      break;
  }
}

// ---- the tracker ---------------------------------------------------------------------------

export class ConnectionTracker {
  readonly stats: TrackerStats = { live: 0, created: 0, emitted: 0, forcedFlushes: 0, timedOut: 0, interim: 0 };

  private readonly opts: TrackerOptions;
  private readonly table = new FlowTable<Conn>();
  private readonly heads: (Conn | null)[] = new Array<Conn | null>(N_LISTS).fill(null);
  private readonly tails: (Conn | null)[] = new Array<Conn | null>(N_LISTS).fill(null);
  private readonly timeouts: number[];
  private readonly local: LocalNets;
  private uidSeq = 0;
  /** Scratch bytes to hand stored addresses and MACs to byte-oriented helpers at emission. */
  private readonly scratchA = new Uint8Array(16);
  private readonly scratchB = new Uint8Array(16);
  private readonly lspTcp = new Uint8Array(65536);
  private readonly lspUdp = new Uint8Array(65536);
  private nowSec = 0;
  private nowNsec = 0;

  constructor(
    opts: Partial<TrackerOptions>,
    private readonly emit: (r: ConnRecord) => void,
  ) {
    const o: TrackerOptions = { ...DEFAULTS };
    for (const k of Object.keys(opts) as (keyof TrackerOptions)[]) {
      if (opts[k] !== undefined) (o as unknown as Record<string, unknown>)[k] = opts[k];
    }
    if (!(o.maxConnections >= 1)) throw new Error('maxConnections must be >= 1');
    this.opts = o;
    this.timeouts = [o.tcpInactivitySec, o.udpInactivitySec, o.udpInactivitySec, o.icmpInactivitySec, o.otherInactivitySec, 0];
    this.local = new LocalNets(o.localNets);
    for (const p of o.likelyServerPortsTcp) this.lspTcp[p & 0xffff] = 1;
    for (const p of o.likelyServerPortsUdp) this.lspUdp[p & 0xffff] = 1;
  }

  /** One decoded packet (status OK or MALFORMED with count>=1 layers) at time tsSec + tsNsec/1e9; packet time drives all timers. */
  onPacket(d: DecodedPacket, tsSec: number, tsNsec: number): void {
    if (d.count <= 0 || (d.status !== DecodeStatus.OK && d.status !== DecodeStatus.MALFORMED)) return;
    const now = tsSec + tsNsec / 1e9;
    this.nowSec = tsSec;
    this.nowNsec = tsNsec;
    this.expire(now);
    let parent: Conn | null = null;
    const n = d.count;
    for (let i = 0; i < n; i++) {
      const l = d.layers[i];
      const nextTunnel = i + 1 < n ? d.layers[i + 1].tunnel : TunnelKind.NONE;
      parent = this.track(l, parent, nextTunnel, now);
      if (parent === null) break;
    }
  }

  /** End of input: emit every live connection. */
  finish(): void {
    // Oldest first, as they began: a stable order that does not depend on table internals.
    const live = this.table.values().sort((a, b) => a.firstSec - b.firstSec || a.firstNsec - b.firstNsec || (a.uid < b.uid ? -1 : 1));
    for (const c of live) {
      this.unlink(c);
      this.emitRecord(c, false);
    }
    this.table.clear();
    this.stats.live = 0;
  }

  // ---- per layer ----

  private track(l: FlowLayer, parent: Conn | null, nextTunnel: TunnelKind, now: number): Conn | null {
    if (l.ipVersion === 0 || (l.addrLen !== 4 && l.addrLen !== 16)) return null;
    const proto = l.proto;
    let kind: Kind;
    let sp = 0;
    let dp = 0;
    let oneWay = false;
    if (proto === 6) {
      kind = Kind.TCP;
      sp = l.sport;
      dp = l.dport;
    } else if (proto === 17) {
      kind = Kind.UDP;
      sp = l.sport;
      dp = l.dport;
    } else if ((proto === 1 && l.ipVersion === 4) || (proto === 58 && l.ipVersion === 6)) {
      kind = Kind.ICMP;
      sp = l.icmpType;
      const cp = icmpCounterpart(proto, sp);
      if (cp >= 0) dp = cp;
      else {
        dp = l.icmpCode;
        oneWay = true;
      }
    } else {
      kind = Kind.OTHER;
      if (proto === 132) {
        sp = l.sport;
        dp = l.dport;
      }
    }

    this.buildKey(l, sp, dp, oneWay);
    const srcLow = gSrcLow;
    let c = this.table.get();
    const flags = l.tcpFlags;

    this.uidSeq = 0;
    if (c !== undefined && kind === Kind.TCP && this.isReuse(c.tcp!, flags, l.seq)) {
      // The successor shares the key; at the same instant it would share the uid hash input too.
      if (c.firstSec === this.nowSec && c.firstNsec === this.nowNsec) this.uidSeq = c.uidSeq + 1;
      this.remove(c);
      c = undefined;
    }
    if (c === undefined) c = this.create(kind, l, srcLow, sp, dp, now);

    const isOrig = srcLow === c.origIsLow;

    if (l.ipChecksumBad && !this.opts.ignoreChecksums) {
      // Zeek drops a packet failing its checksum from analysis after noting it in the history.
      scaledHistory(c, SC_CHK, 67 /* C */, isOrig);
      if (c.list === L_NONE) this.schedule(c);
      return c;
    }

    switch (kind) {
      case Kind.TCP:
        this.tcpPacket(c, c.tcp!, l, isOrig, now);
        break;
      default: {
        c.lastTs = now;
        c.lastSec = this.nowSec;
        c.lastNsec = this.nowNsec;
        const len = kind === Kind.OTHER ? l.l4Len : l.payloadLen;
        if (isOrig) {
          if (kind === Kind.UDP) checkHistory(c, H_DATA, 68 /* D */, true);
          c.origLen = c.origLen < 0 ? len : c.origLen + len;
        } else {
          if (kind === Kind.UDP) checkHistory(c, H_DATA, 68, false);
          c.respLen = c.respLen < 0 ? len : c.respLen + len;
        }
      }
    }

    if (isOrig) {
      c.origPkts++;
      c.origIpBytes += l.ipTotalLen;
    } else {
      c.respPkts++;
      c.respIpBytes += l.ipTotalLen;
    }

    if (parent !== null) {
      const ps = c.parents;
      if (ps === null) c.parents = [parent.uid];
      else if (ps.indexOf(parent.uid) < 0) ps.push(parent.uid);
    }
    if (nextTunnel !== TunnelKind.NONE) {
      const name = TUNNEL_NAMES[nextTunnel];
      if (name) {
        const sv = c.service;
        if (sv === null) c.service = [name];
        else if (sv.indexOf(name) < 0) sv.push(name);
      }
    }

    // Nothing above removes `c` from the table (reuse is handled before), so it is live here.
    this.schedule(c);
    if (now >= c.nextInterim) this.interim(c, now);
    return c;
  }

  /**
   * Canonical key: header units (proto, tunnel kind, vlans, tunnel id), then the lower
   * (address, port) endpoint first, so both directions map to one key. One-way ICMP keeps
   * packet order, as Zeek does. Sets gSrcLow.
   */
  private buildKey(l: FlowLayer, sp: number, dp: number, oneWay: boolean): void {
    const b = l.buf;
    const s = l.srcOff;
    const d = l.dstOff;
    const k = this.table.key;
    k[0] = l.proto | (l.tunnel << 8) | (l.addrLen << 16);
    k[1] = (l.vlan + 1) | ((l.innerVlan + 1) << 16);
    k[2] = l.tunnelId;
    if (l.addrLen === 4) {
      const sa = ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0;
      const da = ((b[d] << 24) | (b[d + 1] << 16) | (b[d + 2] << 8) | b[d + 3]) >>> 0;
      const swap = oneWay ? false : sa !== da ? sa > da : sp > dp;
      gSrcLow = !swap;
      k[3] = swap ? dp | (sp << 16) : sp | (dp << 16);
      k[4] = swap ? da : sa;
      k[8] = swap ? sa : da;
      k[5] = k[6] = k[7] = k[9] = k[10] = k[11] = 0;
      return;
    }
    let swap = false;
    if (!oneWay) {
      let cmp = 0;
      for (let i = 0; i < 16 && cmp === 0; i++) cmp = b[s + i] - b[d + i];
      swap = cmp !== 0 ? cmp > 0 : sp > dp;
    }
    gSrcLow = !swap;
    const x = swap ? d : s;
    const y = swap ? s : d;
    k[3] = swap ? dp | (sp << 16) : sp | (dp << 16);
    for (let i = 0; i < 4; i++) {
      const o = i * 4;
      k[4 + i] = (b[x + o] << 24) | (b[x + o + 1] << 16) | (b[x + o + 2] << 8) | b[x + o + 3];
      k[8 + i] = (b[y + o] << 24) | (b[y + o + 1] << 16) | (b[y + o + 2] << 8) | b[y + o + 3];
    }
  }

  private create(kind: Kind, l: FlowLayer, srcLow: boolean, sp: number, dp: number, now: number): Conn {
    // The staged key survives forceFlush: removals use the entry id, not the staging area.
    if (this.stats.live >= this.opts.maxConnections) this.forceFlush();
    const c = new Conn(kind, l.proto, l.addrLen);
    const b = l.buf;
    c.origAddr = b.toString('latin1', l.srcOff, l.srcOff + l.addrLen);
    c.respAddr = b.toString('latin1', l.dstOff, l.dstOff + l.addrLen);
    c.origP = sp;
    c.respP = dp;
    c.origIsLow = srcLow;
    if (l.srcMacOff >= 0 && l.srcMacOff + 6 <= b.length) c.origMac = b.toString('latin1', l.srcMacOff, l.srcMacOff + 6);
    if (l.dstMacOff >= 0 && l.dstMacOff + 6 <= b.length) c.respMac = b.toString('latin1', l.dstMacOff, l.dstMacOff + 6);
    c.vlan = l.vlan >= 0 ? l.vlan : null;
    c.innerVlan = l.innerVlan >= 0 ? l.innerVlan : null;
    if (l.tunnel !== TunnelKind.NONE) {
      c.tunnelType = TUNNEL_NAMES[l.tunnel] || null;
      c.tunnelId = l.tunnelId >= 0 ? l.tunnelId : null;
    }
    c.firstSec = this.nowSec;
    c.firstNsec = this.nowNsec;
    c.startTs = now;
    c.lastTs = now;
    c.lastSec = this.nowSec;
    c.lastNsec = this.nowNsec;
    const iv = this.opts.interimIntervalSec;
    c.nextInterim = iv > 0 ? now + iv : NO_DEADLINE;
    c.uidSeq = this.uidSeq;
    c.uid = uidFromWords(this.table.key, this.nowSec, this.nowNsec, this.uidSeq);
    if (kind === Kind.TCP) c.tcp = new TcpConn();

    // Zeek's WantConnection role guess for connections not starting with a plain SYN.
    let flip = false;
    if (kind === Kind.TCP) {
      const f = l.tcpFlags;
      if ((f & SYN) === 0 || (f & ACK) !== 0) {
        if (this.lspTcp[sp]) flip = this.lspTcp[dp] ? (f & SYN) === 0 && sp < dp : true;
      }
    } else if (kind === Kind.UDP) {
      flip = this.lspUdp[sp] === 1 && this.lspUdp[dp] === 0;
    }
    if (flip) this.flipRoles(c);

    c.fid = this.table.insert(c);
    this.stats.live++;
    this.stats.created++;
    return c;
  }

  private flipRoles(c: Conn): void {
    const a = c.origAddr;
    c.origAddr = c.respAddr;
    c.respAddr = a;
    const p = c.origP;
    c.origP = c.respP;
    c.respP = p;
    const m = c.origMac;
    c.origMac = c.respMac;
    c.respMac = m;
    let n = c.origPkts;
    c.origPkts = c.respPkts;
    c.respPkts = n;
    n = c.origIpBytes;
    c.origIpBytes = c.respIpBytes;
    c.respIpBytes = n;
    n = c.origLen;
    c.origLen = c.respLen;
    c.respLen = n;
    c.origIsLow = !c.origIsLow;
    c.cid = null;
    const t = c.tcp;
    if (t !== null) {
      const e = t.orig;
      t.orig = t.resp;
      t.resp = e;
      t.orig.isOrig = true;
      t.resp.isOrig = false;
      const f = t.firstPacketSeen;
      t.firstPacketSeen = (f & 1 ? 2 : 0) | (f & 2 ? 1 : 0);
      t.isPartial = false;
    }
    addHistory(c, 94 /* ^ */);
  }

  // ---- TCP (Zeek TCPSessionAdapter::Process) ----

  private isReuse(t: TcpConn, flags: number, seq: number): boolean {
    if ((flags & SYN) === 0) return false;
    let connOrig = t.orig;
    if (flags & ACK) {
      if (t.orig.state !== Ep.INACTIVE) return false;
      connOrig = t.resp;
    }
    if (!(t.orig.didClose || t.resp.didClose)) {
      if (seq === connOrig.startSeq) return false;
      if ((flags & ACK) === 0 && connOrig.state === Ep.SYN_ACK_SENT && t.resp.state === Ep.INACTIVE && seq === t.resp.startSeq)
        return false;
      return true;
    }
    return true;
  }

  private tcpPacket(c: Conn, t: TcpConn, l: FlowLayer, isOrig: boolean, now: number): void {
    const flags = l.tcpFlags;
    const base = l.seq >>> 0;
    const ackSeq = l.ack >>> 0;
    const len = l.payloadLen;
    const ep = isOrig ? t.orig : t.resp;
    const peer = ep.peer;

    // SetPartialStatus
    if (isOrig) {
      if (!(t.firstPacketSeen & 1)) t.isPartial = (flags & SYN) === 0 || (flags & ACK) !== 0;
    } else if (!(t.firstPacketSeen & 2) && !t.isPartial) t.isPartial = (flags & SYN) === 0;

    let segLen = len;
    if (flags & SYN) ++segLen;
    if (flags & FIN) ++segLen;
    if (flags & RST) segLen -= len;
    const onePast = (base + segLen) >>> 0;

    initEndpoint(ep, flags, base, onePast);
    gUnderflow = false;
    const relSeq = relativeSeq(ep, base, ep.lastSeq, ep.seqWraps);
    const seqUnderflow = gUnderflow;

    this.updateHistory(c, ep, flags, relSeq, len);

    if (l.window === 0 && (flags & RST) === 0 && peer.state !== Ep.CLOSED && ep.state !== Ep.RESET)
      scaledHistory(c, SC_WIN0, 87 /* W */, ep.isOrig);

    if (!t.orig.didClose || !t.resp.didClose) {
      c.lastTs = now;
      c.lastSec = this.nowSec;
      c.lastNsec = this.nowNsec;
    }

    if (flags & FIN) {
      ++ep.finCnt;
      ep.finSeq = relSeq + segLen;
    }
    if (flags & RST) ++ep.rstCnt;

    let relAck = 0;
    if (flags & ACK) {
      if (peer.state === Ep.INACTIVE) {
        relAck = 1;
        peer.startSeq = (ackSeq - 1) >>> 0;
        peer.ackSeq = peer.startSeq;
        peer.lastSeq = peer.startSeq;
      } else {
        gUnderflow = false;
        relAck = relativeSeq(peer, ackSeq, peer.ackSeq, peer.ackWraps);
        if (gUnderflow) relAck = 0;
        else if ((flags & RST) === 0) {
          const dAck = seqDelta(ackSeq, peer.ackSeq);
          if (!(ackSeq === 0 && dAck > TOO_LARGE_SEQ_DELTA) && dAck > 0) {
            if (ackSeq < peer.ackSeq) ++peer.ackWraps;
            peer.ackSeq = ackSeq;
          }
        }
      }
    }

    // update_last_seq
    const deltaLast = seqDelta(onePast, ep.lastSeq);
    if ((flags & (SYN | RST)) !== 0 && (deltaLast > TOO_LARGE_SEQ_DELTA || deltaLast < -TOO_LARGE_SEQ_DELTA)) {
      // untrusted jump
    } else if (flags & FIN && ep.lastSeq === ((ep.startSeq + 1) >>> 0)) {
      this.updateLastSeq(ep, onePast);
    } else if (ep.state === Ep.RESET) {
      // don't trust sequence numbers after a RST
    } else if (deltaLast > 0) {
      this.updateLastSeq(ep, onePast);
    } else if (len > 0) {
      scaledHistory(c, SC_RXMT, 84 /* T */, ep.isOrig);
    }

    const doClose = this.updateStateMachine(c, t, ep, peer, base, len, isOrig, flags, now);

    if (flags & ACK) this.ackReceived(c, t, peer, relAck);

    if (len > 0 && (flags & RST) === 0 && !seqUnderflow && l.capturedPayloadLen >= len)
      this.dataSent(ep, (flags & SYN ? relSeq + 1 : relSeq), len);

    if (doClose) this.connectionClosed(c, t, ep, ep.peer);

    t.firstPacketSeen |= ep.isOrig ? 1 : 2;
  }

  private updateLastSeq(e: TcpEndpoint, seq: number): void {
    if (seq < e.lastSeq) ++e.seqWraps;
    e.lastSeq = seq;
  }

  private updateHistory(c: Conn, e: TcpEndpoint, flags: number, relSeq: number, len: number): void {
    const o = e.isOrig;
    const bits = (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0) + (flags & RST ? 1 : 0);
    if (bits > 1) {
      if (flags & FIN && flags & RST) checkHistory(c, H_FIN_RST, 73 /* I */, o);
      else checkHistory(c, H_MULTI, 81 /* Q */, o);
    } else if (bits === 1) {
      if (flags & SYN) {
        const code = flags & ACK ? 72 /* H */ : 83; /* S */
        if (checkHistory(c, H_SYN, code, o) && relSeq !== e.histLastSyn) addHistory(c, o ? code : code + 32);
        e.histLastSyn = relSeq;
      }
      if (flags & FIN) {
        if (checkHistory(c, H_FIN, 70 /* F */, o) && relSeq + len !== e.histLastFin) addHistory(c, o ? 70 : 102);
        e.histLastFin = relSeq + len;
      }
      if (flags & RST) {
        if (checkHistory(c, H_RST, 82 /* R */, o) && relSeq !== e.histLastRst) addHistory(c, o ? 82 : 114);
        e.histLastRst = relSeq;
      }
    } else if (len) checkHistory(c, H_DATA, 68 /* D */, o);
    else if (flags & ACK) checkHistory(c, H_ACK, 65 /* A */, o);
  }

  /** Zeek UpdateStateMachine; returns do_close. */
  private updateStateMachine(
    c: Conn,
    t: TcpConn,
    ep: TcpEndpoint,
    peer: TcpEndpoint,
    base: number,
    len: number,
    isOrig: boolean,
    flags: number,
    now: number,
  ): boolean {
    let doClose = false;
    switch (ep.state) {
      case Ep.INACTIVE: {
        if (flags & SYN) {
          if (isOrig) {
            setState(ep, t, flags & ACK ? Ep.SYN_ACK_SENT : Ep.SYN_SENT);
            if (this.opts.tcpAttemptDelaySec > 0) t.attemptAt = now + this.opts.tcpAttemptDelaySec;
          } else {
            if ((flags & ACK) === 0 && peer.state === Ep.SYN_ACK_SENT && base === ep.startSeq) {
              // SYN/SYN-ACK reversal: the SYN's sender is the real originator.
              t.isPartial = false;
              this.flipRoles(c);
              setState(peer, t, Ep.ESTABLISHED);
              t.firstPacketSeen |= 1;
            }
            if (peer.state === Ep.SYN_SENT) setState(peer, t, Ep.ESTABLISHED);
            setState(ep, t, Ep.ESTABLISHED);
          }
        }
        if (flags & FIN) {
          setState(ep, t, Ep.CLOSED);
          doClose = true;
        }
        if (flags & RST) {
          setState(ep, t, Ep.RESET);
          doClose = true;
        }
        if (ep.state === Ep.INACTIVE) {
          if (!isOrig && len === 0 && t.orig.state === Ep.SYN_SENT) {
            // an early ACK of the SYN does not make a partial connection
          } else if (flags & ACK && peer.state === Ep.ESTABLISHED) {
            setState(ep, t, Ep.ESTABLISHED);
            t.isPartial = false;
            t.firstPacketSeen |= ep.isOrig ? 1 : 2;
          } else setState(ep, t, Ep.PARTIAL);
        }
        break;
      }
      case Ep.SYN_SENT:
      case Ep.SYN_ACK_SENT:
        if (flags & FIN) {
          setState(ep, t, Ep.CLOSED);
          doClose = true;
        }
        if (flags & RST) {
          setState(ep, t, Ep.RESET);
          t.isActive = false;
          doClose = true;
        }
        break;
      case Ep.ESTABLISHED:
      case Ep.PARTIAL:
        if (flags & SYN && ep.state === Ep.PARTIAL && peer.state === Ep.INACTIVE && (flags & ACK) === 0)
          setState(ep, t, Ep.SYN_SENT);
        if (flags & FIN && (flags & RST) === 0) {
          setState(ep, t, Ep.CLOSED);
          // FIN after the peer's FIN+RST: that was a normal close after all.
          if (peer.state === Ep.RESET && peer.prevState === Ep.CLOSED) setState(peer, t, Ep.CLOSED);
          doClose = true;
        }
        if (flags & RST) {
          setState(ep, t, Ep.RESET);
          doClose = true;
          if (peer.state !== Ep.RESET || peer.prevState !== Ep.ESTABLISHED) t.isActive = false;
        }
        break;
      case Ep.CLOSED:
        if (flags & RST && ep.peer.state !== Ep.CLOSED) {
          setState(ep, t, Ep.RESET);
          if (!ep.didClose) doClose = true;
          const r = now + this.opts.tcpResetDelaySec;
          if (r < t.deleteAt) t.deleteAt = r;
        }
        break;
      default:
        break;
    }
    return doClose;
  }

  private connectionClosed(c: Conn, t: TcpConn, ep: TcpEndpoint, peer: TcpEndpoint): void {
    if (ep.didClose) return;
    ep.didClose = true;
    const complete = ep.state === Ep.RESET || peer.didClose || peer.state === Ep.INACTIVE;
    if (!complete) return;
    t.isActive = false;
    t.attemptAt = NO_DEADLINE;
    const d = c.lastTs + this.opts.tcpCloseDelaySec;
    if (d < t.deleteAt) t.deleteAt = d;
  }

  /** The peer acknowledged `e`'s stream up to relative `seq`: unseen bytes below it are a content gap. */
  private ackReceived(c: Conn, t: TcpConn, e: TcpEndpoint, seq: number): void {
    if (e.finCnt > 0 && seq >= e.finSeq) seq = e.finSeq - 1;
    if (seq <= e.trimSeq) return;
    if (seq > e.lastReassem) this.undelivered(c, t, e, seq);
    const bl = e.blocks;
    if (bl !== null) {
      let k = 0;
      while (k < bl.length && bl[k + 1] <= seq) k += 2;
      if (k > 0) bl.splice(0, k);
    }
    e.trimSeq = seq;
  }

  private undelivered(c: Conn, t: TcpConn, e: TcpEndpoint, upTo: number): void {
    if (upTo <= 2 && t.isPartial) return;
    const bl = e.blocks;
    if (bl !== null) {
      for (let k = 0; k < bl.length; k += 2) {
        const bs = bl[k];
        const be = bl[k + 1];
        if (be <= e.lastReassem) continue;
        if (bs >= upTo) break;
        if (bs > e.lastReassem) this.gap(c, e, bs - e.lastReassem);
        if (be > e.lastReassem) e.lastReassem = be;
      }
    }
    if (upTo > e.lastReassem) {
      this.gap(c, e, upTo - e.lastReassem);
      e.lastReassem = upTo;
    }
  }

  private gap(c: Conn, e: TcpEndpoint, len: number): void {
    // Zeek reports gaps only while both sides are established or closing cleanly.
    if (isClean(e) && isClean(e.peer)) {
      scaledHistory(c, SC_GAP, 71 /* G */, e.isOrig);
      c.missed += len;
    }
  }

  private dataSent(e: TcpEndpoint, seq: number, len: number): void {
    const ack = e.ackWraps * TWO32 + e.ackSeq - e.startSeq;
    const upper = seq + len;
    if (seq < ack) {
      if (upper <= ack) return;
      seq = ack;
    }
    if (upper <= e.trimSeq) return;
    if (seq < e.trimSeq) seq = e.trimSeq;
    if (seq <= e.lastReassem) {
      if (upper > e.lastReassem) e.lastReassem = upper;
      const bl = e.blocks;
      if (bl !== null && bl.length) {
        let k = 0;
        while (k < bl.length && bl[k] <= e.lastReassem) {
          if (bl[k + 1] > e.lastReassem) e.lastReassem = bl[k + 1];
          k += 2;
        }
        if (k > 0) bl.splice(0, k);
      }
      return;
    }
    // Out of order: remember the range (merged), bounded.
    let bl = e.blocks;
    if (bl === null) bl = e.blocks = [];
    let k = 0;
    while (k < bl.length && bl[k + 1] < seq) k += 2;
    if (k < bl.length && bl[k] <= upper) {
      if (seq < bl[k]) bl[k] = seq;
      if (upper > bl[k + 1]) bl[k + 1] = upper;
      // merge following overlaps
      while (k + 2 < bl.length && bl[k + 2] <= bl[k + 1]) {
        if (bl[k + 3] > bl[k + 1]) bl[k + 1] = bl[k + 3];
        bl.splice(k + 2, 2);
      }
    } else if (bl.length < MAX_BLOCKS * 2) {
      bl.splice(k, 0, seq, upper);
    }
  }

  // ---- timers ----

  private unlink(c: Conn): void {
    const li = c.list;
    if (li === L_NONE) return;
    if (c.prev !== null) c.prev.next = c.next;
    else this.heads[li] = c.next;
    if (c.next !== null) c.next.prev = c.prev;
    else this.tails[li] = c.prev;
    c.prev = c.next = null;
    c.list = L_NONE;
  }

  /** Append at the tail, walking back a few steps when the deadline is earlier than the tail's (clock skew). */
  private link(c: Conn, li: number, deadline: number): void {
    c.list = li;
    c.deadline = deadline;
    let after = this.tails[li];
    let steps = 0;
    while (after !== null && after.deadline > deadline && steps < 8) {
      after = after.prev;
      steps++;
    }
    if (after === null) {
      c.prev = null;
      c.next = this.heads[li];
      if (c.next !== null) c.next.prev = c;
      else this.tails[li] = c;
      this.heads[li] = c;
      return;
    }
    c.prev = after;
    c.next = after.next;
    after.next = c;
    if (c.next !== null) c.next.prev = c;
    else this.tails[li] = c;
  }

  private schedule(c: Conn): void {
    let li: number;
    let dl: number;
    const t = c.tcp;
    if (t !== null && (t.deleteAt !== NO_DEADLINE || t.attemptAt !== NO_DEADLINE)) {
      li = L_FIXED;
      dl = t.deleteAt < t.attemptAt ? t.deleteAt : t.attemptAt;
    } else {
      li = c.kind === Kind.TCP ? (t!.longTimeout ? L_TCP : L_TCP_PRE) : c.kind === Kind.UDP ? L_UDP : c.kind === Kind.ICMP ? L_ICMP : L_OTHER;
      dl = c.lastTs + this.timeouts[li];
    }
    if (c.list === li && c.deadline === dl) return;
    if (c.list === li && c.next === null) {
      // already the tail: update in place when order is preserved
      if (c.prev === null || c.prev.deadline <= dl) {
        c.deadline = dl;
        return;
      }
    }
    this.unlink(c);
    this.link(c, li, dl);
  }

  private expire(now: number): void {
    for (let li = 0; li < N_LISTS; li++) {
      let c = this.heads[li];
      while (c !== null && c.deadline <= now) {
        const next = c.next;
        this.fire(c, li, now);
        c = next !== null && next.list === li ? next : this.heads[li];
      }
    }
  }

  private fire(c: Conn, li: number, now: number): void {
    if (li === L_FIXED) {
      const t = c.tcp!;
      if (t.deleteAt <= now) {
        this.stats.timedOut++;
        this.remove(c);
        return;
      }
      // attempt timer (Zeek AttemptTimer)
      t.attemptAt = NO_DEADLINE;
      const o = t.orig.state;
      if (t.isActive && (o === Ep.SYN_SENT || o === Ep.SYN_ACK_SENT) && t.resp.state === Ep.INACTIVE) {
        this.stats.timedOut++;
        this.remove(c);
        return;
      }
      this.unlink(c);
      this.schedule(c);
      if (c.deadline <= now && c.list !== L_FIXED) {
        this.stats.timedOut++;
        this.remove(c);
      }
      return;
    }
    this.stats.timedOut++;
    this.remove(c);
  }

  private forceFlush(): void {
    let best: Conn | null = null;
    for (let li = 0; li < N_LISTS; li++) {
      const h = this.heads[li];
      if (h !== null && (best === null || h.lastTs < best.lastTs)) best = h;
    }
    if (best === null) {
      // every live connection is unscheduled (should not happen): take any
      const all = this.table.values();
      if (all.length === 0) return;
      best = all[0];
    }
    this.stats.forcedFlushes++;
    this.remove(best);
  }

  private remove(c: Conn): void {
    this.unlink(c);
    this.table.delete(c.fid);
    c.fid = -1;
    this.stats.live--;
    this.emitRecord(c, false);
  }

  private interim(c: Conn, now: number): void {
    this.emitRecord(c, true);
    this.stats.interim++;
    const iv = this.opts.interimIntervalSec;
    while (c.nextInterim <= now) c.nextInterim += iv;
  }

  // ---- records ----

  private connState(c: Conn, history: string): ConnState {
    if (c.kind === Kind.TCP) {
      const t = c.tcp!;
      const os = t.orig.state;
      const rs = t.resp.state;
      const oInactive = os === Ep.INACTIVE || os === Ep.PARTIAL;
      const rInactive = rs === Ep.INACTIVE || rs === Ep.PARTIAL;
      if (rs === Ep.RESET) {
        if (os === Ep.SYN_SENT || os === Ep.SYN_ACK_SENT || (os === Ep.RESET && tcpSize(t.orig) === 0 && tcpSize(t.resp) === 0))
          return 'REJ';
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

  private emitRecord(c: Conn, interim: boolean): void {
    const history = c.hist;
    let ob: number;
    let rb: number;
    if (c.kind === Kind.TCP) {
      ob = tcpSize(c.tcp!.orig);
      rb = tcpSize(c.tcp!.resp);
    } else {
      ob = c.origLen > 0 ? c.origLen : 0;
      rb = c.respLen > 0 ? c.respLen : 0;
    }
    const oa = bytesOf(c.origAddr, this.scratchA);
    const ra = bytesOf(c.respAddr, this.scratchB);
    if (c.cid === null) {
      c.cid = communityIdFromBytes(this.opts.communityIdSeed, c.ipProto, oa, 0, ra, 0, c.addrLen, c.origP, c.respP);
    }
    const local_orig = this.local.contains(oa, 0, c.addrLen);
    const local_resp = this.local.contains(ra, 0, c.addrLen);
    const proto: Transport =
      c.kind === Kind.TCP ? 'tcp' : c.kind === Kind.UDP ? 'udp' : c.kind === Kind.ICMP ? 'icmp' : 'unknown_transport';
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
    if (!interim) this.stats.emitted++;
    this.emit(r);
  }
}
