/**
 * TLS (SSL 3.0 to TLS 1.3) handshake analysis over one TCP connection: records are framed per
 * direction in any chunking, handshake messages are reassembled across records, and ClientHello,
 * ServerHello and (TLS <= 1.2, where it is cleartext) Certificate are decoded. Produces one
 * ssl.log-shaped record per connection with JA3, JA3S and JA4.
 *
 * Bounds: a record is at most 2^14 + 2048 bytes (RFC 5246 section 6.2.3), a handshake message is
 * held only up to the analyzer's buffer bound, certificate parsing walks at most a few DER levels
 * with every length checked against its parent.
 */
import { createHash } from 'node:crypto';
import { type AnalyzerOptions, BaseAnalyzer, StreamBuffer } from './analyzer';
import type { TlsCertificate, TlsLogRecord } from '../record/app';
import { CIPHER_NAMES, alertName, cipherName, groupName, versionName } from './tls-names';

export { CIPHER_NAMES };

const EMPTY = Buffer.alloc(0);

/** TLS 1.3 or one of its drafts (0x7fNN): everything after ServerHello is encrypted. */
export function isTls13(v: number): boolean {
  return v === 0x0304 || v >> 8 === 0x7f;
}

const MAX_RECORD = 16384 + 2048;
const MAX_CERTS = 16;
/** ssl_history is cut at this length (a renegotiating connection could grow it without bound). */
const MAX_HISTORY = 64;

/** Zeek's ssl_history letters of the handshake message types (others: 'z'). */
const HISTORY_LETTERS: Readonly<Record<number, string>> = {
  0: 'h',
  1: 'c',
  2: 's',
  3: 'v',
  4: 't',
  5: 'e',
  6: 'j',
  8: 'o',
  11: 'x',
  12: 'k',
  13: 'r',
  14: 'n',
  15: 'y',
  16: 'g',
  20: 'f',
  21: 'w',
  22: 'm',
  23: 'u',
  24: 'p',
};

/** GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

export interface ClientHello {
  version: number;
  sessionId: Buffer;
  ciphers: number[];
  /** Extension types in order, GREASE included (fingerprints filter them). */
  extensions: number[];
  groups: number[];
  pointFormats: number[];
  sigAlgs: number[];
  alpn: string[];
  sni: string | null;
  supportedVersions: number[];
}

export interface ServerHello {
  version: number;
  sessionId: Buffer;
  cipher: number;
  extensions: number[];
  /** supported_versions selection (TLS 1.3), or null. */
  selectedVersion: number | null;
  alpn: string | null;
  /** key_share group chosen (TLS 1.3), or null. */
  keyShareGroup: number | null;
}

class Fault {
  constructor(
    readonly code: string,
    readonly message: string,
  ) {}
}

