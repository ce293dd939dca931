/**
 * Cleartext HTTP/2 (RFC 9113) and gRPC over it, for one TCP connection: the client connection
 * preface, frames in both directions, header blocks (HEADERS / PUSH_PROMISE + CONTINUATION)
 * decoded with one HPACK decoder per direction, and one record per stream with its request and
 * response headers, DATA payload lengths and gRPC trailers.
 *
 * Prior knowledge (the client starts with the preface) is detected by the multiplexer; after an
 * HTTP/1.1 `Upgrade: h2c` and its 101 the HTTP/1 analyzer hands the connection over and this one
 * starts in upgrade mode, with the HTTP/1.1 request as stream 1.
 *
 * Bounded: frames needing their payload (all but DATA and unknown types, which are skipped as they
 * stream past) are buffered up to the analyzer's buffer bound, a header block across CONTINUATION
 * frames up to the same bound, the dynamic table to MAX_TABLE_SIZE, open streams to MAX_STREAMS.
 */
import { type AnalyzerOptions, BaseAnalyzer, StreamBuffer } from './analyzer';
import { HpackDecoder, HpackError } from './hpack';
import type { Http2LogRecord, HttpLogRecord } from '../record/app';

/** The client connection preface (section 3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const FRAME_HEADER = 9;
const DEFAULT_MAX_FRAME_SIZE = 16384;
/** Our own cap on a dynamic table, whatever the peers allow (they rarely exceed the 4096 default). */
export const MAX_TABLE_SIZE = 64 * 1024;
/** Streams open at once before the oldest is logged as it is. */
export const MAX_STREAMS = 1024;

enum T {
  DATA = 0,
  HEADERS = 1,
  PRIORITY = 2,
  RST_STREAM = 3,
  SETTINGS = 4,
  PUSH_PROMISE = 5,
  PING = 6,
  GOAWAY = 7,
  WINDOW_UPDATE = 8,
  CONTINUATION = 9,
}

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;

const ERROR_CODES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];
const errorName = (c: number): string => ERROR_CODES[c] ?? `0x${c.toString(16)}`;

interface Stream {
  rec: Http2LogRecord;
  origEnd: boolean;
  respEnd: boolean;
  /** Request headers seen (a later block from the client is trailers). */
  reqHeaders: boolean;
  /** Final (non-1xx) response headers seen (a later block from the server is trailers). */
  respFinal: boolean;
}

/** One direction: its frame reader state, its HPACK decoder and the settings it announced. */
class Side {
  /** Preface bytes still expected (client only). */
  prefaceLeft: number;
  /** Payload bytes of the current frame still to skip unparsed (DATA, unknown or oversized frames). */
  skip = 0;
  /** Null after a decoding error: this direction's dynamic table is no longer known. */
  hpack: HpackDecoder | null = new HpackDecoder({ maxTableSize: 4096 });
  /** SETTINGS_MAX_FRAME_SIZE this side announced: the bound on the frames the other side sends. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  frames = 0;
  /** Header block under assembly across CONTINUATION frames. */
  blockStream = 0;
  block: Buffer | null = null;
  blockLen = 0;
  blockEndStream = false;
  /** Stream a PUSH_PROMISE block promises (0 for HEADERS). */
  blockPromised = 0;
  /** The block is dropped (too large or undecodable); CONTINUATION frames are still tracked. */
  blockDropped = false;
  readonly buf: StreamBuffer;

  constructor(isOrig: boolean, max: number, parse: (b: Buffer, o: number, e: number) => number) {
    this.prefaceLeft = isOrig ? H2_PREFACE.length : 0;
    this.buf = new StreamBuffer(max, parse);
  }
}

export interface Http2Options {
  /** Start after an HTTP/1.1 upgrade to h2c: the request becomes stream 1, the protocol is confirmed. */
  upgrade?: { request: HttpLogRecord };
}

export class Http2Analyzer extends BaseAnalyzer {
  readonly name = 'http2';
  private readonly sides: [Side, Side];
  private readonly streams = new Map<number, Stream>();
  /** Highest stream id the client opened: a HEADERS on a lower closed stream is not a new request. */
  private lastClientStream = 0;
  private curTs = 0;
  /** Largest frame payload we buffer whole; larger ones are skipped. */
  private readonly maxFramePayload: number;

