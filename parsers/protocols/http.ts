/**
 * HTTP/1.0 and 1.1 over one TCP connection: incremental request and response parsing with
 * pipelining (requests queue up; responses pair in order), bodies measured and skipped
 * (Content-Length, chunked, or until close), 1xx interim responses, and Upgrade: after a 101
 * (WebSocket, h2c) or a successful CONNECT the bytes are no longer HTTP/1 and parsing stops; for
 * h2c the connection is handed over (`takeSwitch`) with the bytes that followed the 101, and
 * after a CONNECT answered 2xx to protocol detection with the bytes that followed the request
 * and the reply (Zeek's HTTP analyzer starts a new analyzer tree there, so TLS through a proxy is
 * `http,ssl`).
 *
 * Header blocks are bounded by the analyzer's buffer bound; bodies are never buffered.
 */
import * as zlib from 'node:zlib';
import { type AnalyzerOptions, BaseAnalyzer, type ProtocolSwitch, StreamBuffer } from './analyzer';
import { type HttpLogRecord, newHttpRecord } from '../record/app';
import { MimeWalker } from './mime';

enum Phase {
  HEAD = 0,
  BODY_LENGTH = 1,
  CHUNK_SIZE = 2,
  CHUNK_DATA = 3,
  CHUNK_CRLF = 4,
  TRAILERS = 5,
  BODY_EOF = 6,
  /** Not HTTP/1 any more (upgrade, CONNECT tunnel) or given up. */
  DONE = 7,
}

const MAX_PENDING_REQUESTS = 256;
/** The queue of every analyzer that has had no request yet: always empty, never pushed to (see `enqueue`). */
const NO_QUEUE: HttpLogRecord[] = [];
/** A chunk-size line longer than this is not a chunk-size line. */
const MAX_CHUNK_LINE = 1024;
/** A probe needs a method/version token within the first bytes. */
const METHOD_RE = /^[A-Z][A-Z_-]{0,19}$/;
const REQUEST_LINE_RE = /^([^ \t]+)[ \t]+([^ \t]+)(?:[ \t]+HTTP\/(\d+\.\d+))?[ \t]*$/;
/** A request line of two tokens, the second not a version: HTTP/0.9. */
const V09_REQUEST_RE = /^[^ \t]+[ \t]+(?!HTTP\/\d+\.\d+[ \t]*$)[^ \t]+[ \t]*$/;
const STATUS_LINE_RE = /^HTTP\/(\d+\.\d+)[ \t]+(\d{3})(?:[ \t]+(.*))?$/;
const H2C_RE = /(?:^|,)[ \t]*h2c[ \t]*(?:,|$)/i;

interface Headers {
  host: string | null;
  ua: string | null;
  referer: string | null;
  origin: string | null;
  ctype: string | null;
  clen: number;
  chunked: boolean;
  upgrade: string | null;
  /** Content-Encoding gzip, x-gzip or deflate: Zeek counts the body after decompression. */
  encoded: boolean;
  username: string | null;
  proxied: string[] | null;
  filename: string | null;
}

/** One direction's parse state and its buffer of an incomplete message (one object, no closure). */
class Direction extends StreamBuffer {
  phase: Phase = Phase.HEAD;
  remaining = 0;
  bodyLen = 0;
  /** The compressed body kept (up to MAX_ENCODED) to count its decoded length at its end; null when not encoded. */
  encoded: Buffer[] | null = null;
  encodedLen = 0;
  /** Last body byte seen (-1: none). */
  lastByte = -1;
  /** The MIME entities of a multipart or message/* body, followed for Zeek's nesting limit; null otherwise. */
  mime: MimeWalker | null = null;
  constructor(
    private readonly owner: HttpAnalyzer,
    private readonly isOrig: boolean,
    max: number,
  ) {
    super(max);
  }

  protected override parse(buf: Buffer, off: number, end: number): number {
    return this.owner.parse(this.isOrig, buf, off, end);
  }

  /** Starts a body: its MIME structure is followed when its type has one and it is not compressed. */
  beginBody(ctype: string | null, encoded: boolean): void {
    this.bodyLen = 0;
    this.lastByte = -1;
    this.encoded = encoded ? [] : null;
    this.encodedLen = 0;
    this.mime = encoded ? null : MimeWalker.forContentType(ctype);
  }

  /** Body bytes buf[a, b): counted, and kept while the body is encoded and within the bound. */
  body(buf: Buffer, a: number, b: number): void {
    if (b > a) this.lastByte = buf[b - 1];
    this.bodyLen += b - a;
    if (this.mime !== null) this.mime.feed(buf, a, b);
    if (this.encoded === null) return;
    if (this.encodedLen + b - a > MAX_ENCODED) {
      this.encoded = null;
      return;
    }
    this.encoded.push(Buffer.from(buf.subarray(a, b)));
    this.encodedLen += b - a;
  }

  /** The body length as Zeek logs it: decoded when it was encoded (and decodable), else as sent. */
  finalLength(): number {
    const parts = this.encoded;
    this.encoded = null;
    if (parts === null || this.encodedLen !== this.bodyLen) return this.bodyLen;
    this.encodedLen = 0;
    const n = decodedLength(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    return n ?? this.bodyLen;
  }
}

/** Compressed bodies are kept up to this size to be measured decoded; larger ones keep their sent length. */
const MAX_ENCODED = 1024 * 1024;
/** Decoded output measured at most (a decompression bomb stops here). */
const MAX_DECODED = 64 * 1024 * 1024;
const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: MAX_DECODED };

