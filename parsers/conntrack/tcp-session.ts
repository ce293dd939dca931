/**
 * TCP as Zeek's TCPSessionAdapter / TCP_Endpoint see it: endpoint states, history letters,
 * sequence-space byte counts, retransmissions, content gaps (accounting only, no payload kept),
 * and when a finished connection is to be removed. Works on one connection at a time; its state
 * is a slot of the TcpTable, an endpoint is slot * 2 + side (see tcp-table.ts).
 */
import type { FlowLayer } from '../decode/layers';
import type { TrackerOptions } from './options';
import {
  ACK,
  type Clock,
  type Conn,
  type ConnColumns,
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
  T_LAST_SEC,
  T_WORDS,
  addHistory,
  checkHistory,
  flipRoles,
  lastTs,
  scaledHistory,
  seqDelta,
} from './conn';
import {
  D_FIN_SEQ,
  D_HIST_FIN,
  D_HIST_RST,
  D_HIST_SYN,
  D_LAST_REASSEM,
  D_TIMER,
  D_TRIM_SEQ,
  E_ACK_SEQ,
  E_ACK_WRAPS,
  E_DID_CLOSE,
  E_FIN_CNT,
  E_LAST_SEQ,
  E_PREV_STATE,
  E_RST_CNT,
  E_SEQ_WRAPS,
  E_START_SEQ,
  E_STATE,
  ED,
  EI,
  F_ACTIVE,
  F_PARTIAL,
  F_SEEN_ORIG,
  F_SEEN_RESP,
  S_FLAGS,
  type TcpTable,
  initEndpoint,
  isClean,
  setState,
} from './tcp-table';

let gUnderflow = false;

function relativeSeq(start: number, cur: number, last: number, wraps: number): number {
  let delta = seqDelta(cur, last);
  if (delta < 0) {
    if (wraps && cur > last) --wraps;
  } else if (delta > 0) {
    if (cur < last) ++wraps;
  }
  if (wraps === 0) {
    delta = seqDelta(cur, start);
    if (delta < 0) gUnderflow = true;
    return delta;
  }
  return wraps * TWO32 + cur - start;
}

export class TcpSession {
  constructor(
    private readonly opts: TrackerOptions,
    private readonly clock: Clock,
    private readonly tt: TcpTable,
    private readonly conns: ConnColumns,
  ) {}

  isReuse(s: number, flags: number, seq: number): boolean {
    if ((flags & SYN) === 0) return false;
    const t = this.tt;
    const i = t.i32;
    const orig = t.origEp(s) * EI;
    const resp = t.respEp(s) * EI;
    let connOrig = orig;
    if (flags & ACK) {
      if (i[orig + E_STATE] !== Ep.INACTIVE) return false;
      connOrig = resp;
    }
    if (i[orig + E_DID_CLOSE] === 0 && i[resp + E_DID_CLOSE] === 0) {
      const u = t.u32;
      if (seq === u[connOrig + E_START_SEQ]) return false;
      if ((flags & ACK) === 0 && i[connOrig + E_STATE] === Ep.SYN_ACK_SENT && i[resp + E_STATE] === Ep.INACTIVE && seq === u[resp + E_START_SEQ]) return false;
      return true;
    }
    return true;
  }

  /**
   * The packet's time in seconds, set by the tracker before `packet`. A field, not a parameter:
   * a double passed to a call V8 does not inline is boxed, a heap number per packet.
   */
  now = 0;

