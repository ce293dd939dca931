/**
 * The policy advisor page in headless Chromium against a real service (SQLite): without an
 * inventory it says so; with the k8s sample's inventory and capture it shows, for one namespace,
 * the same suggestion the API gives (policies, verification, YAML) and keeps its inputs in the URL.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import { readEvents, sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

describe('web UI: policy advisor', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  let expected: RegExp | null = null;
  const FROM = '2026-01-15T10:00:00Z';
  const TO = '2026-01-15T11:00:00Z';

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: true });
    const up = await h.call('POST', '/api/v1/captures?name=cluster.pcap', { body: fs.readFileSync(sample('k8s/cluster.pcap')) });
    assert.equal(up.status, 202, up.text);
    const ev = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !expected?.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${h.url}/policies`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Policy advisor' }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  const ask = async (): Promise<void> => {
    await page.getByLabel('Namespace').fill('shop');
    await page.getByLabel('From').fill(FROM);
    await page.getByLabel('To').fill(TO);
    await page.getByRole('button', { name: 'Suggest policies' }).click();
  };

  it('says that an inventory is needed first', async () => {
    expected = /status of 409/;
    await ask();
    await page.getByRole('alert').filter({ hasText: 'no inventory of cluster default has been uploaded' }).waitFor();
  });

  it("shows the API's suggestion for a namespace: policies, verification and YAML", async () => {
    const inv = await h.call('POST', '/api/v1/inventory', {
      key: h.keys.ingest,
      body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(inv.status, 201, inv.text);
    const api = await h.call('POST', '/api/v1/policies/suggest', { body: { namespaces: ['shop'], from: FROM, to: TO } });
    assert.equal(api.status, 200, api.text);
    assert.ok(api.json.policies.length > 0);
    await page.reload();
    await page.getByTestId('suggestion').waitFor();
    const url = new URL(page.url());
    assert.deepEqual([url.searchParams.get('ns'), url.searchParams.get('from'), url.searchParams.get('to')], ['shop', FROM, TO]);
    const summary = (await page.getByTestId('suggestion-summary').textContent()) ?? '';
    const n = api.json.policies.length;
    assert.ok(summary.startsWith(`${n} ${n === 1 ? 'policy' : 'policies'} from ${api.json.connections} connections.`), summary);
    assert.equal(await page.getByTestId('suggestion-verified').textContent(), api.json.verification.ok ? 'verified' : 'verification failed');
    assert.equal(await page.getByTestId('suggestion-yaml').textContent(), api.json.yaml);
    assert.match(api.json.yaml, /kind: NetworkPolicy/);
    for (const p of api.json.policies) assert.equal(p.metadata.namespace, 'shop');
    await page.screenshot({ path: artifact('policies.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
