/**
 * Per-connection state of the tracker and the small pure helpers over it: endpoint states,
 * history letters with Zeek's repeat rules, sequence-space sizes. Shared by the tracker, the
 * TCP session logic and the record builder; touches nothing outside the connection.
 */
import type { ConnInfo } from '../record/app';
import type { PayloadObserver, TcpStreams } from './payload';

/** Packet time, written by the tracker for each packet and read by the TCP logic. */
export class Clock {
  sec = 0;
  nsec = 0;
}

// ---- constants -------------------------------------------------------------------------

// biome-ignore lint/suspicious/noConstEnum: read per packet; tsc (our only compiler here) inlines the values, a plain enum is two property loads per use
export const enum Kind {
  TCP = 0,
  UDP = 1,
  ICMP = 2,
  OTHER = 3,
}

/** Zeek's TCP endpoint states (values as in Zeek, conn_state depends on them). */
// biome-ignore lint/suspicious/noConstEnum: read per packet; tsc (our only compiler here) inlines the values, a plain enum is two property loads per use
export const enum Ep {
  INACTIVE = 0,
  SYN_SENT = 1,
  SYN_ACK_SENT = 2,
  PARTIAL = 3,
  ESTABLISHED = 4,
  CLOSED = 5,
  RESET = 6,
}

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const ACK = 0x10;

// History "seen once" bits (Zeek HIST_*); the responder's are shifted left by 16.
export const H_SYN = 0x1;
export const H_FIN = 0x2;
export const H_RST = 0x4;
export const H_FIN_RST = 0x8;
export const H_DATA = 0x10;
export const H_ACK = 0x20;
export const H_MULTI = 0x40;
/** `X`: analysis partial because a limit was hit (Zeek adds it once per connection). */
export const H_PARTIAL = 0x80;

// Scaled (logarithmic) history counters: index = letter * 2 + (responder ? 1 : 0).
export const SC_CHK = 0;
export const SC_RXMT = 2;
export const SC_WIN0 = 4;
export const SC_GAP = 6;

export const TOO_LARGE_SEQ_DELTA = 1048576;
export const TWO32 = 4294967296;
export const NO_DEADLINE = Infinity;
export const MAX_HISTORY = 256;
export const MAX_BLOCKS = 64;

// Timer lists: inactivity per class (anchored on last activity) plus one list of fixed deadlines.
export const L_TCP = 0;
export const L_TCP_PRE = 1; // TCP before the handshake completes (Zeek uses udp_inactivity_timeout there)
export const L_UDP = 2;
export const L_ICMP = 3;
export const L_OTHER = 4;
export const L_FIXED = 5; // tcp attempt / close / reset delays
export const L_DNS = 6; // UDP DNS: Zeek's DNS analyzer expire timer (dns_session_timeout), deadline precomputed
export const N_LISTS = 7;
export const L_NONE = -1;

export const CH_UPPER_TO_LOWER = 32;

// Conn.roleProbe: Zeek's DNS analyzer flips a connection whose first message is a response from
// the originator; its NTP analyzer flips on a server-mode message from the originator or a
// client-mode one from the responder, once per direction of delivery.
export const ROLE_DNS = 0x1;
export const ROLE_NTP = 0x2;
export const ROLE_NTP_ORIG_DONE = 0x4;
export const ROLE_NTP_RESP_DONE = 0x8;

// ---- per-connection state ----------------------------------------------------------------

/**
 * The connection fields most connections never set: VLAN tags, tunnel identity and path, SCTP's
 * Community ID ports, a uid disambiguator, the interim deadline. Kept out of Conn so that the
 * common connection stays small (Conn objects are most of what the tracker keeps alive; the
 * garbage collector copies each one when it survives a scavenge), allocated by `extra` on first need.
 */
export class ConnExtra {
  vlan: number | null = null;
  innerVlan: number | null = null;
  tunnelType: string | null = null;
  tunnelId: number | null = null;
  /** uid of the outer connection the last packet came through (Zeek's encapsulation), null when none. */
  encap: string | null = null;
  parents: string[] | null = null;
  /** Outer-flow changes counted against tunnelMaxChanges. */
  tunnelChanges = 0;
  /** Ports for the Community ID when the record's are 0 (SCTP: Zeek logs 0/0, the Community ID hashes the real ones). */
  cidOrigP = -1;
  cidRespP = -1;
  /** Disambiguates uids of connections sharing key and first instant. */
  uidSeq = 0;
  /** Packet time of the next interim record once one was written; before that the tracker derives it from startTs. */
  nextInterim = NO_DEADLINE;
  /** Bytes missed (content gaps), read through Conn.missed. */
  missed = 0;
  /** Scaled history counters and thresholds (see scaledHistory), made on the first. */
  scaled: Float64Array | null = null;
}