  packet(c: Conn, s: number, l: FlowLayer, isOrig: boolean): void {
    const now = this.now;
    const t = this.tt;
    const i = t.i32;
    const u = t.u32;
    const f = t.f64;
    const flags = l.tcpFlags;
    const base = l.seq >>> 0;
    const ackSeq = l.ack >>> 0;
    const len = l.payloadLen;
    const fa = s * 2 * EI + S_FLAGS;
    const ep = isOrig ? t.origEp(s) : t.respEp(s);
    const peer = ep ^ 1;
    const eo = ep * EI;
    const po = peer * EI;

    // SetPartialStatus
    if (isOrig) {
      if ((i[fa] & F_SEEN_ORIG) === 0) i[fa] = (flags & SYN) === 0 || (flags & ACK) !== 0 ? i[fa] | F_PARTIAL : i[fa] & ~F_PARTIAL;
    } else if ((i[fa] & (F_SEEN_RESP | F_PARTIAL)) === 0) {
      if ((flags & SYN) === 0) i[fa] |= F_PARTIAL;
    }

    let segLen = len;
    if (flags & SYN) ++segLen;
    if (flags & FIN) ++segLen;
    if (flags & RST) segLen -= len;
    const onePast = (base + segLen) >>> 0;

    initEndpoint(t, ep, flags, base, onePast);
    gUnderflow = false;
    const relSeq = relativeSeq(u[eo + E_START_SEQ], base, u[eo + E_LAST_SEQ], i[eo + E_SEQ_WRAPS]);
    const seqUnderflow = gUnderflow;

    this.updateHistory(c, ep, flags, relSeq, len);

    if (l.window === 0 && (flags & RST) === 0 && i[po + E_STATE] !== Ep.CLOSED && i[eo + E_STATE] !== Ep.RESET)
      scaledHistory(c, SC_WIN0, 87 /* W */, t.isOrig(ep));

    if (i[eo + E_DID_CLOSE] === 0 || i[po + E_DID_CLOSE] === 0) {
      this.conns.cols[c.fid * T_WORDS + T_LAST_SEC] = this.clock.sec;
      c.lastNsec = this.clock.nsec;
    }

    if (flags & FIN) {
      ++i[eo + E_FIN_CNT];
      f[ep * ED + D_FIN_SEQ] = relSeq + segLen;
    }
    if (flags & RST) ++i[eo + E_RST_CNT];

    let relAck = 0;
    if (flags & ACK) {
      if (i[po + E_STATE] === Ep.INACTIVE) {
        relAck = 1;
        const start = (ackSeq - 1) >>> 0;
        u[po + E_START_SEQ] = start;
        u[po + E_ACK_SEQ] = start;
        u[po + E_LAST_SEQ] = start;
      } else {
        gUnderflow = false;
        const peerAck = u[po + E_ACK_SEQ];
        relAck = relativeSeq(u[po + E_START_SEQ], ackSeq, peerAck, i[po + E_ACK_WRAPS]);
        if (gUnderflow) relAck = 0;
        else if ((flags & RST) === 0) {
          const dAck = seqDelta(ackSeq, peerAck);
          if (!(ackSeq === 0 && dAck > TOO_LARGE_SEQ_DELTA) && dAck > 0) {
            if (ackSeq < peerAck) ++i[po + E_ACK_WRAPS];
            u[po + E_ACK_SEQ] = ackSeq;
          }
        }
      }
    }

    // update_last_seq
    const lastSeq = u[eo + E_LAST_SEQ];
    const deltaLast = seqDelta(onePast, lastSeq);
    if ((flags & (SYN | RST)) !== 0 && (deltaLast > TOO_LARGE_SEQ_DELTA || deltaLast < -TOO_LARGE_SEQ_DELTA)) {
      // untrusted jump
    } else if (flags & FIN && lastSeq === (u[eo + E_START_SEQ] + 1) >>> 0) {
      this.updateLastSeq(eo, onePast);
    } else if (i[eo + E_STATE] === Ep.RESET) {
      // don't trust sequence numbers after a RST
    } else if (deltaLast > 0) {
      this.updateLastSeq(eo, onePast);
    } else if (len > 0) {
      scaledHistory(c, SC_RXMT, 84 /* T */, t.isOrig(ep));
    }

    // The sequence number as an int32: an unsigned one from 2^31 up, passed to a call V8 does not
    // inline, is boxed, a heap number for half the segments.
    const doClose = this.updateStateMachine(c, s, ep, peer, base | 0, len, isOrig, flags);

    if (flags & ACK) {
      this.ackReceived(c, s, peer, relAck);
      if (c.streams !== null && relAck > 0) {
        // An acknowledged FIN takes a sequence number but carries no byte of the stream.
        const finSeq = f[peer * ED + D_FIN_SEQ];
        c.streams.ack(t.isOrig(peer), i[po + E_FIN_CNT] > 0 && relAck >= finSeq ? finSeq - 1 : relAck);
      }
    }

    if (len > 0 && (flags & RST) === 0 && !seqUnderflow && l.capturedPayloadLen >= len) {
      const dataSeq = flags & SYN ? relSeq + 1 : relSeq;
      this.dataSent(ep, dataSeq, len);
      if (c.streams !== null) c.streams.segment(t.isOrig(ep), dataSeq, l.buf, l.payloadOff, len, now);
    }

    // After its data: the segment's FIN (or RST) ends the direction's stream where it sits.
    if ((flags & (FIN | RST)) !== 0 && c.streams !== null && !seqUnderflow) {
      c.streams.finish(t.isOrig(ep), (flags & SYN ? relSeq + 1 : relSeq) + (flags & RST ? 0 : len), now);
    }

    if (doClose) this.connectionClosed(c, s, ep, peer);

    i[fa] |= t.isOrig(ep) ? F_SEEN_ORIG : F_SEEN_RESP;
  }

