/**
 * The common contract of the application-protocol analyzers.
 *
 * An analyzer is attached to ONE connection. Over TCP it consumes the ordered byte stream of each
 * direction in arbitrary pieces (the reassembler decides the piece boundaries, never the
 * protocol); over UDP each `data` call is one datagram. It confirms or rejects its protocol from
 * the first bytes whatever the port (Zeek's dynamic protocol detection), emits records through the
 * `sink` given at construction, and never throws: a fault disables the analyzer for this
 * connection and is recorded in `issues`.
 */
import type { AnyAppRecord, HttpLogRecord } from '../record/app';

export type AnalyzerState = 'probing' | 'confirmed' | 'rejected' | 'failed';
export type AppTransport = 'tcp' | 'udp';

/** Something the analyzer noticed about its input; `offset` is the byte offset in that direction's stream. */
export interface AnalyzerIssue {
  /** violation: bad input after confirmation (analysis continues where the protocol allows);
   *  failure: the analyzer gave up on this connection; limit: a memory bound was hit (also a failure). */
  kind: 'violation' | 'failure' | 'limit';
  code: string;
  message: string;
  isOrig: boolean;
  offset: number;
  ts: number;
}

/**
 * A connection this one announces (FTP's PORT / EPRT / PASV / EPSV, an IRC DCC SEND offer), in
 * terms of this connection: the multiplexer's owner turns it into addresses.
 */
export interface AnnouncedConnection {
  /** Which end of this connection will open it; null: anyone. */
  opener: 'orig' | 'resp' | null;
  /** Where it will go (an address as ConnInfo prints it); null: this connection's responder. */
  resp_h: string | null;
  resp_p: number;
  /** The service it gets (Zeek's: ftp-data, irc-dcc-data). */
  service: string;
  ts: number;
}

export interface AnalyzerOptions {
  transport: AppTransport;
  /** Receives the connections this one announces; without it they are not looked for. */
  announce?: (c: AnnouncedConnection) => void;
  sink: (rec: AnyAppRecord) => void;
  /** Bytes buffered per direction while waiting for a complete message; default 64 KiB. */
  maxBufferBytes?: number;
  /** Violations kept in `issues` (the count keeps running in `violations`); default 16. */
  maxIssues?: number;
  /**
   * Zeek's `dns_max_queries`: a DNS message with more questions than this is a protocol violation
   * and analysis stops short (history `X`); default 25, as Zeek's; 0 for no limit.
   */
  dnsMaxQueries?: number;
  /** Zeek's Gnutella::max_line_length: a longer handshake line stops the analysis (history `X`); default the buffer bound. */
  gnutellaMaxLineLength?: number;
  /** Zeek's Gnutella::max_header_length: the same for a handshake header block. */
  gnutellaMaxHeaderLength?: number;
  /**
   * The plaintext protocols the STARTTLS analyzer may confirm (smtp, imap, pop3, ftp, xmpp, irc,
   * ldap_tcp, rdp, as it names them); default all. Another one is rejected once recognised.
   */
  startTlsProtocols?: ReadonlySet<string>;
}

/**
 * The connection switched protocol in-band: HTTP/1.1 101 to h2c, or a plaintext protocol's
 * STARTTLS (SMTP, IMAP, POP3, FTP, XMPP, IRC, LDAP, PostgreSQL, MySQL) accepted by the server.
 * What the old analyzer hands to the multiplexer so that the new one carries on with the same
 * streams.
 */
export type ProtocolSwitch =
  | {
      protocol: 'http2';
      /** The request that asked for the switch (h2c: it becomes stream 1). */
      request: HttpLogRecord;
      /** Bytes of each direction the old analyzer received after the switch point (same segment). */
      orig: Buffer | null;
      resp: Buffer | null;
    }
  | { protocol: 'tls'; orig: Buffer | null; resp: Buffer | null }
  /**
   * A tunnel opened in-band (HTTP CONNECT answered 2xx): what follows is detected afresh, as
   * Zeek's HTTP analyzer hands the rest of the connection to a new analyzer tree with DPD.
   */
  | { protocol: 'tunnel'; orig: Buffer | null; resp: Buffer | null };

