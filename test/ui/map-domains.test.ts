/**
 * External destinations grouped by registered domain in headless Chromium against a real service
 * (SQLite): two external addresses the client reached as www.example.com and cdn.example.com (HTTP
 * Host) are drawn with those names inside one example.com compound; collapsed with its toggle,
 * example.com is one node whose merged edge stands for both.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { sample, startHarness, type Harness } from '../service/harness';
import { sampleApps } from '../store/fixtures';
import { artifact, launch, requireBrowser, type Browser } from './browser';

const HOSTS: [string, string][] = [
  ['93.184.216.34', 'www.example.com'],
  ['93.184.216.35', 'cdn.example.com'],
];

describe('web UI: service map, external destinations by domain', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  let from = '';
  let to = '';

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: false });
    let model: ConnRecord | null = null;
    await analyzeFile(sample('pod-traffic.pcap'), (r) => {
      if (!model && r.proto === 'tcp') model = r;
    });
    assert.ok(model);
    const m: ConnRecord = model;
    const conns: ConnRecord[] = HOSTS.map(([ip], i) => ({
      ...m,
      uid: `Cdom${i}`,
      community_id: `1:dom${i}=`,
      orig_h: '10.1.0.1',
      resp_h: ip,
      resp_p: 80,
      k8s: {
        orig: { kind: 'pod', namespace: 'shop', workload: 'frontend', workload_kind: 'Deployment', pod: 'frontend-0' },
        resp: { kind: 'external' },
        direction: 'outbound',
        scope: 'pod-to-external',
      },
    }));
    const store = h.running.runtime.store;
    assert.equal((await store.write(conns)).written, 2);
    const http = (await sampleApps()).find((a) => a.kind === 'http');
    assert.ok(http);
    const apps = HOSTS.map(([ip, host], i) => ({
      ...http,
      uid: `Cdom${i}`,
      ts: m.ts,
      conn: { ...http.conn, uid: `Cdom${i}`, ts: m.ts, orig_h: '10.1.0.1', resp_h: ip, resp_p: 80 },
      host,
    })) as AppRecordOut[];
    assert.equal((await store.writeApp(apps)).written, 2);
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

  it('draws named external addresses inside their domain, and collapses the domain into one node', async () => {
    const map = page.locator('[data-testid=map][data-drawn-edges="2"][data-node-labels]');
    await map.waitFor({ timeout: 20_000 });
    const labels = JSON.parse((await map.getAttribute('data-node-labels')) ?? '{}') as Record<string, { text: string }>;
    assert.equal(labels['a:93.184.216.34']?.text, 'www.example.com');
    assert.equal(labels['a:93.184.216.35']?.text, 'cdn.example.com');
    const to = await page.locator('table.edges tbody tr td:nth-child(2)').allTextContents();
    assert.deepEqual(to.sort(), ['cdn.example.com', 'www.example.com']);
    await page.screenshot({ path: artifact('map-domains-expanded.png') });

    await page.getByTestId('ns-group').getByRole('button', { name: 'example.com' }).click();
    const collapsed = page.locator('[data-testid=map][data-drawn-edges="1"][data-group-points]');
    await collapsed.waitFor({ timeout: 20_000 });
    const groups = JSON.parse((await collapsed.getAttribute('data-group-points')) ?? '{}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(groups), ['example.com']);
    const row = page.locator('table.edges tbody tr');
    assert.equal(await row.count(), 1);
    assert.equal(await row.locator('td').nth(1).textContent(), '*.example.com (2)');
    assert.equal(await row.getAttribute('data-connections'), '2');
    assert.equal(
      await row.getAttribute('data-query'),
      'eastwatch.source.namespace:shop and eastwatch.source.workload:frontend and destination.ip:(93.184.216.34 or 93.184.216.35) and destination.port:80 and network.transport:tcp',
    );
    await page.screenshot({ path: artifact('map-domains-collapsed.png') });
  });
});
