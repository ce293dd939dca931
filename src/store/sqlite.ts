/**
 * The embedded store: one SQLite file (better-sqlite3) under a data directory. WAL, batched
 * transactional inserts, idempotent by uid with the same version rule as Elasticsearch, and
 * addresses stored twice: as text for output and as 16-byte keys so a CIDR is a range scan.
 */
import { nameExternal } from './edge-names';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { formatKey, ipKey } from '../query/ip';
import { toSql, type SqlParam } from '../query/to-sql';
import { CONN_FIELDS, type FieldDef, type FieldRegistry } from '../query/fields';
import type { Query } from '../query/ast';
import type { ConnK8s } from '../../parsers/record/k8s';
import type { ConnRecord } from '../../parsers/record/conn';
import type { Alert, Suppression } from '../../detectors/contract/alert';
import { APP_SPECS, appColumnTypes, appColumns, appFieldIndexes, appRecordId, appRow, appSchema, appSpec, kindFilter } from './app-records';
import { alertBounds, mergeAlert, SEVERITY_RANK, scopeEntries, validateAlert, validateSuppression } from './alerts-common';
import { recordProblem } from './validate';
import { direction, durationNanos, ecsMac, recordMac, recordVersion } from './ecs';
import {
  aggField,
  checkInterval,
  compareEdges,
  type CursorKind,
  decodeCursor,
  edgeLimit,
  edgePairCap,
  encodeCursor,
  filterQuery,
  fitInterval,
  MAX_APPS_OF,
  MAX_HISTOGRAM_BUCKETS,
  pageSize,
  retentionCutoff,
  sortField,
  topSize,
} from './common';
import { OTHER_ORIGIN, StoreRequestError } from './types';
import type {
  AlertOrigin,
  AlertPatch,
  AlertRelease,
  AlertSearch,
  CaptureDeletion,
  AppKind,
  StoreAppRecord,
  DeadLetter,
  DistinctRequest,
  RecordWriter,
  Edge,
  EdgeList,
  EdgesRequest,
  Histogram,
  HistogramBucket,
  HistogramRequest,
  RetentionResult,
  SearchFilter,
  SearchPage,
  SearchRequest,
  Store,
  StoreRecord,
  TopBucket,
  TopRequest,
  WriteResult,
  WriterOptions,
} from './types';

export interface SqliteStoreOptions {
  /** Directory holding the database file (created if missing). */
  dataDir: string;
  /** File name inside dataDir; default eastwatch.sqlite. */
  file?: string;
  /**
   * Rows per transaction; default 20000 (1M records: 48k/s against 41k/s with 5000, bench/store.ts);
   * a transaction holds the write lock ~0.5 s.
   */
  batchSize?: number;
  /**
   * Page cache of the connection, MB; default 256. The uid index of 5M records is ~200 MB: when
   * it fits, inserts with random uids do not go to the disk for each row (bench/store.ts).
   */
  cacheMb?: number;
  /** See commonFilter(); default 5000 (tests set it low to take both paths on small data). */
  commonMatches?: number;
  /** The longest one search page or aggregation may run before it is stopped (a 400); default 20000, as Elasticsearch's. */
  queryTimeoutMs?: number;
}

/**
 * The deadline function is called for one row in this many (by rowid, a cheap test in SQLite's
 * VM that short-circuits the call): a call into JS for every row visited made a 1M-row scan 2.6x
 * slower (0.45 s to 1.17 s), one in 64 costs within the noise (0.29 s to 0.30 s), measured on
 * better-sqlite3 12.6 with a GLOB over 1M rows in memory. The overshoot stays far below a millisecond.
 */
const DEADLINE_EVERY = 64;

/** Thrown from inside a statement by the deadline function; turned into a StoreRequestError. */
class QueryDeadline extends Error {}

/**
 * The secondary indexes of conn, for the query patterns (time order, addresses, port, state,
 * community id, namespaces). A bulk load into an empty store builds them after the rows
 * (sorted, one pass each) instead of row by row (writer({ bulkLoad: true })).
 */
const CONN_INDEXES = [
  'CREATE INDEX IF NOT EXISTS conn_ts ON conn (ts, uid)',
  'CREATE INDEX IF NOT EXISTS conn_src ON conn (src_key, ts)',
  'CREATE INDEX IF NOT EXISTS conn_dst ON conn (dst_key, ts)',
  'CREATE INDEX IF NOT EXISTS conn_dport ON conn (dst_port, ts)',
  'CREATE INDEX IF NOT EXISTS conn_state ON conn (state, ts)',
  'CREATE INDEX IF NOT EXISTS conn_cid ON conn (community_id)',
  'CREATE INDEX IF NOT EXISTS conn_src_ns ON conn (src_namespace, ts) WHERE src_namespace IS NOT NULL',
  'CREATE INDEX IF NOT EXISTS conn_dst_ns ON conn (dst_namespace, ts) WHERE dst_namespace IS NOT NULL',
];
/** See commonFilter(): at 5M records, a time-index walk for a filter this common reads ~100k rows at most. */
const COMMON_MATCHES = 5000;

const CONN_INDEX_NAMES = CONN_INDEXES.map((d) => d.split(' ')[5]);