/** Bounds-checked cursor over buf[pos, end). */
class Cur {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}
  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new Fault('tls-truncated', `${what} truncated`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  /** A length-prefixed sub-cursor (prefix of 1 or 2 bytes). */
  vec(prefix: 1 | 2, what: string): Cur {
    const n = prefix === 1 ? this.u8(what) : this.u16(what);
    this.need(n, what);
    const c = new Cur(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return c;
  }
  get left(): number {
    return this.end - this.pos;
  }
}

function u16list(c: Cur, what: string): number[] {
  if (c.left % 2 !== 0) throw new Fault('tls-bad-list', `${what} has an odd length`);
  const out: number[] = [];
  while (c.left > 0) out.push(c.u16(what));
  return out;
}

/** Parses a ClientHello body (after the handshake header; DTLS's carries a cookie after the session id). Throws Fault. */
export function parseClientHello(buf: Buffer, off: number, end: number, dtls = false): ClientHello {
  const c = new Cur(buf, off, end);
  const ch: ClientHello = {
    version: c.u16('client version'),
    sessionId: Buffer.alloc(0),
    ciphers: [],
    extensions: [],
    groups: [],
    pointFormats: [],
    sigAlgs: [],
    alpn: [],
    sni: null,
    supportedVersions: [],
  };
  c.need(32, 'client random');
  c.pos += 32;
  const sid = c.vec(1, 'session id');
  ch.sessionId = Buffer.from(buf.subarray(sid.pos, sid.end));
  if (dtls) c.vec(1, 'cookie');
  ch.ciphers = u16list(c.vec(2, 'cipher suites'), 'cipher suites');
  c.vec(1, 'compression methods');
  if (c.left === 0) return ch; // No extensions (SSL 3.0 style).
  const exts = c.vec(2, 'extensions');
  while (exts.left > 0) {
    const type = exts.u16('extension type');
    const body = exts.vec(2, 'extension body');
    ch.extensions.push(type);
    switch (type) {
      case 0: {
        const list = body.vec(2, 'server_name list');
        while (list.left > 0) {
          const nameType = list.u8('server_name type');
          const name = list.vec(2, 'server_name');
          if (nameType === 0 && ch.sni === null) ch.sni = buf.toString('latin1', name.pos, name.end);
        }
        break;
      }
      case 10:
        ch.groups = u16list(body.vec(2, 'supported_groups'), 'supported_groups');
        break;
      case 11: {
        const pf = body.vec(1, 'ec_point_formats');
        while (pf.left > 0) ch.pointFormats.push(pf.u8('ec_point_formats'));
        break;
      }
      case 13:
        ch.sigAlgs = u16list(body.vec(2, 'signature_algorithms'), 'signature_algorithms');
        break;
      case 16: {
        const list = body.vec(2, 'alpn list');
        while (list.left > 0) {
          const p = list.vec(1, 'alpn protocol');
          ch.alpn.push(buf.toString('latin1', p.pos, p.end));
        }
        break;
      }
      case 43:
        ch.supportedVersions = u16list(body.vec(1, 'supported_versions'), 'supported_versions');
        break;
    }
  }
  return ch;
}

export function parseServerHello(buf: Buffer, off: number, end: number): ServerHello {
  const c = new Cur(buf, off, end);
  const sh: ServerHello = {
    version: c.u16('server version'),
    sessionId: EMPTY,
    cipher: 0,
    extensions: [],
    selectedVersion: null,
    alpn: null,
    keyShareGroup: null,
  };
  c.need(32, 'server random');
  c.pos += 32;
  // TLS 1.3 drafts before 22 sent neither session id nor compression method.
  const earlyDraft = sh.version >> 8 === 0x7f && (sh.version & 0xff) < 22;
  if (!earlyDraft) {
    const sid = c.vec(1, 'session id');
    if (sid.left > 0) sh.sessionId = Buffer.from(buf.subarray(sid.pos, sid.end));
  }
  sh.cipher = c.u16('cipher suite');
  if (!earlyDraft) c.u8('compression method');
  if (c.left === 0) return sh;
  const exts = c.vec(2, 'extensions');
  while (exts.left > 0) {
    const type = exts.u16('extension type');
    const body = exts.vec(2, 'extension body');
    sh.extensions.push(type);
    if (type === 43 && body.left === 2) sh.selectedVersion = body.u16('supported_versions');
    if (type === 51 && body.left >= 2) sh.keyShareGroup = body.u16('key_share group');
    if (type === 16 && body.left > 2) {
      const list = body.vec(2, 'alpn list');
      const p = list.vec(1, 'alpn protocol');
      sh.alpn = buf.toString('latin1', p.pos, p.end);
    }
  }
  return sh;
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const sha12 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);
const hex4 = (v: number): string => v.toString(16).padStart(4, '0');

/** JA3 string (salesforce/ja3): version,ciphers,extensions,groups,point formats; GREASE removed. */
export function ja3String(ch: ClientHello): string {
  const ng = (l: number[]): string => l.filter((v) => !isGrease(v)).join('-');
  return `${ch.version},${ng(ch.ciphers)},${ng(ch.extensions)},${ng(ch.groups)},${ch.pointFormats.join('-')}`;
}

export function ja3sString(sh: ServerHello): string {
  return `${sh.version},${sh.cipher},${sh.extensions.join('-')}`;
}

export const ja3 = (ch: ClientHello): string => md5(ja3String(ch));
export const ja3s = (sh: ServerHello): string => md5(ja3sString(sh));

const JA4_VERSIONS: Record<number, string> = {
  772: '13',
  771: '12',
  770: '11',
  769: '10',
  768: 's3',
  2: 's2',
  65279: 'd1',
  65277: 'd2',
  65276: 'd3',
};

/** JA4 (FoxIO, technical_details/JA4.md) of a ClientHello; `proto` is its first letter: t over TCP, d for DTLS. */
export function ja4(ch: ClientHello, proto: 't' | 'd' = 't'): string {
  const versions = ch.supportedVersions.filter((v) => !isGrease(v));
  const v = versions.length > 0 ? Math.max(...versions) : ch.version;
  const ciphers = ch.ciphers.filter((x) => !isGrease(x));
  const exts = ch.extensions.filter((x) => !isGrease(x));
  const two = (n: number): string => String(Math.min(n, 99)).padStart(2, '0');
  let alpn = '00';
  const first = ch.alpn[0];
  if (first !== undefined && first.length > 0) {
    const a = first.charCodeAt(0);
    const z = first.charCodeAt(first.length - 1);
    const alnum = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    // Non-alphanumeric ALPN values: first and last characters of the hex form of the value.
    if (alnum(a) && alnum(z)) alpn = first[0] + first[first.length - 1];
    else {
      const h = Buffer.from(first, 'latin1').toString('hex');
      alpn = h[0] + h[h.length - 1];
    }
  }
  const a = `${proto}${JA4_VERSIONS[v] ?? '00'}${ch.sni !== null ? 'd' : 'i'}${two(ciphers.length)}${two(exts.length)}${alpn}`;
  const b = ciphers.length === 0 ? '000000000000' : sha12(ciphers.map(hex4).sort().join(','));
  const extList = exts
    .filter((x) => x !== 0x0000 && x !== 0x0010)
    .map(hex4)
    .sort()
    .join(',');
  const sig = ch.sigAlgs
    .filter((x) => !isGrease(x))
    .map(hex4)
    .join(',');
  const c = extList.length === 0 && sig.length === 0 ? '000000000000' : sha12(sig.length > 0 ? `${extList}_${sig}` : extList);
  return `${a}_${b}_${c}`;
}

// ---------------------------------------------------------------- X.509 (minimal DER walk)

const OID_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.25': 'DC',
};

