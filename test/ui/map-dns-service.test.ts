/**
 * A ClusterIP the Kubernetes inventory does not know is named on the service map by the DNS name
 * the client resolved to it: in headless Chromium against a real service (SQLite) holding the k8s
 * sample capture, analysed with an inventory from which the `shop/api` Service (and its
 * EndpointSlice) were left out. The frontend looked up api.shop.svc.cluster.local and got the
 * ClusterIP 10.96.12.34 in the same capture: the map draws that address as
 * api.shop.svc.cluster.local, where the inventory's services (data/postgres) keep their names.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import { readEvents, sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

const API_SVC = '10.96.12.34';
const NAME = 'api.shop.svc.cluster.local';

describe('web UI: service map, a ClusterIP outside the inventory named by DNS', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const FROM = '2026-01-15T10:00:00Z';
  const TO = '2026-01-15T11:00:00Z';

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: false });
    const inventory = JSON.parse(fs.readFileSync(sample('k8s/inventory.json'), 'utf8')) as {
      items: { kind: string; metadata: { namespace?: string; name: string } }[];
    };
    const without = inventory.items.filter(
      (it) =>
        !(
          it.metadata.namespace === 'shop' &&
          ((it.kind === 'Service' && it.metadata.name === 'api') || (it.kind === 'EndpointSlice' && it.metadata.name === 'api-x1y2z'))
        ),
    );
    assert.equal(without.length, inventory.items.length - 2);
    const inv = await h.call('POST', '/api/v1/inventory', {
      key: h.keys.ingest,
      body: JSON.stringify({ ...inventory, items: without }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(inv.status, 201, inv.text);
    const up = await h.call('POST', '/api/v1/captures?name=cluster.pcap', { key: h.keys.ingest, body: fs.readFileSync(sample('k8s/cluster.pcap')) });
    assert.equal(up.status, 202, up.text);
    const ev = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${h.url}/map?from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('draws the unknown ClusterIP as the name the client resolved, the known one as its service', async () => {
    // The records themselves: the address is no service of the inventory's.
    const conns = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`destination.ip:${API_SVC}`)}&from=${FROM}&to=${TO}`);
    assert.equal(conns.status, 200, conns.text);
    assert.ok(conns.json.records.length > 0);
    for (const c of conns.json.records as { k8s?: { resp?: { service?: string } } }[]) assert.equal(c.k8s?.resp?.service, undefined);

    const map = page.locator('[data-testid=map][data-node-labels][data-render-ms]');
    await map.waitFor({ timeout: 60_000 });
    await page.screenshot({ path: artifact('map-dns-service.png') });
    const labels = JSON.parse((await map.getAttribute('data-node-labels')) ?? '{}') as Record<string, { text: string }>;
    assert.equal(labels[`a:${API_SVC}`]?.text, NAME, JSON.stringify(labels));
    // The edge table names both ends the same way.
    const row = page.locator('table.edges tbody tr', { hasText: NAME });
    assert.equal(await row.count(), 1);
    assert.deepEqual((await row.locator('td').allTextContents()).slice(0, 3), ['shop/frontend', NAME, 'tcp/8080']);
    // Its query selects the address (the records carry no service for it), and finds the connection.
    const q = (await row.getAttribute('data-query')) ?? '';
    assert.match(q, new RegExp(`destination\\.ip:${API_SVC.replace(/\./g, '\\.')}`));
    const n = await h.call('GET', `/api/v1/aggregations/count?q=${encodeURIComponent(q)}&from=${FROM}&to=${TO}`);
    assert.equal(n.status, 200, n.text);
    assert.ok(n.json.count > 0);
    // A ClusterIP the inventory knows: its service.
    assert.equal((await page.locator('table.edges tbody tr', { hasText: 'data/postgres' }).count()) > 0, true);
  });
});