const SCHEMA = `
-- CHECK constraints only where Elasticsearch refuses too (an empty _id): a row is refused for what
-- the mapping refuses (a missing or unparsable value: NOT NULL and STRICT column types), so both
-- backends dead-letter the same records. The value checks this table had (enum IN lists, ranges)
-- were a third of the insert CPU (bench/store.ts).
CREATE TABLE IF NOT EXISTS conn (
  uid TEXT PRIMARY KEY NOT NULL CHECK (uid <> ''),
  version INTEGER NOT NULL,
  ts REAL NOT NULL,
  end_ts REAL NOT NULL,
  duration_ns INTEGER NOT NULL,
  src_ip TEXT NOT NULL,
  src_key BLOB NOT NULL,
  src_port INTEGER NOT NULL,
  dst_ip TEXT NOT NULL,
  dst_key BLOB NOT NULL,
  dst_port INTEGER NOT NULL,
  transport TEXT NOT NULL,
  iana_number TEXT NOT NULL,
  service TEXT NOT NULL,
  community_id TEXT NOT NULL,
  src_bytes INTEGER NOT NULL,
  dst_bytes INTEGER NOT NULL,
  src_pkts INTEGER NOT NULL,
  dst_pkts INTEGER NOT NULL,
  net_bytes INTEGER NOT NULL,
  net_pkts INTEGER NOT NULL,
  orig_ip_bytes INTEGER NOT NULL,
  resp_ip_bytes INTEGER NOT NULL,
  missed_bytes INTEGER NOT NULL,
  state TEXT NOT NULL,
  history TEXT NOT NULL,
  local_orig INTEGER NOT NULL,
  local_resp INTEGER NOT NULL,
  tunnel_parents TEXT NOT NULL,
  vlan TEXT,
  inner_vlan TEXT,
  src_mac TEXT,
  dst_mac TEXT,
  tunnel_type TEXT,
  tunnel_id INTEGER,
  interim INTEGER NOT NULL,
  direction TEXT NOT NULL,
  ip_version TEXT NOT NULL,
  k8s TEXT,
  capture TEXT,
  observed TEXT,
  cluster TEXT,
  source TEXT,
  stitched INTEGER,
  counts TEXT,
  -- The Kubernetes identity is kept whole in k8s (exact read-back); these columns make it queryable.
  src_kind TEXT GENERATED ALWAYS AS (k8s ->> '$.orig.kind') VIRTUAL,
  src_namespace TEXT GENERATED ALWAYS AS (k8s ->> '$.orig.namespace') VIRTUAL,
  src_pod TEXT GENERATED ALWAYS AS (k8s ->> '$.orig.pod') VIRTUAL,
  src_workload TEXT GENERATED ALWAYS AS (k8s ->> '$.orig.workload') VIRTUAL,
  src_service TEXT GENERATED ALWAYS AS (k8s ->> '$.orig.service') VIRTUAL,
  src_node TEXT GENERATED ALWAYS AS (k8s ->> '$.orig.node') VIRTUAL,
  dst_kind TEXT GENERATED ALWAYS AS (k8s ->> '$.resp.kind') VIRTUAL,
  dst_namespace TEXT GENERATED ALWAYS AS (k8s ->> '$.resp.namespace') VIRTUAL,
  dst_pod TEXT GENERATED ALWAYS AS (k8s ->> '$.resp.pod') VIRTUAL,
  dst_workload TEXT GENERATED ALWAYS AS (k8s ->> '$.resp.workload') VIRTUAL,
  dst_service TEXT GENERATED ALWAYS AS (k8s ->> '$.resp.service') VIRTUAL,
  dst_node TEXT GENERATED ALWAYS AS (k8s ->> '$.resp.node') VIRTUAL,
  scope TEXT GENERATED ALWAYS AS (k8s ->> '$.scope') VIRTUAL,
  policy_verdict TEXT GENERATED ALWAYS AS (k8s ->> '$.policy.verdict') VIRTUAL
) STRICT;
${CONN_INDEXES.map((i) => `${i};`).join('\n')}
CREATE TABLE IF NOT EXISTS dead_letter (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  uid TEXT,
  reason TEXT NOT NULL,
  document TEXT NOT NULL
) STRICT;
-- Alerts: the detector contract (detectors/contract/alert.ts) whole in doc; the columns are what searches filter on.
CREATE TABLE IF NOT EXISTS alerts (
  id TEXT PRIMARY KEY NOT NULL,
  detector TEXT NOT NULL,
  severity_rank INTEGER NOT NULL,
  status TEXT NOT NULL,
  last_seen REAL NOT NULL,
  suppressed INTEGER NOT NULL CHECK (suppressed IN (0, 1)),
  doc TEXT NOT NULL,
  -- What raised it (JSON array: capture SHA-256s, 'other'); NULL for alerts stored before origins were kept.
  origins TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS alerts_seen ON alerts (last_seen, id);
CREATE TABLE IF NOT EXISTS suppressions (
  id TEXT PRIMARY KEY NOT NULL,
  created_at TEXT NOT NULL,
  doc TEXT NOT NULL
) STRICT;
${APP_SPECS.map(appSchema).join('')}`;

const COLUMNS = [
  'uid',
  'version',
  'ts',
  'end_ts',
  'duration_ns',
  'src_ip',
  'src_key',
  'src_port',
  'dst_ip',
  'dst_key',
  'dst_port',
  'transport',
  'iana_number',
  'service',
  'community_id',
  'src_bytes',
  'dst_bytes',
  'src_pkts',
  'dst_pkts',
  'net_bytes',
  'net_pkts',
  'orig_ip_bytes',
  'resp_ip_bytes',
  'missed_bytes',
  'state',
  'history',
  'local_orig',
  'local_resp',
  'tunnel_parents',
  'vlan',
  'inner_vlan',
  'src_mac',
  'dst_mac',
  'tunnel_type',
  'tunnel_id',
  'interim',
  'direction',
  'ip_version',
  'k8s',
  'capture',
  'observed',
  'cluster',
  'source',
  'stitched',
  'counts',
] as const;

const READ_COLUMNS = COLUMNS.join(', ');

/** The row of a record, in COLUMNS order: an array built directly (no per-row object and map) on the bulk path. */
/**
 * Memo of a text -> value conversion for the values that repeat from record to record (the
 * addresses and MACs of a cluster's pods); bounded: cleared when full.
 */
function memo<T>(fn: (s: string) => T, max = 8192): (s: string) => T {
  const m = new Map<string, T>();
  return (s) => {
    let v = m.get(s);
    if (v === undefined && !m.has(s)) {
      if (m.size >= max) m.clear();
      v = fn(s);
      m.set(s, v);
    }
    return v as T;
  };
}
// Keys are bound as parameters, never mutated: sharing one Buffer between rows is safe.
const keyOf = memo(ipKey);
const macOf = memo(ecsMac);

