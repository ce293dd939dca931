/**
 * Serialisers of connection records: ndjson (our record), zeek (Zeek TSV with the #fields
 * header that zeek-cut reads), zeek-json (Zeek's JSON log lines), table (aligned text).
 */
import type { ConnRecord } from '../../parsers/record/conn';
import type { K8sEnd } from '../../parsers/record/k8s';
import { writeConnBytes } from './conn-bytes';
import type { TextSink } from './sink';
import { tsvElement, tsvEscape, zeekFooter, zeekHeader } from './zeek-tsv';

export type OutputFormat = 'table' | 'ndjson' | 'zeek' | 'zeek-json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'ndjson', 'zeek', 'zeek-json'];

export interface RecordWriter {
  write(r: ConnRecord): void;
  /** Writes any trailer and flushes. */
  close(): Promise<void>;
}

/** Zeek conn.log columns (base, then the mac-logging, vlan-logging and community-id policy columns), then ours. */
const ZEEK_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['ts', 'time'],
  ['uid', 'string'],
  ['id.orig_h', 'addr'],
  ['id.orig_p', 'port'],
  ['id.resp_h', 'addr'],
  ['id.resp_p', 'port'],
  ['proto', 'enum'],
  ['service', 'string'],
  ['duration', 'interval'],
  ['orig_bytes', 'count'],
  ['resp_bytes', 'count'],
  ['conn_state', 'string'],
  ['local_orig', 'bool'],
  ['local_resp', 'bool'],
  ['missed_bytes', 'count'],
  ['history', 'string'],
  ['orig_pkts', 'count'],
  ['orig_ip_bytes', 'count'],
  ['resp_pkts', 'count'],
  ['resp_ip_bytes', 'count'],
  ['tunnel_parents', 'set[string]'],
  ['ip_proto', 'count'],
  ['orig_l2_addr', 'string'],
  ['resp_l2_addr', 'string'],
  ['vlan', 'int'],
  ['inner_vlan', 'int'],
  ['community_id', 'string'],
  ['interim', 'bool'],
  // Kubernetes identity (unset without an inventory).
  ['orig_namespace', 'string'],
  ['orig_pod', 'string'],
  ['orig_workload', 'string'],
  ['resp_namespace', 'string'],
  ['resp_pod', 'string'],
  ['resp_workload', 'string'],
  ['resp_service', 'string'],
  ['direction', 'string'],
  ['scope', 'string'],
  ['policy_verdict', 'string'],
];

/** "Deployment/api"; undefined for ends without a workload. */
function workloadName(e: K8sEnd): string | undefined {
  return e.workload === undefined ? undefined : `${e.workload_kind ?? 'Pod'}/${e.workload}`;
}

/** The Kubernetes columns in ZEEK_FIELDS order; undefined where unset. */
function k8sColumns(r: ConnRecord): (string | undefined)[] {
  const k = r.k8s;
  if (!k) return K8S_UNSET;
  return [
    k.orig.namespace,
    k.orig.pod,
    workloadName(k.orig),
    k.resp.namespace,
    k.resp.pod,
    workloadName(k.resp),
    k.resp.service,
    k.direction,
    k.scope,
    k.policy?.verdict,
  ];
}
const K8S_COLUMNS = [
  'orig_namespace',
  'orig_pod',
  'orig_workload',
  'resp_namespace',
  'resp_pod',
  'resp_workload',
  'resp_service',
  'direction',
  'scope',
  'policy_verdict',
] as const;
const K8S_UNSET: (string | undefined)[] = K8S_COLUMNS.map(() => undefined);

/** Zeek prints times and intervals with 6 decimals. */
function fixed6(n: number): string {
  return n.toFixed(6);
}

/** Zeek leaves duration and byte counts unset for connections whose duration is zero. */
function hasDuration(r: ConnRecord): boolean {
  return r.duration > 0;
}

