/**
 * The session view in headless Chromium against a real service (SQLite) holding the pod-traffic
 * sample: an HTTP connection opened from its detail panel shows each of its packets (as many
 * per direction as the record counts), the payload of each direction reassembled (as many bytes
 * as the record's orig_bytes and resp_bytes, the request line of its http record in the
 * originator's text), a hex view, and its application records beside them. The packets come
 * decoded from GET /connections/:uid/session (the page fetches no pcap and decodes nothing); a
 * connection inside GRE (../shared/corpus) shows its tunnel beside each packet.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import { readEvents, sample, startHarness, type Harness } from '../service/harness';
import { corpusPath, requireCorpus } from '../util/corpus';
import { artifact, launch, requireBrowser, type Browser } from './browser';

describe('web UI: session view', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const requested: string[] = [];
  let conn: Record<string, any> = {};
  let captureId = '';
  let http: Record<string, any> = {};

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: false });
    const up = await h.call('POST', '/api/v1/captures?name=pod-traffic.pcap', { key: h.keys.ingest, body: fs.readFileSync(sample('pod-traffic.pcap')) });
    assert.equal(up.status, 202, up.text);
    const id = up.json.capture.id as string;
    captureId = id;
    const ev = await readEvents(`${h.url}/api/v1/captures/${id}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
    const recs = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${id} and network.transport:tcp`)}&limit=100`);
    assert.equal(recs.status, 200, recs.text);
    for (const r of recs.json.records as { uid: string }[]) {
      const d = await h.call('GET', `/api/v1/connections/${r.uid}`);
      const a = (d.json.apps as Record<string, any>[]).find((x) => x.kind === 'http' && x.method && x.uri);
      // One with a response body too, so both directions carry payload.
      if (a && d.json.record.resp_bytes > 0 && d.json.record.conn_state === 'SF') {
        conn = d.json.record;
        http = a;
        break;
      }
    }
    assert.ok(conn.uid, 'an HTTP connection in pod-traffic.pcap');
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => requested.push(new URL(r.url()).pathname));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(`uid:${conn.uid}`)}&uid=${conn.uid}`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it("shows a connection's packets, each direction's payload as text and hex, and its application records", async () => {
    await page.getByTestId('pivot-session').click();
    await page.waitForURL(/\/session\?uid=/);
    const table = page.getByTestId('packets');
    await table.waitFor();
    const rows = table.locator('tbody tr');
    assert.equal(await rows.count(), conn.orig_pkts + conn.resp_pkts);
    assert.equal(await table.locator('tbody tr[data-dir=orig]').count(), conn.orig_pkts);
    assert.equal(await table.locator('tbody tr[data-dir=resp]').count(), conn.resp_pkts);
    // The first packet is the originator's SYN, at sequence 0 (relative), at the record's time.
    const first = await rows.first().locator('td').allTextContents();
    assert.equal(first[4], 'S');
    assert.equal(first[5], '0');
    assert.equal(first[1], `${new Date(Math.floor(conn.ts * 1000)).toISOString().slice(0, 23)}${String(Math.round((conn.ts * 1e6) % 1000)).padStart(3, '0')}Z`);
    const orig = page.getByTestId('payload-orig');
    const resp = page.getByTestId('payload-resp');
    assert.equal(Number(await orig.getAttribute('data-bytes')), conn.orig_bytes);
    assert.equal(Number(await resp.getAttribute('data-bytes')), conn.resp_bytes);
    const text = (await orig.locator('pre').textContent()) ?? '';
    assert.ok(text.startsWith(`${http.method} ${http.uri} HTTP/`), text.slice(0, 80));
    assert.match((await resp.locator('pre').textContent()) ?? '', /^HTTP\/1\.[01] \d{3}/);
    const side = page.getByRole('complementary', { name: 'Application records' });
    assert.ok((await side.locator('li[data-kind=http]').count()) >= 1);
    assert.ok(((await side.textContent()) ?? '').includes(String(http.uri)));
    await page.screenshot({ path: artifact('session-view.png'), fullPage: true });
    // Decoded by the service: the page asked for the session, never for the pcap.
    assert.ok(requested.includes(`/api/v1/connections/${conn.uid}/session`), requested.join(' '));
    assert.deepEqual(
      requested.filter((u) => u.endsWith('/pcap')),
      [],
    );

    await orig.getByRole('button', { name: 'Hex' }).click();
    const hex = (await orig.locator('pre').textContent()) ?? '';
    const bytes = Buffer.from(`${http.method} ${http.uri}`);
    assert.ok(hex.startsWith(`00000000  ${[...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`), hex.slice(0, 80));
    assert.equal(hex.split('\n').length, Math.ceil(Math.min(conn.orig_bytes, 16384) / 16));
    assert.deepEqual(problems, []);
  });

  it('shows the tunnel around each packet of a connection inside GRE, and its payload', async function () {
    requireCorpus(this);
    const up = await h.call('POST', '/api/v1/captures?name=gre-sample.pcap', {
      key: h.keys.ingest,
      body: fs.readFileSync(corpusPath('zeek/tunnels/gre-sample.pcap')),
    });
    assert.equal(up.status, 202, up.text);
    const id = up.json.capture.id as string;
    const ev = await readEvents(`${h.url}/api/v1/captures/${id}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
    await h.running.runtime.store.refresh();
    const recs = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${id} and src:66.59.111.190 and sport:40264 and dport:22`)}`);
    assert.equal(recs.json.records.length, 1, recs.text);
    const uid = recs.json.records[0].uid as string;
    await page.goto(`${h.url}/session?uid=${uid}`);
    const table = page.getByTestId('packets');
    await table.waitFor();
    // Zeek's conn.log of the trace: 12 + 10 packets; the inner SYN first, under its GRE layer.
    assert.equal(await table.locator('tbody tr').count(), 22);
    assert.equal(await table.locator('thead th').last().textContent(), 'Tunnels');
    const first = await table.locator('tbody tr').first().locator('td').allTextContents();
    assert.deepEqual([first[3], first[4], first[9]], ['→ 172.28.2.3:22', 'SEC', 'gre 172.27.1.66 → 66.59.109.137']);
    const second = await table.locator('tbody tr').nth(1).locator('td').allTextContents();
    assert.deepEqual([second[3], second[4], second[9]], ['← 172.28.2.3:22', 'SAE', 'gre 66.59.109.137 → 172.27.1.66']);
    assert.equal(Number(await page.getByTestId('payload-orig').getAttribute('data-bytes')), 952);
    assert.ok(((await page.getByTestId('payload-orig').locator('pre').textContent()) ?? '').startsWith('SSH-2.0-OpenSSH_3.6.1p1\n'));
    assert.ok(((await page.getByTestId('payload-resp').locator('pre').textContent()) ?? '').startsWith('SSH-1.99-OpenSSH_3.1p1\n'));
    await page.screenshot({ path: artifact('session-gre.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });

  it("exports the query's records as CSV and NDJSON, the files the export API gives", async () => {
    const q = `capture:${captureId}`;
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(q)}`);
    await page.locator('[data-testid=result-count][data-for]').waitFor();
    for (const format of ['csv', 'ndjson'] as const) {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`export-${format}`).click()]);
      const file = artifact(`export.${format}`);
      await dl.saveAs(file);
      const got = fs.readFileSync(file, 'utf8');
      const want = await h.call('GET', `/api/v1/export?q=${encodeURIComponent(q)}&format=${format}&limit=100000`);
      assert.equal(want.status, 200, want.text);
      assert.equal(got, want.text);
      const n = (await h.call('GET', `/api/v1/aggregations/count?q=${encodeURIComponent(q)}`)).json.count as number;
      const lines = got.split('\n').filter(Boolean);
      assert.equal(lines.length, format === 'csv' ? n + 1 : n);
      await page
        .getByTestId('export-said')
        .filter({ hasText: `connections.${format}` })
        .waitFor();
    }
    assert.deepEqual(problems, []);
  });
});