/**
 * Length of a gzip or deflate body once decoded, as Zeek's HTTP analyzer delivers it: gzip or
 * zlib framing detected from the header, raw deflate when the zlib header is missing; a truncated
 * stream counts what it decodes to. null when it does not decode at all.
 */
function decodedLength(body: Buffer): number | null {
  if (body.length === 0) return 0;
  try {
    return zlib.unzipSync(body, SYNC).length;
  } catch {
    try {
      return zlib.inflateRawSync(body, SYNC).length;
    } catch {
      return null;
    }
  }
}

export class HttpAnalyzer extends BaseAnalyzer {
  readonly name = 'http';
  /** The client's and the server's direction (two fields: an array of them was one more object per connection). */
  private readonly orig: Direction;
  private readonly resp: Direction;
  /**
   * Requests waiting for their response, oldest first: NO_QUEUE until the first, then an array
   * made for it (capacity 1). A first push onto an empty array gave it room for 16, which lived
   * as long as the connection; one request at a time, the usual case, never needs more.
   */
  private queue: HttpLogRecord[] = NO_QUEUE;
  /** The request whose body is being read, and the transaction whose response is being read. */
  private reqCur: HttpLogRecord | null = null;
  private respCur: HttpLogRecord | null = null;
  private depth = 0;
  private curTs = 0;
  /** Zeek confirms HTTP on a request line only: a response alone (no request seen) leaves `service` empty. */
  private sawRequest = false;
  /**
   * The transaction of an HTTP/0.9 request: that request message (a line, no headers) ends only
   * with the client's stream, as in Zeek's HTTP analyzer.
   */
  private open09: HttpLogRecord | null = null;
  /** Logged at the end of the connection, as Zeek flushes its pending transactions. */
  private late: HttpLogRecord | null = null;
  /** Set by a 101 to h2c until the multiplexer takes it; collects the bytes after the 101. */
  private switching: ProtocolSwitch | null = null;
  /**
   * The client's bytes after a CONNECT request, held until the reply decides whether they are
   * the tunnel's (2xx) or more HTTP; null when no CONNECT is pending. Bounded by maxBuffer.
   */
  private tunnelOrig: Buffer[] | null = null;
  private tunnelOrigLen = 0;

  constructor(opts: AnalyzerOptions) {
    super(opts);
    this.resp = new Direction(this, false, this.maxBuffer);
    this.orig = new Direction(this, true, this.maxBuffer);
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    const d = isOrig ? this.orig : this.resp;
    if (d.phase === Phase.DONE) {
      if (isOrig && this.tunnelOrig !== null) this.holdTunnel(buf, off, off + len);
      return;
    }
    this.curTs = ts;
    if (this.state === 'probing' && d.pending === 0 && !this.plausibleStart(isOrig, buf, off, off + len)) {
      this.reject('http-not-http', isOrig ? 'not an HTTP request line' : 'not an HTTP status line', isOrig, ts);
      return;
    }
    if (!d.feed(buf, off, len)) {
      this.fail('http-header-limit', `an HTTP header block exceeds the ${this.maxBuffer}-byte bound`, isOrig, ts, 0, 'limit');
    }
    // Zeek's exceeded_mime_max_depth: the rest of that entity is not analysed (history X).
    if (d.mime?.limitHit === true) this.analysisPartial();
  }

  get zeekConfirmed(): boolean {
    return this.sawRequest;
  }

  /** Nothing for `end` to log: no transaction waiting for its response, no response read to the close. */
  get finished(): boolean {
    if (this.state === 'probing' || this.state === 'rejected') return true;
    const resp = this.resp.phase;
    return this.queue.length === 0 && this.late === null && this.open09 === null && (this.respCur === null || resp === Phase.HEAD || resp === Phase.DONE);
  }

  override takeSwitch(): ProtocolSwitch | null {
    const s = this.switching;
    this.switching = null;
    return s;
  }

  /**
   * Keeps client bytes sent after a CONNECT before its reply. Beyond the bound they are dropped:
   * a client that sends that much unanswered is no tunnel Zeek would detect anything in either.
   */
  private holdTunnel(buf: Buffer, off: number, end: number): void {
    const held = this.tunnelOrig!;
    if (this.tunnelOrigLen + end - off > this.maxBuffer) return;
    held.push(Buffer.from(buf.subarray(off, end)));
    this.tunnelOrigLen += end - off;
  }