function toRow(r: StoreRecord): SqlParam[] {
  const durNs = durationNanos(r);
  return [
    r.uid,
    recordVersion(r),
    r.ts,
    r.ts + durNs / 1e9,
    durNs,
    r.orig_h,
    // null when not an address: the NOT NULL constraint refuses the row, and it is dead-lettered.
    keyOf(r.orig_h),
    r.orig_p,
    r.resp_h,
    keyOf(r.resp_h),
    r.resp_p,
    r.proto,
    String(r.ip_proto),
    JSON.stringify(r.service),
    r.community_id,
    r.orig_bytes,
    r.resp_bytes,
    r.orig_pkts,
    r.resp_pkts,
    // network.bytes: IP bytes, as source.bytes and destination.bytes (see ecs.ts).
    r.orig_ip_bytes + r.resp_ip_bytes,
    r.orig_pkts + r.resp_pkts,
    r.orig_ip_bytes,
    r.resp_ip_bytes,
    r.missed_bytes,
    r.conn_state,
    r.history,
    r.local_orig ? 1 : 0,
    r.local_resp ? 1 : 0,
    JSON.stringify(r.tunnel_parents),
    r.vlan === null ? null : String(r.vlan),
    r.inner_vlan === null ? null : String(r.inner_vlan),
    r.orig_l2_addr === null ? null : macOf(r.orig_l2_addr),
    r.resp_l2_addr === null ? null : macOf(r.resp_l2_addr),
    r.tunnel_type,
    r.tunnel_id,
    r.interim ? 1 : 0,
    r.k8s?.direction ?? direction(r.local_orig, r.local_resp),
    r.orig_h.includes(':') ? 'ipv6' : 'ipv4',
    r.k8s ? JSON.stringify(r.k8s) : null,
    r.capture ?? null,
    r.observed ?? null,
    r.cluster ?? null,
    r.source ?? null,
    r.stitched === undefined ? null : r.stitched ? 1 : 0,
    r.counts ?? null,
  ];
}

interface DbRow {
  uid: string;
  ts: number;
  duration_ns: number;
  src_ip: string;
  src_port: number;
  dst_ip: string;
  dst_port: number;
  transport: StoreRecord['proto'];
  iana_number: string;
  service: string;
  community_id: string;
  src_bytes: number;
  dst_bytes: number;
  src_pkts: number;
  dst_pkts: number;
  orig_ip_bytes: number;
  resp_ip_bytes: number;
  missed_bytes: number;
  state: StoreRecord['conn_state'];
  history: string;
  local_orig: number;
  local_resp: number;
  tunnel_parents: string;
  vlan: string | null;
  inner_vlan: string | null;
  src_mac: string | null;
  dst_mac: string | null;
  tunnel_type: string | null;
  tunnel_id: number | null;
  interim: number;
  k8s: string | null;
  capture: string | null;
  observed: ConnRecord['observed'] | null;
  cluster: string | null;
  source: ConnRecord['source'] | null;
  stitched: number | null;
  counts: ConnRecord['counts'] | null;
}

function fromRow(x: DbRow): StoreRecord {
  const r: StoreRecord = {
    ts: x.ts,
    uid: x.uid,
    orig_h: x.src_ip,
    orig_p: x.src_port,
    resp_h: x.dst_ip,
    resp_p: x.dst_port,
    proto: x.transport,
    ip_proto: Number(x.iana_number),
    service: JSON.parse(x.service) as string[],
    duration: x.duration_ns / 1e9,
    orig_bytes: x.src_bytes,
    resp_bytes: x.dst_bytes,
    conn_state: x.state,
    local_orig: x.local_orig === 1,
    local_resp: x.local_resp === 1,
    missed_bytes: x.missed_bytes,
    history: x.history,
    orig_pkts: x.src_pkts,
    orig_ip_bytes: x.orig_ip_bytes,
    resp_pkts: x.dst_pkts,
    resp_ip_bytes: x.resp_ip_bytes,
    tunnel_parents: JSON.parse(x.tunnel_parents) as string[],
    community_id: x.community_id,
    vlan: x.vlan === null ? null : Number(x.vlan),
    inner_vlan: x.inner_vlan === null ? null : Number(x.inner_vlan),
    orig_l2_addr: x.src_mac === null ? null : recordMac(x.src_mac),
    resp_l2_addr: x.dst_mac === null ? null : recordMac(x.dst_mac),
    tunnel_type: x.tunnel_type,
    tunnel_id: x.tunnel_id,
    interim: x.interim === 1,
  };
  if (x.k8s !== null) r.k8s = JSON.parse(x.k8s) as ConnK8s;
  if (x.capture !== null) r.capture = x.capture;
  if (x.observed !== null) r.observed = x.observed;
  if (x.cluster !== null) r.cluster = x.cluster;
  if (x.source !== null) r.source = x.source;
  if (x.stitched !== null) r.stitched = x.stitched === 1;
  if (x.counts !== null) r.counts = x.counts;
  return r;
}

/** Output text of an aggregation key, the way Elasticsearch prints it. */
function keyText(f: FieldDef, v: unknown): string {
  if (f.type === 'ip') return formatKey(v as Buffer, (v as Buffer).subarray(0, 12).equals(V4_MAPPED));
  if (f.type === 'boolean') return v === 1 ? 'true' : 'false';
  return String(v);
}
const V4_MAPPED = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

export class SqliteStore implements Store {
  readonly backend = 'sqlite' as const;
  readonly file: string;
  private db: Database.Database | null = null;
  private readonly batchSize: number;

  constructor(opts: SqliteStoreOptions) {
    this.file = path.join(opts.dataDir, opts.file ?? 'eastwatch.sqlite');
    this.batchSize = opts.batchSize ?? 20_000;
    this.cacheMb = opts.cacheMb ?? 256;
    this.commonMatches = opts.commonMatches ?? COMMON_MATCHES;
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 20_000;
  }

  private readonly queryTimeoutMs: number;
  /** Epoch ms after which the running statement stops; Infinity between statements. */
  private deadline = Number.POSITIVE_INFINITY;

