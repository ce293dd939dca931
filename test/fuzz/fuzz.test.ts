/**
 * Fuzz: a few thousand mutated captures through reader, decoders and tracker. No exception may
 * escape (corruption surfaces as CaptureError or malformed-packet counts), no case may hang,
 * and the worker runs under a heap limit so unbounded memory growth fails the test.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CORPUS_DIR, corpusAvailable } from '../util/corpus';

const CASES = Number(process.env.EASTWATCH_FUZZ_CASES ?? 3000);
const SEED = Number(process.env.EASTWATCH_FUZZ_SEED ?? 20261128);
/** Longest any single case may take before it counts as a hang. */
const HANG_MS = 10_000;

function seedFiles(): string[] {
  const repoSamples = path.resolve(__dirname, '..', '..', '..', 'samples');
  const files: string[] = [];
  const add = (dir: string, depth: number): void => {
    if (!fs.existsSync(dir) || depth > 3) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) add(p, depth + 1);
      else if (/\.(pcap|pcapng)$/.test(e.name) && fs.statSync(p).size <= 256 * 1024) files.push(p);
    }
  };
  add(repoSamples, 0);
  if (corpusAvailable()) add(CORPUS_DIR, 0);
  return files.sort();
}

describe('fuzz: mutated captures', function () {
  this.timeout(600_000);

  it(`survives ${CASES} mutated captures (seed ${SEED}) without exceptions, hangs or unbounded memory`, async () => {
    const seeds = seedFiles();
    assert.ok(seeds.length >= 3, `need seed captures in samples/ or the corpus, found ${seeds.length}`);
    const worker = new Worker(path.join(__dirname, 'fuzz-worker.js'), {
      workerData: { seeds, cases: CASES, seed: SEED },
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    const result = await new Promise<{ cases: number; records: number; captureErrors: number; malformed: number }>((resolve, reject) => {
      let last = 'before the first case';
      let timer = setTimeout(() => onHang(), HANG_MS);
      const onHang = (): void => {
        void worker.terminate();
        reject(new Error(`hang: no progress for ${HANG_MS} ms after ${last}`));
      };
      worker.on('message', (m: { type: string; i?: number; input?: string; kind?: string; stats?: never; message?: string }) => {
        clearTimeout(timer);
        timer = setTimeout(() => onHang(), HANG_MS);
        if (m.type === 'case') last = `case ${m.i} (${m.kind} of ${m.input})`;
        else if (m.type === 'done') {
          clearTimeout(timer);
          resolve(m.stats as never);
        } else if (m.type === 'error') {
          clearTimeout(timer);
          reject(new Error(m.message));
        }
      });
      worker.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`worker died at ${last}: ${e.message}`));
      });
    });
    await worker.terminate();
    assert.equal(result.cases, CASES);
    // Mutations must actually exercise the error paths, or the test proves nothing.
    assert.ok(result.captureErrors > CASES / 10, `only ${result.captureErrors} capture errors in ${CASES} cases`);
    assert.ok(result.malformed > 0, 'no malformed packets were reported');
    console.log(`      ${result.cases} cases: ${result.captureErrors} capture errors, ${result.malformed} malformed packets, ${result.records} records`);
  });
});
