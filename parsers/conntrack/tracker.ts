/**
 * Connection tracking with Zeek's conn.log semantics (see ../shared/spec/connection-record.md).
 *
 * The TCP logic follows Zeek's TCPSessionAdapter / TCP_Endpoint / TCP_Reassembler (gap
 * accounting only) closely, so that conn_state, history, byte counts and the moment a
 * connection is removed (which decides whether a later packet of the same 4-tuple starts a
 * new record) match Zeek's baselines. Per packet: the canonical key staged as integers in the
 * flow table (no key string), one hash probe, integer state updates; objects are created per
 * connection and per emitted record only.
 */
import { type DecodedPacket, DecodeStatus, type FlowLayer, TUNNEL_NAMES, TunnelKind } from '../decode/layers';
import { icmpCounterpart } from '../record/community-id';
import { LocalNets } from '../record/local-nets';
import type { ConnRecord } from '../record/conn';
import { uidFromWords } from '../record/uid';
import { FlowTable } from './flow-table';
import { TRACKER_DEFAULTS, type TrackerOptions, type TrackerStats } from './options';
import { RecordBuilder } from './build-record';
import { TcpSession } from './tcp-session';
import { E_STATE, EI, F_ACTIVE, F_LONG_TIMEOUT, S_FLAGS, TcpTable } from './tcp-table';
import { TcpStreams, type PayloadObserverFactory } from './payload';
import { ReassemblyBudget } from './reassembly';
import { transportChecksumOk, udpChecksumField } from './checksum';
import {
  ACK,
  Clock,
  Conn,
  Ep,
  H_DATA,
  H_PARTIAL,
  I_NEXT,
  I_PREV,
  I_WORDS,
  Kind,
  L_DNS,
  L_FIXED,
  L_ICMP,
  L_NONE,
  L_OTHER,
  L_TCP,
  L_TCP_PRE,
  L_UDP,
  NO_DEADLINE,
  N_LISTS,
  ROLE_DNS,
  ROLE_MASK,
  ROLE_NTP,
  ROLE_NTP_ORIG_DONE,
  ROLE_NTP_RESP_DONE,
  SC_CHK,
  SVC_TUNNEL_SHIFT,
  SYN,
  T_DEADLINE,
  T_FIRST_SEC,
  T_LAST_SEC,
  T_WORDS,
  TEREDO_ORIG,
  TEREDO_RESP,
  addService,
  checkHistory,
  dropObserver,
  extra,
  flipRoles,
  lastTs,
  scaledHistory,
  startTs,
} from './conn';

export type { TrackerOptions, TrackerStats } from './options';
export { BARE_LIKELY_SERVER_PORTS_TCP, BARE_LIKELY_SERVER_PORTS_UDP, DEFAULT_LIKELY_SERVER_PORTS_TCP, DEFAULT_LIKELY_SERVER_PORTS_UDP } from './options';

/** Ports Zeek's DNS analyzer is registered for on UDP (DNS::ports): its expire timer applies there. */
const DNS_UDP_PORTS: readonly number[] = [53, 137, 5353, 5355];
/** Distinct addresses and MACs interned before the table starts over. */
const RAW_STRINGS_MAX = 16384;
/** Slots of the direct-mapped cache of IPv4 address and MAC strings (a power of two). */
const RAW_SLOTS = 8192;

/**
 * Where in the processing of one packet a record (and the application records before it) comes
 * out, so that trackers each holding a share of the connections (analyze --threads) can have their
 * output merged into exactly the order one tracker would have produced. Read it in the emit
 * callback. Per packet: first the expiry of timers, list by list in deadline order (phase
 * EXPIRE: a = list, b = deadline, c = the stamp when the connection entered the list), then the
 * layers outermost first (phase TRACK: a = layer index); at the end the live connections by first
 * packet time (phase FINISH: a = first second, b = its nanoseconds, uid).
 */
export enum EmitPhase {
  EXPIRE = 0,
  TRACK = 1,
  FINISH = 2,
}
export interface EmitOrder {
  phase: EmitPhase;
  a: number;
  b: number;
  c: number;
  uid: string;
}

/** Set by buildKey: whether the packet's source is the lower endpoint of the canonical key. */
let gSrcLow = true;

// ---- the tracker ---------------------------------------------------------------------------

export class ConnectionTracker {
  readonly stats: TrackerStats = { live: 0, created: 0, emitted: 0, forcedFlushes: 0, timedOut: 0, interim: 0 };

