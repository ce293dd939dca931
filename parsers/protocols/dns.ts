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
  24: 'SIG',
  25: 'KEY',
  28: 'AAAA',
  29: 'LOC',
  32: 'NIMLOC',
  33: 'SRV',
  35: 'NAPTR',
  39: 'DNAME',
  41: 'OPT',
  43: 'DS',
  44: 'SSHFP',
  46: 'RRSIG',
  47: 'NSEC',
  48: 'DNSKEY',
  50: 'NSEC3',
  51: 'NSEC3PARAM',
  52: 'TLSA',
  64: 'SVCB',
  65: 'HTTPS',
  99: 'SPF',
  249: 'TKEY',
  250: 'TSIG',
  251: 'IXFR',
  252: 'AXFR',
  255: '*',
  256: 'URI',
  257: 'CAA',
};
export const DNS_RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
};
export const DNS_CLASS_NAMES: Record<number, string> = {
  1: 'C_INTERNET',
  2: 'C_CSNET',
  3: 'C_CHAOS',
  4: 'C_HESIOD',
  254: 'C_NONE',
  255: 'C_ANY',
};
const OPCODE_NAMES = ['query', 'inverse-query', 'status', 'opcode-3', 'notify', 'update'];

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

export type DnsParseResult = { ok: true; msg: DnsMessage } | { ok: false; code: string; message: string; offset: number };

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
  try {
    return { ok: true, msg: parseOrFault(buf, off, off + len) };
  } catch (e) {
    if (e instanceof DnsFault) return { ok: false, code: e.code, message: e.message, offset: e.offset };
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
      rr.data = nameIn(pos);
      break;
    case 15: {
      if (rdlen < 3) bad();
      const exchange = nameIn(pos + 2);
      rr.mx = { preference: buf.readUInt16BE(pos), exchange };
      rr.data = exchange;
      break;
    }
    case 33: {
      if (rdlen < 7) bad();
      const target = nameIn(pos + 6);
      rr.srv = { priority: buf.readUInt16BE(pos), weight: buf.readUInt16BE(pos + 2), port: buf.readUInt16BE(pos + 4), target };
      rr.data = target;
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
      rr.data = mname;
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
      rr.data = renderTxt(buf, pos, rdEnd);
      break;
    }
    default:
      rr.data = `<unknown type=${type}>`;
  }
  return rr;
}

function renderTxt(buf: Buffer, pos: number, end: number): string {
  const parts: string[] = [];
  let p = pos;
  while (p < end) {
    const l = buf[p];
    parts.push(`TXT ${l} ${printable(buf, p + 1, p + 1 + l)}`);
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

  constructor(opts: AnalyzerOptions) {
    super(opts);
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
    if (!r.ok) {
      this.violation(r.code, r.message, isOrig, ts, at + r.offset);
      return;
    }
    const m = r.msg;
    // Plausibility for detection: opcodes in use, a query has a question and no rcode.
    if (this.state === 'probing') {
      if (m.opcode > 5 || m.opcode === 3 || (!m.qr && (m.questions.length === 0 || m.rcode !== 0))) {
        this.reject('dns-implausible', `opcode ${m.opcode}, qr ${m.qr}, ${m.questions.length} questions, rcode ${m.rcode}`, isOrig, ts, at);
        return;
      }
      this.confirm();
    }
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

  protected override onEnd(_ts: number): void {
    if (this.pending === null) return;
    const all: PendingQuery[] = [];
    for (const q of this.pending.values()) all.push(...q);
    all.sort((a, b) => a.ts - b.ts);
    this.pending = null;
    this.pendingCount = 0;
    for (const p of all) this.emit(p, undefined, p.ts);
  }

  private emit(req: PendingQuery | undefined, resp: DnsMessage | undefined, respTs: number): void {
    const head = req?.msg ?? resp!;
    const q = req?.msg.questions[0] ?? resp?.questions[0];
    const answers: string[] = [];
    const ttls: number[] = [];
    if (resp !== undefined) {
      for (const rr of resp.rrs) {
        if (rr.section !== 'answer') continue;
        answers.push(rr.data);
        ttls.push(rr.ttl);
      }
    }
    // As Zeek: a response without a question takes its query name from the first answer (mDNS).
    const firstAnswer = resp?.rrs.find((rr) => rr.section === 'answer');
    const rec: DnsLogRecord = {
      kind: 'dns',
      ts: req?.ts ?? respTs,
      proto: this.transport,
      trans_id: head.id,
      rtt: req !== undefined && resp !== undefined ? Math.max(0, respTs - req.ts) : null,
      // Zeek logs the query name lowercased (names are case-insensitive, RFC 4343); rrs keep the case sent.
      query: (q?.name ?? firstAnswer?.name)?.toLowerCase() ?? null,
      qclass: q?.class ?? null,
      qclass_name: q !== undefined ? (DNS_CLASS_NAMES[q.class] ?? `class-${q.class}`) : null,
      qtype: q?.type ?? null,
      qtype_name: q !== undefined ? typeName(q.type) : null,
      rcode: resp?.rcode ?? null,
      rcode_name: resp !== undefined ? (DNS_RCODE_NAMES[resp.rcode] ?? `rcode-${resp.rcode}`) : null,
      AA: resp?.aa ?? false,
      TC: resp?.tc ?? req?.msg.tc ?? false,
      RD: req?.msg.rd ?? resp?.rd ?? false,
      RA: resp?.ra ?? false,
      Z: head.z,
      answers: answers.length > 0 ? answers : null,
      TTLs: answers.length > 0 ? ttls : null,
      rejected: resp?.rcode === 5,
      opcode: head.opcode,
      opcode_name: OPCODE_NAMES[head.opcode] ?? `opcode-${head.opcode}`,
      rrs: resp?.rrs ?? [],
    };
    this.sink(rec);
  }
}

/**
 * A header (at `h`, of a `len`-byte message) that `message` would not reject while probing:
 * opcode in use, a query with a question and no rcode, counts that fit the length.
 */
function plausibleHeader(buf: Buffer, h: number, len: number): boolean {
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
