/**
 * The evaluation as a regression test: the generated cluster traffic of family A (the one the
 * thresholds were developed on) and family B (other rates, intervals, jitter, sizes and attacks),
 * each through the analyze pipeline and through the Hubble flow parser (flows as Cilium emits them
 * by default, with monitor aggregation, and one event per packet), scored on evidence (an
 * alert counts only if its evidence holds a labelled connection, duplicates are false);
 * precision/recall per detector at or above per-detector floors, no alert on the benign
 * surprises, the learning window stated and under a fifth of the data; the `analyze --alerts`
 * path; snapshot/restore equivalence on the real record stream.
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
import type { DetectorScore } from '../../bench/eval/score';
import { CLEAN_PERIOD, EVAL_LOCAL_NETS, runEval, seedsOf, type EvalResult } from '../../bench/eval/run';
import { FLOORS, INPUTS, MAX_FALSE_PER_10K, SILENT, UNOBSERVABLE_IN_THE_HOUR } from '../../bench/eval/gate';
import { analyzerFactory } from '../../src/analyze/app';
import { analyzeFile } from '../../src/analyze/pipeline';
import { runAnalyze } from '../../src/cli/analyze';
import type { ConnRecord } from '../../parsers/record/conn';
import { InventoryStore } from '../../src/k8s/inventory';
import { loadInventoryFiles } from '../../src/k8s/load';
import { K8sResolver } from '../../src/k8s/resolver';
import type { AppInput, AppRecordOut } from '../../parsers/record/app';

/*
 * Seeds 2-5 of each family are gated by `npm run eval` (run.js --seeds 5 --gate, the same floors from
 * bench/eval/gate.ts), not here: they take about 15 minutes on this machine, and two 1-hour cuts
 * still miss a beacon there (bench/eval/README.md), which this suite would otherwise hide or fail on.
 */
describe('detectors: evaluation on generated cluster traffic', function () {
  this.timeout(600_000);
  let dir: string;
  let r: EvalResult;
  let held: EvalResult;
  /** The hour from 3 h to 4 h as a capture of its own, with a baseline from the clean first half hour. */
  let cutA: EvalResult;
  let cutB: EvalResult;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-eval-'));
    r = await runEval(dir, undefined, 'A', undefined, { packets: true });
    held = await runEval(path.join(dir, 'B'), seedsOf('B', 1)[0], 'B', undefined, { packets: true });
    cutA = await runEval(dir, undefined, 'A', [3 * 3600, 4 * 3600], { clean: CLEAN_PERIOD, full: r.data, packets: true });
    cutB = await runEval(path.join(dir, 'B'), seedsOf('B', 1)[0], 'B', [3 * 3600, 4 * 3600], { clean: CLEAN_PERIOD, full: held.data, packets: true });
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('aggregated Hubble is what Cilium emits by default: far fewer events than packets, the same connections', () => {
    for (const res of [r, held]) {
      assert.ok(res.data.hubbleEvents < res.data.hubblePacketEvents * 0.6, `${res.data.hubbleEvents} of ${res.data.hubblePacketEvents} events`);
      assert.ok(res.hubble.connections === res.hubblePackets?.connections, 'the same connections either way');
    }
  });

  for (const fam of ['A', 'B'] as const)
    for (const input of INPUTS) {
      it(`family ${fam}, ${input}: per-detector recall and precision at their floors, no alert on the benign surprises, the learning window stated`, () => {
        const res = fam === 'A' ? r : held;
        const s = res[input];
        assert.ok(s !== undefined, `${input} was run`);
        assert.ok(res.data.labels.length >= 40, `labels: ${res.data.labels.length}`);
        assert.ok(
          res.data.labels.every((l) => l.records.length > 0),
          'every label names its connections',
        );
        for (const d of DETECTOR_NAMES) {
          const x: DetectorScore = s.perDetector[d];
          const [minRecall, minPrecision] = FLOORS[d];
          assert.ok(x.labels >= 3, `${d}: ${x.labels} labels`);
          if (SILENT[input].includes(d)) {
            assert.equal(x.alerts, 0, `${fam} ${input} ${d} cannot judge this input and must not alert`);
            continue;
          }
          assert.ok(x.recall >= minRecall, `${fam} ${input} ${d}: recall ${x.recall}; missed ${JSON.stringify(s.missed.filter((l) => l.detector === d))}`);
          assert.ok(
            x.precision >= minPrecision,
            `${fam} ${input} ${d}: precision ${x.precision}; false ${JSON.stringify(s.false.filter((a) => a.detector === d).map((a) => a.title))}`,
          );
        }
        assert.equal(s.surpriseAlerts, 0);
        assert.ok(s.falsePer10k <= MAX_FALSE_PER_10K, `false alerts per 10k benign connections: ${s.falsePer10k}`);
        assert.ok(s.benign > 15_000, `benign connections: ${s.benign}`);
        assert.equal(s.learning.seconds, 3600);
        assert.ok(s.learning.covered_share > 0.15 && s.learning.covered_share < 0.2, `learning covered ${s.learning.covered_share}`);
        assert.equal(s.learning.warning, undefined);
      });
    }

  for (const fam of ['A', 'B'] as const)
    for (const input of INPUTS) {
      it(`family ${fam}, ${input}, a 1-hour cut with a baseline from a clean period: every observable label found, precision at the floors, at most 1 false alert per 10k benign connections`, () => {
        const s = (fam === 'A' ? cutA : cutB)[input];
        assert.ok(s !== undefined, `${input} was run`);
        assert.equal(s.learning.baseline, true);
        const missed = s.missed
          .filter((l) => !SILENT[input].includes(l.detector))
          .map((l) => `${l.detector} ${l.what}`)
          .sort();
        assert.deepEqual(
          missed.filter((m) => !UNOBSERVABLE_IN_THE_HOUR[fam].includes(m)),
          [],
          `missed: ${missed.join('; ')}`,
        );
        for (const d of DETECTOR_NAMES) {
          const x: DetectorScore = s.perDetector[d];
          if (SILENT[input].includes(d)) assert.equal(x.alerts, 0, `${fam} ${input} 1 h ${d} cannot judge this input and must not alert`);
          // A detector with no alert has no precision to judge (score.ts calls it 0 when it had labels).
          assert.ok(
            x.alerts === 0 || x.precision >= FLOORS[d][1],
            `${fam} ${input} 1 h ${d}: precision ${x.precision}; false ${JSON.stringify(s.false.filter((a) => a.detector === d).map((a) => a.title))}`,
          );
        }
        assert.equal(s.surpriseAlerts, 0);
        assert.ok(
          s.falsePer10k <= MAX_FALSE_PER_10K,
          `1 h: false alerts per 10k benign connections: ${s.falsePer10k}; ${s.false.map((a) => a.title).join('; ')}`,
        );
        assert.ok(s.benign > 3000, `benign connections: ${s.benign}`);
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
        localNets: [...EVAL_LOCAL_NETS],
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
    const resolver = new K8sResolver(loadInventoryFiles([r.data.inventory], new InventoryStore()), { policies: 'inventory', localNets: EVAL_LOCAL_NETS });
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
