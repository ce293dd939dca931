/**
 * Application-layer records (dns, http, http2, tls, ssh, and the datastores' app records) in the
 * output formats: Zeek TSV logs named as Zeek names them (dns.log, http.log, ssl.log, ssh.log;
 * http2.log and app.log are ours, Zeek having no analyzer for them), Zeek JSON lines, and our
 * ndjson (the record with `_path`, the connection's uid and the Zeek `id.*` fields).
 */
import { DNS_OPCODE_NAMES, NETBIOS_OPCODE_NAMES, decodeNetbiosName } from '../../parsers/protocols/dns';
import type {
  AppIdRecord,
  AppKind,
  AppRecordOut,
  ConnInfo,
  DnsLogRecord,
  Http2LogRecord,
  HttpLogRecord,
  SshLogRecord,
  TlsLogRecord,
} from '../../parsers/record/app';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BOUND_SCALAR, JsonBytes, boundStr } from './json-bytes';
import { TextSink } from './sink';
import { jsonText, tsvElement, tsvEscape, zeekFooter, zeekHeader } from './zeek-tsv';

/** Log name for each kind: Zeek's (ssl.log for TLS), http2.log, and app.log for the identified datastores. */
export const ZEEK_PATH: Record<AppKind, string> = { dns: 'dns', http: 'http', http2: 'http2', tls: 'ssl', ssh: 'ssh', app: 'app' };

type Cell = string | number | boolean | null | readonly (string | number)[];
type Column<R> = readonly [name: string, type: string, get: (r: R) => Cell];

const ID: Column<AppRecordOut>[] = [
  ['ts', 'time', (r) => r.ts],
  ['uid', 'string', (r) => r.uid],
  ['id.orig_h', 'addr', (r) => r.conn.orig_h],
  ['id.orig_p', 'port', (r) => r.conn.orig_p],
  ['id.resp_h', 'addr', (r) => r.conn.resp_h],
  ['id.resp_p', 'port', (r) => r.conn.resp_p],
];

type DnsOut = DnsLogRecord & { conn: ConnInfo };

/** NetBIOS name service (Zeek: responder port 137): names decoded, SRV's code is NBSTAT, NetBIOS opcode names. */
const netbios = (r: DnsOut): boolean => r.conn.resp_p === 137 && r.proto === 'udp';

const DNS: Column<DnsOut>[] = [
  ['proto', 'enum', (r) => r.proto],
  ['trans_id', 'count', (r) => r.trans_id],
  ['rtt', 'interval', (r) => r.rtt],
  ['query', 'string', (r) => (r.query !== null && r.qtype !== null && netbios(r) ? decodeNetbiosName(r.query) || r.query : r.query)],
  ['qclass', 'count', (r) => r.qclass],
  ['qclass_name', 'string', (r) => r.qclass_name],
  ['qtype', 'count', (r) => r.qtype],
  ['qtype_name', 'string', (r) => (r.qtype === 33 && netbios(r) ? 'NBSTAT' : r.qtype_name)],
  ['rcode', 'count', (r) => r.rcode],
  ['rcode_name', 'string', (r) => r.rcode_name],
  ['AA', 'bool', (r) => r.AA],
  ['TC', 'bool', (r) => r.TC],
  ['RD', 'bool', (r) => r.RD],
  ['RA', 'bool', (r) => r.RA],
  ['Z', 'count', (r) => r.Z],
  ['answers', 'vector[string]', (r) => r.answers],
  ['TTLs', 'vector[interval]', (r) => r.TTLs],
  ['rejected', 'bool', (r) => r.rejected],
  ['opcode', 'count', (r) => r.opcode],
  [
    'opcode_name',
    'string',
    (r) => (netbios(r) ? (NETBIOS_OPCODE_NAMES[r.opcode] ?? `netbios-opcode-${r.opcode}`) : (DNS_OPCODE_NAMES[r.opcode] ?? r.opcode_name)),
  ],
];

const NO_TAGS: readonly string[] = [];

