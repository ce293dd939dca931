/**
 * Conversations built from packet-builder: TCP sessions with correct seq/ack progression,
 * UDP exchanges, link framing (plain Ethernet or Flannel-style VXLAN), a deterministic PRNG,
 * and a time-ordered merge of many concurrent conversations.
 *
 * Each conversation also fills a ConnExpect with what a Zeek-compatible analyser should report
 * for it (history letters follow Zeek's update_history() in TCPSessionAdapter.cc).
 */
import { Flags, Proto, VXLAN_PORT_FLANNEL, ethernet, etherTypeFor, ip, tcp, tcpOptions, udp, vxlan } from './packet-builder';

/** One captured packet: integer microseconds since the epoch and the frame bytes. */
export interface Pkt {
  tsUs: number;
  data: Buffer;
}

export interface Peer {
  mac: string;
  ip: string;
  port: number;
}

// ---------------------------------------------------------------- PRNG

/** mulberry32: tiny, fast, deterministic for a given seed (never Math.random). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
  /** Linux ephemeral port range (net.ipv4.ip_local_port_range default 32768..60999). */
  ephemeralPort(): number {
    return this.int(32768, 60999);
  }
}

// ---------------------------------------------------------------- expectations

export type ExpectedState = 'S0' | 'S1' | 'SF' | 'REJ' | 'S2' | 'S3' | 'RSTO' | 'RSTR' | 'RSTOS0' | 'RSTRH' | 'SH' | 'SHR' | 'OTH';

/** What a Zeek-compatible analyser should log for one connection. */
export interface ConnExpect {
  /** First packet, seconds since the epoch (µs resolution). */
  ts: number;
  proto: 'tcp' | 'udp' | 'icmp';
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  conn_state: ExpectedState;
  history: string;
  orig_pkts: number;
  resp_pkts: number;
  orig_bytes: number;
  resp_bytes: number;
  orig_ip_bytes: number;
  resp_ip_bytes: number;
  /** Set for connections carried inside a tunnel. */
  tunnel_type?: 'vxlan';
  tunnel_id?: number;
  /** Free text: what the connection represents. */
  label: string;
}

function newExpect(proto: ConnExpect['proto'], o: Peer, r: Peer, label: string): ConnExpect {
  return {
    ts: 0,
    proto,
    orig_h: o.ip,
    orig_p: o.port,
    resp_h: r.ip,
    resp_p: r.port,
    conn_state: 'OTH',
    history: '',
    orig_pkts: 0,
    resp_pkts: 0,
    orig_bytes: 0,
    resp_bytes: 0,
    orig_ip_bytes: 0,
    resp_ip_bytes: 0,
    label,
  };
}

const TUNNEL_MAX_CHANGES = 5;
const HIST_SYN = 1,
  HIST_FIN = 2,
  HIST_RST = 4,
  HIST_ACK = 8,
  HIST_DATA = 16,
  HIST_MULTI = 32,
  HIST_FINRST = 64;

/** Zeek's per-endpoint history bookkeeping (TCP_Endpoint::CheckHistory / hist_last_*). */
class HistoryTracker {
  private seen = [0, 0];
  private lastSyn = [-1, -1];
  private lastFin = [-1, -1];
  private lastRst = [-1, -1];
  private outer: string | null = null;
  private outerChanges = 0;
  constructor(private readonly e: ConnExpect) {}

  /**
   * The packet travels through outer flow `path` (Zeek Connection::CheckEncapsulation): after
   * Tunnel::max_changes_per_connection (5) changes, the next one marks the history `X` once.
   */
  encap(path: string): void {
    const old = this.outer;
    this.outer = path;
    if (old === null || old === path) return;
    if (this.outerChanges < TUNNEL_MAX_CHANGES) this.outerChanges++;
    else if (!this.e.history.includes('X')) this.e.history += 'X';
  }

  private add(orig: boolean, code: string): void {
    this.e.history += orig ? code : code.toLowerCase();
  }

