/**
 * The packet hand-off of `analyze --threads`: one single-producer single-consumer ring of bytes in
 * a SharedArrayBuffer per worker thread. The reading thread writes entries and publishes its write
 * position every few entries; the worker reads them in place and publishes how far it has read.
 * No message per packet: Atomics.wait/notify only when a side finds the ring empty or full.
 *
 * An entry is either a tick (a packet of another shard: only its time, so that this shard's
 * timers expire exactly when they would have in one tracker) or a packet's innermost flow layer:
 * the FlowLayer's fields, the uid of the connection carrying it, and the bytes its offsets
 * point into.
 */
import { type FlowLayer, TunnelKind } from '../../parsers/decode/layers';

/** ctrl words */
const HEAD = 0;
const TAIL = 1;
const CLOSED = 2;
/** Set by a consumer that failed: the writer stops waiting for room. */
const FAILED = 3;
/** 1 while that side sleeps: the other notifies only then (a notify per publish cost more than the copying). */
const READER_WAITING = 4;
const WRITER_WAITING = 5;
const CTRL_WORDS = 8;
/** Entries published before a sleeping reader is woken (see publish). */
const WAKE_BATCH = 1024;

export const ENTRY_WRAP = 0;
export const ENTRY_TICK = 1;
export const ENTRY_PACKET = 2;

/** Fixed part of every entry: kind, total bytes, global event index, tsSec, tsNsec (bytes, 8-aligned). */
const HDR = 32;
/** Integer fields of a FlowLayer, in this order. */
const INT_FIELDS = [
  'srcMacOff',
  'dstMacOff',
  'vlan',
  'innerVlan',
  'tunnel',
  'ipVersion',
  'ipOff',
  'ipHdrLen',
  'ipTotalLen',
  'srcOff',
  'dstOff',
  'addrLen',
  'ttl',
  'proto',
  'l4Off',
  'l4Len',
  'sport',
  'dport',
  'payloadOff',
  'payloadLen',
  'capturedPayloadLen',
  'tcpFlags',
  'window',
  'optMss',
  'optWscale',
  'icmpType',
  'icmpCode',
  'icmpId',
] as const;
/** Fields that hold unsigned 32-bit values (or -1): carried as doubles. */
const NUM_FIELDS = ['tunnelId', 'seq', 'ack', 'optTsVal', 'optTsEcr', 'sctpChunkMask', 'sctpVtag'] as const;
const BOOL_FIELDS = ['ipChecksumBad', 'reassembled', 'optSackPerm'] as const;
/** Every FlowLayer field the ring carries besides `buf` (a test checks nothing is left out). */
export const CARRIED_FIELDS: readonly string[] = [...INT_FIELDS, ...NUM_FIELDS, ...BOOL_FIELDS];

/** Packet entry layout after HDR: doubles, then int32s (layer index, inner tunnel, flags, uid length, buf length, fields). */
const NUMS_OFF = HDR;
const INTS_OFF = NUMS_OFF + NUM_FIELDS.length * 8;
const I_LAYER = 0;
const I_INNER_TUNNEL = 1;
const I_BOOLS = 2;
const I_UID_LEN = 3;
const I_BUF_LEN = 4;
const I_FIELDS = 5;
const UID_OFF = INTS_OFF + (I_FIELDS + INT_FIELDS.length) * 4;
/** Longest parent uid carried ("C" + 17 base62 digits, with room to spare). */
const UID_MAX = 32;
const BUF_OFF = UID_OFF + UID_MAX;

const align8 = (n: number): number => (n + 7) & ~7;

export interface RingBuffers {
  data: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
}

export function markFailed(r: RingBuffers): void {
  const ctrl = new Int32Array(r.ctrl);
  Atomics.store(ctrl, FAILED, 1);
  Atomics.notify(ctrl, TAIL);
}

export function newRing(bytes: number): RingBuffers {
  return { data: new SharedArrayBuffer(align8(bytes)), ctrl: new SharedArrayBuffer(CTRL_WORDS * 4) };
}

class RingViews {
  readonly cap: number;
  readonly u8: Uint8Array;
  /** The same bytes as a Buffer, to copy into. */
  readonly bytes: Buffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly ctrl: Int32Array;
  constructor(r: RingBuffers) {
    this.cap = r.data.byteLength;
    this.u8 = new Uint8Array(r.data);
    this.bytes = Buffer.from(r.data);
    this.i32 = new Int32Array(r.data);
    this.f64 = new Float64Array(r.data);
    this.ctrl = new Int32Array(r.ctrl);
  }
}

