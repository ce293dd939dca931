/**
 * The field registry: every field the query language, the sort and the aggregations accept,
 * with its ECS name (the Elasticsearch field), its type, its short aliases, and where it lives
 * in the SQLite table. One registry for both backends keeps their answers identical.
 */

export type FieldType = 'ip' | 'keyword' | 'long' | 'date' | 'boolean';

export interface SqlColumn {
  /** Columns of the registry's table; a condition holds when it holds for any of them (related.ip). */
  readonly columns: readonly string[];
  /** The column holds a JSON array of strings (a list field). */
  readonly json: boolean;
  /** For ip fields: the text column beside the 16-byte key column, for output and aggregations. */
  readonly text?: string;
}

export interface FieldDef {
  readonly name: string;
  readonly type: FieldType;
  readonly aliases: readonly string[];
  /** The field holds a list; a value matches when any element matches. */
  readonly multi: boolean;
  readonly sql: SqlColumn;
  readonly description: string;
  /** Some records hold no value: keyset pagination needs one on every record, so it does not sort. */
  readonly optional?: boolean;
}

/** An alias that means "either side": `ns: x` is `eastwatch.source.namespace: x or eastwatch.destination.namespace: x`. */
export interface EitherAlias {
  readonly alias: string;
  readonly fields: readonly string[];
}

export interface FieldOptions {
  multi?: boolean;
  json?: boolean;
  text?: string;
  optional?: boolean;
}

export function f(name: string, type: FieldType, col: string | string[], aliases: string[], description: string, opts: FieldOptions = {}): FieldDef {
  const d: FieldDef = {
    name,
    type,
    aliases,
    multi: opts.multi ?? false,
    sql: { columns: Array.isArray(col) ? col : [col], json: opts.json ?? false, text: opts.text },
    description,
  };
  return opts.optional ? { ...d, optional: true } : d;
}