function zeekTsvLine(r: ConnRecord): string {
  const d = hasDuration(r);
  const b = (v: boolean): string => (v ? 'T' : 'F');
  const opt = (v: string | number | null): string => (v === null ? '-' : String(v));
  return `${[
    fixed6(r.ts),
    r.uid,
    r.orig_h,
    r.orig_p,
    r.resp_h,
    r.resp_p,
    r.proto,
    r.service.length ? r.service.map((x) => tsvElement(x)).join(',') : '-',
    d ? fixed6(r.duration) : '-',
    d ? r.orig_bytes : '-',
    d ? r.resp_bytes : '-',
    r.conn_state,
    b(r.local_orig),
    b(r.local_resp),
    r.missed_bytes,
    r.history || '-',
    r.orig_pkts,
    r.orig_ip_bytes,
    r.resp_pkts,
    r.resp_ip_bytes,
    r.tunnel_parents.length ? r.tunnel_parents.join(',') : '-',
    r.ip_proto,
    opt(r.orig_l2_addr),
    opt(r.resp_l2_addr),
    opt(r.vlan),
    opt(r.inner_vlan),
    r.community_id,
    b(r.interim),
    ...k8sColumns(r).map((v) => (v === undefined ? '-' : tsvEscape(v))),
  ].join('\t')}\n`;
}

/** Zeek's JSON writer: dotted id names, unset fields omitted, times as epoch seconds. */
export function toZeekJson(r: ConnRecord): Record<string, unknown> {
  const o: Record<string, unknown> = {
    ts: r.ts,
    uid: r.uid,
    'id.orig_h': r.orig_h,
    'id.orig_p': r.orig_p,
    'id.resp_h': r.resp_h,
    'id.resp_p': r.resp_p,
    proto: r.proto,
  };
  if (r.service.length) o.service = r.service.join(',');
  if (hasDuration(r)) {
    o.duration = r.duration;
    o.orig_bytes = r.orig_bytes;
    o.resp_bytes = r.resp_bytes;
  }
  o.conn_state = r.conn_state;
  o.local_orig = r.local_orig;
  o.local_resp = r.local_resp;
  o.missed_bytes = r.missed_bytes;
  if (r.history) o.history = r.history;
  o.orig_pkts = r.orig_pkts;
  o.orig_ip_bytes = r.orig_ip_bytes;
  o.resp_pkts = r.resp_pkts;
  o.resp_ip_bytes = r.resp_ip_bytes;
  if (r.tunnel_parents.length) o.tunnel_parents = r.tunnel_parents;
  o.ip_proto = r.ip_proto;
  if (r.orig_l2_addr !== null) o.orig_l2_addr = r.orig_l2_addr;
  if (r.resp_l2_addr !== null) o.resp_l2_addr = r.resp_l2_addr;
  if (r.vlan !== null) o.vlan = r.vlan;
  if (r.inner_vlan !== null) o.inner_vlan = r.inner_vlan;
  o.community_id = r.community_id;
  if (r.interim) o.interim = true;
  if (r.k8s) {
    const cols = k8sColumns(r);
    for (let i = 0; i < K8S_COLUMNS.length; i++) if (cols[i] !== undefined) o[K8S_COLUMNS[i]] = cols[i];
  }
  return o;
}

/**
 * JSON.stringify(r) + newline for a ConnRecord, written out by hand. V8's JSON.stringify builds
 * its result as a tree of string pieces that must then be flattened to be written; this was twice
 * as slow per record on the benchmark's records. Every string field holds characters that JSON
 * never escapes (addresses, uids, state and history letters, base64, fixed names); the arrays go
 * through JSON.stringify. A test holds this equal to JSON.stringify on real records.
 */
export function ndjsonLine(r: ConnRecord): string {
  return (
    '{"ts":' +
    r.ts +
    ',"uid":"' +
    r.uid +
    '","orig_h":"' +
    r.orig_h +
    '","orig_p":' +
    r.orig_p +
    ',"resp_h":"' +
    r.resp_h +
    '","resp_p":' +
    r.resp_p +
    ',"proto":"' +
    r.proto +
    '","ip_proto":' +
    r.ip_proto +
    ',"service":' +
    jsonArray(r.service) +
    ',"duration":' +
    r.duration +
    ',"orig_bytes":' +
    r.orig_bytes +
    ',"resp_bytes":' +
    r.resp_bytes +
    ',"conn_state":"' +
    r.conn_state +
    '","local_orig":' +
    r.local_orig +
    ',"local_resp":' +
    r.local_resp +
    ',"missed_bytes":' +
    r.missed_bytes +
    ',"history":"' +
    r.history +
    '","orig_pkts":' +
    r.orig_pkts +
    ',"orig_ip_bytes":' +
    r.orig_ip_bytes +
    ',"resp_pkts":' +
    r.resp_pkts +
    ',"resp_ip_bytes":' +
    r.resp_ip_bytes +
    ',"tunnel_parents":' +
    jsonArray(r.tunnel_parents) +
    ',"community_id":"' +
    r.community_id +
    '","vlan":' +
    r.vlan +
    ',"inner_vlan":' +
    r.inner_vlan +
    ',"orig_l2_addr":' +
    jsonString(r.orig_l2_addr) +
    ',"resp_l2_addr":' +
    jsonString(r.resp_l2_addr) +
    ',"tunnel_type":' +
    jsonString(r.tunnel_type) +
    ',"tunnel_id":' +
    r.tunnel_id +
    ',"interim":' +
    r.interim +
    // Where the record came from: set by the flow parsers and the collector as they make a record.
    (r.source === undefined ? '' : `,"source":"${r.source}"`) +
    // Set by flow sources only (one-way, midstream): absent for captures, as in the record.
    (r.observed === undefined ? '' : `,"observed":"${r.observed}"`) +
    (r.stitched === undefined ? '' : `,"stitched":${r.stitched}`) +
    // Hubble with monitor aggregation: the packet counts are report counts.
    (r.counts === undefined ? '' : `,"counts":"${r.counts}"`) +
    // Added last by the enrichment, so JSON.stringify puts it last too; its label values may need escaping.
    (r.k8s === undefined ? '}\n' : `,"k8s":${JSON.stringify(r.k8s)}}\n`)
  );
}

