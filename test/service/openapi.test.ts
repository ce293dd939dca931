/**
 * The OpenAPI document as a running service serves it, linted by Redocly CLI with the
 * repository's redocly.yaml (recommended-strict: warnings fail too): no problem at all, an
 * operationId on every operation, unique, and the license of package.json. The same check as
 * `npm run lint:openapi`, inside the test suite.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fetchOpenApi } from '../../src/service/openapi-export';
import { REPO } from './harness';

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
}

function redocly(file: string): Promise<{ code: number; report: LintReport }> {
  const bin = path.join(REPO, 'node_modules', '.bin', 'redocly');
  return new Promise((resolve, reject) => {
    execFile(bin, ['lint', '--config', path.join(REPO, 'redocly.yaml'), '--format=json', file], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      const start = stdout.indexOf('{');
      if (start < 0) {
        reject(new Error(`redocly lint printed no report (exit ${code}): ${stderr.slice(-2000)}`));
        return;
      }
      resolve({ code, report: JSON.parse(stdout.slice(start)) as LintReport });
    });
  });
}

type Operation = { operationId?: string };

describe('service: the OpenAPI document', function () {
  this.timeout(120_000);
  let doc: Record<string, unknown>;
  let dir: string;
  before(async () => {
    doc = await fetchOpenApi();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-openapi-test-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('has an operationId on every operation, each unique, and the license of package.json', () => {
    const ops = Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([p, byMethod]) =>
      Object.entries(byMethod).map(([m, o]) => ({ where: `${m.toUpperCase()} ${p}`, id: o.operationId })),
    );
    assert.ok(ops.length >= 30, `${ops.length} operations`);
    assert.deepEqual(
      ops.filter((o) => typeof o.id !== 'string' || o.id === '').map((o) => o.where),
      [],
    );
    const ids = ops.map((o) => o.id as string);
    assert.equal(new Set(ids).size, ids.length, 'duplicate operationIds');
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { license: string };
    assert.equal((doc.info as { license: { name: string } }).license.name, pkg.license);
  });

  it('lints clean with Redocly (recommended-strict: no errors, no warnings)', async () => {
    const file = path.join(dir, 'openapi.json');
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));
    const { code, report } = await redocly(file);
    assert.deepEqual(
      report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`),
      [],
    );
    assert.deepEqual(report.totals, { errors: 0, warnings: 0, ignored: 0 });
    assert.equal(code, 0);
  });

  it('the linter finds a missing operationId and license (the check can fail)', async () => {
    const bad = JSON.parse(JSON.stringify(doc)) as { info: { license?: unknown }; paths: Record<string, Record<string, Operation>> };
    delete bad.info.license;
    delete bad.paths['/api/v1/pcap'].get.operationId;
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify(bad));
    const { code, report } = await redocly(file);
    assert.deepEqual(report.problems.map((p) => p.ruleId).sort(), ['info-license', 'operation-operationId']);
    assert.notEqual(code, 0);
  });
});
