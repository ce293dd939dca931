/**
 * Mocha root hook: an Elasticsearch for the store suite.
 * - ES_URL set (CI's .ci/run sets it): use that node, start nothing.
 * - CI=true without ES_URL: start nothing; the Elasticsearch suites then fail (absence is an error there).
 * - Otherwise start the repository's single-node server (scripts/es.sh, port $ES_TEST_PORT or 9251),
 *   export ES_URL for the suites, and stop it after the run. If it cannot start (no Java/Maven), say
 *   why; the Elasticsearch suites then skip with that message. EASTWATCH_ES=off skips starting it.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = [3, 4]
  .map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..')))
  .find((d) => fs.existsSync(path.join(d, 'scripts', 'es.sh'))) as string;
const PORT = process.env.ES_TEST_PORT ?? '9251';
let startedHere = false;

// Decided when mocha loads this file, before the spec files: modules that read ES_URL at load time
// (test/elasticsearch/es-client.ts) then see the node this hook is about to start.
const WILL_START = process.env.ES_URL === undefined && process.env.CI !== 'true' && process.env.EASTWATCH_ES !== 'off';
if (WILL_START) process.env.ES_URL = `http://127.0.0.1:${PORT}`;
else if (process.env.EASTWATCH_ES === 'off' && process.env.ES_URL === undefined) process.env.EASTWATCH_ES_UNAVAILABLE = 'EASTWATCH_ES=off';

function es(cmd: 'start' | 'stop', timeoutMs: number): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', [path.join(ROOT, 'scripts', 'es.sh'), cmd, '--port', PORT], { cwd: ROOT, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ ok: err === null, out: `${stdout}${stderr}`.trim() });
    });
  });
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    if (!WILL_START) return;
    // First start downloads the jars (~65 MB) and builds the launcher.
    this.timeout(300_000);
    const r = await es('start', 280_000);
    if (!r.ok) {
      delete process.env.ES_URL;
      process.env.EASTWATCH_ES_UNAVAILABLE = `bash scripts/es.sh start --port ${PORT} failed: ${r.out.split('\n').slice(-5).join(' | ')}`;
      return;
    }
    startedHere = !/already running/.test(r.out);
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    if (!startedHere) return;
    this.timeout(60_000);
    await es('stop', 55_000);
    startedHere = false;
  },
};
