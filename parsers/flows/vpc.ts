/**
 * AWS VPC Flow Logs, text records: the default format (version 2,
 * `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status`)
 * or a custom field list, named by a header line (as S3 delivery writes it) or, where the delivery
 * carries none (CloudWatch Logs, Firehose), declared by the caller (`fields`: the flow log's
 * LogFormat, `${version} ${account-id} ...`, or the names comma-separated), versions 2-8.
 * Transit Gateway flow logs are the same records with their own fields (tgw-attachment-id in
 * place of interface-id, no action). Field reference:
 * https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
 *
 * Deliveries that wrap the records are unwrapped, each record read as a line would be:
 * - `{"message": "<record>"}` (a log event as CloudWatch Logs exports or Firehose delivers it);
 * - the CloudWatch Logs subscription payload `{"messageType": "DATA_MESSAGE", "logEvents": [{"message": ...}]}`
 *   (CONTROL_MESSAGE payloads carry no records and are ignored);
 * - its gzip+base64 form: a Firehose HTTP endpoint request `{"records": [{"data": "<base64>"}]}`,
 *   or a bare base64 line; the data gunzipped when it is gzip, then read as above or as record lines.
 * A unit with several records reports the ones it cannot read (by their index) in one line error
 * and keeps the others.
 *
 * A record covers ONE direction of a flow on one interface over one aggregation window. The two
 * directions of a conversation on one interface are paired into one connection by the stitcher
 * (parsers/netflow/stitch.ts: overlapping times, originator by SYN, then start, then server
 * port), within the records of one parse; a record left alone is marked `observed: 'one-way'`.
 * Mapping of one record, where the source cannot say more:
 * - Addresses: `pkt-srcaddr`/`pkt-dstaddr` when present (the packet's own addresses, e.g. pods
 *   behind a node's ENI), else `srcaddr`/`dstaddr`. Ports `-` (ICMP and others) become 0.
 * - ts = start, duration = end - start (whole seconds), packets -> *_pkts, bytes -> *_ip_bytes
 *   (VPC counts IP bytes); payload byte counts are unknown and stay 0.
 * - TCP with `tcp-flags` (v3+, flags OR-ed over the window: FIN 1, SYN 2, RST 4, ACK 16):
 *   SYN-ACK (18 set) means the source is the responder: the record is flipped (orig = dst) and
 *   counts go to resp_*; state SHR with FIN, RSTRH with RST, else OTH; history h,f,r.
 *   SYN without ACK: orig = src; state RSTOS0 with RST, SH with FIN, else S0; history S,F,R.
 *   No SYN (mid-connection window): OTH; history A,F,R from the flags.
 * - action REJECT: REJ for TCP (the attempt was refused, by a security group or ACL), S0 otherwise.
 * - Other ACCEPT records: TCP without flags OTH; UDP/ICMP/other S0 (one direction seen), history D.
 * - NODATA and SKIPDATA records carry no flow: skipped and counted.
 * - uid from interface-id, the raw 5-tuple, start, end and flow-direction.
 */
import { gunzipSync } from 'node:zlib';
import { type FlowStitcher, oneWay } from '../netflow/stitch';
import type { ConnRecord, ConnState } from '../record/conn';
import type { UidGenerator } from '../record/uid';
import { type Addr, type FormatParser, type ParserCounters, PROTO_TCP, type RecordKit, addrOf, countOf, fail, portOf, show } from './common';
import { FlowFieldError } from './types';

export const VPC_DEFAULT_FIELDS: readonly string[] = [
  'version',
  'account-id',
  'interface-id',
  'srcaddr',
  'dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'action',
  'log-status',
];

const NAME = /^[a-z][a-z0-9-]*$/;

/**
 * A declared field list: the flow log's LogFormat (`${version} ${account-id} ...`, as
 * `aws ec2 describe-flow-logs` shows it) or the names separated by commas or spaces.
 */
export function parseVpcFields(spec: string): string[] {
  const t = spec.trim();
  if (t === '') throw new FlowFieldError('fields', 'empty field list');
  let names: string[];
  if (t.includes('$')) {
    const rest = t.replace(/\$\{([^}]*)\}/g, ' ').trim();
    if (rest !== '') throw new FlowFieldError('fields', `${show(rest)} is outside any \${...} in the format string`);
    names = [...t.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1].trim());
  } else names = t.split(/[\s,]+/);
  for (const n of names) if (!NAME.test(n)) throw new FlowFieldError('fields', `${show(n)} is not a field name`);
  checkFields(names, 'field list');
  return names;
}

