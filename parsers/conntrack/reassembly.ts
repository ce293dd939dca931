/**
 * TCP stream reassembly for one direction of one connection: protocol analyzers see ordered
 * bytes, not packets.
 *
 * Sequence numbers are relative and unwrapped (the tracker's relative sequence space, a plain
 * number that keeps growing past 2^32). In-order data is handed to the sink at once, without a
 * copy; out-of-order segments are copied and held, sorted, until the hole before them fills.
 * Overlaps are resolved first-wins: bytes already delivered or held are never replaced, and a
 * later segment that disagrees with held bytes is counted as an inconsistent overlap. A hole becomes a
 * content gap (reported to the sink, like Zeek's missed bytes) when the peer acknowledges past
 * it, when the held bytes exceed the per-direction or the global budget, or at close.
 */

export interface StreamSink {
  /**
   * Ordered bytes: buf[off, off + len). Valid only during the call. `tag`: the reassembler's (see
   * its constructor), for a sink that takes more than one stream.
   */
  data(buf: Buffer, off: number, len: number, tag: boolean): void;
  /** `len` bytes at this point of the stream were never seen. */
  gap(len: number, tag: boolean): void;
}

/** Bytes held out of order across all connections: one budget shared by every reassembler. */
export class ReassemblyBudget {
  used = 0;
  /** Holes skipped because this budget was exhausted. */
  forcedGaps = 0;
  constructor(readonly maxBytes: number) {}
}

export interface ReassemblyStats {
  /** Bytes handed to the sink. */
  delivered: number;
  /** Bytes that arrived again after they had been delivered or held (retransmissions). */
  retransmitted: number;
  /** Retransmitted bytes whose content differed from held bytes they overlapped (first-wins). */
  inconsistent: number;
  /** Bytes reported as gaps. */
  gapBytes: number;
  /** Holes skipped because a budget was exhausted (rather than acknowledged or closed). */
  forcedGaps: number;
}

interface Held {
  seq: number;
  data: Buffer;
}

/** Out-of-order bytes one direction may hold when no limit is given. */
export const DEFAULT_MAX_HELD_PER_DIRECTION = 256 * 1024;

export class StreamReassembler {
  /** Relative sequence number of the next byte the sink expects. */
  next: number;
  // ReassemblyStats as fields of their own, and no held list until a segment comes out of order:
  // two objects less on each direction of every connection with payload (most never reorder).
  private delivered = 0;
  private retransmitted = 0;
  private inconsistent = 0;
  private gapBytes = 0;
  private forcedGaps = 0;
  /** Held segments, sorted by seq, non-overlapping, all above `next` (NO_HELD while none ever was). */
  private held: Held[] = NO_HELD;
  private heldBytes = 0;
  private closed = false;

  /** `tag` is passed to the sink with everything it is given. */
  constructor(
    firstSeq: number,
    private readonly sink: StreamSink,
    private readonly budget: ReassemblyBudget,
    private readonly maxHeld = DEFAULT_MAX_HELD_PER_DIRECTION,
    private readonly tag = false,
  ) {
    this.next = firstSeq;
  }

  get stats(): ReassemblyStats {
    return {
      delivered: this.delivered,
      retransmitted: this.retransmitted,
      inconsistent: this.inconsistent,
      gapBytes: this.gapBytes,
      forcedGaps: this.forcedGaps,
    };
  }

  /** Bytes currently held out of order. */
  get holding(): number {
    return this.heldBytes;
  }

  /** A segment whose first payload byte has relative sequence number `seq`. */
  segment(seq: number, buf: Buffer, off: number, len: number): void {
    if (this.closed || len <= 0) return;
    if (seq + len <= this.next) {
      this.retransmission(len);
      return;
    }
    if (seq < this.next) {
      // Starts in what was delivered: the known part is a retransmission, the rest is new.
      const known = this.next - seq;
      this.retransmission(known);
      off += known;
      len -= known;
      seq = this.next;
    }
    if (seq === this.next) {
      // Bytes already held further on win over this segment's copy of them.
      const firstHeld = this.held.length > 0 ? this.held[0].seq : Infinity;
      const take = Math.min(len, firstHeld - seq);
      this.deliver(buf, off, take);
      if (take < len) this.hold(seq + take, buf, off + take, len - take);
      this.drain();
      return;
    }
    this.hold(seq, buf, off, len);
    this.enforceLimits();
  }