  /** True when the letter was seen before (Zeek's CheckHistory return value). */
  private check(orig: boolean, mask: number, code: string): boolean {
    const i = orig ? 0 : 1;
    if ((this.seen[i] & mask) === 0) {
      this.seen[i] |= mask;
      this.add(orig, code);
      return false;
    }
    return true;
  }

  tcp(orig: boolean, flags: number, relSeq: number, len: number): void {
    const i = orig ? 0 : 1;
    const syn = (flags & Flags.SYN) !== 0,
      fin = (flags & Flags.FIN) !== 0,
      rst = (flags & Flags.RST) !== 0;
    const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    if (bits > 1) {
      if (fin && rst) this.check(orig, HIST_FINRST, 'I');
      else this.check(orig, HIST_MULTI, 'Q');
    } else if (bits === 1) {
      if (syn) {
        const code = flags & Flags.ACK ? 'H' : 'S';
        if (this.check(orig, HIST_SYN, code) && relSeq !== this.lastSyn[i]) this.add(orig, code);
        this.lastSyn[i] = relSeq;
      }
      if (fin) {
        if (this.check(orig, HIST_FIN, 'F') && relSeq + len !== this.lastFin[i]) this.add(orig, 'F');
        this.lastFin[i] = relSeq + len;
      }
      if (rst) {
        if (this.check(orig, HIST_RST, 'R') && relSeq !== this.lastRst[i]) this.add(orig, 'R');
        this.lastRst[i] = relSeq;
      }
    } else if (len > 0) {
      this.check(orig, HIST_DATA, 'D');
    } else if (flags & Flags.ACK) {
      this.check(orig, HIST_ACK, 'A');
    }
  }

  udp(orig: boolean, len: number): void {
    if (len > 0) this.check(orig, HIST_DATA, 'D');
  }
}

// ---------------------------------------------------------------- framing

/** Turns an IP packet into the captured frame; `fromOrig` is the direction. */
export type Framer = ((ipPacket: Buffer, fromOrig: boolean, srcIp: string, tsUs: number) => Buffer) & {
  /** Tunnelling framers: which outer flow carries a packet in that direction. */
  outerPath?: (fromOrig: boolean) => string;
};

/** Plain Ethernet between two MACs (optionally 802.1Q-tagged). */
export function ethernetFramer(origMac: string, respMac: string, vlan?: number): Framer {
  return (pkt, fromOrig, srcIp) => ethernet(fromOrig ? { src: origMac, dst: respMac, vlan } : { src: respMac, dst: origMac, vlan }, etherTypeFor(srcIp), pkt);
}

export interface Node {
  /** Underlay NIC MAC and IP. */
  mac: string;
  ip: string;
  /** flannel.1 (VXLAN device) MAC: the inner frame's source/destination. */
  vtepMac: string;
}

/** Outer UDP flows seen on the underlay, keyed "srcIp sport dstIp dport". */
export type OuterTally = Map<string, { ts: number; pkts: number; ipBytes: number; src: string; sport: number; dst: string; dport: number }>;

export interface VxlanFramerSpec {
  origNode: Node;
  respNode: Node;
  vni: number;
  dport?: number;
  /** Outer source ports per direction (Linux hashes the inner flow with a per-host seed, so they differ). */
  sportOrig: number;
  sportResp: number;
  /** Per-node outer IPv4 id counters, shared by all flows leaving that node. */
  ipIds: Map<string, number>;
  tally?: OuterTally;
}

