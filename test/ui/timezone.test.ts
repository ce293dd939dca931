/**
 * UTC or local time, in headless Chromium with its clock in Asia/Kolkata (+05:30, no daylight
 * saving, so the expected strings are fixed), against a real service (SQLite) holding the
 * pod-traffic sample: a known record's time in the table, its session's packets and its http
 * record's ts read exactly as expected in both modes, the headers say which, the choice survives
 * a reload, and a From/To typed in local time selects the same records as its UTC equivalent
 * while the URL (and so the API query) stays ISO 8601 UTC.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Page } from 'playwright-core';
import { readEvents, sample, startHarness, type Harness } from '../service/harness';
import { launch, requireBrowser, type Browser } from './browser';

const IST_MS = 5.5 * 3600 * 1000;

/** The expected strings, written out here rather than taken from the UI's own formatters. */
const utcMilli = (sec: number): string => new Date(sec * 1000).toISOString().slice(0, 23).replace('T', ' ');
const istMilli = (sec: number): string => `${new Date(sec * 1000 + IST_MS).toISOString().slice(0, 23).replace('T', ' ')} +05:30`;
const micro = (sec: number): string => String(Math.round((sec * 1e6) % 1000)).padStart(3, '0');
const utcMicro = (sec: number): string => `${new Date(Math.floor(sec * 1000)).toISOString().slice(0, 23)}${micro(sec)}Z`;
const istMicro = (sec: number): string => `${new Date(Math.floor(sec * 1000) + IST_MS).toISOString().slice(0, 23)}${micro(sec)}+05:30`;