  constructor(opts: AnalyzerOptions, h2: Http2Options = {}) {
    super(opts);
    this.maxFramePayload = this.maxBuffer - FRAME_HEADER;
    this.sides = [
      new Side(false, this.maxBuffer, (b, o, e) => this.parse(false, b, o, e)),
      new Side(true, this.maxBuffer, (b, o, e) => this.parse(true, b, o, e)),
    ];
    if (h2.upgrade !== undefined) {
      this.confirm();
      const r = h2.upgrade.request;
      const s = this.open(1, r.ts);
      s.rec.upgraded = true;
      s.rec.method = r.method;
      s.rec.uri = r.uri;
      s.rec.host = r.host;
      s.rec.scheme = 'http';
      s.rec.user_agent = r.user_agent;
      s.rec.referrer = r.referrer;
      s.rec.orig_content_type = r.orig_content_type;
      s.rec.request_body_len = r.request_body_len;
      s.reqHeaders = true;
      // The request was complete in HTTP/1.1 (section 3.2): stream 1 is half-closed for the client.
      s.origEnd = true;
      this.lastClientStream = 1;
    }
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    this.curTs = ts;
    const side = this.sides[isOrig ? 1 : 0];
    if (!side.buf.feed(buf, off, len)) {
      this.fail('h2-buffer-limit', `HTTP/2 data pending beyond the ${this.maxBuffer}-byte bound`, isOrig, ts, 0, 'limit');
    }
  }

  protected override onGap(isOrig: boolean, len: number): void {
    const side = this.sides[isOrig ? 1 : 0];
    // A gap inside a payload we skip anyway (DATA) costs nothing but its bytes: framing stays in step.
    if (this.state === 'confirmed' && side.skip >= len) {
      side.skip -= len;
      return;
    }
    super.onGap(isOrig, len);
  }

  protected override onEnd(_ts: number): void {
    for (const s of [...this.streams.values()].sort((a, b) => a.rec.stream_id - b.rec.stream_id)) this.emit(s);
    this.streams.clear();
  }

