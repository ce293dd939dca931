/**
 * Application records (dns, http, tls, ssh, the datastores' app records) in the store: one spec
 * per record type, from which both backends take everything (the query fields with their ECS
 * names, the Elasticsearch mapping and document, the SQLite table), so the two agree by
 * construction. A kind without a spec of its own (one added to the analyzers later) goes to the
 * `app` catch-all with the common fields, the whole record kept: nothing is refused for its kind.
 *
 * Names: ECS where it has them (dns.question.name, url.original, tls.client.server_name,
 * user.name), with ECS's types (test/store/ecs-mapping.test.ts checks them against
 * spec/ecs-fields.csv), Elastic's Zeek integration otherwise (zeek.session_id for the connection
 * uid, as the connection documents carry it too, zeek.ssh.*), ours under eastwatch.*. The record
 * itself is kept whole (eastwatch.record in Elasticsearch, a JSON column in SQLite), so a record
 * read back equals the record written. Not in ECS event.original: that is the original event's
 * text, and a record decoded from packets has none.
 */
import { createHash } from 'node:crypto';
import { formatInstant, instantFromSeconds, type Query } from '../query/ast';
import { f, FieldRegistry, type EitherAlias, type FieldDef, type FieldType } from '../query/fields';
import { ipKey } from '../query/ip';
import type { SqlParam } from '../query/to-sql';
import type { AppRecordOut } from '../../parsers/record/app';
import { ECS_VERSION } from './ecs';
import type { AppPlacement, StoreAppRecord } from './types';

type Cell = string | number | boolean | null | string[] | number[];

export interface AppField {
  readonly def: FieldDef;
  /** The value of this field in a record (null: unset; lists as arrays). */
  readonly get: (r: AppRecordOut) => Cell;
  /** SQLite gets an index on (column, ts) for fields analysts filter on most. */
  readonly indexed?: boolean;
  /** Elasticsearch mapping when ECS gives the field a type the query language does not have (wildcard). */
  readonly es?: { [key: string]: unknown };
}

export interface AppSpec {
  /** The kind this spec is for ('app' also takes every kind without a spec). */
  readonly kind: string;
  /** Elasticsearch: alias `<prefix>-<index>`, daily indices `<prefix>-<index>-YYYY.MM.DD`. */
  readonly index: string;
  /** SQLite table. */
  readonly table: string;
  readonly fields: readonly AppField[];
  readonly registry: FieldRegistry;
}

/** A record's own member, null when absent (a catch-all record of another kind lacks them). */
function member(r: AppRecordOut, key: string): unknown {
  return (r as unknown as Record<string, unknown>)[key] ?? null;
}
const str =
  (key: string) =>
  (r: AppRecordOut): Cell => {
    const v = member(r, key);
    return v === null ? null : String(v);
  };
const num =
  (key: string) =>
  (r: AppRecordOut): Cell => {
    const v = member(r, key);
    return typeof v === 'number' ? v : null;
  };
const bool =
  (key: string) =>
  (r: AppRecordOut): Cell => {
    const v = member(r, key);
    return typeof v === 'boolean' ? v : null;
  };
const list =
  (key: string) =>
  (r: AppRecordOut): Cell => {
    const v = member(r, key);
    return Array.isArray(v) ? v.map(String) : [];
  };

/** SQLite column of an ECS name: dns.question.name -> dns_question_name. */
const column = (name: string): string => name.replace(/[^A-Za-z0-9]/g, '_');

function field(
  name: string,
  type: FieldType,
  get: AppField['get'],
  aliases: string[],
  description: string,
  opts: { multi?: boolean; optional?: boolean; indexed?: boolean; es?: AppField['es'] } = {},
): AppField {
  const def = f(name, type, column(name), aliases, description, { multi: opts.multi, json: opts.multi, optional: opts.optional ?? !opts.multi });
  return { def, get, indexed: opts.indexed, es: opts.es };
}

/**
 * A Host header or :authority split as ECS wants it: url.domain without the port (an IPv6
 * literal keeps its brackets, RFC 2732, as ECS says), url.port the number. A value that is not
 * host[:port] stays whole in url.domain.
 */
