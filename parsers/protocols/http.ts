/**
 * HTTP/1.0 and 1.1 over one TCP connection: incremental request and response parsing with
 * pipelining (requests queue up; responses pair in order), bodies measured and skipped
 * (Content-Length, chunked, or until close), 1xx interim responses, and Upgrade: after a 101
 * (WebSocket, h2c) or a successful CONNECT the bytes are no longer HTTP/1 and parsing stops.
 *
 * Header blocks are bounded by the analyzer's buffer bound; bodies are never buffered.
 */
import { AnalyzerOptions, BaseAnalyzer, StreamBuffer } from './analyzer';
import type { HttpLogRecord } from './records';

const enum Phase {
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
/** A chunk-size line longer than this is not a chunk-size line. */
const MAX_CHUNK_LINE = 1024;
/** A probe needs a method/version token within the first bytes. */
const METHOD_RE = /^[A-Z][A-Z_-]{0,19}$/;
const REQUEST_LINE_RE = /^([^ \t]+)[ \t]+([^ \t]+)(?:[ \t]+HTTP\/(\d+\.\d+))?[ \t]*$/;
const STATUS_LINE_RE = /^HTTP\/(\d+\.\d+)[ \t]+(\d{3})(?:[ \t]+(.*))?$/;

interface Headers {
  host: string | null;
  ua: string | null;
  referer: string | null;
  origin: string | null;
  ctype: string | null;
  clen: number;
  chunked: boolean;
  upgrade: string | null;
  /** Connection: upgrade present. */
  connUpgrade: boolean;
}

class Direction {
  phase: Phase = Phase.HEAD;
  remaining = 0;
  bodyLen = 0;
  constructor(readonly buf: StreamBuffer) {}
}

export class HttpAnalyzer extends BaseAnalyzer {
  readonly name = 'http';
  private readonly dirs: [Direction, Direction];
  private readonly queue: HttpLogRecord[] = [];
  /** The request whose body is being read, and the transaction whose response is being read. */
  private reqCur: HttpLogRecord | null = null;
  private respCur: HttpLogRecord | null = null;
  private depth = 0;
  private curTs = 0;

  constructor(opts: AnalyzerOptions) {
    super(opts);
    this.dirs = [
      new Direction(new StreamBuffer(this.maxBuffer, (b, o, e) => this.parse(false, b, o, e))),
      new Direction(new StreamBuffer(this.maxBuffer, (b, o, e) => this.parse(true, b, o, e))),
    ];
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    const d = this.dirs[isOrig ? 1 : 0];
    if (d.phase === Phase.DONE) return;
    this.curTs = ts;
    if (this.state === 'probing' && d.buf.pending === 0 && !this.plausibleStart(isOrig, buf, off, off + len)) {
      this.reject('http-not-http', isOrig ? 'not an HTTP request line' : 'not an HTTP status line', isOrig, ts);
      return;
    }
    if (!d.buf.feed(buf, off, len)) {
      this.fail('http-header-limit', `an HTTP header block exceeds the ${this.maxBuffer}-byte bound`, isOrig, ts, 0, 'limit');
    }
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
    const d = this.dirs[isOrig ? 1 : 0];
    // Inside a body of known length a gap just shortens what we still have to skip.
    if (this.state === 'confirmed' && d.phase === Phase.BODY_LENGTH && len <= d.remaining) {
      d.remaining -= len;
      d.bodyLen += len;
      if (d.remaining === 0) this.bodyDone(isOrig);
      return;
    }
    if (this.state === 'confirmed' && d.phase === Phase.BODY_EOF) {
      d.bodyLen += len;
      return;
    }
    super.onGap(isOrig, len);
  }

  protected override onEnd(_ts: number): void {
    const resp = this.dirs[0];
    if (resp.phase === Phase.BODY_EOF || (resp.phase !== Phase.HEAD && resp.phase !== Phase.DONE)) {
      if (this.respCur !== null) this.respCur.response_body_len = resp.bodyLen;
      if (this.respCur !== null) this.finish(this.respCur);
    }
    this.respCur = null;
    // Requests never answered are logged as they are.
    for (const r of this.queue.splice(0)) this.sink(r);
  }

  private parse(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!this.active) return -1;
    const d = this.dirs[isOrig ? 1 : 0];
    switch (d.phase) {
      case Phase.HEAD:
        return this.head(isOrig, d, buf, off, end);
      case Phase.BODY_LENGTH: {
        const n = Math.min(d.remaining, end - off);
        d.remaining -= n;
        d.bodyLen += n;
        if (d.remaining === 0) this.bodyDone(isOrig);
        return n;
      }
      case Phase.BODY_EOF:
        d.bodyLen += end - off;
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
        d.bodyLen += n;
        if (d.remaining === 0) d.phase = Phase.CHUNK_CRLF;
        return n;
      }
      default:
        return -1;
    }
  }

  /** A complete header block (start line + headers) or 0 while incomplete. */
  private head(isOrig: boolean, d: Direction, buf: Buffer, off: number, end: number): number {
    // Tolerate the stray CRLF some clients send after a body (RFC 9112 section 2.2).
    if (buf[off] === 0x0d || buf[off] === 0x0a) return 1;
    const stop = headerEnd(buf, off, end);
    if (stop < 0) return 0;
    const text = buf.toString('latin1', off, stop);
    const lines = text.split(/\r?\n/);
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const start = lines[0] ?? '';
    const h = parseHeaders(lines);
    if (isOrig) {
      const m = REQUEST_LINE_RE.exec(start);
      if (m === null || !METHOD_RE.test(m[1])) {
        this.violation('http-request-line', 'malformed request line', isOrig, this.curTs);
        if (this.active) d.phase = Phase.DONE;
        return -1;
      }
      this.confirm();
      const rec = newRecord(this.curTs, ++this.depth);
      rec.method = m[1];
      rec.uri = m[2];
      rec.version = m[3] ?? '0.9';
      rec.host = h.host;
      rec.user_agent = h.ua;
      rec.referrer = h.referer;
      rec.origin = h.origin;
      rec.orig_content_type = h.ctype;
      rec.upgrade = h.upgrade;
      if (this.queue.length >= MAX_PENDING_REQUESTS) this.sink(this.queue.shift()!);
      this.queue.push(rec);
      this.reqCur = rec;
      d.bodyLen = 0;
      // Requests have a body only when framed (RFC 9112 section 6.3): never read-until-close.
      if (h.chunked) d.phase = Phase.CHUNK_SIZE;
      else if (h.clen > 0) {
        d.phase = Phase.BODY_LENGTH;
        d.remaining = h.clen;
      } else this.bodyDone(true);
      if (m[1] === 'CONNECT' && this.active) {
        // After the request the originator's bytes belong to the tunnel (the status decides, but we cannot wait).
        d.phase = Phase.DONE;
      }
      return stop - off;
    }
    const m = STATUS_LINE_RE.exec(start);
    if (m === null) {
      this.violation('http-status-line', 'malformed status line', isOrig, this.curTs);
      if (this.active) d.phase = Phase.DONE;
      return -1;
    }
    this.confirm();
    const code = Number(m[2]);
    const msg = m[3] ?? '';
    let rec = this.queue[0];
    if (rec === undefined) {
      // A response without a request we saw (capture started mid-connection).
      rec = newRecord(this.curTs, ++this.depth);
      rec.version = m[1];
      this.queue.push(rec);
    }
    if (code >= 100 && code < 200 && code !== 101) {
      rec.info_code = code;
      rec.info_msg = msg;
      return stop - off;
    }
    rec.status_code = code;
    rec.status_msg = msg;
    // As Zeek: the reply's version overwrites the request's (servers answer 1.1 requests with 1.0).
    rec.version = m[1];
    rec.resp_content_type = h.ctype;
    this.respCur = rec;
    d.bodyLen = 0;
    if (code === 101) {
      rec.upgraded = true;
      if (rec.upgrade === null) rec.upgrade = h.upgrade;
      this.finish(rec);
      d.phase = Phase.DONE;
      this.dirs[1].phase = Phase.DONE;
      return -1;
    }
    if (rec.method === 'CONNECT' && code >= 200 && code < 300) {
      this.finish(rec);
      d.phase = Phase.DONE;
      return -1;
    }
    const noBody = rec.method === 'HEAD' || code === 204 || code === 304;
    if (noBody) this.bodyDone(false);
    else if (h.chunked) d.phase = Phase.CHUNK_SIZE;
    else if (h.clen >= 0) {
      d.phase = Phase.BODY_LENGTH;
      d.remaining = h.clen;
      if (h.clen === 0) this.bodyDone(false);
    } else d.phase = Phase.BODY_EOF;
    return stop - off;
  }

  private bodyDone(isOrig: boolean): void {
    const d = this.dirs[isOrig ? 1 : 0];
    d.phase = Phase.HEAD;
    if (isOrig) {
      if (this.reqCur !== null) this.reqCur.request_body_len = d.bodyLen;
      this.reqCur = null;
    } else if (this.respCur !== null) {
      this.respCur.response_body_len = d.bodyLen;
      this.finish(this.respCur);
      this.respCur = null;
    }
  }

  /** Emits a completed transaction (its response is complete); the queue head is it. */
  private finish(rec: HttpLogRecord): void {
    const i = this.queue.indexOf(rec);
    if (i >= 0) this.queue.splice(i, 1);
    this.sink(rec);
  }
}

