/**
 * Opening a store: Elasticsearch when a URL is configured, else the embedded SQLite file.
 */
import * as path from 'node:path';
import { ElasticsearchStore, type ElasticsearchStoreOptions } from './elasticsearch';
import { SqliteStore } from './sqlite';
import type { Store } from './types';

export * from './types';
export { SqliteStore, type SqliteStoreOptions } from './sqlite';
export { ElasticsearchStore, type ElasticsearchStoreOptions } from './elasticsearch';
export { toEcs, fromEcs, CONN_MAPPING } from './ecs';
export { APP_SPECS, appSpec, appRecordId, type AppSpec, type AppField } from './app-records';
export { SEVERITY_RANK, mergeAlert } from './alerts-common';

export interface OpenStoreOptions {
  /** Elasticsearch URL; when absent (and $ES_URL unset), the SQLite store under dataDir. */
  esUrl?: string;
  /** Default ./eastwatch-data */
  dataDir?: string;
  es?: Omit<ElasticsearchStoreOptions, 'node'>;
  /** The longest one search or aggregation may run, both backends (Elasticsearch: searchTimeoutMs unless es gives one). */
  queryTimeoutMs?: number;
}

export async function openStore(o: OpenStoreOptions = {}): Promise<Store> {
  const url = o.esUrl ?? process.env.ES_URL;
  const store: Store = url
    ? new ElasticsearchStore({ searchTimeoutMs: o.queryTimeoutMs, ...o.es, node: url })
    : new SqliteStore({ dataDir: path.resolve(o.dataDir ?? 'eastwatch-data'), queryTimeoutMs: o.queryTimeoutMs });
  await store.init();
  return store;
}