/** The reading thread's end. */
export class RingWriter {
  private readonly v: RingViews;
  /** Local write position, published every `publishEvery` entries. */
  private head = 0;
  /** Last read position seen from the consumer. */
  private tail = 0;
  private unpublished = 0;
  /** Entries written since the last publish, and published since the reader was last woken. */
  private sincePublish = 0;
  private unwoken = 0;
  /** Times the writer found the ring full and waited. */
  fullWaits = 0;

  constructor(
    r: RingBuffers,
    private readonly publishEvery = 32,
  ) {
    this.v = new RingViews(r);
  }

  /** Reserves `bytes` (8-aligned) at the write position, waiting for the consumer while the ring is full; returns the offset. */
  private reserve(bytes: number): number {
    const v = this.v;
    const cap = v.cap;
    if (bytes + 8 > cap) throw new Error(`ring entry of ${bytes} bytes does not fit a ${cap}-byte ring`);
    for (;;) {
      // Contiguous room at head, keeping one 8-byte slot free so head === tail means empty.
      const tail = this.tail;
      let room: number;
      if (this.head >= tail) room = cap - this.head - (tail === 0 ? 8 : 0);
      else room = tail - this.head - 8;
      if (room >= bytes) return this.head;
      if (this.head >= tail && tail !== 0) {
        // Not enough before the end: mark the wrap and go round (head 0 stays short of tail, so
        // the ring does not read as empty; the start frees as the consumer moves on).
        v.i32[this.head >> 2] = ENTRY_WRAP;
        this.head = 0;
        continue;
      }
      this.publish(true);
      if (Atomics.load(v.ctrl, FAILED) === 1) throw new Error('a worker thread failed (see its error)');
      const seen = Atomics.load(v.ctrl, TAIL);
      if (seen === this.tail) {
        this.fullWaits++;
        Atomics.store(v.ctrl, WRITER_WAITING, 1);
        // Checked again after the flag is up, so a release in between is not slept through.
        if (Atomics.load(v.ctrl, TAIL) === seen) Atomics.wait(v.ctrl, TAIL, seen, 20);
        Atomics.store(v.ctrl, WRITER_WAITING, 0);
        this.tail = Atomics.load(v.ctrl, TAIL);
      } else this.tail = seen;
    }
  }

  private commit(at: number, bytes: number): void {
    this.head = at + bytes === this.v.cap ? 0 : at + bytes;
    this.sincePublish++;
    if (++this.unpublished >= this.publishEvery) this.publish();
  }

  tick(g: number, tsSec: number, tsNsec: number): void {
    const at = this.reserve(HDR);
    const v = this.v;
    const w = at >> 2;
    v.i32[w] = ENTRY_TICK;
    v.i32[w + 1] = HDR;
    const d = at >> 3;
    v.f64[d + 1] = g;
    v.f64[d + 2] = tsSec;
    v.i32[w + 6] = tsNsec;
    this.commit(at, HDR);
  }

