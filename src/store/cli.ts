/**
 * The store on the command line: `analyze --store [--data-dir DIR]` and `search QUERY`.
 * Kept here so src/cli only wires options: the embedded SQLite store under --data-dir, or
 * Elasticsearch when $ES_URL is set.
 */
import * as path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { QueryError } from '../query/ast';
import { createWriter, OUTPUT_FORMATS, type OutputFormat } from '../output/formats';
import { TextSink } from '../output/sink';
import { StoreRequestError, StoreUnavailableError, type StoreAppRecord, type SortOrder, type Store, type StoreRecord } from './types';

export const DEFAULT_DATA_DIR = './eastwatch-data';

export interface StoreCliOptions {
  store?: boolean;
  dataDir?: string;
}

/** Where records go when --store is given. */
export interface StoreOutput {
  where: string;
  add(r: StoreRecord): void;
  /** An application record (dns, http, ...): through the same writer, so one backpressure for both. */
  addApp(r: StoreAppRecord): void;
  congestion(): Promise<void> | undefined;
  /** Flush and close; resolves with a one-line report. */
  close(): Promise<string>;
}

function describeStore(s: Store, dataDir: string): string {
  return s.backend === 'sqlite' ? `SQLite store ${path.resolve(dataDir, 'eastwatch.sqlite')}` : `Elasticsearch ${process.env.ES_URL ?? ''}`;
}

/**
 * The store of `dataDir` (or Elasticsearch): its modules (SQLite's native binding, the query
 * compilers) load only for a command that opens one, not for every `analyze`, whose options this
 * file defines.
 */
async function openStoreIn(dataDir: string): Promise<Store> {
  return (await import('./index')).openStore({ dataDir });
}

export async function openStoreOutput(o: StoreCliOptions): Promise<StoreOutput> {
  const dataDir = o.dataDir ?? DEFAULT_DATA_DIR;
  const store = await openStoreIn(dataDir);
  // analyze --store: one large load, searched after it ends.
  const w = store.writer({ bulkLoad: true });
  const where = describeStore(store, dataDir);
  let conns = 0;
  let apps = 0;
  return {
    where,
    add: (r) => {
      conns++;
      w.add(r);
    },
    addApp: (r) => {
      apps++;
      w.addApp(r);
    },
    congestion: () => w.congestion(),
    close: async () => {
      try {
        const res = await w.close();
        const extra = `${res.stale ? `, ${res.stale} older than stored` : ''}${res.deadLettered ? `, ${res.deadLettered} refused (see the dead letters)` : ''}`;
        return `stored ${res.written} of ${conns} connection and ${apps} application records in ${where}${extra}`;
      } finally {
        await store.close();
      }
    },
  };
}

/** A message for errors of the store and the query language; null for anything else (a bug: rethrow). */
export function storeErrorMessage(e: unknown): string | null {
  if (e instanceof QueryError) return `invalid query: ${e.pointer()}`;
  if (e instanceof StoreUnavailableError || e instanceof StoreRequestError) return e.message;
  return null;
}

/** --store and --data-dir, for `analyze`. */
export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option('--store', 'also write the records to the store: SQLite under --data-dir, or Elasticsearch when ES_URL is set')
    .option('--data-dir <dir>', `data directory of the embedded store (default ${DEFAULT_DATA_DIR})`);
}

function positive(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 10_000) throw new InvalidArgumentError(`must be 1..10000, got "${v}"`);
  return Number(v);
}

export interface SearchCliOptions {
  from?: string;
  to?: string;
  limit: number;
  sort: string;
  format: OutputFormat;
  dataDir?: string;
}

export async function runSearch(query: string, o: SearchCliOptions): Promise<number> {
  const [field, order = 'desc'] = o.sort.split(':');
  if (order !== 'asc' && order !== 'desc') {
    process.stderr.write(`eastwatch: --sort takes FIELD or FIELD:asc|desc, got "${o.sort}"\n`);
    return 2;
  }
  let store: Store | null = null;
  try {
    store = await openStoreIn(o.dataDir ?? DEFAULT_DATA_DIR);
    const page = await store.search({ query, from: o.from, to: o.to, limit: o.limit, sort: { field, order: order as SortOrder } });
    const sink = new TextSink(process.stdout);
    const writer = createWriter(o.format, sink);
    for (const r of page.records) writer.write(r);
    await writer.close();
    if (page.next !== null && process.stderr.isTTY) process.stderr.write(`(more than ${o.limit}: raise --limit or narrow the query)\n`);
    return 0;
  } catch (e) {
    const msg = storeErrorMessage(e);
    if (msg === null) throw e;
    process.stderr.write(`eastwatch: ${msg}\n`);
    return e instanceof StoreUnavailableError ? 1 : 2;
  } finally {
    await store?.close();
  }
}

/** `eastwatch search QUERY`. */
export function addSearchCommand(program: Command): void {
  program
    .command('search')
    .description("Search stored connections with the query language, e.g. 'src: 10.244.0.0/16 and dport: (5432 or 6379) and not ns: kube-system'")
    .argument('[query]', 'query (empty: everything)', '')
    .option('--from <time>', '@timestamp >= this (ISO 8601, or now-15m, now-2h, now-7d)')
    .option('--to <time>', '@timestamp < this')
    .option('--limit <n>', 'records to show (default 100)', positive, 100)
    .option('--sort <field[:asc|desc]>', 'sort field (default @timestamp:desc)', '@timestamp:desc')
    .addOption(new Option('-f, --format <format>', 'output format').choices(OUTPUT_FORMATS as string[]).default('table'))
    .option('--data-dir <dir>', `data directory of the embedded store (default ${DEFAULT_DATA_DIR}); ES_URL selects Elasticsearch`)
    .action(async (query: string, o: SearchCliOptions) => {
      process.exitCode = await runSearch(query, o);
    });
}