  /** The peer acknowledged every byte below `ack`: holes below it will never be filled. */
  ack(ack: number): void {
    if (this.closed) return;
    while (ack > this.next) {
      const h = this.held.length > 0 ? this.held[0] : null;
      if (h !== null && h.seq <= this.next) {
        this.drain();
        continue;
      }
      const holeEnd = h === null ? ack : Math.min(ack, h.seq);
      this.skip(holeEnd - this.next);
      this.drain();
    }
  }

  /** End of the connection: what is held is delivered in order, with the holes between as gaps. */
  close(): void {
    if (this.closed) return;
    while (this.held.length > 0) {
      const h = this.held[0];
      if (h.seq > this.next) this.skip(h.seq - this.next);
      this.drain();
    }
    this.closed = true;
  }

  /** Let go without delivering: what is held goes back to the shared budget (it would stay charged there forever). */
  discard(): void {
    if (this.closed) return;
    this.release(this.heldBytes);
    this.held = NO_HELD;
    this.closed = true;
  }

  private deliver(buf: Buffer, off: number, len: number): void {
    if (len <= 0) return;
    this.sink.data(buf, off, len, this.tag);
    this.delivered += len;
    this.next += len;
  }

  private skip(len: number): void {
    if (len <= 0) return;
    this.sink.gap(len, this.tag);
    this.gapBytes += len;
    this.next += len;
  }

  /** Delivers held segments that have become contiguous with `next`. */
  private drain(): void {
    while (this.held.length > 0 && this.held[0].seq <= this.next) {
      const h = this.held.shift() as Held;
      this.release(h.data.length);
      const skipBytes = this.next - h.seq;
      if (skipBytes < h.data.length) this.deliver(h.data, skipBytes, h.data.length - skipBytes);
    }
  }

  /** Copies the new parts of a segment into the held list (first-wins against what is held). */
  private hold(seq: number, buf: Buffer, off: number, len: number): void {
    if (this.held === NO_HELD) this.held = [];
    const end = seq + len;
    let cur = seq;
    let i = 0;
    // Find the first held segment that ends after `cur`.
    while (i < this.held.length && this.held[i].seq + this.held[i].data.length <= cur) i++;
    while (cur < end) {
      const h = i < this.held.length ? this.held[i] : null;
      if (h !== null && h.seq <= cur) {
        // Inside an existing held segment: those bytes stay; compare for inconsistency.
        const hEnd = h.seq + h.data.length;
        const upto = Math.min(end, hEnd);
        const n = upto - cur;
        this.retransmitted += n;
        if (buf.compare(h.data, cur - h.seq, cur - h.seq + n, off + (cur - seq), off + (cur - seq) + n) !== 0) this.inconsistent += n;
        cur = upto;
        i++;
        continue;
      }
      const upto = h === null ? end : Math.min(end, h.seq);
      const n = upto - cur;
      const copy = Buffer.from(buf.subarray(off + (cur - seq), off + (cur - seq) + n));
      this.held.splice(i, 0, { seq: cur, data: copy });
      this.heldBytes += n;
      this.budget.used += n;
      i++;
      cur = upto;
    }
  }

  /** Over a budget: give up on the first hole (report it as a gap) and deliver what follows it. */
  private enforceLimits(): void {
    while (this.held.length > 0 && (this.heldBytes > this.maxHeld || this.budget.used > this.budget.maxBytes)) {
      const h = this.held[0];
      if (this.budget.used > this.budget.maxBytes) this.budget.forcedGaps++;
      this.forcedGaps++;
      this.skip(h.seq - this.next);
      this.drain();
    }
  }

  private release(n: number): void {
    this.heldBytes -= n;
    this.budget.used -= n;
  }

  private retransmission(len: number): void {
    // Delivered bytes are not kept (no copy on the in-order path), so only overlaps with held
    // bytes can be checked for consistency.
    this.retransmitted += len;
  }
}

/** The held list of a reassembler that never held anything: shared, never changed (`hold` makes its own). */
const NO_HELD: Held[] = [];
