/**
 * SSH identification (RFC 4253 section 4.2): the version banner of each side. After the banners
 * the protocol is binary packets (key exchange, then encrypted): we stop there.
 */
import { type AnalyzerOptions, BaseAnalyzer, StreamBuffer } from './analyzer';
import type { SshLogRecord } from '../record/app';

/** RFC 4253: the identification line is at most 255 bytes including CR LF. */
const MAX_LINE = 255;
/** Lines a server may send before its banner (RFC 4253 section 4.2 allows them; keep it small). */
const MAX_PRELUDE_LINES = 8;
const BANNER_RE = /^SSH-(\d+\.\d+)-(.*)$/;

export class SshAnalyzer extends BaseAnalyzer {
  readonly name = 'ssh';
  private readonly banner: [string | null, string | null] = [null, null];
  private readonly proto: [string | null, string | null] = [null, null];
  private readonly lines = [0, 0];
  private readonly bufs: [StreamBuffer, StreamBuffer];
  private firstTs = 0;
  private curTs = 0;

  constructor(opts: AnalyzerOptions) {
    super(opts);
    this.bufs = [new StreamBuffer(MAX_LINE, (b, o, e) => this.line(false, b, o, e)), new StreamBuffer(MAX_LINE, (b, o, e) => this.line(true, b, o, e))];
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    const d = isOrig ? 1 : 0;
    if (this.banner[d] !== null) return;
    if (this.firstTs === 0) this.firstTs = ts;
    this.curTs = ts;
    // The client must open with its banner: 'SSH-' from the first byte.
    if (this.state === 'probing' && isOrig && this.bufs[1].pending === 0 && this.lines[1] === 0 && !startsLike(buf, off, off + len, 'SSH-')) {
      this.reject('ssh-no-banner', 'client did not start with SSH-', isOrig, ts);
      return;
    }
    if (!this.bufs[d].feed(buf, off, len)) this.reject('ssh-line-too-long', 'identification line longer than 255 bytes', isOrig, ts);
  }

  private line(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!this.active) return -1;
    const d = isOrig ? 1 : 0;
    if (this.banner[d] !== null) return -1;
    const nl = buf.indexOf(0x0a, off);
    if (nl < 0 || nl >= end) return 0;
    const text = buf.toString('latin1', off, nl).replace(/\r$/, '');
    const m = BANNER_RE.exec(text);
    if (m !== null) {
      this.banner[d] = m[2];
      this.proto[d] = m[1];
      // Zeek confirms SSH only once both sides have identified themselves (a one-sided capture of a
      // client banner stays unconfirmed, service '-', as in Zeek's half-duplex baseline).
      if (this.banner[0] !== null && this.banner[1] !== null) this.confirm();
      return -1;
    }
    if (isOrig || ++this.lines[d] > MAX_PRELUDE_LINES) {
      this.reject('ssh-no-banner', 'no SSH identification line', isOrig, this.curTs);
      return -1;
    }
    return nl + 1 - off;
  }

  /** A one-sided capture still shows the banner it saw: log it even though the protocol stays unconfirmed. */
  override end(ts: number): void {
    if (this.state === 'probing' && (this.banner[0] !== null || this.banner[1] !== null)) {
      this.state = 'rejected'; // nothing more to parse; keeps `service` empty, as Zeek does
      this.onEnd(ts);
      return;
    }
    super.end(ts);
  }

  protected override onGap(): void {
    // Nothing after the banners is analysed: a later gap loses nothing.
  }

  protected override onEnd(_ts: number): void {
    const p = this.proto[0] ?? this.proto[1];
    const rec: SshLogRecord = {
      kind: 'ssh',
      ts: this.firstTs,
      version: p === null ? null : p === '1.99' ? 2 : Math.floor(Number(p)),
      client: this.banner[1] !== null ? `SSH-${this.proto[1]}-${this.banner[1]}` : null,
      server: this.banner[0] !== null ? `SSH-${this.proto[0]}-${this.banner[0]}` : null,
    };
    this.sink(rec);
  }
}

export function startsLike(buf: Buffer, off: number, end: number, prefix: string): boolean {
  const n = Math.min(end - off, prefix.length);
  for (let i = 0; i < n; i++) if (buf[off + i] !== prefix.charCodeAt(i)) return false;
  return true;
}