export interface StreamAnalyzer {
  readonly name: string;
  readonly state: AnalyzerState;
  readonly issues: readonly AnalyzerIssue[];
  /** Protocol violations after confirmation, all counted (issues keeps only the first few). */
  readonly violations: number;
  /** Bytes of `buf[off, off+len)` belong to the originator's (isOrig) or responder's stream. */
  data(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void;
  /** `len` bytes of that direction were never seen (capture loss). */
  gap(isOrig: boolean, len: number): void;
  /**
   * One direction's stream is complete: its FIN (or RST) reached in order (Zeek's EndpointEOF).
   * Messages delimited by the close end here: an HTTP/0.9 request, a response read to the close.
   */
  endOfDirection?(isOrig: boolean, ts: number): void;
  /** The connection ended (or was flushed): emit what is pending. */
  end(ts: number): void;
  /**
   * Asked once both directions' streams ended (their FIN or RST reached in order): true when,
   * with no more input, `end` would write nothing and change nothing. The analyzer is then let
   * go before the connection ends (it stays in the table a while after its close). Absent: never.
   */
  readonly finished?: boolean;
  /** A protocol switch seen in the last `data` call, handed over once (then null). */
  takeSwitch?(): ProtocolSwitch | null;
  /** Protocols recognised inside this one (TLS inside QUIC): listed after its name in `service`. */
  readonly innerServices?: readonly string[];
  /**
   * Protocols recognised inside this one's first message, which Zeek confirms before the outer
   * protocol (whose confirmation waits for the end of that message): listed before its name
   * (`krb,gssapi,ldap_tcp` for an LDAP session opened by a Kerberos SASL bind).
   */
  readonly leadingServices?: readonly string[];
  /**
   * Analysis stopped short at one of the protocol's limits (Zeek's analysis-partial history `X`):
   * a DNS message with too many questions, an SSH packet above its maximum length ...
   */
  readonly partial: boolean;
  /**
   * Whether Zeek would have confirmed the protocol by now: some analyzers parse before Zeek's
   * confirms (an HTTP response without a request, SSH banners before the key exchange ends).
   * Decides `service`; absent, a confirmed analyzer counts.
   */
  readonly zeekConfirmed?: boolean;
}

export const DEFAULT_MAX_BUFFER_BYTES = 64 * 1024;

/** The issues of every analyzer that has none: never written to (`push` replaces it). */
const NO_ISSUES: AnalyzerIssue[] = Object.freeze([]) as unknown as AnalyzerIssue[];

/**
 * State machine and bookkeeping shared by every analyzer. Subclasses implement `onData`, and may
 * override `onGap` / `onEnd`; anything they throw becomes a failure, never an escaping exception.
 */
export abstract class BaseAnalyzer implements StreamAnalyzer {
  abstract readonly name: string;
  // The fields are declared only and assigned in the constructor. As class fields they are defined
  // by the base class's field initializer, one code site for every subclass: once a run meets
  // more than four analyzer classes (the pod bench: DNS, HTTP, Kafka, Redis, STARTTLS) it went
  // megamorphic, and each analyzer made cost 2.3-2.7 us there against 0.2 us assigned.
  declare state: AnalyzerState;
  /** Shared and empty until the first issue (most connections never have one). */
  declare issues: AnalyzerIssue[];
  declare violations: number;
  declare partial: boolean;
  declare protected readonly sink: (rec: AnyAppRecord) => void;
  declare protected readonly transport: AppTransport;
  declare protected readonly maxBuffer: number;
  declare private readonly maxIssues: number;
  /** Bytes seen per direction: the offsets issues report. */
  declare private seenOrig: number;
  declare private seenResp: number;
  declare private ended: boolean;

  constructor(opts: AnalyzerOptions) {
    this.state = 'probing';
    this.issues = NO_ISSUES;
    this.violations = 0;
    this.partial = false;
    this.sink = opts.sink;
    this.transport = opts.transport;
    this.maxBuffer = opts.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.maxIssues = opts.maxIssues ?? 16;
    this.seenOrig = 0;
    this.seenResp = 0;
    this.ended = false;
  }

