/**
 * The young generation's size during `analyze`. V8 grows its semi-spaces from 1 MB to 16 MB
 * while much of what a scavenge finds is still live. An analysis of many short connections
 * allocates per-connection and per-request state that dies within a few MB of allocation: with
 * the 2 MB semi-spaces that stopping growth at startup left, it survived two scavenges and was
 * promoted, and the old generation collected it (about 10% of the time with the analyzers on).
 * With 16 MB semi-spaces every analysis holds 32 MB more; the 10M-packet benchmark capture then
 * peaked above 300 MB. The middle is 8 MB: V8 grows as it would, and once its new space holds
 * 16 MB (two 8 MB semi-spaces) growth stops.
 *
 * --max-semi-space-size would say this, but V8 reads it only on the command line; the growth
 * factor is read at each growth, so setting it to 1 at the cap stops there. Checked once per
 * chunk read: a growth needs a scavenge that finds most of the new space live, and a chunk
 * (4 MiB of capture) allocates less than the 8 MB a second scavenge at that size needs, so it
 * rarely gets past the cap before the check.
 */
import * as v8 from 'node:v8';

/** Bytes of new space (both semi-spaces) at which growth stops. */
export const YOUNG_GENERATION_CAP_BYTES = 16 << 20;

/** Returns the check to call as the analysis goes: it stops the young generation's growth at `capBytes`. */
export function youngGenerationCap(capBytes = YOUNG_GENERATION_CAP_BYTES): () => void {
  let capped = false;
  const stop = (): void => {
    capped = true;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
  };
  if (newSpaceBytes() >= capBytes) stop();
  return () => {
    if (!capped && newSpaceBytes() >= capBytes) stop();
  };
}

function newSpaceBytes(): number {
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_size;
  return 0;
}