  /** `eo`: the endpoint's first integer word. */
  private updateLastSeq(eo: number, seq: number): void {
    const u = this.tt.u32;
    if (seq < u[eo + E_LAST_SEQ]) ++this.tt.i32[eo + E_SEQ_WRAPS];
    u[eo + E_LAST_SEQ] = seq;
  }

  private updateHistory(c: Conn, e: number, flags: number, relSeq: number, len: number): void {
    const o = this.tt.isOrig(e);
    const f = this.tt.f64;
    const d = e * ED;
    const bits = (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0) + (flags & RST ? 1 : 0);
    if (bits > 1) {
      if (flags & FIN && flags & RST) checkHistory(c, H_FIN_RST, 73 /* I */, o);
      else checkHistory(c, H_MULTI, 81 /* Q */, o);
    } else if (bits === 1) {
      if (flags & SYN) {
        const code = flags & ACK ? 72 /* H */ : 83; /* S */
        if (checkHistory(c, H_SYN, code, o) && relSeq !== f[d + D_HIST_SYN]) addHistory(c, o ? code : code + 32);
        f[d + D_HIST_SYN] = relSeq;
      }
      if (flags & FIN) {
        if (checkHistory(c, H_FIN, 70 /* F */, o) && relSeq + len !== f[d + D_HIST_FIN]) addHistory(c, o ? 70 : 102);
        f[d + D_HIST_FIN] = relSeq + len;
      }
      if (flags & RST) {
        if (checkHistory(c, H_RST, 82 /* R */, o) && relSeq !== f[d + D_HIST_RST]) addHistory(c, o ? 82 : 114);
        f[d + D_HIST_RST] = relSeq;
      }
    } else if (len) checkHistory(c, H_DATA, 68 /* D */, o);
    else if (flags & ACK) checkHistory(c, H_ACK, 65 /* A */, o);
  }