export const FIELDS: readonly FieldDef[] = [
  f('@timestamp', 'date', 'ts', [], 'first packet of the connection'),
  f('event.start', 'date', 'ts', [], 'first packet (same as @timestamp)'),
  f('event.end', 'date', 'end_ts', [], 'last packet'),
  f('event.duration', 'long', 'duration_ns', [], 'last packet minus first packet, nanoseconds'),
  f('event.id', 'keyword', 'uid', ['uid'], 'stable connection uid'),
  f('zeek.session_id', 'keyword', 'uid', [], 'the uid again, as the dns, http and tls records name it'),
  f('source.ip', 'ip', 'src_key', ['src'], 'originator address', { text: 'src_ip' }),
  f('source.port', 'long', 'src_port', ['sport'], 'originator port'),
  f('source.bytes', 'long', 'orig_ip_bytes', [], "originator IP bytes (Zeek orig_ip_bytes), as Elastic's Zeek integration"),
  f('source.packets', 'long', 'src_pkts', [], 'originator packets'),
  f('source.mac', 'keyword', 'src_mac', [], 'originator L2 address'),
  f('destination.ip', 'ip', 'dst_key', ['dst'], 'responder address', { text: 'dst_ip' }),
  f('destination.port', 'long', 'dst_port', ['dport'], 'responder port'),
  f('destination.bytes', 'long', 'resp_ip_bytes', [], 'responder IP bytes (Zeek resp_ip_bytes)'),
  f('destination.packets', 'long', 'dst_pkts', [], 'responder packets'),
  f('destination.mac', 'keyword', 'dst_mac', [], 'responder L2 address'),
  f('related.ip', 'ip', ['src_key', 'dst_key'], ['ip'], 'either address', { multi: true }),
  f('network.transport', 'keyword', 'transport', ['proto'], 'tcp, udp, icmp, unknown_transport'),
  f('network.iana_number', 'keyword', 'iana_number', [], 'IP protocol number'),
  f('network.protocol', 'keyword', 'service', ['service'], 'application protocols confirmed by analysis', { multi: true, json: true }),
  f('network.community_id', 'keyword', 'community_id', ['community_id'], 'Community ID flow hash'),
  f(
    'network.bytes',
    'long',
    'net_bytes',
    ['bytes'],
    'IP bytes, both directions (every source has them; payload bytes are zeek.connection.orig_bytes/resp_bytes)',
  ),
  f('network.packets', 'long', 'net_pkts', ['packets'], 'packets, both directions'),
  f('network.vlan.id', 'keyword', 'vlan', ['vlan'], 'outer 802.1Q id'),
  f('network.inner.vlan.id', 'keyword', 'inner_vlan', [], 'inner 802.1Q id (QinQ)'),
  f('network.direction', 'keyword', 'direction', ['direction'], 'internal, inbound, outbound, external (from local_orig/local_resp)'),
  f('network.type', 'keyword', 'ip_version', [], 'ipv4 or ipv6'),
  f('zeek.connection.state', 'keyword', 'state', ['state'], 'Zeek conn_state'),
  f('zeek.connection.history', 'keyword', 'history', ['history'], 'Zeek history'),
  f('zeek.connection.local_orig', 'boolean', 'local_orig', ['local_orig'], 'originator in a local network'),
  f('zeek.connection.local_resp', 'boolean', 'local_resp', ['local_resp'], 'responder in a local network'),
  f('zeek.connection.missed_bytes', 'long', 'missed_bytes', ['missed_bytes'], 'bytes missed (gaps)'),
  f(
    'zeek.connection.orig_bytes',
    'long',
    'src_bytes',
    ['orig_bytes'],
    'originator payload bytes (0 where the source has no payload counts: flow exporters, VPC, Hubble)',
  ),
  f('zeek.connection.resp_bytes', 'long', 'dst_bytes', ['resp_bytes'], 'responder payload bytes'),
  f('zeek.connection.orig_ip_bytes', 'long', 'orig_ip_bytes', [], 'originator IP-level bytes (source.bytes)'),
  f('zeek.connection.resp_ip_bytes', 'long', 'resp_ip_bytes', [], 'responder IP-level bytes (destination.bytes)'),
  f('zeek.connection.tunnel_parents', 'keyword', 'tunnel_parents', ['tunnel_parents'], 'uids of the carrying tunnels', { multi: true, json: true }),
  f('eastwatch.interim', 'boolean', 'interim', ['interim'], 'record emitted while the connection was open'),
  f('eastwatch.tunnel.type', 'keyword', 'tunnel_type', ['tunnel'], 'overlay that carried this connection'),
  f(
    'eastwatch.observed',
    'keyword',
    'observed',
    ['observed'],
    'what a flow source could not see: one-way (no reverse record paired), midstream (start not seen); absent otherwise',
    { optional: true },
  ),
  f(
    'event.module',
    'keyword',
    'source',
    ['source'],
    'where the record came from: capture (uploaded pcap), agent (live capture), hubble, aws-vpc, netflow, ipfix, zeek, ndjson; absent on records stored before it was recorded',
    { optional: true },
  ),
  f(
    'eastwatch.stitched',
    'boolean',
    'stitched',
    ['stitched'],
    'true when two one-way flow records (A->B, B->A) were paired into this connection; absent otherwise',
    { optional: true },
  ),
  f(
    'eastwatch.counts',
    'keyword',
    'counts',
    ['counts'],
    "reports when the packet counts are the producer's reports, not packets (Hubble with Cilium's monitor aggregation: lower bounds, no bytes); absent when they are packets",
    { optional: true },
  ),
  f(
    'eastwatch.capture',
    'keyword',
    'capture',
    ['capture'],
    "id of the uploaded capture the connection was analysed from (its SHA-256, then '-' and the cluster when uploaded to one other than the default), or agent:NAME:UID for one live-captured by that agent (its packets in its ring)",
    { optional: true },
  ),
  f(
    'orchestrator.cluster.name',
    'keyword',
    'cluster',
    ['cluster'],
    'the cluster of the capture or flow source (identities were resolved against its inventory); absent on records stored before clusters were named',
    { optional: true },
  ),
  f('eastwatch.tunnel.id', 'long', 'tunnel_id', [], 'VNI / key of that overlay'),
  // Kubernetes identity (issue: Kubernetes enrichment). Declared here so queries and mappings are stable.
  f('eastwatch.source.kind', 'keyword', 'src_kind', [], 'what the originator is: pod, service, node, endpoint, internal, external'),
  f('eastwatch.source.namespace', 'keyword', 'src_namespace', [], 'originator namespace'),
  f('eastwatch.source.pod', 'keyword', 'src_pod', [], 'originator pod'),
  f('eastwatch.source.workload', 'keyword', 'src_workload', [], 'originator workload (Deployment, StatefulSet, ...)'),
  f('eastwatch.source.service', 'keyword', 'src_service', [], 'originator service'),
  f('eastwatch.source.node', 'keyword', 'src_node', [], 'originator node'),
  f('eastwatch.destination.kind', 'keyword', 'dst_kind', [], 'what the responder is'),
  f('eastwatch.destination.namespace', 'keyword', 'dst_namespace', [], 'responder namespace'),
  f('eastwatch.destination.pod', 'keyword', 'dst_pod', [], 'responder pod'),
  f('eastwatch.destination.workload', 'keyword', 'dst_workload', [], 'responder workload'),
  f('eastwatch.destination.service', 'keyword', 'dst_service', [], 'responder service'),
  f('eastwatch.destination.node', 'keyword', 'dst_node', [], 'responder node'),
  f('eastwatch.scope', 'keyword', 'scope', ['scope'], 'same-namespace, cross-namespace, pod-to-service, ...'),
  f('eastwatch.policy.verdict', 'keyword', 'policy_verdict', ['verdict'], 'network policy verdict: allowed, denied, mixed'),
];