/** Flannel-style VXLAN: inner frame between the nodes' VTEP MACs, outer UDP between node IPs. */
export function vxlanFramer(s: VxlanFramerSpec): Framer {
  const dport = s.dport ?? VXLAN_PORT_FLANNEL;
  const f: Framer = (pkt, fromOrig, srcIp, tsUs) => {
    const from = fromOrig ? s.origNode : s.respNode;
    const to = fromOrig ? s.respNode : s.origNode;
    const inner = ethernet({ src: from.vtepMac, dst: to.vtepMac }, etherTypeFor(srcIp), pkt);
    const id = s.ipIds.get(from.ip) ?? 0;
    s.ipIds.set(from.ip, (id + 1) & 0xffff);
    const sport = fromOrig ? s.sportOrig : s.sportResp;
    const frame = vxlan({ outerEth: { src: from.mac, dst: to.mac }, outerIp: { src: from.ip, dst: to.ip, id, df: false }, sport, dport, vni: s.vni }, inner);
    if (s.tally) {
      const key = `${from.ip} ${sport} ${to.ip} ${dport}`;
      let t = s.tally.get(key);
      if (!t) {
        t = { ts: tsUs / 1e6, pkts: 0, ipBytes: 0, src: from.ip, sport, dst: to.ip, dport };
        s.tally.set(key, t);
      }
      t.pkts++;
      t.ipBytes += frame.length - 14;
    }
    return frame;
  };
  // Each direction has its own outer source port, hence its own outer UDP flow.
  f.outerPath = (fromOrig) => (fromOrig ? `${s.sportOrig}` : `${s.sportResp}`);
  return f;
}

// ---------------------------------------------------------------- TCP

export type TcpOpen = 'handshake' | 'reject' | 'unanswered' | 'midstream' | 'syn-fin' | 'syn-rst' | 'syn-scan';
export type TcpClose = 'fin' | 'fin-server-first' | 'rst-client' | 'rst-server' | 'none';

export interface TcpMessage {
  from: 'client' | 'server';
  data: Buffer;
  /** Delay before this message is sent, after the previous packet (default: the RTT for a server reply, 0.2 ms otherwise). */
  gapUs?: number;
}

export interface TcpSessionSpec {
  client: Peer;
  server: Peer;
  startUs: number;
  /** Round trip seen from the capture point (near the client). */
  rttUs: number;
  messages?: TcpMessage[];
  open?: TcpOpen;
  close?: TcpClose;
  /** Segment size (default 1398: MTU 1450 of a Flannel VXLAN pod network minus 40 IP/TCP minus 12 TS option). */
  mss?: number;
  /** SYN retransmissions for 'unanswered' (Linux: 1 s, then 2 s, ...; default 2). */
  synRetries?: number;
  /** 'syn-scan' only: whether the port is open (SYN-ACK then the scanner's RST) or closed (RST). */
  scanOpen?: boolean;
  framer: Framer;
  rng: Rng;
  label?: string;
}