function jsonString(v: string | null): string {
  return v === null ? 'null' : `"${v}"`;
}

function jsonArray(a: string[]): string {
  return a.length === 0 ? '[]' : JSON.stringify(a);
}

const TABLE_COLS: ReadonlyArray<readonly [string, number, (r: ConnRecord) => string]> = [
  ['ts', 17, (r) => fixed6(r.ts)],
  ['proto', 5, (r) => (r.proto === 'unknown_transport' ? `ip/${r.ip_proto}` : r.proto)],
  ['originator', 40, (r) => endpoint(r.orig_h, r.orig_p)],
  ['responder', 40, (r) => endpoint(r.resp_h, r.resp_p)],
  ['state', 6, (r) => r.conn_state],
  ['history', 10, (r) => r.history || '-'],
  ['pkts', 11, (r) => `${r.orig_pkts}/${r.resp_pkts}`],
  ['bytes', 17, (r) => `${r.orig_bytes}/${r.resp_bytes}`],
  ['duration', 10, (r) => r.duration.toFixed(3)],
  ['tunnel', 10, (r) => (r.tunnel_type ? `${r.tunnel_type}${r.tunnel_id !== null && r.tunnel_id >= 0 ? `:${r.tunnel_id}` : ''}` : '-')],
  ['uid', 20, (r) => r.uid + (r.interim ? '*' : '')],
  ['identity', 0, (r) => (r.k8s ? `${endName(r.k8s.orig)} -> ${endName(r.k8s.resp)}${r.k8s.policy?.verdict === 'denied' ? ' (denied)' : ''}` : '')],
];

/** namespace/workload (or pod, service, node, external) of one end, for the table. */
function endName(e: K8sEnd): string {
  if (e.namespace !== undefined) return `${e.namespace}/${e.workload ?? e.pod ?? e.service ?? '?'}`;
  return e.node !== undefined ? `node:${e.node}` : e.kind;
}

function endpoint(h: string, p: number): string {
  return h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`;
}

function tableLine(cells: string[]): string {
  let s = '';
  for (let i = 0; i < cells.length; i++) {
    const w = TABLE_COLS[i][1];
    s += i === cells.length - 1 ? cells[i] : `${cells[i].padEnd(w)} `;
  }
  return `${s.trimEnd()}\n`;
}

export function createWriter(format: OutputFormat, sink: TextSink, now: () => Date = () => new Date()): RecordWriter {
  switch (format) {
    case 'ndjson':
      return {
        write: (r) => {
          if (!writeConnBytes(sink, r)) sink.write(ndjsonLine(r));
        },
        close: () => sink.end(),
      };
    case 'zeek-json':
      return {
        write: (r) => sink.write(`${JSON.stringify(toZeekJson(r))}\n`),
        close: () => sink.end(),
      };
    case 'zeek': {
      sink.write(zeekHeader('conn', ZEEK_FIELDS, now()));
      return {
        write: (r) => sink.write(zeekTsvLine(r)),
        close: async () => {
          sink.write(zeekFooter(now()));
          await sink.end();
        },
      };
    }
    case 'table': {
      sink.write(tableLine(TABLE_COLS.map((c) => c[0])));
      return {
        write: (r) => sink.write(tableLine(TABLE_COLS.map((c) => c[2](r)))),
        close: () => sink.end(),
      };
    }
  }
}