function checkFields(f: readonly string[], where: string): void {
  const seen = new Set<string>();
  for (const name of f) {
    if (seen.has(name)) fail(name, `named twice in the ${where}`);
    seen.add(name);
  }
  if (!seen.has('start')) fail('start', `missing from the ${where}`);
  if (!seen.has('protocol')) fail('protocol', `missing from the ${where}`);
  if (!seen.has('srcaddr') && !seen.has('pkt-srcaddr')) fail('srcaddr', `missing from the ${where}`);
  if (!seen.has('dstaddr') && !seen.has('pkt-dstaddr')) fail('dstaddr', `missing from the ${where}`);
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** gzip's magic (1f 8b 08) in base64. */
const GZIP_B64 = /^H4sI[A-Za-z0-9+/]/;
/** Largest decompressed unit: a Firehose record or CloudWatch payload is at most a few MB. */
const MAX_INFLATED = 64 * 1024 * 1024;

/** Base64 data of a delivery, gunzipped when it is gzip, as text. */
function inflate(where: string, b64: string): string {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw, { maxOutputLength: MAX_INFLATED }).toString('utf8');
    } catch (e) {
      fail(where, `gzip data that does not inflate: ${(e as Error).message}`);
    }
  }
  return raw.toString('utf8');
}

/** One record line of a delivery, named by where it sits in it (`records[0].logEvents[3]`), or why that part cannot be read. */
export interface VpcUnit {
  where: string;
  text?: string;
  error?: FlowFieldError;
}

/**
 * The record lines a unit holds: itself when it is a record line, else those of the delivery
 * wrapping it (see the header); null when it is JSON of no delivery we know. Errors name the part.
 */
export function vpcLinesOf(text: string, depth = 0): string[] | null {
  const units = vpcUnitsOf(text, depth);
  if (units === null) return null;
  const bad = units.find((u) => u.error !== undefined);
  if (bad?.error) throw bad.error;
  return units.map((u) => u.text as string);
}

function at(where: string, inner: string): string {
  return where === '' ? inner : inner === '' ? where : `${where}.${inner}`;
}

function guarded(where: string, f: () => VpcUnit[]): VpcUnit[] {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof FlowFieldError)) throw e;
    return [{ where, error: e }];
  }
}

/**
 * The record lines of a unit, each with its place in the delivery; a part that cannot be read
 * (a Firehose record that is not base64 gzip, a log event without a message) is one unit with
 * its error, so the other parts are still read. Throws only when the unit itself is no delivery.
 */
export function vpcUnitsOf(text: string, depth = 0, where = ''): VpcUnit[] | null {
  const t = text.trim();
  if (depth > 3) fail(undefined, 'deliveries nested more than 3 deep');
  if (GZIP_B64.test(t) && !/\s/.test(t)) return unitsOfText(inflate(at(where, 'data'), t), depth, where);
  if (!t.startsWith('{')) return [{ where, text: t }];
  let o: Record<string, unknown> | undefined;
  try {
    o = obj(JSON.parse(t));
  } catch (e) {
    fail(undefined, `not JSON: ${(e as Error).message}`);
  }
  if (o === undefined) return null;
  if (typeof o.message === 'string') return unitsOfText(o.message, depth, at(where, 'message'));
  if (Array.isArray(o.logEvents) || typeof o.messageType === 'string') {
    if (o.messageType === 'CONTROL_MESSAGE') return [];
    if (!Array.isArray(o.logEvents)) fail('logEvents', 'missing from a CloudWatch Logs DATA_MESSAGE');
    return o.logEvents.map((e, i) => {
      const w = at(where, `logEvents[${i}]`);
      const m = obj(e)?.message;
      if (typeof m !== 'string') return { where: w, error: new FlowFieldError(`${w}.message`, `${show(m)} is not a string`) };
      return { where: w, text: m };
    });
  }
  if (Array.isArray(o.records)) {
    const out: VpcUnit[] = [];
    o.records.forEach((r, i) => {
      const w = at(where, `records[${i}]`);
      const d = obj(r)?.data;
      if (typeof d !== 'string') out.push({ where: w, error: new FlowFieldError(`${w}.data`, `${show(d)} is not base64 text`) });
      else for (const u of guarded(w, () => unitsOfText(inflate(`${w}.data`, d), depth, w))) out.push(u);
    });
    return out;
  }
  return null;
}

function unitsOfText(s: string, depth: number, where: string): VpcUnit[] {
  const out: VpcUnit[] = [];
  const lines = s.split('\n');
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    const w = lines.length > 1 ? at(where, `line ${i + 1}`) : where;
    if (!(l.trimStart().startsWith('{') || GZIP_B64.test(l.trim()))) {
      out.push({ where: w, text: l });
      return;
    }
    for (const u of guarded(w, () => {
      const inner = vpcUnitsOf(l, depth + 1, w);
      if (inner === null) fail(undefined, `${show(l)}: JSON of no flow log delivery (message, logEvents or records)`);
      return inner;
    }))
      out.push(u);
  });
  return out;
}