/** Yields the packets of one TCP conversation in time order; fills `expect` as it goes. */
export function* tcpSession(s: TcpSessionSpec, expect?: ConnExpect): Generator<Pkt> {
  const { client, server, rng, framer } = s;
  const e = expect ?? newExpect('tcp', client, server, s.label ?? '');
  const hist = new HistoryTracker(e);
  const open = s.open ?? 'handshake';
  const mss = s.mss ?? 1398;
  const ts0 = s.startUs;
  let t = s.startUs;
  // Sequence state: next sequence number to send per side.
  const cIsn = rng.u32(),
    sIsn = rng.u32();
  let cNxt = cIsn,
    sNxt = sIsn;
  const cStart = open === 'midstream' ? cIsn - 1 : cIsn,
    sStart = open === 'midstream' ? sIsn - 1 : sIsn;
  let cIpId = rng.int(0, 0xffff),
    sIpId = rng.int(0, 0xffff);
  const tsBaseC = rng.u32(),
    tsBaseS = rng.u32();
  // Picked up mid-stream, both sides have already exchanged timestamps.
  let lastTsC = open === 'midstream' ? tsBaseC : 0,
    lastTsS = open === 'midstream' ? tsBaseS : 0;

  const emit = (fromClient: boolean, flags: number, payload: Buffer, synOpts = false, seqOverride?: number): Pkt => {
    const src = fromClient ? client : server,
      dst = fromClient ? server : client;
    const seq = seqOverride ?? (fromClient ? cNxt : sNxt);
    let ack = 0;
    if (flags & Flags.ACK) ack = fromClient ? sNxt : cNxt;
    const msNow = Math.floor((t - ts0) / 1000);
    const tsval = ((fromClient ? tsBaseC : tsBaseS) + msNow) >>> 0;
    const tsecr = fromClient ? lastTsS : lastTsC;
    if (fromClient) lastTsC = tsval;
    else lastTsS = tsval;
    const noTs = (flags & Flags.RST) !== 0; // Linux sends RSTs without options
    const options = synOpts
      ? tcpOptions({ mss: mss + 12, sackPermitted: true, timestamp: [tsval, flags & Flags.ACK ? tsecr : 0], wscale: 7 })
      : noTs
        ? undefined
        : tcpOptions({ timestamp: [tsval, tsecr] });
    const window = flags & Flags.SYN ? (fromClient ? 64860 : 64308) : fromClient ? 502 : 509;
    const seg = tcp(src.ip, dst.ip, { sport: src.port, dport: dst.port, seq, ack, flags, window, options }, payload);
    const ipId = fromClient ? cIpId++ : sIpId++;
    const ipPkt = ip({ src: src.ip, dst: dst.ip, id: ipId & 0xffff, ttl: 64, df: true }, Proto.TCP, seg);
    const data = framer(ipPkt, fromClient, src.ip, t);
    // Zeek's relative sequence numbers start at 0 for the SYN (or ISN-1 when the SYN was missed).
    const rel = (seq - (fromClient ? cStart : sStart)) >>> 0;
    const plen = flags & Flags.RST ? 0 : payload.length;
    if (framer.outerPath) hist.encap(framer.outerPath(fromClient));
    hist.tcp(fromClient, flags, rel, payload.length);
    if (e.orig_pkts + e.resp_pkts === 0) e.ts = t / 1e6;
    if (fromClient) {
      e.orig_pkts++;
      e.orig_ip_bytes += ipPkt.length;
      e.orig_bytes += plen;
    } else {
      e.resp_pkts++;
      e.resp_ip_bytes += ipPkt.length;
      e.resp_bytes += plen;
    }
    const seqLen = plen + (flags & Flags.SYN ? 1 : 0) + (flags & Flags.FIN ? 1 : 0);
    if (seqOverride === undefined) {
      if (fromClient) cNxt = (cNxt + seqLen) >>> 0;
      else sNxt = (sNxt + seqLen) >>> 0;
    }
    return { tsUs: t, data };
  };

  const half = Math.max(1, Math.floor(s.rttUs / 2));
  // ---- opening
  if (open === 'midstream') {
    e.conn_state = 'OTH';
  } else {
    yield emit(true, Flags.SYN, EMPTY, true);
    if (open === 'unanswered') {
      let backoff = 1_000_000;
      for (let i = 0; i < (s.synRetries ?? 2); i++) {
        t += backoff;
        backoff *= 2;
        yield emit(true, Flags.SYN, EMPTY, true, cIsn);
      }
      e.conn_state = 'S0';
      return;
    }
    if (open === 'reject') {
      t += s.rttUs;
      // Linux answers a SYN to a closed port with RST|ACK, seq 0 (RFC 793 reset generation).
      yield emit(false, Flags.RST | Flags.ACK, EMPTY, false, 0);
      e.conn_state = 'REJ';
      return;
    }
    if (open === 'syn-fin') {
      t += 1_000_000;
      yield emit(true, Flags.FIN, EMPTY);
      e.conn_state = 'SH';
      return;
    }
    if (open === 'syn-rst') {
      // The client gives up on its own (e.g. a timeout in the application) and aborts.
      t += 1_000_000;
      yield emit(true, Flags.RST, EMPTY);
      e.conn_state = 'RSTOS0';
      return;
    }
    if (open === 'syn-scan') {
      t += s.rttUs;
      if (!s.scanOpen) {
        yield emit(false, Flags.RST | Flags.ACK, EMPTY, false, 0);
        e.conn_state = 'REJ';
        return;
      }
      yield emit(false, Flags.SYN | Flags.ACK, EMPTY, true);
      t += 40;
      // The scanner's kernel never sent the SYN, so it resets the connection.
      yield emit(true, Flags.RST, EMPTY);
      e.conn_state = 'RSTO';
      return;
    }
    t += s.rttUs;
    yield emit(false, Flags.SYN | Flags.ACK, EMPTY, true);
    t += 30;
    yield emit(true, Flags.ACK, EMPTY);
  }

  // ---- data
  const msgs = s.messages ?? [];
  let lastFromClient = true;
  for (let m = 0; m < msgs.length; m++) {
    const msg = msgs[m];
    const fromClient = msg.from === 'client';
    t += msg.gapUs ?? (fromClient === lastFromClient ? 200 : fromClient ? 30 : s.rttUs);
    let off = 0,
      segs = 0;
    while (off < msg.data.length || (msg.data.length === 0 && segs === 0)) {
      const chunk = msg.data.subarray(off, Math.min(off + mss, msg.data.length));
      off += chunk.length;
      const last = off >= msg.data.length;
      if (segs > 0) t += 12;
      yield emit(fromClient, Flags.ACK | (last ? Flags.PSH : 0), chunk);
      segs++;
      // Receiver ACKs every second full segment (delayed ACK), seen one half RTT later at our vantage.
      if (!last && segs % 2 === 0) {
        const save = t;
        t += fromClient ? s.rttUs : 30;
        yield emit(!fromClient, Flags.ACK, EMPTY);
        t = Math.max(save, t);
      }
      if (chunk.length === 0) break;
    }
    const next = msgs[m + 1];
    const closing = m === msgs.length - 1;
    if (!(next && next.from !== msg.from) && !closing) {
      t += fromClient ? s.rttUs : 40;
      yield emit(!fromClient, Flags.ACK, EMPTY);
    } else if (closing && (s.close ?? 'fin') === 'fin' && !fromClient) {
      t += 40;
      yield emit(true, Flags.ACK, EMPTY);
    }
    lastFromClient = fromClient;
  }

  // ---- closing
  const close = s.close ?? 'fin';
  switch (close) {
    case 'fin':
      t += 300;
      yield emit(true, Flags.FIN | Flags.ACK, EMPTY);
      t += s.rttUs;
      yield emit(false, Flags.FIN | Flags.ACK, EMPTY);
      t += 30;
      yield emit(true, Flags.ACK, EMPTY);
      // Both sides closed: SF even for a connection picked up mid-stream (Zeek's conn_state()).
      e.conn_state = 'SF';
      break;
    case 'fin-server-first':
      t += half;
      yield emit(false, Flags.FIN | Flags.ACK, EMPTY);
      t += 200;
      yield emit(true, Flags.FIN | Flags.ACK, EMPTY);
      t += s.rttUs;
      yield emit(false, Flags.ACK, EMPTY);
      e.conn_state = 'SF';
      break;
    case 'rst-client':
      t += 300;
      yield emit(true, Flags.RST | Flags.ACK, EMPTY);
      e.conn_state = open === 'midstream' ? 'OTH' : 'RSTO';
      break;
    case 'rst-server':
      t += half;
      yield emit(false, Flags.RST | Flags.ACK, EMPTY);
      e.conn_state = open === 'midstream' ? 'RSTRH' : 'RSTR';
      break;
    case 'none':
      e.conn_state = open === 'midstream' ? 'OTH' : 'S1';
      break;
  }
}

