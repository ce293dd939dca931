/**
 * The store: where connection records go and where analysts search them. Two backends behind
 * this one interface (SQLite embedded, Elasticsearch), tested by one suite.
 */
import type { Alert, AlertStatus, Severity, Suppression } from '../../detectors/contract/alert';
import type { ConnRecord } from '../../parsers/record/conn';
import type { Query } from '../query/ast';
import type { AppKind, AppRecordOut } from '../../parsers/record/app';

export type { AppKind, AppRecordOut };

/**
 * What the store holds: the connection record, Kubernetes identity (record.k8s) included, and the
 * cluster its source belongs to (the capture upload's, the flow source's, `analyze --cluster`):
 * identities were resolved against that cluster's inventory. Absent for records stored before
 * clusters were named.
 */
export interface StoreRecord extends ConnRecord {
  /** Cluster name (a DNS label), ECS orchestrator.cluster.name. */
  cluster?: string;
}

/**
 * Where an application record's connection ran: its cluster and the namespaces of its two ends,
 * as the connection record has them (ECS orchestrator.cluster.name, eastwatch.source.namespace,
 * eastwatch.destination.namespace). What a namespace- or cluster-scoped key is narrowed on.
 * Absent on records stored before it was kept (those stay invisible to scoped keys).
 */
export interface AppPlacement {
  cluster?: string;
  source_namespace?: string;
  destination_namespace?: string;
}

/** An application record as the store holds it: the record, and where its connection ran. */
export type StoreAppRecord = AppRecordOut & { placement?: AppPlacement };

/** A time bound: a Date, epoch seconds, or text (ISO 8601, now, now-15m). */
export type TimeBound = Date | number | string;

export interface SearchFilter {
  /** Query language text (or a parsed AST); empty matches everything. */
  query?: string | Query;
  /** @timestamp >= from (inclusive). */
  from?: TimeBound;
  /** @timestamp < to (exclusive). */
  to?: TimeBound;
}

export type SortOrder = 'asc' | 'desc';

export interface SearchRequest extends SearchFilter {
  /** A sortable field (name or alias); default @timestamp desc. The uid breaks ties. */
  sort?: { field: string; order?: SortOrder };
  /** Page size, default 100, at most 10000. */
  limit?: number;
  /** `next` of the previous page (keyset / search_after): deep pages cost the same as the first. */
  after?: string;
}

export interface SearchPage {
  records: StoreRecord[];
  /** Cursor for the next page; null after the last. */
  next: string | null;
}

export interface TopRequest extends SearchFilter {
  field: string;
  /** Default 10. */
  size?: number;
}

export interface TopBucket {
  /** The value as text (ip, number and boolean values too, so both backends agree). */
  key: string;
  connections: number;
  /** Sum of network.bytes (IP bytes, both directions). */
  bytes: number;
}

export interface HistogramRequest extends SearchFilter {
  /** Fixed bucket width in seconds; buckets align to the epoch, UTC. Widened to fit maxBuckets. */
  intervalSeconds: number;
  /** Default (and at most) MAX_HISTOGRAM_BUCKETS. */
  maxBuckets?: number;
}

export interface Histogram {
  /** The bucket width used, seconds: the one asked, or wider when that would exceed the bucket cap. */
  intervalSeconds: number;
  /** True when intervalSeconds is wider than the one asked (the cap, common.ts MAX_HISTOGRAM_BUCKETS). */
  widened: boolean;
  buckets: HistogramBucket[];
}

export interface HistogramBucket {
  /** Bucket start, epoch milliseconds. */
  start: number;
  connections: number;
  bytes: number;
}

export interface DistinctRequest extends SearchFilter {
  field: string;
}

export interface EdgesRequest extends SearchFilter {
  /** Most connected edges first; default 1000, at most MAX_EDGES. */
  limit?: number;
  /** The most distinct pairs read before ranking; default (and at most) MAX_EDGE_PAIRS. */
  maxPairs?: number;
}

