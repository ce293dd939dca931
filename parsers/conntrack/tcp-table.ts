/**
 * The TCP state of the live connections, without an object per connection: each TCP connection
 * holds a slot, and its two endpoints' fields sit in two typed arrays (integer and double words)
 * at fixed offsets from the endpoint's index, slot * 2 + side. The originator is the side the
 * slot's F_ORIG_B bit names, so a role flip swaps one bit instead of two references.
 *
 * Why: a TcpConn and its two TcpEndpoint objects (with boxed doubles for sequence numbers above
 * 2^30) were about a third of what a live connection kept on the heap, and the garbage collector
 * copied all of them each time they survived a scavenge. Typed-array storage is outside the heap
 * the collector copies. Each endpoint's words are contiguous (one record per endpoint, not one
 * array per field): a packet reads most fields of both endpoints, so it touches a few cache
 * lines rather than one per field when many connections are live.
 */
import { Ep, NO_DEADLINE, SYN, TWO32 } from './conn';

// Integer words of an endpoint, from e * EI. Sequence numbers are read through the Uint32Array
// view (they are unsigned 32-bit values), everything else through the Int32Array.
export const EI = 11;
export const E_STATE = 0;
export const E_PREV_STATE = 1;
export const E_DID_CLOSE = 2;
export const E_START_SEQ = 3;
export const E_LAST_SEQ = 4;
export const E_ACK_SEQ = 5;
export const E_SEQ_WRAPS = 6;
export const E_ACK_WRAPS = 7;
export const E_FIN_CNT = 8;
export const E_RST_CNT = 9;
/** Word 10 of side 0 holds the slot's F_* bits (word 10 of side 1 is unused). */
export const S_FLAGS = 10;

// Double words of an endpoint, from e * ED: relative sequence positions, which pass 2^32 on long connections.
export const ED = 7;
export const D_FIN_SEQ = 0;
export const D_HIST_SYN = 1;
export const D_HIST_FIN = 2;
export const D_HIST_RST = 3;
/** Reassembly bookkeeping (relative sequence space), for content gaps only: no payload kept. */
export const D_LAST_REASSEM = 4;
export const D_TRIM_SEQ = 5;
/** Double 6: side 0 holds the slot's attempt deadline, side 1 its delete deadline. */
export const D_TIMER = 6;

// Slot bits.
/** The originator is side 1 of the slot. */
export const F_ORIG_B = 0x1;
export const F_PARTIAL = 0x2;
export const F_SEEN_ORIG = 0x4;
export const F_SEEN_RESP = 0x8;
export const F_ACTIVE = 0x10;
/** Inactivity switched from the handshake timeout to tcp_inactivity_timeout. */
export const F_LONG_TIMEOUT = 0x20;

const INITIAL_SLOTS = 1024;
// Growth adds a chunk of at least MIN_GROWTH slots and an eighth of the table: the copy stays
// amortised (each slot is copied about eight times over), and the unused tail at most an eighth
// (a slot is 200 bytes, a quarter of what a live connection costs in all).
const MIN_GROWTH = 4096;

export class TcpTable {
  i32: Int32Array;
  u32: Uint32Array;
  f64: Float64Array;
  /** Out-of-order ranges per endpoint: sorted [start, end) pairs above lastReassem, null when none (most endpoints). */
  blocks: (number[] | null)[];
  private free: Int32Array;
  private nFree = 0;
  private nextSlot = 0;
  private cap = 0;

  constructor(initialSlots = INITIAL_SLOTS) {
    this.i32 = new Int32Array(0);
    this.u32 = new Uint32Array(this.i32.buffer);
    this.f64 = new Float64Array(0);
    this.blocks = [];
    this.free = new Int32Array(0);
    this.resize(Math.max(1, initialSlots));
  }

  /** Slots in use. */
  get size(): number {
    return this.nextSlot - this.nFree;
  }

  /** A slot in the state of a connection before its first packet. Grows the arrays: fetch them after. */
  alloc(): number {
    let s: number;
    if (this.nFree > 0) s = this.free[--this.nFree];
    else {
      if (this.nextSlot === this.cap) this.resize(this.cap + Math.max(MIN_GROWTH, this.cap >> 3));
      s = this.nextSlot++;
    }
    const i = s * 2 * EI;
    this.i32.fill(0, i, i + 2 * EI);
    this.i32[i + S_FLAGS] = F_ACTIVE;
    const d = s * 2 * ED;
    const f = this.f64;
    for (let side = 0; side < 2; side++) {
      const o = d + side * ED;
      f[o + D_FIN_SEQ] = 0;
      f[o + D_HIST_SYN] = 0;
      f[o + D_HIST_FIN] = 0;
      f[o + D_HIST_RST] = 0;
      f[o + D_LAST_REASSEM] = 1;
      f[o + D_TRIM_SEQ] = 1;
      f[o + D_TIMER] = NO_DEADLINE;
    }
    return s;
  }

  release(s: number): void {
    this.blocks[s * 2] = null;
    this.blocks[s * 2 + 1] = null;
    this.free[this.nFree++] = s;
  }

  clear(): void {
    this.blocks.fill(null);
    this.nFree = 0;
    this.nextSlot = 0;
  }

  /** The originator's endpoint of slot `s`. */
  origEp(s: number): number {
    return s * 2 + (this.i32[s * 2 * EI + S_FLAGS] & F_ORIG_B);
  }

  respEp(s: number): number {
    return s * 2 + ((this.i32[s * 2 * EI + S_FLAGS] & F_ORIG_B) ^ 1);
  }