/** Zeek's default http.log columns in its order, then ours (Content-Type headers, upgrade). */
const HTTP: Column<HttpLogRecord>[] = [
  ['trans_depth', 'count', (r) => r.trans_depth],
  ['method', 'string', (r) => r.method],
  ['host', 'string', (r) => r.host],
  ['uri', 'string', (r) => r.uri],
  ['referrer', 'string', (r) => r.referrer],
  ['version', 'string', (r) => r.version],
  ['user_agent', 'string', (r) => r.user_agent],
  ['origin', 'string', (r) => r.origin],
  ['request_body_len', 'count', (r) => r.request_body_len],
  ['response_body_len', 'count', (r) => r.response_body_len],
  ['status_code', 'count', (r) => r.status_code],
  ['status_msg', 'string', (r) => r.status_msg],
  ['info_code', 'count', (r) => r.info_code],
  ['info_msg', 'string', (r) => r.info_msg],
  // Zeek's default columns to the end; file analysis (fuids, sniffed MIME types) is not ours: unset.
  ['tags', 'set[enum]', () => NO_TAGS],
  ['username', 'string', (r) => r.username ?? null],
  ['password', 'string', () => null],
  ['proxied', 'set[string]', (r) => r.proxied ?? null],
  ['orig_fuids', 'vector[string]', () => null],
  ['orig_filenames', 'vector[string]', (r) => r.orig_filenames ?? null],
  ['orig_mime_types', 'vector[string]', () => null],
  ['resp_fuids', 'vector[string]', () => null],
  ['resp_filenames', 'vector[string]', (r) => r.resp_filenames ?? null],
  ['resp_mime_types', 'vector[string]', () => null],
  ['orig_content_type', 'string', (r) => r.orig_content_type],
  ['resp_content_type', 'string', (r) => r.resp_content_type],
  ['upgrade', 'string', (r) => r.upgrade],
  ['upgraded', 'bool', (r) => r.upgraded],
];

const HTTP2: Column<Http2LogRecord>[] = [
  ['stream_id', 'count', (r) => r.stream_id],
  ['method', 'string', (r) => r.method],
  ['host', 'string', (r) => r.host],
  ['uri', 'string', (r) => r.uri],
  ['scheme', 'string', (r) => r.scheme],
  ['referrer', 'string', (r) => r.referrer],
  ['user_agent', 'string', (r) => r.user_agent],
  ['request_body_len', 'count', (r) => r.request_body_len],
  ['response_body_len', 'count', (r) => r.response_body_len],
  ['status_code', 'count', (r) => r.status_code],
  ['info_code', 'count', (r) => r.info_code],
  ['orig_content_type', 'string', (r) => r.orig_content_type],
  ['resp_content_type', 'string', (r) => r.resp_content_type],
  ['grpc_service', 'string', (r) => r.grpc_service],
  ['grpc_method', 'string', (r) => r.grpc_method],
  ['grpc_status', 'count', (r) => r.grpc_status],
  ['grpc_message', 'string', (r) => r.grpc_message],
  ['push', 'bool', (r) => r.push],
  ['upgraded', 'bool', (r) => r.upgraded],
  ['reset', 'string', (r) => r.reset],
];

/** Zeek's default ssl.log columns in its order, then ours (subject/issuer of the leaf, fingerprints, client ALPN). */
const TLS: Column<TlsLogRecord>[] = [
  ['version', 'string', (r) => r.version],
  ['cipher', 'string', (r) => r.cipher],
  ['curve', 'string', (r) => r.curve ?? null],
  ['server_name', 'string', (r) => r.server_name],
  ['resumed', 'bool', (r) => r.resumed],
  ['last_alert', 'string', (r) => r.last_alert ?? null],
  ['next_protocol', 'string', (r) => r.next_protocol],
  ['established', 'bool', (r) => r.established],
  ['ssl_history', 'string', (r) => r.ssl_history ?? null],
  ['cert_chain_fps', 'vector[string]', (r) => r.cert_chain_fps ?? null],
  ['client_cert_chain_fps', 'vector[string]', (r) => r.client_cert_chain_fps ?? null],
  ['sni_matches_cert', 'bool', (r) => r.sni_matches_cert ?? null],
  ['subject', 'string', (r) => r.subject],
  ['issuer', 'string', (r) => r.issuer],
  ['ja3', 'string', (r) => r.ja3],
  ['ja3s', 'string', (r) => r.ja3s],
  ['ja4', 'string', (r) => r.ja4],
  ['client_alpn', 'vector[string]', (r) => r.client_alpn],
];

const SSH: Column<SshLogRecord>[] = [
  ['version', 'count', (r) => r.version],
  ['client', 'string', (r) => r.client],
  ['server', 'string', (r) => r.server],
];

const APP: Column<AppIdRecord>[] = [
  ['protocol', 'string', (r) => r.protocol],
  ['user', 'string', (r) => r.user],
  ['database', 'string', (r) => r.database],
  ['application_name', 'string', (r) => r.application_name],
  ['server_version', 'string', (r) => r.server_version],
  ['client_id', 'string', (r) => r.client_id],
  ['commands', 'vector[string]', (r) => r.commands],
  ['tls_requested', 'bool', (r) => r.tls_requested],
  ['tls_accepted', 'bool', (r) => r.tls_accepted],
];

const OWN: Record<AppKind, readonly unknown[]> = { dns: DNS, http: HTTP, http2: HTTP2, tls: TLS, ssh: SSH, app: APP };

