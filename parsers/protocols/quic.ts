/**
 * QUIC (RFC 9000, v2 RFC 9369) over one UDP connection, as far as Zeek's QUIC analyzer goes: the
 * Initial packets of both directions are decrypted with the keys anyone can derive from the
 * client's first Destination Connection ID (RFC 9001 section 5.2), their CRYPTO frames are
 * reassembled into the first TLS handshake message of each direction (ClientHello, ServerHello),
 * and that message is handed, framed as one TLS handshake record, to the TLS analyzer, which gives
 * the ssl.log record. The connection's `service` is then `quic,ssl`, as Zeek gives it.
 *
 * Bounds: a datagram is walked packet by packet with every length checked against the datagram;
 * the reassembled message is at most 2^14 + 256 bytes (RFC 8446 section 5.1, Zeek's bound), kept
 * in one buffer per direction with at most MAX_RANGES disjoint pieces; nothing is decrypted after
 * both handshake messages are through.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { type AnalyzerOptions, BaseAnalyzer } from './analyzer';
import { TlsAnalyzer } from './tls';

export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;

/** RFC 9001 section 5.2. */
const SALT_V1 = Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex');
/** RFC 9369 section 3.3.1. */
const SALT_V2 = Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex');
/** draft-ietf-quic-tls-29 section 5.2, used by drafts 29 to 32 (33 and 34 took the v1 salt). */
const SALT_DRAFT29 = Buffer.from('afbfec289993d24c9e9786f19c6111e04390a899', 'hex');

/** The initial salt of a version whose Initial packets we can decrypt, or null. */
function saltFor(version: number): Buffer | null {
  if (version === QUIC_V1) return SALT_V1;
  if (version === QUIC_V2) return SALT_V2;
  // draft-ietf-quic-transport-NN is 0xff0000NN.
  if (version >>> 8 === 0xff0000) {
    const draft = version & 0xff;
    if (draft >= 29 && draft <= 32) return SALT_DRAFT29;
    if (draft === 33 || draft === 34) return SALT_V1;
  }
  return null;
}

export function isKnownVersion(version: number): boolean {
  return saltFor(version) !== null;
}

/** Long header packet types, as numbered in v1 (v2 permutes the two header bits). */
export enum PacketType {
  Initial = 0,
  ZeroRtt = 1,
  Handshake = 2,
  Retry = 3,
}

/** The v1 type of a long header's two type bits. */
function packetType(version: number, bits: number): PacketType {
  // RFC 9369 section 3.2: Initial 0b01, 0-RTT 0b10, Handshake 0b11, Retry 0b00.
  return version === QUIC_V2 ? (bits + 3) & 3 : bits;
}

export interface InitialKeys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

/** HKDF-Expand-Label (RFC 8446 section 7.1) with SHA-256 and an empty context, for outputs of at most one hash block. */
export function hkdfExpandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = `tls13 ${label}`;
  const info = Buffer.alloc(2 + 1 + full.length + 1 + 1);
  info.writeUInt16BE(length, 0);
  info[2] = full.length;
  info.write(full, 3, 'latin1');
  info[3 + full.length] = 0;
  // T(1) = HMAC(PRK, info | 0x01): one block is enough for keys, IVs and secrets of 32 bytes or less.
  info[4 + full.length] = 1;
  return createHmac('sha256', secret).update(info).digest().subarray(0, length);
}

/** HKDF-Extract of the client's first Destination Connection ID with the version's salt. */
export function initialSecret(version: number, dcid: Buffer): Buffer | null {
  const salt = saltFor(version);
  return salt === null ? null : createHmac('sha256', salt).update(dcid).digest();
}