export interface EdgeList {
  /** Most connections first (then bytes, then the ends), at most the limit. */
  edges: Edge[];
  /**
   * True when the matching connections make more distinct pairs than the cap: the edges are the
   * top of the first maxPairs pairs in key order (addresses, port, ...), not of all of them.
   * Narrow the query or the time range for an exact answer.
   */
  truncated: boolean;
  /** Distinct pairs read (at most the cap). */
  pairs: number;
}

export interface Edge {
  source: { ip: string; namespace: string | null; workload: string | null };
  /** service: the Kubernetes service the destination address belongs to (a ClusterIP's, or the one it is an endpoint of), named in its namespace. */
  destination: {
    ip: string;
    port: number;
    namespace: string | null;
    workload: string | null;
    service: string | null;
    /** External destinations only, when known: the host name clients reached it by (TLS SNI, HTTP host, else the DNS name resolved to it); see edge-names.ts. */
    name?: string;
  };
  transport: string;
  connections: number;
  bytes: number;
}

export interface WriteResult {
  /** Records written (inserted or replaced). */
  written: number;
  /** Records not applied because the store holds a newer version of that uid (e.g. an interim after its final). */
  stale: number;
  /** Records refused (validation or mapping); each is in the dead-letter store with the reason. */
  deadLettered: number;
}

export interface DeadLetter {
  uid: string | null;
  reason: string;
  /** When it was refused, RFC 3339. */
  at: string;
  /** The refused document as JSON. */
  document: string;
}

export interface RetentionResult {
  /** Records before the start of this UTC day were removed. */
  cutoff: Date;
  removedRecords: number;
  /** Elasticsearch: the daily indices deleted. */
  removedIndices: string[];
}

export interface WriterOptions {
  /**
   * A large load that nobody needs to search fast before close() (analyze --store, the
   * benchmark). SQLite: into an empty store, the secondary indexes are built at close(), one
   * sorted pass each, instead of row by row, and the planner's statistics are gathered.
   * Elasticsearch: no difference (see ElasticsearchStore.writer).
   */
  bulkLoad?: boolean;
}

/** Streaming writes with backpressure: call add() per record, await congestion() when it returns a promise. */
export interface RecordWriter {
  add(record: StoreRecord): void;
  /** An application record (dns, http, tls, ssh, app, ...), idempotent by its stable id. */
  addApp(record: StoreAppRecord): void;
  /** A promise while the writer has as much in flight as it allows: await it before adding more. */
  congestion(): Promise<void> | undefined;
  /** Send what is buffered, wait for everything in flight; rejects if any batch could not be stored. */
  close(): Promise<WriteResult>;
}

export interface Store {
  readonly backend: 'sqlite' | 'elasticsearch';
  /** Create tables / templates (idempotent). */
  init(): Promise<void>;
  /** Write records (idempotent by uid); resolves when they are durable. */
  write(records: readonly StoreRecord[]): Promise<WriteResult>;
  /** A streaming writer (what `analyze --store` uses). */
  writer(opts?: WriterOptions): RecordWriter;
  /** Make writes visible to search (Elasticsearch refresh; SQLite: nothing to do). */
  refresh(): Promise<void>;
  get(uid: string): Promise<StoreRecord | null>;
  search(req: SearchRequest): Promise<SearchPage>;
  count(filter: SearchFilter): Promise<number>;
  top(req: TopRequest): Promise<TopBucket[]>;
  histogram(req: HistogramRequest): Promise<Histogram>;
  distinct(req: DistinctRequest): Promise<number>;
  edges(req: EdgesRequest): Promise<EdgeList>;
  /** Remove records older than `maxAgeDays` whole UTC days before `now`. */
  retain(maxAgeDays: number, now?: Date): Promise<RetentionResult>;
  deadLetters(limit?: number): Promise<DeadLetter[]>;