interface Tlv {
  tag: number;
  start: number; // content start
  end: number; // content end
}

function tlv(buf: Buffer, pos: number, end: number): Tlv {
  if (pos + 2 > end) throw new Fault('x509-truncated', 'DER header truncated');
  const tag = buf[pos];
  let len = buf[pos + 1];
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > end) throw new Fault('x509-length', 'DER length unsupported or truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > end) throw new Fault('x509-truncated', 'DER value runs past its parent');
  return { tag, start: p, end: p + len };
}

function oidText(buf: Buffer, a: number, b: number): string {
  if (b <= a) return '';
  const parts: number[] = [Math.floor(buf[a] / 40), buf[a] % 40];
  let v = 0;
  for (let i = a + 1; i < b; i++) {
    v = v * 128 + (buf[i] & 0x7f);
    if ((buf[i] & 0x80) === 0) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** RFC 2253-style text (most specific first, as OpenSSL and Zeek print it). */
function nameText(buf: Buffer, t: Tlv): string {
  const out: string[] = [];
  let p = t.start;
  let n = 0;
  while (p < t.end && n++ < 64) {
    const set = tlv(buf, p, t.end);
    p = set.end;
    let q = set.start;
    while (q < set.end) {
      const seq = tlv(buf, q, set.end);
      q = seq.end;
      const oid = tlv(buf, seq.start, seq.end);
      const val = tlv(buf, oid.end, seq.end);
      const key = OID_NAMES[oidText(buf, oid.start, oid.end)] ?? oidText(buf, oid.start, oid.end);
      const text = buf.toString(val.tag === 0x1e ? 'utf16le' : 'utf8', val.start, val.end).replace(/([,+"\\<>;])/g, '\\$1');
      out.push(`${key}=${text}`);
    }
  }
  return out.reverse().join(',');
}

function timeValue(buf: Buffer, t: Tlv): number | null {
  const s = buf.toString('latin1', t.start, t.end);
  const m = t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (m === null) return null;
  let y = Number(m[1]);
  if (t.tag === 0x17) y += y < 50 ? 2000 : 1900; // RFC 5280 section 4.1.2.5.1
  return Date.UTC(y, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
}

/** Subject, issuer, validity and serial of one DER certificate. Throws Fault. */
export function parseCertificate(buf: Buffer, off: number, end: number): TlsCertificate {
  const cert = tlv(buf, off, end);
  const tbs = tlv(buf, cert.start, cert.end);
  let p = tbs.start;
  let f = tlv(buf, p, tbs.end);
  if (f.tag === 0xa0) {
    p = f.end;
    f = tlv(buf, p, tbs.end);
  }
  const serial = buf.toString('hex', f.start, f.end).toUpperCase();
  const sigAlg = tlv(buf, f.end, tbs.end);
  const issuer = tlv(buf, sigAlg.end, tbs.end);
  const validity = tlv(buf, issuer.end, tbs.end);
  const subject = tlv(buf, validity.end, tbs.end);
  const nb = tlv(buf, validity.start, validity.end);
  const na = tlv(buf, nb.end, validity.end);
  return { subject: nameText(buf, subject), issuer: nameText(buf, issuer), not_valid_before: timeValue(buf, nb), not_valid_after: timeValue(buf, na), serial };
}

/**
 * The host names a certificate is for, as Zeek's x509_check_cert_hostname takes them: the
 * subjectAltName dNSNames (RFC 5280 4.2.1.6), or the subject's CN when there are none.
 */
export function certificateHostNames(buf: Buffer, off: number, end: number): string[] {
  const cert = tlv(buf, off, end);
  const tbs = tlv(buf, cert.start, cert.end);
  let f = tlv(buf, tbs.start, tbs.end);
  if (f.tag === 0xa0) f = tlv(buf, f.end, tbs.end);
  const sigAlg = tlv(buf, f.end, tbs.end);
  const issuer = tlv(buf, sigAlg.end, tbs.end);
  const validity = tlv(buf, issuer.end, tbs.end);
  const subject = tlv(buf, validity.end, tbs.end);
  const spki = tlv(buf, subject.end, tbs.end);
  const names: string[] = [];
  let p = spki.end;
  while (p < tbs.end) {
    const t = tlv(buf, p, tbs.end);
    p = t.end;
    if (t.tag !== 0xa3) continue;
    const exts = tlv(buf, t.start, t.end);
    let q = exts.start;
    while (q < exts.end) {
      const ext = tlv(buf, q, exts.end);
      q = ext.end;
      const oid = tlv(buf, ext.start, ext.end);
      // 2.5.29.17 subjectAltName
      if (oid.end - oid.start !== 3 || buf[oid.start] !== 0x55 || buf[oid.start + 1] !== 0x1d || buf[oid.start + 2] !== 0x11) continue;
      let v = tlv(buf, oid.end, ext.end);
      if (v.tag === 0x01) v = tlv(buf, v.end, ext.end);
      const gns = tlv(buf, v.start, v.end);
      let r = gns.start;
      while (r < gns.end && names.length < 256) {
        const gn = tlv(buf, r, gns.end);
        r = gn.end;
        if (gn.tag === 0x82) names.push(buf.toString('latin1', gn.start, gn.end));
      }
    }
  }
  if (names.length > 0) return names;
  // No dNSName: the subject's common names (2.5.4.3).
  let q = subject.start;
  while (q < subject.end) {
    const set = tlv(buf, q, subject.end);
    q = set.end;
    let r = set.start;
    while (r < set.end) {
      const atv = tlv(buf, r, set.end);
      r = atv.end;
      const oid = tlv(buf, atv.start, atv.end);
      if (oid.end - oid.start === 3 && buf[oid.start] === 0x55 && buf[oid.start + 1] === 0x04 && buf[oid.start + 2] === 0x03) {
        const val = tlv(buf, oid.end, atv.end);
        names.push(buf.toString('utf8', val.start, val.end));
      }
    }
  }
  return names;
}

/** A certificate name matches a host name: equal ignoring case, or a leading '*.' standing for exactly one label. */
export function hostNameMatches(host: string, certName: string): boolean {
  const h = host.toLowerCase();
  const c = certName.toLowerCase();
  if (h === c) return true;
  if (!c.startsWith('*.')) return false;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot) === c.slice(1);
}

// ---------------------------------------------------------------- analyzer

class Side {
  /** Handshake bytes of this direction not yet forming a whole message. */
  hs: Buffer = Buffer.alloc(0);
  /** After ChangeCipherSpec (or TLS 1.3 keys), handshake records are encrypted: stop decoding them. */
  encrypted = false;
  ccs = false;
  appData = false;
  /** DTLS: the next handshake message_seq expected (lower ones are retransmissions). */
  nextSeq = 0;
  /** DTLS: the fragmented handshake message being reassembled, its message_seq and contiguous bytes held. */
  frag: Buffer | null = null;
  fragSeq = 0;
  fragHave = 0;
  constructor(readonly records: StreamBuffer) {}
}

/** Whether a datagram is a STUN message (RFC 5389 magic cookie), as Zeek's DTLS analyzer tests it to skip one. */
export function isStun(buf: Buffer, off: number, len: number): boolean {
  return len > 20 && buf[off + 4] === 0x21 && buf[off + 5] === 0x12 && buf[off + 6] === 0xa4 && buf[off + 7] === 0x42;
}

export interface TlsAnalyzerOptions {
  /**
   * DTLS (RFC 6347) over UDP: each datagram holds whole records, handshake messages come in
   * fragments, and STUN messages multiplexed on the same flow (WebRTC, RFC 7983) are skipped.
   */
  dtls?: boolean;
}

export class TlsAnalyzer extends BaseAnalyzer {
  readonly name: string;
  private readonly dtls: boolean;
  /**
   * DTLS: the responder is the DTLS client (its ClientHello came first); every direction is taken
   * by role from then on, and ssl_history starts with Zeek's `^`.
   */
  private flipped = false;
  private rolesKnown = false;
  client: ClientHello | null = null;
  server: ServerHello | null = null;
  private readonly certs: TlsCertificate[] = [];
  private readonly sides: [Side, Side];
  private firstTs = 0;
  private curTs = 0;
  /** Alert records seen (both directions). */
  alerts = 0;
  /** Description code of the last cleartext alert. */
  private lastAlert: number | null = null;
  /** Group of the key exchange: ServerKeyExchange (ECDHE) or the server's key_share (TLS 1.3). */
  private curve: number | null = null;
  private hist = '';
  /** Certificate fingerprints per side, null until a certificate is seen. */
  private serverFps: string[] | null = null;
  private clientFps: string[] | null = null;
  /** Host names of the server's leaf certificate (SAN dNSNames, else CN). */
  private leafNames: string[] | null = null;

  constructor(opts: AnalyzerOptions, topts: TlsAnalyzerOptions = {}) {
    super(opts);
    this.dtls = topts.dtls === true;
    this.name = this.dtls ? 'dtls' : 'tls';
    this.sides = [
      new Side(new StreamBuffer(Math.max(this.maxBuffer, MAX_RECORD + 5), (b, o, e) => this.record(false, b, o, e))),
      new Side(new StreamBuffer(Math.max(this.maxBuffer, MAX_RECORD + 5), (b, o, e) => this.record(true, b, o, e))),
    ];
  }

  get established(): boolean {
    const [r, o] = this.sides;
    const v = this.server?.selectedVersion ?? this.server?.version ?? 0;
    return isTls13(v) ? r.appData && o.appData : r.ccs && o.ccs;
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.firstTs === 0) this.firstTs = ts;
    this.curTs = ts;
    if (this.dtls) {
      this.datagram(isOrig, buf, off, off + len);
      return;
    }
    const s = this.sides[isOrig ? 1 : 0];
    if (!s.records.feed(buf, off, len)) this.fail('tls-buffer-limit', 'TLS record exceeds the buffer bound', isOrig, ts, 0, 'limit');
  }

  protected override onGap(isOrig: boolean, len: number): void {
    // Records cannot be re-framed inside a gap; but a gap after the handshake loses nothing we log.
    if (this.state === 'confirmed' && this.client !== null && this.server !== null) {
      this.sides[isOrig ? 1 : 0].records.reset();
      this.sides[0].encrypted = this.sides[1].encrypted = true;
      this.gapped = true;
      return;
    }
    super.onGap(isOrig, len);
  }

  private gapped = false;

  private record(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!this.active) return -1;
    if (this.gapped) return end - off;
    if (end - off < 5) return this.plausiblePrefix(isOrig, buf, off, end) ? 0 : -1;
    const type = buf[off];
    const major = buf[off + 1];
    const len = buf.readUInt16BE(off + 3);
    if (type < 20 || type > 24 || major !== 3 || len > MAX_RECORD) {
      this.violation('tls-record', `bad record header: type ${type}, version ${major}.${buf[off + 2]}, length ${len}`, isOrig, this.curTs);
      if (this.active) this.fail('tls-record', 'cannot re-frame TLS records after a bad header', isOrig, this.curTs);
      return -1;
    }
    if (this.state === 'probing' && type !== 22) {
      this.reject('tls-not-handshake', `first record has type ${type}`, isOrig, this.curTs);
      return -1;
    }
    if (end - off < 5 + len) return 0;
    const s = this.sides[isOrig ? 1 : 0];
    const body = off + 5;
    if (type === 22) {
      if (!s.encrypted) this.handshake(isOrig, s, buf, body, body + len);
    } else this.otherRecord(isOrig, s, type, buf, body, len);
    return this.active ? 5 + len : -1;
  }

  /** A ChangeCipherSpec, alert, heartbeat or application data record of that side. */
  private otherRecord(isOrig: boolean, s: Side, type: number, buf: Buffer, body: number, len: number): void {
    switch (type) {
      case 20:
        s.ccs = true;
        this.history(isOrig, 'i');
        s.encrypted = true;
        break;
      case 21:
        this.alerts++;
        // An alert after ChangeCipherSpec is encrypted: Zeek neither names it nor adds it to the history.
        if (!s.encrypted && len >= 2) {
          this.lastAlert = buf[body + 1];
          this.history(isOrig, 'l');
        }
        break;
      case 24:
        if (!s.encrypted) this.history(isOrig, 'b');
        break;
      case 23:
        s.appData = true;
        break;
    }
  }

  /**
   * One DTLS datagram: whole records of 13-byte headers (type, version, epoch, sequence number,
   * length). STUN is skipped, as Zeek skips it; while probing, other datagrams that are not DTLS
   * records are passed over too (Zeek attaches its DTLS analyzer only at the packet its signature
   * matches, the ClientHello), but a DTLS record other than a handshake rejects.
   */
  private datagram(isOrig: boolean, buf: Buffer, off: number, end: number): void {
    if (isStun(buf, off, end - off)) return;
    let p = off;
    while (p < end && this.active) {
      const left = end - p;
      const type = buf[p];
      const bad = left < 13 || type < 20 || type > 24 || buf[p + 1] !== 0xfe || 13 + buf.readUInt16BE(p + 11) > left;
      if (bad) {
        if (this.state !== 'probing') this.violation('dtls-record', `bad DTLS record at datagram byte ${p - off}`, isOrig, this.curTs, p - off);
        return;
      }
      const len = buf.readUInt16BE(p + 11);
      if (this.state === 'probing' && type !== 22) {
        this.reject('tls-not-handshake', `first DTLS record has type ${type}`, isOrig, this.curTs, p - off);
        return;
      }
      const epoch = buf.readUInt16BE(p + 3);
      const body = p + 13;
      // Epoch 0 is cleartext; later epochs are under the negotiated keys.
      if (type === 22 && epoch === 0) this.dtlsHandshake(isOrig, buf, body, body + len);
      else {
        const role = isOrig !== this.flipped;
        const s = this.sides[role ? 1 : 0];
        if (type === 22) s.encrypted = true;
        else this.otherRecord(role, s, type, buf, body, len);
      }
      p = body + len;
    }
  }

  /** DTLS handshake fragments (12-byte headers), reassembled in order per direction; retransmissions are dropped. */
  private dtlsHandshake(isOrig: boolean, buf: Buffer, off: number, end: number): void {
    let p = off;
    while (end - p >= 12 && this.active) {
      const mtype = buf[p];
      const mlen = buf.readUIntBE(p + 1, 3);
      const mseq = buf.readUInt16BE(p + 4);
      const foff = buf.readUIntBE(p + 6, 3);
      const flen = buf.readUIntBE(p + 9, 3);
      const body = p + 12;
      if (body + flen > end || foff + flen > mlen) {
        this.violation('dtls-fragment', `handshake fragment ${foff}+${flen} of ${mlen} bytes runs past its record or message`, isOrig, this.curTs);
        return;
      }
      p = body + flen;
      if (mlen > this.maxBuffer) {
        this.fail('tls-handshake-limit', `handshake message of ${mlen} bytes exceeds the buffer bound`, isOrig, this.curTs, 0, 'limit');
        return;
      }
      if (!this.rolesKnown) {
        this.rolesKnown = true;
        if (isOrig ? mtype === 2 || mtype === 3 : mtype === 1) {
          this.flipped = true;
          this.hist = '^';
        }
      }
      const role = isOrig !== this.flipped;
      const s = this.sides[role ? 1 : 0];
      if (mseq < s.nextSeq || s.encrypted) continue;
      if (foff === 0 && flen === mlen) {
        s.nextSeq = mseq + 1;
        s.frag = null;
        this.message(role, s, mtype, buf, body, body + mlen);
        continue;
      }
      if (s.frag === null || s.fragSeq !== mseq || s.frag.length !== mlen) {
        if (foff !== 0) continue;
        s.frag = Buffer.allocUnsafe(mlen);
        s.fragSeq = mseq;
        s.fragHave = 0;
      }
      // A fragment beyond a hole waits for its retransmission.
      if (foff > s.fragHave) continue;
      buf.copy(s.frag, foff, body, body + flen);
      s.fragHave = Math.max(s.fragHave, foff + flen);
      if (s.fragHave === mlen) {
        const m = s.frag;
        s.frag = null;
        s.nextSeq = mseq + 1;
        this.message(role, s, mtype, m, 0, mlen);
      }
    }
  }

  /** While probing, reject from the first bytes without waiting for a whole header. */
  private plausiblePrefix(isOrig: boolean, buf: Buffer, off: number, end: number): boolean {
    if (this.state !== 'probing') return true;
    if (buf[off] !== 22 || (end - off > 1 && buf[off + 1] !== 3)) {
      this.reject('tls-not-handshake', 'not a TLS handshake record', isOrig, this.curTs);
      return false;
    }
    return true;
  }

  private handshake(isOrig: boolean, s: Side, buf: Buffer, off: number, end: number): void {
    let src = buf;
    let p = off;
    let e = end;
    if (s.hs.length > 0) {
      src = Buffer.concat([s.hs, buf.subarray(off, end)]);
      p = 0;
      e = src.length;
    }
    while (e - p >= 4 && !s.encrypted && this.active) {
      const mtype = src[p];
      const mlen = src.readUIntBE(p + 1, 3);
      if (mlen > this.maxBuffer) {
        this.fail('tls-handshake-limit', `handshake message of ${mlen} bytes exceeds the buffer bound`, isOrig, this.curTs, 0, 'limit');
        return;
      }
      if (e - p < 4 + mlen) break;
      this.message(isOrig, s, mtype, src, p + 4, p + 4 + mlen);
      p += 4 + mlen;
    }
    s.hs = p < e && !s.encrypted ? Buffer.from(src.subarray(p, e)) : Buffer.alloc(0);
  }

  private message(isOrig: boolean, s: Side, mtype: number, buf: Buffer, off: number, end: number): void {
    this.history(isOrig, HISTORY_LETTERS[mtype] ?? 'z');
    try {
      if (isOrig && mtype === 1 && this.client === null) {
        this.client = parseClientHello(buf, off, end, this.dtls);
        this.confirm();
      } else if (!isOrig && mtype === 2 && this.server === null) {
        this.server = parseServerHello(buf, off, end);
        this.confirm();
        // TLS 1.3: everything after ServerHello is encrypted in both directions.
        if (isTls13(this.server.selectedVersion ?? this.server.version)) {
          s.encrypted = true;
          this.sides[1].encrypted = true;
        }
      } else if (mtype === 11) {
        this.certificates(isOrig, buf, off, end);
      } else if (!isOrig && mtype === 12 && this.server !== null && this.curve === null) {
        // ECDHE ServerKeyExchange: curve type 3 (named_curve), then the group (RFC 8422 5.4).
        const name = CIPHER_NAMES[this.server.cipher] ?? '';
        if ((name.includes('_ECDHE_') || name.includes('_ECDH_ANON_')) && end - off >= 3 && buf[off] === 3) this.curve = buf.readUInt16BE(off + 1);
      } else if (this.state === 'probing') {
        this.reject('tls-first-message', `first handshake message has type ${mtype}`, isOrig, this.curTs);
      }
    } catch (e) {
      if (!(e instanceof Fault)) throw e;
      this.violation(e.code, e.message, isOrig, this.curTs);
    }
  }

  /** A Certificate message (TLS <= 1.2): the server's chain is decoded; both chains are fingerprinted (SHA-256 of the DER, as Zeek's cert_chain_fps). */
  private certificates(isOrig: boolean, buf: Buffer, off: number, end: number): void {
    const c = new Cur(buf, off, end);
    const n = c.u8('certificate list length') * 65536 + c.u16('certificate list length');
    c.need(n, 'certificate list');
    const listEnd = c.pos + n;
    let count = 0;
    while (c.pos < listEnd && count++ < MAX_CERTS) {
      const len = c.u8('certificate length') * 65536 + c.u16('certificate length');
      c.need(len, 'certificate');
      // Zeek starts both chains at the first certificate of either side.
      this.serverFps ??= [];
      this.clientFps ??= [];
      (isOrig ? this.clientFps : this.serverFps).push(
        createHash('sha256')
          .update(buf.subarray(c.pos, c.pos + len))
          .digest('hex'),
      );
      if (!isOrig) {
        try {
          if (this.certs.length === 0) this.leafNames = certificateHostNames(buf, c.pos, c.pos + len);
          this.certs.push(parseCertificate(buf, c.pos, c.pos + len));
        } catch (e) {
          if (!(e instanceof Fault)) throw e;
          this.violation(e.code, e.message, false, this.curTs);
        }
      }
      c.pos += len;
    }
  }

  /** Zeek's ssl_history: a letter per handshake message and cleartext record event, upper case from the client. */
  private history(isOrig: boolean, letter: string): void {
    if (this.hist.length < MAX_HISTORY) this.hist += isOrig ? letter.toUpperCase() : letter;
  }

  protected override onEnd(_ts: number): void {
    if (this.client === null && this.server === null) return;
    this.sink(this.toRecord());
  }

  toRecord(): TlsLogRecord {
    const ch = this.client;
    const sh = this.server;
    const v = sh !== null ? (sh.selectedVersion ?? sh.version) : null;
    const resumed = ch !== null && sh !== null && !isTls13(v ?? 0) && sh.sessionId.length > 0 && sh.sessionId.equals(ch.sessionId);
    return {
      kind: 'tls',
      ts: this.firstTs,
      version: v !== null ? versionName(v) : null,
      cipher: sh !== null ? cipherName(sh.cipher) : null,
      cipher_id: sh?.cipher ?? null,
      curve: this.curve !== null ? groupName(this.curve) : sh?.keyShareGroup != null ? groupName(sh.keyShareGroup) : null,
      server_name: ch?.sni ?? null,
      last_alert: this.lastAlert !== null ? alertName(this.lastAlert) : null,
      next_protocol: sh?.alpn ?? null,
      established: this.established,
      resumed,
      ssl_history: this.hist === '' ? null : this.hist,
      cert_chain_fps: this.serverFps?.slice() ?? null,
      client_cert_chain_fps: this.clientFps?.slice() ?? null,
      sni_matches_cert: ch?.sni != null && this.leafNames !== null ? this.leafNames.some((n) => hostNameMatches(ch.sni!, n)) : null,
      client_version: ch?.version ?? null,
      client_supported_versions: ch?.supportedVersions.filter((x) => !isGrease(x)) ?? [],
      client_ciphers: ch?.ciphers.filter((x) => !isGrease(x)) ?? [],
      client_alpn: ch?.alpn ?? [],
      ja3: ch !== null ? ja3(ch) : null,
      ja3_string: ch !== null ? ja3String(ch) : null,
      ja3s: sh !== null ? ja3s(sh) : null,
      ja3s_string: sh !== null ? ja3sString(sh) : null,
      ja4: ch !== null ? ja4(ch, this.dtls ? 'd' : 't') : null,
      certificates: this.certs.slice(),
      subject: this.certs[0]?.subject ?? null,
      issuer: this.certs[0]?.issuer ?? null,
    };
  }
}
