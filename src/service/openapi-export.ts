/**
 * Writes the API's OpenAPI document to a file, as a running service serves it: `serve` on the
 * embedded default (SQLite, in-process queue) in a temporary data directory on a free loopback
 * port, GET /api/v1/openapi.json with a key made for the purpose, then everything removed.
 * For `npm run lint:openapi`, which lints the file with Redocly (redocly.yaml).
 *
 *   node dist/src/service/openapi-export.js OUT.json
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';
import { KeyStore } from './keys';
import { serve } from './serve';
import { NO_ALERTS } from './jobs/alerts';

/** The document the service serves, parsed. */
export async function fetchOpenApi(): Promise<Record<string, unknown>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-openapi-'));
  try {
    const cfg = loadConfig({ env: { EASTWATCH_DATA_DIR: dataDir, EASTWATCH_PORT: '0', EASTWATCH_HOST: '127.0.0.1' } });
    const key = KeyStore.inDataDir(dataDir).create('openapi-export', 'analyst').token;
    const running = await serve(cfg, { withWorkers: false, alerts: () => NO_ALERTS, log: () => undefined, api: { ui: false } });
    try {
      const res = await fetch(`${running.url}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${key}` } });
      if (res.status !== 200) throw new Error(`GET /api/v1/openapi.json: ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, unknown>;
    } finally {
      await running.stop();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const out = process.argv[2];
  if (out === undefined) {
    process.stderr.write('usage: node dist/src/service/openapi-export.js OUT.json\n');
    process.exit(2);
  }
  fetchOpenApi().then(
    (doc) => {
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      fs.writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
      process.stderr.write(`wrote ${out}\n`);
    },
    (e: unknown) => {
      process.stderr.write(`openapi-export: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
