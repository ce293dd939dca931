/**
 * DNS (RFC 1035, 2782, 3596) over UDP (one message per datagram) and TCP (2-byte length prefix,
 * messages in any chunking), with request/response pairing by id and question, and Zeek-shaped
 * dns.log records.
 *
 * Hostile-input rules: every read is bounds-checked against the message end; compression pointers
 * may only point backwards (so no loop is possible) and a name is bounded to 255 wire bytes and
 * 128 labels; section counts are bounded by the bytes left (an RR needs at least 11 bytes).
 */
import { formatIPv6 } from '../record/address';
import { type AnalyzerOptions, BaseAnalyzer, StreamBuffer } from './analyzer';
import type { DnsLogRecord, DnsResourceRecord } from '../record/app';

/** Zeek's names of query types (base/protocols/dns/consts.zeek `query_types`); others are 'query-N'. */
export const DNS_TYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  3: 'MD',
  4: 'MF',
  5: 'CNAME',
  6: 'SOA',
  7: 'MB',
  8: 'MG',
  9: 'MR',
  10: 'NULL',
  11: 'WKS',
  12: 'PTR',
  13: 'HINFO',
  14: 'MINFO',
  15: 'MX',
  16: 'TXT',
  17: 'RP',
  18: 'AFSDB',
  19: 'X25',
  20: 'ISDN',
  21: 'RT',
  22: 'NSAP',
  23: 'NSAP-PTR',
  24: 'SIG',
  25: 'KEY',
  26: 'PX',
  27: 'GPOS',
  28: 'AAAA',
  29: 'LOC',
  30: 'NXT',
  31: 'EID',
  32: 'NIMLOC',
  33: 'SRV',
  34: 'ATMA',
  35: 'NAPTR',
  36: 'KX',
  37: 'CERT',
  38: 'A6',
  39: 'DNAME',
  40: 'SINK',
  41: 'OPT',
  42: 'APL',
  43: 'DS',
  44: 'SSHFP',
  45: 'IPSECKEY',
  46: 'RRSIG',
  47: 'NSEC',
  48: 'DNSKEY',
  49: 'DHCID',
  50: 'NSEC3',
  51: 'NSEC3PARAM',
  52: 'TLSA',
  53: 'SMIMEA',
  55: 'HIP',
  56: 'NINFO',
  57: 'RKEY',
  58: 'TALINK',
  59: 'CDS',
  60: 'CDNSKEY',
  61: 'OPENPGPKEY',
  62: 'CSYNC',
  63: 'ZONEMD',
  64: 'SVCB',
  65: 'HTTPS',
  99: 'SPF',
  100: 'UINFO',
  101: 'UID',
  102: 'GID',
  103: 'UNSPEC',
  104: 'NID',
  105: 'L32',
  106: 'L64',
  107: 'LP',
  108: 'EUI48',
  109: 'EUI64',
  249: 'TKEY',
  250: 'TSIG',
  251: 'IXFR',
  252: 'AXFR',
  253: 'MAILB',
  254: 'MAILA',
  255: '*',
  256: 'URI',
  257: 'CAA',
  32768: 'TA',
  32769: 'DLV',
  65281: 'WINS',
  65282: 'WINS-R',
  65422: 'XPF',
  65521: 'INTEGRITY',
};
/** Zeek's `base_errors` (its spelling: NXRRSet); others are 'rcode-N'. */
export const DNS_RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSet',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  11: 'unassigned-11',
  12: 'unassigned-12',
  13: 'unassigned-13',
  14: 'unassigned-14',
  15: 'unassigned-15',
  16: 'BADVERS',
  17: 'BADKEY',
  18: 'BADTIME',
  19: 'BADMODE',
  20: 'BADNAME',
  21: 'BADALG',
  22: 'BADTRUNC',
  23: 'BADCOOKIE',
  3842: 'BADSIG',
};
export const DNS_CLASS_NAMES: Record<number, string> = {
  1: 'C_INTERNET',
  2: 'C_CSNET',
  3: 'C_CHAOS',
  4: 'C_HESIOD',
  254: 'C_NONE',
  255: 'C_ANY',
};
/** Zeek's `opcodes`; others are 'opcode-N'. */
export const DNS_OPCODE_NAMES: Record<number, string> = { 0: 'query', 1: 'iquery', 2: 'server-status', 4: 'notify', 5: 'dynamic-update', 6: 'dso' };
/** Zeek's `netbios_opcodes` for NetBIOS name service (port 137). */
export const NETBIOS_OPCODE_NAMES: Record<number, string> = {
  0: 'netbios-query',
  5: 'netbios-registration',
  6: 'netbios-release',
  7: 'netbios-wack',
  8: 'netbios-refresh',
};
/** Opcodes Zeek logs (query, notify, dynamic update); it keeps no record of the others. */
const LOGGED_OPCODES = (1 << 0) | (1 << 4) | (1 << 5);