  private readonly opts: TrackerOptions;
  private readonly table = new FlowTable<Conn>(1 << 12, T_WORDS, I_WORDS);
  /** Entry ids of the timer lists' first and last connections, -1 when empty. */
  private readonly heads = new Int32Array(N_LISTS).fill(-1);
  private readonly tails = new Int32Array(N_LISTS).fill(-1);
  private readonly timeouts: number[];
  private readonly records: RecordBuilder;
  private readonly clock = new Clock();
  private readonly tcp: TcpSession;
  /** TCP state of the live TCP connections (Conn.tcp is the slot). */
  private readonly tcpTable = new TcpTable();
  private uidSeq = 0;
  /**
   * The uids of the connections the last onPacket touched, outermost layer first (a tunnelled
   * packet belongs to its carrier and to the inner connection): `packetUidCount` of them are valid.
   * For the packet ring (per-connection pcaps of a live capture); reused, so no per-packet object.
   */
  readonly packetUids: string[] = [];
  packetUidCount = 0;
  /** The current emission's place in the packet's processing (see EmitOrder). */
  readonly order: EmitOrder = { phase: EmitPhase.TRACK, a: 0, b: 0, c: 0, uid: '' };
  /** The connections `finishStep` emits, oldest first; null until the input ends. */
  private finishing: (Conn | undefined)[] | null = null;
  private finishAt = 0;
  /**
   * Set by a caller that shards packets over several trackers to the packet's global index times
   * 64 before each onPacket/tick; connections entering a timer list keep it (plus 1 + layer when
   * a layer is tracked) so equal deadlines keep their order across shards. Unused otherwise.
   */
  stampBase = 0;
  private stamp = 0;
  /**
   * The current packet's time in seconds (see setClock). A field, not a parameter of track: a
   * double passed to a call V8 does not inline is boxed, a heap number per layer.
   */
  private now = 0;
  /** Out-of-order bytes held for payload analysis, across all connections. */
  private readonly reassemblyBudget: ReassemblyBudget;
  private readonly lspTcp = new Uint8Array(65536);
  private readonly lspUdp = new Uint8Array(65536);
  private readonly dnsUdp = new Uint8Array(65536);
  /** Per UDP responder port, the ROLE_* analyzer Zeek attaches there (DNS::ports, NTP::ports). */
  private readonly roleUdp = new Uint8Array(65536);
  private readonly verify: boolean;
  private readonly keyVlan: boolean;
  private readonly keyTunnel: boolean;
  /** Interim records on (interimIntervalSec > 0; 3600 by default). */
  private readonly interimOn: boolean;
  /** See intern(). */
  private readonly rawStrings = new Map<string, string>();
  /** See internShort(): per slot the two key words and the string. */
  private readonly rawKeys = new Int32Array(RAW_SLOTS * 2);
  private readonly rawTexts: string[] = new Array<string>(RAW_SLOTS).fill('');

  constructor(
    opts: Partial<TrackerOptions>,
    private readonly emit: (r: ConnRecord) => void,
  ) {
    const o: TrackerOptions = { ...TRACKER_DEFAULTS };
    for (const k of Object.keys(opts) as (keyof TrackerOptions)[]) {
      if (opts[k] !== undefined) (o as unknown as Record<string, unknown>)[k] = opts[k];
    }
    if (!(o.maxConnections >= 1)) throw new Error('maxConnections must be >= 1');
    this.opts = o;
    this.timeouts = [o.tcpInactivitySec, o.udpInactivitySec, o.udpInactivitySec, o.icmpInactivitySec, o.otherInactivitySec, 0, 0];
    this.records = new RecordBuilder(new LocalNets(o.localNets), o.communityIdSeed, this.tcpTable, this.table);
    this.tcp = new TcpSession(o, this.clock, this.tcpTable, this.table);
    this.reassemblyBudget = new ReassemblyBudget(o.reassemblyTotalBytes);
    for (const p of o.likelyServerPortsTcp) this.lspTcp[p & 0xffff] = 1;
    for (const p of o.likelyServerPortsUdp) this.lspUdp[p & 0xffff] = 1;
    if (o.dnsSessionTimeoutSec > 0) for (const p of DNS_UDP_PORTS) this.dnsUdp[p] = 1;
    for (const p of DNS_UDP_PORTS) this.roleUdp[p] = ROLE_DNS;
    this.roleUdp[123] = ROLE_NTP;
    this.verify = o.verifyChecksums;
    this.keyVlan = o.keyVlan;
    this.keyTunnel = o.keyTunnel;
    this.interimOn = o.interimIntervalSec > 0;
  }

  /**
   * One decoded packet (status OK or MALFORMED with count>=1 layers) at time tsSec + tsNsec/1e9;
   * packet time drives all timers. Every layer is tracked, the outermost first.
   */
  // The per-packet entry of analyze's single-thread path: kept without optional parameters and
  // small, so V8 inlines it there (default parameters had made it too large to inline).
  onPacket(d: DecodedPacket, tsSec: number, tsNsec: number): void {
    this.packetUidCount = 0;
    if (d.count <= 0 || (d.status !== DecodeStatus.OK && d.status !== DecodeStatus.MALFORMED)) return;
    this.setClock(tsSec, tsNsec);
    this.trackLayers(d, 0, d.count, null);
  }

  /**
   * onPacket for a tracker given a share of the layers: tracks layers `from` to `to` (exclusive),
   * the first carried by the connection `parent` (uid). Returns the uid of the last layer tracked
   * (`parent` when none was), or undefined when a layer stopped the packet (its inner layers are
   * not to be tracked).
   */
  onLayers(d: DecodedPacket, tsSec: number, tsNsec: number, from: number, to: number, parent: string | null): string | null | undefined {
    this.packetUidCount = 0;
    if (d.count <= 0 || (d.status !== DecodeStatus.OK && d.status !== DecodeStatus.MALFORMED)) return undefined;
    this.setClock(tsSec, tsNsec);
    return this.trackLayers(d, from, to, parent);
  }