  /** Cheap rejection from the first bytes, before buffering anything. */
  private plausibleStart(isOrig: boolean, buf: Buffer, off: number, end: number): boolean {
    const n = Math.min(end - off, isOrig ? 21 : 5);
    if (isOrig) {
      for (let i = 0; i < n; i++) {
        const c = buf[off + i];
        if (c === 0x20) return i > 0;
        if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f)) return false;
      }
      return n < 21;
    }
    return buf.toString('latin1', off, off + n) === 'HTTP/'.slice(0, n);
  }

  protected override onGap(isOrig: boolean, len: number): void {
    const d = isOrig ? this.orig : this.resp;
    // Inside a body of known length a gap just shortens what we still have to skip.
    if (this.state === 'confirmed' && d.phase === Phase.BODY_LENGTH && len <= d.remaining) {
      d.remaining -= len;
      d.bodyLen += len;
      d.encoded = null;
      if (d.remaining === 0) this.bodyDone(isOrig);
      return;
    }
    if (this.state === 'confirmed' && d.phase === Phase.BODY_EOF) {
      d.bodyLen += len;
      d.encoded = null;
      return;
    }
    super.onGap(isOrig, len);
  }

  protected override onEndOfDirection(isOrig: boolean, ts: number): void {
    if (isOrig) this.requestEnds(ts);
    else this.responseEnds();
  }

  protected override onEnd(ts: number): void {
    // As Zeek's HTTP analyzer when the connection is done: the request message ends, then the reply.
    this.requestEnds(ts);
    this.responseEnds();
    // Requests never answered are logged as they are.
    // Shifted one by one: splice(0) and its iterator were two objects at the end of every connection.
    while (this.queue.length > 0) this.sink(this.queue.shift()!);
    if (this.late !== null) this.sink(this.late);
    this.late = null;
  }

  /**
   * The client's stream ended: an HTTP/0.9 request message ends here. When its transaction was
   * already logged (the server closed first), Zeek's http_message_done finds no pending
   * transaction and starts a new one, empty but for its depth, logged at the connection's end.
   */
  private requestEnds(ts: number): void {
    const rec = this.open09;
    if (rec === null) return;
    this.open09 = null;
    if (!this.queue.includes(rec) && this.late === null) this.late = newHttpRecord(ts, ++this.depth);
  }

  /** The server's stream ended: a response body read to the close (or cut short) is complete. */
  private responseEnds(): void {
    const resp = this.resp;
    if (resp.phase === Phase.BODY_EOF || (resp.phase !== Phase.HEAD && resp.phase !== Phase.DONE)) {
      // A body read to the close goes through Zeek's line reader, which gives its last line the
      // CRLF it did not have: Zeek counts 2 bytes more when such a body does not end with a line end.
      if (resp.phase === Phase.BODY_EOF && resp.encoded === null && resp.bodyLen > 0 && resp.lastByte !== 0x0a) resp.bodyLen += 2;
      if (this.respCur !== null) this.respCur.response_body_len = resp.finalLength();
      if (this.respCur !== null) this.finish(this.respCur);
      resp.phase = Phase.DONE;
    }
    this.respCur = null;
  }

  /** The message parser of each direction's buffer (Direction.parse). */
  parse(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!this.active) return -1;
    const d = isOrig ? this.orig : this.resp;
    switch (d.phase) {
      case Phase.HEAD:
        return this.head(isOrig, d, buf, off, end);
      case Phase.BODY_LENGTH: {
        const n = Math.min(d.remaining, end - off);
        d.remaining -= n;
        d.body(buf, off, off + n);
        if (d.remaining === 0) this.bodyDone(isOrig);
        return n;
      }
      case Phase.BODY_EOF:
        d.body(buf, off, end);
        return end - off;
      case Phase.CHUNK_SIZE:
      case Phase.CHUNK_CRLF:
      case Phase.TRAILERS: {
        const eol = buf.indexOf(0x0a, off);
        if (eol < 0 || eol >= end) {
          if (end - off > MAX_CHUNK_LINE) {
            this.violation('http-chunk-line', 'chunk framing line too long', isOrig, this.curTs);
            d.phase = Phase.DONE;
            return -1;
          }
          return 0;
        }
        const line = buf.toString('latin1', off, eol).trim();
        if (d.phase === Phase.CHUNK_CRLF) {
          d.phase = Phase.CHUNK_SIZE;
          if (line.length > 0) this.violation('http-chunk-crlf', 'chunk data not followed by CRLF', isOrig, this.curTs);
        } else if (d.phase === Phase.TRAILERS) {
          if (line.length === 0) this.bodyDone(isOrig);
        } else {
          const m = /^([0-9a-fA-F]{1,15})(?:[ \t]*;.*)?$/.exec(line);
          if (m === null) {
            this.violation('http-chunk-size', `bad chunk size line`, isOrig, this.curTs);
            d.phase = Phase.DONE;
            return -1;
          }
          const size = parseInt(m[1], 16);
          if (size === 0) d.phase = Phase.TRAILERS;
          else {
            d.phase = Phase.CHUNK_DATA;
            d.remaining = size;
          }
        }
        return eol + 1 - off;
      }
      case Phase.CHUNK_DATA: {
        const n = Math.min(d.remaining, end - off);
        d.remaining -= n;
        d.body(buf, off, off + n);
        if (d.remaining === 0) d.phase = Phase.CHUNK_CRLF;
        return n;
      }
      default:
        if (isOrig && this.tunnelOrig !== null) {
          this.holdTunnel(buf, off, end);
          return end - off;
        }
        if (this.switching !== null) {
          // Bytes after the 101 in the same segment belong to the new protocol.
          const rest = Buffer.from(buf.subarray(off, end));
          if (isOrig) this.switching.orig = this.switching.orig === null ? rest : Buffer.concat([this.switching.orig, rest]);
          else this.switching.resp = this.switching.resp === null ? rest : Buffer.concat([this.switching.resp, rest]);
          return end - off;
        }
        return -1;
    }
  }

  /** A complete header block (start line + headers) or 0 while incomplete. */
  private head(isOrig: boolean, d: Direction, buf: Buffer, off: number, end: number): number {
    // Tolerate the stray CRLF some clients send after a body (RFC 9112 section 2.2).
    if (buf[off] === 0x0d || buf[off] === 0x0a) return 1;
    if (!isOrig && this.queue.length > 0 && this.queue[0].version === '0.9' && !(end - off >= 5 && httpSlash(buf, off))) {
      // An HTTP/0.9 response: no status line, no headers, the body runs to the close (Zeek: status 0, '<empty>').
      const rec = this.queue[0];
      rec.status_code = 0;
      rec.status_msg = '<empty>';
      this.respCur = rec;
      d.beginBody(null, false);
      d.phase = Phase.BODY_EOF;
      d.body(buf, off, end);
      return end - off;
    }
    const firstLf = findLf(buf, off, end);
    if (firstLf < 0) return 0;
    const le = lineEnd(buf, off, firstLf);
    // HTTP/0.9 (a request line without version) has no headers: the request is that line.
    if (!isOrig && !(le - off >= 5 && httpSlash(buf, off))) {
      // Judged on the line alone, as Zeek does: a server that answers in another protocol (an SSH
      // banner) never sends the blank line that would end a header block.
      this.violation('http-status-line', 'not an HTTP status line', isOrig, this.curTs);
      if (this.active) d.phase = Phase.DONE;
      return -1;
    }
    // The start line is read from the bytes when it is well formed (nearly always); anything
    // else goes through the regular expressions that define what we accept, as a string.
    const line = isOrig ? requestLine(buf, off, le) : statusLine(buf, off, le);
    const start = line ? '' : buf.toString('latin1', off, le);
    const v09 = isOrig && !line && V09_REQUEST_RE.test(start);
    const stop = v09 ? firstLf + 1 : parseHeaders(buf, firstLf + 1, end);
    if (stop < 0) return 0;
    const h = HEADERS;
    if (v09) clearHeaders(h);
    if (isOrig) {
      let method: string;
      let target: string;
      let version: string | undefined;
      if (line) {
        method = methodText(buf, off, LINE.a);
        target = buf.toString('latin1', LINE.b, LINE.c);
        version = versionText(buf, LINE.d, LINE.e);
      } else {
        const m = REQUEST_LINE_RE.exec(start);
        if (m === null || !METHOD_RE.test(m[1])) {
          this.violation('http-request-line', 'malformed request line', isOrig, this.curTs);
          if (this.active) d.phase = Phase.DONE;
          return -1;
        }
        method = m[1];
        target = m[2];
        version = m[3];
      }
      if (method === 'PRI' && target === '*' && version === '2.0') {
        // The HTTP/2 connection preface is built to look like a request to HTTP/1 parsers; it is not one.
        this.reject('http-h2-preface', 'HTTP/2 connection preface', isOrig, this.curTs);
        return -1;
      }
      this.confirm();
      this.sawRequest = true;
      const rec = newHttpRecord(this.curTs, ++this.depth);
      rec.method = method;
      // 'GET HTTP/1.1': no URI, the version in its place (Zeek logs an empty URI).
      const vInUri = version === undefined ? /^HTTP\/(\d+\.\d+)$/.exec(target) : null;
      rec.uri = vInUri !== null ? '' : unescapeUri(target);
      rec.version = version ?? vInUri?.[1] ?? '0.9';
      rec.host = h.host;
      rec.user_agent = h.ua;
      rec.referrer = h.referer;
      rec.origin = h.origin;
      rec.orig_content_type = h.ctype;
      rec.upgrade = h.upgrade;
      rec.username = h.username;
      rec.proxied = h.proxied;
      if (h.filename !== null && (h.clen > 0 || h.chunked)) rec.orig_filenames = [h.filename];
      if (this.queue.length >= MAX_PENDING_REQUESTS) this.sink(this.queue.shift()!);
      this.enqueue(rec);
      this.reqCur = rec;
      this.open09 = v09 ? rec : null;
      d.beginBody(h.ctype, h.encoded);
      // Requests have a body only when framed (RFC 9112 section 6.3): never read-until-close.
      if (h.chunked) d.phase = Phase.CHUNK_SIZE;
      else if (h.clen > 0) {
        d.phase = Phase.BODY_LENGTH;
        d.remaining = h.clen;
      } else this.bodyDone(true);
      if (method === 'CONNECT' && this.active) {
        // The originator's next bytes wait for the reply: the tunnel's on a 2xx, HTTP otherwise.
        d.phase = Phase.DONE;
        this.tunnelOrig = [];
        this.tunnelOrigLen = 0;
      }
      return stop - off;
    }
    let version: string;
    let code: number;
    let msg: string;
    if (line) {
      version = versionText(buf, off + 5, LINE.a);
      code = (buf[LINE.b] - 0x30) * 100 + (buf[LINE.b + 1] - 0x30) * 10 + (buf[LINE.b + 2] - 0x30);
      msg = LINE.c === le ? '' : reasonText(buf, LINE.c, le);
    } else {
      const m = STATUS_LINE_RE.exec(start);
      if (m === null) {
        this.violation('http-status-line', 'malformed status line', isOrig, this.curTs);
        if (this.active) d.phase = Phase.DONE;
        return -1;
      }
      version = m[1];
      code = Number(m[2]);
      msg = m[3] ?? '';
    }
    this.confirm();
    let rec = this.queue[0];
    if (rec === undefined) {
      // A response without a request we saw (capture started mid-connection).
      rec = newHttpRecord(this.curTs, ++this.depth);
      rec.version = version;
      this.enqueue(rec);
    }
    if (code >= 100 && code < 200 && code !== 101) {
      rec.info_code = code;
      rec.info_msg = msg;
      return stop - off;
    }
    rec.status_code = code;
    rec.status_msg = msg;
    // As Zeek: the reply's version overwrites the request's (servers answer 1.1 requests with 1.0).
    rec.version = version;
    rec.resp_content_type = h.ctype;
    if (h.filename !== null && code !== 204 && code !== 304 && rec.method !== 'HEAD' && h.clen !== 0) rec.resp_filenames = [h.filename];
    this.respCur = rec;
    d.beginBody(h.ctype, h.encoded);
    if (code === 101) {
      rec.upgraded = true;
      if (rec.upgrade === null) rec.upgrade = h.upgrade;
      this.finish(rec);
      d.phase = Phase.DONE;
      this.orig.phase = Phase.DONE;
      if (H2C_RE.test(rec.upgrade ?? '')) {
        this.switching = { protocol: 'http2', request: rec, orig: null, resp: null };
        return stop - off;
      }
      return -1;
    }
    // HEADERS is shared: the refused CONNECT below feeds the request side, which parses its own.
    const chunked = h.chunked;
    const clen = h.clen;
    if (rec.method === 'CONNECT' && this.tunnelOrig !== null) {
      const held = this.tunnelOrig;
      this.tunnelOrig = null;
      if (code >= 200 && code < 300) {
        this.finish(rec);
        d.phase = Phase.DONE;
        this.orig.phase = Phase.DONE;
        const orig = held.length === 0 ? null : held.length === 1 ? held[0] : Buffer.concat(held);
        // The rest of this segment is the tunnel's too (collected by parse's default case).
        this.switching = { protocol: 'tunnel', orig, resp: null };
        return stop - off;
      }
      // Refused: the client carries on in HTTP, starting with what it sent meanwhile.
      const req = this.orig;
      req.phase = Phase.HEAD;
      for (const b of held) if (this.active && !req.feed(b, 0, b.length)) break;
    }
    const noBody = rec.method === 'HEAD' || code === 204 || code === 304;
    if (noBody) this.bodyDone(false);
    else if (chunked) d.phase = Phase.CHUNK_SIZE;
    else if (clen >= 0) {
      d.phase = Phase.BODY_LENGTH;
      d.remaining = clen;
      if (clen === 0) this.bodyDone(false);
    } else d.phase = Phase.BODY_EOF;
    return stop - off;
  }

  private bodyDone(isOrig: boolean): void {
    const d = isOrig ? this.orig : this.resp;
    d.phase = Phase.HEAD;
    if (d.mime !== null) {
      d.mime.end();
      if (d.mime.limitHit) this.analysisPartial();
      d.mime = null;
    }
    if (isOrig) {
      if (this.reqCur !== null) this.reqCur.request_body_len = d.finalLength();
      this.reqCur = null;
    } else if (this.respCur !== null) {
      this.respCur.response_body_len = d.finalLength();
      this.finish(this.respCur);
      this.respCur = null;
    }
  }

  private enqueue(rec: HttpLogRecord): void {
    if (this.queue === NO_QUEUE) this.queue = [rec];
    else this.queue.push(rec);
  }

  /** Emits a completed transaction (its response is complete); the queue head is it. */
  private finish(rec: HttpLogRecord): void {
    // Nearly always the head: shift makes no array of the removed, as splice does.
    if (this.queue[0] === rec) this.queue.shift();
    else {
      const i = this.queue.indexOf(rec);
      if (i >= 0) this.queue.splice(i, 1);
    }
    this.sink(rec);
  }
}