const MAX_NAME_WIRE = 255;
const MAX_LABELS = 128;
/** Questions per message: real resolvers send one; a bound keeps a hostile count cheap. */
const MAX_QUESTIONS = 32;
/** Unanswered queries held per connection for pairing. */
const MAX_PENDING = 256;

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

/** A decoded message. */
export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  z: number;
  rcode: number;
  questions: DnsQuestion[];
  rrs: DnsResourceRecord[];
}

export type DnsParseResult =
  | { ok: true; msg: DnsMessage }
  | {
      ok: false;
      code: string;
      message: string;
      offset: number;
      /**
       * The header, questions and answers, when the fault came after them (in the authority or
       * additional section): Zeek's DNS analyzer confirms at that point (a truncated EDNS OPT
       * record in geneve-vxlan-dns-truncated.pcap still makes the service dns).
       */
      answered?: DnsMessage;
    };

/** Faults of a message cut short (snap length, a lying count): Zeek notes them as weirds, never as protocol violations. */
export const DNS_TRUNCATION_FAULTS: ReadonlySet<string> = new Set([
  'dns-short-header',
  'dns-rr-count',
  'dns-truncated-question',
  'dns-truncated-rr',
  'dns-truncated-rdata',
  'dns-name-truncated',
]);

/** The message parsed up to its answers, set by parseOrFault (one per module: parsing never nests). */
let answeredSoFar: DnsMessage | null = null;

/** Parse failure carrying the offset within the message; internal to the parser, never escapes parseDnsMessage. */
class DnsFault {
  constructor(
    readonly code: string,
    readonly message: string,
    readonly offset: number,
  ) {}
}

/** Parses one DNS message occupying buf[off, off+len). Never throws. */
export function parseDnsMessage(buf: Buffer, off: number, len: number): DnsParseResult {
  answeredSoFar = null;
  try {
    return { ok: true, msg: parseOrFault(buf, off, off + len) };
  } catch (e) {
    if (e instanceof DnsFault) {
      const answered = answeredSoFar;
      answeredSoFar = null;
      return answered === null
        ? { ok: false, code: e.code, message: e.message, offset: e.offset }
        : { ok: false, code: e.code, message: e.message, offset: e.offset, answered };
    }
    return { ok: false, code: 'dns-internal', message: String(e), offset: 0 };
  }
}

