/**
 * The backends every store suite runs against: SQLite in a temporary directory, and a real
 * Elasticsearch node ($ES_URL; the root hook starts one when unset) under a prefix unique to the
 * run, so that concurrent and earlier runs do not collide.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElasticsearchStore } from '../../src/store/elasticsearch';
import { SqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/types';

export const RUN = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const cleanups: (() => Promise<void>)[] = [];

export interface Backend {
  name: string;
  /** A fresh, empty, initialised store; `ctx` lets a backend skip (no node reachable outside CI). */
  make(ctx: Mocha.Context, tag: string): Promise<Store>;
}

async function esUrlOrSkip(ctx: Mocha.Context): Promise<string> {
  const url = process.env.ES_URL;
  if (url !== undefined) return url;
  const why = process.env.EASTWATCH_ES_UNAVAILABLE ?? 'ES_URL is not set';
  if (process.env.CI === 'true') throw new Error(`CI: the Elasticsearch store suite needs ES_URL (${why})`);
  console.warn(`      skipped: no Elasticsearch for the store suite: ${why}`);
  ctx.skip();
}

export const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    async make(_ctx, tag) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `eastwatch-store-${tag}-`));
      const s = new SqliteStore({ dataDir: dir, batchSize: 100, commonMatches: 20 });
      await s.init();
      cleanups.push(async () => {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      return s;
    },
  },
  {
    name: 'elasticsearch',
    async make(ctx, tag) {
      const node = await esUrlOrSkip(ctx);
      // Unique names per run and per store: concurrent runs and earlier runs do not collide.
      const s = new ElasticsearchStore({ node, prefix: `ewtest-${RUN}-${tag}`, batchDocs: 150, concurrency: 2 });
      await s.init();
      cleanups.push(async () => {
        await s.destroy();
        await s.close();
      });
      return s;
    },
  },
];

/** Inside each describe: root afterAll hooks (which stop the node) run after the suites' own hooks. */
export async function cleanUp(): Promise<void> {
  for (const c of cleanups.splice(0)) await c();
}