  private setClock(tsSec: number, tsNsec: number): void {
    const now = tsSec + tsNsec / 1e9;
    this.clock.sec = tsSec;
    this.clock.nsec = tsNsec;
    this.now = now;
    this.tcp.now = now;
    this.expire();
  }

  private trackLayers(d: DecodedPacket, from: number, to: number, parent: string | null): string | null | undefined {
    // The carrying connection is passed on by uid: a forced flush while tracking an inner layer
    // may remove the outer one.
    const n = d.count;
    const order = this.order;
    order.b = order.c = 0;
    const repeated = d.repeated;
    for (let i = from; i < to; i++) {
      const l = d.layers[i];
      const nextTunnel = i + 1 < n ? d.layers[i + 1].tunnel : d.innerTunnel;
      order.a = i;
      this.stamp = this.stampBase + 1 + i;
      const c = this.track(l, parent, nextTunnel, i < repeated);
      if (c === null) return undefined;
      parent = c.uid;
      this.packetUids[this.packetUidCount++] = c.uid;
    }
    return parent;
  }

  /** The clock of a packet this tracker has no layer of (see onPacket's `from`): timers expire as they would with it. */
  tick(tsSec: number, tsNsec: number): void {
    this.clock.sec = tsSec;
    this.clock.nsec = tsNsec;
    this.now = tsSec + tsNsec / 1e9;
    this.expire();
  }

  /**
   * Moves the clock to tsSec + tsNsec/1e9 without a packet, expiring what timed out by then.
   * Live capture calls it from the wall clock so an idle connection ends when its timeout passes,
   * not when the next packet happens to arrive. Never moves the clock backwards.
   */
  advance(tsSec: number, tsNsec: number): void {
    if (tsSec < this.clock.sec || (tsSec === this.clock.sec && tsNsec <= this.clock.nsec)) return;
    this.clock.sec = tsSec;
    this.clock.nsec = tsNsec;
    this.now = tsSec + tsNsec / 1e9;
    this.expire();
  }

  /** End of input: emit every live connection. */
  finish(): void {
    while (!this.finishStep(Infinity));
  }

  /**
   * End of input, a step at a time: emits up to `max` of the live connections and returns true
   * once all are out. Between steps the caller can wait for its output to drain: a capture that
   * ends with 170k connections open emitted them all at once, and their records sat in the output
   * stream's queue (95 MB of buffers at the end of the 10M-packet bench run, its peak RSS).
   */
  finishStep(max: number): boolean {
    let live = this.finishing;
    if (live === null) {
      // Oldest first, as they began: a stable order that does not depend on table internals.
      const cols = this.table.cols;
      const first = (c: Conn): number => cols[c.fid * T_WORDS + T_FIRST_SEC];
      live = this.finishing = this.table.values().sort((a, b) => first(a) - first(b) || a.firstNsec - b.firstNsec || (a.uid < b.uid ? -1 : 1));
      this.finishAt = 0;
    }
    const order = this.order;
    order.phase = EmitPhase.FINISH;
    order.c = 0;
    const end = Math.min(live.length, this.finishAt + max);
    for (let i = this.finishAt; i < end; i++) {
      const c = live[i] as Conn;
      order.a = this.table.cols[c.fid * T_WORDS + T_FIRST_SEC];
      order.b = c.firstNsec;
      order.uid = c.uid;
      this.remove(c);
      // Let the emitted connection go now, not when the last step ends.
      live[i] = undefined;
    }
    this.finishAt = end;
    order.phase = EmitPhase.TRACK;
    if (end < live.length) return false;
    this.finishing = null;
    this.table.clear();
    this.tcpTable.clear();
    this.stats.live = 0;
    return true;
  }

  // ---- per layer ----

  /**
   * `repeat`: the layer carried an earlier packet of the same frame (an A-MSDU's later subframes)
   * and was counted with it; only its connection is wanted, as the parent of the layers inside.
   */
  private track(l: FlowLayer, parent: string | null, nextTunnel: TunnelKind, repeat: boolean): Conn | null {
    const now = this.now;
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
      // SCTP included: Zeek logs it as unknown_transport with ports 0/0 and keys it on the addresses.
      kind = Kind.OTHER;
    }

    // Zeek's IP analyzer drops a packet whose IPv4 header checksum fails before any connection
    // sees it (inner layers included), so nothing is created or counted.
    const verify = this.verify;
    if (verify && l.ipChecksumBad) return null;

    this.buildKey(l, sp, dp, oneWay);
    const srcLow = gSrcLow;
    let c = this.table.get();
    if (repeat && c !== undefined) return c;
    const flags = l.tcpFlags;
    if (c !== undefined && c.list === L_DNS && this.table.cols[c.fid * T_WORDS + T_DEADLINE] <= now) {
      // The DNS expire tick is due (its list is not strictly ordered): Zeek would have removed it.
      this.stats.timedOut++;
      this.remove(c);
      c = undefined;
    }