function parseOrFault(buf: Buffer, start: number, end: number): DnsMessage {
  if (end - start < 12) throw new DnsFault('dns-short-header', `message of ${end - start} bytes, header needs 12`, 0);
  const id = buf.readUInt16BE(start);
  const flags = buf.readUInt16BE(start + 2);
  const qd = buf.readUInt16BE(start + 4);
  const an = buf.readUInt16BE(start + 6);
  const ns = buf.readUInt16BE(start + 8);
  const ar = buf.readUInt16BE(start + 10);
  if (qd > MAX_QUESTIONS) throw new DnsFault('dns-question-count', `${qd} questions`, 4);
  // Each RR takes at least 11 bytes: a count beyond that is a lie, refuse before looping on it.
  if ((an + ns + ar) * 11 + qd * 5 > end - start - 12) {
    throw new DnsFault('dns-rr-count', `counts ${qd}/${an}/${ns}/${ar} exceed the ${end - start}-byte message`, 4);
  }
  const msg: DnsMessage = {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    z: (flags >> 4) & 0x7,
    rcode: flags & 0xf,
    questions: [],
    rrs: [],
  };
  const r = new NameReader(buf, start, end);
  let pos = start + 12;
  for (let i = 0; i < qd; i++) {
    const name = r.read(pos);
    pos = r.next;
    if (pos + 4 > end) throw new DnsFault('dns-truncated-question', 'question truncated', pos - start);
    msg.questions.push({ name, type: buf.readUInt16BE(pos), class: buf.readUInt16BE(pos + 2) });
    pos += 4;
  }
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    if (i === an) answeredSoFar = msg;
    const section = i < an ? 'answer' : i < an + ns ? 'authority' : 'additional';
    const name = r.read(pos);
    pos = r.next;
    if (pos + 10 > end) throw new DnsFault('dns-truncated-rr', 'resource record header truncated', pos - start);
    const type = buf.readUInt16BE(pos);
    const cls = buf.readUInt16BE(pos + 2);
    const ttl = buf.readUInt32BE(pos + 4);
    const rdlen = buf.readUInt16BE(pos + 8);
    pos += 10;
    if (pos + rdlen > end) throw new DnsFault('dns-truncated-rdata', `rdata of ${rdlen} bytes past the message end`, pos - start);
    msg.rrs.push(rdata(r, section, name, type, cls, ttl, pos, rdlen));
    pos += rdlen;
  }
  return msg;
}