/** A header line: every token a field name, and the address or status fields among them. */
export function isVpcHeader(tokens: readonly string[]): boolean {
  return tokens.every((t) => NAME.test(t)) && (tokens.includes('srcaddr') || tokens.includes('pkt-srcaddr') || tokens.includes('log-status'));
}

/** A default-format (v2) data line: 14 fields, version and times numeric, a known status. */
export function looksLikeVpcDefault(tokens: readonly string[]): boolean {
  return tokens.length === 14 && /^\d+$/.test(tokens[0]) && /^\d+$/.test(tokens[10]) && /^(OK|NODATA|SKIPDATA)$/.test(tokens[13]);
}

const FIN = 1;
const SYN = 2;
const RST = 4;
const ACK = 16;

export class VpcParser implements FormatParser {
  private fields: readonly string[] | null = null;
  private fieldsFrom = 'header';
  private idx = new Map<string, number>();
  private tokens: string[] = [];

  constructor(
    private readonly kit: RecordKit,
    private readonly uids: UidGenerator,
    private readonly emit: (r: ConnRecord) => void,
    private readonly counters: ParserCounters,
    private readonly stitcher: FlowStitcher | null = null,
    /** Fields of headerless records (parseVpcFields); a header line in the input still wins. */
    declared?: readonly string[],
    /**
     * Where the records of a delivery that cannot be read are told one by one (field, and the
     * reason starting with the record's place in the delivery); without it they are summed up in
     * one error of the line.
     */
    private readonly report?: (field: string | undefined, reason: string) => void,
    /** Longest record line inside a delivery, bytes (the line limit, as for a line of the body). */
    private readonly maxRecordBytes = Number.POSITIVE_INFINITY,
  ) {
    if (declared !== undefined) this.setFields(declared, 'field list');
  }

  /** Latest record end seen (event time): the stitcher's clock. */
  private now = 0;

  private setFields(f: readonly string[], where = 'header'): void {
    checkFields(f, where);
    this.fields = f;
    this.fieldsFrom = where;
    this.idx = new Map(f.map((n, i) => [n, i]));
  }

  /** Field value, undefined when the format lacks it or it is `-`. */
  private get(name: string): string | undefined {
    const i = this.idx.get(name);
    if (i === undefined) return undefined;
    const v = this.tokens[i];
    return v === '-' ? undefined : v;
  }

  line(text: string): void {
    const t = text.trimStart();
    if (!t.startsWith('{') && !GZIP_B64.test(t)) {
      this.record(text);
      return;
    }
    const units = vpcUnitsOf(t);
    if (units === null) fail(undefined, 'JSON of no flow log delivery (message, logEvents or records)');
    // Each record of a delivery stands alone: one that cannot be read costs itself only.
    const bad: string[] = [];
    let failed = 0;
    units.forEach((u, i) => {
      try {
        if (u.error) throw u.error;
        const text = u.text as string;
        if (text.length > this.maxRecordBytes || (text.length * 3 > this.maxRecordBytes && Buffer.byteLength(text) > this.maxRecordBytes))
          fail(undefined, `longer than the ${this.maxRecordBytes}-byte line limit; skipped`);
        this.record(text);
      } catch (e) {
        if (!(e instanceof FlowFieldError)) throw e;
        failed++;
        const place = u.where === '' ? `record ${i + 1}` : u.where;
        if (this.report) this.report(e.field, e.field?.startsWith(place) ? e.reason : `${place}: ${e.reason}`);
        else if (bad.length < 5) bad.push(`${place}: ${e.message}`);
      }
    });
    if (failed > 0 && !this.report)
      fail(undefined, `${failed} of the ${units.length} records it holds not read (${bad.join('; ')}${failed > bad.length ? '; ...' : ''})`);
  }

  private record(text: string): void {
    const tokens = text.trim().split(/\s+/);
    if (isVpcHeader(tokens)) {
      this.counters.ignored++;
      this.setFields(tokens);
      return;
    }
    if (this.fields === null) {
      if (!looksLikeVpcDefault(tokens))
        fail(undefined, `no header line naming the fields, and ${tokens.length} fields are not the default format's 14 (declare them: fields=)`);
      this.setFields(VPC_DEFAULT_FIELDS);
    }
    if (tokens.length !== this.fields!.length) fail(undefined, `${tokens.length} fields where the ${this.fieldsFrom} names ${this.fields!.length}`);
    this.tokens = tokens;