  get active(): boolean {
    return this.state === 'probing' || this.state === 'confirmed';
  }

  data(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (!this.active || len <= 0) return;
    // Clamp instead of trusting the caller: a bad slice must not become an out-of-range read.
    if (off < 0) off = 0;
    if (off + len > buf.length) len = buf.length - off;
    if (len <= 0) return;
    try {
      this.onData(isOrig, buf, off, len, ts);
    } catch (e) {
      this.fail('internal', `analyzer error: ${(e as Error).message}`, isOrig, ts);
    }
    if (isOrig) this.seenOrig += len;
    else this.seenResp += len;
  }

  gap(isOrig: boolean, len: number): void {
    if (!this.active) return;
    if (isOrig) this.seenOrig += len;
    else this.seenResp += len;
    try {
      this.onGap(isOrig, len);
    } catch (e) {
      this.fail('internal', `analyzer error: ${(e as Error).message}`, isOrig, 0);
    }
  }

  endOfDirection(isOrig: boolean, ts: number): void {
    if (this.state !== 'confirmed') return;
    try {
      this.onEndOfDirection(isOrig, ts);
    } catch (e) {
      this.fail('internal', `analyzer error: ${(e as Error).message}`, isOrig, ts);
    }
  }

  end(ts: number): void {
    if (this.ended) return;
    this.ended = true;
    // Only a confirmed (or later failed) analyzer has parsed anything worth flushing.
    if (this.state === 'rejected' || this.state === 'probing') return;
    try {
      this.onEnd(ts);
    } catch (e) {
      this.fail('internal', `analyzer error: ${(e as Error).message}`, true, ts);
    }
  }

  /** A STARTTLS the server accepted: handed to the multiplexer once by takeSwitch. */
  private tlsSwitch: ProtocolSwitch | null = null;

  /**
   * The stream continues in TLS from buf[at, end) of this direction (a copy is kept; empty is
   * fine) and from the next byte of the other. The caller stops parsing: the TLS analyzer the
   * multiplexer starts gets the rest.
   */
  protected startTls(isOrig: boolean, buf: Buffer, at: number, end: number, other: Buffer | null = null): void {
    const rest = end > at ? Buffer.from(buf.subarray(at, end)) : null;
    this.tlsSwitch = { protocol: 'tls', orig: isOrig ? rest : other, resp: isOrig ? other : rest };
  }

  takeSwitch(): ProtocolSwitch | null {
    const s = this.tlsSwitch;
    this.tlsSwitch = null;
    return s;
  }

  /** Bytes of that direction seen before the current `data` call. */
  protected seen(isOrig: boolean): number {
    return isOrig ? this.seenOrig : this.seenResp;
  }

  protected abstract onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void;

  /** Default: a gap while probing rejects (we cannot tell what we missed); after confirmation it is a violation and the subclass must resync. */
  protected onGap(isOrig: boolean, len: number): void {
    if (this.state === 'probing') this.reject('gap', `gap of ${len} bytes before the protocol was confirmed`, isOrig, 0);
    else this.fail('gap', `gap of ${len} bytes; this analyzer cannot resynchronise`, isOrig, 0);
  }

  protected onEnd(_ts: number): void {
    // Nothing pending by default.
  }

  protected onEndOfDirection(_isOrig: boolean, _ts: number): void {
    // Nothing ends with a direction by default: what is pending waits for `end`.
  }

  protected confirm(): void {
    if (this.state === 'probing') this.state = 'confirmed';
  }

  /** While probing: this is not our protocol. After confirmation the same fault is a failure. */
  protected reject(code: string, message: string, isOrig: boolean, ts: number, at = 0): void {
    if (this.state === 'probing') {
      this.state = 'rejected';
      this.push({ kind: 'failure', code, message, isOrig, offset: this.seen(isOrig) + at, ts });
    } else {
      this.fail(code, message, isOrig, ts, at);
    }
  }