  /** Zeek UpdateStateMachine; returns do_close. `base`: the segment's sequence number as an int32. */
  private updateStateMachine(c: Conn, s: number, ep: number, peer: number, base: number, len: number, isOrig: boolean, flags: number): boolean {
    const now = this.now;
    const t = this.tt;
    const i = t.i32;
    const eo = ep * EI;
    const po = peer * EI;
    const fa = s * 2 * EI + S_FLAGS;
    let doClose = false;
    switch (i[eo + E_STATE]) {
      case Ep.INACTIVE: {
        if (flags & SYN) {
          if (isOrig) {
            setState(t, ep, flags & ACK ? Ep.SYN_ACK_SENT : Ep.SYN_SENT);
            if (this.opts.tcpAttemptDelaySec > 0) t.f64[s * 2 * ED + D_TIMER] = now + this.opts.tcpAttemptDelaySec;
          } else {
            if ((flags & ACK) === 0 && i[po + E_STATE] === Ep.SYN_ACK_SENT && base === i[eo + E_START_SEQ]) {
              // SYN/SYN-ACK reversal: the SYN's sender is the real originator.
              i[fa] &= ~F_PARTIAL;
              flipRoles(c, t);
              setState(t, peer, Ep.ESTABLISHED);
              i[fa] |= F_SEEN_ORIG;
            }
            if (i[po + E_STATE] === Ep.SYN_SENT) setState(t, peer, Ep.ESTABLISHED);
            setState(t, ep, Ep.ESTABLISHED);
          }
        }
        if (flags & FIN) {
          setState(t, ep, Ep.CLOSED);
          doClose = true;
        }
        if (flags & RST) {
          setState(t, ep, Ep.RESET);
          doClose = true;
        }
        if (i[eo + E_STATE] === Ep.INACTIVE) {
          if (!isOrig && len === 0 && i[t.origEp(s) * EI + E_STATE] === Ep.SYN_SENT) {
            // an early ACK of the SYN does not make a partial connection
          } else if (flags & ACK && i[po + E_STATE] === Ep.ESTABLISHED) {
            setState(t, ep, Ep.ESTABLISHED);
            i[fa] = (i[fa] & ~F_PARTIAL) | (t.isOrig(ep) ? F_SEEN_ORIG : F_SEEN_RESP);
          } else setState(t, ep, Ep.PARTIAL);
        }
        break;
      }
      case Ep.SYN_SENT:
      case Ep.SYN_ACK_SENT:
        if (flags & FIN) {
          setState(t, ep, Ep.CLOSED);
          doClose = true;
        }
        if (flags & RST) {
          setState(t, ep, Ep.RESET);
          i[fa] &= ~F_ACTIVE;
          doClose = true;
        }
        break;
      case Ep.ESTABLISHED:
      case Ep.PARTIAL:
        if (flags & SYN && i[eo + E_STATE] === Ep.PARTIAL && i[po + E_STATE] === Ep.INACTIVE && (flags & ACK) === 0) setState(t, ep, Ep.SYN_SENT);
        if (flags & FIN && (flags & RST) === 0) {
          setState(t, ep, Ep.CLOSED);
          // FIN after the peer's FIN+RST: that was a normal close after all.
          if (i[po + E_STATE] === Ep.RESET && i[po + E_PREV_STATE] === Ep.CLOSED) setState(t, peer, Ep.CLOSED);
          doClose = true;
        }
        if (flags & RST) {
          setState(t, ep, Ep.RESET);
          doClose = true;
          if (i[po + E_STATE] !== Ep.RESET || i[po + E_PREV_STATE] !== Ep.ESTABLISHED) i[fa] &= ~F_ACTIVE;
        }
        break;
      case Ep.CLOSED:
        if (flags & RST && i[po + E_STATE] !== Ep.CLOSED) {
          setState(t, ep, Ep.RESET);
          if (i[eo + E_DID_CLOSE] === 0) doClose = true;
          const r = now + this.opts.tcpResetDelaySec;
          const da = (s * 2 + 1) * ED + D_TIMER;
          if (r < t.f64[da]) t.f64[da] = r;
        }
        break;
      default:
        break;
    }
    return doClose;
  }