function columns(kind: AppKind): Column<AppRecordOut>[] {
  return [...ID, ...(OWN[kind] as Column<AppRecordOut>[])];
}

/**
 * Columns holding decoded text rather than wire bytes in latin1 (see tsvEscape): our http2.log and
 * app.log, and the certificate names of ssl.log.
 */
const UNICODE_KINDS: ReadonlySet<AppKind> = new Set<AppKind>(['http2', 'app']);
const UNICODE_COLUMNS: ReadonlySet<string> = new Set(['subject', 'issuer']);
const isUnicode = (kind: AppKind, column: string): boolean => UNICODE_KINDS.has(kind) || UNICODE_COLUMNS.has(column);

function tsvCell(v: Cell, type: string, unicode: boolean): string {
  if (v === null) return '-';
  if (Array.isArray(v)) {
    if (v.length === 0) return '(empty)';
    // vector[interval] / vector[time] keep their six decimals, as scalar intervals do.
    const real = type.endsWith('[interval]') || type.endsWith('[time]') || type.endsWith('[double]');
    return v.map((x) => (typeof x === 'number' ? (real ? x.toFixed(6) : String(x)) : tsvElement(x, unicode))).join(',');
  }
  if (typeof v === 'boolean') return v ? 'T' : 'F';
  if (typeof v === 'number') return type === 'time' || type === 'interval' ? v.toFixed(6) : String(v);
  return v === '' ? '(empty)' : tsvEscape(v as string, unicode);
}

/** Zeek TSV header of the log for `kind`. */
export function zeekAppHeader(kind: AppKind, now: Date): string {
  return zeekHeader(ZEEK_PATH[kind], columns(kind), now);
}

export function zeekAppLine(r: AppRecordOut): string {
  return `${columns(r.kind)
    .map((c) => tsvCell(c[2](r), c[1], isUnicode(r.kind, c[0])))
    .join('\t')}\n`;
}

/** Zeek's JSON writer: the same columns, unset ones left out. */
export function zeekAppJson(r: AppRecordOut): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [name, , get] of columns(r.kind)) {
    const v = get(r);
    if (v === null) continue;
    // Wire strings (latin1, a character per byte) as Zeek's JSON writer has them: UTF-8 decoded, invalid bytes as \xHH.
    const u = isUnicode(r.kind, name);
    o[name] = typeof v === 'string' ? jsonText(v, u) : Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? jsonText(x, u) : x)) : v;
  }
  return o;
}

/** Our ndjson: the whole record (every field the analyzer produced), its log name and connection. */
export function appNdjsonLine(r: AppRecordOut): string {
  // http and dns records, nearly all the app records of a capture, written out by hand when they
  // have the analyzers' shape (the same keys in the same order): JSON.stringify of the record,
  // then the splice, cost more than parsing the HTTP message (measured with --cpu-prof on the
  // bench's short-connection capture). `appNdjsonLineGeneric` is the reference a test holds
  // these to.
  let line: string | null = null;
  if (r.kind === 'http' && sameKeys(r, HTTP_KEYS)) line = httpNdjsonLine(r);
  else if (r.kind === 'dns' && sameKeys(r, DNS_KEYS)) line = dnsNdjsonLine(r);
  if (line !== null && !unexpected) return line;
  unexpected = false;
  return appNdjsonLineGeneric(r);
}

/**
 * Set by the writers below on a value of another type than the record's (undefined, which
 * JSON.stringify leaves out with its key): the line is then made the generic way.
 */
let unexpected = false;

/** Whether `o` has exactly these own enumerable keys, in this order (for...in allocates nothing). */
function sameKeys(o: object, keys: readonly string[]): boolean {
  let i = 0;
  for (const k in o) {
    if (k !== keys[i]) return false;
    i++;
  }
  return i === keys.length;
}

const HTTP_KEYS: readonly string[] = [
  'kind',
  'ts',
  'trans_depth',
  'method',
  'host',
  'uri',
  'referrer',
  'version',
  'user_agent',
  'origin',
  'request_body_len',
  'response_body_len',
  'status_code',
  'status_msg',
  'info_code',
  'info_msg',
  'orig_content_type',
  'resp_content_type',
  'upgrade',
  'upgraded',
  'username',
  'proxied',
  'orig_filenames',
  'resp_filenames',
  'uid',
  'conn',
];

const DNS_KEYS: readonly string[] = [
  'kind',
  'ts',
  'proto',
  'trans_id',
  'rtt',
  'query',
  'qclass',
  'qclass_name',
  'qtype',
  'qtype_name',
  'rcode',
  'rcode_name',
  'AA',
  'TC',
  'RD',
  'RA',
  'Z',
  'answers',
  'TTLs',
  'rejected',
  'opcode',
  'opcode_name',
  'rrs',
  'uid',
  'conn',
];

