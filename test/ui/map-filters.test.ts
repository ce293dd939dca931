/**
 * The service map's filters in headless Chromium against a real service (SQLite): protocol
 * (network.transport), policy verdict and "alerts only", each set from its control, kept in the
 * URL, and each drawing exactly the edges and nodes it should of a small known cluster: four
 * connections between two namespaces, tcp/udp/icmp, one denied by policy, one with an open alert
 * and one with a closed alert (which does not count).
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { ConnRecord } from '../../parsers/record/conn';
import type { K8sPolicyVerdict } from '../../parsers/record/k8s';
import { analyzeFile } from '../../src/analyze/pipeline';
import { sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

const verdict = (v: 'allowed' | 'denied'): K8sPolicyVerdict => ({
  verdict: v,
  egress: 'not-isolated',
  ingress: v,
  denied_by: v === 'denied' ? ['b/deny-all'] : [],
  allowed_by: v === 'allowed' ? ['b/allow'] : [],
});

/** client -> server, transport, port, verdict. */
const CONNS: [string, string, 'tcp' | 'udp' | 'icmp', number, 'allowed' | 'denied'][] = [
  ['client-1', 'server-1', 'tcp', 8080, 'allowed'],
  ['client-1', 'server-2', 'udp', 53, 'allowed'],
  ['client-2', 'server-1', 'tcp', 8080, 'denied'],
  ['client-2', 'server-3', 'icmp', 0, 'allowed'],
];
const IP_PROTO = { tcp: 6, udp: 17, icmp: 1 };