/** The Initial packet protection keys of one direction (RFC 9001 section 5.2; RFC 9369 section 3.3.2 labels for v2). */
export function initialKeys(version: number, dcid: Buffer, client: boolean): InitialKeys | null {
  const secret = initialSecret(version, dcid);
  if (secret === null) return null;
  const dir = hkdfExpandLabel(secret, client ? 'client in' : 'server in', 32);
  const v2 = version === QUIC_V2;
  return {
    key: hkdfExpandLabel(dir, v2 ? 'quicv2 key' : 'quic key', 16),
    iv: hkdfExpandLabel(dir, v2 ? 'quicv2 iv' : 'quic iv', 12),
    hp: hkdfExpandLabel(dir, v2 ? 'quicv2 hp' : 'quic hp', 16),
  };
}

/** The header protection mask: AES-128-ECB of the 16-byte sample under the hp key (RFC 9001 section 5.4.3). */
export function headerMask(hp: Buffer, sample: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', hp, null);
  c.setAutoPadding(false);
  return c.update(sample);
}

/** A QUIC variable-length integer at buf[pos] (RFC 9000 section 16): value and size, or size 0 when it runs past `end`. */
function varint(buf: Buffer, pos: number, end: number): { v: number; n: number } {
  if (pos >= end) return NO_INT;
  const n = 1 << (buf[pos] >> 6);
  if (pos + n > end) return NO_INT;
  let v = buf[pos] & 0x3f;
  // Multiplication, not shifts: 8-byte values exceed 32 bits (exact up to 2^53, beyond any length here).
  for (let i = 1; i < n; i++) v = v * 256 + buf[pos + i];
  return { v, n };
}
const NO_INT = { v: 0, n: 0 };

/** A long header packet's layout within its datagram. */
export interface LongHeader {
  version: number;
  type: PacketType;
  dcid: Buffer;
  scid: Buffer;
  /** Offset of the (protected) packet number (Initial, 0-RTT, Handshake). */
  pnOffset: number;
  /** Offset just past the packet: the next coalesced packet starts here. */
  end: number;
}

/** Parses the long header at buf[off] (header form and fixed bit set); null when malformed or truncated or of an unknown version. */
export function parseLongHeader(buf: Buffer, off: number, end: number): LongHeader | null {
  if (off + 7 > end) return null;
  const version = buf.readUInt32BE(off + 1);
  if (!isKnownVersion(version)) return null;
  let p = off + 5;
  const dl = buf[p++];
  // RFC 9000 section 17.2: at most 20 bytes in version 1 (and in v2).
  if (dl > 20 || p + dl + 1 > end) return null;
  const dcid = buf.subarray(p, p + dl);
  p += dl;
  const sl = buf[p++];
  if (sl > 20 || p + sl > end) return null;
  const scid = buf.subarray(p, p + sl);
  p += sl;
  const type = packetType(version, (buf[off] >> 4) & 3);
  // A Retry has no length: token and integrity tag run to the end of the datagram.
  if (type === PacketType.Retry) return { version, type, dcid, scid, pnOffset: end, end };
  if (type === PacketType.Initial) {
    const tl = varint(buf, p, end);
    if (tl.n === 0 || p + tl.n + tl.v > end) return null;
    p += tl.n + tl.v;
  }
  const len = varint(buf, p, end);
  if (len.n === 0 || p + len.n + len.v > end) return null;
  p += len.n;
  return { version, type, dcid, scid, pnOffset: p, end: p + len.v };
}