  /**
   * The innermost layer `l` (index `layer` of the packet) of event `g`, carried by connection `parent`,
   * with the bytes [lo, hi) of its buffer (a packet is a part of the reader's chunk): offsets are rebased on lo.
   */
  packet(g: number, tsSec: number, tsNsec: number, l: FlowLayer, layer: number, innerTunnel: TunnelKind, parent: string | null, lo: number, hi: number): void {
    const buf = l.buf;
    const bytes = align8(BUF_OFF + (hi - lo));
    const at = this.reserve(bytes);
    const v = this.v;
    const w = at >> 2;
    v.i32[w] = ENTRY_PACKET;
    v.i32[w + 1] = bytes;
    const d = at >> 3;
    v.f64[d + 1] = g;
    v.f64[d + 2] = tsSec;
    v.i32[w + 6] = tsNsec;
    const nd = (at + NUMS_OFF) >> 3;
    const f64 = v.f64;
    const i32 = v.i32;
    // Field by field (a loop over names would make every access a keyed lookup); the order is
    // NUM_FIELDS' and INT_FIELDS', which a test holds to FlowLayer's. Unset offsets (-1, or 0
    // before lo) stay as they are.
    f64[nd + 0] = l.tunnelId;
    f64[nd + 1] = l.seq;
    f64[nd + 2] = l.ack;
    f64[nd + 3] = l.optTsVal;
    f64[nd + 4] = l.optTsEcr;
    f64[nd + 5] = l.sctpChunkMask;
    f64[nd + 6] = l.sctpVtag;
    const ni = (at + INTS_OFF) >> 2;
    i32[ni + I_LAYER] = layer;
    i32[ni + I_INNER_TUNNEL] = innerTunnel;
    i32[ni + I_BOOLS] = (l.ipChecksumBad ? 1 : 0) | (l.reassembled ? 2 : 0) | (l.optSackPerm ? 4 : 0);
    i32[ni + 5] = l.srcMacOff >= lo ? l.srcMacOff - lo : l.srcMacOff;
    i32[ni + 6] = l.dstMacOff >= lo ? l.dstMacOff - lo : l.dstMacOff;
    i32[ni + 7] = l.vlan;
    i32[ni + 8] = l.innerVlan;
    i32[ni + 9] = l.tunnel;
    i32[ni + 10] = l.ipVersion;
    i32[ni + 11] = l.ipOff >= lo ? l.ipOff - lo : l.ipOff;
    i32[ni + 12] = l.ipHdrLen;
    i32[ni + 13] = l.ipTotalLen;
    i32[ni + 14] = l.srcOff >= lo ? l.srcOff - lo : l.srcOff;
    i32[ni + 15] = l.dstOff >= lo ? l.dstOff - lo : l.dstOff;
    i32[ni + 16] = l.addrLen;
    i32[ni + 17] = l.ttl;
    i32[ni + 18] = l.proto;
    i32[ni + 19] = l.l4Off >= lo ? l.l4Off - lo : l.l4Off;
    i32[ni + 20] = l.l4Len;
    i32[ni + 21] = l.sport;
    i32[ni + 22] = l.dport;
    i32[ni + 23] = l.payloadOff >= lo ? l.payloadOff - lo : l.payloadOff;
    i32[ni + 24] = l.payloadLen;
    i32[ni + 25] = l.capturedPayloadLen;
    i32[ni + 26] = l.tcpFlags;
    i32[ni + 27] = l.window;
    i32[ni + 28] = l.optMss;
    i32[ni + 29] = l.optWscale;
    i32[ni + 30] = l.icmpType;
    i32[ni + 31] = l.icmpCode;
    i32[ni + 32] = l.icmpId;
    let uidLen = -1;
    if (parent !== null) {
      if (parent.length > UID_MAX) throw new Error(`parent uid ${parent} longer than ${UID_MAX}`);
      uidLen = parent.length;
      for (let i = 0; i < uidLen; i++) v.u8[at + UID_OFF + i] = parent.charCodeAt(i);
    }
    v.i32[ni + I_UID_LEN] = uidLen;
    v.i32[ni + I_BUF_LEN] = hi - lo;
    // Buffer#copy is a memcpy; TypedArray#set into shared memory measured about twice as slow.
    buf.copy(v.bytes, at + BUF_OFF, lo, hi);
    this.commit(at, bytes);
  }

  /** Makes what was written visible to the reader; `force` wakes it whatever the amount (end of a read chunk, a full ring). */
  publish(force = false): void {
    this.unpublished = 0;
    const ctrl = this.v.ctrl;
    if (Atomics.load(ctrl, HEAD) !== this.head) {
      Atomics.store(ctrl, HEAD, this.head);
      this.unwoken += this.sincePublish;
    }
    this.sincePublish = 0;
    // A sleeping reader is woken for a batch, not for every publish: each wake is a system call
    // and, on a busy machine, a trip through the scheduler for both threads.
    if ((force || this.unwoken >= WAKE_BATCH) && this.unwoken > 0 && Atomics.load(ctrl, READER_WAITING) === 1) {
      this.unwoken = 0;
      Atomics.notify(ctrl, HEAD);
    }
  }

  /** No more entries: the consumer finishes once it has read what is there. */
  close(): void {
    this.publish(true);
    Atomics.store(this.v.ctrl, CLOSED, 1);
    Atomics.notify(this.v.ctrl, HEAD);
  }
}

/** What the worker gets for each entry: the entry's fields are read from the reader's properties. */
export class RingReader {
  private readonly v: RingViews;
  private readonly sab: SharedArrayBuffer;
  private tail = 0;
  private head = 0;
  private consumed = 0;

  // The current entry
  kind = ENTRY_TICK;
  g = 0;
  tsSec = 0;
  tsNsec = 0;
  layer = 0;
  innerTunnel: TunnelKind = TunnelKind.NONE;
  parent: string | null = null;

  constructor(
    r: RingBuffers,
    private readonly releaseEvery = 64,
  ) {
    this.v = new RingViews(r);
    this.sab = r.data;
  }

  /**
   * Advances to the next entry; false when none is there now. `done()` tells whether none ever will be.
   * For a packet, fills `l` (its buf a view into the ring, valid until the next call).
   */
  next(l: FlowLayer): boolean {
    const v = this.v;
    // Released here, once the caller is done with the entry the last call returned (its bytes are a
    // view into the ring): released as it was returned, the writer could reuse them while the
    // tracker still read them (a packet's addresses read as 0.0.0.0 under load, a connection too many).
    if (this.consumed >= this.releaseEvery) this.release();
    for (;;) {
      if (this.tail === this.head) {
        this.head = Atomics.load(v.ctrl, HEAD);
        if (this.tail === this.head) {
          this.release();
          return false;
        }
      }
      const at = this.tail;
      const w = at >> 2;
      const kind = v.i32[w];
      if (kind === ENTRY_WRAP) {
        this.tail = 0;
        continue;
      }
      const bytes = v.i32[w + 1];
      const d = at >> 3;
      this.kind = kind;
      this.g = v.f64[d + 1];
      this.tsSec = v.f64[d + 2];
      this.tsNsec = v.i32[w + 6];
      if (kind === ENTRY_PACKET) this.readPacket(at, l);
      this.tail = at + bytes === v.cap ? 0 : at + bytes;
      this.consumed++;
      return true;
    }
  }

