/**
 * `eastwatch capture` refusing to start, as users meet it: no tcpdump, no such interface, a
 * filter tcpdump refuses, no permission to capture, --to without a key. Each says what to do and
 * writes nothing to stdout. The cases that need a capture to open run only as root.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'eastwatch.js');

function capture(args: string[], env: NodeJS.ProcessEnv = process.env, wrap: string[] = []): { code: number; stdout: string; stderr: string } {
  const cmd = wrap.length > 0 ? wrap[0] : process.execPath;
  const argv = wrap.length > 0 ? [...wrap.slice(1), process.execPath, BIN, 'capture', ...args] : [BIN, 'capture', ...args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function requireRoot(ctx: Mocha.Context): void {
  if (isRoot) return;
  if (process.env.CI === 'true') throw new Error('these capture tests need root (CI runs them as root)');
  console.warn('      skipped: opening a capture needs root');
  ctx.skip();
}

describe('eastwatch capture: errors before capturing', () => {
  it('says tcpdump is missing when it is not on PATH', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-nopath-'));
    try {
      const r = capture(['-i', 'lo'], { ...process.env, PATH: empty });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /tcpdump was not found on PATH: install it \(apt-get install tcpdump\) or give its path with --tcpdump/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('names a missing interface and lists the ones there are', function () {
    if (!fs.existsSync('/sys/class/net/lo')) this.skip();
    const r = capture(['-i', 'nosuch0']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no interface named nosuch0 in this network namespace \(there are: .*\blo\b/);
  });

  it('needs a key with --to', () => {
    const r = capture(['-i', 'lo', '--to', 'http://127.0.0.1:9'], { ...process.env, EASTWATCH_KEY: '' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--to needs an API key with the ingest role/);
  });

  it('reports the filter tcpdump refuses', function () {
    requireRoot(this);
    const r = capture(['-i', 'lo', '--filter', 'port nonsense']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /tcpdump rejected the filter "port nonsense": unknown port 'nonsense'/);
  });

  it('says how to grant tcpdump the capture permission when it lacks it', function () {
    requireRoot(this);
    if (spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0) this.skip();
    // Run as nobody: the same tcpdump without the capabilities to open a packet socket.
    const r = capture(['-i', 'lo'], process.env, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /tcpdump may not capture on lo .*run eastwatch as root, or grant tcpdump the capabilities: setcap cap_net_raw,cap_net_admin=eip \/.*tcpdump/,
    );
  });
});
