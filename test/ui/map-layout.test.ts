/**
 * The service map's force layout runs in a worker, and the page stays responsive meanwhile: in
 * headless Chromium against a real service (SQLite, the service's own CSP), a map of 396 edges
 * among 135 workloads (laid out by cose: 0.23-0.26 s on this project's machine) is drawn while the page
 * records its long tasks (PerformanceObserver 'longtask') and its animation frames. While the
 * layout ran (the page's `eastwatch:layout` measure) no long task held the page's thread for more
 * than a small part of it, and frames were drawn. The same page with no Worker computes the
 * layout on its thread: the same positions, and one long task covering the layout with no frame
 * drawn in it, which is what the first half of the test must not see.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

// Many nodes for the edges a cose map may have (map.ts, LARGE_MAP_EDGES = 400), the sources in two
// namespaces: cose repels the nodes that share a parent pairwise. The layout must last well over
// the 100 ms that tell a blocked page from a free one. 40 x 9 in eight namespaces took 97-170 ms
// on this project's machine; 132 x 3 in two took 231-256 ms.
const SOURCES = 132;
const TARGETS = 3;

/** Installed before the page's own scripts: its long tasks and frame times, for the test to read. */
const OBSERVE = `
  window.__longTasks = [];
  window.__frames = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, end: e.startTime + e.duration });
  }).observe({ type: 'longtask', buffered: true });
  const frame = (t) => { window.__frames.push(t); requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
`;

/** A browser without workers: the map must compute its layout on the page's thread. */
const NO_WORKER = `Object.defineProperty(window, 'Worker', { value: undefined, configurable: true });`;

interface Seen {
  thread: string;
  algorithm: string;
  start: number;
  duration: number;
  /** The longest time a single long task held the page's thread while the layout ran (ms). */
  blocked: number;
  /** Animation frames the page drew while the layout ran. */
  frames: number;
  points: Record<string, [number, number]>;
}

describe('web UI: the service map lays out off the page thread', function () {
  this.timeout(180_000);
  let h: Harness;
  let browser: Browser;
  let url = '';
  const problems: string[] = [];

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: false });
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
          uid: `Clay${i}x${j}`,
          community_id: `1:lay${i}x${j}=`,
          orig_h: `10.1.${i}.1`,
          resp_h: `10.2.${j}.1`,
          resp_p: 8080,
          k8s: {
            orig: { kind: 'pod', namespace: `src-${i % 2}`, workload: `client-${i}`, workload_kind: 'Deployment', pod: `client-${i}-0` },
            resp: { kind: 'pod', namespace: `dst-${j % 3}`, workload: `server-${j}`, workload_kind: 'Deployment', pod: `server-${j}-0` },
            direction: 'internal',
            scope: 'cross-namespace',
          },
        });
    assert.equal((await h.running.runtime.store.write(records)).written, SOURCES * TARGETS);
    const from = new Date(Math.floor(m.ts) * 1000).toISOString();
    const to = new Date((Math.floor(m.ts) + 3600) * 1000).toISOString();
    url = `${h.url}/map?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  /** Opens the map in a fresh page (with `init` run before the page's scripts) and reads what happened while it was laid out. */
  const open = async (init: string, shot: string): Promise<Seen> => {
    const page: Page = await browser.context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    await page.addInitScript(init);
    await page.addInitScript(OBSERVE);
    const res = await page.goto(url);
    // The worker is allowed by the service's policy, not by its absence.
    assert.match(res?.headers()['content-security-policy'] ?? '', /worker-src 'self'/);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
    const map = page.locator(`[data-testid=map][data-drawn-edges="${SOURCES * TARGETS}"][data-node-labels]`);
    await map.waitFor({ timeout: 120_000 });
    // Long tasks are reported after they end: a frame later, every one of them is in.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null))))');
    await page.screenshot({ path: artifact(shot) });
    const seen = (await page.evaluate(`(() => {
      const m = performance.getEntriesByName('eastwatch:layout').at(-1);
      const start = m.startTime;
      const end = m.startTime + m.duration;
      const overlap = (t) => Math.max(0, Math.min(t.end, end) - Math.max(t.start, start));
      return {
        thread: m.detail.thread,
        algorithm: m.detail.algorithm,
        start,
        duration: m.duration,
        blocked: Math.max(0, ...window.__longTasks.map(overlap)),
        frames: window.__frames.filter((t) => t > start && t < end).length,
      };
    })()`)) as Omit<Seen, 'points'>;
    assert.equal(await map.getAttribute('data-layout-thread'), seen.thread);
    assert.equal(await map.getAttribute('data-layout'), 'cose');
    const points = JSON.parse((await map.getAttribute('data-node-points')) ?? '{}') as Record<string, [number, number]>;
    await page.close();
    return { ...seen, points };
  };

  it('keeps drawing frames while the worker lays the map out; on the page thread the same layout blocks it', async () => {
    const off = await open('', 'map-layout-worker.png');
    const on = await open(NO_WORKER, 'map-layout-main-thread.png');
    console.log(
      `      figures: cose on ${SOURCES * TARGETS} edges: in the worker ${Math.round(off.duration)} ms, longest long task within it ${Math.round(off.blocked)} ms, ` +
        `${off.frames} frames drawn; on the page thread ${Math.round(on.duration)} ms, blocked ${Math.round(on.blocked)} ms, ${on.frames} frames`,
    );
    assert.equal(off.thread, 'worker');
    assert.equal(off.algorithm, 'cose');
    assert.equal(on.thread, 'main');
    // The same positions wherever they were computed (cose's randomness is seeded).
    assert.equal(Object.keys(off.points).length, SOURCES + TARGETS);
    assert.deepEqual(on.points, off.points);
    // The control: computed on the page's thread, the layout is one long task and no frame is drawn.
    assert.ok(on.duration >= 100, `a layout of ${on.duration} ms is too short to tell`);
    assert.ok(on.blocked >= on.duration * 0.9, `main thread: blocked ${on.blocked} ms of ${on.duration}`);
    assert.equal(on.frames, 0);
    // In the worker: the page's thread is free for all but a small part of it, and draws frames.
    assert.ok(off.duration >= 100, `a layout of ${off.duration} ms is too short to tell`);
    assert.ok(off.blocked <= Math.max(50, off.duration / 4), `worker: the page was blocked ${off.blocked} ms of ${off.duration}`);
    assert.ok(off.frames >= 2, `worker: ${off.frames} frames drawn in ${off.duration} ms`);
    assert.deepEqual(problems, []);
  });
});