describe('web UI: UTC or local time', function () {
  this.timeout(180_000);
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  let captureId = '';
  let conn: Record<string, any> = {};
  let http: Record<string, any> = {};
  let starts: number[] = [];

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local', detectors: false });
    const up = await h.call('POST', '/api/v1/captures?name=pod-traffic.pcap', { key: h.keys.ingest, body: fs.readFileSync(sample('pod-traffic.pcap')) });
    assert.equal(up.status, 202, up.text);
    captureId = up.json.capture.id as string;
    const ev = await readEvents(`${h.url}/api/v1/captures/${captureId}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed');
    const all = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${captureId}`)}&sort=@timestamp&order=asc&limit=1000`);
    assert.equal(all.status, 200, all.text);
    starts = (all.json.records as { ts: number }[]).map((r) => r.ts);
    for (const r of all.json.records as { uid: string; proto: string }[]) {
      if (r.proto !== 'tcp') continue;
      const d = await h.call('GET', `/api/v1/connections/${r.uid}`);
      const a = (d.json.apps as Record<string, any>[]).find((x) => x.kind === 'http' && typeof x.ts === 'number');
      if (a && d.json.record.conn_state === 'SF') {
        conn = d.json.record;
        http = a;
        break;
      }
    }
    assert.ok(conn.uid, 'an HTTP connection in pod-traffic.pcap');
    browser = await launch([], { timezoneId: 'Asia/Kolkata' });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(`uid:${conn.uid}`)}`);
    await page.getByLabel('API key').fill(h.keys.analyst);
    await page.getByRole('button', { name: 'Log in' }).click();
  });

  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  const row = (uid: string) => page.locator(`table.results tbody tr[data-uid="${uid}"]`);
  const timeHeader = async (): Promise<string> => ((await page.locator('table.results thead th').first().textContent()) ?? '').replace(/ [▲▼]$/, '');
  const appTs = (kind: string) => page.locator(`.session-app[data-kind=${kind}] div:has(> dt:text-is("ts")) > dd`).first();

  it("shows a known record's times in UTC by default and in local time with the offset once chosen", async () => {
    await row(conn.uid).waitFor();
    assert.equal(await page.getByTestId('zone').inputValue(), 'utc');
    assert.equal(await timeHeader(), 'Time (UTC)');
    assert.equal(await row(conn.uid).locator('td').first().textContent(), utcMilli(conn.ts));

    await page.getByTestId('zone').selectOption('local');
    await row(conn.uid).waitFor();
    assert.equal(await timeHeader(), 'Time (local)');
    assert.equal(await row(conn.uid).locator('td').first().textContent(), istMilli(conn.ts));

    // Kept in localStorage: a reload still shows local time.
    await page.reload();
    await row(conn.uid).waitFor();
    assert.equal(await page.getByTestId('zone').inputValue(), 'local');
    assert.equal(await row(conn.uid).locator('td').first().textContent(), istMilli(conn.ts));
  });

  it("shows the session's packet times and its application records' ts on the chosen clock", async () => {
    await page.goto(`${h.url}/session?uid=${conn.uid}`);
    const table = page.getByTestId('packets');
    await table.waitFor();
    assert.equal(await table.locator('thead th').nth(1).textContent(), 'Time (local)');
    assert.equal(await table.locator('tbody tr').first().locator('td').nth(1).textContent(), istMicro(conn.ts));
    assert.equal(await appTs('http').textContent(), istMicro(http.ts));
    // The raw epoch stays at hand as the tooltip.
    assert.equal(await appTs('http').getAttribute('title'), String(http.ts));

    await page.getByTestId('zone').selectOption('utc');
    await table.waitFor();
    assert.equal(await table.locator('thead th').nth(1).textContent(), 'Time (UTC)');
    assert.equal(await table.locator('tbody tr').first().locator('td').nth(1).textContent(), utcMicro(conn.ts));
    assert.equal(await appTs('http').textContent(), utcMicro(http.ts));
  });

  it('selects the same records for a From/To typed in local time as for its UTC equivalent, and queries in UTC', async () => {
    // A window inside the capture, in whole seconds: from the second connections first start in,
    // to the last such second (exclusive), so that records fall on both sides of it.
    const seconds = [...new Set(starts.map((t) => Math.floor(t)))].sort((x, y) => x - y);
    assert.ok(seconds.length >= 3, `distinct start seconds in pod-traffic: ${seconds.length}`);
    const fromSec = seconds[1];
    const toSec = seconds[seconds.length - 1];
    const fromIso = new Date(fromSec * 1000).toISOString();
    const toIso = new Date(toSec * 1000).toISOString();
    const q = `capture:${captureId}`;
    const api = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(q)}&from=${fromIso}&to=${toIso}&limit=1000`);
    assert.equal(api.status, 200, api.text);
    const want = (api.json.records as { uid: string }[]).map((r) => r.uid).sort();
    assert.ok(want.length > 0 && want.length < starts.length, `${want.length} of ${starts.length}`);

    /** The count the page says and the uids of the rows it shows (its first page), in its order. */
    const shown = async (): Promise<{ count: number; uids: string[] }> => {
      const url = new URL(page.url());
      const key = ['q', 'from', 'to'].map((k) => url.searchParams.get(k) ?? '').join('|');
      const status = page.locator(`[data-testid=result-count][data-for=${JSON.stringify(key)}]`);
      await status.waitFor();
      const m = /^([\d,]+) connections match/.exec((await status.textContent()) ?? '');
      assert.ok(m, `result count text: ${await status.textContent()}`);
      const uids = await page.locator('table.results tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-uid') ?? ''));
      return { count: Number(m[1].replace(/,/g, '')), uids };
    };
    const applyRange = async (from: string, to: string): Promise<void> => {
      const form = page.getByRole('form', { name: 'Time range' });
      await form.getByLabel('From').fill(from);
      await form.getByLabel('To').fill(to);
      await form.getByRole('button', { name: 'Apply range' }).click();
      await page.waitForURL((u) => u.searchParams.get('from') !== null && u.searchParams.get('to') !== null);
    };

    // Local: From with its offset, To as a bare wall-clock time, which local mode reads as local.
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(q)}`);
    await page.getByTestId('zone').selectOption('local');
    const localFrom = `${new Date(fromSec * 1000 + IST_MS).toISOString().slice(0, 19)}+05:30`;
    const localTo = new Date(toSec * 1000 + IST_MS).toISOString().slice(0, 19).replace('T', ' ');
    await applyRange(localFrom, localTo);
    let url = new URL(page.url());
    assert.equal(url.searchParams.get('from'), fromIso);
    assert.equal(url.searchParams.get('to'), toIso);
    const local = await shown();
    assert.equal(local.count, want.length);
    assert.ok(local.uids.length > 0 && local.uids.every((u) => want.includes(u)), 'rows outside the UTC window');
    // The histogram's caption and axis follow the clock too: the first bucket's start is the
    // window's start (whole seconds) with the offset, and the axis labels are local wall-clock times.
    const caption = page.locator('figure:has([data-testid=histogram]) figcaption');
    await page.locator('[data-testid=histogram][data-x-ticks]').waitFor();
    assert.match((await caption.textContent()) ?? '', / buckets from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+05:30\. /);
    const localTicks = ((await page.locator('[data-testid=histogram]').getAttribute('data-x-ticks')) ?? '').split('|');
    // The fields read the range back on the local clock, with the offset.
    const form = page.getByRole('form', { name: 'Time range' });
    assert.equal(await form.getByLabel('From').inputValue(), localFrom);
    assert.equal(await form.getByLabel('To').inputValue(), `${localTo.replace(' ', 'T')}+05:30`);

    // UTC: the same instants written in UTC select the same records.
    await page.goto(`${h.url}/connections?q=${encodeURIComponent(q)}`);
    await page.getByTestId('zone').selectOption('utc');
    await applyRange(fromIso.replace('.000Z', 'Z'), toIso.replace('.000Z', 'Z'));
    url = new URL(page.url());
    assert.equal(Date.parse(url.searchParams.get('from') ?? ''), fromSec * 1000);
    assert.equal(Date.parse(url.searchParams.get('to') ?? ''), toSec * 1000);
    const utc = await shown();
    await page.locator('[data-testid=histogram][data-x-ticks]').waitFor();
    assert.doesNotMatch((await caption.textContent()) ?? '', /\+05:30/);
    assert.match((await caption.textContent()) ?? '', / UTC\. /);
    const utcTicks = ((await page.locator('[data-testid=histogram]').getAttribute('data-x-ticks')) ?? '').split('|');
    // Each axis label, read on its own clock (local as +05:30, UTC as Z), is an instant inside the
    // chart's range: a UTC label shown in local mode would read five and a half hours off.
    const instant = (label: string, zone: string): number => Date.parse(`${label.replace(' ', 'T')}${zone}`) / 1000;
    for (const [ticks, zone] of [
      [localTicks, '+05:30'],
      [utcTicks, 'Z'],
    ] as const) {
      assert.ok(ticks.length > 0);
      for (const t of ticks) {
        const sec = instant(t, zone);
        assert.ok(sec >= fromSec - 1 && sec <= toSec + 1, `axis label ${t} (${zone}) outside ${fromIso}..${toIso}`);
      }
    }
    assert.equal(utc.count, want.length);
    assert.deepEqual(utc.uids, local.uids);
    assert.deepEqual(problems, []);
  });
});
