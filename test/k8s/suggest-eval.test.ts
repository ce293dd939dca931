/**
 * The policy advisor on the generated evaluation traffic (bench/eval): policies suggested from
 * the benign connections allow every benign connection and deny every injected one that a
 * NetworkPolicy can tell apart from benign traffic; the injected connections it lets through are
 * exactly those on edges benign traffic also uses (DNS tunnels to kube-dns, exfiltration to the
 * backup endpoint, lateral movement on existing service edges), which no L3/L4 policy can deny.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evalSuggest, type EvalSuggest } from '../../bench/eval/suggest';
import { parseK8sText } from '../../src/k8s/load';
import { parseObjects } from '../../src/k8s/schema';
import { suggestionYaml } from '../../src/k8s/suggest';

describe('k8s: policy suggest on the generated evaluation traffic', function () {
  this.timeout(180_000);
  let dir: string;
  let r: EvalSuggest;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-eval-suggest-'));
    r = await evalSuggest(dir);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('allows every benign connection and denies every injected one on an edge benign traffic does not use', () => {
    assert.equal(r.report.verification.ok, true, JSON.stringify(r.report.verification));
    assert.ok(r.benign > 10_000, `${r.benign} benign connections`);
    assert.equal(r.benignDenied, 0, r.text);
    assert.ok(r.deniable > 1000, r.text);
    assert.equal(r.injectedDenied, r.deniable, r.text);
    assert.deepEqual([...r.leaks], [], r.text);
    assert.equal(r.injectedOutside, 0, r.text);
  });

  it('what it lets through is on benign edges only: DNS to kube-dns, the backup endpoint, existing service edges', () => {
    for (const e of r.onBenignEdge.keys()) {
      assert.match(e, /kube-system\/service:kube-dns:53\/udp$|external:[0-9.]+:443\/tcp$|\/service:[a-z]+:[0-9]+\/tcp$/, e);
    }
    const dns = [...r.onBenignEdge].filter(([e]) => e.endsWith('kube-dns:53/udp')).reduce((n, [, c]) => n + c, 0);
    assert.ok(dns > 0.9 * [...r.onBenignEdge.values()].reduce((a, b) => a + b, 0), r.text);
  });

  it('the YAML parses back into the same number of NetworkPolicies', () => {
    const objs = parseObjects(parseK8sText(suggestionYaml(r.report), 'eval.yaml'), 'eval.yaml').objects;
    assert.equal(objs.length, r.report.policies.length);
    assert.ok(objs.length >= 5 && objs.every((o) => o.kind === 'NetworkPolicy'));
  });
});