  /** The StreamBuffer callback: consumes the preface, one frame header, or skipped payload bytes. */
  private parse(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!this.active) return -1;
    const side = this.sides[isOrig ? 1 : 0];
    if (side.skip > 0) {
      const n = Math.min(side.skip, end - off);
      side.skip -= n;
      return n;
    }
    if (side.prefaceLeft > 0) return this.preface(side, buf, off, end);
    if (end - off < FRAME_HEADER) return 0;
    const len = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
    const type = buf[off + 3];
    const flags = buf[off + 4];
    const sid = buf.readUInt32BE(off + 5) & 0x7fffffff;
    if (side.frames++ === 0 && (type !== T.SETTINGS || (flags & ACK) !== 0)) {
      // Both connection prefaces end (client) or consist of (server) a SETTINGS frame (section 3.4).
      this.violation('h2-preface-settings', `first ${isOrig ? 'client' : 'server'} frame is type ${type}, not SETTINGS`, isOrig, this.curTs);
      if (!this.active) return -1;
    }
    const peer = this.sides[isOrig ? 0 : 1];
    if (len > peer.maxFrameSize) {
      this.violation('h2-frame-size', `frame of ${len} bytes above the peer's maximum of ${peer.maxFrameSize}`, isOrig, this.curTs);
      if (!this.active) return -1;
    }
    if (side.block !== null && (type !== T.CONTINUATION || sid !== side.blockStream)) {
      // Section 6.10: nothing may come between a header block's frames; the block is lost, and with it the table.
      this.violation('h2-continuation', `frame type ${type} interrupts the header block of stream ${side.blockStream}`, isOrig, this.curTs);
      this.endBlock(side);
      side.hpack = null;
    }
    if (type === T.DATA) {
      if ((flags & PADDED) !== 0 && end - off < FRAME_HEADER + 1 && len > 0) return 0;
      this.onDataFrame(isOrig, sid, flags, len, len > 0 && (flags & PADDED) !== 0 ? buf[off + FRAME_HEADER] : 0);
      side.skip = len;
      return FRAME_HEADER;
    }
    if (type > T.CONTINUATION) {
      // Unknown frame types are ignored (section 4.1); their payload streams past.
      side.skip = len;
      return FRAME_HEADER;
    }
    if (len > this.maxFramePayload) {
      this.violation('h2-frame-limit', `frame type ${type} of ${len} bytes exceeds the ${this.maxFramePayload}-byte analysis bound`, isOrig, this.curTs);
      if (type === T.HEADERS || type === T.PUSH_PROMISE || type === T.CONTINUATION) side.hpack = null;
      side.skip = len;
      return FRAME_HEADER;
    }
    if (end - off < FRAME_HEADER + len) return 0;
    this.frame(isOrig, side, type, flags, sid, buf, off + FRAME_HEADER, len);
    return FRAME_HEADER + len;
  }

  private preface(side: Side, buf: Buffer, off: number, end: number): number {
    const at = H2_PREFACE.length - side.prefaceLeft;
    const n = Math.min(side.prefaceLeft, end - off);
    if (buf.compare(H2_PREFACE, at, at + n, off, off + n) !== 0) {
      this.reject('h2-preface', 'not the HTTP/2 client connection preface', true, this.curTs);
      return -1;
    }
    side.prefaceLeft -= n;
    if (side.prefaceLeft === 0) this.confirm();
    return n;
  }

  private frame(isOrig: boolean, side: Side, type: number, flags: number, sid: number, buf: Buffer, p: number, len: number): void {
    const onConn = type === T.SETTINGS || type === T.PING || type === T.GOAWAY;
    if (onConn ? sid !== 0 : sid === 0 && type !== T.WINDOW_UPDATE) {
      this.violation('h2-stream-id', `frame type ${type} on stream ${sid}`, isOrig, this.curTs);
      if (type !== T.HEADERS && type !== T.CONTINUATION && type !== T.PUSH_PROMISE) return;
    }
    switch (type) {
      case T.HEADERS:
      case T.PUSH_PROMISE: {
        let q = p;
        let stop = p + len;
        if ((flags & PADDED) !== 0) {
          const pad = len > 0 ? buf[q++] : 0;
          stop -= pad;
        }
        let promised = 0;
        if (type === T.HEADERS && (flags & PRIORITY_FLAG) !== 0) q += 5;
        if (type === T.PUSH_PROMISE) {
          if (isOrig) this.violation('h2-push-from-client', 'PUSH_PROMISE sent by the client', isOrig, this.curTs);
          promised = q + 4 <= stop ? buf.readUInt32BE(q) & 0x7fffffff : 0;
          q += 4;
        }
        if (q > stop) {
          this.violation('h2-padding', `frame type ${type} padding or fields exceed its ${len}-byte payload`, isOrig, this.curTs);
          side.hpack = null;
          return;
        }
        const endStream = type === T.HEADERS && (flags & END_STREAM) !== 0;
        if ((flags & END_HEADERS) !== 0) {
          this.headerBlock(isOrig, side, sid, promised, endStream, buf, q, stop);
          return;
        }
        side.blockStream = sid;
        side.blockPromised = promised;
        side.blockEndStream = endStream;
        side.blockDropped = false;
        side.blockLen = 0;
        side.block = Buffer.allocUnsafe(Math.max(stop - q, 1024));
        this.appendBlock(isOrig, side, buf, q, stop);
        return;
      }
      case T.CONTINUATION: {
        if (side.block === null) {
          this.violation('h2-continuation', `CONTINUATION on stream ${sid} without a header block to continue`, isOrig, this.curTs);
          side.hpack = null;
          return;
        }
        this.appendBlock(isOrig, side, buf, p, p + len);
        if ((flags & END_HEADERS) !== 0) {
          const dropped = side.blockDropped;
          const block = side.block;
          const blen = side.blockLen;
          const { blockStream, blockPromised, blockEndStream } = side;
          this.endBlock(side);
          if (!dropped) this.headerBlock(isOrig, side, blockStream, blockPromised, blockEndStream, block, 0, blen);
          else this.headerBlock(isOrig, side, blockStream, blockPromised, blockEndStream, null, 0, 0);
        }
        return;
      }
      case T.SETTINGS:
        this.settings(isOrig, side, flags, buf, p, len);
        return;
      case T.RST_STREAM: {
        if (len !== 4) {
          this.violation('h2-frame-length', `RST_STREAM of ${len} bytes`, isOrig, this.curTs);
          return;
        }
        const s = this.streams.get(sid);
        if (s !== undefined) {
          s.rec.reset = errorName(buf.readUInt32BE(p));
          this.close(s);
        }
        return;
      }
      case T.PING:
        if (len !== 8) this.violation('h2-frame-length', `PING of ${len} bytes`, isOrig, this.curTs);
        return;
      case T.GOAWAY:
        if (len < 8) this.violation('h2-frame-length', `GOAWAY of ${len} bytes`, isOrig, this.curTs);
        return;
      case T.WINDOW_UPDATE:
        if (len !== 4) this.violation('h2-frame-length', `WINDOW_UPDATE of ${len} bytes`, isOrig, this.curTs);
        return;
      case T.PRIORITY:
        if (len !== 5) this.violation('h2-frame-length', `PRIORITY of ${len} bytes`, isOrig, this.curTs);
        return;
    }
  }

  private settings(isOrig: boolean, side: Side, flags: number, buf: Buffer, p: number, len: number): void {
    if ((flags & ACK) !== 0) {
      if (len !== 0) this.violation('h2-frame-length', `SETTINGS ACK with a ${len}-byte payload`, isOrig, this.curTs);
      return;
    }
    if (len % 6 !== 0) {
      this.violation('h2-frame-length', `SETTINGS of ${len} bytes, not a multiple of 6`, isOrig, this.curTs);
      return;
    }
    const peer = this.sides[isOrig ? 0 : 1];
    for (let q = p; q < p + len; q += 6) {
      const id = buf.readUInt16BE(q);
      const v = buf.readUInt32BE(q + 2);
      if (id === 1) {
        // This side decodes what the peer encodes: the peer may now size its table up to v. Until
        // the SETTINGS are acknowledged the peer may still use the old size, so never go below 4096.
        // Above our cap this is not yet a fault: only a size update beyond the cap stops decoding.
        if (peer.hpack !== null) peer.hpack.maxTableSize = Math.min(Math.max(v, 4096), MAX_TABLE_SIZE);
      } else if (id === 5) {
        if (v < DEFAULT_MAX_FRAME_SIZE || v > 0xffffff) this.violation('h2-settings', `SETTINGS_MAX_FRAME_SIZE ${v} out of range`, isOrig, this.curTs);
        else side.maxFrameSize = v;
      }
    }
  }

  private appendBlock(isOrig: boolean, side: Side, buf: Buffer, p: number, stop: number): void {
    if (side.blockDropped || side.block === null) return;
    const n = stop - p;
    if (side.blockLen + n > this.maxBuffer) {
      this.violation('h2-header-block-limit', `header block of stream ${side.blockStream} exceeds the ${this.maxBuffer}-byte bound`, isOrig, this.curTs);
      side.blockDropped = true;
      side.hpack = null;
      return;
    }
    if (side.blockLen + n > side.block.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxBuffer, Math.max(side.blockLen + n, side.block.length * 2)));
      side.block.copy(grown, 0, 0, side.blockLen);
      side.block = grown;
    }
    buf.copy(side.block, side.blockLen, p, stop);
    side.blockLen += n;
  }

  private endBlock(side: Side): void {
    side.block = null;
    side.blockLen = 0;
    side.blockDropped = false;
  }

  /** A complete header block for `sid` (or, with `promised`, a push promise for that stream). */
  private headerBlock(isOrig: boolean, side: Side, sid: number, promised: number, endStream: boolean, buf: Buffer | null, p: number, stop: number): void {
    let s: Stream | null;
    let request: boolean;
    if (promised !== 0) {
      s = this.open(promised, this.curTs);
      s.rec.push = true;
      s.reqHeaders = true;
      s.origEnd = true;
      request = true;
    } else {
      s = isOrig ? this.clientStream(sid) : (this.streams.get(sid) ?? null);
      if (s === null && !isOrig) {
        // A response to a request we did not see (capture started mid-connection, or reset stream).
        s = this.open(sid, this.curTs);
        s.origEnd = true;
      }
      request = isOrig;
    }
    const hp = side.hpack;
    if (hp !== null && buf !== null) {
      const apply = s === null ? (): void => {} : request ? this.requestField(s, s.reqHeaders) : this.responseField(s);
      try {
        hp.decode(buf, p, stop, apply);
      } catch (e) {
        if (!(e instanceof HpackError)) throw e;
        this.violation(e.code, `stream ${sid}: ${e.message}`, isOrig, this.curTs);
        side.hpack = null;
      }
    }
    if (s === null) return;
    if (request) s.reqHeaders = true;
    else if (s.rec.status_code !== null) s.respFinal = true;
    if (endStream) this.endOf(s, isOrig);
  }

  /** The stream a client HEADERS frame is for: open, new, or null for a closed one. */
  private clientStream(sid: number): Stream | null {
    const s = this.streams.get(sid);
    if (s !== undefined) return s;
    if (sid <= this.lastClientStream || (sid & 1) === 0) {
      this.violation('h2-stream-id', `client HEADERS on ${sid <= this.lastClientStream ? 'closed' : 'even'} stream ${sid}`, true, this.curTs);
      return null;
    }
    this.lastClientStream = sid;
    return this.open(sid, this.curTs);
  }

  private requestField(s: Stream, trailers: boolean): (name: string, value: string) => void {
    const r = s.rec;
    return (name, value) => {
      if (trailers) return;
      switch (name) {
        case ':method':
          r.method = value;
          break;
        case ':path':
          r.uri = value;
          break;
        case ':authority':
          r.host = value;
          break;
        case 'host':
          if (r.host === null) r.host = value;
          break;
        case ':scheme':
          r.scheme = value;
          break;
        case 'user-agent':
          r.user_agent = value;
          break;
        case 'referer':
          r.referrer = value;
          break;
        case 'content-type':
          r.orig_content_type = value;
          break;
      }
    };
  }

  private responseField(s: Stream): (name: string, value: string) => void {
    const r = s.rec;
    const trailers = s.respFinal;
    return (name, value) => {
      switch (name) {
        case ':status': {
          const code = /^\d{3}$/.test(value) ? Number(value) : null;
          if (trailers || code === null) break;
          if (code < 200) r.info_code = code;
          else r.status_code = code;
          break;
        }
        case 'content-type':
          if (!trailers) r.resp_content_type = value;
          break;
        case 'grpc-status':
          // In the trailers, or in the headers of a trailers-only response.
          r.grpc_status = /^\d{1,9}$/.test(value) ? Number(value) : null;
          break;
        case 'grpc-message':
          r.grpc_message = percentDecode(value);
          break;
      }
    };
  }

  private onDataFrame(isOrig: boolean, sid: number, flags: number, len: number, pad: number): void {
    if (sid === 0) {
      this.violation('h2-stream-id', 'DATA on stream 0', isOrig, this.curTs);
      return;
    }
    const padded = (flags & PADDED) !== 0;
    const body = padded ? len - 1 - pad : len;
    if (body < 0) {
      this.violation('h2-padding', `DATA padding of ${pad} exceeds its ${len}-byte payload`, isOrig, this.curTs);
      return;
    }
    const s = this.streams.get(sid);
    if (s === undefined) return;
    if (isOrig) s.rec.request_body_len += body;
    else s.rec.response_body_len += body;
    if ((flags & END_STREAM) !== 0) this.endOf(s, isOrig);
  }

  private open(sid: number, ts: number): Stream {
    const old = this.streams.get(sid);
    if (old !== undefined) return old;
    if (this.streams.size >= MAX_STREAMS) {
      // Log the oldest as it is rather than grow without bound.
      const first = this.streams.values().next().value as Stream;
      this.violation('h2-stream-limit', `more than ${MAX_STREAMS} streams open at once`, true, ts);
      this.close(first);
    }
    const s: Stream = { rec: newRecord(ts, sid), origEnd: false, respEnd: false, reqHeaders: false, respFinal: false };
    this.streams.set(sid, s);
    return s;
  }

  private endOf(s: Stream, isOrig: boolean): void {
    if (isOrig) s.origEnd = true;
    else s.respEnd = true;
    if (s.origEnd && s.respEnd) this.close(s);
  }

  private close(s: Stream): void {
    this.streams.delete(s.rec.stream_id);
    this.emit(s);
  }

  private emit(s: Stream): void {
    const r = s.rec;
    if (r.orig_content_type !== null && /^application\/grpc(?:[+;]|$)/i.test(r.orig_content_type) && r.uri !== null) {
      const m = /^\/([^/]+)\/([^/?]+)$/.exec(r.uri);
      if (m !== null) {
        r.grpc_service = m[1];
        r.grpc_method = m[2];
      }
    }
    this.sink(r);
  }
}

function newRecord(ts: number, sid: number): Http2LogRecord {
  return {
    kind: 'http2',
    ts,
    stream_id: sid,
    method: null,
    host: null,
    uri: null,
    scheme: null,
    referrer: null,
    user_agent: null,
    request_body_len: 0,
    response_body_len: 0,
    status_code: null,
    info_code: null,
    orig_content_type: null,
    resp_content_type: null,
    grpc_service: null,
    grpc_method: null,
    grpc_status: null,
    grpc_message: null,
    push: false,
    upgraded: false,
    reset: null,
  };
}

/** grpc-message is percent-encoded UTF-8 (gRPC over HTTP/2 spec); undecodable text is kept as sent. */
function percentDecode(v: string): string {
  if (!v.includes('%')) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