// Conn.bits: the orientation probe (ROLE_* above, bits 0-3), the Teredo directions seen (bits
// 4-5) and the tunnel kind whose service name the connection already carries (bits 8-15). One
// small integer field instead of three.
export const ROLE_MASK = 0xf;
export const TEREDO_ORIG = 0x10;
export const TEREDO_RESP = 0x20;
export const SVC_TUNNEL_SHIFT = 8;

// Conn.meta: the kind (bits 0-1), origIsLow (bit 2), the address length (bits 3-7) and the IP
// protocol (bits 8-15). Four fields were 32 bytes of every live connection; one is 8. (The timer
// list stays a field of its own: it is written twice a packet.)
const M_KIND = 0x3;
const M_ORIG_LOW = 0x4;
const M_ADDR_SHIFT = 3;
const M_ADDR_MASK = 0x1f;
const M_PROTO_SHIFT = 8;
const M_PROTO_MASK = 0xff;

export class Conn {
  // Fields in the order V8 lays them out: those every packet reads or writes first, so that a
  // packet touches few cache lines of its connection (tens of thousands of live connections do
  // not stay in cache); those read only when the connection starts or ends after them.
  /** See M_*: read through the accessors below. */
  private meta: number;
  /** The timer list the connection is in (links and deadline are the I_* and T_DEADLINE columns). */
  list = L_NONE;
  /** The tracker's `stamp` when last placed in its timer list: orders equal deadlines across shards (see EmitOrder). */
  linkStamp = 0;
  /** TCP only: the connection's slot in the tracker's TcpTable; -1 otherwise. */
  tcp = -1;
  /** Nanoseconds of the last packet time (its seconds are the T_LAST_SEC column). */
  lastNsec = 0;
  origPkts = 0;
  respPkts = 0;
  origIpBytes = 0;
  respIpBytes = 0;
  histSeen = 0;
  /** History letters so far. Short strings are flat in V8, far smaller than an array of codes. */
  hist = '';
  /** Payload analysis of this connection, when a payload observer factory wants it. */
  observer: PayloadObserver | null = null;
  /** TCP only: the reassembly feeding `observer`. */
  streams: TcpStreams | null = null;
  /** The rarely used fields, null until one is set (see ConnExtra). */
  x: ConnExtra | null = null;
  /**
   * ROLE_* (UDP only: which of Zeek's orientation-checking analyzers sits on this connection and
   * what it has seen; 0 once nothing can flip it any more), TEREDO_* (the directions that carried
   * a Teredo-encapsulated packet: Zeek's Teredo analyzer confirms, and names the service, only
   * once it has seen one each way) and, from SVC_TUNNEL_SHIFT, the TunnelKind whose name the last
   * tunnel-carrying packet left in `service` (0: none yet; while a carrier's packets keep carrying
   * that tunnel, the usual case, track skips the service update).
   */
  bits = 0;
  uid = '';
  /** UDP/ICMP/other payload sums; -1 until that side sent (Zeek request_len/reply_len). */
  origLen = -1;
  respLen = -1;
  respP = 0;

  origP = 0;
  /** Addresses and MACs as one-byte strings of their raw bytes: no ArrayBuffer per connection. */
  origAddr = '';
  respAddr = '';
  origMac: string | null = null;
  respMac: string | null = null;
  /** Nanoseconds of the first packet time (its seconds are the T_FIRST_SEC column). */
  firstNsec = 0;
  /** Copy on write (addService): a one-name list is shared by every connection with that name alone. */
  service: readonly string[] | null = null;
  /** The identity handed to payload analysis, kept so a role flip reaches the records tied to it. */
  info: ConnInfo | null = null;
  /** Entry id in the flow table while live: the index of its columns (T_*). */
  fid = -1;

  constructor(kind: Kind, ipProto: number, addrLen: number) {
    this.meta = kind | M_ORIG_LOW | (addrLen << M_ADDR_SHIFT) | (ipProto << M_PROTO_SHIFT);
  }

  /** Bytes missed (content gaps): in ConnExtra, as most connections miss none. */
  get missed(): number {
    const x = this.x;
    return x === null ? 0 : x.missed;
  }

  set missed(n: number) {
    extra(this).missed = n;
  }

  get kind(): Kind {
    return this.meta & M_KIND;
  }

  /** The originator is the lower (address, port) endpoint of the table's key. */
  get origIsLow(): boolean {
    return (this.meta & M_ORIG_LOW) !== 0;
  }

  set origIsLow(v: boolean) {
    this.meta = v ? this.meta | M_ORIG_LOW : this.meta & ~M_ORIG_LOW;
  }

  get ipProto(): number {
    return (this.meta >>> M_PROTO_SHIFT) & M_PROTO_MASK;
  }

  get addrLen(): number {
    return (this.meta >>> M_ADDR_SHIFT) & M_ADDR_MASK;
  }
}