  /**
   * Runs one read statement under the query timeout. better-sqlite3 (v12) exposes neither
   * sqlite3_progress_handler nor sqlite3_interrupt, and its calls are synchronous: a timer cannot
   * fire while a statement runs, and a worker thread cannot be stopped inside native code (V8
   * terminates JS only), so a runaway query would keep its CPU and its read snapshot after the
   * client was answered. What it does offer is user functions, called by SQLite's VM once per
   * row the WHERE clause visits: ew_deadline() in every filtered query (guard()) reads the clock
   * and throws past the deadline, which aborts the statement where it is, inside SQLite.
   */
  private bounded<T>(run: () => T): T {
    this.deadline = Date.now() + this.queryTimeoutMs;
    try {
      return run();
    } catch (e) {
      if (e instanceof QueryDeadline)
        throw new StoreRequestError(`the search ran longer than ${this.queryTimeoutMs} ms and was stopped: narrow the time range or the query`);
      throw e;
    } finally {
      this.deadline = Number.POSITIVE_INFINITY;
    }
  }

  /** A WHERE condition over `table` that also checks the deadline on the rows it visits (one in DEADLINE_EVERY). */
  private guard(sql: string, table: string): string {
    return `(${table}.rowid % ${DEADLINE_EVERY} != 0 OR ew_deadline()) AND (${sql})`;
  }

  private readonly commonMatches: number;

  private readonly cacheMb: number;

  private get conn(): Database.Database {
    if (this.db === null) throw new Error('SqliteStore: call init() first');
    return this.db;
  }

  async init(): Promise<void> {
    if (this.db !== null) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const db = new Database(this.file);
    db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a committed batch survives a process crash; only an OS crash may lose the last one.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // Checkpoint every ~40 MB of WAL instead of every 4 MB: bulk loads ran 1.6x faster (bench/store.ts).
    db.pragma('wal_autocheckpoint = 10000');
    db.pragma(`cache_size = -${Math.round(this.cacheMb * 1024)}`);
    db.exec(SCHEMA);
    // Not deterministic: SQLite must call it on every row, never once for the statement.
    db.function('ew_deadline', { deterministic: false }, () => {
      if (Date.now() > this.deadline) throw new QueryDeadline();
      return 1;
    });
    // Files made before the capture column existed get it (CREATE TABLE IF NOT EXISTS keeps old tables as they are).
    const cols = db.prepare("SELECT name FROM pragma_table_info('conn')").all() as { name: string }[];
    if (!cols.some((c) => c.name === 'capture')) db.exec('ALTER TABLE conn ADD COLUMN capture TEXT');
    if (!cols.some((c) => c.name === 'observed')) db.exec('ALTER TABLE conn ADD COLUMN observed TEXT');
    if (!cols.some((c) => c.name === 'cluster')) db.exec('ALTER TABLE conn ADD COLUMN cluster TEXT');
    if (!cols.some((c) => c.name === 'stitched')) db.exec('ALTER TABLE conn ADD COLUMN stitched INTEGER');
    if (!cols.some((c) => c.name === 'counts')) db.exec('ALTER TABLE conn ADD COLUMN counts TEXT');
    if (!cols.some((c) => c.name === 'source')) {
      // Once, as the column arrives: records linked to a capture say what they came from (an
      // uploaded capture, or an agent's ring); the flow records of older files cannot tell which
      // flow source they came from, and stay without one (k8s/reresolve.ts keeps its old rule for them).
      db.transaction(() => {
        db.exec('ALTER TABLE conn ADD COLUMN source TEXT');
        db.exec("UPDATE conn SET source = CASE WHEN capture LIKE 'agent:%' THEN 'agent' ELSE 'capture' END WHERE capture IS NOT NULL");
      })();
    }
    // Files of user_version 0 summed payload bytes into net_bytes; network.bytes is IP bytes now.
    if ((db.pragma('user_version', { simple: true }) as number) < 1) {
      db.exec('UPDATE conn SET net_bytes = orig_ip_bytes + resp_ip_bytes WHERE net_bytes <> orig_ip_bytes + resp_ip_bytes');
      db.pragma('user_version = 1');
    }
    const alertCols = db.prepare("SELECT name FROM pragma_table_info('alerts')").all() as { name: string }[];
    if (!alertCols.some((c) => c.name === 'origins')) db.exec('ALTER TABLE alerts ADD COLUMN origins TEXT');
    // Likewise the application tables: columns of fields added since (url.port, dns.type, ...),
    // nullable, as old rows lack them.
    for (const sp of APP_SPECS) {
      const have = new Set((db.prepare(`SELECT name FROM pragma_table_info('${sp.table}')`).all() as { name: string }[]).map((c) => c.name));
      for (const c of appColumnTypes(sp)) if (!have.has(c.name)) db.exec(`ALTER TABLE ${sp.table} ADD COLUMN ${c.name} ${c.type}`);
      for (const ddl of appFieldIndexes(sp)) db.exec(ddl);
    }
    this.db = db;
  }

  writer(opts: WriterOptions = {}): RecordWriter {
    let conns: StoreRecord[] = [];
    let apps: StoreAppRecord[] = [];
    const total: WriteResult = { written: 0, stale: 0, deadLettered: 0 };
    let first = true;
    let deferred = false;
    const flush = (): void => {
      if (first && opts.bulkLoad && conns.length >= this.batchSize) deferred = this.deferIndexes();
      first = false;
      const r = this.writeSync(conns, apps);
      conns = [];
      apps = [];
      total.written += r.written;
      total.stale += r.stale;
      total.deadLettered += r.deadLettered;
    };
    return {
      add: (r) => {
        conns.push(r);
        if (conns.length >= this.batchSize) flush();
      },
      addApp: (r) => {
        apps.push(r);
        if (apps.length >= this.batchSize) flush();
      },
      // Inserts are synchronous: the producer is paced by the insert itself.
      congestion: () => undefined,
      close: async () => {
        try {
          if (conns.length > 0 || apps.length > 0) flush();
        } finally {
          if (deferred) this.buildIndexes();
        }
        return total;
      },
    };
  }

  /** Drops the secondary indexes of an empty conn table; false (nothing dropped) when it holds rows. */
  private deferIndexes(): boolean {
    const db = this.conn;
    return db
      .transaction((): boolean => {
        if (db.prepare('SELECT 1 FROM conn LIMIT 1').get() !== undefined) return false;
        for (const name of CONN_INDEX_NAMES) db.exec(`DROP INDEX IF EXISTS ${name}`);
        return true;
      })
      .immediate();
  }

