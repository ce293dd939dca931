/**
 * The service map at the API's edge bound (5,000 edges between 150 workloads in 15 namespaces),
 * in headless Chromium against a real service (SQLite): it is drawn with the one-pass block
 * layout and no edge labels, every edge is in the table, and an edge on the canvas opens its
 * connections. How long the drawing took is printed as a figure, not asserted (speed belongs to
 * benchmarks, and this machine is shared).
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { clickMapEdge } from './map-click';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

const SOURCES = 100;
const TARGETS = 50;

describe('web UI: the service map at 5,000 edges', function () {
  this.timeout(180_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  let from = '';
  let to = '';

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local' });
    let model: ConnRecord | null = null;
    await analyzeFile(sample('pod-traffic.pcap'), (r) => {
      if (!model && r.proto === 'tcp') model = r;
    });
    assert.ok(model);
    const m: ConnRecord = model;
    const records: ConnRecord[] = [];
    for (let i = 0; i < SOURCES; i++)
      for (let j = 0; j < TARGETS; j++)
        records.push({
          ...m,
          uid: `Cmap${i}x${j}`,
          community_id: `1:map${i}x${j}=`,
          orig_h: `10.1.${i}.1`,
          resp_h: `10.2.${j}.1`,
          resp_p: 8080,
          k8s: {
            orig: { kind: 'pod', namespace: `src-${i % 10}`, workload: `client-${i}`, workload_kind: 'Deployment', pod: `client-${i}-0` },
            resp: { kind: 'pod', namespace: `dst-${j % 5}`, workload: `server-${j}`, workload_kind: 'Deployment', pod: `server-${j}-0` },
            direction: 'internal',
            scope: 'cross-namespace',
          },
        });
    const w = await h.running.runtime.store.write(records);
    assert.deepEqual(w, { written: SOURCES * TARGETS, stale: 0, deadLettered: 0 });
    from = new Date(Math.floor(m.ts) * 1000).toISOString();
    to = new Date((Math.floor(m.ts) + 3600) * 1000).toISOString();
    const edges = await h.call('GET', `/api/v1/aggregations/edges?limit=5000&from=${from}&to=${to}`);
    assert.equal(edges.status, 200, edges.text);
    assert.equal(edges.json.edges.length, SOURCES * TARGETS);
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${h.url}/jobs`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Jobs & sources' }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('draws 5,000 edges with the block layout, lists them all, and opens an edge clicked on the canvas', async () => {
    const started = Date.now();
    await page.goto(`${h.url}/map?limit=5000&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    const map = page.locator('[data-testid=map][data-render-ms]');
    await map.waitFor({ timeout: 120_000 });
    const loaded = Date.now() - started;
    assert.equal(await map.getAttribute('data-layout'), 'blocks');
    assert.match((await map.getAttribute('aria-label')) ?? '', /: 165 nodes, 5000 edges;/);
    // The table under the map starts with the busiest edges; every one is a click away.
    assert.equal(await page.locator('table.edges tbody tr').count(), 300);
    // The main thread answers: a frame comes within the time it takes to ask for it.
    const t0 = Date.now();
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => r(null)))');
    const renderMs = await map.getAttribute('data-render-ms');
    const detail = `${await map.getAttribute('data-waited-ms')} ms graph and table before the map, ${await map.getAttribute('data-build-ms')} ms building the map`;
    const frame = Date.now() - t0;
    const points = JSON.parse((await map.getAttribute('data-edge-points')) ?? '{}') as Record<string, [number, number]>;
    assert.equal(Object.keys(points).length, SOURCES * TARGETS);
    await page.screenshot({ path: artifact('map-5000-edges.png') });
    await page.getByRole('button', { name: 'Show all 5,000 edges' }).click();
    assert.equal(await page.locator('table.edges tbody tr').count(), SOURCES * TARGETS);
    await page.evaluate('window.scrollTo(0, 0)');
    // A click where an edge is drawn opens that edge's connections (the first edge whose point is on screen).
    const vp = page.viewportSize() ?? { width: 1440, height: 900 };
    const clicked = Date.now();
    await clickMapEdge(page, (pts, box) => Object.values(pts).find(([px, py]) => box.y + py > 0 && box.y + py < vp.height - 5 && px > 5 && px < box.width - 5));
    const opened = Date.now() - clicked;
    const q = new URL(page.url()).searchParams.get('q') ?? '';
    assert.match(q, /source\./);
    console.log(
      `      figures: map of ${SOURCES * TARGETS} edges drawn ${renderMs} ms after the edges arrived (${detail}); ` +
        `page load to drawn ${loaded} ms; a frame after drawing ${frame} ms; canvas click to the edge's connections ${opened} ms`,
    );
  });
});
