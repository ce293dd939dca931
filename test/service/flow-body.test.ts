/**
 * How flow logs arrive over HTTP beyond a plain POST: `curl -T -` (a PUT of a pipe, as the README
 * shows for `hubble observe`), and gzip bodies (`Content-Encoding: gzip`, as log shippers send),
 * with the request limit holding for the inflated body too. A real curl and a real service
 * (embedded store, in-process queue) with a 1 MiB flow request limit.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { type Harness, sample, startHarness } from './harness';

const LIMIT = 1024 * 1024;

describe('service: flow request bodies (PUT, gzip)', function () {
  this.timeout(120_000);
  let h: Harness;
  const vpc = fs.readFileSync(sample('flows/vpc-default.log'), 'utf8');
  // NODATA and SKIPDATA lines say an interface had nothing to log: lines, but not records.
  const vpcLines = vpc.split('\n').filter((l) => l.trim() !== '').length;
  const vpcRecords = vpc.split('\n').filter((l) => / OK$/.test(l)).length;

  before(async () => {
    h = await startHarness({ mode: 'local', env: { EASTWATCH_MAX_FLOW_REQUEST_BYTES: String(LIMIT) } });
  });
  after(() => h?.stop());

  it('takes `curl -T -` (PUT from standard input) as it takes POST', async function () {
    if (spawnSync('sh', ['-c', 'command -v curl']).status !== 0) {
      if (process.env.CI === 'true') throw new Error('CI: curl is missing');
      this.skip();
    }
    // Not spawnSync: the service runs in this process and must go on answering while curl waits.
    const curl = spawn(
      'curl',
      [
        '-sS',
        '-H',
        `Authorization: Bearer ${h.keys.ingest}`,
        '-T',
        '-',
        `${h.url}/api/v1/flows?format=aws-vpc&wait=true&source=curl-put`,
        '-w',
        '\n%{http_code}',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    curl.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    curl.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    curl.stdin.end(vpc);
    const status = await new Promise<number | null>((resolve) => curl.on('close', resolve));
    assert.equal(status, 0, err);
    const [body, code] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
    assert.equal(code, '202', body);
    const json = JSON.parse(body);
    assert.equal(json.format, 'aws-vpc');
    assert.equal(vpcRecords, 2, 'the sample holds two flow records');
    assert.equal(json.lines, vpcLines);
    assert.equal(json.records, vpcRecords);
    assert.equal(json.rejected, 0);
    assert.equal(json.stored.written + json.stored.stale, vpcRecords);
  });

  it('inflates a gzip body to the same records as the plain one', async () => {
    const plain = await h.call('POST', '/api/v1/flows?format=aws-vpc&wait=true&source=plain', { key: h.keys.ingest, body: vpc });
    const gz = await h.call('POST', '/api/v1/flows?format=aws-vpc&wait=true&source=gz', {
      key: h.keys.ingest,
      body: zlib.gzipSync(vpc),
      headers: { 'content-encoding': 'gzip' },
    });
    assert.equal(plain.status, 202, plain.text);
    assert.equal(gz.status, 202, gz.text);
    assert.equal(gz.json.records, vpcRecords);
    assert.equal(plain.json.records, vpcRecords);
    assert.equal(gz.json.lines, plain.json.lines);
    assert.deepEqual(gz.json.errors, []);
  });

  it('stops a gzip body that inflates past the limit with 413, and says so', async () => {
    // 4 MiB of flow-like lines compress to a few KiB: under the limit on the wire, over it inflated.
    const line = vpc.split('\n')[1];
    const big = zlib.gzipSync(`${`${line}\n`.repeat(Math.ceil((4 * LIMIT) / (line.length + 1)))}`);
    assert.ok(big.length < LIMIT / 4, `${big.length} compressed bytes`);
    const r = await h.call('POST', '/api/v1/flows?format=aws-vpc', { key: h.keys.ingest, body: big, headers: { 'content-encoding': 'gzip' } });
    assert.equal(r.status, 413, r.text);
    assert.match(r.json.error, /larger than the 1048576-byte limit/);
  });

  it('stops reading a body after 10,000 rejected lines: 400, with the records kept and where to resume', async () => {
    // Half a MiB of lines that are not flow records, after a good file: each costs the event loop
    // a few microseconds, so the server stops reading them at the bound (the default) instead.
    const bad = 60_000;
    const body = `${vpc.endsWith('\n') ? vpc : `${vpc}\n`}${'{"ts":1}\n'.repeat(bad)}`;
    assert.ok(body.length < LIMIT, `${body.length} bytes: under the request limit`);
    const r = await h.call('POST', '/api/v1/flows?format=aws-vpc', { key: h.keys.ingest, body });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /more than 10000 lines of the request were rejected: the rest of the body was not read/);
    assert.equal(r.json.records, vpcRecords, 'the good lines before the bad ones were queued');
    assert.ok(r.json.rejected >= 10_000, `${r.json.rejected} rejected`);
    assert.ok(r.json.linesRead < vpcLines + bad / 2, `${r.json.linesRead} lines read of ${vpcLines + bad}`);
    assert.equal(r.json.resumeAtLine, r.json.linesRead + 1);
    assert.ok(r.json.jobs.length > 0);
  });

  it('answers a corrupt gzip body with 400 naming the fault, and an unknown encoding with 415', async () => {
    const gz = zlib.gzipSync(vpc);
    const corrupt = Buffer.concat([gz.subarray(0, 10), Buffer.from('this is not deflate data at all'), gz.subarray(40)]);
    const r = await h.call('POST', '/api/v1/flows?format=aws-vpc', { key: h.keys.ingest, body: corrupt, headers: { 'content-encoding': 'gzip' } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /gzip body cannot be decompressed/);
    const br = await h.call('POST', '/api/v1/flows?format=aws-vpc', {
      key: h.keys.ingest,
      body: zlib.brotliCompressSync(vpc),
      headers: { 'content-encoding': 'br' },
    });
    assert.equal(br.status, 415, br.text);
    assert.match(br.json.error, /Content-Encoding br is not supported/);
  });
});
