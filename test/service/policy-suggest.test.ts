/**
 * POST /api/v1/policies/suggest on the embedded service: samples/k8s uploaded after its inventory,
 * with the detectors on, so the policy-violation alerts the current policies raise are open; the
 * suggestion leaves those connections out (or keeps them with use_alerts=false), verifies, and its
 * YAML, sent back to the what-if with replace=true, denies exactly the left-out edges.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { readEvents, sample, startHarness, type Harness } from './harness';

describe('service API: policy suggest (embedded)', function () {
  this.timeout(120_000);
  let h: Harness;
  const window = { from: '2026-01-15T10:00:00Z', to: '2026-01-15T11:00:00Z' };

  before(async () => {
    // The sample's scanner is 203.0.113.9 (TEST-NET-3), which Zeek's default counts as local: the
    // cluster's own networks are named, as a deployment does, so it stays the external peer it plays.
    h = await startHarness({ mode: 'local', detectors: true, env: { EASTWATCH_LOCAL_NETS: '10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16' } });
  });
  after(async () => {
    await h?.stop();
  });

  it('answers 409 before any inventory', async () => {
    const r = await h.call('POST', '/api/v1/policies/suggest', { body: window });
    assert.equal(r.status, 409, r.text);
  });

  it('suggests from stored traffic, leaves out connections under open alerts, and verifies', async () => {
    const inv = await h.call('POST', '/api/v1/inventory?source=test', {
      key: h.keys.ingest,
      body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(inv.status, 201, inv.text);
    const up = await h.call('POST', '/api/v1/captures?name=cluster.pcap', { body: fs.readFileSync(sample('k8s/cluster.pcap')) });
    assert.equal(up.status, 202, up.text);
    const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
    assert.equal(events[events.length - 1].data.state, 'completed');
    await h.running.runtime.store.refresh();

    const alerts = await h.call('GET', '/api/v1/alerts?status=open&detector=policy-violation');
    assert.equal(alerts.status, 200, alerts.text);
    assert.ok(alerts.json.alerts.length > 0, 'the current policies deny some of the sample: policy-violation alerts expected');

    const all = await h.call('POST', '/api/v1/policies/suggest', { body: { ...window, use_alerts: false } });
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.connections, 13);
    assert.equal(all.json.verification.ok, true, JSON.stringify(all.json.verification));
    assert.deepEqual(all.json.excluded, []);
    assert.equal(all.json.truncated, false);

    const r = await h.call('POST', '/api/v1/policies/suggest', { body: { ...window, external: 'omit' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.verification.ok, true, JSON.stringify(r.json.verification));
    const left = (r.json.excluded as { src: string; dst: string; port: number; reason: string }[]).map(
      (e) => `${e.src} -> ${e.dst}:${e.port} ${e.reason.split(' ')[0]}`,
    );
    assert.deepEqual(left.sort(), [
      'external:203.0.113.9 -> shop/frontend:8080 open',
      'shop/frontend -> data/postgres:5432 open',
      'shop/frontend -> external:93.184.216.34:443 external',
      'shop/frontend -> shop/api:9090 open',
    ]);
    assert.match(r.json.yaml, /^# NetworkPolicies suggested by eastwatch/);

    // The YAML through the existing what-if, alone in force: exactly the left-out edges are denied.
    const wi = await h.call('POST', '/api/v1/policies/what-if', { body: { ...window, policies: r.json.yaml, replace: true } });
    assert.equal(wi.status, 200, wi.text);
    assert.deepEqual(
      (wi.json.edges as { src: string; dst: string; port: number }[]).map((e) => `${e.src} -> ${e.dst}:${e.port}`).sort(),
      left.map((l) => l.slice(0, l.lastIndexOf(' '))).sort(),
    );

    const small = await h.call('POST', '/api/v1/policies/suggest', { body: { ...window, max_connections: 5 } });
    assert.equal(small.status, 200, small.text);
    assert.equal(small.json.connections, 5);
    assert.equal(small.json.truncated, true);
    const bad = await h.call('POST', '/api/v1/policies/suggest', { body: { ...window, external: 'drop' } });
    assert.equal(bad.status, 400, bad.text);
  });
});