describe('web UI: service map filters', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  let from = '';
  let to = '';
  const map = (): ReturnType<Page['locator']> => page.locator('[data-testid=map]');

  /** The edges drawn, as "from -> to transport/ports" from the table under the map, once the map shows `n` edges. */
  const drawn = async (n: number): Promise<{ edges: string[]; nodes: string[] }> => {
    await page.locator(`[data-testid=map][aria-label*=" nodes, ${n} edges;"]`).waitFor({ state: 'attached', timeout: 20_000 });
    if (n === 0) {
      await page.getByText('No traffic matches these filters in this range.').waitFor();
      return { edges: [], nodes: [] };
    }
    // The canvas drew this map: it says how many edges it drew once a frame is out.
    await page.locator(`[data-testid=map][data-drawn-edges="${n}"][data-node-points]`).waitFor({ timeout: 20_000 });
    const rows = await page
      .locator('table.edges tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent ?? '')));
    const nodes = Object.keys(JSON.parse((await map().getAttribute('data-node-points')) ?? '{}') as Record<string, unknown>).sort();
    return { edges: rows.map(([a, b, p]) => `${a} -> ${b} ${p}`).sort(), nodes };
  };

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: false });
    let model: ConnRecord | null = null;
    await analyzeFile(sample('pod-traffic.pcap'), (r) => {
      if (!model && r.proto === 'tcp') model = r;
    });
    assert.ok(model);
    const m: ConnRecord = model;
    const records: ConnRecord[] = CONNS.map(([c, s, proto, port, v], i) => ({
      ...m,
      uid: `Cfilt${i}`,
      community_id: `1:filt${i}=`,
      proto,
      ip_proto: IP_PROTO[proto],
      orig_h: `10.1.0.${i + 1}`,
      resp_h: `10.2.0.${Number(s.slice(-1))}`,
      resp_p: port,
      k8s: {
        orig: { kind: 'pod', namespace: 'a', workload: c, workload_kind: 'Deployment', pod: `${c}-0` },
        resp: { kind: 'pod', namespace: 'b', workload: s, workload_kind: 'Deployment', pod: `${s}-0` },
        direction: 'internal',
        scope: 'cross-namespace',
        policy: verdict(v),
      },
    }));
    const store = h.running.runtime.store;
    const w = await store.write(records);
    assert.deepEqual(w, { written: CONNS.length, stale: 0, deadLettered: 0 });
    const base = {
      detector: 'test',
      title: 'test alert',
      severity: 'high' as const,
      score: 0.9,
      mitre: [],
      first_seen: Math.floor(m.ts),
      last_seen: Math.floor(m.ts) + 1,
      count: 1,
      evidence: { uids: ['Cfilt1'], figures: {} },
    };
    await store.writeAlerts([
      {
        ...base,
        id: 'a-open',
        status: 'open',
        source: { namespace: 'a', workload: 'client-1' },
        destination: { namespace: 'b', workload: 'server-2', port: 53 },
      },
      { ...base, id: 'a-closed', status: 'closed', source: { namespace: 'a', workload: 'client-2' }, destination: { namespace: 'b', workload: 'server-3' } },
    ]);
    await store.refresh();
    from = new Date(Math.floor(m.ts) * 1000 - 60_000).toISOString();
    to = new Date((Math.floor(m.ts) + 3600) * 1000).toISOString();
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${h.url}/map?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('draws what each filter selects, and keeps the filter in the URL', async () => {
    const all = await drawn(4);
    assert.deepEqual(all.edges, [
      'a/client-1 -> b/server-1 tcp/8080',
      'a/client-1 -> b/server-2 udp/53',
      'a/client-2 -> b/server-1 tcp/8080',
      'a/client-2 -> b/server-3 icmp/0',
    ]);
    assert.deepEqual(all.nodes, ['w:a/client-1', 'w:a/client-2', 'w:b/server-1', 'w:b/server-2', 'w:b/server-3']);
    await page.screenshot({ path: artifact('map-filters-all.png') });

    // Protocol: udp alone, then udp and icmp.
    const protos = page.getByTestId('proto-filter');
    await protos.getByLabel('udp').check();
    const udp = await drawn(1);
    assert.deepEqual(udp.edges, ['a/client-1 -> b/server-2 udp/53']);
    assert.deepEqual(udp.nodes, ['w:a/client-1', 'w:b/server-2']);
    assert.equal(new URL(page.url()).searchParams.get('proto'), 'udp');
    await protos.getByLabel('icmp').check();
    const udpIcmp = await drawn(2);
    assert.deepEqual(udpIcmp.edges, ['a/client-1 -> b/server-2 udp/53', 'a/client-2 -> b/server-3 icmp/0']);
    assert.equal(new URL(page.url()).searchParams.get('proto'), 'icmp,udp');
    await page.screenshot({ path: artifact('map-filters-proto.png') });
    await protos.getByLabel('udp').uncheck();
    await protos.getByLabel('icmp').uncheck();
    await drawn(4);
    assert.equal(new URL(page.url()).searchParams.get('proto'), null);

    // Verdict: denied is the one denied edge, drawn as denied; allowed the other three.
    await page.getByLabel('Verdict').selectOption('denied');
    const denied = await drawn(1);
    assert.deepEqual(denied.edges, ['a/client-2 -> b/server-1 tcp/8080']);
    assert.deepEqual(denied.nodes, ['w:a/client-2', 'w:b/server-1']);
    assert.equal(await page.locator('table.edges tbody tr.row-denied').count(), 1);
    assert.equal(new URL(page.url()).searchParams.get('verdict'), 'denied');
    await page.screenshot({ path: artifact('map-filters-denied.png') });
    await page.getByLabel('Verdict').selectOption('allowed');
    const allowed = await drawn(3);
    assert.deepEqual(allowed.edges, ['a/client-1 -> b/server-1 tcp/8080', 'a/client-1 -> b/server-2 udp/53', 'a/client-2 -> b/server-3 icmp/0']);
    await page.getByLabel('Verdict').selectOption('');
    await drawn(4);

    // Alerts only: the edge with the open alert; the closed alert's edge is not drawn.
    await page.getByLabel('Alerts only').check();
    const alerted = await drawn(1);
    assert.deepEqual(alerted.edges, ['a/client-1 -> b/server-2 udp/53']);
    assert.deepEqual(alerted.nodes, ['w:a/client-1', 'w:b/server-2']);
    assert.equal(new URL(page.url()).searchParams.get('alerts'), '1');
    await page.screenshot({ path: artifact('map-filters-alerts.png') });

    // Combined with a protocol that has no alerted edge: nothing, said in words.
    await page.getByTestId('proto-filter').getByLabel('tcp').check();
    await drawn(0);
    // The URL alone restores the filters (a reload, a shared link).
    await page.reload();
    await drawn(0);
    assert.equal(await page.getByTestId('proto-filter').getByLabel('tcp').isChecked(), true);
    assert.equal(await page.getByLabel('Alerts only').isChecked(), true);
  });
});
