/**
 * One seed of the evaluation in a worker thread (gate.ts `runSeedsInWorkers`): the full capture
 * and the 1-hour cut from 3 h to 4 h with a baseline from the clean first half hour, scored; the
 * data is removed afterwards and only the scores go back.
 */
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { SeedScores } from './gate';
import { CLEAN_PERIOD, runEval } from './run';
import type { Family } from './traffic';

export async function runSeed(dir: string, family: Family, seed: number, packets: boolean): Promise<SeedScores> {
  const t0 = Date.now();
  try {
    const full = await runEval(dir, seed, family, undefined, { packets });
    const cut = await runEval(dir, seed, family, [3 * 3600, 4 * 3600], { clean: CLEAN_PERIOD, full: full.data, packets });
    return {
      family,
      seed,
      full: { capture: full.capture, hubble: full.hubble, ...(full.hubblePackets === undefined ? {} : { hubblePackets: full.hubblePackets }) },
      cut: { capture: cut.capture, hubble: cut.hubble, ...(cut.hubblePackets === undefined ? {} : { hubblePackets: cut.hubblePackets }) },
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (parentPort !== null) {
  const port = parentPort;
  const w = workerData as { dir: string; family: Family; seed: number; packets: boolean };
  runSeed(w.dir, w.family, w.seed, w.packets).then(
    (r) => port.postMessage(r),
    (e: unknown) => {
      throw e;
    },
  );
}