function rdata(
  r: NameReader,
  section: DnsResourceRecord['section'],
  name: string,
  type: number,
  cls: number,
  ttl: number,
  pos: number,
  rdlen: number,
): DnsResourceRecord {
  const buf = r.buf;
  const rdEnd = pos + rdlen;
  const rr: DnsResourceRecord = { section, name, type, type_name: typeName(type), class: cls, ttl, data: '', rdlength: rdlen };
  const bad = (): never => {
    throw new DnsFault('dns-bad-rdata', `${rr.type_name} rdata of ${rdlen} bytes is malformed`, pos - r.start);
  };
  // Names inside rdata must end inside the rdata.
  const nameIn = (p: number): string => {
    const n = r.read(p);
    if (r.next > rdEnd) bad();
    return n;
  };
  switch (type) {
    case 1:
      if (rdlen !== 4) bad();
      rr.data = `${buf[pos]}.${buf[pos + 1]}.${buf[pos + 2]}.${buf[pos + 3]}`;
      break;
    case 28:
      if (rdlen !== 16) bad();
      rr.data = formatIPv6(buf, pos);
      break;
    case 2:
    case 5:
    case 12:
      // Zeek lowercases every name it extracts from rdata.
      rr.data = nameIn(pos).toLowerCase();
      break;
    case 15: {
      if (rdlen < 3) bad();
      const exchange = nameIn(pos + 2);
      rr.mx = { preference: buf.readUInt16BE(pos), exchange };
      rr.data = exchange.toLowerCase();
      break;
    }
    case 33: {
      if (rdlen < 7) bad();
      const target = nameIn(pos + 6);
      rr.srv = { priority: buf.readUInt16BE(pos), weight: buf.readUInt16BE(pos + 2), port: buf.readUInt16BE(pos + 4), target };
      rr.data = target.toLowerCase();
      break;
    }
    case 6: {
      const mname = nameIn(pos);
      const rname = nameIn(r.next);
      const p = r.next;
      if (p + 20 > rdEnd) bad();
      rr.soa = {
        mname,
        rname,
        serial: buf.readUInt32BE(p),
        refresh: buf.readUInt32BE(p + 4),
        retry: buf.readUInt32BE(p + 8),
        expire: buf.readUInt32BE(p + 12),
        minimum: buf.readUInt32BE(p + 16),
      };
      rr.data = mname.toLowerCase();
      break;
    }
    case 16: {
      const txt: string[] = [];
      let p = pos;
      while (p < rdEnd) {
        const l = buf[p];
        if (p + 1 + l > rdEnd) bad();
        txt.push(printable(buf, p + 1, p + 1 + l));
        p += 1 + l;
      }
      rr.txt = txt;
      // Zeek's rendering: every character-string as 'TXT <len> <text>', space separated.
      rr.data = renderTxt(buf, pos, rdEnd, 'TXT');
      break;
    }
    case 99: {
      // SPF: TXT's wire form, Zeek's rendering with 'SPF'.
      let p = pos;
      while (p < rdEnd) {
        if (p + 1 + buf[p] > rdEnd) bad();
        p += 1 + buf[p];
      }
      rr.data = renderTxt(buf, pos, rdEnd, 'SPF');
      break;
    }
    case 11:
      // WKS: Zeek calls its reply hook with an empty string (sets AA/RA/rtt, adds no answer).
      rr.data = '';
      break;
    case 38:
      // A6 goes through Zeek's AAAA parser: 16 address bytes.
      if (rdlen !== 16) bad();
      rr.data = formatIPv6(buf, pos);
      break;
    case 35: {
      // NAPTR: order, preference, flags, service, regexp, replacement (RFC 3403).
      if (rdlen < 7) bad();
      let p = pos + 4;
      const strs: string[] = [];
      for (let i = 0; i < 3; i++) {
        if (p >= rdEnd || p + 1 + buf[p] > rdEnd) bad();
        strs.push(printable(buf, p + 1, p + 1 + buf[p]));
        p += 1 + buf[p];
      }
      const replacement = nameIn(p).toLowerCase();
      const tail = strs[2].length > 0 ? (replacement.length > 0 ? `${strs[2]} ${replacement}` : strs[2]) : replacement;
      rr.data = `NAPTR ${buf.readUInt16BE(pos)} ${buf.readUInt16BE(pos + 2)} ${strs[0]} ${strs[1]} ${tail}`;
      break;
    }
    case 43:
      // DS: key tag, algorithm, digest type, digest (RFC 4034 5.1); Zeek logs 'DS <algorithm> <digest type>'.
      if (rdlen < 4) bad();
      rr.data = `DS ${buf[pos + 2]} ${buf[pos + 3]}`;
      break;
    case 48:
      // DNSKEY: flags, protocol, algorithm, key (RFC 4034 2.1); Zeek logs 'DNSKEY <algorithm>'.
      if (rdlen < 4) bad();
      rr.data = `DNSKEY ${buf[pos + 3]}`;
      break;
    case 46: {
      // RRSIG: type covered, algorithm, labels, original TTL, expiration, inception, key tag, signer (RFC 4034 3.1).
      if (rdlen < 19) bad();
      const signer = nameIn(pos + 18).toLowerCase();
      rr.data = `RRSIG ${buf.readUInt16BE(pos)} ${signer === '' ? '<Root>' : signer}`;
      break;
    }
    case 47:
      // NSEC: next domain name, type bitmaps (RFC 4034 4.1); Zeek logs 'NSEC <owner> <next>'.
      rr.data = `NSEC ${name.toLowerCase()} ${nameIn(pos).toLowerCase()}`;
      break;
    case 50:
      rr.data = 'NSEC3';
      break;
    case 51:
      rr.data = 'NSEC3PARAM';
      break;
    case 65534:
      // BIND 9's private type for its zone-signing state.
      rr.data = 'BIND9 signing signal';
      break;
    case 44:
      // SSHFP: algorithm, fingerprint type, fingerprint (RFC 4255); Zeek logs the fingerprint in hex.
      if (rdlen < 2) bad();
      rr.data = `SSHFP: ${buf.toString('hex', pos + 2, rdEnd)}`;
      break;
    case 29:
      // LOC: version, size, horizontal and vertical precision, ... (RFC 1876); Zeek logs the three bytes raw.
      if (rdlen < 16) bad();
      rr.data = `LOC:  ${buf[pos + 1]} ${buf[pos + 2]} ${buf[pos + 3]}`;
      break;
    case 13:
    case 41:
    case 64:
    case 65:
    case 249:
    case 250:
    case 257:
      // Parsed by Zeek, but its scripts log nothing of them (HINFO, OPT, SVCB, HTTPS, TKEY, TSIG, CAA).
      rr.data = '';
      rr.silent = true;
      break;
    default:
      rr.data = `<unknown type=${type}>`;
  }
  return rr;
}