  /** (Re)creates the secondary indexes; init() does the same, so a load that died half-way heals at the next start. */
  private buildIndexes(): void {
    const db = this.conn;
    db.transaction(() => {
      for (const ddl of CONN_INDEXES) db.exec(ddl);
    }).immediate();
    // Statistics (with STAT4 samples) for the planner, now that the table is big and the indexes
    // new: without them it read 2.5M rows through conn_state for a query that conn_dst answers
    // with none (4 s for 5M records, once).
    db.exec('ANALYZE');
  }

  async write(records: readonly StoreRecord[]): Promise<WriteResult> {
    return this.writeSync(records, []);
  }

  async writeApp(records: readonly StoreAppRecord[]): Promise<WriteResult> {
    return this.writeSync([], records);
  }

  private stmts: { insert: Database.Statement; dead: Database.Statement; apps: Map<string, Database.Statement> } | null = null;

  private writeSync(records: readonly StoreRecord[], appRecords: readonly StoreAppRecord[]): WriteResult {
    const db = this.conn;
    this.stmts ??= {
      apps: new Map(
        APP_SPECS.map((sp) => {
          const cols = appColumns(sp);
          // Same id, same record: replacing is idempotent.
          return [sp.table, db.prepare(`INSERT OR REPLACE INTO ${sp.table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`)];
        }),
      ),
      insert: db.prepare(
        `INSERT INTO conn (${READ_COLUMNS}) VALUES (${COLUMNS.map(() => '?').join(', ')})
         ON CONFLICT(uid) DO UPDATE SET ${COLUMNS.filter((c) => c !== 'uid')
           .map((c) => `${c} = excluded.${c}`)
           .join(', ')}
         WHERE excluded.version >= conn.version`,
      ),
      dead: db.prepare('INSERT INTO dead_letter (at, uid, reason, document) VALUES (?, ?, ?, ?)'),
    };
    const { insert, dead, apps } = this.stmts;
    const res: WriteResult = { written: 0, stale: 0, deadLettered: 0 };
    const batch = db.transaction((rs: readonly StoreRecord[], as: readonly StoreAppRecord[]) => {
      for (const a of as) {
        const spec = appSpec(a.kind);
        const id = appRecordId(a);
        try {
          (apps.get(spec.table) as Database.Statement).run(appRow(spec, a, id));
          res.written++;
        } catch (e) {
          if (!(e instanceof Database.SqliteError)) throw e;
          dead.run(new Date().toISOString(), id, `${e.code}: ${e.message}`, JSON.stringify(a));
          res.deadLettered++;
        }
      }
      for (const r of rs) {
        // Refused the way Elasticsearch refuses it (validate.ts), so that both backends hold the same records.
        const bad = recordProblem(r);
        if (bad) {
          dead.run(
            new Date().toISOString(),
            typeof r.uid === 'string' ? r.uid.slice(0, 64) : null,
            `invalid record: ${bad.field}: ${bad.reason}`,
            JSON.stringify(r),
          );
          res.deadLettered++;
          continue;
        }
        try {
          // Positional binding: measurably cheaper than 39 named parameters per row.
          const info = insert.run(toRow(r));
          if (info.changes > 0) res.written++;
          else res.stale++;
        } catch (e) {
          // A constraint failure rolls back that one statement, not the batch.
          if (!(e instanceof Database.SqliteError)) throw e;
          dead.run(new Date().toISOString(), typeof r.uid === 'string' ? r.uid : null, `${e.code}: ${e.message}`, JSON.stringify(r));
          res.deadLettered++;
        }
      }
    });
    for (let i = 0; i < records.length; i += this.batchSize) batch(records.slice(i, i + this.batchSize), []);
    for (let i = 0; i < appRecords.length; i += this.batchSize) batch([], appRecords.slice(i, i + this.batchSize));
    return res;
  }

  async refresh(): Promise<void> {
    // Committed transactions are visible to the next read.
  }

  async get(uid: string): Promise<StoreRecord | null> {
    const row = this.conn.prepare(`SELECT ${READ_COLUMNS} FROM conn WHERE uid = ?`).get(uid) as DbRow | undefined;
    return row ? fromRow(row) : null;
  }

  private where(f: SearchFilter): { sql: string; params: SqlParam[] } {
    const w = toSql(filterQuery(f));
    return { sql: this.guard(w.sql, 'conn'), params: w.params };
  }

  /**
   * One keyset page of `table` in (sort field, tie column) order: strictly after the cursor's
   * row, so deep pages cost the same as the first.
   */
  private page(
    table: string,
    fields: FieldRegistry,
    req: SearchRequest,
    extra: Query | null,
    tie: string,
    select: string,
  ): { rows: Record<string, unknown>[]; next: string | null } {
    const f = sortField(req.sort?.field ?? '@timestamp', fields);
    const order = req.sort?.order ?? 'desc';
    const limit = pageSize(req.limit);
    const col = f.sql.columns[0];
    const q = filterQuery(req, new Date(), fields);
    const w = toSql(extra === null ? q : q.kind === 'all' ? extra : { kind: 'and', children: [q, extra] });
    let cond = this.guard(w.sql, table);
    const params = [...w.params];
    if (req.after !== undefined) {
      const kind: CursorKind = f.type === 'ip' ? 'hex-key' : f.type === 'keyword' ? 'string' : f.type === 'boolean' ? 'any-scalar' : 'number';
      const [v, t] = decodeCursor(req.after, 2, [kind, 'string']);
      const value = f.type === 'ip' ? Buffer.from(String(v), 'hex') : (v as SqlParam);
      cond += ` AND (${col} ${order === 'asc' ? '>' : '<'} ? OR (${col} = ? AND ${tie} > ?))`;
      params.push(value, value, t as string);
    }
    const tail = ` WHERE ${cond} ORDER BY ${col} ${order === 'asc' ? 'ASC' : 'DESC'}, ${tie} ASC LIMIT ?`;
    const head = `SELECT ${select}, ${col} AS sort_key, ${tie} AS tie_key FROM ${table}`;
    const timeIndex =
      col === 'ts' && this.sortsEveryMatch(`${head}${tail}`, [...params, limit + 1]) && this.commonFilter(table, w.sql, w.params) ? `${table}_ts` : null;
    let rows: Record<string, unknown>[];
    try {
      rows = this.bounded(
        () => this.conn.prepare(`${head}${timeIndex ? ` INDEXED BY ${timeIndex}` : ''}${tail}`).all(...params, limit + 1) as Record<string, unknown>[],
      );
    } catch (e) {
      // A bulk load elsewhere dropped the time index for a while: the planner's way then.
      if (!(timeIndex && e instanceof Database.SqliteError && /no such index/.test(e.message))) throw e;
      rows = this.bounded(() => this.conn.prepare(`${head}${tail}`).all(...params, limit + 1) as Record<string, unknown>[]);
    }
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    let next: string | null = null;
    if (more) {
      const last = page[page.length - 1];
      const v = last.sort_key;
      next = encodeCursor([Buffer.isBuffer(v) ? v.toString('hex') : v, last.tie_key]);
    }
    return { rows: page, next };
  }