// ---------------------------------------------------------------- UDP

export interface UdpMessage {
  from: 'client' | 'server';
  data: Buffer;
  /** Delay after the previous datagram (default: RTT for a reply, 50 µs otherwise). */
  gapUs?: number;
}

export interface UdpFlowSpec {
  client: Peer;
  server: Peer;
  startUs: number;
  rttUs: number;
  messages: UdpMessage[];
  framer: Framer;
  rng: Rng;
  /** UDP checksum (default true). */
  checksum?: boolean;
  /** IPv4 DF (Linux sets it on UDP too when PMTU discovery is on; default false, like most DNS resolvers). */
  df?: boolean;
  label?: string;
}

export function* udpFlow(s: UdpFlowSpec, expect?: ConnExpect): Generator<Pkt> {
  const e = expect ?? newExpect('udp', s.client, s.server, s.label ?? '');
  const hist = new HistoryTracker(e);
  let t = s.startUs;
  let cId = s.rng.int(0, 0xffff),
    sId = s.rng.int(0, 0xffff);
  let prevClient = true;
  for (let i = 0; i < s.messages.length; i++) {
    const m = s.messages[i];
    const fromClient = m.from === 'client';
    if (i > 0) t += m.gapUs ?? (fromClient === prevClient ? 50 : s.rttUs);
    prevClient = fromClient;
    const src = fromClient ? s.client : s.server,
      dst = fromClient ? s.server : s.client;
    const dgram = udp(src.ip, dst.ip, src.port, dst.port, m.data, s.checksum ?? true);
    const ipPkt = ip({ src: src.ip, dst: dst.ip, id: (fromClient ? cId++ : sId++) & 0xffff, df: s.df ?? false }, Proto.UDP, dgram);
    const data = s.framer(ipPkt, fromClient, src.ip, t);
    if (s.framer.outerPath) hist.encap(s.framer.outerPath(fromClient));
    hist.udp(fromClient, m.data.length);
    if (e.orig_pkts + e.resp_pkts === 0) e.ts = t / 1e6;
    if (fromClient) {
      e.orig_pkts++;
      e.orig_bytes += m.data.length;
      e.orig_ip_bytes += ipPkt.length;
    } else {
      e.resp_pkts++;
      e.resp_bytes += m.data.length;
      e.resp_ip_bytes += ipPkt.length;
    }
    e.conn_state = e.resp_pkts > 0 ? (e.orig_pkts > 0 ? 'SF' : 'SHR') : 'S0';
    yield { tsUs: t, data };
  }
}

