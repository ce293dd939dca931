/**
 * A capture that completed with errors says so: a truncated file is `finishedWithErrors` with a
 * problem in words a user can act on (where it was cut, what was kept, what to do), and no
 * server path anywhere in the answer. On the embedded default.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { readEvents, sample, startHarness, type Harness } from './harness';

describe('capture job outcome (embedded)', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ mode: 'local' });
  });
  after(async () => {
    await h?.stop();
  });

  async function upload(name: string, bytes: Buffer): Promise<{ id: string; final: Record<string, unknown> }> {
    const up = await h.call('POST', `/api/v1/captures?name=${name}`, { body: bytes });
    assert.equal(up.status, 202, up.text);
    const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
    return { id: up.json.capture.id, final: events[events.length - 1].data };
  }

  it('says a truncated capture completed with errors, where it was cut and what to do, without server paths', async () => {
    // pod-traffic.pcap cut at byte 30000: inside packet record 158 (checked with our reader below).
    const { id, final } = await upload('cut.pcap', fs.readFileSync(sample('pod-traffic.pcap')).subarray(0, 30_000));
    assert.equal(final.state, 'completed');
    const r = await h.call('GET', `/api/v1/captures/${id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.finishedWithErrors, true);
    assert.equal(r.json.result.packets, 157);
    assert.match(r.json.problem, /^The capture file is cut short: it ends in the middle of packet 158 \(byte 29,960\)\./);
    assert.match(r.json.problem, /The 157 packets before the cut were analysed and are searchable/);
    assert.match(r.json.problem, /upload the complete file again/);
    const text = JSON.stringify(r.json);
    assert.ok(!text.includes(h.dataDir) && !/"\/|\s\/[a-z]/.test(text), `no server path in ${text}`);
    // The same in the list and in the final event.
    assert.equal(final.finishedWithErrors, true);
    const list = await h.call('GET', '/api/v1/captures');
    const row = (list.json.captures as { id: string; finishedWithErrors: boolean; problem: string }[]).find((c) => c.id === id);
    assert.equal(row?.finishedWithErrors, true);
    assert.equal(row?.problem, r.json.problem);
  });

  it('says nothing is wrong with a capture read to its end', async () => {
    const { id } = await upload('whole.pcap', fs.readFileSync(sample('scan.pcap')));
    const r = await h.call('GET', `/api/v1/captures/${id}`);
    assert.equal(r.json.state, 'completed');
    assert.equal(r.json.finishedWithErrors, false);
    assert.equal(r.json.problem, null);
    assert.equal(r.json.result.error, null);
  });
});
