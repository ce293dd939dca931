/**
 * The Elasticsearch store: ECS documents in daily indices `<prefix>-conn-YYYY.MM.DD` behind the
 * alias `<prefix>-conn`, created by composable index templates; `_id` = uid with external_gte
 * versions (a re-sent record replaces its copy, an interim never replaces its final). Needs no
 * module (no Painless, ingest, reindex or data streams), so it runs on the bare test node too.
 */
import { Client, errors } from '@elastic/elasticsearch';
import { toElasticsearch, type EsJson, type EsQueryDsl } from '../query/to-es';
import { CONN_MAPPING, DEAD_LETTER_MAPPING, fromEcs, recordVersion, toEcs, type EcsConnDoc } from './ecs';
import {
  aggField, compareEdges, decodeCursor, encodeCursor, filterQuery, pageSize, retentionCutoff, sortField,
} from './common';
import {
  StoreUnavailableError,
  type DeadLetter, type DistinctRequest, type Edge, type EdgesRequest, type HistogramBucket, type HistogramRequest,
  type RecordWriter, type RetentionResult, type SearchFilter, type SearchPage, type SearchRequest, type Store,
  type StoreRecord, type TopBucket, type TopRequest, type WriteResult,
} from './types';

export interface ElasticsearchStoreOptions {
  /** e.g. http://127.0.0.1:9250 */
  node: string;
  /** Names: <prefix>-conn (alias), <prefix>-conn-YYYY.MM.DD, <prefix>-deadletter. Default "eastwatch". */
  prefix?: string;
  /** A bulk request closes at this many documents or bytes, whichever first. Defaults 2000 and 5 MB. */
  batchDocs?: number;
  batchBytes?: number;
  /** Bulk requests in flight. Default 2. */
  concurrency?: number;
  /** Attempts after the first, for 429/5xx/unreachable, with exponential backoff from retryBaseMs. Defaults 5, 200. */
  maxRetries?: number;
  retryBaseMs?: number;
  requestTimeoutMs?: number;
  shards?: number;
  replicas?: number;
}

interface BulkItem {
  uid: string;
  index: string;
  action: string;
  source: string;
}

interface BulkResponse {
  errors: boolean;
  items: { [op: string]: { status: number; error?: { type: string; reason?: string; caused_by?: { type: string; reason?: string } } } }[];
}

interface SearchResponse<T> {
  hits: { hits: { _id: string; _source: T; sort?: EsJson[] }[] };
  aggregations?: Record<string, unknown>;
}

const BULK_FILTER = 'errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.type,items.*.error.caused_by.reason';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function dayOf(ts: number): string {
  const d = new Date(Math.floor(ts) * 1000);
  if (Number.isNaN(d.getTime())) return 'invalid';
  return `${d.getUTCFullYear()}.${String(d.getUTCMonth() + 1).padStart(2, '0')}.${String(d.getUTCDate()).padStart(2, '0')}`;
}

/** Worth another attempt: unreachable, timed out, overloaded (429) or a server-side 5xx. */
function retriable(e: unknown): boolean {
  if (e instanceof errors.ConnectionError || e instanceof errors.TimeoutError || e instanceof errors.NoLivingConnectionsError) return true;
  if (e instanceof errors.ResponseError) return e.statusCode === 429 || (e.statusCode ?? 0) >= 500;
  return false;
}

export class ElasticsearchStore implements Store {
  readonly backend = 'elasticsearch' as const;
  readonly prefix: string;
  readonly alias: string;
  readonly deadLetterIndex: string;
  private readonly client: Client;
  private readonly o: Required<Omit<ElasticsearchStoreOptions, 'prefix'>>;