  protected fail(code: string, message: string, isOrig: boolean, ts: number, at = 0, kind: 'failure' | 'limit' = 'failure'): void {
    if (!this.active) return;
    this.state = this.state === 'probing' ? 'rejected' : 'failed';
    this.push({ kind, code, message, isOrig, offset: this.seen(isOrig) + at, ts });
  }

  /** A limit of the protocol's analysis was hit: what follows is not (fully) analysed. */
  protected analysisPartial(): void {
    this.partial = true;
  }

  /** A protocol violation: while probing it rejects; after confirmation it is recorded and analysis goes on. */
  protected violation(code: string, message: string, isOrig: boolean, ts: number, at = 0): void {
    if (this.state === 'probing') {
      this.reject(code, message, isOrig, ts, at);
      return;
    }
    this.violations++;
    if (this.issues.length < this.maxIssues) {
      this.push({ kind: 'violation', code, message, isOrig, offset: this.seen(isOrig) + at, ts });
    }
  }

  private push(i: AnalyzerIssue): void {
    // Failures are always kept (there is at most one); violations are capped by the caller.
    if (this.issues === NO_ISSUES) this.issues = [i];
    else this.issues.push(i);
  }
}

/**
 * Per-direction accumulator for message-oriented parsing over an arbitrary chunking.
 *
 * When nothing is pending the parser runs directly on the caller's buffer (no copy); only the
 * incomplete tail of a message is copied, and it may not exceed `max` bytes. The parse callback
 * returns how many bytes it consumed (0: need more bytes; it may consume a partial body), or -1 to
 * stop (the analyzer failed).
 */
export class StreamBuffer {
  private pend: Buffer = EMPTY;
  private pendLen = 0;
  /** Stream offset of the first byte not yet consumed. */
  consumed = 0;
  private readonly max: number;

  /** `parse` may be left out by a subclass that overrides `parse` (one object per direction, no closure). */
  constructor(max: number, parse?: (buf: Buffer, off: number, end: number) => number) {
    this.max = max;
    if (parse !== undefined) this.parse = parse;
  }

  protected parse(_buf: Buffer, _off: number, _end: number): number {
    return -1;
  }

  get pending(): number {
    return this.pendLen;
  }

  /** Returns false when the pending tail would exceed the bound (the caller fails the analyzer). */
  feed(buf: Buffer, off: number, len: number): boolean {
    let src = buf;
    let pos = off;
    let end = off + len;
    if (this.pendLen > 0) {
      const need = this.pendLen + len;
      if (need > this.pend.length) {
        // Grow geometrically; the bound is enforced on what is left after parsing.
        const grown = Buffer.allocUnsafe(Math.max(need, this.pend.length * 2, 256));
        this.pend.copy(grown, 0, 0, this.pendLen);
        this.pend = grown;
      }
      buf.copy(this.pend, this.pendLen, off, off + len);
      this.pendLen = need;
      src = this.pend;
      pos = 0;
      end = need;
    }
    while (pos < end) {
      const n = this.parse(src, pos, end);
      if (n < 0) {
        this.pendLen = 0;
        return true;
      }
      if (n === 0) break;
      pos += n;
      this.consumed += n;
    }
    const rest = end - pos;
    if (rest > this.max) {
      this.pendLen = 0;
      return false;
    }
    if (src === this.pend) {
      if (rest > 0 && pos > 0) this.pend.copy(this.pend, 0, pos, end);
      this.pendLen = rest;
      // Let a large one-off buffer go once it is drained.
      if (rest === 0 && this.pend.length > 4096) this.pend = EMPTY;
    } else if (rest > 0) {
      if (this.pend.length < rest) this.pend = Buffer.allocUnsafe(Math.max(rest, 256));
      src.copy(this.pend, 0, pos, end);
      this.pendLen = rest;
    }
    return true;
  }

  /** Drops what is pending (after a gap, before resynchronising). */
  reset(): void {
    this.pendLen = 0;
  }
}

const EMPTY = Buffer.alloc(0);
