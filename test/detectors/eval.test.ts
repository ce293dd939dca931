/**
 * The evaluation as a regression test: the generated cluster traffic through the analyze pipeline
 * and through the Hubble flow parser, precision/recall per detector above thresholds a little
 * below what was measured (1.0 everywhere, seed 0x5eed7), no alert on the benign surprises; the
 * `analyze --alerts` path; snapshot/restore equivalence on the real record stream.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import type { Alert } from '../../detectors/contract/alert';
import { addDetectorOptions } from '../../src/cli/detectors';
import { identifyWith } from '../../src/k8s/identify';
import { DETECTOR_NAMES } from '../../detectors/config';
import { DetectorEngine } from '../../detectors/engine';
import { runEval, type EvalResult } from '../../bench/eval/run';
import { analyzerFactory } from '../../src/analyze/app';
import { analyzeFile } from '../../src/analyze/pipeline';
import { runAnalyze } from '../../src/cli/analyze';
import type { ConnRecord } from '../../parsers/record/conn';
import { InventoryStore } from '../../src/k8s/inventory';
import { loadInventoryFiles } from '../../src/k8s/load';
import { K8sResolver } from '../../src/k8s/resolver';
import type { AppInput, AppRecordOut } from '../../parsers/record/app';

const MIN_RECALL = 0.95;
const MIN_PRECISION = 0.9;
/** Measured 0 false alerts per 10k benign connections on both inputs. */
const MAX_FALSE_PER_10K = 1;

describe('detectors: evaluation on generated cluster traffic', function () {
  this.timeout(180_000);
  let dir: string;
  let r: EvalResult;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-eval-'));
    r = await runEval(dir);
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const input of ['capture', 'hubble'] as const) {
    it(`${input}: precision >= ${MIN_PRECISION} and recall >= ${MIN_RECALL} for every detector, no alert on the benign surprises`, () => {
      const s = r[input];
      assert.ok(r.data.labels.length >= 40, `labels: ${r.data.labels.length}`);
      for (const d of DETECTOR_NAMES) {
        const x = s.perDetector[d];
        assert.ok(x.labels >= 3, `${d}: ${x.labels} labels`);
        assert.ok(x.recall >= MIN_RECALL, `${input} ${d}: recall ${x.recall}; missed ${JSON.stringify(s.missed.filter((l) => l.detector === d))}`);
        assert.ok(
          x.precision >= MIN_PRECISION,
          `${input} ${d}: precision ${x.precision}; false ${JSON.stringify(s.false.filter((a) => a.detector === d).map((a) => a.title))}`,
        );
      }
      assert.equal(s.surpriseAlerts, 0);
      assert.ok(s.falsePer10k <= MAX_FALSE_PER_10K, `false alerts per 10k benign connections: ${s.falsePer10k}`);
      assert.ok(s.benign > 15_000, `benign connections: ${s.benign}`);
    });
  }

  it('analyze --alerts writes the same alerts as the evaluation run, and prints them in a table', async () => {
    const alertsFile = path.join(dir, 'cli-alerts.ndjson');
    const out = path.join(dir, 'conn.ndjson');
    const printed: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string | Uint8Array) => {
      printed.push(String(s));
      return true;
    }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await runAnalyze([r.data.pcap], {
        format: 'ndjson',
        out,
        reader: 'native',
        summary: true,
        progress: false,
        inventory: [r.data.inventory],
        alerts: alertsFile,
        saveBaseline: path.join(dir, 'baseline.json'),
      });
    } finally {
      process.stdout.write = write;
    }
    assert.equal(code, 0);
    const cli = fs
      .readFileSync(alertsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Alert);
    const evalIds = new Set(
      fs
        .readFileSync(path.join(dir, 'alerts-capture.ndjson'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Alert).id),
    );
    assert.deepEqual(new Set(cli.map((a) => a.id)), evalIds);
    const text = printed.join('');
    assert.match(text, new RegExp(`alerts: ${cli.length} \\(`));
    assert.match(text, /│ severity +│ detector +│ score +│ count +│ source +│ destination/);
    assert.match(text, /│ high +│ beacon +│ 1\.00 +│ 1 +│ shop\/worker +│ cdn-update\.example\.net +│ 2026-01-15T0[12]:[0-5]\d:[0-5]\dZ/);
    const baseline = JSON.parse(fs.readFileSync(path.join(dir, 'baseline.json'), 'utf8')) as { edges: string[]; sensitive: string[] };
    assert.ok(baseline.edges.includes('shop/frontend|svc:shop/api|tcp/80'));
    assert.ok(baseline.sensitive.includes('monitoring/prometheus|kubelet'));
  });

  it('analyze options: --detectors checks names, --no-detectors turns them off', () => {
    const parse = (argv: string[]) =>
      addDetectorOptions(new Command().exitOverride().configureOutput({ writeErr: () => undefined }))
        .parse(argv, { from: 'user' })
        .opts();
    assert.equal(parse(['--detectors', 'scan,beacon']).detectors, 'scan,beacon');
    assert.equal(parse(['--no-detectors']).detectors, false);
    assert.throws(() => parse(['--detectors', 'scan,nope']), /unknown detector "nope"/);
  });

  it('snapshot/restore on the capture stream: half, snapshot, fresh engine, the rest == all at once', async () => {
    const resolver = new K8sResolver(loadInventoryFiles([r.data.inventory], new InventoryStore()), { policies: 'inventory' });
    const events: ({ conn: ConnRecord } | { app: AppRecordOut })[] = [];
    await analyzeFile(r.data.pcap, (c) => events.push({ conn: c }), {
      tracker: { payload: analyzerFactory((a) => events.push({ app: a })) },
      enrich: resolver.enrich,
    });
    const feed = (e: DetectorEngine, from: number, to: number) => {
      for (const ev of events.slice(from, to)) {
        if ('conn' in ev) e.observe(ev.conn);
        else e.observeApp(ev.app as AppInput & AppRecordOut);
      }
    };
    const opts = { identify: identifyWith(resolver) };
    const all = new DetectorEngine(opts);
    feed(all, 0, events.length);
    all.flush();
    const half = Math.floor(events.length / 2);
    const a = new DetectorEngine(opts);
    feed(a, 0, half);
    const state = JSON.stringify(a.snapshot());
    const b = new DetectorEngine(opts);
    b.restore(JSON.parse(state));
    feed(b, half, events.length);
    b.flush();
    assert.ok(all.alerts().length >= 40);
    assert.deepEqual(b.alerts(), all.alerts());
    assert.ok(state.length < 20_000_000, `state ${state.length} bytes`);
  });
});