  /** Whether SQLite's plan for the query sorts all its matches (rather than reading them in order). */
  private sortsEveryMatch(sql: string, params: SqlParam[]): boolean {
    const plan = this.conn.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
    return plan.some((p) => p.detail === 'USE TEMP B-TREE FOR ORDER BY');
  }

  /**
   * Whether a filter matches at least COMMON_MATCHES rows. SQLite's planner does not count on a
   * LIMIT ending a scan early: for a filter matching a third of the table it reads every match
   * through the filter's index and sorts them all by time (1.3 s on 5M records). When the filter
   * is that common, walking the time index and stopping at the page is faster; when it is rare,
   * the filter's index and a small sort are. This probe, itself bounded, tells which; it runs only
   * when the plan sorts every match.
   */
  private commonFilter(table: string, where: string, params: SqlParam[]): boolean {
    const r = this.conn.prepare(`SELECT count(*) AS n FROM (SELECT 1 FROM ${table} WHERE ${where} LIMIT ?)`).get(...params, this.commonMatches) as {
      n: number;
    };
    return r.n >= this.commonMatches;
  }

  async search(req: SearchRequest): Promise<SearchPage> {
    const { rows, next } = this.page('conn', CONN_FIELDS, req, null, 'uid', READ_COLUMNS);
    return { records: (rows as unknown as DbRow[]).map(fromRow), next };
  }

  async searchApp(kind: AppKind, req: SearchRequest): Promise<{ records: StoreAppRecord[]; next: string | null }> {
    const spec = appSpec(kind);
    const { rows, next } = this.page(spec.table, spec.registry, req, kindFilter(spec, kind), 'id', 'record');
    return { records: rows.map((r) => JSON.parse(r.record as string) as StoreAppRecord), next };
  }

  async appsOf(uid: string): Promise<StoreAppRecord[]> {
    const rows: { ts: number; id: string; record: string }[] = [];
    // The first MAX_APPS_OF in time order, as Elasticsearch gives them: bounded whatever the connection carries.
    for (const sp of APP_SPECS)
      rows.push(...(this.conn.prepare(`SELECT ts, id, record FROM ${sp.table} WHERE uid = ? ORDER BY ts, id LIMIT ?`).all(uid, MAX_APPS_OF) as typeof rows));
    rows.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return rows.slice(0, MAX_APPS_OF).map((r) => JSON.parse(r.record) as StoreAppRecord);
  }

  async count(filter: SearchFilter): Promise<number> {
    const w = this.where(filter);
    return this.bounded(() => (this.conn.prepare(`SELECT COUNT(*) AS n FROM conn WHERE ${w.sql}`).get(...w.params) as { n: number }).n);
  }

  /** `SELECT k, uid, net_bytes` rows of one field's values (one row per value: lists and related.ip expand). */
  private values(f: FieldDef, where: string): string {
    if (f.sql.json) return `SELECT j.value AS k, conn.uid AS uid, conn.net_bytes AS b FROM conn, json_each(conn.${f.sql.columns[0]}) AS j WHERE ${where}`;
    // UNION (not ALL): a connection whose two sides share a value counts once, as in Elasticsearch.
    return f.sql.columns.map((c) => `SELECT ${c} AS k, uid, net_bytes AS b FROM conn WHERE (${where}) AND ${c} IS NOT NULL`).join(' UNION ');
  }

  private paramsFor(f: FieldDef, params: SqlParam[]): SqlParam[] {
    return f.sql.json ? params : f.sql.columns.flatMap(() => params);
  }

  async top(req: TopRequest): Promise<TopBucket[]> {
    const f = aggField(req.field);
    const size = topSize(req.size);
    const w = this.where(req);
    const rows = this.bounded(
      () =>
        this.conn
          .prepare(`SELECT k, COUNT(*) AS c, SUM(b) AS b FROM (${this.values(f, w.sql)}) GROUP BY k ORDER BY c DESC, k ASC LIMIT ?`)
          .all(...this.paramsFor(f, w.params), size) as { k: unknown; c: number; b: number }[],
    );
    return rows.map((r) => ({ key: keyText(f, r.k), connections: r.c, bytes: r.b }));
  }

  async histogram(req: HistogramRequest): Promise<Histogram> {
    checkInterval(req.intervalSeconds);
    const w = this.where(req);
    // The span first (two index probes), so that the bucket count is known before any is built.
    const span = this.bounded(
      () => this.conn.prepare(`SELECT MIN(ts) AS lo, MAX(ts) AS hi FROM conn WHERE ${w.sql}`).get(...w.params) as { lo: number | null; hi: number | null },
    );
    if (span.lo === null || span.hi === null) return { intervalSeconds: req.intervalSeconds, widened: false, buckets: [] };
    const iv = fitInterval(req.intervalSeconds, span.lo, span.hi, Math.min(req.maxBuckets ?? MAX_HISTOGRAM_BUCKETS, MAX_HISTOGRAM_BUCKETS));
    const rows = this.bounded(
      () =>
        this.conn
          .prepare(
            `SELECT CAST(floor(ts / ?) AS INTEGER) AS bucket, COUNT(*) AS c, SUM(net_bytes) AS b FROM conn WHERE ${w.sql} GROUP BY bucket ORDER BY bucket`,
          )
          .all(iv, ...w.params) as { bucket: number; c: number; b: number }[],
    );
    const out: HistogramBucket[] = [];
    const res = { intervalSeconds: iv, widened: iv !== req.intervalSeconds, buckets: out };
    if (rows.length === 0) return res;
    // Empty buckets between the first and the last, as Elasticsearch's date_histogram gives them.
    const by = new Map(rows.map((r) => [r.bucket, r]));
    for (let b = rows[0].bucket; b <= rows[rows.length - 1].bucket; b++) {
      const r = by.get(b);
      out.push({ start: b * iv * 1000, connections: r?.c ?? 0, bytes: r?.b ?? 0 });
    }
    return res;
  }

