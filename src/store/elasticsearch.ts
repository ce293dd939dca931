/**
 * The Elasticsearch store: ECS documents in daily indices `<prefix>-conn-YYYY.MM.DD` behind the
 * alias `<prefix>-conn`, created by composable index templates; `_id` = uid with external_gte
 * versions (a re-sent record replaces its copy, an interim never replaces its final). Needs no
 * module (no Painless, ingest, reindex or data streams), so it runs on the bare test node too.
 */
import { nameExternal } from './edge-names';
import type { Client } from '@elastic/elasticsearch';

type EsClientModule = typeof import('@elastic/elasticsearch');
let esModule: EsClientModule | undefined;
/**
 * The client and what it brings (undici, Apache Arrow, OpenTelemetry: some 350 modules) load on
 * first use, so that commands that never open Elasticsearch do not pay for them at start.
 */
function es(): EsClientModule {
  esModule ??= require('@elastic/elasticsearch') as EsClientModule;
  return esModule;
}
import { toElasticsearch, type EsJson, type EsQueryDsl } from '../query/to-es';
import { CONN_FIELDS, type FieldRegistry } from '../query/fields';
import type { Alert, Suppression } from '../../detectors/contract/alert';
import { CONN_MAPPING, DEAD_LETTER_MAPPING, fromEcs, recordVersion, toEcs, type EcsConnDoc } from './ecs';
import { APP_SPECS, appMapping, appRecordId, appSpec, fromAppDoc, kindFilter, toAppDoc, type AppSpec } from './app-records';
import { ALERT_MAPPING, SUPPRESSION_MAPPING, alertDoc, alertFromDoc, type AlertDoc } from './alerts-es';
import { alertBounds, mergeAlert, scopeEntries, validateAlert, validateSuppression } from './alerts-common';
import type { Query } from '../query/ast';
import { recordProblem } from './validate';
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
import {
  StoreRequestError,
  StoreUnavailableError,
  OTHER_ORIGIN,
  type AlertOrigin,
  type AlertRelease,
  type CaptureDeletion,
  type AlertPatch,
  type AlertSearch,
  type AppKind,
  type StoreAppRecord,
  type DeadLetter,
  type DistinctRequest,
  type Edge,
  type EdgeList,
  type EdgesRequest,
  type Histogram,
  type HistogramRequest,
  type RecordWriter,
  type RetentionResult,
  type SearchFilter,
  type SearchPage,
  type SearchRequest,
  type Store,
  type StoreRecord,
  type TopBucket,
  type TopRequest,
  type WriteResult,
} from './types';

export interface ElasticsearchStoreOptions {
  /** e.g. http://127.0.0.1:9250 */
  node: string;
  /**
   * Names: <prefix>-conn (alias), <prefix>-conn-YYYY.MM.DD; <prefix>-dns, -http, -tls, -ssh, -app
   * likewise; <prefix>-deadletter, <prefix>-alerts, <prefix>-suppressions. Default "eastwatch".
   */
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
  /**
   * A search or aggregation running longer than this on the node is cut there (the `timeout` of
   * the search body) and the request refused as too expensive, instead of holding a worker and
   * its memory. Default 20000.
   */
  searchTimeoutMs?: number;
  shards?: number;
  replicas?: number;
}

/** A document ready for a bulk request, before it is encoded into a batch. */
interface ItemText {
  uid: string;
  index: string;
  action: string;
  source: string;
}

/** One document of a bulk request: its action and source lie in the batch's buffer at [start, mid) and [mid, end). */
interface BulkItem {
  uid: string;
  index: string;
  start: number;
  mid: number;
  end: number;
}

/**
 * A bulk request being built: its NDJSON encoded once, straight into one buffer, as documents
 * arrive, instead of thousands of strings kept on the JS heap until the request and then joined
 * (a second copy) and encoded; the body sent is the buffer itself.
 */
class Batch {
  readonly items: BulkItem[] = [];
  private buf: Buffer;
  len = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Appends `action\nsource\n`; false (nothing written) when it might not fit. */
  add(uid: string, index: string, action: string, source: string): boolean {
    // At most 3 bytes per UTF-16 unit: a bound that needs no second pass over the text.
    if (this.len + 3 * (action.length + source.length) + 2 > this.buf.length) return false;
    const start = this.len;
    this.len += this.buf.write(action, this.len, 'utf8');
    this.buf[this.len++] = 0x0a;
    const mid = this.len;
    this.len += this.buf.write(source, this.len, 'utf8');
    this.buf[this.len++] = 0x0a;
    this.items.push({ uid, index, start, mid, end: this.len });
    return true;
  }

  /** The request body of these items (all of them: the buffer as is). */
  body(items: readonly BulkItem[]): Buffer {
    if (items.length === this.items.length) return this.buf.subarray(0, this.len);
    return Buffer.concat(items.map((i) => this.buf.subarray(i.start, i.end)));
  }

  /** The document of an item, as text (for the dead letters). */
  source(i: BulkItem): string {
    return this.buf.toString('utf8', i.mid, i.end - 1);
  }
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

let lastDay = NaN;
let lastDayText = '';
/** YYYY.MM.DD (UTC) of epoch seconds; the last day's text reused, as records come in near time order. */
function dayOf(ts: number): string {
  const day = Math.floor(ts / 86400);
  if (day === lastDay) return lastDayText;
  const d = new Date(day * 86400 * 1000);
  if (Number.isNaN(d.getTime())) return 'invalid';
  lastDay = day;
  lastDayText = `${d.getUTCFullYear()}.${String(d.getUTCMonth() + 1).padStart(2, '0')}.${String(d.getUTCDate()).padStart(2, '0')}`;
  return lastDayText;
}

/** A 400 from the node for a search is the request's fault: StoreRequestError (answered 400), with the node's reason. */
function refusal(e: unknown): unknown {
  if (!(e instanceof es().errors.ResponseError) || e.statusCode !== 400) return e;
  const body = e.body as { error?: { type?: string; reason?: string; root_cause?: { type?: string; reason?: string }[] } } | undefined;
  const root = body?.error?.root_cause?.[0] ?? body?.error;
  return new StoreRequestError(`the search cannot be served: ${root?.type ?? 'refused'}: ${(root?.reason ?? '').slice(0, 300)}`);
}

/** Worth another attempt: unreachable, timed out, overloaded (429) or a server-side 5xx. */
function retriable(e: unknown): boolean {
  if (e instanceof es().errors.ConnectionError || e instanceof es().errors.TimeoutError || e instanceof es().errors.NoLivingConnectionsError) return true;
  if (e instanceof es().errors.ResponseError) return e.statusCode === 429 || (e.statusCode ?? 0) >= 500;
  return false;
}

export class ElasticsearchStore implements Store {
  readonly backend = 'elasticsearch' as const;
  readonly prefix: string;
  readonly alias: string;
  readonly deadLetterIndex: string;
  readonly alertIndex: string;
  readonly suppressionIndex: string;
  private readonly client: Client;
  private readonly o: Required<Omit<ElasticsearchStoreOptions, 'prefix'>>;