/** JSON.stringify(s) for a string or null: as is between quotes when nothing in it needs escaping. */
function jStr(s: string | null): string {
  if (s === null) return 'null';
  if (typeof s !== 'string') {
    unexpected = true;
    return '';
  }
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** What JSON.stringify escapes: control characters, '"', '\\' and (lone) surrogates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it looks for
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(n) for a number or null (non-finite numbers are null in JSON). */
function jNum(n: number | null): string {
  if (typeof n !== 'number') {
    if (n !== null) unexpected = true;
    return 'null';
  }
  return Number.isFinite(n) ? `${n}` : 'null';
}

function jBool(b: boolean): string {
  if (typeof b !== 'boolean') unexpected = true;
  return b ? 'true' : 'false';
}

/** JSON.stringify of an array or null. */
function jArr(a: readonly unknown[] | null): string {
  if (a === null) return 'null';
  if (!Array.isArray(a)) unexpected = true;
  return JSON.stringify(a);
}

/** The id.* fields and the end of the line, as appNdjsonLineGeneric ends it. */
function connTail(uid: string, c: ConnInfo): string {
  return `,"uid":${jStr(uid)},"id.orig_h":${jStr(c.orig_h)},"id.orig_p":${jNum(c.orig_p)},"id.resp_h":${jStr(c.resp_h)},"id.resp_p":${jNum(c.resp_p)}}\n`;
}

function httpNdjsonLine(r: HttpLogRecord & { uid: string; conn: ConnInfo }): string {
  return (
    '{"_path":"http","ts":' +
    jNum(r.ts) +
    ',"trans_depth":' +
    jNum(r.trans_depth) +
    ',"method":' +
    jStr(r.method) +
    ',"host":' +
    jStr(r.host) +
    ',"uri":' +
    jStr(r.uri) +
    ',"referrer":' +
    jStr(r.referrer) +
    ',"version":' +
    jStr(r.version) +
    ',"user_agent":' +
    jStr(r.user_agent) +
    ',"origin":' +
    jStr(r.origin) +
    ',"request_body_len":' +
    jNum(r.request_body_len) +
    ',"response_body_len":' +
    jNum(r.response_body_len) +
    ',"status_code":' +
    jNum(r.status_code) +
    ',"status_msg":' +
    jStr(r.status_msg) +
    ',"info_code":' +
    jNum(r.info_code) +
    ',"info_msg":' +
    jStr(r.info_msg) +
    ',"orig_content_type":' +
    jStr(r.orig_content_type) +
    ',"resp_content_type":' +
    jStr(r.resp_content_type) +
    ',"upgrade":' +
    jStr(r.upgrade) +
    ',"upgraded":' +
    jBool(r.upgraded) +
    ',"username":' +
    jStr(r.username) +
    ',"proxied":' +
    jArr(r.proxied) +
    ',"orig_filenames":' +
    jArr(r.orig_filenames) +
    ',"resp_filenames":' +
    jArr(r.resp_filenames) +
    connTail(r.uid, r.conn)
  );
}

function dnsNdjsonLine(r: DnsLogRecord & { uid: string; conn: ConnInfo }): string {
  return (
    '{"_path":"dns","ts":' +
    jNum(r.ts) +
    ',"proto":' +
    jStr(r.proto) +
    ',"trans_id":' +
    jNum(r.trans_id) +
    ',"rtt":' +
    jNum(r.rtt) +
    ',"query":' +
    jStr(r.query) +
    ',"qclass":' +
    jNum(r.qclass) +
    ',"qclass_name":' +
    jStr(r.qclass_name) +
    ',"qtype":' +
    jNum(r.qtype) +
    ',"qtype_name":' +
    jStr(r.qtype_name) +
    ',"rcode":' +
    jNum(r.rcode) +
    ',"rcode_name":' +
    jStr(r.rcode_name) +
    ',"AA":' +
    jBool(r.AA) +
    ',"TC":' +
    jBool(r.TC) +
    ',"RD":' +
    jBool(r.RD) +
    ',"RA":' +
    jBool(r.RA) +
    ',"Z":' +
    jNum(r.Z) +
    ',"answers":' +
    jArr(r.answers) +
    ',"TTLs":' +
    jArr(r.TTLs) +
    ',"rejected":' +
    jBool(r.rejected) +
    ',"opcode":' +
    jNum(r.opcode) +
    ',"opcode_name":' +
    jStr(r.opcode_name) +
    ',"rrs":' +
    jArr(r.rrs) +
    connTail(r.uid, r.conn)
  );
}

/**
 * appNdjsonLine(r) written into the sink's buffer as UTF-8, the same bytes: http and dns records
 * of the analyzers' shape are encoded in place (no line string to build, flatten and encode),
 * any other the string way.
 */
export function writeAppNdjson(sink: TextSink, r: AppRecordOut): void {
  if (r.kind === 'http' ? sameKeys(r, HTTP_KEYS) && httpBytes(sink, r) : r.kind === 'dns' && sameKeys(r, DNS_KEYS) && dnsBytes(sink, r)) return;
  sink.write(appNdjsonLine(r));
}

const ENC = new JsonBytes();
const lit = (s: string): Buffer => Buffer.from(s, 'latin1');
/** `,"name":` for each name. */
const keys = <K extends string>(names: readonly K[]): Record<K, Buffer> => Object.fromEntries(names.map((n) => [n, lit(`,"${n}":`)])) as Record<K, Buffer>;
const TAIL = keys(['id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p']);
const LINE_END = lit('}\n');

/** JSON.stringify of an array or null as jArr makes it; null for another type (the line is made the generic way). */
function arrText(a: readonly unknown[] | null): string | null {
  if (a === null) return 'null';
  return Array.isArray(a) ? JSON.stringify(a) : null;
}

/** Starts a line of at most `bound` bytes; false when it does not fit a buffer. */
function begin(sink: TextSink, bound: number): boolean {
  if (!sink.reserve(bound)) return false;
  ENC.buf = sink.buf;
  ENC.pos = sink.pos;
  ENC.bad = false;
  return true;
}

/** connTail's bytes from the uid's value on (its key ends the record's last run), then the line is the sink's unless a value was of an unexpected type. */
function commit(sink: TextSink, uid: string, c: ConnInfo): boolean {
  const e = ENC;
  e.str(uid);
  e.lit(TAIL['id.orig_h']);
  e.str(c.orig_h);
  e.lit(TAIL['id.orig_p']);
  e.num(c.orig_p);
  e.lit(TAIL['id.resp_h']);
  e.str(c.resp_h);
  e.lit(TAIL['id.resp_p']);
  e.num(c.resp_p);
  e.lit(LINE_END);
  if (e.bad) return false;
  sink.pos = e.pos;
  return true;
}

/** A record's own fields in log order: its key list without kind and ts (first) and uid and conn (last), written apart. */
function loggedFields(all: readonly string[]): string[] {
  return all.slice(2, -2);
}

/**
 * The literal runs of one log's lines. Most values of a line are their field's usual one (null,
 * false, 0, 'GET', 'OK' ...), whose JSON is known: such a field is no write of its own, but part
 * of the bytes copied before the next field whose value is not (written key by key and value by
 * value, the lines were mostly calls). `run(a, b)` is the keys of fields a to b with the usual
 * values of a to b-1 between: what a line holds from field a's key to field b's, when a to b-1
 * hold their usual values. The line starts at field 0 (its `{"_path":...` and first key) and
 * ends with the key of the last field, `uid`.
 */
class Runs<K extends string> {
  /** Each field's position, for `run`. */
  readonly at: Record<K, number>;
  private readonly runs: Buffer[][] = [];

  /** `usual`: the fields that have a usual value, and that value (its JSON is written in the runs). */
  constructor(head: string, fields: readonly K[], usual: Partial<Record<K, string | number | boolean | null>>) {
    this.at = Object.fromEntries(fields.map((f, i) => [f, i])) as Record<K, number>;
    const keyText = (i: number): string => (i === 0 ? head : `,"${fields[i]}":`);
    for (let a = 0; a < fields.length; a++) {
      const row: Buffer[] = [];
      let text = '';
      for (let b = a; b < fields.length; b++) {
        row[b] = lit(text + keyText(b));
        const u = usual[fields[b]];
        // No run goes past a field without a usual value: the rest of the row is never used.
        if (u === undefined) break;
        text += keyText(b) + JSON.stringify(u);
      }
      this.runs.push(row);
    }
  }

  /** Writes run(a, b) (field b's value follows); returns b + 1, where the next run starts. */
  put(a: number, b: number): number {
    // A native copy: past a dozen bytes it beats JsonBytes.lit's loop, and runs are longer.
    const run = this.runs[a][b];
    ENC.buf.set(run, ENC.pos);
    ENC.pos += run.length;
    return b + 1;
  }
}

/**
 * The JSON of the last few strings written in one field: Host, User-Agent and Content-Type repeat
 * from record to record (the HTTP parser hands out the same string for a repeated value), and
 * copying their bytes costs less than encoding them again.
 */
class RecentJson {
  private readonly texts: (string | null)[] = [null, null, null, null];
  private readonly bytes: Buffer[] = [EMPTY, EMPTY, EMPTY, EMPTY];
  private next = 0;

  /** ENC.str(s), from the bytes kept for s when it was written lately. */
  str(s: string | null): void {
    if (typeof s !== 'string') {
      ENC.str(s);
      return;
    }
    const texts = this.texts;
    for (let i = 0; i < texts.length; i++) {
      if (texts[i] === s) {
        const b = this.bytes[i];
        ENC.buf.set(b, ENC.pos);
        ENC.pos += b.length;
        return;
      }
    }
    const from = ENC.pos;
    ENC.str(s);
    if (s.length > RECENT_JSON_MAX) return;
    const i = this.next;
    texts[i] = s;
    this.bytes[i] = Buffer.from(ENC.buf.subarray(from, ENC.pos));
    this.next = (i + 1) % texts.length;
  }
}
const EMPTY = Buffer.alloc(0);
const RECENT_JSON_MAX = 256;
const HOST_JSON = new RecentJson();
const UA_JSON = new RecentJson();
const RESP_TYPE_JSON = new RecentJson();

const TAIL_BOUND = 128 + 5 * BOUND_SCALAR;
type HttpField = Exclude<keyof HttpLogRecord, 'kind'> | 'uid';
const HTTP_FIELDS = ['ts', ...loggedFields(HTTP_KEYS), 'uid'] as HttpField[];
const HR = new Runs<HttpField>('{"_path":"http","ts":', HTTP_FIELDS, {
  method: 'GET',
  host: null,
  uri: null,
  referrer: null,
  version: '1.1',
  user_agent: null,
  origin: null,
  request_body_len: 0,
  response_body_len: 0,
  status_code: 200,
  status_msg: 'OK',
  info_code: null,
  info_msg: null,
  orig_content_type: null,
  resp_content_type: null,
  upgrade: null,
  upgraded: false,
  username: null,
  proxied: null,
  orig_filenames: null,
  resp_filenames: null,
});
const HA = HR.at;

function httpBytes(sink: TextSink, r: HttpLogRecord & { uid: string; conn: ConnInfo }): boolean {
  const proxied = r.proxied;
  const origFiles = r.orig_filenames;
  const respFiles = r.resp_filenames;
  if ((proxied !== null && !Array.isArray(proxied)) || (origFiles !== null && !Array.isArray(origFiles)) || (respFiles !== null && !Array.isArray(respFiles)))
    return false;
  const proxiedText = proxied === null ? '' : JSON.stringify(proxied);
  const origText = origFiles === null ? '' : JSON.stringify(origFiles);
  const respText = respFiles === null ? '' : JSON.stringify(respFiles);
  const c = r.conn;
  const bound =
    512 +
    TAIL_BOUND +
    8 * BOUND_SCALAR +
    boundStr(r.method) +
    boundStr(r.host) +
    boundStr(r.uri) +
    boundStr(r.referrer) +
    boundStr(r.version) +
    boundStr(r.user_agent) +
    boundStr(r.origin) +
    boundStr(r.status_msg) +
    boundStr(r.info_msg) +
    boundStr(r.orig_content_type) +
    boundStr(r.resp_content_type) +
    boundStr(r.upgrade) +
    boundStr(r.username) +
    3 * (proxiedText.length + origText.length + respText.length) +
    boundStr(r.uid) +
    boundStr(c.orig_h) +
    boundStr(c.resp_h);
  if (!begin(sink, bound)) return false;
  const e = ENC;
  // Each field off its usual value: the run up to its key, then the value.
  let a = HR.put(0, HA.ts);
  e.num(r.ts);
  a = HR.put(a, HA.trans_depth);
  e.num(r.trans_depth);
  if (r.method !== 'GET') {
    a = HR.put(a, HA.method);
    e.str(r.method);
  }
  if (r.host !== null) {
    a = HR.put(a, HA.host);
    HOST_JSON.str(r.host);
  }
  if (r.uri !== null) {
    a = HR.put(a, HA.uri);
    e.str(r.uri);
  }
  if (r.referrer !== null) {
    a = HR.put(a, HA.referrer);
    e.str(r.referrer);
  }
  if (r.version !== '1.1') {
    a = HR.put(a, HA.version);
    e.str(r.version);
  }
  if (r.user_agent !== null) {
    a = HR.put(a, HA.user_agent);
    UA_JSON.str(r.user_agent);
  }
  if (r.origin !== null) {
    a = HR.put(a, HA.origin);
    e.str(r.origin);
  }
  if (r.request_body_len !== 0) {
    a = HR.put(a, HA.request_body_len);
    e.num(r.request_body_len);
  }
  if (r.response_body_len !== 0) {
    a = HR.put(a, HA.response_body_len);
    e.num(r.response_body_len);
  }
  if (r.status_code !== 200) {
    a = HR.put(a, HA.status_code);
    e.num(r.status_code);
  }
  if (r.status_msg !== 'OK') {
    a = HR.put(a, HA.status_msg);
    e.str(r.status_msg);
  }
  if (r.info_code !== null) {
    a = HR.put(a, HA.info_code);
    e.num(r.info_code);
  }
  if (r.info_msg !== null) {
    a = HR.put(a, HA.info_msg);
    e.str(r.info_msg);
  }
  if (r.orig_content_type !== null) {
    a = HR.put(a, HA.orig_content_type);
    e.str(r.orig_content_type);
  }
  if (r.resp_content_type !== null) {
    a = HR.put(a, HA.resp_content_type);
    RESP_TYPE_JSON.str(r.resp_content_type);
  }
  if (r.upgrade !== null) {
    a = HR.put(a, HA.upgrade);
    e.str(r.upgrade);
  }
  if (r.upgraded !== false) {
    a = HR.put(a, HA.upgraded);
    e.bool(r.upgraded);
  }
  if (r.username !== null) {
    a = HR.put(a, HA.username);
    e.str(r.username);
  }
  if (proxied !== null) {
    a = HR.put(a, HA.proxied);
    e.raw(proxiedText);
  }
  if (origFiles !== null) {
    a = HR.put(a, HA.orig_filenames);
    e.raw(origText);
  }
  if (respFiles !== null) {
    a = HR.put(a, HA.resp_filenames);
    e.raw(respText);
  }
  HR.put(a, HA.uid);
  return commit(sink, r.uid, c);
}

type DnsField = Exclude<keyof DnsLogRecord, 'kind'> | 'uid';
const DNS_FIELDS = ['ts', ...loggedFields(DNS_KEYS), 'uid'] as DnsField[];
const DR = new Runs<DnsField>('{"_path":"dns","ts":', DNS_FIELDS, {
  proto: 'udp',
  rtt: null,
  query: null,
  qclass: 1,
  qclass_name: 'C_INTERNET',
  qtype: 1,
  qtype_name: 'A',
  rcode: 0,
  rcode_name: 'NOERROR',
  AA: false,
  TC: false,
  RD: true,
  RA: true,
  Z: 0,
  answers: null,
  TTLs: null,
  rejected: false,
  opcode: 0,
  opcode_name: 'query',
});
const DA = DR.at;

function dnsBytes(sink: TextSink, r: DnsLogRecord & { uid: string; conn: ConnInfo }): boolean {
  const answers = arrText(r.answers);
  const ttls = arrText(r.TTLs);
  const rrs = arrText(r.rrs);
  if (answers === null || ttls === null || rrs === null) return false;
  const c = r.conn;
  const bound =
    512 +
    TAIL_BOUND +
    16 * BOUND_SCALAR +
    boundStr(r.proto) +
    boundStr(r.query) +
    boundStr(r.qclass_name) +
    boundStr(r.qtype_name) +
    boundStr(r.rcode_name) +
    boundStr(r.opcode_name) +
    3 * (answers.length + ttls.length + rrs.length) +
    boundStr(r.uid) +
    boundStr(c.orig_h) +
    boundStr(c.resp_h);
  if (!begin(sink, bound)) return false;
  const e = ENC;
  let a = DR.put(0, DA.ts);
  e.num(r.ts);
  if (r.proto !== 'udp') {
    a = DR.put(a, DA.proto);
    e.str(r.proto);
  }
  a = DR.put(a, DA.trans_id);
  e.num(r.trans_id);
  if (r.rtt !== null) {
    a = DR.put(a, DA.rtt);
    e.num(r.rtt);
  }
  if (r.query !== null) {
    a = DR.put(a, DA.query);
    e.str(r.query);
  }
  if (r.qclass !== 1) {
    a = DR.put(a, DA.qclass);
    e.num(r.qclass);
  }
  if (r.qclass_name !== 'C_INTERNET') {
    a = DR.put(a, DA.qclass_name);
    e.str(r.qclass_name);
  }
  if (r.qtype !== 1) {
    a = DR.put(a, DA.qtype);
    e.num(r.qtype);
  }
  if (r.qtype_name !== 'A') {
    a = DR.put(a, DA.qtype_name);
    e.str(r.qtype_name);
  }
  if (r.rcode !== 0) {
    a = DR.put(a, DA.rcode);
    e.num(r.rcode);
  }
  if (r.rcode_name !== 'NOERROR') {
    a = DR.put(a, DA.rcode_name);
    e.str(r.rcode_name);
  }
  if (r.AA !== false) {
    a = DR.put(a, DA.AA);
    e.bool(r.AA);
  }
  if (r.TC !== false) {
    a = DR.put(a, DA.TC);
    e.bool(r.TC);
  }
  if (r.RD !== true) {
    a = DR.put(a, DA.RD);
    e.bool(r.RD);
  }
  if (r.RA !== true) {
    a = DR.put(a, DA.RA);
    e.bool(r.RA);
  }
  if (r.Z !== 0) {
    a = DR.put(a, DA.Z);
    e.num(r.Z);
  }
  if (r.answers !== null) {
    a = DR.put(a, DA.answers);
    e.raw(answers);
  }
  if (r.TTLs !== null) {
    a = DR.put(a, DA.TTLs);
    e.raw(ttls);
  }
  if (r.rejected !== false) {
    a = DR.put(a, DA.rejected);
    e.bool(r.rejected);
  }
  if (r.opcode !== 0) {
    a = DR.put(a, DA.opcode);
    e.num(r.opcode);
  }
  if (r.opcode_name !== 'query') {
    a = DR.put(a, DA.opcode_name);
    e.str(r.opcode_name);
  }
  a = DR.put(a, DA.rrs);
  e.raw(rrs);
  DR.put(a, DA.uid);
  return commit(sink, r.uid, c);
}

/** The same line for a record of any shape. */
export function appNdjsonLineGeneric(r: AppRecordOut): string {
  // The common shape (`kind` first, `conn` last, as the analyzers and the tie to the connection
  // make them) is serialised once and spliced: a copy of every record without `kind` and `conn`
  // cost more than the analysis itself on DNS-heavy captures (measured with --cpu-prof).
  const s = JSON.stringify(r);
  const head = KIND_HEAD[r.kind];
  const tail = s.lastIndexOf(CONN_KEY);
  if (!s.startsWith(head) || tail < 0) return appNdjsonLineCopy(r);
  const c = r.conn;
  return `{"_path":"${ZEEK_PATH[r.kind]}"${s.slice(head.length, tail)},"id.orig_h":${JSON.stringify(c.orig_h)},"id.orig_p":${c.orig_p},"id.resp_h":${JSON.stringify(c.resp_h)},"id.resp_p":${c.resp_p}}\n`;
}

const KIND_HEAD = Object.fromEntries(Object.keys(ZEEK_PATH).map((k) => [k, `{"kind":"${k}"`])) as Record<AppKind, string>;
const CONN_KEY = ',"conn":{';

/** The same line for a record of any shape. */
function appNdjsonLineCopy(r: AppRecordOut): string {
  const { conn, kind, ...rest } = r;
  return `${JSON.stringify({
    _path: ZEEK_PATH[kind],
    ...rest,
    uid: r.uid,
    'id.orig_h': conn.orig_h,
    'id.orig_p': conn.orig_p,
    'id.resp_h': conn.resp_h,
    'id.resp_p': conn.resp_p,
  })}\n`;
}

export type AppLogFormat = 'zeek' | 'zeek-json' | 'ndjson';

/** File name of a kind's log: Zeek's (dns.log, ssl.log, ...), or .ndjson for our format. */
export function appLogName(kind: AppKind, format: AppLogFormat): string {
  return `${ZEEK_PATH[kind]}.${format === 'ndjson' ? 'ndjson' : 'log'}`;
}

/** Writes each kind to its own sink, opened on first use: one log per kind, as Zeek does. */
export class AppLogs {
  private readonly open = new Map<AppKind, TextSink>();
  constructor(
    private readonly format: AppLogFormat,
    private readonly sinkFor: (kind: AppKind) => TextSink,
    private readonly now: () => Date = () => new Date(),
  ) {}

  write(r: AppRecordOut): void {
    let s = this.open.get(r.kind);
    if (s === undefined) {
      s = this.sinkFor(r.kind);
      if (this.format === 'zeek') s.write(zeekAppHeader(r.kind, this.now()));
      this.open.set(r.kind, s);
    }
    if (this.format === 'ndjson') writeAppNdjson(s, r);
    else s.write(this.format === 'zeek' ? zeekAppLine(r) : `${JSON.stringify(zeekAppJson(r))}\n`);
  }

  async close(): Promise<void> {
    for (const s of this.open.values()) {
      if (this.format === 'zeek') s.write(zeekFooter(this.now()));
      await s.end();
    }
  }
}

/**
 * The application logs beside a connection output file (`--out`), one per kind as Zeek writes
 * them side by side; null for the terminal table or without a file (the summary counts them then).
 */
export function appLogsBeside(out: string | undefined, format: AppLogFormat | 'table'): AppLogs | null {
  if (format === 'table' || !out) return null;
  const dir = path.dirname(out);
  return new AppLogs(format, (kind) => new TextSink(fs.createWriteStream(path.join(dir, appLogName(kind, format)))));
}