  private connectionClosed(c: Conn, s: number, ep: number, peer: number): void {
    const t = this.tt;
    const i = t.i32;
    if (i[ep * EI + E_DID_CLOSE] !== 0) return;
    i[ep * EI + E_DID_CLOSE] = 1;
    const complete = i[ep * EI + E_STATE] === Ep.RESET || i[peer * EI + E_DID_CLOSE] !== 0 || i[peer * EI + E_STATE] === Ep.INACTIVE;
    if (!complete) return;
    i[s * 2 * EI + S_FLAGS] &= ~F_ACTIVE;
    const f = t.f64;
    f[s * 2 * ED + D_TIMER] = NO_DEADLINE;
    const d = lastTs(c, this.conns.cols) + this.opts.tcpCloseDelaySec;
    const da = (s * 2 + 1) * ED + D_TIMER;
    if (d < f[da]) f[da] = d;
  }

  /** The peer acknowledged `e`'s stream up to relative `seq`: unseen bytes below it are a content gap. */
  private ackReceived(c: Conn, s: number, e: number, seq: number): void {
    const t = this.tt;
    const f = t.f64;
    const d = e * ED;
    if (t.i32[e * EI + E_FIN_CNT] > 0 && seq >= f[d + D_FIN_SEQ]) seq = f[d + D_FIN_SEQ] - 1;
    if (seq <= f[d + D_TRIM_SEQ]) return;
    if (seq > f[d + D_LAST_REASSEM]) this.undelivered(c, s, e, seq);
    const bl = t.blocks[e];
    if (bl !== null) {
      let k = 0;
      while (k < bl.length && bl[k + 1] <= seq) k += 2;
      if (k > 0) bl.splice(0, k);
    }
    f[d + D_TRIM_SEQ] = seq;
  }

  private undelivered(c: Conn, s: number, e: number, upTo: number): void {
    const t = this.tt;
    if (upTo <= 2 && (t.i32[s * 2 * EI + S_FLAGS] & F_PARTIAL) !== 0) return;
    const f = t.f64;
    const lr = e * ED + D_LAST_REASSEM;
    const bl = t.blocks[e];
    if (bl !== null) {
      for (let k = 0; k < bl.length; k += 2) {
        const bs = bl[k];
        const be = bl[k + 1];
        if (be <= f[lr]) continue;
        if (bs >= upTo) break;
        if (bs > f[lr]) this.gap(c, e, bs - f[lr]);
        if (be > f[lr]) f[lr] = be;
      }
    }
    if (upTo > f[lr]) {
      this.gap(c, e, upTo - f[lr]);
      f[lr] = upTo;
    }
  }

  private gap(c: Conn, e: number, len: number): void {
    // Zeek reports gaps only while both sides are established or closing cleanly.
    const t = this.tt;
    if (isClean(t, e) && isClean(t, e ^ 1)) {
      scaledHistory(c, SC_GAP, 71 /* G */, t.isOrig(e));
      c.missed += len;
    }
  }

  private dataSent(e: number, seq: number, len: number): void {
    const t = this.tt;
    const f = t.f64;
    const d = e * ED;
    const o = e * EI;
    const ack = t.i32[o + E_ACK_WRAPS] * TWO32 + t.u32[o + E_ACK_SEQ] - t.u32[o + E_START_SEQ];
    const upper = seq + len;
    if (seq < ack) {
      if (upper <= ack) return;
      seq = ack;
    }
    const trim = f[d + D_TRIM_SEQ];
    if (upper <= trim) return;
    if (seq < trim) seq = trim;
    const lr = d + D_LAST_REASSEM;
    if (seq <= f[lr]) {
      if (upper > f[lr]) f[lr] = upper;
      const bl = t.blocks[e];
      if (bl?.length) {
        let k = 0;
        while (k < bl.length && bl[k] <= f[lr]) {
          if (bl[k + 1] > f[lr]) f[lr] = bl[k + 1];
          k += 2;
        }
        if (k > 0) bl.splice(0, k);
      }
      return;
    }
    // Out of order: remember the range (merged), bounded.
    let bl = t.blocks[e];
    if (bl === null) bl = t.blocks[e] = [];
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
}