/** Full packet number from its truncated encoding and the largest seen so far (RFC 9000 appendix A.3). */
export function decodePacketNumber(largest: number, truncated: number, bits: number): number {
  const expected = largest + 1;
  const win = 2 ** bits;
  const hwin = win / 2;
  const candidate = Math.floor(expected / win) * win + truncated;
  if (candidate <= expected - hwin && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}

/** Removes header protection and decrypts one Initial packet; null when the packet does not authenticate. */
export function decryptInitial(keys: InitialKeys, buf: Buffer, start: number, h: LongHeader, largestPn = -1): { pn: number; payload: Buffer } | null {
  // The sample assumes a 4-byte packet number (RFC 9001 section 5.4.2).
  if (h.pnOffset + 4 + 16 > h.end) return null;
  const mask = headerMask(keys.hp, buf.subarray(h.pnOffset + 4, h.pnOffset + 20));
  const first = buf[start] ^ (mask[0] & 0x0f);
  const pnLen = (first & 3) + 1;
  const ctStart = h.pnOffset + pnLen;
  if (h.end - ctStart < 16) return null;
  // The unprotected header is the AEAD's associated data: a copy, the caller's bytes stay as captured.
  const header = Buffer.from(buf.subarray(start, ctStart));
  header[0] = first;
  let truncated = 0;
  for (let i = 0; i < pnLen; i++) {
    const b = header[h.pnOffset - start + i] ^ mask[1 + i];
    header[h.pnOffset - start + i] = b;
    truncated = truncated * 256 + b;
  }
  const pn = decodePacketNumber(largestPn, truncated, pnLen * 8);
  const nonce = Buffer.from(keys.iv);
  // The packet number, left-padded to the IV's length, XORed into it (RFC 9001 section 5.3).
  const hi = Math.floor(pn / 2 ** 32);
  const lo = pn >>> 0;
  nonce.writeUInt32BE((nonce.readUInt32BE(4) ^ hi) >>> 0, 4);
  nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ lo) >>> 0, 8);
  const d = createDecipheriv('aes-128-gcm', keys.key, nonce);
  d.setAAD(header);
  d.setAuthTag(buf.subarray(h.end - 16, h.end));
  try {
    const payload = Buffer.concat([d.update(buf.subarray(ctStart, h.end - 16)), d.final()]);
    return { pn, payload };
  } catch {
    return null;
  }
}

/** The largest handshake message forwarded, with its 4-byte header (Zeek: 2^14 + 256, RFC 8446 section 5.1). */
export const MAX_HELLO = 2 ** 14 + 256 + 4;
/** Disjoint pieces of a message kept before it is whole; more means a pathological sender. */
const MAX_RANGES = 64;

/**
 * One direction's CRYPTO stream, reassembled from offset 0 up to the end of its first handshake
 * message: pieces may arrive out of order, overlap, and span packets and datagrams.
 */
export class CryptoAssembler {
  private buf: Buffer = Buffer.alloc(0);
  /** Covered byte ranges, sorted and disjoint: start, end pairs. */
  private ranges: number[] = [];
  /** Length of the first handshake message with its header, once its first 4 bytes are in; -1 before. */
  private need = -1;

  /** Adds data[off, off+len) at stream offset `at`. Returns an error text when a bound is exceeded, else null. */
  write(at: number, data: Buffer, off: number, len: number): string | null {
    const limit = this.need >= 0 ? this.need : MAX_HELLO;
    if (len === 0 || at >= limit) return null;
    const end = Math.min(at + len, limit);
    if (end > this.buf.length) {
      const grown = Buffer.alloc(Math.min(MAX_HELLO, Math.max(end, this.buf.length * 2, 2048)));
      this.buf.copy(grown);
      this.buf = grown;
    }
    data.copy(this.buf, at, off, off + (end - at));
    if (!this.cover(at, end)) return `CRYPTO data in more than ${MAX_RANGES} pieces`;
    if (this.need < 0 && this.contiguous() >= 4) {
      this.need = this.buf.readUIntBE(1, 3) + 4;
      if (this.need > MAX_HELLO) return `handshake message of ${this.need - 4} bytes exceeds ${MAX_HELLO - 4}`;
    }
    return null;
  }

  private cover(a: number, b: number): boolean {
    const r = this.ranges;
    const out: number[] = [];
    let i = 0;
    while (i < r.length && r[i + 1] < a) {
      out.push(r[i], r[i + 1]);
      i += 2;
    }
    let s = a;
    let e = b;
    while (i < r.length && r[i] <= e) {
      s = Math.min(s, r[i]);
      e = Math.max(e, r[i + 1]);
      i += 2;
    }
    out.push(s, e);
    while (i < r.length) out.push(r[i++]);
    this.ranges = out;
    return out.length <= 2 * MAX_RANGES;
  }

