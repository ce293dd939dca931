/**
 * ConnRecord <-> Elastic Common Schema document, and the index mapping of those documents.
 * ECS fields have ECS's types (test/store/ecs-mapping.test.ts checks them against
 * spec/ecs-fields.csv); Zeek-specific fields sit where Elastic's Zeek integration puts them
 * (zeek.connection.*, and zeek.session_id for the uid, so that connections join their dns, http
 * and tls records by it); ours under eastwatch.*. event.original is left unset: a record decoded
 * from packets has no original event text. fromEcs(toEcs(r)) deep-equals r: times go through nanosecond RFC 3339 and
 * integer nanoseconds, which are exact for the record's doubles.
 */
import type { ConnRecord, ConnState, RecordSource, Transport } from '../../parsers/record/conn';
import { formatInstant, instantFromSeconds, instantSeconds, type Instant } from '../query/ast';
import type { K8sEnd, K8sPolicyVerdict, K8sScope } from '../../parsers/record/k8s';
import type { StoreRecord } from './types';

/**
 * The ECS release whose field definitions the mappings follow: the one spec/ecs-fields.csv was
 * generated from, which the mapping test compares every ECS-named field with.
 */
export const ECS_VERSION = '9.5.0-dev';

export interface EcsEndpoint {
  ip: string;
  port: number;
  bytes: number;
  packets: number;
  mac?: string;
}

/** record.k8s.orig / resp as stored: the same fields (snake_case, as the record has them). */
export type EcsWorkload = K8sEnd;

export interface EcsConnDoc {
  '@timestamp': string;
  ecs: { version: string };
  event: {
    id: string;
    kind: 'event';
    category: ['network'];
    type: ['connection'];
    dataset: 'eastwatch.conn';
    /**
     * ConnRecord.source: where the record came from (capture, agent, hubble, aws-vpc, netflow,
     * ipfix, zeek, ndjson). ECS's "name of the module this data is coming from", as Elastic's own
     * integrations fill it (zeek, netflow, aws); the dataset stays eastwatch.conn, one schema for all.
     */
    module?: RecordSource;
    start: string;
    end: string;
    /** Nanoseconds. */
    duration: number;
  };
  source: EcsEndpoint;
  destination: EcsEndpoint;
  related: { ip: string[] };
  network: {
    transport: Transport;
    iana_number: string;
    protocol?: string[];
    community_id: string;
    bytes: number;
    packets: number;
    direction: 'internal' | 'inbound' | 'outbound' | 'external';
    type: 'ipv4' | 'ipv6';
    vlan?: { id: string };
    inner?: { vlan: { id: string } };
  };
  zeek: {
    /** The uid again (it is event.id too): Elastic's Zeek integration joins a connection's logs by it. */
    session_id: string;
    connection: {
      state: ConnState;
      history: string;
      local_orig: boolean;
      local_resp: boolean;
      missed_bytes: number;
      /**
       * Payload bytes (Zeek orig_bytes/resp_bytes); source/destination.bytes hold IP bytes, as
       * Elastic's Zeek integration has them. Always written; absent from documents stored before.
       */
      orig_bytes?: number;
      resp_bytes?: number;
      orig_ip_bytes: number;
      resp_ip_bytes: number;
      tunnel_parents?: string[];
    };
  };
  /** The cluster the record's source belongs to (StoreRecord.cluster). */
  orchestrator?: { cluster: { name: string } };
  eastwatch: {
    interim: boolean;
    /** ConnRecord.observed: what a flow producer could not see (one direction, the start). */
    observed?: 'one-way' | 'midstream';
    /** ConnRecord.stitched: two one-way flow records paired into this one. */
    stitched?: boolean;
    /** ConnRecord.counts: 'reports' when the packet counts are the producer's reports (aggregated Hubble), not packets. */
    counts?: 'reports';
    /** SHA-256 of the uploaded capture the record came from. */
    capture?: string;
    tunnel?: { type?: string; id?: number };
    source?: EcsWorkload;
    destination?: EcsWorkload;
    scope?: K8sScope;
    policy?: K8sPolicyVerdict;
  };
}

