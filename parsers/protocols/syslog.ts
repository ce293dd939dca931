/**
 * Syslog over TCP (RFC 6587), read as Zeek's Syslog_TCP analyzer reads each direction: a stream
 * of frames, each either octet-counted (`LEN SP MSG`, LEN a decimal without leading zero, MSG of
 * LEN bytes with an optional `<PRI>` first) or non-transparent (`<PRI>MSG` ended by one or more
 * LF, CR or NUL). A complete frame confirms (Zeek's accept_input); anything else where a frame
 * should start, or a malformed priority, is a protocol violation and ends that direction's parsing.
 *
 * Zeek attaches it only by port (base/protocols/syslog registers 514/tcp; there is no signature),
 * so the multiplexer runs it only there. conn.log names it `syslog_tcp`. Its messages are counted,
 * not logged: the record contract has no syslog record yet.
 */
import { BaseAnalyzer } from './analyzer';

/** base/protocols/syslog's Syslog::tcp_ports. */
export const SYSLOG_TCP_PORT = 514;

/** A frame length above this is no syslog frame (RFC 5425 advises receivers to take 2048, some 64 KiB). */
const MAX_FRAME_LEN = 1 << 30;

enum St {
  /** Where a frame starts: a non-zero digit (octet counting) or '<' (non-transparent). */
  FRAME = 0,
  /** Octet counting: the length's digits, up to the space. */
  LEN = 1,
  /** Octet counting: the message's first byte, '<' opening its optional priority. */
  BODY_START = 2,
  /** Octet counting: the priority's digits, up to '>'. */
  BODY_PRI = 3,
  /** Octet counting: the rest of the message, skipped. */
  BODY = 4,
  /** Non-transparent: the priority's digits, up to '>'. */
  NT_PRI = 5,
  /** Non-transparent: the message, up to LF, CR or NUL (at least one byte). */
  NT_MSG = 6,
  /** Non-transparent: the rest of the run of LF, CR and NUL that ends the frame. */
  NT_END = 7,
  /** A violation ended this direction. */
  STOPPED = 8,
}

class Side {
  st = St.FRAME;
  /** Octet counting: bytes of the message still to come. */
  remaining = 0;
  /** Digits of the length or the priority read so far; bytes of a non-transparent message. */
  count = 0;
  messages = 0;
}

const isEnd = (c: number): boolean => c === 0x0a || c === 0x0d || c === 0x00;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

export class SyslogTcpAnalyzer extends BaseAnalyzer {
  readonly name = 'syslog_tcp';
  private readonly sides: [Side, Side] = [new Side(), new Side()];

  /** Complete frames seen, client's and server's. */
  get messages(): { orig: number; resp: number } {
    return { orig: this.sides[1].messages, resp: this.sides[0].messages };
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    const s = this.sides[isOrig ? 1 : 0];
    const end = off + len;
    let i = off;
    while (i < end && this.active) {
      const c = buf[i];
      switch (s.st) {
        case St.FRAME:
          if (c >= 0x31 && c <= 0x39) {
            s.st = St.LEN;
            s.remaining = c - 0x30;
          } else if (c === 0x3c) {
            s.st = St.NT_PRI;
            s.count = 0;
          } else {
            this.stop(s, 'syslog-frame', `a frame starts with byte 0x${c.toString(16)}, neither a length nor '<'`, isOrig, ts, i - off);
            return;
          }
          i++;
          break;
        case St.LEN:
          if (isDigit(c)) {
            s.remaining = s.remaining * 10 + c - 0x30;
            if (s.remaining > MAX_FRAME_LEN) {
              this.stop(s, 'syslog-length', 'octet-counted frame length too large', isOrig, ts, i - off);
              return;
            }
          } else if (c === 0x20) s.st = St.BODY_START;
          else {
            this.stop(s, 'syslog-length', 'octet-counted frame length not followed by a space', isOrig, ts, i - off);
            return;
          }
          i++;
          break;
        case St.BODY_START:
          s.remaining--;
          if (c === 0x3c) {
            s.st = St.BODY_PRI;
            s.count = 0;
          } else s.st = St.BODY;
          i++;
          if (s.remaining === 0 && !this.frameEnd(s, isOrig, ts, i - off)) return;
          break;
        case St.BODY_PRI:
          s.remaining--;
          if (isDigit(c)) s.count++;
          else if (c === 0x3e && s.count > 0) s.st = St.BODY;
          else {
            this.stop(s, 'syslog-priority', 'malformed priority', isOrig, ts, i - off);
            return;
          }
          i++;
          if (s.remaining === 0 && !this.frameEnd(s, isOrig, ts, i - off)) return;
          break;
        case St.BODY: {
          const n = Math.min(s.remaining, end - i);
          s.remaining -= n;
          i += n;
          if (s.remaining === 0) this.frameDone(s);
          break;
        }
        case St.NT_PRI:
          if (isDigit(c)) s.count++;
          else if (c === 0x3e && s.count > 0) {
            s.st = St.NT_MSG;
            s.count = 0;
          } else {
            this.stop(s, 'syslog-priority', 'malformed priority', isOrig, ts, i - off);
            return;
          }
          i++;
          break;
        case St.NT_MSG:
          if (!isEnd(c)) s.count++;
          else if (s.count > 0) {
            // The message is complete at its first terminator byte; the rest of the run is skipped.
            this.frameDone(s);
            s.st = St.NT_END;
          } else {
            this.stop(s, 'syslog-message', 'empty non-transparent message', isOrig, ts, i - off);
            return;
          }
          i++;
          break;
        case St.NT_END:
          if (isEnd(c)) i++;
          else s.st = St.FRAME;
          break;
        default:
          return;
      }
    }
  }

  protected override onEndOfDirection(isOrig: boolean, ts: number): void {
    const s = this.sides[isOrig ? 1 : 0];
    if (s.st !== St.FRAME && s.st !== St.NT_END && s.st !== St.STOPPED) this.stop(s, 'syslog-truncated', 'the stream ends inside a frame', isOrig, ts, 0);
  }

  /** A length-counted frame ended here: false (and stopped) when it ended inside the priority. */
  private frameEnd(s: Side, isOrig: boolean, ts: number, at: number): boolean {
    if (s.st === St.BODY_PRI) {
      this.stop(s, 'syslog-priority', 'priority cut by the frame length', isOrig, ts, at);
      return false;
    }
    this.frameDone(s);
    return true;
  }

  private frameDone(s: Side): void {
    s.st = St.FRAME;
    s.messages++;
    this.confirm();
  }

  private stop(s: Side, code: string, message: string, isOrig: boolean, ts: number, at: number): void {
    s.st = St.STOPPED;
    this.violation(code, message, isOrig, ts, at);
  }
}