  constructor(opts: ElasticsearchStoreOptions) {
    this.prefix = opts.prefix ?? 'eastwatch';
    this.alias = `${this.prefix}-conn`;
    this.deadLetterIndex = `${this.prefix}-deadletter`;
    this.alertIndex = `${this.prefix}-alerts`;
    this.suppressionIndex = `${this.prefix}-suppressions`;
    this.o = {
      node: opts.node,
      batchDocs: opts.batchDocs ?? 2000,
      batchBytes: opts.batchBytes ?? 5 * 1024 * 1024,
      concurrency: opts.concurrency ?? 2,
      maxRetries: opts.maxRetries ?? 5,
      retryBaseMs: opts.retryBaseMs ?? 200,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      searchTimeoutMs: opts.searchTimeoutMs ?? 20_000,
      shards: opts.shards ?? 1,
      replicas: opts.replicas ?? 0,
    };
    // Our own retries (with backoff, and for 429 too) replace the client's.
    this.client = new (es().Client)({ node: opts.node, maxRetries: 0, requestTimeout: this.o.requestTimeoutMs });
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
    // Fields added since an existing daily index was made (mappings only grow): without this a
    // strict mapping would refuse today's records that carry them.
    await this.req('PUT', `/${p}-conn-*/_mapping`, CONN_MAPPING, { allow_no_indices: true });
    await this.req('PUT', `/_index_template/${p}-deadletter`, {
      index_patterns: [this.deadLetterIndex],
      priority: 200,
      template: { settings, mappings: DEAD_LETTER_MAPPING },
      _meta: { managed_by: 'eastwatch' },
    });
    // Application records: one template and one alias per spec; daily indices like the connections'.
    for (const sp of APP_SPECS) {
      const mappings = this.appMappingFor(sp);
      try {
        await this.req('PUT', `/_component_template/${p}-${sp.index}-mappings`, { template: { mappings }, _meta: { managed_by: 'eastwatch' } });
      } catch (e) {
        // A node without the wildcard mapper (x-pack's; the bare test node lacks it): keyword, which
        // answers the same queries, only leading-wildcard ones slower. Reported by wildcardMapper.
        if (!(this.wildcardMapper && e instanceof es().errors.ResponseError && /mapper type \[wildcard\]/.test(JSON.stringify(e.body)))) throw e;
        this.wildcardMapper = false;
        await this.req('PUT', `/_component_template/${p}-${sp.index}-mappings`, {
          template: { mappings: this.appMappingFor(sp) },
          _meta: { managed_by: 'eastwatch' },
        });
      }
      await this.addMissingFields(`${this.appAlias(sp)}-*`, this.appMappingFor(sp));
      await this.req('PUT', `/_index_template/${p}-${sp.index}`, {
        index_patterns: [`${this.appAlias(sp)}-*`],
        composed_of: [`${p}-conn-settings`, `${p}-${sp.index}-mappings`],
        priority: 200,
        template: { aliases: { [this.appAlias(sp)]: {} } },
        _meta: { managed_by: 'eastwatch', record: sp.kind },
      });
    }
    for (const [name, mappings] of [
      [this.alertIndex, ALERT_MAPPING],
      [this.suppressionIndex, SUPPRESSION_MAPPING],
    ] as const) {
      await this.req('PUT', `/_index_template/${name}`, {
        index_patterns: [name],
        priority: 200,
        template: { settings, mappings },
        _meta: { managed_by: 'eastwatch' },
      });
      // Created now (not on first write) so that reads and updates of an empty store find an index.
      try {
        await this.req('PUT', `/${name}`);
      } catch (e) {
        if (!(e instanceof es().errors.ResponseError && e.statusCode === 400 && /resource_already_exists/.test(e.message))) throw e;
        // An index made by an older version: fields added since (origins) are added to it.
        await this.req('PUT', `/${name}/_mapping`, mappings);
      }
    }
  }

  /**
   * Whether the node has Elasticsearch's wildcard field type (ECS's type of url.original); known
   * after init. Without it url.original is mapped keyword.
   */
  wildcardMapper = true;

  /** The mapping of a spec's indices on this node (appMapping, wildcard as keyword where the node lacks it). */
  appMappingFor(sp: AppSpec): { [key: string]: unknown } {
    const m = appMapping(sp);
    return this.wildcardMapper ? m : (JSON.parse(JSON.stringify(m).replace(/\{"type":"wildcard"\}/g, '{"type":"keyword","ignore_above":4096}')) as typeof m);
  }

  /**
   * Existing daily indices get the fields added since they were made: a strict mapping would refuse
   * today's documents that carry them. Only absent fields are sent: a field whose type changed
   * (dns.id was long) keeps its old type in the old index, which still takes the new value (ES
   * coerces '53' to a long), and the next daily index has the new type.
   */
  private async addMissingFields(pattern: string, wanted: { [key: string]: unknown }): Promise<void> {
    type Props = { properties?: { [key: string]: Props } };
    const existing = await this.req<{ [index: string]: { mappings: Props } }>('GET', `/${pattern}/_mapping`, undefined, { allow_no_indices: true });
    const missing = (want: Props, have: Props): Props | null => {
      const out: { [key: string]: Props } = {};
      for (const [k, w] of Object.entries(want.properties ?? {})) {
        const h = have.properties?.[k];
        if (h === undefined) out[k] = w;
        else if (w.properties !== undefined && h.properties !== undefined) {
          const sub = missing(w, h);
          if (sub !== null) out[k] = sub;
        }
      }
      return Object.keys(out).length > 0 ? { properties: out } : null;
    };
    for (const [index, { mappings }] of Object.entries(existing)) {
      const add = missing(wanted as Props, mappings);
      if (add !== null) await this.req('PUT', `/${index}/_mapping`, add);
    }
  }

  appAlias(sp: AppSpec): string {
    return `${this.prefix}-${sp.index}`;
  }

  private appItem(r: StoreAppRecord): ItemText {
    const sp = appSpec(r.kind);
    const id = appRecordId(r);
    const index = `${this.appAlias(sp)}-${dayOf(r.ts)}`;
    return { uid: id, index, action: JSON.stringify({ index: { _index: index, _id: id } }), source: JSON.stringify(toAppDoc(sp, r, id)) };
  }