/** The user of a Basic credential (RFC 7617), as Zeek logs it: the text before the first ':' of the decoded pair. */
function basicUser(value: string): string | null {
  const m = /^basic[ \t]+(.*)$/i.exec(value);
  if (m === null) return null;
  const pair = Buffer.from(m[1], 'base64').toString('latin1');
  const colon = pair.indexOf(':');
  return colon >= 0 ? pair.slice(0, colon) : `<problem-decoding> (${value})`;
}

/**
 * The URI as Zeek logs it (its unescape_URI): %XX decoded, %uXXXX decoded to its two bytes (the
 * first dropped when 00), a doubled '%' collapsed, and a '%' not followed by an escape kept as is.
 * Works on latin1 text (a character per byte); returns the input when it holds no '%'.
 */
export function unescapeUri(s: string): string {
  if (s.indexOf('%') < 0) return s;
  let out = '';
  const n = s.length;
  const hex = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x25) {
      out += s[i];
      continue;
    }
    i++;
    if (i === n) {
      out += '%';
      break;
    }
    if (i + 1 === n) {
      out += `%${s[i]}`;
      break;
    }
    if (s.charCodeAt(i) === 0x25) {
      // '%%': the first '%' is dropped and the second starts an escape.
      i--;
      continue;
    }
    const h1 = hex(s.charCodeAt(i));
    const h2 = hex(s.charCodeAt(i + 1));
    if (h1 >= 0 && h2 >= 0) {
      out += String.fromCharCode((h1 << 4) | h2);
      i++;
    } else if (n - i >= 5 && s[i] === 'u' && [1, 2, 3, 4].every((k) => hex(s.charCodeAt(i + k)) >= 0)) {
      if (!(s[i + 1] === '0' && s[i + 2] === '0')) out += String.fromCharCode((hex(s.charCodeAt(i + 1)) << 4) | hex(s.charCodeAt(i + 2)));
      out += String.fromCharCode((hex(s.charCodeAt(i + 3)) << 4) | hex(s.charCodeAt(i + 4)));
      i += 4;
    } else out += `%${s[i]}`;
  }
  return out;
}

