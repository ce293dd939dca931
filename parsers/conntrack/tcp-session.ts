/**
 * TCP as Zeek's TCPSessionAdapter / TCP_Endpoint see it: endpoint states, history letters,
 * sequence-space byte counts, retransmissions, content gaps (accounting only, no payload kept),
 * and when a finished connection is to be removed. Works on one connection at a time.
 */
import type { FlowLayer } from '../decode/layers';
import type { TrackerOptions } from './options';
import {
  ACK,
  type Clock,
  type Conn,
  Ep,
  FIN,
  H_ACK,
  H_DATA,
  H_FIN,
  H_FIN_RST,
  H_MULTI,
  H_RST,
  H_SYN,
  MAX_BLOCKS,
  NO_DEADLINE,
  RST,
  SC_GAP,
  SC_RXMT,
  SC_WIN0,
  SYN,
  TOO_LARGE_SEQ_DELTA,
  TWO32,
  type TcpConn,
  type TcpEndpoint,
  addHistory,
  checkHistory,
  flipRoles,
  initEndpoint,
  isClean,
  scaledHistory,
  seqDelta,
  setState,
} from './conn';

let gUnderflow = false;

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

export class TcpSession {
  constructor(
    private readonly opts: TrackerOptions,
    private readonly clock: Clock,
  ) {}

  isReuse(t: TcpConn, flags: number, seq: number): boolean {
    if ((flags & SYN) === 0) return false;
    let connOrig = t.orig;
    if (flags & ACK) {
      if (t.orig.state !== Ep.INACTIVE) return false;
      connOrig = t.resp;
    }
    if (!(t.orig.didClose || t.resp.didClose)) {
      if (seq === connOrig.startSeq) return false;
      if ((flags & ACK) === 0 && connOrig.state === Ep.SYN_ACK_SENT && t.resp.state === Ep.INACTIVE && seq === t.resp.startSeq) return false;
      return true;
    }
    return true;
  }

  packet(c: Conn, t: TcpConn, l: FlowLayer, isOrig: boolean, now: number): void {
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

    if (l.window === 0 && (flags & RST) === 0 && peer.state !== Ep.CLOSED && ep.state !== Ep.RESET) scaledHistory(c, SC_WIN0, 87 /* W */, ep.isOrig);

    if (!t.orig.didClose || !t.resp.didClose) {
      c.lastTs = now;
      c.lastSec = this.clock.sec;
      c.lastNsec = this.clock.nsec;
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
    } else if (flags & FIN && ep.lastSeq === (ep.startSeq + 1) >>> 0) {
      this.updateLastSeq(ep, onePast);
    } else if (ep.state === Ep.RESET) {
      // don't trust sequence numbers after a RST
    } else if (deltaLast > 0) {
      this.updateLastSeq(ep, onePast);
    } else if (len > 0) {
      scaledHistory(c, SC_RXMT, 84 /* T */, ep.isOrig);
    }

    const doClose = this.updateStateMachine(c, t, ep, peer, base, len, isOrig, flags, now);

    if (flags & ACK) {
      this.ackReceived(c, t, peer, relAck);
      if (c.streams !== null && relAck > 0) {
        // An acknowledged FIN takes a sequence number but carries no byte of the stream.
        c.streams.ack(peer.isOrig, peer.finCnt > 0 && relAck >= peer.finSeq ? peer.finSeq - 1 : relAck);
      }
    }

    if (len > 0 && (flags & RST) === 0 && !seqUnderflow && l.capturedPayloadLen >= len) {
      const dataSeq = flags & SYN ? relSeq + 1 : relSeq;
      this.dataSent(ep, dataSeq, len);
      if (c.streams !== null) c.streams.segment(ep.isOrig, dataSeq, l.buf, l.payloadOff, len, now);
    }

    // After its data: the segment's FIN (or RST) ends the direction's stream where it sits.
    if ((flags & (FIN | RST)) !== 0 && c.streams !== null && !seqUnderflow) {
      c.streams.finish(ep.isOrig, (flags & SYN ? relSeq + 1 : relSeq) + (flags & RST ? 0 : len), now);
    }

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
              flipRoles(c);
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
        if (flags & SYN && ep.state === Ep.PARTIAL && peer.state === Ep.INACTIVE && (flags & ACK) === 0) setState(ep, t, Ep.SYN_SENT);
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
      if (bl?.length) {
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
}
