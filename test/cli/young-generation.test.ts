/**
 * The cap on the young generation (src/cli/young-generation.ts), in fresh processes: V8's flags
 * and heap sizes are per process. Each child keeps a window of live objects that outlasts a
 * scavenge, the pattern that makes V8 grow its semi-spaces, and calls the check as `analyze`
 * does between chunks.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const MODULE = path.resolve(__dirname, '..', '..', 'src', 'cli', 'young-generation.js');

/** The child's new space in bytes at the end, with the cap (null: no check at all). */
function newSpaceAfter(capBytes: number | null): number {
  const script = `
    const v8 = require('node:v8');
    const { youngGenerationCap } = require(${JSON.stringify(MODULE)});
    const check = ${capBytes === null ? '() => {}' : `youngGenerationCap(${capBytes})`};
    let live = [];
    for (let i = 0; i < 4e6; i++) {
      live.push({ i, s: 'x' + i });
      if (live.length > 150000) live = [];
      if (i % 2000 === 0) check();
    }
    const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(ns.space_size));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout);
}

describe('young generation cap', () => {
  it('lets the new space grow to the cap and stops it there', function () {
    this.timeout(60_000);
    const free = newSpaceAfter(null);
    const capped = newSpaceAfter(8 << 20);
    // Without the check V8 grows past 8 MB on this allocation; with it, to the cap and no further.
    assert.ok(free > 8 << 20, `uncapped new space ${free}`);
    assert.equal(capped, 8 << 20);
  });
});