/** Offset of the first LF in buf[from, end), or -1 (a loop: lines are short, and indexOf would search past `end`). */
function findLf(buf: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) if (buf[i] === 0x0a) return i;
  return -1;
}

/** End of the line whose LF is at `lf`, without its CR. */
function lineEnd(buf: Buffer, from: number, lf: number): number {
  return lf > from && buf[lf - 1] === 0x0d ? lf - 1 : lf;
}

/** 'HTTP/' at buf[off] (the caller checked that five bytes are there). */
const httpSlash = (buf: Buffer, off: number): boolean =>
  buf[off] === 0x48 && buf[off + 1] === 0x54 && buf[off + 2] === 0x54 && buf[off + 3] === 0x50 && buf[off + 4] === 0x2f;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * Where requestLine and statusLine found the parts of a start line (offsets into the buffer),
 * read right after the call. Request: method [off, a), target [b, c), version digits [d, e).
 * Status: version digits [off + 5, a), code [b, b + 3), reason from c.
 */
const LINE = { a: 0, b: 0, c: 0, d: 0, e: 0 };

/** `\d+\.\d+` at buf[p, le): its end, or -1. */
function versionDigits(buf: Buffer, p: number, le: number): number {
  const p0 = p;
  while (p < le && isDigit(buf[p])) p++;
  if (p === p0 || p >= le || buf[p] !== 0x2e) return -1;
  const p1 = ++p;
  while (p < le && isDigit(buf[p])) p++;
  return p === p1 ? -1 : p;
}

