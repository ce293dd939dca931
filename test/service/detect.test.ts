/**
 * Detectors in the service: a capture job raises its alerts into the store; flow batches feed
 * the continuous engine, whose state carries across batches (and processes) through the state slot.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { readEvents, sample, startHarness, type Harness } from './harness';

async function recordsOf(file: string): Promise<ConnRecord[]> {
  const out: ConnRecord[] = [];
  await analyzeFile(file, (r) => out.push(r));
  return out;
}

describe('service detectors (embedded default)', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ mode: 'local', detectors: true });
  });
  after(async () => {
    await h?.stop();
  });

  it('a capture job stores the alerts of its records, with evidence uids that are stored connections', async () => {
    const up = await h.call('POST', '/api/v1/captures?name=scan.pcap', { body: fs.readFileSync(sample('scan.pcap')) });
    assert.equal(up.status, 202);
    const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
    const done = events[events.length - 1].data;
    assert.equal(done.state, 'completed');
    assert.equal(done.result.alerts, 2);
    const alerts = await h.call('GET', '/api/v1/alerts?detector=scan');
    assert.equal(alerts.status, 200, alerts.text);
    const titles = alerts.json.alerts.map((a: { title: string }) => a.title).sort();
    assert.deepEqual(titles, ['Horizontal sweep of tcp/22', 'Vertical port scan of 10.244.2.20']);
    const vertical = alerts.json.alerts.find((a: { title: string }) => a.title.startsWith('Vertical'));
    assert.equal(vertical.source.ip, '10.244.1.66');
    assert.ok(vertical.evidence.uids.length > 10);
    const conn = await h.call('GET', `/api/v1/connections/${vertical.evidence.uids[0]}`);
    assert.equal(conn.status, 200);
    assert.equal(conn.json.record.orig_h, '10.244.1.66');
    // The same capture again (another name, same bytes is a duplicate): re-running detection keeps ids stable.
    const again = await h.call('GET', `/api/v1/alerts/${vertical.id}`);
    assert.equal(again.json.id, vertical.id);
  });

  it("hands Hubble's L7 DNS answers to the continuous detectors with the flows", async () => {
    const body = fs.readFileSync(sample('flows/hubble-observe.json'), 'utf8');
    const r = await h.call('POST', '/api/v1/flows?wait=true&source=dns-tap', { key: h.keys.ingest, body });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.format, 'hubble');
    const jobs = await Promise.all((r.json.jobs as string[]).map((id) => h.running.runtime.queues.flows.get(id)));
    const dns = jobs.flatMap((j) => j?.data.dns ?? []);
    assert.equal(dns.length, 1);
    assert.equal(dns[0].rec.kind, 'dns');
    assert.equal((dns[0].rec as { query: string }).query, 'api.default.svc.cluster.local');
    assert.equal(dns[0].ctx.k8s?.orig.namespace, 'default');
  });

  it('continuous detection over flow batches keeps its state between batches', async () => {
    // The vertical scan's connections, two per request: one batch alone is far below TRW's
    // threshold (likelihood ratio 16 of 99), so the alert can only come from state carried over.
    // The control run forgets the state between requests and must raise nothing.
    const scan = (await recordsOf(sample('scan.pcap'))).filter((r) => r.orig_h === '10.244.1.66' && r.resp_h === '10.244.2.20').sort((a, b) => a.ts - b.ts);
    assert.ok(scan.length >= 40, `${scan.length} connections`);
    const vertical = async (forget: boolean): Promise<{ title: string; evidence: { uids: string[] } }[]> => {
      const k = await startHarness({ mode: 'local', detectors: true });
      try {
        for (let i = 0; i < scan.length; i += 2) {
          if (forget) fs.rmSync(`${k.dataDir}/detectors-flows.json`, { force: true });
          const body = scan
            .slice(i, i + 2)
            .map((x) => JSON.stringify(x))
            .join('\n');
          const r = await k.call('POST', '/api/v1/flows?format=ndjson&wait=true', { key: k.keys.ingest, body });
          assert.equal(r.status, 202, r.text);
          assert.equal(r.json.rejected, 0, JSON.stringify(r.json.errors));
        }
        const state = JSON.parse(fs.readFileSync(`${k.dataDir}/detectors-flows.json`, 'utf8')) as { version: number };
        assert.equal(state.version, 1);
        return (await k.call('GET', '/api/v1/alerts?detector=scan')).json.alerts.filter((a: { title: string }) => a.title.startsWith('Vertical'));
      } finally {
        await k.stop();
      }
    };
    const kept = await vertical(false);
    assert.equal(kept.length, 1);
    assert.ok(kept[0].evidence.uids.length > 4);
    assert.deepEqual(await vertical(true), []);
  });
});