    this.uidSeq = 0;
    // SYN tested here: only then is the sequence number (a heap number from 2^31 up) passed on.
    if (c !== undefined && kind === Kind.TCP && (flags & SYN) !== 0 && this.tcp.isReuse(c.tcp, flags, l.seq)) {
      // The successor shares the key; at the same instant it would share the uid hash input too.
      if (this.table.cols[c.fid * T_WORDS + T_FIRST_SEC] === this.clock.sec && c.firstNsec === this.clock.nsec)
        this.uidSeq = (c.x === null ? 0 : c.x.uidSeq) + 1;
      this.remove(c);
      c = undefined;
    }
    if (c === undefined) c = this.create(kind, l, srcLow, sp, dp, parent);
    else if (parent !== (c.x === null ? null : c.x.encap)) this.encapChanged(c, parent);

    const isOrig = srcLow === c.origIsLow;

    if (verify && kind <= Kind.ICMP && !this.checksumOk(l, kind, nextTunnel)) {
      // Zeek's TCP, UDP and ICMP analyzers drop the packet after noting it in the history (as
      // documented from Zeek 8.2): no counts, no activity, nothing for the layers inside.
      scaledHistory(c, SC_CHK, 67 /* C */, isOrig);
      if (c.list === L_NONE) this.schedule(c);
      return null;
    }

    switch (kind) {
      case Kind.TCP:
        this.tcp.packet(c, c.tcp, l, isOrig);
        break;
      default: {
        this.table.cols[c.fid * T_WORDS + T_LAST_SEC] = this.clock.sec;
        c.lastNsec = this.clock.nsec;
        // Zeek's unknown-transport adapter keeps no endpoint sizes, so SCTP and other IP protocols
        // log 0 bytes each way (cisco-fabric-path.pcap: SCTP with 12-byte chunks, orig_bytes 0).
        const len = kind === Kind.OTHER ? 0 : l.payloadLen;
        if (isOrig) {
          if (kind === Kind.UDP) checkHistory(c, H_DATA, 68 /* D */, true);
          c.origLen = c.origLen < 0 ? len : c.origLen + len;
        } else {
          if (kind === Kind.UDP) checkHistory(c, H_DATA, 68, false);
          c.respLen = c.respLen < 0 ? len : c.respLen + len;
        }
        if ((c.bits & ROLE_MASK) !== 0 && kind === Kind.UDP) this.analyzerFlip(c, l, isOrig);
        if (c.observer !== null && kind === Kind.UDP && l.capturedPayloadLen > 0) {
          c.observer.datagram(isOrig, l.buf, l.payloadOff, l.capturedPayloadLen, now);
        }
      }
    }

    if (c.observer !== null) this.pollObserver(c);

    // Zeek sums the IP header's own length field: a TSO segment whose IPv4 total length is 0
    // counts as a packet of 0 IP bytes (missing_ldap_logs.pcapng), though its payload is analysed.
    const ipBytes = l.ipVersion === 4 && l.buf[l.ipOff + 2] === 0 && l.buf[l.ipOff + 3] === 0 ? 0 : l.ipTotalLen;
    if (isOrig) {
      c.origPkts++;
      c.origIpBytes += ipBytes;
    } else {
      c.respPkts++;
      c.respIpBytes += ipBytes;
    }

    if (nextTunnel !== TunnelKind.NONE && nextTunnel !== c.bits >>> SVC_TUNNEL_SHIFT) this.tunnelService(c, nextTunnel, isOrig);