/**
 * A request line buf[off, le) of the form REQUEST_LINE_RE and METHOD_RE accept, with its version
 * (`METHOD target HTTP/d.d`): its parts in LINE. False for any other line, which the regular
 * expressions then judge (HTTP/0.9, no version, a bad method or version, stray bytes).
 */
function requestLine(buf: Buffer, off: number, le: number): boolean {
  let p = off;
  // METHOD_RE: an upper-case letter, then up to 19 more of upper case, '_' and '-'.
  const c0 = buf[p];
  if (!(c0 >= 0x41 && c0 <= 0x5a)) return false;
  p++;
  while (p < le) {
    const c = buf[p];
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x2d)) break;
    p++;
  }
  if (p - off > 20 || p >= le || !isSpace(buf[p])) return false;
  LINE.a = p;
  while (p < le && isSpace(buf[p])) p++;
  LINE.b = p;
  while (p < le && !isSpace(buf[p])) p++;
  if (p === LINE.b || p >= le) return false;
  LINE.c = p;
  while (p < le && isSpace(buf[p])) p++;
  if (le - p < 8 || !httpSlash(buf, p)) return false;
  LINE.d = p + 5;
  p = versionDigits(buf, p + 5, le);
  if (p < 0) return false;
  LINE.e = p;
  while (p < le && isSpace(buf[p])) p++;
  return p === le;
}

/**
 * A status line buf[off, le) of the form STATUS_LINE_RE accepts (`HTTP/d.d ddd reason`), its parts
 * in LINE; false otherwise (the regular expression judges it). The caller checked 'HTTP/'.
 */
function statusLine(buf: Buffer, off: number, le: number): boolean {
  let p = versionDigits(buf, off + 5, le);
  if (p < 0 || !isSpace(buf[p])) return false;
  LINE.a = p;
  while (p < le && isSpace(buf[p])) p++;
  if (le - p < 3 || !isDigit(buf[p]) || !isDigit(buf[p + 1]) || !isDigit(buf[p + 2])) return false;
  LINE.b = p;
  p += 3;
  if (p < le) {
    // The reason phrase follows blanks; `.` matches neither CR nor LF.
    if (!isSpace(buf[p])) return false;
    while (p < le && isSpace(buf[p])) p++;
    for (let i = p; i < le; i++) if (buf[i] === 0x0d || buf[i] === 0x0a) return false;
  }
  LINE.c = p;
  return true;
}

const METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT'];
const VERSIONS: readonly string[] = ['1.1', '1.0'];
const REASONS: readonly string[] = ['OK', 'Created', 'Accepted', 'No Content', 'Not Modified', 'Bad Request', 'Unauthorized', 'Forbidden', 'Not Found'];

/** buf[a, b) as latin1 text: one of `known` when it is that text (no string made), else a new one. */
function knownText(buf: Buffer, a: number, b: number, known: readonly string[]): string {
  const n = b - a;
  for (const k of known) {
    if (k.length !== n) continue;
    let i = 0;
    while (i < n && buf[a + i] === k.charCodeAt(i)) i++;
    if (i === n) return k;
  }
  return buf.toString('latin1', a, b);
}

const methodText = (buf: Buffer, a: number, b: number): string => knownText(buf, a, b, METHODS);
const versionText = (buf: Buffer, a: number, b: number): string => knownText(buf, a, b, VERSIONS);
const reasonText = (buf: Buffer, a: number, b: number): string => knownText(buf, a, b, REASONS);