  /** Application records, idempotent: each has a stable id (uid, kind and a digest of the record). */
  writeApp(records: readonly StoreAppRecord[]): Promise<WriteResult>;
  /** Every application record of one connection, in time order (then by id). */
  appsOf(uid: string): Promise<StoreAppRecord[]>;
  /** Application records of one kind, with that kind's fields in the query language; sorted like search(). */
  searchApp(kind: AppKind, req: SearchRequest): Promise<{ records: StoreAppRecord[]; next: string | null }>;

  /**
   * Upsert by id: the detector's fields are replaced by the newest write, the analyst's status and note kept; suppressions applied.
   * Each alert remembers what raised it (the capture given, else `other`), so that deleting or
   * re-analysing a capture takes away only the alerts nothing else raised.
   */
  writeAlerts(alerts: readonly Alert[], origin?: AlertOrigin): Promise<void>;
  /**
   * The connection records of one uploaded capture (record.capture) and their application
   * records, removed. Idempotent: a second call removes nothing.
   */
  deleteCapture(capture: string): Promise<CaptureDeletion>;
  /**
   * The capture is taken off the alerts it raised, except those in `keep` (raised again by a
   * re-analysis); an alert left with nothing that raised it is removed, one also raised elsewhere
   * (another capture, flows) stays. Alerts stored before origins were kept are never touched.
   */
  releaseCaptureAlerts(capture: string, keep?: readonly string[]): Promise<AlertRelease>;
  getAlert(id: string): Promise<Alert | null>;
  /** Newest last_seen first, then by id. */
  searchAlerts(req: AlertSearch): Promise<{ alerts: Alert[]; next: string | null }>;
  /** The analyst's change; null when there is no such alert. A note of null removes it. */
  patchAlert(id: string, patch: AlertPatch): Promise<Alert | null>;
  /** The same change to many alerts at once (bulk triage); ids not found are named, not an error. */
  patchAlerts(ids: readonly string[], patch: AlertPatch): Promise<{ updated: string[]; missing: string[] }>;
  /** Add or replace (by id). */
  addSuppression(s: Suppression): Promise<void>;
  /** Oldest first (created_at, then id). */
  listSuppressions(): Promise<Suppression[]>;
  deleteSuppression(id: string): Promise<boolean>;

  close(): Promise<void>;
}

export interface AlertOrigin {
  /** SHA-256 of the uploaded capture whose analysis raised the alerts. */
  capture?: string;
}

/** What raised an alert when no capture did (flow ingestion, tests, the CLI). */
export const OTHER_ORIGIN = 'other';

export interface CaptureDeletion {
  records: number;
  appRecords: number;
}

export interface AlertRelease {
  /** Alerts removed: the capture was all that raised them. */
  removed: number;
  /** Alerts kept, as something else raised them too; the capture is no longer among their origins. */
  released: number;
}

export interface AlertSearch {
  status?: AlertStatus;
  /** This severity or higher. */
  severity?: Severity;
  detector?: string;
  /** last_seen >= from (inclusive). */
  from?: TimeBound;
  /** last_seen < to (exclusive). */
  to?: TimeBound;
  /** Also suppressed alerts; default false. */
  includeSuppressed?: boolean;
  /**
   * Only alerts with the source or the destination in one of these namespaces (a scoped key); an
   * entry `cluster/namespace` is that namespace in that cluster only (Alert.cluster).
   */
  namespaces?: readonly string[];
  /** Only alerts raised in one of these clusters (Alert.cluster); alerts without one match none. */
  clusters?: readonly string[];
  /** Default 100, at most 10000. */
  limit?: number;
  /** `next` of the previous page. */
  after?: string;
}

export interface AlertPatch {
  status?: AlertStatus;
  note?: string | null;
}

/** The store cannot be reached (after its retries); the message says where and why. */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/** A request the store refuses (unknown or unsortable field, bad cursor, bad time bound). */
export class StoreRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreRequestError';
  }
}