  /** Every alias of record data: connections and each application spec. */
  private dataAliases(): string[] {
    return [this.alias, ...APP_SPECS.map((sp) => this.appAlias(sp))];
  }

  indexFor(r: StoreRecord): string {
    return `${this.alias}-${dayOf(r.ts)}`;
  }

  private item(r: StoreRecord): ItemText {
    const index = this.indexFor(r);
    return {
      uid: r.uid,
      index,
      action: `{"index":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(r.uid)},"version":${recordVersion(r)},"version_type":"external_gte"}}`,
      source: JSON.stringify(toEcs(r)),
    };
  }

  /** One batch to the end: retried items retried, refused items dead-lettered; rejects only when the node stays unavailable. */
  async sendBatch(batch: Batch): Promise<WriteResult> {
    const res: WriteResult = { written: 0, stale: 0, deadLettered: 0 };
    let pending: readonly BulkItem[] = batch.items;
    for (let attempt = 0; pending.length > 0; attempt++) {
      const items = await this.bulkItems(batch, pending);
      const retry: BulkItem[] = [];
      const dead: { item: BulkItem; status: number; reason: string }[] = [];
      items.forEach((entry, k) => {
        const r = Object.values(entry)[0];
        if (!r.error) res.written++;
        // external_gte conflict: the index holds a newer version of this uid.
        else if (r.status === 409) res.stale++;
        else if (r.status === 429 || r.status >= 500) retry.push(pending[k]);
        else {
          const c = r.error.caused_by;
          dead.push({
            item: pending[k],
            status: r.status,
            reason: `${r.error.type}: ${r.error.reason ?? ''}${c ? ` (caused by ${c.type}: ${c.reason ?? ''})` : ''}`,
          });
        }
      });
      if (retry.length > 0 && attempt >= this.o.maxRetries) {
        for (const item of retry) dead.push({ item, status: 429, reason: `still rejected after ${attempt + 1} attempts (429/5xx)` });
        retry.length = 0;
      }
      if (dead.length > 0) {
        await this.deadLetter(dead.map((d) => ({ ...d, source: batch.source(d.item) })));
        res.deadLettered += dead.length;
      }
      pending = retry;
      if (pending.length > 0) await sleep(this.o.retryBaseMs * 2 ** attempt);
    }
    return res;
  }

  /**
   * The per-item outcome of one bulk request. When the node refuses the request as a whole (400:
   * one item's action is invalid, and it fails every other item with it), the items are sent again
   * in halves until the one at fault stands alone and is refused by itself: the rest are kept.
   */
  private async bulkItems(batch: Batch, items: readonly BulkItem[]): Promise<BulkResponse['items']> {
    try {
      const body = batch.body(items);
      // Only what the per-item outcome needs: the full response of a 2000-document bulk is ~400 kB to parse.
      const resp = await this.withRetry(
        'bulk',
        () =>
          this.client.transport.request({ method: 'POST', path: '/_bulk', bulkBody: body, querystring: { filter_path: BULK_FILTER } }) as Promise<BulkResponse>,
      );
      return resp.items;
    } catch (e) {
      if (!(e instanceof es().errors.ResponseError && e.statusCode === 400)) throw e;
      if (items.length === 1) {
        const b = e.body as { error?: { type?: string; reason?: string } } | undefined;
        return [{ index: { status: 400, error: { type: b?.error?.type ?? 'request_refused', reason: (b?.error?.reason ?? e.message).slice(0, 500) } } }];
      }
      const mid = items.length >> 1;
      return [...(await this.bulkItems(batch, items.slice(0, mid))), ...(await this.bulkItems(batch, items.slice(mid)))];
    }
  }

  private async deadLetter(dead: { item: BulkItem; status: number; reason: string; source: string }[]): Promise<void> {
    const at = new Date().toISOString();
    const body = dead
      .map(
        (d) =>
          `${JSON.stringify({ create: { _index: this.deadLetterIndex } })}\n${JSON.stringify({
            '@timestamp': at,
            reason: d.reason,
            status: d.status,
            index: d.item.index,
            doc_id: d.item.uid,
            document: d.source,
          })}\n`,
      )
      .join('');
    const resp = await this.withRetry(
      'dead-letter bulk',
      () => this.client.transport.request({ method: 'POST', path: '/_bulk', bulkBody: body }) as Promise<BulkResponse>,
    );
    if (resp.errors) {
      // Nothing is dropped silently: if even the dead-letter index refuses, the caller hears of it.
      const first = resp.items.map((e) => Object.values(e)[0]).find((r) => r.error);
      throw new Error(`dead-letter index ${this.deadLetterIndex} refused documents: ${first?.error?.type}: ${first?.error?.reason}`);
    }
  }