enum H {
  HOST,
  USER_AGENT,
  REFERER,
  ORIGIN,
  CONTENT_TYPE,
  CONTENT_LENGTH,
  TRANSFER_ENCODING,
  UPGRADE,
  CONNECTION,
  CONTENT_ENCODING,
  AUTHORIZATION,
  CONTENT_DISPOSITION,
  PROXY,
}
/** The header names we keep, lowercase, grouped by length: other names are skipped without making strings. */
const WANTED: readonly (readonly [Buffer, H][])[] = (() => {
  const names: [string, H][] = [
    ['host', H.HOST],
    ['user-agent', H.USER_AGENT],
    ['referer', H.REFERER],
    ['origin', H.ORIGIN],
    ['content-type', H.CONTENT_TYPE],
    ['content-length', H.CONTENT_LENGTH],
    ['transfer-encoding', H.TRANSFER_ENCODING],
    ['upgrade', H.UPGRADE],
    ['connection', H.CONNECTION],
    ['content-encoding', H.CONTENT_ENCODING],
    ['authorization', H.AUTHORIZATION],
    ['proxy-authorization', H.AUTHORIZATION],
    ['content-disposition', H.CONTENT_DISPOSITION],
    // Zeek's HTTP::proxy_headers.
    ['forwarded', H.PROXY],
    ['x-forwarded-for', H.PROXY],
    ['x-forwarded-from', H.PROXY],
    ['client-ip', H.PROXY],
    ['via', H.PROXY],
    ['xroxy-connection', H.PROXY],
    ['proxy-connection', H.PROXY],
  ];
  const byLen: [Buffer, H][][] = [];
  for (const [n, h] of names) {
    byLen[n.length] ??= [];
    byLen[n.length].push([Buffer.from(n, 'latin1'), h]);
  }
  return byLen;
})();