    // Nothing above removes `c` from the table (reuse is handled before), so it is live here.
    this.schedule(c);
    if (this.interimOn && now >= this.interimDue(c)) this.interim(c, now);
    return c;
  }

  /**
   * The tunnel a layer carries names a service of its connection (Teredo once seen both ways).
   * Once the name is in the list, the kind in Conn.bits lets track skip this call for the same
   * tunnel; for Teredo only after both directions were seen, so the TEREDO_* bits keep counting until then.
   */
  private tunnelService(c: Conn, nextTunnel: TunnelKind, isOrig: boolean): void {
    const name = TUNNEL_NAMES[nextTunnel];
    if (nextTunnel === TunnelKind.TEREDO) {
      const b = c.bits | (isOrig ? TEREDO_ORIG : TEREDO_RESP);
      c.bits = b;
      if ((b & (TEREDO_ORIG | TEREDO_RESP)) !== (TEREDO_ORIG | TEREDO_RESP)) return;
    }
    if (name) addService(c, name);
    c.bits = (c.bits & ((1 << SVC_TUNNEL_SHIFT) - 1)) | (nextTunnel << SVC_TUNNEL_SHIFT);
  }

  /**
   * Canonical key: header units (proto and address length; VLANs and tunnel kind and id only
   * with keyVlan / keyTunnel), then the lower (address, port) endpoint first, so both directions map to one key. One-way ICMP keeps
   * packet order, as Zeek does. Sets gSrcLow.
   */
  private buildKey(l: FlowLayer, sp: number, dp: number, oneWay: boolean): void {
    const b = l.buf;
    const s = l.srcOff;
    const d = l.dstOff;
    const k = this.table.key;
    // Zeek's default key is the 5-tuple alone: VLANs and the tunnel path only with the options.
    const kt = this.keyTunnel;
    k[0] = l.proto | (kt ? l.tunnel << 8 : 0) | (l.addrLen << 16);
    k[1] = this.keyVlan ? (l.vlan + 1) | ((l.innerVlan + 1) << 16) : 0;
    k[2] = kt ? l.tunnelId : 0;
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

  /**
   * Zeek Connection::CheckEncapsulation and the conn script's tunnel_changed handler: a packet
   * that arrives through another outer flow adds that flow to tunnel_parents, up to
   * tunnelMaxChanges changes; past the limit the history gets `X` (analysis partial).
   */
  private encapChanged(c: Conn, parent: string | null): void {
    const x = extra(c);
    const old = x.encap;
    x.encap = parent;
    if (parent === null) return;
    if (old !== null) {
      const max = this.opts.tunnelMaxChanges;
      if (max > 0 && x.tunnelChanges >= max) {
        checkHistory(c, H_PARTIAL, 88 /* X */, true);
        return;
      }
      x.tunnelChanges++;
    }
    const ps = x.parents;
    if (ps === null) x.parents = [parent];
    else if (ps.indexOf(parent) < 0) ps.push(parent);
  }

  /**
   * After a packet's payload went to the observer: Zeek's `X` in the history once the analysis gave
   * up on part of the connection, and the observer let go once it can never log (idle).
   */
  private pollObserver(c: Conn): void {
    const obs = c.observer;
    if (obs === null) return;
    if (obs.partial !== undefined && (c.histSeen & H_PARTIAL) === 0 && obs.partial()) checkHistory(c, H_PARTIAL, 88 /* X */, true);
    if (obs.idle?.()) dropObserver(c);
  }

  /** Zeek's TCP / UDP / ICMP checksum check, with its exemptions (unchecked when not fully captured; UDP 0 over IPv4 and VXLAN). */
  private checksumOk(l: FlowLayer, kind: Kind, nextTunnel: TunnelKind): boolean {
    if (l.capturedPayloadLen < l.payloadLen || l.l4Off + l.l4Len > l.buf.length) return true;
    if (kind === Kind.ICMP) return transportChecksumOk(l, l.ipVersion !== 4);
    if (kind === Kind.UDP && udpChecksumField(l) === 0) {
      if (l.ipVersion === 4) return true;
      // VXLAN sends a zero checksum even over IPv6 (RFC 7348); Zeek accepts it on the VXLAN ports.
      if (nextTunnel === TunnelKind.VXLAN || l.dport === 4789) return true;
    }
    return transportChecksumOk(l);
  }

  /**
   * One string per distinct address or MAC among live connections: a cluster's connections repeat
   * a few hundred pods and gateways, and four private copies per connection were 96 of its bytes.
   * The fresh copy dies young; bounded like the record builder's text caches.
   */
  private intern(raw: string): string {
    const m = this.rawStrings;
    const kept = m.get(raw);
    if (kept !== undefined) return kept;
    if (m.size >= RAW_STRINGS_MAX) m.clear();
    m.set(raw, raw);
    return raw;
  }

  /**
   * intern() for the 4 bytes of an IPv4 address or the 6 of a MAC at b[o], without making the
   * string first: four Buffer.toString calls per connection and their Map lookups were a
   * tenth of a new connection's cost (--cpu-prof on the bench's pods capture). A slot holds
   * the last bytes that hashed to it, so a distinct address only rarely gets a second copy.
   */
  private internShort(b: Buffer, o: number, len: 4 | 6): string {
    const w0 = (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
    const w1 = len === 4 ? 4 : (6 << 16) | (b[o + 4] << 8) | b[o + 5];
    let h = Math.imul(w0 ^ Math.imul(w1, 0x85ebca6b), 0xcc9e2d51);
    h ^= h >>> 15;
    const slot = h & (RAW_SLOTS - 1);
    const keys = this.rawKeys;
    const texts = this.rawTexts;
    const t = texts[slot];
    if (keys[slot * 2] === w0 && keys[slot * 2 + 1] === w1 && t !== '') return t;
    const s = len === 4 ? String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]) : String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5]);
    keys[slot * 2] = w0;
    keys[slot * 2 + 1] = w1;
    texts[slot] = s;
    return s;
  }

  private create(kind: Kind, l: FlowLayer, srcLow: boolean, sp: number, dp: number, parent: string | null): Conn {
    // The staged key survives forceFlush: removals use the entry id, not the staging area.
    if (this.stats.live >= this.opts.maxConnections) this.forceFlush();
    const c = new Conn(kind, l.proto, l.addrLen);
    // First: its time columns are the entry's.
    c.fid = this.table.insert(c);
    const b = l.buf;
    if (l.addrLen === 4) {
      c.origAddr = this.internShort(b, l.srcOff, 4);
      c.respAddr = this.internShort(b, l.dstOff, 4);
    } else {
      c.origAddr = this.intern(b.toString('latin1', l.srcOff, l.srcOff + l.addrLen));
      c.respAddr = this.intern(b.toString('latin1', l.dstOff, l.dstOff + l.addrLen));
    }
    c.origP = sp;
    c.respP = dp;
    c.origIsLow = srcLow;
    if (l.srcMacOff >= 0 && l.srcMacOff + 6 <= b.length) c.origMac = this.internShort(b, l.srcMacOff, 6);
    if (l.dstMacOff >= 0 && l.dstMacOff + 6 <= b.length) c.respMac = this.internShort(b, l.dstMacOff, 6);
    if (l.vlan >= 0) extra(c).vlan = l.vlan;
    if (l.innerVlan >= 0) extra(c).innerVlan = l.innerVlan;
    if (l.tunnel !== TunnelKind.NONE) {
      const x = extra(c);
      x.tunnelType = TUNNEL_NAMES[l.tunnel] || null;
      x.tunnelId = l.tunnelId >= 0 ? l.tunnelId : null;
    }
    if (parent !== null) {
      const x = extra(c);
      x.encap = parent;
      x.parents = [parent];
    }
    if (l.proto === 132) {
      const x = extra(c);
      x.cidOrigP = l.sport;
      x.cidRespP = l.dport;
    }
    const at = c.fid * T_WORDS;
    const cols = this.table.cols;
    cols[at + T_FIRST_SEC] = this.clock.sec;
    cols[at + T_LAST_SEC] = this.clock.sec;
    c.firstNsec = this.clock.nsec;
    c.lastNsec = this.clock.nsec;
    if (this.uidSeq !== 0) extra(c).uidSeq = this.uidSeq;
    c.uid = uidFromWords(this.table.key, this.clock.sec, this.clock.nsec, this.uidSeq);
    if (kind === Kind.TCP) c.tcp = this.tcpTable.alloc();

    // Zeek's role guess for connections not starting with a plain SYN: a SYN-ACK's sender is the
    // responder (core.history-flip and core.local-flip baselines: flipped whatever the ports);
    // otherwise WantConnection's likely_server_ports heuristic.
    let flip = false;
    if (kind === Kind.TCP) {
      const f = l.tcpFlags;
      if ((f & SYN) === 0 || (f & ACK) !== 0) {
        if ((f & (SYN | ACK)) === (SYN | ACK)) flip = true;
        else if (this.lspTcp[sp]) flip = this.lspTcp[dp] ? sp < dp : true;
      }
    } else if (kind === Kind.UDP) {
      flip = this.lspUdp[sp] === 1 && this.lspUdp[dp] === 0;
    }
    // Zeek never makes the limited broadcast address an originator (a DHCP offer to 255.255.255.255).
    if (flip && !(l.addrLen === 4 && b[l.dstOff] === 255 && b[l.dstOff + 1] === 255 && b[l.dstOff + 2] === 255 && b[l.dstOff + 3] === 255))
      flipRoles(c, this.tcpTable);
    if (kind === Kind.UDP) c.bits = this.roleUdp[c.respP];
    if (this.opts.payload !== null) this.attachObserver(c, kind, kind === Kind.TCP && (l.tcpFlags & SYN) === 0);

    this.stats.live++;
    this.stats.created++;
    return c;
  }

  private unlink(c: Conn): void {
    const li = c.list;
    if (li === L_NONE) return;
    const ints = this.table.ints;
    const at = c.fid * I_WORDS;
    const prev = ints[at + I_PREV];
    const next = ints[at + I_NEXT];
    if (prev >= 0) ints[prev * I_WORDS + I_NEXT] = next;
    else this.heads[li] = next;
    if (next >= 0) ints[next * I_WORDS + I_PREV] = prev;
    else this.tails[li] = prev;
    ints[at + I_PREV] = ints[at + I_NEXT] = -1;
    c.list = L_NONE;
  }

  /**
   * Append at the tail, walking back a few steps when the deadline (set by the caller in the
   * T_DEADLINE column) is earlier than the tail's (clock skew). Not a parameter: a double passed
   * to a call V8 does not inline is boxed, a heap number per call for the garbage collector.
   */
  private link(c: Conn, li: number): void {
    const cols = this.table.cols;
    const ints = this.table.ints;
    const id = c.fid;
    const at = id * I_WORDS;
    const deadline = cols[id * T_WORDS + T_DEADLINE];
    c.list = li;
    c.linkStamp = this.stamp;
    let after = this.tails[li];
    let steps = 0;
    while (after >= 0 && cols[after * T_WORDS + T_DEADLINE] > deadline && steps < 8) {
      after = ints[after * I_WORDS + I_PREV];
      steps++;
    }
    if (after < 0) {
      const head = this.heads[li];
      ints[at + I_PREV] = -1;
      ints[at + I_NEXT] = head;
      if (head >= 0) ints[head * I_WORDS + I_PREV] = id;
      else this.tails[li] = id;
      this.heads[li] = id;
      return;
    }
    const next = ints[after * I_WORDS + I_NEXT];
    ints[at + I_PREV] = after;
    ints[at + I_NEXT] = next;
    ints[after * I_WORDS + I_NEXT] = id;
    if (next >= 0) ints[next * I_WORDS + I_PREV] = id;
    else this.tails[li] = id;
  }

  private schedule(c: Conn): void {
    let li: number;
    let dl: number;
    const s = c.tcp;
    const tt = this.tcpTable;
    if (s >= 0 && (tt.deleteAt(s) !== NO_DEADLINE || tt.attemptAt(s) !== NO_DEADLINE)) {
      li = L_FIXED;
      dl = Math.min(tt.deleteAt(s), tt.attemptAt(s));
    } else if (c.kind === Kind.UDP && this.dnsUdp[c.respP] === 1) {
      li = L_DNS;
      // The unary plus types the call's result as a number: without it `dl` was kept tagged on
      // every path, a heap number per scheduled packet.
      dl = +this.dnsDeadline(c);
    } else {
      li =
        c.kind === Kind.TCP
          ? (tt.i32[s * 2 * EI + S_FLAGS] & F_LONG_TIMEOUT) !== 0
            ? L_TCP
            : L_TCP_PRE
          : c.kind === Kind.UDP
            ? L_UDP
            : c.kind === Kind.ICMP
              ? L_ICMP
              : L_OTHER;
      dl = lastTs(c, this.table.cols) + this.timeouts[li];
    }
    const cols = this.table.cols;
    const at = c.fid * T_WORDS + T_DEADLINE;
    if (c.list === li && cols[at] === dl) return;
    const links = c.fid * I_WORDS;
    if (c.list === li && this.table.ints[links + I_NEXT] < 0) {
      // already the tail: update in place when order is preserved
      const prev = this.table.ints[links + I_PREV];
      if (prev < 0 || cols[prev * T_WORDS + T_DEADLINE] <= dl) {
        cols[at] = dl;
        c.linkStamp = this.stamp;
        return;
      }
    }
    this.unlink(c);
    cols[at] = dl;
    this.link(c, li);
  }

  /**
   * Zeek's DNS analyzer checks every dns_session_timeout from the connection's start and removes
   * it once idle for that long minus one second. Kept out of schedule so that stays small enough
   * for V8 to inline into track (its per-packet caller).
   */
  private dnsDeadline(c: Conn): number {
    const iv = this.opts.dnsSessionTimeoutSec;
    const cols = this.table.cols;
    const last = lastTs(c, cols);
    const start = startTs(c, cols);
    const k = Math.max(1, Math.ceil((last + iv - 1 - start) / iv));
    // The UDP inactivity timer still runs beside it (it only comes first when set below 9 s).
    return Math.min(start + k * iv, last + this.timeouts[L_UDP]);
  }

  /**
   * Expires what is due by `now` (the field: as a parameter of expireFrom, a call in a loop, the
   * time was boxed ahead of the loop, a heap number per packet whether anything expired or not).
   */
  private expire(): void {
    const now = this.now;
    // Per packet: most packets expire nothing, and pay only for a look at each list's head.
    const heads = this.heads;
    const cols = this.table.cols;
    for (let li = 0; li < N_LISTS; li++) {
      const h = heads[li];
      if (h >= 0 && cols[h * T_WORDS + T_DEADLINE] <= now) {
        this.expireFrom(li);
        return;
      }
    }
  }

  /** expire from list `first` on (the lists before it have nothing due). */
  private expireFrom(first: number): void {
    const now = this.now;
    const order = this.order;
    order.phase = EmitPhase.EXPIRE;
    this.stamp = this.stampBase;
    // Expiry inserts nothing, so the columns stay where they are.
    const table = this.table;
    const cols = table.cols;
    const ints = table.ints;
    for (let li = first; li < N_LISTS; li++) {
      let c = table.at(this.heads[li]);
      while (c !== undefined && cols[c.fid * T_WORDS + T_DEADLINE] <= now) {
        const n = ints[c.fid * I_WORDS + I_NEXT];
        // The Conn, not its id: fire may remove it (its id is then free), and the list check below tells.
        const next = n >= 0 ? table.at(n) : undefined;
        order.a = li;
        order.b = cols[c.fid * T_WORDS + T_DEADLINE];
        order.c = c.linkStamp;
        this.fire(c, li);
        c = next !== undefined && next.list === li ? next : table.at(this.heads[li]);
      }
    }
    order.phase = EmitPhase.TRACK;
  }

  private fire(c: Conn, li: number): void {
    const now = this.now;
    if (li === L_FIXED) {
      const s = c.tcp;
      const tt = this.tcpTable;
      if (tt.deleteAt(s) <= now) {
        this.stats.timedOut++;
        this.remove(c);
        return;
      }
      // attempt timer (Zeek AttemptTimer)
      tt.clearAttempt(s);
      const oe = tt.origEp(s);
      const o = tt.i32[oe * EI + E_STATE];
      const active = (tt.i32[s * 2 * EI + S_FLAGS] & F_ACTIVE) !== 0;
      if (active && (o === Ep.SYN_SENT || o === Ep.SYN_ACK_SENT) && tt.i32[(oe ^ 1) * EI + E_STATE] === Ep.INACTIVE) {
        this.stats.timedOut++;
        this.remove(c);
        return;
      }
      this.unlink(c);
      this.schedule(c);
      if (this.table.cols[c.fid * T_WORDS + T_DEADLINE] <= now && c.list !== L_FIXED) {
        this.stats.timedOut++;
        this.remove(c);
      }
      return;
    }
    this.stats.timedOut++;
    this.remove(c);
  }

  private forceFlush(): void {
    let best: Conn | undefined;
    for (let li = 0; li < N_LISTS; li++) {
      const h = this.table.at(this.heads[li]);
      if (h !== undefined && (best === undefined || lastTs(h, this.table.cols) < lastTs(best, this.table.cols))) best = h;
    }
    if (best === undefined) {
      // every live connection is unscheduled (should not happen): take any
      const all = this.table.values();
      if (all.length === 0) return;
      best = all[0];
    }
    this.stats.forcedFlushes++;
    this.remove(best);
  }

  /**
   * The orientation checks of Zeek's DNS and NTP analyzers (attached by responder port), run on a
   * datagram after its history letter and payload sum and before its packet count, as in Zeek:
   * the packet still counts for the side it came from (ConnSize gets the pre-flip direction).
   * DNS: the first message (a whole header) a response from the originator, and the responder
   * not multicast. NTP: a whole standard message in server mode from the originator or in client
   * mode from the responder; each direction of delivery flips at most once.
   */
  private analyzerFlip(c: Conn, l: FlowLayer, isOrig: boolean): void {
    const p = c.bits & ROLE_MASK;
    const n = l.capturedPayloadLen;
    const b = l.buf;
    const o = l.payloadOff;
    if (p & ROLE_DNS) {
      if (n < 12) return;
      c.bits &= ~ROLE_MASK;
      const first = c.respAddr.charCodeAt(0);
      const multicast = c.addrLen === 4 ? first >= 224 && first <= 239 : first === 0xff;
      if (isOrig && (b[o + 2] & 0x80) !== 0 && !multicast) flipRoles(c, this.tcpTable);
      return;
    }
    const done = isOrig ? ROLE_NTP_ORIG_DONE : ROLE_NTP_RESP_DONE;
    if (n < 48 || (p & done) !== 0) return;
    const mode = b[o] & 7;
    if ((mode === 4 && isOrig) || (mode === 3 && !isOrig)) {
      c.bits |= done;
      flipRoles(c, this.tcpTable);
    }
  }

  private attachObserver(c: Conn, kind: Kind, midStream: boolean): void {
    const info = this.records.info(c);
    const obs = (this.opts.payload as PayloadObserverFactory)(info, midStream);
    if (obs === null) return;
    c.observer = obs;
    c.info = info;
    if (kind === Kind.TCP) c.streams = new TcpStreams(obs, this.reassemblyBudget, this.opts.reassemblyPerDirectionBytes);
  }

  /** Folds the services the payload confirmed into the connection's. */
  private mergeServices(c: Conn): void {
    const obs = c.observer;
    if (obs === null) return;
    for (const name of obs.services()) addService(c, name);
  }

  /** The connection ends: flush its streams and let its analysis finish before the record. */
  private endPayload(c: Conn): void {
    if (c.observer === null) return;
    const last = lastTs(c, this.table.cols);
    c.streams?.close(last);
    c.observer.end(last);
    if ((c.histSeen & H_PARTIAL) === 0 && c.observer.partial?.()) checkHistory(c, H_PARTIAL, 88 /* X */, true);
    this.mergeServices(c);
  }

  private remove(c: Conn): void {
    this.endPayload(c);
    this.unlink(c);
    this.stats.live--;
    this.emitRecord(c, false);
    // After the record, which reads the entry's columns and the TCP state.
    this.table.delete(c.fid);
    c.fid = -1;
    if (c.tcp >= 0) {
      this.tcpTable.release(c.tcp);
      c.tcp = -1;
    }
  }

  /**
   * When the connection's next interim record is due. Until its first one the deadline is derived
   * from its start (the same sum the deadline was once stored as), so that interim records, on by
   * default, do not give every connection a ConnExtra: 88 bytes and a boxed double each.
   */
  private interimDue(c: Conn): number {
    const x = c.x;
    return x === null || x.nextInterim === NO_DEADLINE ? startTs(c, this.table.cols) + this.opts.interimIntervalSec : x.nextInterim;
  }

  private interim(c: Conn, now: number): void {
    this.mergeServices(c);
    this.emitRecord(c, true);
    this.stats.interim++;
    const iv = this.opts.interimIntervalSec;
    const x = extra(c);
    if (x.nextInterim === NO_DEADLINE) x.nextInterim = startTs(c, this.table.cols) + iv;
    while (x.nextInterim <= now) x.nextInterim += iv;
  }

  private emitRecord(c: Conn, interim: boolean): void {
    const r = this.records.build(c, interim);
    if (!interim) this.stats.emitted++;
    this.emit(r);
  }
}