export function splitHost(host: string | null): { domain: string | null; port: number | null } {
  if (host === null) return { domain: null, port: null };
  const m = /^(\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(host);
  if (m && m[1] !== '' && Number(m[2]) <= 65535) return { domain: m[1], port: Number(m[2]) };
  return { domain: host, port: null };
}

/** ECS dns.type: 'answer' when the transaction saw a response, 'query' when it saw only the question. */
function dnsType(r: AppRecordOut): Cell {
  if (r.kind !== 'dns') return null;
  return r.rcode !== null ? 'answer' : 'query';
}

/** ECS dns.answers.ttl: Zeek's TTLs (intervals, seconds) as the whole seconds ECS maps as long. */
function dnsTtls(r: AppRecordOut): Cell {
  if (r.kind !== 'dns' || r.TTLs === null) return [];
  return r.TTLs.map((t) => Math.round(t));
}

/** ECS dns.resolved_ip: the addresses of the answer section's A and AAAA records. */
export function resolvedIps(r: AppRecordOut): string[] {
  if (r.kind !== 'dns') return [];
  return (r.rrs ?? []).filter((x) => x.section === 'answer' && (x.type_name === 'A' || x.type_name === 'AAAA') && ipKey(x.data) !== null).map((x) => x.data);
}

const domain = (r: AppRecordOut): Cell => splitHost(member(r, 'host') as string | null).domain;
const port = (r: AppRecordOut): Cell => splitHost(member(r, 'host') as string | null).port;
/** ECS maps url.original as wildcard: leading-wildcard searches on paths stay fast. */
const WILDCARD = { type: 'wildcard' };

/** ECS writes the TLS version as its number ('1.2') beside the protocol ('tls'); Zeek as 'TLSv12'. */
export function tlsVersion(v: string | null): { version: string | null; protocol: string | null } {
  if (v === null) return { version: null, protocol: null };
  const m = /^(TLS|SSL|DTLS)v(\d)(\d)$/.exec(v);
  if (!m) return { version: v, protocol: null };
  return { version: `${m[2]}.${m[3]}`, protocol: m[1].toLowerCase() };
}

const DATASET_PREFIX = 'eastwatch.';

/** Fields every application record has: time, ids, the connection's 5-tuple and protocol. */
const COMMON: readonly AppField[] = [
  { def: f('@timestamp', 'date', 'ts', [], 'time of the record (Zeek ts)'), get: (r) => r.ts },
  { def: f('event.id', 'keyword', 'id', ['id'], 'stable id of the application record'), get: (r) => appRecordId(r) },
  { def: f('zeek.session_id', 'keyword', 'uid', ['uid'], 'uid of the connection (its event.id in the connection records)'), get: (r) => r.uid },
  {
    def: f('event.dataset', 'keyword', 'dataset', ['dataset'], 'eastwatch.<kind>: eastwatch.dns, eastwatch.http, ...'),
    get: (r) => `${DATASET_PREFIX}${r.kind}`,
  },
  { def: f('source.ip', 'ip', 'src_key', ['src'], 'originator address', { text: 'src_ip' }), get: (r) => r.conn.orig_h },
  { def: f('source.port', 'long', 'src_port', ['sport'], 'originator port'), get: (r) => r.conn.orig_p },
  { def: f('destination.ip', 'ip', 'dst_key', ['dst'], 'responder address', { text: 'dst_ip' }), get: (r) => r.conn.resp_h },
  { def: f('destination.port', 'long', 'dst_port', ['dport'], 'responder port'), get: (r) => r.conn.resp_p },
  { def: f('network.transport', 'keyword', 'transport', ['proto'], 'tcp or udp'), get: (r) => r.conn.proto },
  {
    def: f('network.protocol', 'keyword', 'protocol', ['protocol'], 'application protocol: dns, http, tls, ssh, or the datastore (redis, postgresql, ...)'),
    get: (r) => (r.kind === 'app' ? r.protocol : r.kind),
  },
  // Where the connection ran, as its connection record says (the same names): what scoped keys
  // are narrowed on. Unset on records stored before placement was kept.
  {
    def: f('orchestrator.cluster.name', 'keyword', 'cluster', ['cluster'], "the cluster of the record's connection", { optional: true }),
    get: (r) => placementOf(r)?.cluster ?? null,
  },
  {
    def: f('eastwatch.source.namespace', 'keyword', 'src_namespace', [], "namespace of the connection's originator", { optional: true }),
    get: (r) => placementOf(r)?.source_namespace ?? null,
    indexed: true,
  },
  {
    def: f('eastwatch.destination.namespace', 'keyword', 'dst_namespace', [], "namespace of the connection's responder", { optional: true }),
    get: (r) => placementOf(r)?.destination_namespace ?? null,
    indexed: true,
  },
];

function placementOf(r: AppRecordOut): AppPlacement | undefined {
  return (r as StoreAppRecord).placement;
}

const EITHER: readonly EitherAlias[] = [
  { alias: 'ip', fields: ['source.ip', 'destination.ip'] },
  { alias: 'port', fields: ['source.port', 'destination.port'] },
  { alias: 'ns', fields: ['eastwatch.source.namespace', 'eastwatch.destination.namespace'] },
];

const DNS_FLAGS = ['AA', 'TC', 'RD', 'RA'] as const;

const OWN: Record<string, readonly AppField[]> = {
  dns: [
    // ECS: keyword (the id is an identifier, not a quantity).
    field('dns.id', 'keyword', str('trans_id'), ['trans_id'], 'DNS transaction id', { optional: false }),
    field('dns.type', 'keyword', dnsType, [], 'query (no response seen) or answer'),
    field('dns.question.name', 'keyword', str('query'), ['query'], 'queried name', { indexed: true }),
    field('dns.question.type', 'keyword', str('qtype_name'), ['qtype'], 'query type name (A, AAAA, ...)'),
    field('dns.question.class', 'keyword', str('qclass_name'), ['qclass'], 'query class name (C_INTERNET)'),
    field('dns.response_code', 'keyword', str('rcode_name'), ['rcode'], 'response code name (NOERROR, NXDOMAIN, ...)'),
    field('dns.op_code', 'keyword', str('opcode_name'), ['opcode'], 'operation code name (query, ...)'),
    field('dns.answers.data', 'keyword', list('answers'), ['answer'], 'answer data as Zeek renders it', { multi: true }),
    field('dns.answers.ttl', 'long', dnsTtls, ['ttl'], 'TTLs of the answers, seconds', { multi: true }),
    field('dns.header_flags', 'keyword', (r) => DNS_FLAGS.filter((k) => member(r, k) === true), ['flags'], 'header flags set: AA, TC, RD, RA', { multi: true }),
    field('zeek.dns.rejected', 'boolean', bool('rejected'), ['rejected'], 'the server refused the query'),
  ],
  http: [
    field('http.request.method', 'keyword', str('method'), ['method'], 'request method'),
    field('url.original', 'keyword', str('uri'), ['uri'], 'request target as sent', { es: WILDCARD }),
    field('url.domain', 'keyword', domain, ['host'], 'Host header without its port', { indexed: true }),
    field('url.port', 'long', port, [], 'port of the Host header, when it names one'),
    field('http.response.status_code', 'long', num('status_code'), ['status'], 'response status code'),
    field('http.version', 'keyword', str('version'), [], 'HTTP version (1.1)'),
    field('http.request.referrer', 'keyword', str('referrer'), ['referrer'], 'Referer header'),
    field('user_agent.original', 'keyword', str('user_agent'), ['ua', 'user_agent'], 'User-Agent header'),
    field('http.request.body.bytes', 'long', num('request_body_len'), [], 'request body length', { optional: false }),
    field('http.response.body.bytes', 'long', num('response_body_len'), [], 'response body length', { optional: false }),
    field('http.request.mime_type', 'keyword', str('orig_content_type'), [], 'request Content-Type'),
    field('http.response.mime_type', 'keyword', str('resp_content_type'), [], 'response Content-Type'),
    field('zeek.http.trans_depth', 'long', num('trans_depth'), ['trans_depth'], 'position of the request on the connection', { optional: false }),
    field('zeek.http.status_msg', 'keyword', str('status_msg'), [], 'response reason phrase'),
    field('zeek.http.origin', 'keyword', str('origin'), [], 'Origin header'),
  ],
  http2: [
    field('http.request.method', 'keyword', str('method'), ['method'], ':method'),
    field('url.original', 'keyword', str('uri'), ['uri'], ':path', { es: WILDCARD }),
    field('url.domain', 'keyword', domain, ['host'], ':authority (else Host) without its port', { indexed: true }),
    field('url.port', 'long', port, [], 'port of :authority (else Host), when it names one'),
    field('url.scheme', 'keyword', str('scheme'), ['scheme'], ':scheme'),
    field('http.response.status_code', 'long', num('status_code'), ['status'], 'final :status'),
    field('http.request.referrer', 'keyword', str('referrer'), ['referrer'], 'referer header'),
    field('user_agent.original', 'keyword', str('user_agent'), ['ua', 'user_agent'], 'user-agent header'),
    field('http.request.body.bytes', 'long', num('request_body_len'), [], 'request DATA bytes', { optional: false }),
    field('http.response.body.bytes', 'long', num('response_body_len'), [], 'response DATA bytes', { optional: false }),
    field('http.request.mime_type', 'keyword', str('orig_content_type'), [], 'request content-type'),
    field('http.response.mime_type', 'keyword', str('resp_content_type'), [], 'response content-type'),
    field('eastwatch.http2.stream_id', 'long', num('stream_id'), ['stream_id'], 'HTTP/2 stream id', { optional: false }),
    field('eastwatch.http2.push', 'boolean', bool('push'), ['push'], 'pushed by the server', { optional: false }),
    field('eastwatch.http2.reset', 'keyword', str('reset'), ['reset'], 'RST_STREAM error code that ended the stream'),
    field('eastwatch.grpc.service', 'keyword', str('grpc_service'), ['grpc.service'], 'gRPC service'),
    field('eastwatch.grpc.method', 'keyword', str('grpc_method'), ['grpc.method'], 'gRPC method'),
    field('eastwatch.grpc.status', 'long', num('grpc_status'), ['grpc.status'], 'grpc-status of the trailers'),
    field('eastwatch.grpc.message', 'keyword', str('grpc_message'), ['grpc.message'], 'grpc-message, percent-decoded'),
  ],
  tls: [
    field('tls.version', 'keyword', (r) => tlsVersion(member(r, 'version') as string | null).version, [], 'negotiated version as ECS writes it (1.2, 1.3)'),
    field('tls.version_protocol', 'keyword', (r) => tlsVersion(member(r, 'version') as string | null).protocol, [], 'tls or ssl'),
    field('tls.cipher', 'keyword', str('cipher'), ['cipher'], 'chosen cipher suite'),
    field('tls.client.server_name', 'keyword', str('server_name'), ['sni', 'server_name'], 'SNI', { indexed: true }),
    field('tls.established', 'boolean', bool('established'), ['established'], 'the handshake completed', { optional: false }),
    field('tls.resumed', 'boolean', bool('resumed'), ['resumed'], 'the session was resumed', { optional: false }),
    field('tls.next_protocol', 'keyword', str('next_protocol'), ['alpn'], 'ALPN protocol chosen by the server'),
    field('tls.client.ja3', 'keyword', str('ja3'), ['ja3'], 'JA3 of the ClientHello'),
    // Not tls.client.ja4: ECS defines ja3 but no JA4 field, and custom fields stay out of ECS's field sets.
    field('eastwatch.tls.client.ja4', 'keyword', str('ja4'), ['ja4'], 'JA4 of the ClientHello'),
    field('tls.server.ja3s', 'keyword', str('ja3s'), ['ja3s'], 'JA3S of the ServerHello'),
    field('tls.server.subject', 'keyword', str('subject'), ['subject'], 'subject of the server certificate (TLS <= 1.2)'),
    field('tls.server.issuer', 'keyword', str('issuer'), ['issuer'], 'issuer of the server certificate (TLS <= 1.2)'),
  ],
  ssh: [
    field('zeek.ssh.version', 'long', num('version'), ['ssh.version'], 'SSH protocol major version'),
    field('zeek.ssh.client', 'keyword', str('client'), ['ssh.client', 'client'], 'client identification string'),
    field('zeek.ssh.server', 'keyword', str('server'), ['ssh.server', 'server'], 'server identification string'),
  ],
  app: [
    field('user.name', 'keyword', str('user'), ['user'], 'PostgreSQL / MySQL user'),
    field('eastwatch.app.database', 'keyword', str('database'), ['database'], 'PostgreSQL database / MongoDB $db'),
    field('eastwatch.app.application_name', 'keyword', str('application_name'), ['application_name'], 'PostgreSQL application_name'),
    field('eastwatch.app.server_version', 'keyword', str('server_version'), ['server_version'], 'MySQL server version'),
    field('eastwatch.app.client_id', 'keyword', str('client_id'), ['client_id'], 'Kafka client id'),
    field('eastwatch.app.commands', 'keyword', list('commands'), ['commands'], 'first commands seen', { multi: true }),
    field('eastwatch.app.tls_requested', 'boolean', bool('tls_requested'), ['tls_requested'], 'the client asked to switch to TLS'),
    field('eastwatch.app.tls_accepted', 'boolean', bool('tls_accepted'), ['tls_accepted'], 'the server accepted'),
  ],
};

/** Where each kind's own log lives; the catch-all spec is 'app'. */
const TABLES: Record<string, { index: string; table: string }> = {
  dns: { index: 'dns', table: 'dns_log' },
  http: { index: 'http', table: 'http_log' },
  http2: { index: 'http2', table: 'http2_log' },
  tls: { index: 'tls', table: 'tls_log' },
  ssh: { index: 'ssh', table: 'ssh_log' },
  app: { index: 'app', table: 'app_log' },
};

export const APP_SPECS: readonly AppSpec[] = Object.keys(TABLES).map((kind) => {
  const fields = [...COMMON, ...OWN[kind]];
  return {
    kind,
    ...TABLES[kind],
    fields,
    registry: new FieldRegistry(
      kind,
      fields.map((x) => x.def),
      EITHER,
    ),
  };
});

const BY_KIND = new Map(APP_SPECS.map((s) => [s.kind, s]));
const CATCH_ALL = BY_KIND.get('app') as AppSpec;

/** The spec of a kind: its own, or the `app` catch-all for a kind without one. */
export function appSpec(kind: string): AppSpec {
  return BY_KIND.get(kind) ?? CATCH_ALL;
}

/**
 * Stable id of an application record: the connection uid, the kind, and a digest of the record,
 * so that analysing the same capture again gives the same ids (one copy each) whatever the
 * order, and two distinct records of one connection (DNS transactions, HTTP requests) differ.
 */
export function appRecordId(r: AppRecordOut): string {
  // Not the placement: the same record keeps its id whether it was stored with one or before
  // placement was kept, and whatever the inventory said of its connection.
  const { placement: _placement, ...record } = r as StoreAppRecord;
  const digest = createHash('sha1').update(JSON.stringify(record)).digest('base64url').slice(0, 16);
  return `${r.uid}-${r.kind}-${digest}`;
}

/** Restricts a query to one kind (the catch-all holds several). */
export function kindFilter(spec: AppSpec, kind: string): Query {
  const def = spec.registry.field('event.dataset') as FieldDef;
  return { kind: 'term', field: def, value: { kind: 'string', v: `${DATASET_PREFIX}${kind}` }, pos: 0 };
}

// ------------------------------------------------------------------ Elasticsearch

type Mapping = { [key: string]: unknown };

/** date_nanos where ECS says date, on purpose: see CONN_MAPPING in ecs.ts. */
const ES_TYPE: Record<FieldType, Mapping> = {
  keyword: { type: 'keyword', ignore_above: 4096 },
  long: { type: 'long' },
  boolean: { type: 'boolean' },
  ip: { type: 'ip' },
  date: { type: 'date_nanos' },
};

function setPath(o: Mapping, path: string[], v: unknown, asMapping: boolean): void {
  let cur = o;
  for (const seg of path.slice(0, -1)) {
    if (asMapping) {
      cur[seg] ??= { properties: {} };
      cur = (cur[seg] as { properties: Mapping }).properties;
    } else {
      cur[seg] ??= {};
      cur = cur[seg] as Mapping;
    }
  }
  cur[path[path.length - 1]] = v;
}

/** Explicit, strict mapping of a spec's documents. */
export function appMapping(spec: AppSpec): Mapping {
  const props: Mapping = {};
  for (const x of spec.fields) setPath(props, x.def.name.split('.'), x.es ?? ES_TYPE[x.def.type], true);
  const event = (props.event as { properties: Mapping }).properties;
  Object.assign(event, { kind: { type: 'keyword' }, category: { type: 'keyword' }, type: { type: 'keyword' } });
  props.ecs = { properties: { version: { type: 'keyword' } } };
  // The record as analysed, for exact read-back; in _source only.
  setPath(props, ['eastwatch', 'record'], { type: 'keyword', index: false, doc_values: false }, true);
  // ECS-only: the query language has no list-of-addresses type the SQLite side could search.
  if (spec.kind === 'dns') setPath(props, ['dns', 'resolved_ip'], { type: 'ip' }, true);
  return { dynamic: 'strict', properties: props };
}

/** The ECS document of a record (id computed once by the caller). */
export function toAppDoc(spec: AppSpec, r: AppRecordOut, id: string): Mapping {
  const doc: Mapping = { ecs: { version: ECS_VERSION } };
  for (const x of spec.fields) {
    const v = x.def.name === 'event.id' ? id : x.get(r);
    if (v === null || (Array.isArray(v) && v.length === 0)) continue;
    setPath(doc, x.def.name.split('.'), x.def.type === 'date' ? formatInstant(instantFromSeconds(v as number)) : v, false);
  }
  Object.assign(doc.event as Mapping, { kind: 'event', category: ['network'], type: ['protocol'] });
  setPath(doc, ['eastwatch', 'record'], JSON.stringify(r), false);
  if (r.kind === 'dns') {
    const dns = doc.dns as Mapping;
    const ips = resolvedIps(r);
    if (ips.length > 0) dns.resolved_ip = ips;
    // ECS's dns.answers is a list of answer objects; Zeek's answers and TTLs are parallel lists.
    const a = dns.answers as { data?: string[]; ttl?: number[] } | undefined;
    if (a?.data !== undefined) dns.answers = a.data.map((data, i) => (a.ttl?.[i] !== undefined ? { data, ttl: a.ttl[i] } : { data }));
  }
  return doc;
}

export function fromAppDoc(doc: { eastwatch: { record: string } }): AppRecordOut {
  return JSON.parse(doc.eastwatch.record) as AppRecordOut;
}

// ------------------------------------------------------------------ SQLite

const SQL_TYPE: Record<FieldType, string> = { keyword: 'TEXT', long: 'INTEGER', boolean: 'INTEGER', ip: 'BLOB', date: 'REAL' };

/** The columns of a spec's table, in insert order: the fields, the ip texts, then the record. */
export function appColumns(spec: AppSpec): string[] {
  const cols = spec.fields.map((x) => x.def.sql.columns[0]);
  for (const x of spec.fields) if (x.def.sql.text) cols.push(x.def.sql.text);
  cols.push('record');
  return cols;
}

/** Each field's column and SQL type (the ip texts and the record are there since the first version). */
export function appColumnTypes(spec: AppSpec): { name: string; type: string }[] {
  return spec.fields.map((x) => ({ name: x.def.sql.columns[0], type: x.def.multi ? 'TEXT' : SQL_TYPE[x.def.type] }));
}

export function appSchema(spec: AppSpec): string {
  const t = spec.table;
  const defs = spec.fields.map((x) => {
    const c = x.def.sql.columns[0];
    const type = x.def.multi ? 'TEXT' : SQL_TYPE[x.def.type];
    // Unset values are NULL; an address that does not parse is NULL too and refused (dead letter).
    const notNull = !x.def.optional || x.def.type === 'ip' ? ' NOT NULL' : '';
    return `  ${c} ${type}${notNull}${c === 'id' ? ' PRIMARY KEY' : ''}`;
  });
  for (const x of spec.fields) if (x.def.sql.text) defs.push(`  ${x.def.sql.text} TEXT NOT NULL`);
  defs.push('  record TEXT NOT NULL');
  const idx = [
    `CREATE INDEX IF NOT EXISTS ${t}_ts ON ${t} (ts, id);`,
    `CREATE INDEX IF NOT EXISTS ${t}_uid ON ${t} (uid, ts);`,
    `CREATE INDEX IF NOT EXISTS ${t}_src ON ${t} (src_key, ts);`,
    `CREATE INDEX IF NOT EXISTS ${t}_dst ON ${t} (dst_key, ts);`,
  ];
  return `CREATE TABLE IF NOT EXISTS ${t} (\n${defs.join(',\n')}\n) STRICT;\n${idx.join('\n')}\n`;
}

/**
 * The indexes of the fields analysts filter on most. Apart from appSchema: a file made before a
 * field existed gets its column at init (ALTER TABLE) only after the schema ran, and the index after that.
 */
export function appFieldIndexes(spec: AppSpec): string[] {
  const t = spec.table;
  return spec.fields.filter((x) => x.indexed).map((x) => `CREATE INDEX IF NOT EXISTS ${t}_${x.def.sql.columns[0]} ON ${t} (${x.def.sql.columns[0]}, ts);`);
}

/** The row of a record, in appColumns order. */
export function appRow(spec: AppSpec, r: AppRecordOut, id: string): SqlParam[] {
  const row: SqlParam[] = spec.fields.map((x) => {
    const v = x.def.name === 'event.id' ? id : x.get(r);
    if (v === null) return null;
    if (x.def.multi) return JSON.stringify(v);
    if (x.def.type === 'ip') return ipKey(String(v));
    if (typeof v === 'boolean') return v ? 1 : 0;
    return v as string | number;
  });
  for (const x of spec.fields) if (x.def.sql.text) row.push(String(x.get(r)));
  row.push(JSON.stringify(r));
  return row;
}