export const EITHER_ALIASES: readonly EitherAlias[] = [
  { alias: 'ns', fields: ['eastwatch.source.namespace', 'eastwatch.destination.namespace'] },
  { alias: 'pod', fields: ['eastwatch.source.pod', 'eastwatch.destination.pod'] },
  { alias: 'workload', fields: ['eastwatch.source.workload', 'eastwatch.destination.workload'] },
  { alias: 'node', fields: ['eastwatch.source.node', 'eastwatch.destination.node'] },
  { alias: 'svc', fields: ['eastwatch.source.service', 'eastwatch.destination.service'] },
  { alias: 'port', fields: ['source.port', 'destination.port'] },
];

export type Resolved = { kind: 'field'; def: FieldDef } | { kind: 'either'; defs: FieldDef[] };

/**
 * The fields of one record type (connections, dns, http, ...): the parser, both compilers and
 * the stores take a registry, so every record type gets the same language without a copy of it.
 */
export class FieldRegistry {
  private readonly byName = new Map<string, FieldDef>();
  private readonly either: Map<string, EitherAlias>;

  constructor(
    readonly name: string,
    readonly fields: readonly FieldDef[],
    eitherAliases: readonly EitherAlias[] = [],
  ) {
    for (const d of fields) {
      for (const n of [d.name, ...d.aliases]) {
        if (this.byName.has(n)) throw new Error(`field registry ${name}: duplicate name ${n}`);
        this.byName.set(n, d);
      }
    }
    this.either = new Map(eitherAliases.map((e) => [e.alias, e]));
    for (const e of eitherAliases) {
      if (this.byName.has(e.alias)) throw new Error(`field registry ${name}: alias ${e.alias} is also a field name`);
      for (const n of e.fields) if (!this.byName.has(n)) throw new Error(`field registry ${name}: alias ${e.alias} names unknown field ${n}`);
    }
  }

  /** A field name or alias, or null when unknown. */
  resolve(name: string): Resolved | null {
    const d = this.byName.get(name);
    if (d) return { kind: 'field', def: d };
    const e = this.either.get(name);
    if (e) return { kind: 'either', defs: e.fields.map((n) => this.byName.get(n) as FieldDef) };
    return null;
  }

  /** A field (not an either-alias) by name or alias. */
  field(name: string): FieldDef | undefined {
    return this.byName.get(name);
  }

  /** Every accepted name: ECS names, aliases, either-aliases. */
  names(): string[] {
    return [...this.byName.keys(), ...this.either.keys()];
  }

  /** The closest known name, for "did you mean"; undefined when nothing is close. */
  suggest(name: string): string | undefined {
    const lower = name.toLowerCase();
    let best: string | undefined;
    let bestD = Infinity;
    for (const n of this.names()) {
      // A typo in the last segment ("destination.prot") or the bare last segment ("transport").
      const d = Math.min(editDistance(lower, n.toLowerCase()), n.endsWith(`.${lower}`) ? 1 : Infinity);
      if (d < bestD) {
        bestD = d;
        best = n;
      }
    }
    return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
  }
}

/** The connection records' registry: the default of the parser and the stores. */
export const CONN_FIELDS = new FieldRegistry('conn', FIELDS, EITHER_ALIASES);

/** A field name or alias of the connection registry, or null when unknown. */
export function resolveField(name: string): Resolved | null {
  return CONN_FIELDS.resolve(name);
}

/** A connection field (not an either-alias) by name or alias. */
export function fieldDef(name: string): FieldDef | undefined {
  return CONN_FIELDS.field(name);
}

/** Every accepted connection field name: ECS names, aliases, either-aliases. */
export function allFieldNames(): string[] {
  return CONN_FIELDS.names();
}

/** The closest known connection field name, for "did you mean". */
export function suggestField(name: string): string | undefined {
  return CONN_FIELDS.suggest(name);
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
