/**
 * The service map's node labels in headless Chromium against a real service (SQLite) holding the
 * k8s sample cluster named by its inventory: at the default zoom every workload is labelled with
 * its name at a readable size and no two labels overlap; zoomed far out the labels give way, but
 * the hovered node and its neighbours keep theirs; zoomed back in they return. The map says what
 * it labelled in data-node-labels, as it says where it drew edges in data-edge-points.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import type { Edge } from '../../src/ui/lib/types';
import { buildGraph, type Graph } from '../../src/ui/lib/map';
import { readEvents, sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

type Labels = Record<string, { text: string; side: string; box: [number, number, number, number] }>;

describe('web UI: service map labels', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  let graph: Graph;
  const problems: string[] = [];
  const FROM = '2026-01-15T10:00:00Z';
  const TO = '2026-01-15T11:00:00Z';
  const map = (): ReturnType<Page['locator']> => page.locator('[data-testid=map][data-node-labels]');
  const labels = async (): Promise<Labels> => JSON.parse((await map().getAttribute('data-node-labels')) ?? '{}') as Labels;
  /** Polls the page until `ok` holds: the map relabels after a gesture (debounced) or a hover. */
  const until = async (what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
      await page.waitForTimeout(100);
    }
  };
  const zoom = async (): Promise<string> => (await map().getAttribute('data-zoom')) ?? '';

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: false });
    const inv = await h.call('POST', '/api/v1/inventory', {
      key: h.keys.ingest,
      body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(inv.status, 201, inv.text);
    const up = await h.call('POST', '/api/v1/captures?name=cluster.pcap', { key: h.keys.ingest, body: fs.readFileSync(sample('k8s/cluster.pcap')) });
    assert.equal(up.status, 202, up.text);
    const ev = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
    const edges = await h.call('GET', `/api/v1/aggregations/edges?from=${FROM}&to=${TO}&limit=1000`);
    assert.equal(edges.status, 200, edges.text);
    graph = buildGraph(edges.json.edges as Edge[], [], []);
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${h.url}/map?from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page
      .locator('[data-testid=map][data-node-labels][data-render-ms]')
      .waitFor()
      .catch(async (e: unknown) => {
        const attrs = await page
          .locator('[data-testid=map]')
          .evaluate((el: { dataset: Record<string, string>; hidden: boolean }) => `${JSON.stringify(el.dataset).slice(0, 500)} hidden=${el.hidden}`);
        throw new Error(
          `${String(e)}; map ${String(attrs)}; page: ${(await page.locator('main').textContent())?.slice(0, 300)}; problems: ${problems.join('; ')}`,
        );
      });
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('labels every workload with its name at the default zoom, no label over another', async () => {
    const workloads = graph.nodes.filter((n) => n.kind === 'workload');
    // The sample's workloads: frontend, api, worker, db and the rest the inventory names.
    assert.ok(workloads.length >= 4, JSON.stringify(workloads.map((n) => n.id)));
    for (const w of ['frontend', 'api', 'worker'])
      assert.ok(
        workloads.some((n) => n.label === w),
        `no workload ${w} in the API's edges`,
      );
    const got = await labels();
    await page.screenshot({ path: artifact('map-labels.png') });
    for (const n of workloads) assert.equal(got[n.id]?.text, n.label, `workload ${n.id} not labelled: ${JSON.stringify(got)}`);
    const boxes = Object.entries(got);
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i][1].box, boxes[j][1].box];
        const apart = a[0] + a[2] <= b[0] || b[0] + b[2] <= a[0] || a[1] + a[3] <= b[1] || b[1] + b[3] <= a[1];
        assert.ok(apart, `labels of ${boxes[i][0]} and ${boxes[j][0]} overlap: ${a} / ${b}`);
      }
  });

  it('hides labels zoomed far out, but keeps the hovered node and its neighbours; zooming in brings them back', async () => {
    const box = await map().boundingBox();
    assert.ok(box);
    const z0 = (await map().getAttribute('data-zoom')) ?? '';
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    // Wheel out until the nodes are specks: Cytoscape zooms a little per wheel event.
    let z = z0;
    for (let i = 0; i < 40 && Number(z) * 22 >= 4; i++) {
      for (let k = 0; k < 10; k++) await page.mouse.wheel(0, 400);
      await page.waitForTimeout(150);
      z = await zoom();
    }
    await page.waitForTimeout(300);
    z = await zoom();
    assert.ok(Number(z) * 22 < 6, `zoom ${z} leaves nodes readable`);
    // Off the map: nothing hovered, so nothing is labelled on nodes too small to tell apart.
    await page.mouse.move(box.x + box.width / 2, box.y - 40);
    await until('no label is drawn', async () => Object.keys(await labels()).length === 0);

    // The busiest workload, hovered where the map drew it.
    const degree = new Map<string, Set<string>>();
    for (const e of graph.edges) {
      if (e.source === e.target) continue;
      degree.set(e.source, (degree.get(e.source) ?? new Set()).add(e.target));
      degree.set(e.target, (degree.get(e.target) ?? new Set()).add(e.source));
    }
    // A workload with neighbours, the one furthest from any other node on screen: the pointer
    // over it is over it, not over a neighbour's edge drawn beside it.
    const points = JSON.parse((await map().getAttribute('data-node-points')) ?? '{}') as Record<string, [number, number]>;
    const room = (id: string): number => {
      const [x, y] = points[id];
      return Math.min(...Object.entries(points).map(([o, [ox, oy]]) => (o === id ? Number.POSITIVE_INFINITY : Math.hypot(ox - x, oy - y))));
    };
    const [hub, neighbours] = [...degree.entries()]
      .filter(([id, ns]) => id.startsWith('w:') && ns.size >= 2 && id in points)
      .sort((a, b) => room(b[0]) - room(a[0]))[0];
    assert.ok(neighbours.size >= 2, `${hub} has ${neighbours.size} neighbours`);
    const at = points[hub];
    await page.mouse.move(box.x + at[0], box.y + at[1]);
    await until(`${hub} is labelled`, async () => hub in (await labels()));
    const hovered = await labels();
    assert.deepEqual(Object.keys(hovered).sort(), [hub, ...neighbours].sort());
    assert.equal(hovered[hub].text, graph.nodes.find((n) => n.id === hub)?.label);
    await page.screenshot({ path: artifact('map-labels-hover.png') });

    // Away from the node: labels go; zoomed back in: every workload is labelled again.
    await page.mouse.move(box.x + 5, box.y + 5);
    await until('the labels are gone', async () => Object.keys(await labels()).length === 0);
    await page.mouse.move(box.x + at[0], box.y + at[1] - 60);
    for (let i = 0; i < 40 && Number(await zoom()) < Number(z0); i++) {
      for (let k = 0; k < 10; k++) await page.mouse.wheel(0, -400);
      await page.waitForTimeout(150);
    }
    await until('labels are back', async () => Object.keys(await labels()).length > 0);
    const back = await labels();
    assert.ok(Number(await map().getAttribute('data-zoom')) * 22 >= 6);
    assert.ok(hub in back || Object.keys(back).length > 0);
    assert.deepEqual(problems, []);
  });
});
