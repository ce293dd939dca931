/** Retention removes old records from the store and old uploads from disk, and keeps the rest. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyRetention } from '../../src/service/retention';
import { readEvents, sample, startHarness, type Harness } from './harness';

describe('service retention (embedded default)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ mode: 'local', env: { EASTWATCH_RETENTION_DAYS: '30' } });
  });
  after(async () => {
    await h?.stop();
  });

  it('removes records and captures older than the retention, keeps newer ones', async () => {
    for (const f of ['scan.pcap', 'failed-connections.pcap']) {
      const up = await h.call('POST', `/api/v1/captures?name=${f}`, { body: fs.readFileSync(sample(f)) });
      const ev = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
      assert.equal(ev[ev.length - 1].data.state, 'completed');
    }
    const rt = h.running.runtime;
    const before = await rt.store.count({});
    assert.ok(before > 0);
    const files = fs.readdirSync(rt.uploadsDir).sort();
    assert.equal(files.length, 2);
    // One capture was uploaded 40 days before "now", the other 5 days before.
    const now = new Date(Date.UTC(2026, 1, 10));
    fs.utimesSync(path.join(rt.uploadsDir, files[0]), new Date(now.getTime() - 40 * 86400_000), new Date(now.getTime() - 40 * 86400_000));
    fs.utimesSync(path.join(rt.uploadsDir, files[1]), new Date(now.getTime() - 5 * 86400_000), new Date(now.getTime() - 5 * 86400_000));
    // The samples' records are from 2026-01-15: 26 days before "now" they stay, 40 days before they go.
    const keep = await applyRetention(rt, now);
    assert.deepEqual(keep?.removedCaptures, [files[0]]);
    assert.equal(keep?.removedRecords, 0);
    assert.equal(await rt.store.count({}), before);
    const later = await applyRetention(rt, new Date(Date.UTC(2026, 2, 20)));
    // The store's count of what it removed includes the connections' application records.
    assert.ok((later?.removedRecords ?? 0) >= before, String(later?.removedRecords));
    assert.equal(await rt.store.count({}), 0);
    assert.deepEqual(fs.readdirSync(rt.uploadsDir), []);
  });
});