  async distinct(req: DistinctRequest): Promise<number> {
    const f = aggField(req.field);
    const w = this.where(req);
    return this.bounded(
      () => (this.conn.prepare(`SELECT COUNT(DISTINCT k) AS n FROM (${this.values(f, w.sql)})`).get(...this.paramsFor(f, w.params)) as { n: number }).n,
    );
  }

  async edges(req: EdgesRequest): Promise<EdgeList> {
    const limit = edgeLimit(req.limit);
    const cap = edgePairCap(req.maxPairs);
    const w = this.where(req);
    const rows = this.bounded(() =>
      this.conn
        .prepare(
          `SELECT src_key, dst_key, dst_port, transport, src_namespace, src_workload, dst_namespace, dst_workload, dst_service,
              COUNT(*) AS c, SUM(net_bytes) AS b
       FROM conn WHERE ${w.sql}
       GROUP BY src_key, dst_key, dst_port, transport, src_namespace, src_workload, dst_namespace, dst_workload, dst_service
       LIMIT ?`,
        )
        .all(...w.params, cap + 1),
    ) as {
      src_key: Buffer;
      dst_key: Buffer;
      dst_port: number;
      transport: string;
      src_namespace: string | null;
      src_workload: string | null;
      dst_namespace: string | null;
      dst_workload: string | null;
      dst_service: string | null;
      c: number;
      b: number;
    }[];
    const ipOf = (k: Buffer): string => formatKey(k, k.subarray(0, 12).equals(V4_MAPPED));
    const truncated = rows.length > cap;
    if (truncated) rows.length = cap;
    const edges: Edge[] = rows.map((r) => ({
      source: { ip: ipOf(r.src_key), namespace: r.src_namespace, workload: r.src_workload },
      destination: { ip: ipOf(r.dst_key), port: r.dst_port, namespace: r.dst_namespace, workload: r.dst_workload, service: r.dst_service },
      transport: r.transport,
      connections: r.c,
      bytes: r.b,
    }));
    return { edges: await nameExternal(this, req, edges.sort(compareEdges).slice(0, limit)), truncated, pairs: rows.length };
  }

  async retain(maxAgeDays: number, now = new Date()): Promise<RetentionResult> {
    const cutoff = retentionCutoff(maxAgeDays, now);
    const t = cutoff.getTime() / 1000;
    let removed = this.conn.prepare('DELETE FROM conn WHERE ts < ?').run(t).changes;
    for (const sp of APP_SPECS) removed += this.conn.prepare(`DELETE FROM ${sp.table} WHERE ts < ?`).run(t).changes;
    return { cutoff, removedRecords: removed, removedIndices: [] };
  }