/** ECS writes MACs as upper-case, dash-separated; ConnRecord as Zeek does (lower-case, colons). */
export const ecsMac = (m: string): string => m.toUpperCase().replace(/:/g, '-');
export const recordMac = (m: string): string => m.toLowerCase().replace(/-/g, ':');

export function direction(localOrig: boolean, localResp: boolean): EcsConnDoc['network']['direction'] {
  if (localOrig && localResp) return 'internal';
  if (localOrig) return 'outbound';
  if (localResp) return 'inbound';
  return 'external';
}

function addNanos(i: Instant, ns: number): Instant {
  const total = i.nanos + ns;
  return { sec: i.sec + Math.floor(total / 1e9), nanos: total % 1e9 };
}

/** A copy without undefined members: what JSON (and so Elasticsearch) keeps. */
function defined<T extends object>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

export function durationNanos(r: ConnRecord): number {
  return Math.round(r.duration * 1e9);
}

/**
 * formatInstant with the date part of the last second reused: records arrive in near time order,
 * and Date formatting was the largest part of toEcs, which is most of the client's CPU when
 * indexing (bench/store.ts).
 */
let lastSec = NaN;
let lastBase = '';
function instantText(i: Instant): string {
  if (i.sec !== lastSec) {
    lastSec = i.sec;
    lastBase = formatInstant({ sec: i.sec, nanos: 0 }).slice(0, 19);
  }
  return `${lastBase}.${String(i.nanos).padStart(9, '0')}Z`;
}

/** ecsMac of the few MACs a capture holds (the pods'), memoised; bounded. */
const MACS = new Map<string, string>();
function macText(m: string): string {
  let v = MACS.get(m);
  if (v === undefined) {
    if (MACS.size >= 4096) MACS.clear();
    v = ecsMac(m);
    MACS.set(m, v);
  }
  return v;
}

export function toEcs(r: StoreRecord): EcsConnDoc {
  const start = instantFromSeconds(r.ts);
  const durNs = durationNanos(r);
  const startText = instantText(start);
  const doc: EcsConnDoc = {
    '@timestamp': startText,
    ecs: { version: ECS_VERSION },
    event: {
      id: r.uid,
      kind: 'event',
      category: ['network'],
      type: ['connection'],
      dataset: 'eastwatch.conn',
      start: startText,
      end: durNs === 0 ? startText : instantText(addNanos(start, durNs)),
      duration: durNs,
    },
    // IP bytes, as Elastic's Zeek integration puts them: every source has them (flow exporters,
    // VPC and Hubble have no payload counts); payload bytes stay in zeek.connection.
    source: { ip: r.orig_h, port: r.orig_p, bytes: r.orig_ip_bytes, packets: r.orig_pkts },
    destination: { ip: r.resp_h, port: r.resp_p, bytes: r.resp_ip_bytes, packets: r.resp_pkts },
    related: { ip: r.orig_h === r.resp_h ? [r.orig_h] : [r.orig_h, r.resp_h] },
    network: {
      transport: r.proto,
      iana_number: String(r.ip_proto),
      community_id: r.community_id,
      bytes: r.orig_ip_bytes + r.resp_ip_bytes,
      packets: r.orig_pkts + r.resp_pkts,
      // The enrichment knows cluster entities beyond the local networks: its direction wins.
      direction: r.k8s?.direction ?? direction(r.local_orig, r.local_resp),
      type: r.orig_h.includes(':') ? 'ipv6' : 'ipv4',
    },
    zeek: {
      session_id: r.uid,
      connection: {
        state: r.conn_state,
        history: r.history,
        local_orig: r.local_orig,
        local_resp: r.local_resp,
        missed_bytes: r.missed_bytes,
        orig_bytes: r.orig_bytes,
        resp_bytes: r.resp_bytes,
        orig_ip_bytes: r.orig_ip_bytes,
        resp_ip_bytes: r.resp_ip_bytes,
      },
    },
    eastwatch: { interim: r.interim },
  };
  if (r.orig_l2_addr !== null) doc.source.mac = macText(r.orig_l2_addr);
  if (r.resp_l2_addr !== null) doc.destination.mac = macText(r.resp_l2_addr);
  if (r.service.length > 0) doc.network.protocol = r.service.slice();
  if (r.vlan !== null) doc.network.vlan = { id: String(r.vlan) };
  if (r.inner_vlan !== null) doc.network.inner = { vlan: { id: String(r.inner_vlan) } };
  if (r.tunnel_parents.length > 0) doc.zeek.connection.tunnel_parents = r.tunnel_parents.slice();
  if (r.tunnel_type !== null || r.tunnel_id !== null) {
    doc.eastwatch.tunnel = {};
    if (r.tunnel_type !== null) doc.eastwatch.tunnel.type = r.tunnel_type;
    if (r.tunnel_id !== null) doc.eastwatch.tunnel.id = r.tunnel_id;
  }
  if (r.capture !== undefined) doc.eastwatch.capture = r.capture;
  if (r.cluster !== undefined) doc.orchestrator = { cluster: { name: r.cluster } };
  if (r.observed !== undefined) doc.eastwatch.observed = r.observed;
  if (r.stitched !== undefined) doc.eastwatch.stitched = r.stitched;
  if (r.counts !== undefined) doc.eastwatch.counts = r.counts;
  if (r.source !== undefined) doc.event.module = r.source;
  if (r.k8s) {
    doc.eastwatch.source = defined(r.k8s.orig);
    doc.eastwatch.destination = defined(r.k8s.resp);
    doc.eastwatch.scope = r.k8s.scope;
    if (r.k8s.policy) doc.eastwatch.policy = defined(r.k8s.policy);
  }
  return doc;
}