/** Which wanted header `buf[p, e)` names, case-insensitively, or -1. */
function headerId(buf: Buffer, p: number, e: number): number {
  const cands = WANTED[e - p];
  if (cands === undefined) return -1;
  for (const [name, id] of cands) {
    let i = 0;
    for (; i < name.length; i++) {
      const c = buf[p + i];
      if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== name[i]) break;
    }
    if (i === name.length) return id;
  }
  return -1;
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09;
/** What String.prototype.trim removes, among latin1 characters. */
const isTrimmed = (c: number): boolean => (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0;

/** Reused for every header block: read by `head` before the next one is parsed. */
const HEADERS: Headers = {
  host: null,
  ua: null,
  referer: null,
  origin: null,
  ctype: null,
  clen: -1,
  chunked: false,
  upgrade: null,
  encoded: false,
  username: null,
  proxied: null,
  filename: null,
};

function clearHeaders(h: Headers): void {
  h.host = null;
  h.ua = null;
  h.referer = null;
  h.origin = null;
  h.ctype = null;
  h.clen = -1;
  h.chunked = false;
  h.upgrade = null;
  h.encoded = false;
  h.username = null;
  h.proxied = null;
  h.filename = null;
}

/**
 * The header lines from `buf[p]` (just after the start line) to the blank line that ends them
 * (a bare LF accepted), read into HEADERS as they come: the offset just past that blank line, or
 * -1 while the block is incomplete in `buf[p, end)` (HEADERS then holds nothing of use). One pass
 * over the block, which finding its end first and reading it then made two.
 */
function parseHeaders(buf: Buffer, p: number, end: number): number {
  const h = HEADERS;
  clearHeaders(h);
  // The wanted header a continuation line (obs-fold, RFC 9112 5.2) extends, and its value so far:
  // a string once a continuation needed it, else the bytes [lastStart, lastEnd) of this buffer.
  let lastId = -1;
  let lastValue: string | null = null;
  let lastStart = 0;
  let lastEnd = 0;
  for (;;) {
    if (p < end && buf[p] === 0x0a) return p + 1;
    if (p + 1 < end && buf[p] === 0x0d && buf[p + 1] === 0x0a) return p + 2;
    if (p + 1 >= end) return -1;
    const lf = findLf(buf, p, end);
    if (lf < 0) return -1;
    const e = lineEnd(buf, p, lf);
    if (isSpace(buf[p]) && lastId >= 0 && lastId !== H.PROXY) {
      // Zeek joins a folded line to the header's value.
      const more = buf.toString('latin1', p, e).trim();
      const prev: string = lastValue ?? buf.toString('latin1', lastStart, lastEnd);
      lastValue = prev === '' ? more : `${prev} ${more}`;
      setHeader(h, lastId, lastValue);
      p = lf + 1;
      continue;
    }
    lastId = -1;
    let colon = p;
    while (colon < e && buf[colon] !== 0x3a) colon++;
    if (colon > p && colon < e) {
      let ns = p;
      let ne = colon;
      while (ns < ne && isSpace(buf[ns])) ns++;
      while (ne > ns && isSpace(buf[ne - 1])) ne--;
      const id = headerId(buf, ns, ne);
      if (id === H.PROXY) {
        const entry = `${buf.toString('latin1', ns, ne).toUpperCase()} -> ${buf.toString('latin1', colon + 1, e).trim()}`;
        if (h.proxied === null) h.proxied = [entry];
        else if (!h.proxied.includes(entry)) h.proxied.push(entry);
      } else if (id >= 0) {
        // The value as String.prototype.trim would leave it, on the bytes.
        let vs = colon + 1;
        let ve = e;
        while (vs < ve && isTrimmed(buf[vs])) vs++;
        while (ve > vs && isTrimmed(buf[ve - 1])) ve--;
        lastValue = null;
        lastStart = vs;
        lastEnd = ve;
        setHeaderBytes(h, id, buf, vs, ve);
      }
      lastId = id;
    }
    p = lf + 1;
  }
}

/** Whether buf[a, a + s.length) is `s` (lower case ASCII), ignoring ASCII case. */
function bytesEqualCI(buf: Buffer, a: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = buf[a + i];
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== s.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * setHeader for a value in buf[a, b) (trimmed): the headers that only decide framing are read
 * from the bytes, without a string, exactly as setHeader reads their text.
 */
function setHeaderBytes(h: Headers, id: H, buf: Buffer, a: number, b: number): void {
  switch (id) {
    case H.CONTENT_LENGTH: {
      // /^0*(\d{1,15})$/: digits only, at most 15 once leading zeros are dropped (one kept).
      if (a === b) return;
      for (let i = a; i < b; i++) if (!isDigit(buf[i])) return;
      let z = a;
      while (z < b - 1 && buf[z] === 0x30) z++;
      if (b - z > 15) return;
      let n = 0;
      for (let i = z; i < b; i++) n = n * 10 + (buf[i] - 0x30);
      h.clen = n;
      return;
    }
    case H.TRANSFER_ENCODING: {
      // /^chunked(?:$|[\s,;])/i, \s among latin1 characters being what trim removes.
      const c = a + 7 < b ? buf[a + 7] : -1;
      h.chunked = b - a >= 7 && bytesEqualCI(buf, a, 'chunked') && (c === -1 || isTrimmed(c) || c === 0x2c || c === 0x3b);
      return;
    }
    case H.CONNECTION:
      // Kept for obs-fold only: a folded line after it belongs to it, not to a header of its own.
      return;
    case H.CONTENT_ENCODING: {
      const n = b - a;
      if ((n === 4 && bytesEqualCI(buf, a, 'gzip')) || (n === 6 && bytesEqualCI(buf, a, 'x-gzip')) || (n === 7 && bytesEqualCI(buf, a, 'deflate')))
        h.encoded = true;
      return;
    }
    case H.HOST:
    case H.USER_AGENT:
    case H.CONTENT_TYPE:
      setHeader(h, id, recentText(id, buf, a, b));
      return;
    default:
      setHeader(h, id, buf.toString('latin1', a, b));
  }
}

/** Texts kept per header (Host, User-Agent, Content-Type) to be given again. */
const RECENT_PER_HEADER = 8;
/** Longer values are not kept: a browser's User-Agent fits, a header stuffed to the block bound does not. */
const RECENT_MAX_LENGTH = 512;
const recent: string[][] = [];
const recentNext: number[] = [];

/**
 * buf[a, b) as latin1 text, the same string as a recent value of that header when it repeats one:
 * a cluster's clients send the same few Host and User-Agent values, its servers the same few
 * content types. Comparing the bytes costs less than making the string, and the record writer
 * recognises a string it wrote before.
 */
function recentText(id: H, buf: Buffer, a: number, b: number): string {
  const n = b - a;
  let kept = recent[id];
  if (kept === undefined) {
    kept = [];
    recent[id] = kept;
    recentNext[id] = 0;
  }
  for (const s of kept) {
    if (s.length !== n) continue;
    let i = 0;
    while (i < n && buf[a + i] === s.charCodeAt(i)) i++;
    if (i === n) return s;
  }
  const s = buf.toString('latin1', a, b);
  if (n > RECENT_MAX_LENGTH) return s;
  const at = recentNext[id];
  kept[at] = s;
  recentNext[id] = (at + 1) % RECENT_PER_HEADER;
  return s;
}

function setHeader(h: Headers, id: H, value: string): void {
  switch (id) {
    case H.HOST:
      h.host = value;
      break;
    case H.USER_AGENT:
      h.ua = value;
      break;
    case H.REFERER:
      h.referer = value;
      break;
    case H.ORIGIN:
      h.origin = value;
      break;
    case H.CONTENT_TYPE:
      h.ctype = value;
      break;
    case H.CONTENT_LENGTH: {
      // Digits only; leading zeros are fine (Zeek reads 0000...0050 as 50).
      const m = /^0*(\d{1,15})$/.exec(value);
      if (m !== null) h.clen = Number(m[1]);
      break;
    }
    case H.TRANSFER_ENCODING:
      // As Zeek: chunked when the value's first token is 'chunked' ('chunked, identity' is).
      h.chunked = /^chunked(?:$|[\s,;])/i.test(value);
      break;
    case H.UPGRADE:
      h.upgrade = value;
      break;
    case H.AUTHORIZATION:
      h.username = basicUser(value) ?? h.username;
      break;
    case H.CONTENT_DISPOSITION: {
      // filename="x" or filename=x (RFC 6266), as Zeek's extract_filename_from_content_disposition.
      const m = /filename\*?=(?:"([^"]*)"|([^;]*))/i.exec(value);
      if (m !== null) h.filename = (m[1] ?? m[2]).trim();
      break;
    }
    case H.CONTENT_ENCODING: {
      const v = value.toLowerCase();
      if (v === 'gzip' || v === 'x-gzip' || v === 'deflate') h.encoded = true;
      break;
    }
  }
}