  /**
   * The streaming writer. WriterOptions.bulkLoad changes nothing here: a long refresh interval on
   * the daily indices during a load measured slower, not faster (bench/store.ts, 500k records: 77%
   * of the raw _bulk rate against 84% without), the final refresh and its index creation costing
   * more than the refreshes saved (search-idle shards skip them anyway).
   */
  writer(): RecordWriter {
    const total: WriteResult = { written: 0, stale: 0, deadLettered: 0 };
    const queue: Batch[] = [];
    const inflight = new Set<Promise<void>>();
    let buf: Batch | null = null;
    let failure: unknown = null;
    const pump = (): void => {
      while (inflight.size < this.o.concurrency && queue.length > 0) {
        const batch = queue.shift() as Batch;
        const p: Promise<void> = this.sendBatch(batch)
          .then(
            (r) => {
              total.written += r.written;
              total.stale += r.stale;
              total.deadLettered += r.deadLettered;
            },
            (e: unknown) => {
              failure ??= e;
            },
          )
          .finally(() => {
            inflight.delete(p);
            pump();
          });
        inflight.add(p);
      }
    };
    const cut = (): void => {
      if (buf === null || buf.items.length === 0) return;
      queue.push(buf);
      buf = null;
      pump();
    };
    const push = (it: ItemText): void => {
      if (failure !== null) throw failure;
      buf ??= new Batch(this.o.batchBytes);
      if (!buf.add(it.uid, it.index, it.action, it.source)) {
        cut();
        // A document larger than a whole batch goes alone, in a buffer of its size.
        buf = new Batch(Math.max(this.o.batchBytes, 3 * (it.action.length + it.source.length) + 2));
        buf.add(it.uid, it.index, it.action, it.source);
      }
      if (buf.items.length >= this.o.batchDocs || buf.len >= this.o.batchBytes) cut();
    };
    // Records the node would refuse, perhaps with the whole bulk request (an _id over 512 bytes
    // fails every item of it): dead-lettered here instead, at close, and never sent.
    const refused: { item: BulkItem; status: number; reason: string; source: string }[] = [];
    return {
      add: (r) => {
        if (failure !== null) throw failure;
        const bad = recordProblem(r);
        if (bad === null) {
          push(this.item(r));
          return;
        }
        const uid = typeof r.uid === 'string' ? r.uid.slice(0, 64) : '';
        refused.push({
          item: { uid, index: '', start: 0, mid: 0, end: 0 },
          status: 400,
          reason: `invalid record: ${bad.field}: ${bad.reason}`,
          source: JSON.stringify(r),
        });
      },
      addApp: (r) => push(this.appItem(r)),
      congestion: () => {
        if (inflight.size < this.o.concurrency || queue.length === 0) return undefined;
        return Promise.race(inflight);
      },
      close: async () => {
        cut();
        while (inflight.size > 0 || queue.length > 0) await Promise.race(inflight);
        if (failure !== null) throw failure;
        if (refused.length > 0) {
          const n = refused.length;
          await this.deadLetter(refused.splice(0));
          total.deadLettered += n;
        }
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

  async writeApp(records: readonly StoreAppRecord[]): Promise<WriteResult> {
    const w = this.writer();
    for (const r of records) {
      w.addApp(r);
      const c = w.congestion();
      if (c) await c;
    }
    return w.close();
  }

  async refresh(): Promise<void> {
    const names = [...this.dataAliases().map((a) => `${a}-*`), this.deadLetterIndex, this.alertIndex, this.suppressionIndex];
    await this.req('POST', `/${names.join(',')}/_refresh`, undefined, { ignore_unavailable: true, allow_no_indices: true });
  }

  private async searchAlias<T>(body: Record<string, unknown>): Promise<SearchResponse<T>> {
    return this.search_<T>(this.alias, body);
  }

  /**
   * A search with the node's own time limit; what the node refuses as a request (400: a query it
   * cannot build, too many clauses or buckets) is the client's error, not a server fault, and a
   * search cut by the time limit is refused rather than answered with partial results.
   */
  private async search_<T>(index: string, body: Record<string, unknown>): Promise<SearchResponse<T>> {
    const limited = { ...body, timeout: `${this.o.searchTimeoutMs}ms` };
    let r: SearchResponse<T> & { timed_out?: boolean };
    try {
      r = await this.withRetry('search', () =>
        this.req<SearchResponse<T> & { timed_out?: boolean }>('POST', `/${index}/_search`, limited, { ignore_unavailable: true, allow_no_indices: true }),
      );
    } catch (e) {
      throw refusal(e);
    }
    if (r.timed_out) throw new StoreRequestError(`the search ran longer than ${this.o.searchTimeoutMs} ms and was stopped: narrow the time range or the query`);
    return r;
  }

  private query(f: SearchFilter): EsQueryDsl {
    return toElasticsearch(filterQuery(f));
  }

  async get(uid: string): Promise<StoreRecord | null> {
    const r = await this.searchAlias<EcsConnDoc>({ query: { ids: { values: [uid] } }, size: 1 });
    const h = r.hits.hits[0];
    return h ? fromEcs(h._source) : null;
  }

  /** One search_after page of `index` in (sort field, tie field) order. */
  private async page<T>(
    index: string,
    fields: FieldRegistry,
    req: SearchRequest,
    extra: Query | null,
    tie: string,
  ): Promise<{ hits: T[]; next: string | null }> {
    const f = sortField(req.sort?.field ?? '@timestamp', fields);
    const order = req.sort?.order ?? 'desc';
    const limit = pageSize(req.limit);
    // date_nanos sort values as text: as JSON numbers, epoch nanoseconds lose digits past 2^53.
    const primary = f.type === 'date' ? { order, format: 'strict_date_optional_time_nanos' } : { order };
    const q = filterQuery(req, new Date(), fields);
    const body: Record<string, unknown> = {
      query: toElasticsearch(extra === null ? q : q.kind === 'all' ? extra : { kind: 'and', children: [q, extra] }),
      sort: [{ [f.name]: primary }, { [tie]: { order: 'asc' } }],
      // One more than the page tells whether there is a next page (capped by the result window).
      size: Math.min(limit + 1, 10_000),
      track_total_hits: false,
    };
    if (req.after !== undefined) {
      const kind: CursorKind =
        f.type === 'date' ? 'date-text' : f.type === 'ip' ? 'ip-text' : f.type === 'keyword' ? 'string' : f.type === 'boolean' ? 'any-scalar' : 'number';
      body.search_after = decodeCursor(req.after, 2, [kind, 'string']);
    }
    const r = await this.search_<T>(index, body);
    const hits = r.hits.hits;
    const more = hits.length > limit || (limit === 10_000 && hits.length === limit);
    const page = hits.length > limit ? hits.slice(0, limit) : hits;
    return { hits: page.map((h) => h._source), next: more ? encodeCursor(page[page.length - 1].sort ?? []) : null };
  }

  async search(req: SearchRequest): Promise<SearchPage> {
    const { hits, next } = await this.page<EcsConnDoc>(this.alias, CONN_FIELDS, req, null, 'event.id');
    return { records: hits.map(fromEcs), next };
  }

  async searchApp(kind: AppKind, req: SearchRequest): Promise<{ records: StoreAppRecord[]; next: string | null }> {
    const sp = appSpec(kind);
    const { hits, next } = await this.page<{ eastwatch: { record: string } }>(this.appAlias(sp), sp.registry, req, kindFilter(sp, kind), 'event.id');
    return { records: hits.map(fromAppDoc), next };
  }

  async appsOf(uid: string): Promise<StoreAppRecord[]> {
    const out: StoreAppRecord[] = [];
    let after: EsJson[] | undefined;
    // Pages of 1000: a long-lived connection may carry many records (DNS over one UDP flow, keep-alive HTTP).
    for (;;) {
      const r = await this.withRetry('search', () =>
        this.req<SearchResponse<{ eastwatch: { record: string } }>>(
          'POST',
          `/${APP_SPECS.map((sp) => this.appAlias(sp)).join(',')}/_search`,
          {
            query: { term: { 'zeek.session_id': uid } },
            sort: [{ '@timestamp': { order: 'asc', format: 'strict_date_optional_time_nanos' } }, { 'event.id': { order: 'asc' } }],
            size: 1000,
            track_total_hits: false,
            _source: ['eastwatch.record'],
            ...(after ? { search_after: after } : {}),
          },
          { ignore_unavailable: true, allow_no_indices: true },
        ),
      );
      const hits = r.hits.hits;
      out.push(...hits.map((h) => fromAppDoc(h._source)));
      // Bounded like SQLite's: the first MAX_APPS_OF in time order.
      if (hits.length < 1000 || out.length >= MAX_APPS_OF) return out.slice(0, MAX_APPS_OF);
      after = hits[hits.length - 1].sort;
    }
  }

  async count(filter: SearchFilter): Promise<number> {
    try {
      const r = await this.withRetry('count', () =>
        this.req<{ count: number }>('POST', `/${this.alias}/_count`, { query: this.query(filter) }, { ignore_unavailable: true, allow_no_indices: true }),
      );
      return r.count;
    } catch (e) {
      throw refusal(e);
    }
  }

  private async aggs(filter: SearchFilter, aggs: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.searchAlias<unknown>({ query: this.query(filter), size: 0, track_total_hits: false, aggs });
    return r.aggregations ?? {};
  }

  async top(req: TopRequest): Promise<TopBucket[]> {
    const f = aggField(req.field);
    const size = topSize(req.size);
    type Bucket = { key: string | number; key_as_string?: string; doc_count: number; bytes: { value: number } };
    if (f.pooled) return this.topPooled(req, f.pooled, size);
    const a = await this.aggs(req, {
      top: {
        terms: { field: f.name, size, shard_size: Math.max(size * 10, 100), order: [{ _count: 'desc' }, { _key: 'asc' }] },
        aggs: { bytes: { sum: { field: 'network.bytes' } } },
      },
    });
    const buckets = (a.top as { buckets?: Bucket[] } | undefined)?.buckets ?? [];
    return buckets.map((b) => ({ key: b.key_as_string ?? String(b.key), connections: b.doc_count, bytes: b.bytes.value }));
  }

  /**
   * Top values pooled over both ends (`ns`): a connection counts once per value whichever end holds
   * it. Without scripts (a node may not run them): the leading values of each field are the
   * candidates, then one filter per candidate counts the connections holding it at either end.
   */
  private async topPooled(req: TopRequest, fields: readonly string[], size: number): Promise<TopBucket[]> {
    const per = Math.max(size * 2, 20);
    const c = await this.aggs(req, Object.fromEntries(fields.map((fld, i) => [`c${i}`, { terms: { field: fld, size: per } }])));
    const keys = new Map<string, string | number>();
    for (let i = 0; i < fields.length; i++)
      for (const b of (c[`c${i}`] as { buckets?: { key: string | number; key_as_string?: string }[] } | undefined)?.buckets ?? [])
        keys.set(b.key_as_string ?? String(b.key), b.key);
    if (keys.size === 0) return [];
    const list = [...keys];
    const a = await this.aggs(req, {
      k: {
        filters: {
          filters: Object.fromEntries(
            list.map(([, key], i) => [String(i), { bool: { should: fields.map((fld) => ({ term: { [fld]: key } })), minimum_should_match: 1 } }]),
          ),
        },
        aggs: { bytes: { sum: { field: 'network.bytes' } } },
      },
    });
    const got = (a.k as { buckets?: Record<string, { doc_count: number; bytes: { value: number } }> } | undefined)?.buckets ?? {};
    return list
      .map(([text], i) => ({ key: text, connections: got[String(i)]?.doc_count ?? 0, bytes: got[String(i)]?.bytes.value ?? 0 }))
      .filter((b) => b.connections > 0)
      .sort((x, y) => y.connections - x.connections || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))
      .slice(0, size);
  }

  async histogram(req: HistogramRequest): Promise<Histogram> {
    checkInterval(req.intervalSeconds);
    // The span first, so that the bucket count is known before the node builds any (one
    // date_histogram of 15 years by the second would be millions of buckets).
    const s = await this.aggs(req, { lo: { min: { field: '@timestamp' } }, hi: { max: { field: '@timestamp' } } });
    const lo = (s.lo as { value: number | null } | undefined)?.value ?? null;
    const hi = (s.hi as { value: number | null } | undefined)?.value ?? null;
    if (lo === null || hi === null) return { intervalSeconds: req.intervalSeconds, widened: false, buckets: [] };
    const iv = fitInterval(req.intervalSeconds, lo / 1000, hi / 1000, Math.min(req.maxBuckets ?? MAX_HISTOGRAM_BUCKETS, MAX_HISTOGRAM_BUCKETS));
    const a = await this.aggs(req, {
      h: { date_histogram: { field: '@timestamp', fixed_interval: `${iv}s`, min_doc_count: 0 }, aggs: { bytes: { sum: { field: 'network.bytes' } } } },
    });
    const buckets = (a.h as { buckets?: { key: number; doc_count: number; bytes: { value: number } }[] } | undefined)?.buckets ?? [];
    return {
      intervalSeconds: iv,
      widened: iv !== req.intervalSeconds,
      buckets: buckets.map((b) => ({ start: b.key, connections: b.doc_count, bytes: b.bytes.value })),
    };
  }

  async distinct(req: DistinctRequest): Promise<number> {
    const f = aggField(req.field);
    if (f.pooled) {
      // Values pooled over both ends: the union of each field's values, paged with composite (exact).
      const seen = new Set<string>();
      for (const fld of f.pooled) {
        let after: Record<string, unknown> | undefined;
        for (;;) {
          const a = await this.aggs(req, { v: { composite: { size: 1000, sources: [{ v: { terms: { field: fld } } }], ...(after ? { after } : {}) } } });
          const v = a.v as { after_key?: Record<string, unknown>; buckets: { key: { v: string | number } }[] } | undefined;
          if (!v || v.buckets.length === 0) break;
          for (const b of v.buckets) seen.add(String(b.key.v));
          after = v.after_key;
          if (!after) break;
        }
      }
      return seen.size;
    }
    // 40000 is the largest threshold: below it the count is exact in practice.
    const a = await this.aggs(req, { d: { cardinality: { field: f.name, precision_threshold: 40000 } } });
    return (a.d as { value: number } | undefined)?.value ?? 0;
  }

  async edges(req: EdgesRequest): Promise<EdgeList> {
    const limit = edgeLimit(req.limit);
    const cap = edgePairCap(req.maxPairs);
    const src = (name: string, field: string, missing = false): Record<string, unknown> => ({
      [name]: { terms: { field, ...(missing ? { missing_bucket: true } : {}) } },
    });
    const sources = [
      src('sip', 'source.ip'),
      src('dip', 'destination.ip'),
      src('dport', 'destination.port'),
      src('proto', 'network.transport'),
      src('sns', 'eastwatch.source.namespace', true),
      src('swl', 'eastwatch.source.workload', true),
      src('dns', 'eastwatch.destination.namespace', true),
      src('dwl', 'eastwatch.destination.workload', true),
      src('dsv', 'eastwatch.destination.service', true),
    ];
    type Key = {
      sip: string;
      dip: string;
      dport: number;
      proto: string;
      sns: string | null;
      swl: string | null;
      dns: string | null;
      dwl: string | null;
      dsv: string | null;
    };
    const out: Edge[] = [];
    let after: Key | undefined;
    let truncated = false;
    // Composite pages through the pairs, up to the cap (one more than it, to know whether there
    // were more); the ranking is done here, identically for both backends.
    while (out.length <= cap) {
      const a = await this.aggs(req, {
        e: {
          composite: { size: Math.min(5000, cap + 1 - out.length), sources, ...(after ? { after } : {}) },
          aggs: { bytes: { sum: { field: 'network.bytes' } } },
        },
      });
      const e = a.e as { after_key?: Key; buckets: { key: Key; doc_count: number; bytes: { value: number } }[] } | undefined;
      if (!e || e.buckets.length === 0) break;
      for (const b of e.buckets) {
        if (out.length === cap) {
          truncated = true;
          break;
        }
        out.push({
          source: { ip: b.key.sip, namespace: b.key.sns, workload: b.key.swl },
          destination: { ip: b.key.dip, port: b.key.dport, namespace: b.key.dns, workload: b.key.dwl, service: b.key.dsv },
          transport: b.key.proto,
          connections: b.doc_count,
          bytes: b.bytes.value,
        });
      }
      if (truncated) break;
      after = e.after_key;
      if (!after) break;
    }
    return { edges: await nameExternal(this, req, out.sort(compareEdges).slice(0, limit)), truncated, pairs: out.length };
  }

  async retain(maxAgeDays: number, now = new Date()): Promise<RetentionResult> {
    const cutoff = retentionCutoff(maxAgeDays, now);
    const cutoffDay = dayOf(cutoff.getTime() / 1000);
    await this.refresh();
    const aliases = this.dataAliases();
    const rows = await this.req<{ index: string; 'docs.count': string | null }[]>('GET', `/_cat/indices/${aliases.map((a) => `${a}-*`).join(',')}`, undefined, {
      format: 'json',
      h: 'index,docs.count',
    });
    const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(`^(?:${aliases.map(esc).join('|')})-(\\d{4}\\.\\d{2}\\.\\d{2})$`);
    // Whole daily indices go: no delete_by_query needed (the bare node has none), and it is cheap.
    const old = rows.filter((r) => {
      const m = re.exec(r.index);
      return m !== null && m[1] < cutoffDay;
    });
    if (old.length > 0) await this.req('DELETE', `/${old.map((r) => r.index).join(',')}`);
    return {
      cutoff,
      removedRecords: old.reduce((n, r) => n + Number(r['docs.count'] ?? 0), 0),
      removedIndices: old.map((r) => r.index).sort(),
    };
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    type D = { '@timestamp': string; reason: string; doc_id?: string; document: string };
    const r = await this.withRetry('search', () =>
      this.req<SearchResponse<D>>(
        'POST',
        `/${this.deadLetterIndex}/_search`,
        { size: limit, sort: [{ '@timestamp': 'desc' }] },
        { ignore_unavailable: true, allow_no_indices: true },
      ),
    );
    return r.hits.hits.map((h) => ({ uid: h._source.doc_id ?? null, reason: h._source.reason, at: h._source['@timestamp'], document: h._source.document }));
  }

  // ---------------------------------------------------------------- alerts and suppressions

  async writeAlerts(alerts: readonly Alert[], origin: AlertOrigin = {}): Promise<void> {
    alerts.forEach(validateAlert);
    if (alerts.length === 0) return;
    const from = origin.capture ?? OTHER_ORIGIN;
    const rules = await this.listSuppressions();
    const now = new Date();
    // The newest write of an id wins within one call too.
    let pending = [...new Map(alerts.map((a) => [a.id, a])).values()];
    // Read the stored copies, write with if_seq_no: an analyst's patch in between makes the write
    // conflict (409), and that alert is merged again from the fresh copy. No script needed.
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > this.o.maxRetries) throw new Error(`alerts ${pending.map((a) => a.id).join(', ')}: still conflicting after ${attempt} attempts`);
      type Got = { _id: string; found: boolean; _seq_no?: number; _primary_term?: number; _source?: AlertDoc };
      const got = await this.withRetry('alert read', () => this.req<{ docs: Got[] }>('POST', `/${this.alertIndex}/_mget`, { ids: pending.map((a) => a.id) }));
      const lines: string[] = [];
      pending.forEach((a, k) => {
        const g = got.docs[k];
        const stored = g.found && g._source ? alertFromDoc(g._source) : null;
        const action = stored
          ? { index: { _index: this.alertIndex, _id: a.id, if_seq_no: g._seq_no, if_primary_term: g._primary_term } }
          : { create: { _index: this.alertIndex, _id: a.id } };
        const origins = new Set<string>(g.found && g._source ? (g._source.origins ?? []) : []);
        origins.add(from);
        lines.push(JSON.stringify(action), JSON.stringify(alertDoc(mergeAlert(a, stored, rules, now), [...origins].sort())));
      });
      const resp = await this.withRetry(
        'alert bulk',
        () =>
          this.client.transport.request({
            method: 'POST',
            path: '/_bulk',
            bulkBody: `${lines.join('\n')}\n`,
            querystring: { refresh: 'true', filter_path: BULK_FILTER },
          }) as Promise<BulkResponse>,
      );
      const retry: Alert[] = [];
      resp.items.forEach((entry, k) => {
        const r = Object.values(entry)[0];
        if (!r.error) return;
        if (r.status === 409 || r.status === 429 || r.status >= 500) retry.push(pending[k]);
        else
          throw new Error(
            `alert ${pending[k].id} refused by ${this.alertIndex}: ${r.error.type}: ${r.error.reason ?? ''}${r.error.caused_by ? ` (${r.error.caused_by.reason ?? ''})` : ''}`,
          );
      });
      pending = retry;
    }
  }