/** RFC 3339 with up to nine fraction digits -> epoch seconds (the record's double). */
export function parseRfc3339(s: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(s);
  if (!m) throw new Error(`not an RFC 3339 UTC time: ${s}`);
  return instantSeconds({ sec: Date.parse(`${m[1]}Z`) / 1000, nanos: Number((m[2] ?? '').padEnd(9, '0')) });
}

export function fromEcs(d: EcsConnDoc): StoreRecord {
  const z = d.zeek.connection;
  const r: StoreRecord = {
    ts: parseRfc3339(d['@timestamp']),
    uid: d.event.id,
    orig_h: d.source.ip,
    orig_p: d.source.port,
    resp_h: d.destination.ip,
    resp_p: d.destination.port,
    proto: d.network.transport,
    ip_proto: Number(d.network.iana_number),
    service: d.network.protocol ? d.network.protocol.slice() : [],
    duration: d.event.duration / 1e9,
    // Documents written before source.bytes held IP bytes have no zeek.connection.orig_bytes:
    // their source.bytes is the payload count.
    orig_bytes: z.orig_bytes ?? d.source.bytes,
    resp_bytes: z.resp_bytes ?? d.destination.bytes,
    conn_state: z.state,
    local_orig: z.local_orig,
    local_resp: z.local_resp,
    missed_bytes: z.missed_bytes,
    history: z.history,
    orig_pkts: d.source.packets,
    orig_ip_bytes: z.orig_ip_bytes,
    resp_pkts: d.destination.packets,
    resp_ip_bytes: z.resp_ip_bytes,
    tunnel_parents: z.tunnel_parents ? z.tunnel_parents.slice() : [],
    community_id: d.network.community_id,
    vlan: d.network.vlan ? Number(d.network.vlan.id) : null,
    inner_vlan: d.network.inner ? Number(d.network.inner.vlan.id) : null,
    orig_l2_addr: d.source.mac !== undefined ? recordMac(d.source.mac) : null,
    resp_l2_addr: d.destination.mac !== undefined ? recordMac(d.destination.mac) : null,
    tunnel_type: d.eastwatch.tunnel?.type ?? null,
    tunnel_id: d.eastwatch.tunnel?.id ?? null,
    interim: d.eastwatch.interim,
  };
  const e = d.eastwatch;
  if (e.capture !== undefined) r.capture = e.capture;
  if (d.orchestrator !== undefined) r.cluster = d.orchestrator.cluster.name;
  if (e.observed !== undefined) r.observed = e.observed;
  if (e.stitched !== undefined) r.stitched = e.stitched;
  if (e.counts !== undefined) r.counts = e.counts;
  if (d.event.module !== undefined) r.source = d.event.module;
  if (e.source && e.destination && e.scope !== undefined) {
    r.k8s = { orig: e.source, resp: e.destination, direction: d.network.direction, scope: e.scope };
    if (e.policy) r.k8s.policy = e.policy;
  }
  return r;
}

