/**
 * Hubble's report counts through the service: with Cilium's default monitor aggregation the
 * stored records say their packet counts are report counts (`counts: reports`, read back and
 * queryable on both backends); an operator whose Cilium runs `monitorAggregation: none` says so
 * per request (?monitorAggregation=none) or once in the configuration (hubble.monitorAggregation,
 * $EASTWATCH_HUBBLE_MONITOR_AGGREGATION), and the records are then plain packet counts.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import type { ConnRecord } from '../../parsers/record/conn';
import { ConfigError, loadConfig } from '../../src/service/config';
import { collect, sampleStream } from '../flows/helpers';
import { requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

const HUBBLE = 'flows/hubble-observe.json';

/** The API's records of a query, by their stored uid. */
async function records(h: Harness, q: string): Promise<ConnRecord[]> {
  await h.running.runtime.store.refresh();
  const r = await h.call('GET', `/api/v1/connections?limit=1000&q=${encodeURIComponent(q)}`);
  assert.equal(r.status, 200, r.text);
  return r.json.records as ConnRecord[];
}

for (const mode of ['local', 'redis+es'] as Mode[]) {
  describe(`service: Hubble report counts (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(300_000);
    let h: Harness;
    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode });
    });
    after(async () => {
      await h?.stop();
    });

    it('default (medium): stored with counts: reports; ?monitorAggregation=none stores the same flows as packet counts', async () => {
      const body = fs.readFileSync(sample(HUBBLE), 'utf8');
      const parsed = (await collect(sampleStream('hubble-observe.json'))).records;
      const pkts = parsed.map((r) => r.orig_pkts + r.resp_pkts).sort((a, b) => a - b);
      assert.ok(parsed.length > 0 && parsed.every((r) => r.counts === 'reports'));

      const a = await h.call('POST', '/api/v1/flows?format=hubble&wait=true', { key: h.keys.ingest, body });
      assert.equal(a.status, 202, a.text.slice(0, 2000));
      assert.equal(a.json.records, parsed.length);
      const reported = await records(h, 'counts: reports');
      assert.equal(reported.length, parsed.length);
      assert.ok(reported.every((r) => r.counts === 'reports' && r.source === 'hubble'));
      assert.deepEqual(
        reported.map((r) => r.orig_pkts + r.resp_pkts).sort((x, y) => x - y),
        pkts,
      );
      assert.equal((await records(h, 'source: hubble and not eastwatch.counts: *')).length, 0);
      const one = await h.call('GET', `/api/v1/connections/${encodeURIComponent(reported[0].uid)}`);
      assert.equal(one.json.record.counts, 'reports');

      // The same events from a per-packet Cilium: the same uids, replaced, now without the mark.
      const b = await h.call('POST', '/api/v1/flows?format=hubble&monitorAggregation=none&wait=true', { key: h.keys.ingest, body });
      assert.equal(b.status, 202, b.text.slice(0, 2000));
      assert.equal(b.json.records, parsed.length);
      assert.equal((await records(h, 'counts: reports')).length, 0);
      const packets = await records(h, 'source: hubble and not counts: *');
      assert.equal(packets.length, parsed.length);
      assert.deepEqual(packets.map((r) => r.uid).sort(), reported.map((r) => r.uid).sort());
      assert.ok(packets.every((r) => r.counts === undefined));
      assert.deepEqual(
        packets.map((r) => r.orig_pkts + r.resp_pkts).sort((x, y) => x - y),
        pkts,
      );
    });

    it('refuses monitorAggregation with another format, and a level Cilium does not have', async () => {
      const vpc = await h.call('POST', '/api/v1/flows?format=vpc&monitorAggregation=none', { key: h.keys.ingest, body: 'x\n' });
      assert.equal(vpc.status, 400, vpc.text);
      assert.match(vpc.text, /monitorAggregation describes Cilium's Hubble events: it does not go with format=aws-vpc/);
      const bad = await h.call('POST', '/api/v1/flows?format=hubble&monitorAggregation=off', { key: h.keys.ingest, body: 'x\n' });
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.text, /monitorAggregation/);
    });
  });
}

describe('service: hubble.monitorAggregation in the configuration', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ mode: 'local', env: { EASTWATCH_HUBBLE_MONITOR_AGGREGATION: 'none' } });
  });
  after(async () => {
    await h?.stop();
  });

  it('none from the environment: Hubble posts store packet counts; a request may still say medium', async () => {
    assert.equal(h.cfg.hubble.monitorAggregation, 'none');
    const body = fs.readFileSync(sample(HUBBLE), 'utf8');
    const a = await h.call('POST', '/api/v1/flows?format=hubble&wait=true&cluster=per-packet', { key: h.keys.ingest, body });
    assert.equal(a.status, 202, a.text.slice(0, 2000));
    const n = a.json.records as number;
    assert.ok(n > 0);
    assert.equal((await records(h, 'cluster: per-packet and not counts: *')).length, n);
    // Sniffed (no format named): the configuration applies all the same.
    const b = await h.call('POST', '/api/v1/flows?wait=true&cluster=sniffed', { key: h.keys.ingest, body });
    assert.equal(b.status, 202, b.text.slice(0, 2000));
    assert.equal(b.json.format, 'hubble');
    assert.equal((await records(h, 'cluster: sniffed and not counts: *')).length, n);
    const c = await h.call('POST', '/api/v1/flows?format=hubble&monitorAggregation=medium&wait=true&cluster=aggregated', { key: h.keys.ingest, body });
    assert.equal(c.status, 202, c.text.slice(0, 2000));
    assert.equal((await records(h, 'cluster: aggregated and counts: reports')).length, n);
  });

  it('a level Cilium does not have is refused at start, naming the setting and the levels', () => {
    assert.throws(
      () => loadConfig({ env: { EASTWATCH_DATA_DIR: h.dataDir, EASTWATCH_HUBBLE_MONITOR_AGGREGATION: 'off' } }),
      (e: unknown) => e instanceof ConfigError && /\$EASTWATCH_HUBBLE_MONITOR_AGGREGATION: .*'none' \| 'low' \| 'medium' \| 'maximum'/.test(e.message),
    );
  });
});