  /** Names of the indexes in the database file (tests, diagnostics). */
  indexNames(): string[] {
    return (this.conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    return this.conn.prepare('SELECT uid, reason, at, document FROM dead_letter ORDER BY id DESC LIMIT ?').all(limit) as DeadLetter[];
  }

  // ---------------------------------------------------------------- alerts and suppressions

  async writeAlerts(alerts: readonly Alert[], origin: AlertOrigin = {}): Promise<void> {
    alerts.forEach(validateAlert);
    const db = this.conn;
    const rules = await this.listSuppressions();
    const now = new Date();
    const from = origin.capture ?? OTHER_ORIGIN;
    const get = db.prepare('SELECT doc, origins FROM alerts WHERE id = ?');
    const put = db.prepare(
      'INSERT OR REPLACE INTO alerts (id, detector, severity_rank, status, last_seen, suppressed, doc, origins) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    // Read and write in one transaction: an analyst's concurrent patch is not lost.
    db.transaction(() => {
      for (const a of alerts) {
        const row = get.get(a.id) as { doc: string; origins: string | null } | undefined;
        const origins = new Set<string>(row?.origins ? (JSON.parse(row.origins) as string[]) : []);
        origins.add(from);
        this.putAlert(put, mergeAlert(a, row ? (JSON.parse(row.doc) as Alert) : null, rules, now), [...origins].sort());
      }
    }).immediate();
  }

  private putAlert(put: Database.Statement, a: Alert, origins: readonly string[] | null): void {
    put.run(
      a.id,
      a.detector,
      SEVERITY_RANK[a.severity],
      a.status,
      a.last_seen,
      a.suppressed_by ? 1 : 0,
      JSON.stringify(a),
      origins === null ? null : JSON.stringify(origins),
    );
  }

  async deleteCapture(capture: string): Promise<CaptureDeletion> {
    const db = this.conn;
    return db
      .transaction((): CaptureDeletion => {
        let appRecords = 0;
        // Application records name their connection, not the capture: through the connection's uid.
        for (const sp of APP_SPECS)
          appRecords += db.prepare(`DELETE FROM ${sp.table} WHERE uid IN (SELECT uid FROM conn WHERE capture = ?)`).run(capture).changes;
        const records = db.prepare('DELETE FROM conn WHERE capture = ?').run(capture).changes;
        return { records, appRecords };
      })
      .immediate();
  }

  async releaseCaptureAlerts(capture: string, keep: readonly string[] = []): Promise<AlertRelease> {
    const db = this.conn;
    const kept = new Set(keep);
    return db
      .transaction((): AlertRelease => {
        const rows = db
          .prepare('SELECT id, origins FROM alerts WHERE origins IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(alerts.origins) WHERE value = ?)')
          .all(capture) as { id: string; origins: string }[];
        const out: AlertRelease = { removed: 0, released: 0 };
        const del = db.prepare('DELETE FROM alerts WHERE id = ?');
        const set = db.prepare('UPDATE alerts SET origins = ? WHERE id = ?');
        for (const r of rows) {
          if (kept.has(r.id)) continue;
          const rest = (JSON.parse(r.origins) as string[]).filter((o) => o !== capture);
          if (rest.length === 0) {
            del.run(r.id);
            out.removed++;
          } else {
            set.run(JSON.stringify(rest), r.id);
            out.released++;
          }
        }
        return out;
      })
      .immediate();
  }

  async getAlert(id: string): Promise<Alert | null> {
    const row = this.conn.prepare('SELECT doc FROM alerts WHERE id = ?').get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Alert) : null;
  }

  async searchAlerts(req: AlertSearch): Promise<{ alerts: Alert[]; next: string | null }> {
    const limit = pageSize(req.limit);
    const b = alertBounds(req);
    const cond: string[] = [];
    const params: SqlParam[] = [];
    if (req.status !== undefined) {
      cond.push('status = ?');
      params.push(req.status);
    }
    if (req.detector !== undefined) {
      cond.push('detector = ?');
      params.push(req.detector);
    }
    if (b.minRank !== undefined) {
      cond.push('severity_rank >= ?');
      params.push(b.minRank);
    }
    if (b.from !== undefined) {
      cond.push('last_seen >= ?');
      params.push(b.from);
    }
    if (b.to !== undefined) {
      cond.push('last_seen < ?');
      params.push(b.to);
    }
    if (!req.includeSuppressed) cond.push('suppressed = 0');
    if (req.namespaces !== undefined) {
      const { bare, pairs } = scopeEntries(req.namespaces);
      const any: string[] = [];
      if (bare.length > 0) {
        const marks = bare.map(() => '?').join(', ');
        any.push(`doc ->> '$.source.namespace' IN (${marks}) OR doc ->> '$.destination.namespace' IN (${marks})`);
        params.push(...bare, ...bare);
      }
      for (const p of pairs) {
        any.push("(doc ->> '$.cluster' = ? AND (doc ->> '$.source.namespace' = ? OR doc ->> '$.destination.namespace' = ?))");
        params.push(p.cluster, p.namespace, p.namespace);
      }
      cond.push(any.length === 0 ? '0' : `(${any.join(' OR ')})`);
    }
    if (req.clusters !== undefined) {
      cond.push(req.clusters.length === 0 ? '0' : `doc ->> '$.cluster' IN (${req.clusters.map(() => '?').join(', ')})`);
      params.push(...req.clusters);
    }
    if (req.after !== undefined) {
      const [seen, id] = decodeCursor(req.after, 2, ['number', 'string']);
      cond.push('(last_seen < ? OR (last_seen = ? AND id > ?))');
      params.push(seen as number, seen as number, id as string);
    }
    const rows = this.conn
      .prepare(`SELECT doc FROM alerts ${cond.length ? `WHERE ${cond.join(' AND ')}` : ''} ORDER BY last_seen DESC, id ASC LIMIT ?`)
      .all(...params, limit + 1) as { doc: string }[];
    const alerts = rows.slice(0, limit).map((r) => JSON.parse(r.doc) as Alert);
    const last = alerts[alerts.length - 1];
    return { alerts, next: rows.length > limit ? encodeCursor([last.last_seen, last.id]) : null };
  }

  async patchAlert(id: string, patch: AlertPatch): Promise<Alert | null> {
    const db = this.conn;
    const put = db.prepare(
      'INSERT OR REPLACE INTO alerts (id, detector, severity_rank, status, last_seen, suppressed, doc, origins) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    return db
      .transaction((): Alert | null => {
        const row = db.prepare('SELECT doc, origins FROM alerts WHERE id = ?').get(id) as { doc: string; origins: string | null } | undefined;
        if (!row) return null;
        const a = JSON.parse(row.doc) as Alert;
        if (patch.status !== undefined) a.status = patch.status;
        if (patch.note !== undefined) a.note = patch.note;
        this.putAlert(put, a, row.origins === null ? null : (JSON.parse(row.origins) as string[]));
        return a;
      })
      .immediate();
  }

  async patchAlerts(ids: readonly string[], patch: AlertPatch): Promise<{ updated: string[]; missing: string[] }> {
    const db = this.conn;
    const get = db.prepare('SELECT doc FROM alerts WHERE id = ?');
    // The status column is what searches filter on; the doc is what is read back: both change together.
    const set = db.prepare('UPDATE alerts SET status = ?, doc = ? WHERE id = ?');
    return db
      .transaction(() => {
        const out = { updated: [] as string[], missing: [] as string[] };
        for (const id of new Set(ids)) {
          const row = get.get(id) as { doc: string } | undefined;
          if (!row) {
            out.missing.push(id);
            continue;
          }
          const a = JSON.parse(row.doc) as Alert;
          if (patch.status !== undefined) a.status = patch.status;
          if (patch.note !== undefined) a.note = patch.note;
          set.run(a.status, JSON.stringify(a), id);
          out.updated.push(id);
        }
        return out;
      })
      .immediate();
  }

  async addSuppression(sup: Suppression): Promise<void> {
    validateSuppression(sup);
    this.conn.prepare('INSERT OR REPLACE INTO suppressions (id, created_at, doc) VALUES (?, ?, ?)').run(sup.id, sup.created_at, JSON.stringify(sup));
  }

  async listSuppressions(): Promise<Suppression[]> {
    const rows = this.conn.prepare('SELECT doc FROM suppressions ORDER BY created_at, id').all() as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as Suppression);
  }

  async deleteSuppression(id: string): Promise<boolean> {
    return this.conn.prepare('DELETE FROM suppressions WHERE id = ?').run(id).changes > 0;
  }

  async close(): Promise<void> {
    // SQLite's advice for long-lived connections: refresh the planner's statistics when they are stale.
    if (this.db?.open) this.db.pragma('optimize');
    this.db?.close();
    this.db = null;
    this.stmts = null;
  }
}
