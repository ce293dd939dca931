/**
 * The inventory page in headless Chromium against a real service (SQLite, local queue): a bad
 * cluster name is refused before anything is sent; the k8s sample's inventory uploaded through the
 * page for a named cluster is listed with the cluster, times and object counts the API holds, and
 * the re-resolution of that cluster's stored capture records is followed to the API's figures.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import { fmtCount, fmtTime } from '../../src/ui/lib/format';
import { readEvents, sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

describe('web UI: inventory page', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const CLUSTER = 'shop-prod';

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: false });
    // Records stored before the inventory: its re-resolution has something to name.
    const up = await h.call('POST', `/api/v1/captures?name=cluster.pcap&cluster=${CLUSTER}`, {
      key: h.keys.ingest,
      body: fs.readFileSync(sample('k8s/cluster.pcap')),
    });
    assert.equal(up.status, 202, up.text);
    const ev = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${h.url}/inventory`);
    await page.getByLabel('API key').fill(h.keys.ingest);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Kubernetes inventory' }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('refuses a cluster name that is not a DNS label, sending nothing', async () => {
    await page.getByText('No inventory yet').waitFor();
    await page.getByLabel('Cluster').fill('Shop_Prod');
    await page.getByLabel('Inventory file').setInputFiles(sample('k8s/inventory.json'));
    await page.getByRole('button', { name: 'Upload inventory' }).click();
    await page.getByRole('alert').filter({ hasText: 'Cluster "Shop_Prod": a DNS label is needed' }).waitFor();
    const list = await h.call('GET', '/api/v1/inventory');
    assert.deepEqual(list.json.snapshots, []);
    const recs = await h.call('GET', '/api/v1/connections?limit=200');
    assert.ok(recs.json.records.length >= 13, recs.text);
    assert.equal(recs.json.records.filter((r: { k8s?: { orig?: { pod?: string } } }) => r.k8s?.orig?.pod).length, 0);
  });

  it("uploads the sample inventory for a cluster and lists it with the API's values and re-resolution", async () => {
    await page.getByLabel('Cluster').fill(CLUSTER);
    await page.getByRole('button', { name: 'Upload inventory' }).click();
    const status = page.getByTestId('inventory-uploaded-resolution');
    await page.locator('[data-testid="inventory-uploaded-resolution"][data-state="completed"]').waitFor({ timeout: 60_000 });

    const list = await h.call('GET', '/api/v1/inventory');
    assert.equal(list.json.snapshots.length, 1);
    const s = list.json.snapshots[0];
    assert.equal(s.cluster, CLUSTER);
    assert.equal(s.source, 'inventory.json');
    assert.equal(s.objects.Pod, 8);
    assert.equal(s.objects.Service, 3);
    assert.equal(s.objects.EndpointSlice, 3);
    assert.equal(s.objects.Node, 2);

    const res = await h.call('GET', `/api/v1/inventory/${s.id}/resolution`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.state, 'completed');
    assert.equal(res.json.cluster, CLUSTER);
    // The capture's 13 connections were stored unnamed: the snapshot names some of them.
    assert.ok(res.json.result.scanned >= 13, JSON.stringify(res.json.result));
    assert.ok(res.json.result.updated > 0, JSON.stringify(res.json.result));
    const expected = `done: ${fmtCount(res.json.result.updated)} of ${fmtCount(res.json.result.scanned)} changed`;
    assert.equal(await status.textContent(), expected);

    // The list shows it after the job ended (refreshed by the page, not reloaded).
    const row = page.locator(`[data-testid="inventory-row"][data-id="${s.id}"]`);
    await row.locator('[data-testid="snap-resolution"][data-state="completed"]').waitFor();
    assert.equal(await row.getByTestId('snap-cluster').textContent(), CLUSTER);
    assert.equal(await row.getByTestId('snap-source').textContent(), 'inventory.json');
    assert.equal(await row.getByTestId('snap-observed').textContent(), 'unknown');
    assert.equal(await row.getByTestId('snap-received').textContent(), fmtTime(s.receivedAt));
    const objects = Object.entries(s.objects as Record<string, number>)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    assert.equal(await row.getByTestId('snap-objects').textContent(), objects);
    assert.equal(await row.getByTestId('snap-resolution').textContent(), expected);

    const all = await h.call('GET', '/api/v1/inventory/resolutions');
    assert.equal(all.json.counts.completed, 1);
    assert.match((await page.getByTestId('resolution-counts').textContent()) ?? '', /completed 1\b/);

    // The records really were renamed: the cluster's connections now carry pod names.
    const recs = await h.call('GET', '/api/v1/connections?limit=200');
    assert.equal(recs.status, 200, recs.text);
    const pods = (recs.json.records as { k8s?: { orig?: { pod?: string }; resp?: { pod?: string } } }[]).filter((r) => r.k8s?.orig?.pod || r.k8s?.resp?.pod);
    assert.ok(pods.length > 0, 'no record names a pod after the re-resolution');

    await page.screenshot({ path: artifact('inventory.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