  private readPacket(at: number, l: FlowLayer): void {
    const v = this.v;
    const f64 = v.f64;
    const i32 = v.i32;
    const nd = (at + NUMS_OFF) >> 3;
    l.tunnelId = f64[nd + 0];
    l.seq = f64[nd + 1];
    l.ack = f64[nd + 2];
    l.optTsVal = f64[nd + 3];
    l.optTsEcr = f64[nd + 4];
    l.sctpChunkMask = f64[nd + 5];
    l.sctpVtag = f64[nd + 6];
    const ni = (at + INTS_OFF) >> 2;
    this.layer = i32[ni + I_LAYER];
    this.innerTunnel = i32[ni + I_INNER_TUNNEL];
    const bools = i32[ni + I_BOOLS];
    l.ipChecksumBad = (bools & 1) !== 0;
    l.reassembled = (bools & 2) !== 0;
    l.optSackPerm = (bools & 4) !== 0;
    l.srcMacOff = i32[ni + 5];
    l.dstMacOff = i32[ni + 6];
    l.vlan = i32[ni + 7];
    l.innerVlan = i32[ni + 8];
    l.tunnel = i32[ni + 9] as TunnelKind;
    l.ipVersion = i32[ni + 10] as 0 | 4 | 6;
    l.ipOff = i32[ni + 11];
    l.ipHdrLen = i32[ni + 12];
    l.ipTotalLen = i32[ni + 13];
    l.srcOff = i32[ni + 14];
    l.dstOff = i32[ni + 15];
    l.addrLen = i32[ni + 16];
    l.ttl = i32[ni + 17];
    l.proto = i32[ni + 18];
    l.l4Off = i32[ni + 19];
    l.l4Len = i32[ni + 20];
    l.sport = i32[ni + 21];
    l.dport = i32[ni + 22];
    l.payloadOff = i32[ni + 23];
    l.payloadLen = i32[ni + 24];
    l.capturedPayloadLen = i32[ni + 25];
    l.tcpFlags = i32[ni + 26];
    l.window = i32[ni + 27];
    l.optMss = i32[ni + 28];
    l.optWscale = i32[ni + 29];
    l.icmpType = i32[ni + 30];
    l.icmpCode = i32[ni + 31];
    l.icmpId = i32[ni + 32];
    const uidLen = v.i32[ni + I_UID_LEN];
    this.parent = uidLen < 0 ? null : this.uid(at + UID_OFF, uidLen);
    l.buf = Buffer.from(this.sab, at + BUF_OFF, v.i32[ni + I_BUF_LEN]);
  }

  /** The uid at `off`: the previous one again when the bytes match (packets of one outer flow come in runs). */
  private uid(off: number, len: number): string {
    const u8 = this.v.u8;
    const last = this.lastUid;
    if (last.length === len) {
      let i = 0;
      while (i < len && u8[off + i] === last.charCodeAt(i)) i++;
      if (i === len) return last;
    }
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(u8[off + i]);
    this.lastUid = s;
    return s;
  }
  private lastUid = '';

  /** Tells the writer how far this side has read. */
  release(): void {
    this.consumed = 0;
    const ctrl = this.v.ctrl;
    if (Atomics.load(ctrl, TAIL) === this.tail) return;
    Atomics.store(ctrl, TAIL, this.tail);
    if (Atomics.load(ctrl, WRITER_WAITING) === 1) Atomics.notify(ctrl, TAIL);
  }

  /** The writer has closed the ring and everything in it was read. */
  done(): boolean {
    return Atomics.load(this.v.ctrl, CLOSED) === 1 && this.tail === Atomics.load(this.v.ctrl, HEAD);
  }

  /** Waits up to `ms` for the writer to publish more. */
  wait(ms: number): void {
    this.release();
    const ctrl = this.v.ctrl;
    Atomics.store(ctrl, READER_WAITING, 1);
    // Checked again after the flag is up, so a publish in between is not slept through.
    if (Atomics.load(ctrl, HEAD) === this.tail && Atomics.load(ctrl, CLOSED) === 0) Atomics.wait(ctrl, HEAD, this.tail, ms);
    Atomics.store(ctrl, READER_WAITING, 0);
  }
}