  /** One bulk request of delete/update lines; the per-item outcome. */
  private async bulkLines(lines: readonly string[], refresh = false): Promise<BulkResponse['items']> {
    if (lines.length === 0) return [];
    const resp = await this.withRetry(
      'bulk',
      () =>
        this.client.transport.request({
          method: 'POST',
          path: '/_bulk',
          bulkBody: `${lines.join('\n')}\n`,
          querystring: { filter_path: BULK_FILTER, ...(refresh ? { refresh: 'true' } : {}) },
        }) as Promise<BulkResponse>,
    );
    return resp.items;
  }

  /**
   * Search, then bulk delete (the bare node has no delete_by_query). A connection is deleted at its
   * own external version: an unversioned delete would leave a tombstone one version above it, and
   * the re-analysis that writes the same uid again at the same version within gc_deletes (60 s)
   * would be refused as stale.
   */
  async deleteCapture(capture: string): Promise<CaptureDeletion> {
    await this.refresh();
    const out: CaptureDeletion = { records: 0, appRecords: 0 };
    const appIndices = APP_SPECS.map((sp) => this.appAlias(sp)).join(',');
    type Hit = { _id: string; _index: string; _version?: number; sort?: EsJson[] };
    const fail = (what: string, items: BulkResponse['items']): void => {
      // 404: already gone (a second delete); 409: a newer copy arrived since (a live re-analysis), left to it.
      const bad = items.map((e) => Object.values(e)[0]).find((r) => r.error && r.status !== 404 && r.status !== 409);
      if (bad?.error) throw new Error(`deleting the ${what} of capture ${capture.slice(0, 12)}: ${bad.error.type}: ${bad.error.reason ?? ''}`);
    };
    const count = (items: BulkResponse['items']): number => items.filter((e) => Object.values(e)[0].status === 200).length;
    let after: EsJson[] | undefined;
    for (;;) {
      const r = await this.withRetry('search', () =>
        this.req<{ hits: { hits: Hit[] } }>(
          'POST',
          `/${this.alias}/_search`,
          {
            query: { term: { 'eastwatch.capture': capture } },
            sort: [{ 'event.id': { order: 'asc' } }],
            size: 1000,
            version: true,
            _source: false,
            track_total_hits: false,
            ...(after ? { search_after: after } : {}),
          },
          { ignore_unavailable: true, allow_no_indices: true },
        ),
      );
      const hits = r.hits.hits;
      if (hits.length === 0) break;
      const uids = hits.map((h) => h._id);
      // The application records of these connections, in pages of their own (a connection may carry many).
      let appAfter: EsJson[] | undefined;
      for (;;) {
        const a = await this.withRetry('search', () =>
          this.req<{ hits: { hits: Hit[] } }>(
            'POST',
            `/${appIndices}/_search`,
            {
              query: { terms: { 'zeek.session_id': uids } },
              sort: [{ 'event.id': { order: 'asc' } }],
              size: 5000,
              _source: false,
              track_total_hits: false,
              ...(appAfter ? { search_after: appAfter } : {}),
            },
            { ignore_unavailable: true, allow_no_indices: true },
          ),
        );
        const ah = a.hits.hits;
        if (ah.length === 0) break;
        const items = await this.bulkLines(ah.map((h) => JSON.stringify({ delete: { _index: h._index, _id: h._id } })));
        fail('application records', items);
        out.appRecords += count(items);
        if (ah.length < 5000) break;
        appAfter = ah[ah.length - 1].sort;
      }
      const items = await this.bulkLines(
        hits.map((h) =>
          JSON.stringify({
            delete: { _index: h._index, _id: h._id, ...(h._version !== undefined ? { version: h._version, version_type: 'external_gte' } : {}) },
          }),
        ),
      );
      fail('connection records', items);
      out.records += count(items);
      if (hits.length < 1000) break;
      after = hits[hits.length - 1].sort;
    }
    await this.refresh();
    return out;
  }

