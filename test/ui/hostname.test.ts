/**
 * The UI served over plain HTTP under a name that is not localhost (as docker-compose serves it
 * on :8080): Chromium resolves `eastwatch.test` to the loopback address, so the page is an
 * ordinary insecure origin. A CSP with `upgrade-insecure-requests` makes the browser ask for its
 * scripts over https there, and the page stays blank; the login form must render instead.
 */
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../service/harness';
import { launch, requireBrowser, type Browser } from './browser';

describe('web UI over plain HTTP under a hostname', function () {
  this.timeout(120_000);
  let h: Harness;
  let browser: Browser;

  before(async function () {
    requireBrowser(this);
    h = await startHarness({ mode: 'local' });
    browser = await launch(['--host-resolver-rules=MAP eastwatch.test 127.0.0.1']);
  });
  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('renders the login form with every asset over http', async () => {
    const port = new URL(h.url).port;
    const page = await browser.context.newPage();
    const failed: string[] = [];
    const https: string[] = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on('request', (r) => {
      if (r.url().startsWith('https:')) https.push(r.url());
    });
    const res = await page.goto(`http://eastwatch.test:${port}/connections`);
    assert.equal(res?.status(), 200);
    await page.getByLabel('API key').waitFor({ timeout: 15_000 });
    assert.deepEqual(https, []);
    assert.deepEqual(failed, []);
    assert.doesNotMatch(res?.headers()['content-security-policy'] ?? '', /upgrade-insecure-requests/);
    await page.close();
  });
});
