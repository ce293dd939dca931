/**
 * SSH identification (RFC 4253 section 4.2): the version banner of each side. After the banners
 * come the cleartext binary packets of the key exchange (section 6), followed as far as the first
 * SSH_MSG_NEWKEYS, after which everything is encrypted: that is where Zeek confirms SSH (its
 * `service`), and a packet longer than the RFC's bound stops the analysis short (history `X`).
 */
import { type AnalyzerOptions, BaseAnalyzer, StreamBuffer } from './analyzer';
import type { SshLogRecord } from '../record/app';

/** RFC 4253: the identification line is at most 255 bytes including CR LF. */
const MAX_LINE = 255;
/**
 * Lines a server may send before its banner (RFC 4253 section 4.2 allows them). Zeek skips them
 * whatever their number (zeek/ssh/server-pre-banner-data.pcap: a 43-line cowsay, service ssh);
 * bounded here all the same, and the multiplexer gives up probing after 16 KiB anyway.
 */
const MAX_PRELUDE_LINES = 256;
const BANNER_RE = /^SSH-(\d+\.\d+)-(.*)$/;
/** RFC 4253 section 6.1: implementations must handle packets of up to 35000 bytes in all. */
export const SSH_MAX_PACKET = 35000;
const MSG_NEWKEYS = 21;
/** SSH 1: the client's session key, after which both directions are encrypted (Zeek confirms there). */
const SSH1_CMSG_SESSION_KEY = 3;

/** Where one direction is in its cleartext binary packets. */
class PacketState {
  /** Header bytes collected: SSH 2 packet_length, padding_length, message type; SSH 1 length, padding, type. */
  readonly head = Buffer.alloc(13);
  have = 0;
  /** Bytes of the current packet still to skip after its header. */
  skip = 0;
  /** Nothing more to read here: NEWKEYS seen (encrypted from now on) or analysis stopped. */
  done = false;
}

export class SshAnalyzer extends BaseAnalyzer {
  readonly name = 'ssh';
  private readonly banner: [string | null, string | null] = [null, null];
  private readonly proto: [string | null, string | null] = [null, null];
  private readonly lines = [0, 0];
  private readonly bufs: [StreamBuffer, StreamBuffer];
  private firstTs = 0;
  private curTs = 0;
  private readonly packets: [PacketState, PacketState] = [new PacketState(), new PacketState()];
  /** A NEWKEYS was seen: the key exchange finished, where Zeek confirms SSH. */
  private newKeys = false;

  get zeekConfirmed(): boolean {
    return this.newKeys;
  }

  constructor(opts: AnalyzerOptions) {
    super(opts);
    this.bufs = [new StreamBuffer(MAX_LINE, (b, o, e) => this.line(false, b, o, e)), new StreamBuffer(MAX_LINE, (b, o, e) => this.line(true, b, o, e))];
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    const d = isOrig ? 1 : 0;
    if (this.banner[d] !== null) {
      this.binary(d, buf, off, off + len);
      return;
    }
    if (this.firstTs === 0) this.firstTs = ts;
    this.curTs = ts;
    // The client must open with its banner: 'SSH-' from the first byte.
    if (this.state === 'probing' && isOrig && this.bufs[1].pending === 0 && this.lines[1] === 0 && !startsLike(buf, off, off + len, 'SSH-')) {
      this.reject('ssh-no-banner', 'client did not start with SSH-', isOrig, ts);
      return;
    }
    // Stream offset of this piece's first byte: bytes consumed plus those still pending from earlier pieces.
    const before = this.bufs[d].consumed + this.bufs[d].pending;
    if (!this.bufs[d].feed(buf, off, len)) {
      this.reject('ssh-line-too-long', 'identification line longer than 255 bytes', isOrig, ts);
      return;
    }
    // The banner line ended inside this piece: what follows it is binary packets.
    if (this.banner[d] !== null && this.active) {
      const used = this.bufs[d].consumed - before;
      if (used < len) this.binary(d, buf, off + used, off + len);
    }
  }

  /** Cleartext binary packets of one direction, until its NEWKEYS. */
  private binary(d: number, buf: Buffer, pos: number, end: number): void {
    const p = this.packets[d];
    while (pos < end && !p.done) {
      if (p.skip > 0) {
        const n = Math.min(p.skip, end - pos);
        p.skip -= n;
        pos += n;
        continue;
      }
      // SSH 1 (RFC-less, draft-ylonen): length excludes the 1-8 padding bytes before the type.
      const v1 = this.proto[d] !== null && this.proto[d]!.startsWith('1.') && this.proto[d] !== '1.99';
      const need = p.have < 4 ? 4 : v1 ? 4 + (8 - (p.head.readUInt32BE(0) % 8)) + 1 : 6;
      const n = Math.min(need - p.have, end - pos);
      buf.copy(p.head, p.have, pos, pos + n);
      p.have += n;
      pos += n;
      if (p.have < need) {
        if (pos < end) continue;
        return;
      }
      if (need === 4) continue;
      p.have = 0;
      const plen = p.head.readUInt32BE(0);
      if (plen > SSH_MAX_PACKET) {
        // Zeek caps the packet at its maximum and marks the analysis partial; nothing after it is framed reliably.
        this.analysisPartial();
        p.done = true;
        return;
      }
      if (plen < (v1 ? 5 : 2)) {
        p.done = true;
        return;
      }
      const type = p.head[need - 1];
      if (type === (v1 ? SSH1_CMSG_SESSION_KEY : MSG_NEWKEYS)) {
        this.newKeys = true;
        p.done = true;
        return;
      }
      // What is left of the packet after the bytes read (SSH 1: the length counts type, data and CRC).
      p.skip = v1 ? plen - 1 : plen - 2;
    }
  }

  private line(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!this.active) return -1;
    const d = isOrig ? 1 : 0;
    // After the banner: the rest is binary packets (handed on by onData), not lines.
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
      return nl + 1 - off;
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
