/**
 * Pivots and the field summary in headless Chromium against a real service (SQLite, in-process
 * queue, detectors on) holding the k8s sample cluster (named by its inventory) and the scan
 * and failed-connections samples: from a connection's detail to its application records, the alerts naming it, the same
 * pair around it and its packets; the field summary's values and counts, a value added to the
 * query (and excluded); the range kept across the timed views. Every value the page shows is
 * checked against what the API answers for the same search.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import { pairWindow, samePairQuery } from '../../src/ui/lib/pivot';
import { spanRange } from '../../src/ui/lib/time';
import { readEvents, sample, startHarness, type Harness } from '../service/harness';
import { artifact, launch, requireBrowser, type Browser } from './browser';

interface Rec {
  uid: string;
  ts: number;
  duration?: number;
  orig_h: string;
  resp_h: string;
  resp_p: number;
}

describe('web UI: pivots, field summary and the shared time range', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const sha = (f: string): string => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  const CL = sha(sample('k8s/cluster.pcap'));
  /** A cluster connection with application records (named by the inventory), found by the app pivot step. */
  let withAppsUid = '';

  const param = (k: string): string | null => new URL(page.url()).searchParams.get(k);
  const api = async (p: string): Promise<any> => {
    const r = await h.call('GET', `/api/v1${p}`);
    assert.equal(r.status, 200, `${p}: ${r.text}`);
    return r.json;
  };
  const qs = (o: Record<string, string>): string => new URLSearchParams(Object.entries(o).filter(([, v]) => v !== '')).toString();
  const countOf = async (q: string, from = '', to = ''): Promise<number> => (await api(`/aggregations/count?${qs({ q, from, to })}`)).count as number;
  /** The count the page shows once its results answer the filter in its URL. */
  const shownCount = async (): Promise<number> => {
    const key = ['q', 'from', 'to'].map((k) => param(k) ?? '').join('|');
    const status = page.locator(`[data-testid=result-count][data-for=${JSON.stringify(key)}]`);
    await status.waitFor();
    const m = /^([\d,]+) connections match/.exec((await status.textContent()) ?? '');
    assert.ok(m, `result count text: ${await status.textContent()}`);
    return Number(m[1].replace(/,/g, ''));
  };
  const upload = async (file: string, name: string): Promise<void> => {
    const up = await h.call('POST', `/api/v1/captures?name=${name}`, { body: fs.readFileSync(file) });
    assert.equal(up.status, 202, up.text);
    const ev = await readEvents(`${h.url}/api/v1/captures/${sha(file)}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
  };

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: true });
    const inv = await h.call('POST', '/api/v1/inventory', {
      key: h.keys.ingest,
      body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(inv.status, 201, inv.text);
    await upload(sample('k8s/cluster.pcap'), 'cluster.pcap');
    await upload(sample('scan.pcap'), 'scan.pcap');
    // Retries: the same pair several times, for the same-pair pivot.
    await upload(sample('failed-connections.pcap'), 'failed-connections.pcap');
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${h.url}/connections`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('whoami').waitFor();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('shows the top values of the summary fields for the query, as /aggregations/top counts them', async () => {
    const q = `capture:${CL}`;
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(q)}`);
    assert.equal(await shownCount(), await countOf(q));
    const summary = page.locator(`[data-testid=field-summary][data-for=${JSON.stringify(`${q}||`)}]`);
    await summary.waitFor();
    for (const field of ['eastwatch.source.namespace', 'eastwatch.destination.workload', 'destination.port', 'network.transport', 'zeek.connection.state']) {
      const want = (await api(`/aggregations/top?${qs({ q, field, limit: '5' })}`)).buckets as { key: string; connections: number }[];
      assert.ok(want.length > 0, `${field} has values in the cluster capture`);
      const items = summary.locator(`section[data-field="${field}"] li`);
      const got = await items.evaluateAll(
        (lis: { getAttribute(n: string): string | null; querySelector(s: string): { textContent: string | null } | null }[]) =>
          lis.map((li) => ({
            key: li.getAttribute('data-value'),
            connections: Number((li.querySelector('[data-testid=summary-count]')?.textContent ?? '').replace(/,/g, '')),
          })),
      );
      assert.deepEqual(
        got,
        want.map((b) => ({ key: b.key, connections: b.connections })),
        field,
      );
    }
    await page.screenshot({ path: artifact('field-summary.png'), fullPage: true });
  });

  it('adds a value to the query with a click, and excludes one with its "not"', async () => {
    const q = `capture:${CL}`;
    const top = (await api(`/aggregations/top?${qs({ q, field: 'eastwatch.source.namespace', limit: '5' })}`)).buckets as {
      key: string;
      connections: number;
    }[];
    const v = top[0];
    const section = page.getByRole('complementary', { name: 'Field summary' }).getByRole('region', { name: 'Source namespace' });
    await section.getByRole('button', { name: v.key, exact: true }).click();
    await page.waitForURL(/eastwatch\.source\.namespace/);
    const added = `${q} and eastwatch.source.namespace:${v.key}`;
    assert.equal(param('q'), added);
    assert.equal(await shownCount(), v.connections);
    assert.equal(await page.getByTestId('query-input').inputValue(), added);

    await page.goto(`${h.url}/connections?q=${encodeURIComponent(q)}`);
    await shownCount();
    await section.getByRole('button', { name: `Exclude Source namespace ${v.key}` }).click();
    await page.waitForURL(/not/);
    const excluded = `${q} and not eastwatch.source.namespace:${v.key}`;
    assert.equal(param('q'), excluded);
    const n = await shownCount();
    assert.equal(n, await countOf(excluded));
    assert.equal(n, (await countOf(q)) - v.connections);
  });

  it('adds a table value to the query with its + and excludes one with its − (the row stays closed)', async () => {
    const q = `capture:${CL}`;
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(q)}`);
    await shownCount();
    const first = (await api(`/connections?${qs({ q, limit: '1' })}`)).records[0] as Rec & { proto: string };
    const row = page.locator(`table.results tbody tr[data-uid="${first.uid}"]`);
    assert.equal(await row.locator('td').nth(4).textContent(), String(first.resp_p), 'the cell reads as its value');
    await row.hover();
    await page.screenshot({ path: artifact('table-pivots.png') });
    await row.getByRole('button', { name: `Filter on Dst port ${first.resp_p}` }).click();
    await page.waitForURL(/destination\.port/);
    const added = `${q} and destination.port:${first.resp_p}`;
    assert.equal(param('q'), added);
    assert.equal(param('uid'), null);
    assert.equal(await shownCount(), await countOf(added));

    const row2 = page.locator('table.results tbody tr').first();
    const proto = (await row2.locator('td').nth(5).textContent()) as string;
    await row2.hover();
    await row2.getByRole('button', { name: `Exclude Proto ${proto}` }).click();
    await page.waitForURL(/not/);
    const excluded = `${added} and not network.transport:${proto}`;
    assert.equal(param('q'), excluded);
    assert.equal(await shownCount(), await countOf(excluded));
    assert.equal(param('uid'), null);
  });

  it('pivots from a connection to its application records and to its packets', async () => {
    const recs = (await api(`/connections?${qs({ q: `capture:${CL}`, limit: '100' })}`)).records as Rec[];
    let withApps: { uid: string; apps: { kind: string }[] } | null = null;
    for (const r of recs) {
      const d = await api(`/connections/${r.uid}`);
      if (d.apps.length > 0) {
        withApps = { uid: r.uid, apps: d.apps };
        break;
      }
    }
    assert.ok(withApps, 'a cluster connection with application records');
    withAppsUid = withApps.uid;
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(`capture:${CL}`)}&uid=${withApps.uid}`);
    const detail = page.getByTestId('detail');
    const pivots = detail.getByRole('navigation', { name: 'Pivots' });
    const appsLink = pivots.getByTestId('pivot-apps');
    await appsLink.filter({ hasText: `(${withApps.apps.length}: ` }).waitFor();
    const kinds = [...new Set(withApps.apps.map((a) => a.kind))];
    for (const k of kinds) assert.match((await appsLink.textContent()) ?? '', new RegExp(`${k} ${withApps.apps.filter((a) => a.kind === k).length}`));
    await appsLink.click();
    await page.waitForURL(/show=apps/);
    assert.equal(param('q'), `uid:${withApps.uid}`);
    assert.equal(param('uid'), withApps.uid);
    assert.equal(await shownCount(), 1);
    const appsHeading = detail.getByRole('heading', { name: `Application records (${withApps.apps.length})` });
    await appsHeading.waitFor();
    await page.waitForFunction(() => {
      const g = globalThis as unknown as { document: { getElementById(id: string): { getBoundingClientRect(): { top: number } } | null } };
      const el = g.document.getElementById('detail-apps');
      return el !== null && el.getBoundingClientRect().top < 400;
    });
    await page.screenshot({ path: artifact('pivot-apps.png'), fullPage: false });

    // Its packets: the link downloads exactly what GET /connections/{uid}/pcap answers.
    const want = await fetch(`${h.url}/api/v1/connections/${withApps.uid}/pcap`, { headers: { authorization: `Bearer ${h.keys.analyst}` } });
    assert.equal(want.status, 200);
    const wantBytes = Buffer.from(await want.arrayBuffer());
    const link = pivots.getByRole('link', { name: 'Its packets (pcap)' });
    assert.equal(await link.getAttribute('href'), `/api/v1/connections/${withApps.uid}/pcap`);
    const [dl] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = artifact(`pivot-${withApps.uid}.pcap`);
    await dl.saveAs(file);
    assert.ok(wantBytes.length > 24);
    assert.ok(fs.readFileSync(file).equals(wantBytes), 'the downloaded pcap is the API answer');
  });

  it('pivots to the alerts whose evidence names the connection', async () => {
    const all = (await api('/alerts?limit=1000&suppressed=true')).alerts as { id: string; title: string; evidence: { uids?: string[] } }[];
    const named = all.find((a) => (a.evidence.uids?.length ?? 0) > 0);
    assert.ok(named, 'an alert with evidence uids');
    const uid = (named.evidence.uids as string[])[0];
    const want = all.filter((a) => a.evidence.uids?.includes(uid)).map((a) => a.id);
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(`uid:${uid}`)}&uid=${uid}`);
    const link = page.getByTestId('detail').getByTestId('pivot-alerts');
    await link.filter({ hasText: `Alerts naming it (${want.length})` }).waitFor();
    await link.click();
    await page.waitForURL(/\/alerts\?/);
    assert.equal(param('uid'), uid);
    assert.equal(param('status'), 'any');
    await page
      .getByTestId('alerts-count')
      .filter({ hasText: `${want.length} ${want.length === 1 ? 'alert' : 'alerts'}.` })
      .waitFor();
    const shown = await page
      .locator('tr[data-alert]')
      .evaluateAll((rs: { getAttribute(n: string): string | null }[]) => rs.map((r) => r.getAttribute('data-alert')));
    assert.deepEqual([...shown].sort(), [...want].sort());
    assert.equal(
      await page.getByTestId('alerts-uid-filter').textContent(),
      `Alerts whose evidence names connection ${uid} (all ${all.length} alerts searched, suppressed included). Show every alert`,
    );
    await page.screenshot({ path: artifact('pivot-alerts.png'), fullPage: true });
    // Leaving the pivot lists every alert again.
    await page.getByRole('button', { name: 'Show every alert' }).click();
    await page.waitForFunction(() => !new URL((globalThis as unknown as { location: { href: string } }).location.href).searchParams.has('uid'));
    await page
      .getByTestId('alerts-count')
      .filter({ hasText: `${all.length} alerts.` })
      .waitFor();
  });

  it('pivots to the connections of the same pair within an hour of it, and from a value in the detail', async () => {
    // A pair seen more than once, so the pivot finds more than the connection itself.
    const recs = (await api(`/connections?${qs({ limit: '1000' })}`)).records as Rec[];
    const byPair = new Map<string, Rec[]>();
    for (const r of recs) {
      const k = `${r.orig_h}|${r.resp_h}|${r.resp_p}`;
      byPair.set(k, [...(byPair.get(k) ?? []), r]);
    }
    const group = [...byPair.values()].sort((a, b) => b.length - a.length)[0];
    assert.ok(group.length >= 2, `the busiest pair has ${group.length} connections`);
    const r = group[0];
    const q = samePairQuery(r);
    const win = pairWindow(r);
    assert.equal(q, `source.ip:${r.orig_h} and destination.ip:${r.resp_h} and destination.port:${r.resp_p}`);
    const want = await countOf(q, win.from, win.to);
    assert.ok(want >= 2, `same pair within the window: ${want}`);
    await page.goto(`${h.url}/connections?uid=${r.uid}`);
    await page
      .getByTestId('detail')
      .getByTestId('pivot-pair')
      .filter({ hasText: `Same pair ${r.orig_h} → ${r.resp_h}:${r.resp_p} within 1 h` })
      .click();
    await page.waitForURL(/destination\.port/);
    assert.equal(param('q'), q);
    assert.equal(param('from'), win.from);
    assert.equal(param('to'), win.to);
    assert.equal(param('uid'), null);
    assert.equal(await shownCount(), want);
    const rows = await page
      .locator('table.results tbody tr')
      .evaluateAll((rs: { getAttribute(n: string): string | null }[]) => rs.map((x) => x.getAttribute('data-uid')));
    const inPair = new Set(group.map((x) => x.uid));
    assert.ok(rows.length === want && rows.every((u) => inPair.has(u as string)), `rows ${rows.join(',')}`);
    await page.screenshot({ path: artifact('pivot-pair.png'), fullPage: true });

    // A value in the detail panel adds its term to the query.
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(`capture:${CL}`)}&uid=${withAppsUid}`);
    const detail = page.getByTestId('detail');
    const row = detail.getByRole('table', { name: 'Connection fields' }).getByRole('row', { name: /^k8s\.resp\.workload/ });
    const workload = (await row.getByRole('button').textContent()) as string;
    assert.ok(workload);
    await row.getByRole('button', { name: workload }).click();
    await page.waitForURL(/eastwatch\.destination\.workload/);
    const q2 = `capture:${CL} and eastwatch.destination.workload:${workload}`;
    assert.equal(param('q'), q2);
    assert.equal(param('uid'), null);
    assert.equal(await shownCount(), await countOf(q2));
  });

  it('keeps an absolute range across the connections, map and alerts views', async () => {
    const recs = (await api(`/connections?${qs({ q: `capture:${CL}`, limit: '100', sort: '@timestamp', order: 'asc' })}`)).records as Rec[];
    const from = new Date(Math.floor(recs[0].ts) * 1000).toISOString();
    const to = new Date((Math.floor(recs[recs.length - 1].ts) + 1) * 1000).toISOString();
    await page.goto(`${h.url}/connections`);
    await shownCount();
    const range = page.getByRole('form', { name: 'Time range' });
    await range.getByLabel('From').fill(from);
    await range.getByLabel('To').fill(to);
    await range.getByRole('button', { name: 'Apply range' }).click();
    await page.waitForURL(/from=/);
    assert.equal(param('from'), from);
    assert.equal(param('to'), to);
    const inRange = await countOf('', from, to);
    assert.ok(inRange >= recs.length && inRange < (await countOf('')), `range holds ${inRange}`);
    assert.equal(await shownCount(), inRange);

    await page.getByRole('link', { name: 'Service map', exact: true }).click();
    await page.waitForURL(/\/map\?/);
    assert.equal(param('from'), from);
    assert.equal(param('to'), to);
    await page
      .getByRole('form', { name: 'Time range' })
      .getByLabel('From')
      .and(page.locator(`[value="${from}"]`))
      .waitFor();

    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.waitForURL(/\/alerts\?/);
    assert.equal(param('from'), from);
    assert.equal(param('to'), to);
    const want = (await api(`/alerts?${qs({ status: 'open', from, to, limit: '500' })}`)).alerts.length as number;
    assert.ok(want < (await api('/alerts?status=open&limit=500')).alerts.length, 'the range leaves some alerts out');
    await page
      .getByTestId('alerts-count')
      .filter({ hasText: `${want} ${want === 1 ? 'alert' : 'alerts'}.` })
      .waitFor();

    await page.getByRole('link', { name: 'Connections', exact: true }).click();
    await page.waitForURL(/\/connections\?/);
    assert.equal(param('from'), from);
    assert.equal(await shownCount(), inRange);
    // The data's own span, for historical captures: every stored connection, bounds in the URL.
    const first = (await api('/connections?sort=@timestamp&order=asc&limit=1')).records[0] as Rec;
    const last = (await api('/connections?sort=@timestamp&order=desc&limit=1')).records[0] as Rec;
    const span = spanRange(first.ts, last.ts);
    assert.ok(span);
    await page.getByRole('form', { name: 'Time range' }).getByLabel('Range').selectOption('data');
    await page.waitForURL((u) => u.searchParams.get('from') === span.from);
    assert.equal(param('to'), span.to);
    assert.equal(await shownCount(), await countOf(''));
    assert.equal(await countOf('', span.from, span.to), await countOf(''));
    await page.screenshot({ path: artifact('range-data-span.png'), fullPage: true });
    // Views without a range do not take one.
    await page.getByRole('link', { name: 'Jobs & sources', exact: true }).click();
    await page.waitForURL(/\/jobs$/);
    assert.deepEqual(problems, []);
  });
});