  async releaseCaptureAlerts(capture: string, keep: readonly string[] = []): Promise<AlertRelease> {
    const kept = new Set(keep);
    const out: AlertRelease = { removed: 0, released: 0 };
    type Hit = { _id: string; _seq_no: number; _primary_term: number; _source: { origins?: string[] } };
    // Conditional on the copy read (if_seq_no): a detector's write in between is read again next round.
    for (let attempt = 0; ; attempt++) {
      if (attempt > this.o.maxRetries) throw new Error(`alerts of capture ${capture.slice(0, 12)}: still conflicting after ${attempt} attempts`);
      await this.req('POST', `/${this.alertIndex}/_refresh`, undefined, { ignore_unavailable: true });
      const r = await this.withRetry('alert search', () =>
        this.req<{ hits: { hits: Hit[] } }>('POST', `/${this.alertIndex}/_search`, {
          query: { bool: { filter: [{ term: { origins: capture } }], must_not: kept.size ? [{ ids: { values: [...kept] } }] : [] } },
          size: 10_000,
          seq_no_primary_term: true,
          _source: ['origins'],
          track_total_hits: false,
        }),
      );
      const hits = r.hits.hits;
      if (hits.length === 0) return out;
      const lines: string[] = [];
      const removes: boolean[] = [];
      for (const h of hits) {
        const rest = (h._source.origins ?? []).filter((o) => o !== capture);
        const cond = { _index: this.alertIndex, _id: h._id, if_seq_no: h._seq_no, if_primary_term: h._primary_term };
        if (rest.length === 0) lines.push(JSON.stringify({ delete: cond }));
        else lines.push(JSON.stringify({ update: cond }), JSON.stringify({ doc: { origins: rest } }));
        removes.push(rest.length === 0);
      }
      const items = await this.bulkLines(lines, true);
      let conflicts = 0;
      items.forEach((e, k) => {
        const x = Object.values(e)[0];
        if (!x.error) {
          if (removes[k]) out.removed++;
          else out.released++;
        } else if (x.status === 409 || x.status === 404) conflicts++;
        else throw new Error(`alert ${hits[k]._id}: ${x.error.type}: ${x.error.reason ?? ''}`);
      });
      if (conflicts === 0 && hits.length < 10_000) return out;
    }
  }

