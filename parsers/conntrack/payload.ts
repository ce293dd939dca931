/**
 * What the tracker hands to payload analysis: per connection, an observer that receives each TCP
 * direction as an ordered byte stream (through a StreamReassembler) and each datagram of other
 * protocols as is, and that names the services it confirmed when the connection ends.
 * Connections without an observer cost one null check per packet.
 */
import type { ConnInfo } from '../record/app';
import { type ReassemblyBudget, StreamReassembler, type StreamSink } from './reassembly';

export interface PayloadObserver {
  /** Ordered bytes of one direction of a TCP connection; buf is valid only during the call. */
  stream(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void;
  /** `len` bytes of that direction's stream were never seen. */
  gap(isOrig: boolean, len: number): void;
  /** One datagram's payload (UDP and other datagram protocols). */
  datagram(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void;
  /**
   * One direction's stream is complete: its FIN (or RST) was reached in order, every byte before
   * it delivered (Zeek's EndpointEOF). At most once per direction; not called at a close that
   * comes without one (`end` follows in every case).
   */
  endOfDirection?(isOrig: boolean, ts: number): void;
  /** The connection ends; called once, before its final record is built. */
  end(ts: number): void;
  /**
   * Polled once both directions ended (endOfDirection for each): true when the observer wants
   * nothing more of the streams, having logged all it can. Its reassembly state then goes at
   * once, rather than when the connection leaves the table (5 s after its close, as Zeek's
   * tcp_close_delay), and bytes after the ends are not delivered. `end` still follows.
   */
  finished?(): boolean;
  /** Services confirmed from the payload so far (Zeek's `service`). */
  services(): readonly string[];
  /**
   * Whether analysis stopped short at a limit (Zeek's analyzer limits: DNS message counts, line
   * lengths, SSH KEX algorithm lists ...). Polled after each packet delivered: the first true
   * puts `X` in the history at that point, as Zeek does when the limit is hit.
   */
  partial?(): boolean;
  /**
   * Polled after each packet delivered: true once the observer can never log, confirm a service
   * or mark `X` for this connection, and tied no record to it (no candidate analyzer took the
   * first payload: tunnel carriers, metrics and log datagrams). The tracker then lets it go, with
   * the connection's identity and reassembly, as if the connection had never had one: on a
   * capture of many long-lived flows these were most of the live connections' analysis memory.
   */
  idle?(): boolean;
}

/**
 * Decides, per new connection, whether and how its payload is analysed. `midStream`: a TCP
 * connection whose first packet carried no SYN (Zeek's partial connection, on which its HTTP, SSL
 * and RDP analyzers parse nothing).
 */
export type PayloadObserverFactory = (c: ConnInfo, midStream?: boolean) => PayloadObserver | null;

/**
 * The reassembly state of one TCP connection that has an observer. Most connections never carry
 * data (scans, refused, unanswered): this stays one small object until the first data segment of
 * a direction makes that direction's reassembler and sink.
 */
export class TcpStreams implements StreamSink {
  private orig: StreamReassembler | null = null;
  private resp: StreamReassembler | null = null;
  /** Packet time of the segment being delivered, passed on to the observer. */
  ts = 0;
  /** Where each direction's stream ends (relative seq one past its last byte) once its FIN or RST came; -1: not yet, -2: signalled. */
  private origEnd = -1;
  private respEnd = -1;
  /** The observer wants no more bytes (both streams ended): the reassemblers are gone. */
  private done = false;

  constructor(
    readonly observer: PayloadObserver,
    private readonly budget: ReassemblyBudget,
    private readonly maxHeldPerDirection: number,
  ) {}

  /**
   * A data segment at relative sequence `seq`. Relative numbering puts the first byte of every
   * stream at 1: after the SYN, or, for a connection seen mid-stream, at its first data.
   */
  segment(isOrig: boolean, seq: number, buf: Buffer, off: number, len: number, ts: number): void {
    this.ts = ts;
    if (this.done) return;
    let r = isOrig ? this.orig : this.resp;
    if (r === null) {
      // The reassembler's tag is its direction: this object is the sink of both, no sink object each.
      r = new StreamReassembler(1, this, this.budget, this.maxHeldPerDirection, isOrig);
      if (isOrig) this.orig = r;
      else this.resp = r;
    }
    r.segment(seq, buf, off, len);
    if ((isOrig ? this.origEnd : this.respEnd) >= 0) this.checkEnd(isOrig);
  }

  /** The other side acknowledged `ack` (relative) of this direction. */
  ack(isOrig: boolean, ack: number): void {
    const r = isOrig ? this.orig : this.resp;
    if (r !== null) r.ack(ack);
    if ((isOrig ? this.origEnd : this.respEnd) >= 0) this.checkEnd(isOrig);
  }

  /** That direction sent its FIN or RST: its stream ends before relative seq `endSeq` (the first FIN or RST counts). */
  finish(isOrig: boolean, endSeq: number, ts: number): void {
    if ((isOrig ? this.origEnd : this.respEnd) !== -1 || this.observer.endOfDirection === undefined) return;
    if (isOrig) this.origEnd = Math.max(endSeq, 1);
    else this.respEnd = Math.max(endSeq, 1);
    this.ts = ts;
    this.checkEnd(isOrig);
  }

  /** Signals the end of a direction once its reassembly reached the FIN. */
  private checkEnd(isOrig: boolean): void {
    const r = isOrig ? this.orig : this.resp;
    const end = isOrig ? this.origEnd : this.respEnd;
    if ((r === null ? 1 : r.next) < end) return;
    if (isOrig) this.origEnd = -2;
    else this.respEnd = -2;
    this.observer.endOfDirection?.(isOrig, this.ts);
    if (this.origEnd === -2 && this.respEnd === -2 && this.observer.finished?.() === true) {
      this.done = true;
      // Out-of-order bytes past a FIN can still be held: their share of the budget goes back.
      this.orig?.discard();
      this.resp?.discard();
      this.orig = null;
      this.resp = null;
    }
  }

  /** StreamSink: one direction's ordered bytes, handed to the observer. */
  data(buf: Buffer, off: number, len: number, isOrig: boolean): void {
    this.observer.stream(isOrig, buf, off, len, this.ts);
  }

  /** StreamSink: a gap in one direction. */
  gap(len: number, isOrig: boolean): void {
    this.observer.gap(isOrig, len);
  }

  close(ts: number): void {
    this.ts = ts;
    this.orig?.close();
    this.resp?.close();
  }

  /** The observer went idle: bytes held out of order give their share of the budget back, nothing is delivered. */
  discard(): void {
    this.done = true;
    this.orig?.discard();
    this.resp?.discard();
    this.orig = null;
    this.resp = null;
  }
}