  constructor(opts: ElasticsearchStoreOptions) {
    this.prefix = opts.prefix ?? 'eastwatch';
    this.alias = `${this.prefix}-conn`;
    this.deadLetterIndex = `${this.prefix}-deadletter`;
    this.o = {
      node: opts.node,
      batchDocs: opts.batchDocs ?? 2000,
      batchBytes: opts.batchBytes ?? 5 * 1024 * 1024,
      concurrency: opts.concurrency ?? 2,
      maxRetries: opts.maxRetries ?? 5,
      retryBaseMs: opts.retryBaseMs ?? 200,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      shards: opts.shards ?? 1,
      replicas: opts.replicas ?? 0,
    };
    // Our own retries (with backoff, and for 429 too) replace the client's.
    this.client = new Client({ node: opts.node, maxRetries: 0, requestTimeout: this.o.requestTimeoutMs });
  }

  private async req<T>(method: string, path: string, body?: unknown, querystring?: Record<string, string | number | boolean>): Promise<T> {
    return (await this.client.transport.request({ method, path, body: body as Record<string, unknown> | undefined, querystring })) as T;
  }

  /** A request retried with exponential backoff; after the last attempt, StoreUnavailableError says where and why. */
  private async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!retriable(e)) throw e;
        if (attempt >= this.o.maxRetries) {
          throw new StoreUnavailableError(`Elasticsearch at ${this.o.node}: ${what} failed after ${attempt + 1} attempts: ${(e as Error).message}`, e);
        }
        await sleep(this.o.retryBaseMs * 2 ** attempt * (0.5 + Math.random() / 2));
      }
    }
  }

  async init(): Promise<void> {
    await this.withRetry('health check', () => this.req('GET', '/_cluster/health'));
    const p = this.prefix;
    const settings = { number_of_shards: this.o.shards, number_of_replicas: this.o.replicas };
    // PUT replaces: running init at every start is idempotent and upgrades the mapping of new indices.
    await this.req('PUT', `/_component_template/${p}-conn-mappings`, { template: { mappings: CONN_MAPPING }, _meta: { managed_by: 'eastwatch' } });
    await this.req('PUT', `/_component_template/${p}-conn-settings`, { template: { settings }, _meta: { managed_by: 'eastwatch' } });
    await this.req('PUT', `/_index_template/${p}-conn`, {
      index_patterns: [`${p}-conn-*`],
      composed_of: [`${p}-conn-settings`, `${p}-conn-mappings`],
      priority: 200,
      // Every new daily index joins the alias that searches use.
      template: { aliases: { [this.alias]: {} } },
      _meta: { managed_by: 'eastwatch', record: 'conn' },
    });
    await this.req('PUT', `/_index_template/${p}-deadletter`, {
      index_patterns: [this.deadLetterIndex],
      priority: 200,
      template: { settings, mappings: DEAD_LETTER_MAPPING },
      _meta: { managed_by: 'eastwatch' },
    });
  }

  indexFor(r: StoreRecord): string {
    return `${this.alias}-${dayOf(r.ts)}`;
  }

  private item(r: StoreRecord): BulkItem {
    const index = this.indexFor(r);
    return {
      uid: r.uid,
      index,
      action: JSON.stringify({ index: { _index: index, _id: r.uid, version: recordVersion(r), version_type: 'external_gte' } }),
      source: JSON.stringify(toEcs(r)),
    };
  }

  /** One batch to the end: retried items retried, refused items dead-lettered; rejects only when the node stays unavailable. */
  async sendBatch(items: BulkItem[]): Promise<WriteResult> {
    const res: WriteResult = { written: 0, stale: 0, deadLettered: 0 };
    let pending = items;
    for (let attempt = 0; pending.length > 0; attempt++) {
      const body = pending.map((i) => `${i.action}\n${i.source}\n`).join('');
      // Only what the per-item outcome needs: the full response of a 2000-document bulk is ~400 kB to parse.
      const resp = await this.withRetry('bulk', () => this.client.transport.request({ method: 'POST', path: '/_bulk', bulkBody: body, querystring: { filter_path: BULK_FILTER } }) as Promise<BulkResponse>);
      const retry: BulkItem[] = [];
      const dead: { item: BulkItem; status: number; reason: string }[] = [];
      resp.items.forEach((entry, k) => {
        const r = Object.values(entry)[0];
        if (!r.error) res.written++;
        // external_gte conflict: the index holds a newer version of this uid.
        else if (r.status === 409) res.stale++;
        else if (r.status === 429 || r.status >= 500) retry.push(pending[k]);
        else {
          const c = r.error.caused_by;
          dead.push({ item: pending[k], status: r.status, reason: `${r.error.type}: ${r.error.reason ?? ''}${c ? ` (caused by ${c.type}: ${c.reason ?? ''})` : ''}` });
        }
      });
      if (retry.length > 0 && attempt >= this.o.maxRetries) {
        for (const item of retry) dead.push({ item, status: 429, reason: `still rejected after ${attempt + 1} attempts (429/5xx)` });
        retry.length = 0;
      }
      if (dead.length > 0) {
        await this.deadLetter(dead);
        res.deadLettered += dead.length;
      }
      pending = retry;
      if (pending.length > 0) await sleep(this.o.retryBaseMs * 2 ** attempt);
    }
    return res;
  }

  private async deadLetter(dead: { item: BulkItem; status: number; reason: string }[]): Promise<void> {
    const at = new Date().toISOString();
    const body = dead.map((d) => `${JSON.stringify({ create: { _index: this.deadLetterIndex } })}\n${JSON.stringify({
      '@timestamp': at, reason: d.reason, status: d.status, index: d.item.index, doc_id: d.item.uid, document: d.item.source,
    })}\n`).join('');
    const resp = await this.withRetry('dead-letter bulk', () => this.client.transport.request({ method: 'POST', path: '/_bulk', bulkBody: body }) as Promise<BulkResponse>);
    if (resp.errors) {
      // Nothing is dropped silently: if even the dead-letter index refuses, the caller hears of it.
      const first = resp.items.map((e) => Object.values(e)[0]).find((r) => r.error);
      throw new Error(`dead-letter index ${this.deadLetterIndex} refused documents: ${first?.error?.type}: ${first?.error?.reason}`);
    }
  }

  writer(): RecordWriter {
    const total: WriteResult = { written: 0, stale: 0, deadLettered: 0 };
    const queue: BulkItem[][] = [];
    const inflight = new Set<Promise<void>>();
    let buf: BulkItem[] = [];
    let bytes = 0;
    let failure: unknown = null;
    const pump = (): void => {
      while (inflight.size < this.o.concurrency && queue.length > 0) {
        const batch = queue.shift() as BulkItem[];
        const p: Promise<void> = this.sendBatch(batch).then(
          (r) => { total.written += r.written; total.stale += r.stale; total.deadLettered += r.deadLettered; },
          (e: unknown) => { failure ??= e; },
        ).finally(() => { inflight.delete(p); pump(); });
        inflight.add(p);
      }
    };
    const cut = (): void => {
      if (buf.length === 0) return;
      queue.push(buf);
      buf = [];
      bytes = 0;
      pump();
    };
    return {
      add: (r) => {
        if (failure !== null) throw failure;
        const it = this.item(r);
        buf.push(it);
        bytes += it.action.length + it.source.length + 2;
        if (buf.length >= this.o.batchDocs || bytes >= this.o.batchBytes) cut();
      },
      congestion: () => {
        if (inflight.size < this.o.concurrency || queue.length === 0) return undefined;
        return Promise.race(inflight);
      },
      close: async () => {
        cut();
        while (inflight.size > 0 || queue.length > 0) await Promise.race(inflight);
        if (failure !== null) throw failure;
        return total;
      },
    };
  }

  async write(records: readonly StoreRecord[]): Promise<WriteResult> {
    const w = this.writer();
    for (const r of records) {
      w.add(r);
      const c = w.congestion();
      if (c) await c;
    }
    return w.close();
  }

  async refresh(): Promise<void> {
    await this.req('POST', `/${this.alias}-*,${this.deadLetterIndex}/_refresh`, undefined, { ignore_unavailable: true, allow_no_indices: true });
  }

  private async searchAlias<T>(body: Record<string, unknown>): Promise<SearchResponse<T>> {
    return this.withRetry('search', () => this.req<SearchResponse<T>>('POST', `/${this.alias}/_search`, body, { ignore_unavailable: true, allow_no_indices: true }));
  }

  private query(f: SearchFilter): EsQueryDsl {
    return toElasticsearch(filterQuery(f));
  }

  async get(uid: string): Promise<StoreRecord | null> {
    const r = await this.searchAlias<EcsConnDoc>({ query: { ids: { values: [uid] } }, size: 1 });
    const h = r.hits.hits[0];
    return h ? fromEcs(h._source) : null;
  }

  async search(req: SearchRequest): Promise<SearchPage> {
    const f = sortField(req.sort?.field ?? '@timestamp');
    const order = req.sort?.order ?? 'desc';
    const limit = pageSize(req.limit);
    // date_nanos sort values as text: as JSON numbers, epoch nanoseconds lose digits past 2^53.
    const primary = f.type === 'date' ? { order, format: 'strict_date_optional_time_nanos' } : { order };
    const body: Record<string, unknown> = {
      query: this.query(req),
      sort: [{ [f.name]: primary }, { 'event.id': { order: 'asc' } }],
      // One more than the page tells whether there is a next page (capped by the result window).
      size: Math.min(limit + 1, 10_000),
      track_total_hits: false,
    };
    if (req.after !== undefined) body.search_after = decodeCursor(req.after, 2);
    const r = await this.searchAlias<EcsConnDoc>(body);
    const hits = r.hits.hits;
    const more = hits.length > limit || (limit === 10_000 && hits.length === limit);
    const page = hits.length > limit ? hits.slice(0, limit) : hits;
    return { records: page.map((h) => fromEcs(h._source)), next: more ? encodeCursor(page[page.length - 1].sort ?? []) : null };
  }

  async count(filter: SearchFilter): Promise<number> {
    const r = await this.withRetry('count', () => this.req<{ count: number }>('POST', `/${this.alias}/_count`, { query: this.query(filter) }, { ignore_unavailable: true, allow_no_indices: true }));
    return r.count;
  }

  private async aggs(filter: SearchFilter, aggs: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.searchAlias<unknown>({ query: this.query(filter), size: 0, track_total_hits: false, aggs });
    return r.aggregations ?? {};
  }

  async top(req: TopRequest): Promise<TopBucket[]> {
    const f = aggField(req.field);
    const size = req.size ?? 10;
    const a = await this.aggs(req, {
      top: {
        terms: { field: f.name, size, shard_size: Math.max(size * 10, 100), order: [{ _count: 'desc' }, { _key: 'asc' }] },
        aggs: { bytes: { sum: { field: 'network.bytes' } } },
      },
    });
    const buckets = (a.top as { buckets?: { key: string | number; key_as_string?: string; doc_count: number; bytes: { value: number } }[] } | undefined)?.buckets ?? [];
    return buckets.map((b) => ({ key: b.key_as_string ?? String(b.key), connections: b.doc_count, bytes: b.bytes.value }));
  }

  async histogram(req: HistogramRequest): Promise<HistogramBucket[]> {
    const iv = req.intervalSeconds;
    if (!(iv > 0)) throw new Error(`intervalSeconds must be > 0, got ${iv}`);
    const a = await this.aggs(req, {
      h: { date_histogram: { field: '@timestamp', fixed_interval: `${iv}s`, min_doc_count: 0 }, aggs: { bytes: { sum: { field: 'network.bytes' } } } },
    });
    const buckets = (a.h as { buckets?: { key: number; doc_count: number; bytes: { value: number } }[] } | undefined)?.buckets ?? [];
    return buckets.map((b) => ({ start: b.key, connections: b.doc_count, bytes: b.bytes.value }));
  }

  async distinct(req: DistinctRequest): Promise<number> {
    const f = aggField(req.field);
    // 40000 is the largest threshold: below it the count is exact in practice.
    const a = await this.aggs(req, { d: { cardinality: { field: f.name, precision_threshold: 40000 } } });
    return (a.d as { value: number } | undefined)?.value ?? 0;
  }

  async edges(req: EdgesRequest): Promise<Edge[]> {
    const src = (name: string, field: string, missing = false): Record<string, unknown> => ({ [name]: { terms: { field, ...(missing ? { missing_bucket: true } : {}) } } });
    const sources = [
      src('sip', 'source.ip'), src('dip', 'destination.ip'), src('dport', 'destination.port'), src('proto', 'network.transport'),
      src('sns', 'eastwatch.source.namespace', true), src('swl', 'eastwatch.source.workload', true),
      src('dns', 'eastwatch.destination.namespace', true), src('dwl', 'eastwatch.destination.workload', true),
    ];
    type Key = { sip: string; dip: string; dport: number; proto: string; sns: string | null; swl: string | null; dns: string | null; dwl: string | null };
    const out: Edge[] = [];
    let after: Key | undefined;
    // Composite pages through every pair; the ranking is done here, identically for both backends.
    for (;;) {
      const a = await this.aggs(req, {
        e: { composite: { size: 1000, sources, ...(after ? { after } : {}) }, aggs: { bytes: { sum: { field: 'network.bytes' } } } },
      });
      const e = a.e as { after_key?: Key; buckets: { key: Key; doc_count: number; bytes: { value: number } }[] } | undefined;
      if (!e || e.buckets.length === 0) break;
      for (const b of e.buckets) {
        out.push({
          source: { ip: b.key.sip, namespace: b.key.sns, workload: b.key.swl },
          destination: { ip: b.key.dip, port: b.key.dport, namespace: b.key.dns, workload: b.key.dwl },
          transport: b.key.proto,
          connections: b.doc_count,
          bytes: b.bytes.value,
        });
      }
      after = e.after_key;
      if (!after) break;
    }
    return out.sort(compareEdges).slice(0, req.limit ?? 1000);
  }

  async retain(maxAgeDays: number, now = new Date()): Promise<RetentionResult> {
    const cutoff = retentionCutoff(maxAgeDays, now);
    const cutoffDay = dayOf(cutoff.getTime() / 1000);
    await this.refresh();
    const rows = await this.req<{ index: string; 'docs.count': string | null }[]>('GET', `/_cat/indices/${this.alias}-*`, undefined, { format: 'json', h: 'index,docs.count' });
    const re = new RegExp(`^${this.alias.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d{4}\\.\\d{2}\\.\\d{2})$`);
    // Whole daily indices go: no delete_by_query needed (the bare node has none), and it is cheap.
    const old = rows.filter((r) => { const m = re.exec(r.index); return m !== null && m[1] < cutoffDay; });
    if (old.length > 0) await this.req('DELETE', `/${old.map((r) => r.index).join(',')}`);
    return {
      cutoff,
      removedRecords: old.reduce((n, r) => n + Number(r['docs.count'] ?? 0), 0),
      removedIndices: old.map((r) => r.index).sort(),
    };
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    type D = { '@timestamp': string; reason: string; doc_id?: string; document: string };
    const r = await this.withRetry('search', () => this.req<SearchResponse<D>>('POST', `/${this.deadLetterIndex}/_search`,
      { size: limit, sort: [{ '@timestamp': 'desc' }] }, { ignore_unavailable: true, allow_no_indices: true }));
    return r.hits.hits.map((h) => ({ uid: h._source.doc_id ?? null, reason: h._source.reason, at: h._source['@timestamp'], document: h._source.document }));
  }

  /** Remove everything this store created (tests, uninstall). */
  async destroy(): Promise<void> {
    await this.req('DELETE', `/${this.alias}-*,${this.deadLetterIndex}`, undefined, { ignore_unavailable: true, allow_no_indices: true });
    const p = this.prefix;
    for (const t of [`/_index_template/${p}-conn`, `/_index_template/${p}-deadletter`, `/_component_template/${p}-conn-mappings`, `/_component_template/${p}-conn-settings`]) {
      try { await this.req('DELETE', t); } catch (e) { if (!(e instanceof errors.ResponseError && e.statusCode === 404)) throw e; }
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