  async getAlert(id: string): Promise<Alert | null> {
    try {
      const r = await this.withRetry('alert read', () =>
        this.req<{ found: boolean; _source?: AlertDoc }>('GET', `/${this.alertIndex}/_doc/${encodeURIComponent(id)}`),
      );
      return r.found && r._source ? alertFromDoc(r._source) : null;
    } catch (e) {
      if (e instanceof es().errors.ResponseError && e.statusCode === 404) return null;
      throw e;
    }
  }

  async searchAlerts(req: AlertSearch): Promise<{ alerts: Alert[]; next: string | null }> {
    const limit = pageSize(req.limit);
    const b = alertBounds(req);
    const filter: EsJson[] = [];
    if (req.status !== undefined) filter.push({ term: { status: req.status } });
    if (req.detector !== undefined) filter.push({ term: { detector: req.detector } });
    if (b.minRank !== undefined) filter.push({ range: { severity_rank: { gte: b.minRank } } });
    if (b.from !== undefined || b.to !== undefined) {
      filter.push({ range: { last_seen: { ...(b.from !== undefined ? { gte: b.from } : {}), ...(b.to !== undefined ? { lt: b.to } : {}) } } });
    }
    if (req.namespaces !== undefined) {
      const { bare, pairs } = scopeEntries(req.namespaces);
      const ends = (ns: string[]): EsJson => ({
        bool: { should: [{ terms: { 'source.namespace': ns } }, { terms: { 'destination.namespace': ns } }], minimum_should_match: 1 },
      });
      const should: EsJson[] = bare.length > 0 ? [ends(bare)] : [];
      for (const p of pairs) should.push({ bool: { filter: [{ term: { cluster: p.cluster } }, ends([p.namespace])] } });
      // No entry at all matches nothing, as in SQLite.
      filter.push(should.length > 0 ? { bool: { should, minimum_should_match: 1 } } : { bool: { must_not: { match_all: {} } } });
    }
    if (req.clusters !== undefined) filter.push({ terms: { cluster: [...req.clusters] } });
    const mustNot: EsJson[] = req.includeSuppressed ? [] : [{ term: { suppressed: true } }];
    const body: Record<string, unknown> = {
      query: { bool: { filter, must_not: mustNot } },
      sort: [{ last_seen: { order: 'desc' } }, { id: { order: 'asc' } }],
      size: Math.min(limit + 1, 10_000),
      track_total_hits: false,
    };
    if (req.after !== undefined) body.search_after = decodeCursor(req.after, 2, ['number', 'string']);
    const r = await this.withRetry('alert search', () => this.req<SearchResponse<AlertDoc>>('POST', `/${this.alertIndex}/_search`, body));
    const hits = r.hits.hits;
    const page = hits.slice(0, limit);
    const more = hits.length > limit || (limit === 10_000 && hits.length === limit);
    return { alerts: page.map((h) => alertFromDoc(h._source)), next: more ? encodeCursor(page[page.length - 1].sort ?? []) : null };
  }