  /** Bytes available from offset 0 without a hole. */
  private contiguous(): number {
    return this.ranges.length > 0 && this.ranges[0] === 0 ? this.ranges[1] : 0;
  }

  /** The whole first handshake message (header included), once every byte of it is in; else null. */
  message(): Buffer | null {
    if (this.need < 0 || this.need > MAX_HELLO || this.contiguous() < this.need) return null;
    return this.buf.subarray(0, this.need);
  }
}

/** Per-direction state: reassembly, and the largest packet number decrypted (for packet number decoding). */
class Direction {
  crypto = new CryptoAssembler();
  largestPn = -1;
  /** The first handshake message went to the TLS analyzer: nothing more to decrypt (as Zeek). */
  finished = false;
}

export class QuicAnalyzer extends BaseAnalyzer {
  readonly name = 'quic';
  /** The client's first Destination Connection ID: every Initial key of the connection derives from it. */
  private dcid: Buffer | null = null;
  /** Derived keys by version and direction (a v1 ClientHello may be answered in v2, RFC 9368). */
  private keys = new Map<number, InitialKeys | null>();
  private dirs: [Direction, Direction] = [new Direction(), new Direction()];
  private tls: TlsAnalyzer;
  private readonly aopts: AnalyzerOptions;

  constructor(opts: AnalyzerOptions) {
    super(opts);
    this.aopts = opts;
    this.tls = new TlsAnalyzer(opts);
  }

