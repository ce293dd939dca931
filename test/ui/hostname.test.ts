/**
 * The UI served over plain HTTP under a name that is not localhost (as docker-compose serves it
 * on :8080): Chromium resolves `eastwatch.test` to the loopback address, so the page is an
 * ordinary insecure origin. A CSP with `upgrade-insecure-requests` makes the browser ask for its
 * scripts over https there, and the page stays blank; the login form must render instead. And
 * the same over TLS served by eastwatch itself (`serve --tls-cert/--tls-key`), no proxy.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
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

  it('serves the UI and the API over TLS with --tls-cert/--tls-key', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-tls-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=eastwatch.test',
        '-addext',
        'subjectAltName=DNS:eastwatch.test',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const t = await startHarness({ mode: 'local', env: { EASTWATCH_TLS_CERT: cert, EASTWATCH_TLS_KEY: key } });
    const tlsBrowser = await launch(['--host-resolver-rules=MAP eastwatch.test 127.0.0.1', '--ignore-certificate-errors']);
    try {
      assert.match(t.url, /^https:\/\//);
      const port = new URL(t.url).port;
      // The API, with the certificate as the only trusted root.
      const whoami = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        https
          .get(
            {
              host: '127.0.0.1',
              servername: 'eastwatch.test',
              port,
              path: '/api/v1/whoami',
              ca: fs.readFileSync(cert),
              headers: { authorization: `Bearer ${t.keys.analyst}` },
            },
            (res) => {
              let body = '';
              res.on('data', (c: Buffer) => {
                body += c.toString();
              });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            },
          )
          .on('error', reject);
      });
      assert.equal(whoami.status, 200, whoami.body);
      assert.equal(JSON.parse(whoami.body).key.name, 'test-analyst');
      const page = await tlsBrowser.context.newPage();
      const failed: string[] = [];
      page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
      const res = await page.goto(`https://eastwatch.test:${port}/connections`);
      assert.equal(res?.status(), 200);
      await page.getByLabel('API key').waitFor({ timeout: 15_000 });
      assert.deepEqual(failed, []);
    } finally {
      await tlsBrowser.close();
      await t.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