function renderTxt(buf: Buffer, pos: number, end: number, tag: 'TXT' | 'SPF'): string {
  const parts: string[] = [];
  let p = pos;
  while (p < end) {
    const l = buf[p];
    parts.push(`${tag} ${l} ${printable(buf, p + 1, p + 1 + l)}`);
    p += 1 + l;
  }
  return parts.join(' ');
}

export function typeName(t: number): string {
  return DNS_TYPE_NAMES[t] ?? `query-${t}`;
}

/**
 * Reads (possibly compressed) names of one message. Pointers must point strictly before the
 * pointer itself, so following them always moves backwards and terminates; a name is bounded to
 * 255 wire bytes and 128 labels. `next` is the offset after the name at its original position.
 */
class NameReader {
  next = 0;
  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
  ) {}

  read(pos: number): string {
    const { buf, start, end } = this;
    // The name is assembled in a scratch buffer and made a string once: no string per label.
    const out = NAME_SCRATCH;
    let n = 0;
    let p = pos;
    let wire = 0;
    let labels = 0;
    let jumped = false;
    let lowest = pos;
    for (;;) {
      if (p >= end) throw new DnsFault('dns-name-truncated', 'name runs past the message end', p - start);
      const l = buf[p];
      if (l === 0) {
        if (!jumped) this.next = p + 1;
        return n === 0 ? '' : out.toString('latin1', 0, n);
      }
      const top = l & 0xc0;
      if (top === 0xc0) {
        if (p + 1 >= end) throw new DnsFault('dns-name-truncated', 'compression pointer truncated', p - start);
        const target = start + (((l & 0x3f) << 8) | buf[p + 1]);
        if (!jumped) this.next = p + 2;
        // Backwards only, and before every byte of this name already read: no loops.
        if (target >= lowest) throw new DnsFault('dns-name-pointer', `compression pointer to ${target - start} does not point backwards`, p - start);
        jumped = true;
        lowest = target;
        p = target;
        continue;
      }
      if (top !== 0) throw new DnsFault('dns-name-label-type', `label type 0x${top.toString(16)} not supported`, p - start);
      if (p + 1 + l > end) throw new DnsFault('dns-name-truncated', 'label runs past the message end', p - start);
      wire += l + 1;
      if (wire + 1 > MAX_NAME_WIRE || ++labels > MAX_LABELS) throw new DnsFault('dns-name-too-long', 'name longer than 255 bytes', p - start);
      if (n > 0) out[n++] = 0x2e;
      n = printableInto(buf, p + 1, p + 1 + l, out, n);
      p += 1 + l;
    }
  }
}

/** A name is at most 255 wire bytes, each escaped to at most 4 characters. */
const NAME_SCRATCH = Buffer.alloc(MAX_NAME_WIRE * 4);