  /** The TLS inside, once it recognised its handshake: listed after `quic` in the connection's service. */
  get innerServices(): readonly string[] {
    return this.tls.state === 'confirmed' || this.tls.state === 'failed' ? SSL : NO_SERVICES;
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.dirs[0].finished && this.dirs[1].finished) return;
    const end = off + len;
    let p = off;
    // A datagram may carry several coalesced long header packets; a short header one runs to its end.
    while (p < end && (buf[p] & 0xc0) === 0xc0) {
      const h = parseLongHeader(buf, p, end);
      if (h === null) {
        // Version negotiation (version 0) and unknown versions are not analysed; garbage is not QUIC.
        if (this.state === 'probing' && (end - p < 5 || buf.readUInt32BE(p + 1) !== 0))
          this.reject('quic-header', 'not a QUIC long header of a known version', isOrig, ts, p - off);
        return;
      }
      if (h.type === PacketType.Retry) {
        if (!isOrig) this.retry();
      } else if (h.type === PacketType.Initial) {
        this.initial(isOrig, buf, p, h, ts, p - off);
        if (!this.active) return;
      }
      p = h.end;
    }
    if (this.state === 'probing' && p === off) this.reject('quic-short', 'first datagram has no long header', isOrig, ts);
  }

  /** A Retry: the client starts over with a new Destination Connection ID, and so does the analysis. */
  private retry(): void {
    this.dcid = null;
    this.keys.clear();
    this.dirs = [new Direction(), new Direction()];
    // Zeek closes its SSL analyzer and opens another: the ClientHello sent after the Retry is the one logged.
    this.tls = new TlsAnalyzer(this.aopts);
  }

  private keysFor(version: number, client: boolean): InitialKeys | null {
    const id = version * 2 + (client ? 1 : 0);
    let k = this.keys.get(id);
    if (k === undefined) {
      k = initialKeys(version, this.dcid!, client);
      this.keys.set(id, k);
    }
    return k;
  }

  private initial(isOrig: boolean, buf: Buffer, start: number, h: LongHeader, ts: number, at: number): void {
    const dir = this.dirs[isOrig ? 1 : 0];
    if (dir.finished) return;
    if (this.dcid === null) {
      // The server's Initial cannot be read before the client's has given the keys.
      if (!isOrig) return;
      this.dcid = Buffer.from(h.dcid);
    }
    const keys = this.keysFor(h.version, isOrig);
    const dec = keys === null ? null : decryptInitial(keys, buf, start, h, dir.largestPn);
    if (dec === null) {
      this.violation('quic-decrypt', 'Initial packet does not decrypt with the keys of the client Destination Connection ID', isOrig, ts, at);
      return;
    }
    if (dec.pn > dir.largestPn) dir.largestPn = dec.pn;
    this.confirm();
    const bad = this.frames(isOrig, dir, dec.payload, ts, at);
    if (bad !== null) this.violation('quic-frame', `${bad} frame runs past its packet`, isOrig, ts, at);
  }

  /**
   * The frames of a decrypted Initial payload: CRYPTO data goes to reassembly; the others allowed in
   * Initial packets are skipped. Returns the name of a frame that runs past the packet, else null.
   */
  private frames(isOrig: boolean, dir: Direction, pt: Buffer, ts: number, at: number): string | null {
    const e = pt.length;
    let q = 0;
    while (q < e) {
      const type = varint(pt, q, e);
      if (type.n === 0) break;
      q += type.n;
      switch (type.v) {
        case 0x00: // PADDING
          while (q < e && pt[q] === 0) q++;
          continue;
        case 0x01: // PING
          continue;
        case 0x02: // ACK
        case 0x03: {
          const head = [0, 0, 0, 0];
          for (let i = 0; i < 4; i++) {
            const x = varint(pt, q, e);
            if (x.n === 0) return 'ACK';
            head[i] = x.v;
            q += x.n;
          }
          // Each range is two varints of at least a byte: the count cannot exceed what is left.
          const n = head[2] * 2 + (type.v === 0x03 ? 3 : 0);
          if (n > e - q) return 'ACK';
          for (let i = 0; i < n; i++) {
            const x = varint(pt, q, e);
            if (x.n === 0) return 'ACK';
            q += x.n;
          }
          continue;
        }
        case 0x06: {
          const o = varint(pt, q, e);
          const l = o.n === 0 ? NO_INT : varint(pt, q + o.n, e);
          if (l.n === 0 || q + o.n + l.n + l.v > e) return 'CRYPTO';
          q += o.n + l.n;
          const err = dir.crypto.write(o.v, pt, q, l.v);
          q += l.v;
          if (err !== null) {
            this.violation('quic-crypto-limit', err, isOrig, ts, at);
            dir.finished = true;
            return null;
          }
          this.deliver(isOrig, dir, ts);
          continue;
        }
        case 0x1c: // CONNECTION_CLOSE (transport): error code, frame type, reason
        case 0x1d: {
          const fields = type.v === 0x1c ? 3 : 2;
          let last = NO_INT;
          for (let i = 0; i < fields; i++) {
            last = varint(pt, q, e);
            if (last.n === 0) return 'CONNECTION_CLOSE';
            q += last.n;
          }
          if (q + last.v > e) return 'CONNECTION_CLOSE';
          q += last.v;
          continue;
        }
        default:
          // RFC 9000 section 12.4: no other frame may appear in an Initial packet.
          this.violation('quic-frame', `frame type 0x${type.v.toString(16)} in an Initial packet`, isOrig, ts, at);
          return null;
      }
    }
    return null;
  }

  /** Once the first handshake message is whole, the TLS analyzer gets it as one handshake record (as Zeek forwards it). */
  private deliver(isOrig: boolean, dir: Direction, ts: number): void {
    if (dir.finished) return;
    const msg = dir.crypto.message();
    if (msg === null) return;
    dir.finished = true;
    const rec = Buffer.allocUnsafe(5 + msg.length);
    rec[0] = 22;
    rec[1] = 3;
    rec[2] = 3;
    rec.writeUInt16BE(msg.length, 3);
    msg.copy(rec, 5);
    this.tls.data(isOrig, rec, 0, rec.length, ts);
    // Reassembly state is no longer needed; let it go.
    dir.crypto = new CryptoAssembler();
  }

  protected override onGap(): void {
    // Datagrams have no gaps.
  }

  protected override onEnd(ts: number): void {
    this.tls.end(ts);
  }
}

const SSL: readonly string[] = Object.freeze(['ssl']);
const NO_SERVICES: readonly string[] = Object.freeze([]);
