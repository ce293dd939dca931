/**
 * Re-analysis and deletion of a capture from the Jobs view, in headless Chromium against a real
 * service (SQLite, in-process queue, detectors on): each asks for confirmation in place, Cancel
 * does nothing, and what the buttons do is checked through the API (records named after the
 * inventory, the same uids; after deletion no record, alert or job of the capture).
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import { readEvents, sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

describe('web UI: capture re-analysis and deletion, bulk alert triage', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const cluster = sample('k8s/cluster.pcap');
  const CL = crypto.createHash('sha256').update(fs.readFileSync(cluster)).digest('hex');

  const count = async (q: string): Promise<number> => {
    const r = await h.call('GET', `/api/v1/aggregations/count?q=${encodeURIComponent(q)}`);
    assert.equal(r.status, 200, r.text);
    return r.json.count as number;
  };
  const row = () => page.locator(`tr[data-capture="${CL}"]`);

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: true });
    const up = await h.call('POST', '/api/v1/captures?name=cluster.pcap', { body: fs.readFileSync(cluster) });
    assert.equal(up.status, 202, up.text);
    const ev = await readEvents(`${h.url}/api/v1/captures/${CL}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${h.url}/jobs`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
    await row().waitFor();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('re-analyses a capture after the inventory arrived, once confirmed', async () => {
    const uids = (await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${CL}`)}&limit=100&sort=uid&order=asc`)).json.records.map(
      (r: { uid: string }) => r.uid,
    );
    assert.equal(uids.length, 13);
    assert.equal(await count('ns:shop'), 0);
    const inv = await h.call('POST', '/api/v1/inventory', {
      key: h.keys.ingest,
      body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(inv.status, 201, inv.text);

    await row().getByRole('button', { name: 'Re-analyse' }).click();
    const confirm = row().getByRole('group', { name: 'Confirm re-analysis' });
    assert.match((await confirm.textContent()) ?? '', /Analyse cluster\.pcap again with the current inventory/);
    await page.screenshot({ path: artifact('capture-reanalyse-confirm.png'), fullPage: true });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await confirm.count(), 0);
    assert.equal((await h.call('GET', `/api/v1/captures/${CL}`)).json.reanalysis, null, 'Cancel asked for nothing');

    await row().getByRole('button', { name: 'Re-analyse' }).click();
    await row().getByRole('button', { name: 'Yes, re-analyse' }).click();
    await page.getByTestId('capture-notice').filter({ hasText: 'Re-analysing cluster.pcap' }).waitFor();
    // The view polls while the job runs and shows it re-analysed once it is done.
    await row().getByTestId('capture-reanalysed').waitFor();
    await row().getByRole('button', { name: 'Re-analyse' }).waitFor();
    const c = (await h.call('GET', `/api/v1/captures/${CL}`)).json;
    assert.equal(c.state, 'completed');
    assert.equal(c.reanalysis.count, 1);
    assert.equal(c.result.replaced.records, 13);
    assert.ok((await count('ns:shop')) > 0, 'named after the re-analysis');
    const again = (await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${CL}`)}&limit=100&sort=uid&order=asc`)).json.records.map(
      (r: { uid: string }) => r.uid,
    );
    assert.deepEqual(again, uids);
  });

  it('triages the alerts in bulk: tick them, acknowledge them at once', async () => {
    const open = (await h.call('GET', '/api/v1/alerts?status=open&limit=1000')).json.alerts as { id: string; title: string }[];
    assert.ok(open.length >= 2, `alerts after the re-analysis: ${open.length}`);
    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.locator(`tr[data-alert="${open[0].id}"]`).waitFor();
    // One ticked, then every listed one from the header.
    await page
      .getByRole('checkbox', { name: `Select alert: ${open[0].title}` })
      .first()
      .check();
    assert.equal(await page.getByTestId('bulk-count').textContent(), '1 selected');
    await page.getByRole('checkbox', { name: 'Select every alert listed' }).check();
    assert.equal(await page.getByTestId('bulk-count').textContent(), `${open.length} selected`);
    await page.screenshot({ path: artifact('alerts-bulk-selected.png'), fullPage: true });
    await page.getByRole('button', { name: 'Acknowledge selected' }).click();
    await page
      .getByTestId('bulk-result')
      .filter({ hasText: `${open.length} alerts set to acknowledged.` })
      .waitFor();
    // The list shows open alerts: the acknowledged ones leave it.
    await page.locator('tr[data-alert]').first().waitFor({ state: 'detached' });
    const after = (await h.call('GET', '/api/v1/alerts?status=acknowledged&limit=1000')).json.alerts as { id: string }[];
    assert.deepEqual(after.map((a) => a.id).sort(), open.map((a) => a.id).sort());
    assert.equal((await h.call('GET', '/api/v1/alerts?status=open&limit=1000')).json.alerts.length, 0);
    await page.getByRole('link', { name: 'Jobs & sources', exact: true }).click();
    await row().waitFor();
  });

  it('deletes a capture with everything analysed from it, once confirmed', async () => {
    await row().getByRole('button', { name: 'Delete' }).click();
    const confirm = row().getByRole('group', { name: 'Confirm deletion' });
    assert.match((await confirm.textContent()) ?? '', /This cannot be undone/);
    await page.screenshot({ path: artifact('capture-delete-confirm.png'), fullPage: true });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await h.call('GET', `/api/v1/captures/${CL}`)).status, 200, 'Cancel deleted nothing');

    await row().getByRole('button', { name: 'Delete' }).click();
    await row().getByRole('button', { name: 'Yes, delete' }).click();
    const notice = page.getByTestId('capture-notice').filter({ hasText: 'Deleted cluster.pcap' });
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', /^Deleted cluster\.pcap: 13 connections, \d+ application records, \d+ alerts\.$/);
    await row().waitFor({ state: 'detached' });
    await page.getByText('No captures yet').waitFor();
    await page.screenshot({ path: artifact('capture-deleted.png'), fullPage: true });
    assert.equal((await h.call('GET', `/api/v1/captures/${CL}`)).status, 404);
    assert.equal(await count(''), 0);
    assert.equal((await h.call('GET', '/api/v1/alerts?suppressed=true')).json.alerts.length, 0);
    assert.deepEqual(problems, []);
  });
});