/** Writes label bytes into `out` at `n` as printable() renders them; returns the new end. */
function printableInto(buf: Buffer, a: number, b: number, out: Buffer, n: number): number {
  for (let i = a; i < b; i++) {
    const c = buf[i];
    if (c < 0x20 || c > 0x7e || c === 0x5c) {
      out[n++] = 0x5c; // \xHH
      out[n++] = 0x78;
      out[n++] = HEX[c >> 4];
      out[n++] = HEX[c & 15];
    } else out[n++] = c;
  }
  return n;
}
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Label/text bytes as text, with non-printable bytes escaped as \xHH (as Zeek does). */
function printable(buf: Buffer, a: number, b: number): string {
  let plain = true;
  for (let i = a; i < b; i++) {
    const c = buf[i];
    if (c < 0x20 || c > 0x7e || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return buf.toString('latin1', a, b);
  let s = '';
  for (let i = a; i < b; i++) {
    const c = buf[i];
    s += c < 0x20 || c > 0x7e || c === 0x5c ? `\\x${c.toString(16).padStart(2, '0')}` : String.fromCharCode(c);
  }
  return s;
}

interface PendingQuery {
  ts: number;
  msg: DnsMessage;
}

/**
 * One connection's DNS. UDP: each `data` call is a datagram. TCP: each direction is a stream of
 * length-prefixed messages.
 */
/** Zeek's default `dns_max_queries`. */
export const DEFAULT_DNS_MAX_QUERIES = 25;

export class DnsAnalyzer extends BaseAnalyzer {
  readonly name = 'dns';
  /** Messages parsed (both directions). */
  messages = 0;
  /** Queries awaiting their response, by id; made on the first query (a connection lives long after its exchange). */
  private pending: Map<number, PendingQuery[]> | null = null;
  private pendingCount = 0;
  private readonly streams: [StreamBuffer, StreamBuffer] | null;
  /** Per-call context for the TCP frame parser (kept on the instance: no closure per segment). */
  private curTs = 0;

  private readonly maxQueries: number;

  constructor(opts: AnalyzerOptions) {
    super(opts);
    this.maxQueries = opts.dnsMaxQueries ?? DEFAULT_DNS_MAX_QUERIES;
    this.streams =
      opts.transport === 'tcp'
        ? [new StreamBuffer(this.maxBuffer, (b, o, e) => this.frame(false, b, o, e)), new StreamBuffer(this.maxBuffer, (b, o, e) => this.frame(true, b, o, e))]
        : null;
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.streams === null) {
      this.message(isOrig, buf, off, len, ts, 0);
      return;
    }
    this.curTs = ts;
    if (!this.streams[isOrig ? 1 : 0].feed(buf, off, len)) {
      this.fail('dns-buffer-limit', `a DNS/TCP message exceeds the ${this.maxBuffer}-byte buffer bound`, isOrig, ts, 0, 'limit');
    }
  }

  private frame(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!this.active) return -1;
    if (end - off < 2) return 0;
    const mlen = buf.readUInt16BE(off);
    if (mlen < 12) {
      this.reject('dns-tcp-length', `DNS/TCP length prefix ${mlen} is shorter than a header`, isOrig, this.curTs);
      return -1;
    }
    if (end - off < 2 + mlen) {
      // While probing, judge the header as soon as it is here rather than buffer a bogus length's worth.
      if (this.state === 'probing' && end - off >= 14 && !plausibleHeader(buf, off + 2, mlen)) {
        this.reject('dns-implausible', 'DNS/TCP header implausible for its length prefix', isOrig, this.curTs);
        return -1;
      }
      // Refuse to wait for a message larger than we may buffer.
      if (2 + mlen > this.maxBuffer) {
        this.fail('dns-buffer-limit', `DNS/TCP message of ${mlen} bytes exceeds the buffer bound`, isOrig, this.curTs, 0, 'limit');
        return -1;
      }
      return 0;
    }
    const at = this.streams![isOrig ? 1 : 0].consumed - this.seen(isOrig);
    this.message(isOrig, buf, off + 2, mlen, this.curTs, at + 2);
    return this.active ? 2 + mlen : -1;
  }

  private message(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number, at: number): void {
    const r = parseDnsMessage(buf, off, len);
    let m: DnsMessage;
    if (r.ok) m = r.msg;
    else if (r.answered !== undefined) m = r.answered;
    else {
      // A message cut short after confirmation is a weird to Zeek: the service stays.
      if (this.state !== 'probing' && DNS_TRUNCATION_FAULTS.has(r.code)) return;
      this.violation(r.code, r.message, isOrig, ts, at + r.offset);
      return;
    }
    // Plausibility for detection: opcodes in use, a query has a question and no rcode.
    if (this.state === 'probing') {
      if (m.opcode > 5 || m.opcode === 3 || (!m.qr && (m.questions.length === 0 || m.rcode !== 0))) {
        this.reject('dns-implausible', `opcode ${m.opcode}, qr ${m.qr}, ${m.questions.length} questions, rcode ${m.rcode}`, isOrig, ts, at);
        return;
      }
    }
    // Zeek's dns_max_queries: a violation, and the analysis stops short. Judged on a message that is
    // DNS otherwise (we probe every datagram, Zeek only DNS ports: a QUIC packet is no DNS message).
    if (this.maxQueries > 0 && m.questions.length > this.maxQueries) {
      this.analysisPartial();
      this.violation('dns-max-queries', `${m.questions.length} questions, above the limit of ${this.maxQueries}`, isOrig, ts, at + 4);
      return;
    }
    if (this.state === 'probing') this.confirm();
    this.messages++;
    if (!m.qr) this.request(m, ts);
    else this.response(m, ts);
  }

  private request(m: DnsMessage, ts: number): void {
    if (this.pendingCount >= MAX_PENDING) this.flushOldest();
    this.pending ??= new Map();
    const pending = this.pending;
    let q = pending.get(m.id);
    if (q === undefined) {
      q = [];
      pending.set(m.id, q);
    }
    q.push({ ts, msg: m });
    this.pendingCount++;
  }

  private response(m: DnsMessage, ts: number): void {
    const q = this.pending?.get(m.id);
    let req: PendingQuery | undefined;
    if (q !== undefined) {
      // Pair by id, and by question when the response repeats it (it normally does).
      let i = 0;
      if (m.questions.length > 0) {
        const mq = m.questions[0];
        const j = q.findIndex((p) => p.msg.questions.length > 0 && sameQuestion(p.msg.questions[0], mq));
        if (j >= 0) i = j;
      }
      req = q.splice(i, 1)[0];
      this.pendingCount--;
      if (q.length === 0) {
        this.pending!.delete(m.id);
        if (this.pending!.size === 0) this.pending = null;
      }
    }
    this.emit(req, m, ts);
  }

  private flushOldest(): void {
    if (this.pending === null) return;
    let oldestId = -1;
    let oldestTs = Infinity;
    for (const [id, q] of this.pending) {
      if (q[0].ts < oldestTs) {
        oldestTs = q[0].ts;
        oldestId = id;
      }
    }
    const q = this.pending.get(oldestId);
    if (q === undefined) return;
    const p = q.shift()!;
    this.pendingCount--;
    if (q.length === 0) this.pending.delete(oldestId);
    this.emit(p, undefined, p.ts);
  }

  protected override onGap(isOrig: boolean, len: number): void {
    if (this.streams === null) return;
    // Length-prefixed framing cannot be recovered inside a gap.
    super.onGap(isOrig, len);
  }

  /**
   * Nothing for `end` to log: no query waiting for its response (asked once both streams of a
   * DNS/TCP connection ended, so that its analysis goes before the connection leaves the table).
   */
  get finished(): boolean {
    return this.state === 'probing' || this.state === 'rejected' || this.pending === null;
  }

  protected override onEnd(_ts: number): void {
    if (this.pending === null) return;
    const all: PendingQuery[] = [];
    for (const q of this.pending.values()) all.push(...q);
    all.sort((a, b) => a.ts - b.ts);
    this.pending = null;
    this.pendingCount = 0;
    for (const p of all) this.emit(p, undefined, p.ts);
  }

  /**
   * One dns.log record as Zeek's base scripts fill it: the question, RD, TC and Z come from the
   * request only (a response alone leaves them unset and takes its query name from its first
   * answer); AA, RA and rtt are set by the first answer Zeek logs, so a response without one
   * leaves them false/unset; a response with no records at all, or failing without a question,
   * is `rejected`. Opcodes other than query, notify and update are not logged.
   */
  private emit(req: PendingQuery | undefined, resp: DnsMessage | undefined, respTs: number): void {
    const head = resp ?? req!.msg;
    if ((LOGGED_OPCODES & (1 << head.opcode)) === 0) return;
    const q = req?.msg.questions[0];
    let answers: string[] | null = null;
    let ttls: number[] | null = null;
    let firstAnswer: string | null = null;
    if (resp !== undefined) {
      for (const rr of resp.rrs) {
        if (rr.section !== 'answer' || rr.silent) continue;
        firstAnswer ??= rr.name;
        if (rr.data === '') continue;
        if (answers === null || ttls === null) {
          answers = [];
          ttls = [];
        }
        answers.push(rr.data);
        ttls.push(rr.ttl);
      }
    }
    const replied = firstAnswer !== null;
    const rtt = replied && req !== undefined ? respTs - req.ts : 0;
    const rec: DnsLogRecord = {
      kind: 'dns',
      ts: req?.ts ?? respTs,
      proto: this.transport,
      trans_id: head.id,
      rtt: rtt > 0 ? rtt : null,
      // Zeek logs names lowercased (names are case-insensitive, RFC 4343); rrs keep the case sent.
      query: (q?.name ?? firstAnswer)?.toLowerCase() ?? null,
      qclass: q?.class ?? null,
      qclass_name: q !== undefined ? (DNS_CLASS_NAMES[q.class] ?? `qclass-${q.class}`) : null,
      qtype: q?.type ?? null,
      qtype_name: q !== undefined ? typeName(q.type) : null,
      rcode: resp?.rcode ?? null,
      rcode_name: resp !== undefined ? (DNS_RCODE_NAMES[resp.rcode] ?? `rcode-${resp.rcode}`) : null,
      AA: replied && resp!.aa,
      TC: req?.msg.tc ?? false,
      RD: req?.msg.rd ?? false,
      RA: replied && resp!.ra,
      Z: req?.msg.z ?? 0,
      answers,
      TTLs: ttls,
      rejected: resp !== undefined && ((resp.questions.length > 0 && resp.rrs.length === 0) || (resp.rcode !== 0 && resp.questions.length === 0)),
      opcode: head.opcode,
      opcode_name: DNS_OPCODE_NAMES[head.opcode] ?? `opcode-${head.opcode}`,
      rrs: resp?.rrs ?? [],
    };
    this.sink(rec);
  }
}