/**
 * Version for external_gte versioning: a later end wins, and at the same end the final record
 * wins over the interim one, so re-sending old data never overwrites newer data.
 */
export function recordVersion(r: ConnRecord): number {
  const endMs = Math.max(0, Math.round((r.ts + r.duration) * 1000));
  return endMs * 2 + (r.interim ? 0 : 1);
}

type Mapping = { [key: string]: unknown };
const kw: Mapping = { type: 'keyword' };
const lng: Mapping = { type: 'long' };
const ip: Mapping = { type: 'ip' };
const bool: Mapping = { type: 'boolean' };
const nanos: Mapping = { type: 'date_nanos' };
const obj = (properties: Mapping): Mapping => ({ properties });
const endpoint = obj({ ip, port: lng, bytes: lng, packets: lng, mac: kw });
const wl = obj({
  kind: kw,
  namespace: kw,
  pod: kw,
  workload: kw,
  workload_kind: kw,
  node: kw,
  service: kw,
  labels: { type: 'flattened' },
  host_network: bool,
  from_flow: kw,
});
const verdict = obj({ verdict: kw, egress: kw, ingress: kw, denied_by: kw, allowed_by: kw, dataplane_verdict: kw, drop_reason: kw });

/**
 * Explicit mapping of EcsConnDoc; `strict`: a field we did not plan is an error, not a surprise.
 * @timestamp, event.start and event.end are date_nanos on purpose where ECS says date: Zeek's
 * times have microseconds, flow records nanoseconds, and `date` would round them to milliseconds
 * (records within one millisecond would sort and page in arbitrary order). date_nanos is a date
 * type to Elasticsearch: searches and sorts across indices mixing the two still work.
 */
export const CONN_MAPPING: Mapping = {
  dynamic: 'strict',
  properties: {
    '@timestamp': nanos,
    ecs: obj({ version: kw }),
    event: obj({ id: kw, kind: kw, category: kw, type: kw, dataset: kw, module: kw, start: nanos, end: nanos, duration: lng }),
    source: endpoint,
    destination: endpoint,
    related: obj({ ip }),
    network: obj({
      transport: kw,
      iana_number: kw,
      protocol: kw,
      community_id: kw,
      bytes: lng,
      packets: lng,
      direction: kw,
      type: kw,
      vlan: obj({ id: kw }),
      inner: obj({ vlan: obj({ id: kw }) }),
    }),
    zeek: obj({
      session_id: kw,
      connection: obj({
        state: kw,
        history: kw,
        local_orig: bool,
        local_resp: bool,
        missed_bytes: lng,
        orig_bytes: lng,
        resp_bytes: lng,
        orig_ip_bytes: lng,
        resp_ip_bytes: lng,
        tunnel_parents: kw,
      }),
    }),
    orchestrator: obj({ cluster: obj({ name: kw }) }),
    eastwatch: obj({
      interim: bool,
      observed: kw,
      stitched: bool,
      counts: kw,
      capture: kw,
      tunnel: obj({ type: kw, id: lng }),
      source: wl,
      destination: wl,
      scope: kw,
      policy: verdict,
    }),
  },
};

/** Where refused documents go, with the reason: nothing is dropped silently. */
export const DEAD_LETTER_MAPPING: Mapping = {
  dynamic: 'strict',
  properties: {
    '@timestamp': { type: 'date' },
    reason: { type: 'keyword', ignore_above: 8191 },
    status: { type: 'integer' },
    index: kw,
    doc_id: kw,
    // Kept in _source only: the refused document may violate any mapping.
    document: { type: 'keyword', index: false, doc_values: false },
  },
};
