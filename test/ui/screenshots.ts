/**
 * The README's screenshots: the real service on its embedded default (SQLite) with the samples'
 * inventory and captures, in the headless Chromium the browser tests drive, writes
 * docs/screenshots/{map,search,session}.png. Run with `npm run screenshots` (after a build of the
 * service and the UI); not a test, so mocha does not pick it up.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readEvents, REPO, sample, startHarness } from '../service/harness';
import { launch, missing } from './browser';

const OUT = path.join(REPO, 'docs', 'screenshots');
/** The k8s sample cluster's hour (samples/k8s/README.md) and pod-traffic's. */
const FROM = '2026-01-15T10:00:00Z';
const TO = '2026-01-15T11:00:00Z';

async function main(): Promise<void> {
  const why = missing();
  if (why) throw new Error(`cannot take screenshots: ${why}`);
  fs.mkdirSync(OUT, { recursive: true });
  const h = await startHarness({ mode: 'local', detectors: true });
  const browser = await launch();
  try {
    const inv = await h.call('POST', '/api/v1/inventory', {
      key: h.keys.ingest,
      body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(inv.status, 201, inv.text);
    const ids: Record<string, string> = {};
    for (const file of ['k8s/cluster.pcap', 'pod-traffic.pcap']) {
      const up = await h.call('POST', `/api/v1/captures?name=${path.basename(file)}`, { key: h.keys.ingest, body: fs.readFileSync(sample(file)) });
      assert.equal(up.status, 202, up.text);
      ids[file] = up.json.capture.id as string;
      const ev = await readEvents(`${h.url}/api/v1/captures/${ids[file]}/events`, h.keys.analyst);
      assert.equal(ev[ev.length - 1].data.state, 'completed', file);
    }
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${h.url}/connections`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('result-count').waitFor();

    // The map of the sample cluster: workloads by namespace, services, labels at the default zoom.
    await page.goto(`${h.url}/map?from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`);
    const map = page.locator('[data-testid=map][data-render-ms][data-node-labels]');
    await map.waitFor({ timeout: 60_000 });
    await map.scrollIntoViewIfNeeded();
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(OUT, 'map.png') });

    // The search page: a query, the histogram, the field summary, a connection's detail panel.
    const q = 'eastwatch.source.namespace:shop and network.transport:tcp';
    const recs = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(q)}&from=${FROM}&to=${TO}&limit=1`);
    assert.equal(recs.status, 200, recs.text);
    const uid = (recs.json.records[0]?.uid as string | undefined) ?? '';
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(q)}&from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}${uid ? `&uid=${uid}` : ''}`);
    await page.locator('[data-testid=result-count][data-for]').waitFor();
    await page.waitForTimeout(800);
    await page.screenshot({ path: path.join(OUT, 'search.png') });

    // The session view of an HTTP connection in pod-traffic.pcap: its packets, payload and http records.
    const tcp = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${ids['pod-traffic.pcap']} and network.transport:tcp`)}&limit=100`);
    assert.equal(tcp.status, 200, tcp.text);
    let httpUid = '';
    for (const r of tcp.json.records as { uid: string }[]) {
      const d = await h.call('GET', `/api/v1/connections/${r.uid}`);
      if ((d.json.apps as { kind: string }[]).filter((a) => a.kind === 'http').length >= 2) {
        httpUid = r.uid;
        break;
      }
    }
    assert.ok(httpUid, 'an HTTP connection in pod-traffic.pcap');
    await page.goto(`${h.url}/session?uid=${httpUid}`);
    await page.getByTestId('packets').waitFor();
    await page.screenshot({ path: path.join(OUT, 'session.png') });
    for (const f of ['map.png', 'search.png', 'session.png'])
      console.log(`${path.join('docs', 'screenshots', f)}: ${fs.statSync(path.join(OUT, f)).size} bytes`);
  } finally {
    await browser.close();
    await h.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