    const status = this.get('log-status');
    if (status === 'NODATA') {
      this.counters.noData++;
      return;
    }
    if (status === 'SKIPDATA') {
      this.counters.skipData++;
      return;
    }
    if (status !== undefined && status !== 'OK') fail('log-status', `${show(status)} is not OK, NODATA or SKIPDATA`);
    const version = this.get('version');
    if (version !== undefined && !/^\d{1,2}$/.test(version)) fail('version', `${show(version)} is not a version number`);

    const src = this.address('srcaddr', 'pkt-srcaddr');
    const dst = this.address('dstaddr', 'pkt-dstaddr');
    const sp = this.get('srcport');
    const dp = this.get('dstport');
    const srcP = sp === undefined ? 0 : portOf('srcport', sp);
    const dstP = dp === undefined ? 0 : portOf('dstport', dp);
    const ipProto = countOf('protocol', this.get('protocol'));
    if (ipProto > 255) fail('protocol', `${ipProto} is not an IP protocol number`);
    const start = countOf('start', this.get('start'));
    const endRaw = this.get('end');
    const end = endRaw === undefined ? start : countOf('end', endRaw);
    if (end < start) fail('end', `${end} is before start ${start}`);
    const packets = countOf('packets', this.get('packets') ?? '0');
    const bytes = countOf('bytes', this.get('bytes') ?? '0');
    const action = this.get('action');
    if (action !== undefined && action !== 'ACCEPT' && action !== 'REJECT') fail('action', `${show(action)} is not ACCEPT or REJECT`);
    const flagsRaw = this.get('tcp-flags');
    const flags = flagsRaw === undefined ? -1 : countOf('tcp-flags', flagsRaw);
    if (flags > 255) fail('tcp-flags', `${flags} is not a TCP flags byte`);

    const tcp = ipProto === PROTO_TCP;
    const flip = tcp && action !== 'REJECT' && flags >= 0 && (flags & (SYN | ACK)) === (SYN | ACK);
    let state: ConnState;
    let history = '';
    if (tcp && flags >= 0) history = flip ? tcpHistory(flags, 'h', 'a', 'f', 'r') : tcpHistory(flags, 'S', 'A', 'F', 'R');
    if (action === 'REJECT') state = tcp ? 'REJ' : 'S0';
    else if (!tcp) state = 'S0';
    else if (flags < 0) state = 'OTH';
    else if (flip) state = flags & RST ? 'RSTRH' : flags & FIN ? 'SHR' : 'OTH';
    else if (flags & SYN) state = flags & RST ? 'RSTOS0' : flags & FIN ? 'SH' : 'S0';
    else state = 'OTH';
    if (!tcp && packets > 0) history = 'D';

    // Transit Gateway records name the attachment where VPC records name the interface.
    const point = this.get('interface-id') ?? this.get('tgw-attachment-id') ?? this.get('tgw-id') ?? '';
    const key = `vpc|${point}|${ipProto}|${src.text}|${srcP}|${dst.text}|${dstP}|${end}|${this.get('flow-direction') ?? ''}`;
    const uid = this.uids.next(key, start, 0);
    const e = flip ? ends(dst, dstP, src, srcP, ipProto) : ends(src, srcP, dst, dstP, ipProto);
    const r = this.kit.base(start, uid, e);
    r.duration = end - start;
    r.conn_state = state;
    r.history = history;
    if (flip) {
      r.resp_pkts = packets;
      r.resp_ip_bytes = bytes;
    } else {
      r.orig_pkts = packets;
      r.orig_ip_bytes = bytes;
    }
    if (this.stitcher === null) {
      this.emit(oneWay(r));
      return;
    }
    if (end > this.now) this.now = end;
    this.stitcher.add(r, point, this.now);
  }

  end(): void {
    this.stitcher?.flush();
  }

  /** The packet-level address when present, else the interface-level one; both checked when present. */
  private address(field: string, pktField: string): Addr {
    const plain = this.get(field);
    const pkt = this.get(pktField);
    const a = plain === undefined ? undefined : addrOf(field, plain);
    if (pkt !== undefined) return addrOf(pktField, pkt);
    if (a === undefined) fail(field, 'missing');
    return a;
  }
}

function ends(orig: Addr, origP: number, resp: Addr, respP: number, ipProto: number) {
  return { orig, origP, resp, respP, ipProto };
}

/** History letters of one direction's OR-ed flags, in Zeek's order of a normal exchange. */
function tcpHistory(flags: number, syn: string, ack: string, fin: string, rst: string): string {
  let h = '';
  if (flags & SYN) h += syn;
  else if (flags & ACK) h += ack;
  if (flags & FIN) h += fin;
  if (flags & RST) h += rst;
  return h;
}