  isOrig(e: number): boolean {
    return (e & 1) === (this.i32[(e & ~1) * EI + S_FLAGS] & F_ORIG_B);
  }

  /** Index of the slot's F_* word in i32, from an endpoint of it. */
  static flagsAt(e: number): number {
    return (e & ~1) * EI + S_FLAGS;
  }

  attemptAt(s: number): number {
    return this.f64[s * 2 * ED + D_TIMER];
  }

  deleteAt(s: number): number {
    return this.f64[(s * 2 + 1) * ED + D_TIMER];
  }

  clearAttempt(s: number): void {
    this.f64[s * 2 * ED + D_TIMER] = NO_DEADLINE;
  }

  /** The TCP half of Zeek's FlipRoles: the other side becomes the originator. */
  flipRoles(s: number): void {
    const at = s * 2 * EI + S_FLAGS;
    const f = this.i32[at];
    const seen = (f & F_SEEN_ORIG ? F_SEEN_RESP : 0) | (f & F_SEEN_RESP ? F_SEEN_ORIG : 0);
    this.i32[at] = ((f ^ F_ORIG_B) & ~(F_SEEN_ORIG | F_SEEN_RESP | F_PARTIAL)) | seen;
  }

  private resize(cap: number): void {
    const i32 = new Int32Array(cap * 2 * EI);
    i32.set(this.i32);
    this.i32 = i32;
    this.u32 = new Uint32Array(i32.buffer);
    const f64 = new Float64Array(cap * 2 * ED);
    f64.set(this.f64);
    this.f64 = f64;
    const free = new Int32Array(cap);
    free.set(this.free);
    this.free = free;
    for (let e = this.cap * 2; e < cap * 2; e++) this.blocks.push(null);
    this.cap = cap;
  }
}

// ---- helpers over endpoints (e: slot * 2 + side) ---------------------------------------------

export function isHandshake(s: Ep): boolean {
  return s === Ep.INACTIVE || s === Ep.SYN_SENT || s === Ep.SYN_ACK_SENT;
}

export function isClean(t: TcpTable, e: number): boolean {
  const st = t.i32[e * EI + E_STATE];
  return st === Ep.ESTABLISHED || (st === Ep.CLOSED && t.i32[e * EI + E_PREV_STATE] === Ep.ESTABLISHED);
}

export function setState(t: TcpTable, e: number, s: Ep): void {
  const i = t.i32;
  const o = e * EI;
  const cur = i[o + E_STATE];
  if (s === cur) return;
  if (!isHandshake(s) && isHandshake(cur) && isHandshake(i[(e ^ 1) * EI + E_STATE])) i[TcpTable.flagsAt(e)] |= F_LONG_TIMEOUT;
  i[o + E_PREV_STATE] = cur;
  i[o + E_STATE] = s;
}

export function tcpSize(t: TcpTable, e: number): number {
  const i = t.i32;
  const u = t.u32;
  const o = e * EI;
  const start = u[o + E_START_SEQ];
  const last64 = i[o + E_SEQ_WRAPS] * TWO32 + u[o + E_LAST_SEQ];
  const ack64 = i[o + E_ACK_WRAPS] * TWO32 + u[o + E_ACK_SEQ];
  if (i[o + E_PREV_STATE] === Ep.SYN_SENT && i[o + E_STATE] === Ep.RESET && i[(e ^ 1) * EI + E_STATE] === Ep.INACTIVE) {
    const noDataAcked = ack64 === start || ack64 === start + 1;
    if (!noDataAcked) return 0;
  }
  let size = Math.max(last64, ack64) - start;
  if (size < 0) return 0;
  if (size !== 0) --size;
  if (i[o + E_FIN_CNT] > 0 && size !== 0) --size;
  return size;
}

export function initEndpoint(t: TcpTable, e: number, flags: number, firstSeq: number, lastSeq: number): void {
  const u = t.u32;
  const o = e * EI;
  switch (t.i32[o + E_STATE]) {
    case Ep.INACTIVE:
      if (flags & SYN) {
        u[o + E_ACK_SEQ] = firstSeq;
        u[o + E_START_SEQ] = firstSeq;
      } else {
        // Partial connection: number as though a SYN had been seen.
        u[o + E_ACK_SEQ] = (firstSeq - 1) >>> 0;
        u[o + E_START_SEQ] = (firstSeq - 1) >>> 0;
        lastSeq = firstSeq;
      }
      u[o + E_LAST_SEQ] = lastSeq;
      break;
    case Ep.SYN_SENT:
    case Ep.SYN_ACK_SENT:
      if (flags & SYN && firstSeq !== u[o + E_START_SEQ]) {
        u[o + E_START_SEQ] = firstSeq;
        u[o + E_ACK_SEQ] = firstSeq;
        u[o + E_LAST_SEQ] = lastSeq;
      }
      break;
    case Ep.ESTABLISHED:
    case Ep.PARTIAL:
      if (flags & SYN) {
        u[o + E_START_SEQ] = firstSeq;
        u[o + E_ACK_SEQ] = firstSeq;
        u[o + E_LAST_SEQ] = lastSeq;
      }
      break;
    case Ep.RESET:
      if (flags & SYN && t.i32[o + E_PREV_STATE] === Ep.INACTIVE) {
        u[o + E_START_SEQ] = firstSeq;
        u[o + E_ACK_SEQ] = firstSeq;
        u[o + E_LAST_SEQ] = lastSeq;
      }
      break;
    default:
      break;
  }
}
