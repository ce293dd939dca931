/** `eastwatch keys` and `eastwatch serve` as a user runs them: real processes. */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const MAIN = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');

function run(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('service command line', function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-cli-svc-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates, lists and revokes keys; the file holds hashes, never the key', () => {
    const c = run(['keys', 'create', '--name', 'ci', '--role', 'ingest', '--data-dir', dir]);
    assert.equal(c.code, 0, c.err);
    const token = c.out.trim();
    assert.match(token, /^ew_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const file = fs.readFileSync(path.join(dir, 'api-keys.json'), 'utf8');
    assert.ok(!file.includes(token.slice(16)), 'the secret is not stored');
    assert.equal((fs.statSync(path.join(dir, 'api-keys.json')).mode & 0o777).toString(8), '600');
    const id = token.slice(3, 15);
    assert.match(run(['keys', 'list', '--data-dir', dir]).out, new RegExp(`^${id}\\tingest\\tci\\tcreated `));
    assert.equal(run(['keys', 'revoke', id, '--data-dir', dir]).code, 0);
    assert.match(run(['keys', 'list', '--data-dir', dir]).out, /\trevoked /);
    assert.equal(run(['keys', 'revoke', id, '--data-dir', dir]).code, 1);
    const bad = run(['keys', 'create', '--name', 'x', '--role', 'root', '--data-dir', dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /Allowed choices are ingest, analyst, admin/);
  });

  it('creates cluster-scoped keys (--clusters, cluster/namespace) and refuses bad names', () => {
    const c = run(['keys', 'create', '--name', 'east', '--role', 'analyst', '--clusters', 'east, west', '--namespaces', 'east/shop', '--data-dir', dir]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.err, /scoped to namespaces east\/shop; clusters east, west/);
    const id = c.out.trim().slice(3, 15);
    assert.match(
      run(['keys', 'list', '--data-dir', dir]).out,
      new RegExp(`^${id}\\tanalyst\\teast\\tcreated \\S+\\tnamespaces east/shop; clusters east, west$`, 'm'),
    );
    const bad = run(['keys', 'create', '--name', 'x', '--role', 'analyst', '--clusters', 'East_1', '--data-dir', dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /clusters\.0: a cluster name/);
    const admin = run(['keys', 'create', '--name', 'x', '--role', 'admin', '--clusters', 'east', '--data-dir', dir]);
    assert.equal(admin.code, 2);
    assert.match(admin.err, /admin key cannot be namespace- or cluster-scoped/);
  });

  it('refuses a bad configuration with the setting and its source', () => {
    const r = run(['serve', '--data-dir', dir], { EASTWATCH_PORT: 'eighty', REDIS_URL: 'not a url' });
    assert.equal(r.code, 2);
    assert.match(r.err, /\$EASTWATCH_PORT: Expected number/);
    assert.match(r.err, /\$REDIS_URL: Invalid url/);
  });

  it('serve runs on the embedded default, answers, and stops cleanly on SIGTERM', async () => {
    const key = run(['keys', 'create', '--name', 'ops', '--role', 'admin', '--data-dir', dir]).out.trim();
    const env = { ...process.env, EASTWATCH_PORT: '0', REDIS_URL: '', ES_URL: '' };
    const child = spawn(process.execPath, [MAIN, 'serve', '--data-dir', dir], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no start: ${err}`)), 20_000);
      child.stderr.on('data', () => {
        const m = /eastwatch (http:\/\/[^:]+:\d+):/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
    });
    assert.match(err, /store SQLite in .*, queue in-process; running workers/);
    const who = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(who.status, 200);
    assert.equal(((await who.json()) as { key: { role: string } }).key.role, 'admin');
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    assert.equal(code, 0, err);
    assert.match(err, /SIGTERM: stopping/);
  });
});