// The connection's double-valued fields, in the flow table's per-entry columns (FlowTable.cols,
// from fid * T_WORDS) rather than on Conn: epoch seconds pass 2^30, so as object fields each was
// a heap number per connection for the garbage collector to copy. Packet times are kept as
// seconds (here) plus nanoseconds (on Conn), and the double time of a packet, tsSec + tsNsec / 1e9
// (the tracker's `now`), is derived from them when needed: the same sum gives the same double.
export const T_DEADLINE = 0;
export const T_FIRST_SEC = 1;
export const T_LAST_SEC = 2;
export const T_WORDS = 3;

// Timer list links, in the flow table's int32 columns (FlowTable.ints, from fid * I_WORDS): entry
// ids, -1 at the ends. As Conn references they were pointers from old connections to young ones,
// which every scavenge has to visit.
export const I_PREV = 0;
export const I_NEXT = 1;
export const I_WORDS = 2;

/** Where the T_* columns are (the tracker's flow table). */
export interface ConnColumns {
  readonly cols: Float64Array;
}

/** The first packet's time (Zeek's ts of the connection). */
export function startTs(c: Conn, cols: Float64Array): number {
  return cols[c.fid * T_WORDS + T_FIRST_SEC] + c.firstNsec / 1e9;
}

/** The last packet's time. */
export function lastTs(c: Conn, cols: Float64Array): number {
  return cols[c.fid * T_WORDS + T_LAST_SEC] + c.lastNsec / 1e9;
}

/**
 * The connection's payload observer went idle (PayloadObserver.idle): it, its reassembly and the
 * identity handed to it go, and the connection carries on as one that never had an observer
 * (services, partial and end of an idle observer add nothing).
 */
export function dropObserver(c: Conn): void {
  c.streams?.discard();
  c.streams = null;
  c.observer = null;
  c.info = null;
}

/** One frozen list per service name: most connections with a service have that one alone (VXLAN carriers, DNS flows). */
const ONE_SERVICE = new Map<string, readonly string[]>();
const ONE_SERVICE_MAX = 256;

/** Adds a service name to the connection's (once), without changing a list another connection may share. */
export function addService(c: Conn, name: string): void {
  const sv = c.service;
  if (sv === null) {
    let one = ONE_SERVICE.get(name);
    if (one === undefined) {
      one = Object.freeze([name]);
      if (ONE_SERVICE.size < ONE_SERVICE_MAX) ONE_SERVICE.set(name, one);
    }
    c.service = one;
  } else if (sv.indexOf(name) < 0) c.service = [...sv, name];
}

/** The connection's ConnExtra, allocated on first use. */
export function extra(c: Conn): ConnExtra {
  let x = c.x;
  if (x === null) x = c.x = new ConnExtra();
  return x;
}

// ---- helpers -------------------------------------------------------------------------------

/** Copies a one-byte string of raw bytes into `out` (at least as long) and returns it. */
export function bytesOf(s: string, out: Uint8Array): Uint8Array {
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function seqDelta(a: number, b: number): number {
  return (a - b) | 0;
}

export function addHistory(c: Conn, code: number): void {
  if (c.hist.length < MAX_HISTORY) c.hist += String.fromCharCode(code);
}

/** Zeek Connection::CheckHistory: record `code` the first time `mask` is seen in that direction. Returns whether it was seen before. */
export function checkHistory(c: Conn, mask: number, code: number, isOrig: boolean): boolean {
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
export function scaledHistory(c: Conn, idx: number, code: number, isOrig: boolean): void {
  if (!isOrig) {
    idx += 1;
    code += CH_UPPER_TO_LOWER;
  }
  const x = extra(c);
  let s = x.scaled;
  if (s === null) {
    s = x.scaled = new Float64Array(16);
    for (let i = 8; i < 16; i++) s[i] = 1;
  }
  const n = ++s[idx];
  if (n === s[8 + idx]) {
    addHistory(c, code);
    s[8 + idx] *= 10;
  }
}

export const EMPTY_STRINGS: string[] = [];

/** Swap originator and responder (Zeek FlipRoles), marking `^` in the history. */
/** What flipRoles needs of the TCP table (tcp-table.ts imports this file's constants: no cycle). */
export interface TcpRoles {
  flipRoles(slot: number): void;
}

export function flipRoles(c: Conn, tcp: TcpRoles): void {
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
  // UDP payload sums stay where they are: Zeek's UDP adapter does not swap request_len and
  // reply_len (misordered-ntp.pcap: flipped after the first datagram, orig_bytes counts both).
  c.origIsLow = !c.origIsLow;
  const info = c.info;
  if (info !== null) {
    // Records tied to the connection read its identity at output, as Zeek's logs read c$id.
    const h = info.orig_h;
    info.orig_h = info.resp_h;
    info.resp_h = h;
    const q = info.orig_p;
    info.orig_p = info.resp_p;
    info.resp_p = q;
  }
  if (c.tcp >= 0) tcp.flipRoles(c.tcp);
  addHistory(c, 94 /* ^ */);
}