/**
 * A header (at `h`, of a `len`-byte message) that `message` would not reject while probing:
 * opcode in use, a query with a question and no rcode, counts that fit the length.
 */
export function plausibleHeader(buf: Buffer, h: number, len: number): boolean {
  const flags = buf.readUInt16BE(h + 2);
  const opcode = (flags >> 11) & 0xf;
  if (opcode > 5 || opcode === 3) return false;
  const qd = buf.readUInt16BE(h + 4);
  if ((flags & 0x8000) === 0 && (qd === 0 || (flags & 0xf) !== 0)) return false;
  const rrs = buf.readUInt16BE(h + 6) + buf.readUInt16BE(h + 8) + buf.readUInt16BE(h + 10);
  return qd <= MAX_QUESTIONS && rrs * 11 + qd * 5 <= len - 12;
}

function sameQuestion(a: DnsQuestion, b: DnsQuestion): boolean {
  return a.type === b.type && a.class === b.class && a.name.toLowerCase() === b.name.toLowerCase();
}

/**
 * A NetBIOS name service query name (RFC 1001 14.1 first-level encoding: each byte as two letters
 * 'A'..'P') decoded as Zeek's decode_netbios_name does: exactly 32 letters, decoding stops at the
 * first byte that is not alphanumeric, punctuation, space or below 3; the 16th byte (the suffix)
 * is dropped, then trailing spaces and NULs. Returns '' when the name is no such encoding.
 */
export function decodeNetbiosName(name: string): string {
  if (name.length !== 32) return '';
  let out = '';
  let kept = 0;
  let stopped = false;
  for (let i = 0; i < 16; i++) {
    const c0 = name.charCodeAt(2 * i) & ~0x20;
    const c1 = name.charCodeAt(2 * i + 1) & ~0x20;
    if (c0 < 0x41 || c0 > 0x50 || c1 < 0x41 || c1 > 0x50) return '';
    const b = ((c0 - 0x41) << 4) | (c1 - 0x41);
    if (stopped) continue;
    // isalnum || ispunct || space || < 3, in the C locale.
    if ((b >= 0x21 && b <= 0x7e) || b === 0x20 || b < 3) {
      out += String.fromCharCode(b);
      kept++;
    } else stopped = true;
  }
  if (kept === 16) out = out.slice(0, 15);
  let end = out.length;
  while (end > 0 && (out.charCodeAt(end - 1) === 0x20 || out.charCodeAt(end - 1) === 0)) end--;
  return out.slice(0, end);
}