  async patchAlert(id: string, patch: AlertPatch): Promise<Alert | null> {
    const doc: Record<string, unknown> = {};
    if (patch.status !== undefined) doc.status = patch.status;
    if (patch.note !== undefined) doc.note = patch.note;
    if (Object.keys(doc).length === 0) return this.getAlert(id);
    try {
      // A partial update of two scalars: atomic on the server, no read-modify-write here.
      const r = await this.withRetry('alert update', () =>
        this.req<{ get?: { _source: AlertDoc } }>(
          'POST',
          `/${this.alertIndex}/_update/${encodeURIComponent(id)}`,
          { doc, _source: true },
          { refresh: 'true', retry_on_conflict: 3 },
        ),
      );
      return r.get ? alertFromDoc(r.get._source) : this.getAlert(id);
    } catch (e) {
      if (e instanceof es().errors.ResponseError && e.statusCode === 404) return null;
      throw e;
    }
  }

  async patchAlerts(ids: readonly string[], patch: AlertPatch): Promise<{ updated: string[]; missing: string[] }> {
    const doc: Record<string, unknown> = {};
    if (patch.status !== undefined) doc.status = patch.status;
    if (patch.note !== undefined) doc.note = patch.note;
    const unique = [...new Set(ids)];
    const out = { updated: [] as string[], missing: [] as string[] };
    if (unique.length === 0) return out;
    // Partial updates of two scalars in one bulk request, one refresh: no script, no read-modify-write here.
    const lines = unique.flatMap((id) => [JSON.stringify({ update: { _index: this.alertIndex, _id: id, retry_on_conflict: 3 } }), JSON.stringify({ doc })]);
    const items = await this.bulkLines(lines, true);
    items.forEach((e, k) => {
      const r = Object.values(e)[0];
      if (!r.error) out.updated.push(unique[k]);
      else if (r.status === 404) out.missing.push(unique[k]);
      else throw new Error(`alert ${unique[k]}: ${r.error.type}: ${r.error.reason ?? ''}`);
    });
    return out;
  }

  async addSuppression(sup: Suppression): Promise<void> {
    validateSuppression(sup);
    await this.withRetry('suppression write', () => this.req('PUT', `/${this.suppressionIndex}/_doc/${encodeURIComponent(sup.id)}`, sup, { refresh: 'true' }));
  }

  async listSuppressions(): Promise<Suppression[]> {
    const r = await this.withRetry('suppression read', () =>
      this.req<SearchResponse<Suppression>>(
        'POST',
        `/${this.suppressionIndex}/_search`,
        { size: 10_000, sort: [{ created_at: 'asc' }, { id: 'asc' }], track_total_hits: false },
        { ignore_unavailable: true, allow_no_indices: true },
      ),
    );
    return r.hits.hits.map((h) => h._source);
  }

  async deleteSuppression(id: string): Promise<boolean> {
    try {
      const r = await this.withRetry('suppression delete', () =>
        this.req<{ result: string }>('DELETE', `/${this.suppressionIndex}/_doc/${encodeURIComponent(id)}`, undefined, { refresh: 'true' }),
      );
      return r.result === 'deleted';
    } catch (e) {
      if (e instanceof es().errors.ResponseError && e.statusCode === 404) return false;
      throw e;
    }
  }

  /** Remove everything this store created (tests, uninstall). */
  async destroy(): Promise<void> {
    const names = [...this.dataAliases().map((a) => `${a}-*`), this.deadLetterIndex, this.alertIndex, this.suppressionIndex];
    await this.req('DELETE', `/${names.join(',')}`, undefined, { ignore_unavailable: true, allow_no_indices: true });
    const p = this.prefix;
    const templates = [
      `/_index_template/${p}-conn`,
      `/_index_template/${p}-deadletter`,
      `/_index_template/${this.alertIndex}`,
      `/_index_template/${this.suppressionIndex}`,
      ...APP_SPECS.flatMap((sp) => [`/_index_template/${p}-${sp.index}`, `/_component_template/${p}-${sp.index}-mappings`]),
      `/_component_template/${p}-conn-mappings`,
      `/_component_template/${p}-conn-settings`,
    ];
    for (const t of templates) {
      try {
        await this.req('DELETE', t);
      } catch (e) {
        if (!(e instanceof es().errors.ResponseError && e.statusCode === 404)) throw e;
      }
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
