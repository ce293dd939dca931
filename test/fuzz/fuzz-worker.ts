/**
 * Runs mutated captures through the whole analysis in a worker thread, so the test's watchdog
 * can tell a hang from slowness and a memory limit can catch unbounded growth.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { analyzeFile } from '../../src/analyze/pipeline';
import { CaptureError } from '../../parsers/capture/types';
import { MUTATIONS, Rng, mutate } from './mutate';

interface Job {
  seeds: string[];
  cases: number;
  seed: number;
}

async function run(job: Job): Promise<void> {
  const rng = new Rng(job.seed);
  const inputs = job.seeds.map((f) => ({ name: path.basename(f), bytes: fs.readFileSync(f) }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-fuzz-'));
  const stats = { cases: 0, records: 0, captureErrors: 0, malformed: 0 };
  try {
    for (let i = 0; i < job.cases; i++) {
      const input = inputs[rng.int(inputs.length)];
      const kind = MUTATIONS[rng.int(MUTATIONS.length)];
      const bytes = mutate(input.bytes, kind, rng);
      const file = path.join(dir, `case-${i}.pcap`);
      fs.writeFileSync(file, bytes);
      parentPort?.postMessage({ type: 'case', i, input: input.name, kind });
      try {
        const res = await analyzeFile(file, () => stats.records++);
        if (res.error) stats.captureErrors++;
        stats.malformed += res.malformed;
      } catch (e) {
        if (e instanceof CaptureError) stats.captureErrors++;
        else throw new Error(`case ${i} (${kind} of ${input.name}): ${(e as Error).stack}`);
      }
      fs.unlinkSync(file);
      stats.cases++;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  parentPort?.postMessage({ type: 'done', stats, heapUsed: process.memoryUsage().heapUsed });
}

run(workerData as Job).catch((e: Error) => parentPort?.postMessage({ type: 'error', message: e.message }));