// ---------------------------------------------------------------- merging

export interface Conversation {
  startUs: number;
  packets: Iterator<Pkt>;
}

/**
 * Merges conversations into one time-ordered stream. `convs` must be sorted by startUs and every
 * conversation's packets must be at or after its startUs and non-decreasing: then only the
 * conversations already started are held (a heap keyed by their next packet), so memory stays
 * bounded by the concurrency, not the capture length. Ties go to the earlier-started conversation.
 */
export function* mergeByTime(convs: Iterator<Conversation>): Generator<Pkt> {
  const heap: { ts: number; order: number; pkt: Pkt; it: Iterator<Pkt> }[] = [];
  const less = (a: (typeof heap)[0], b: (typeof heap)[0]) => a.ts < b.ts || (a.ts === b.ts && a.order < b.order);
  const push = (x: (typeof heap)[0]) => {
    heap.push(x);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i], heap[p])) break;
      [heap[i], heap[p]] = [heap[p], heap[i]];
      i = p;
    }
  };
  const pop = () => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l], heap[m])) m = l;
        if (r < heap.length && less(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  };
  let order = 0;
  let pending = convs.next();
  for (;;) {
    while (!pending.done && (heap.length === 0 || pending.value.startUs <= heap[0].ts)) {
      const first = pending.value.packets.next();
      if (!first.done) push({ ts: first.value.tsUs, order: order++, pkt: first.value, it: pending.value.packets });
      pending = convs.next();
    }
    if (heap.length === 0) return;
    const top = pop();
    yield top.pkt;
    const n = top.it.next();
    if (!n.done) {
      if (n.value.tsUs < top.ts) throw new Error('conversation packets out of time order');
      push({ ts: n.value.tsUs, order: top.order, pkt: n.value, it: top.it });
    }
  }
}

export function newTcpExpect(client: Peer, server: Peer, label: string): ConnExpect {
  return newExpect('tcp', client, server, label);
}

export function newUdpExpect(client: Peer, server: Peer, label: string): ConnExpect {
  return newExpect('udp', client, server, label);
}

const EMPTY = Buffer.alloc(0);