function newRecord(ts: number, depth: number): HttpLogRecord {
  return {
    kind: 'http',
    ts,
    trans_depth: depth,
    method: null,
    host: null,
    uri: null,
    referrer: null,
    version: null,
    user_agent: null,
    origin: null,
    request_body_len: 0,
    response_body_len: 0,
    status_code: null,
    status_msg: null,
    info_code: null,
    info_msg: null,
    orig_content_type: null,
    resp_content_type: null,
    upgrade: null,
    upgraded: false,
  };
}

/** Offset just past the blank line ending a header block, or -1. Accepts bare LF line ends. */
function headerEnd(buf: Buffer, off: number, end: number): number {
  let p = off;
  for (;;) {
    const lf = buf.indexOf(0x0a, p);
    if (lf < 0 || lf >= end) return -1;
    if (lf + 1 < end && buf[lf + 1] === 0x0a) return lf + 2;
    if (lf + 2 < end && buf[lf + 1] === 0x0d && buf[lf + 2] === 0x0a) return lf + 3;
    if (lf + 2 >= end) return -1;
    p = lf + 1;
  }
}

function parseHeaders(lines: string[]): Headers {
  const h: Headers = { host: null, ua: null, referer: null, origin: null, ctype: null, clen: -1, chunked: false, upgrade: null, connUpgrade: false };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const c = line.indexOf(':');
    if (c <= 0) continue;
    const name = line.slice(0, c).trim().toLowerCase();
    const value = line.slice(c + 1).trim();
    switch (name) {
      case 'host':
        h.host = value;
        break;
      case 'user-agent':
        h.ua = value;
        break;
      case 'referer':
        h.referer = value;
        break;
      case 'origin':
        h.origin = value;
        break;
      case 'content-type':
        h.ctype = value;
        break;
      case 'content-length': {
        const n = /^\d{1,15}$/.test(value) ? Number(value) : -1;
        if (n >= 0) h.clen = n;
        break;
      }
      case 'transfer-encoding':
        if (/(^|,)\s*chunked\s*$/i.test(value)) h.chunked = true;
        break;
      case 'upgrade':
        h.upgrade = value;
        break;
      case 'connection':
        if (/upgrade/i.test(value)) h.connUpgrade = true;
        break;
    }
  }
  return h;
}
