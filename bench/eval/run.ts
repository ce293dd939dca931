/**
 * `npm run eval`: generates the labelled cluster traffic, runs the detectors over the capture
 * (through the analyze pipeline: capture reader, decoder, connection tracker, protocol analyzers,
 * Kubernetes resolver with the generated inventory) and over the Hubble flows (flow parser, the
 * resolver's policy verdicts, the L7 DNS events), and prints precision and recall per detector,
 * false alerts per 10k benign connections, and alerts raised on the benign surprises.
 *
 *   node dist/bench/eval/run.js [--dir DIR] [--seed N] [--json]
 *
 * Without --dir the data (about 250 MB) goes to a temporary directory removed afterwards; with it,
 * the capture, flows, inventory, labels and both runs' alerts stay there for inspection.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { InventoryStore } from '../../src/k8s/inventory';
import { loadInventoryFiles } from '../../src/k8s/load';
import { K8sResolver } from '../../src/k8s/resolver';
import { parseFlows } from '../../parsers/flows';
import type { Alert } from '../../detectors/contract/alert';
import { identifyWith } from '../../src/k8s/identify';
import { DETECTOR_NAMES, defaultDetectorConfig, type DetectorConfig } from '../../detectors/config';
import { DetectorEngine } from '../../detectors/engine';
import { hubbleDns } from '../../parsers/flows/hubble-dns';
import { DEFAULT_SEED, generateEval, type EvalData } from './generate';
import { score, type EvalScore, type InputRun } from './score';

export interface EvalResult {
  data: EvalData;
  capture: EvalScore;
  hubble: EvalScore;
}

function resolverFor(data: EvalData): K8sResolver {
  return new K8sResolver(loadInventoryFiles([data.inventory], new InventoryStore()), { policies: 'inventory' });
}

export async function runCapture(data: EvalData, config: DetectorConfig = defaultDetectorConfig()): Promise<InputRun> {
  const resolver = resolverFor(data);
  const engine = new DetectorEngine({ config, identify: identifyWith(resolver) });
  const records: ConnRecord[] = [];
  const res = await analyzeFile(
    data.pcap,
    (r) => {
      engine.observe(r);
      if (!r.interim) records.push(stripForScore(r));
    },
    { tracker: { payload: analyzerFactory((a) => engine.observeApp(a)) }, enrich: resolver.enrich },
  );
  if (res.error) throw res.error;
  engine.flush();
  return { alerts: engine.alerts(), records };
}

export async function runHubble(data: EvalData, config: DetectorConfig = defaultDetectorConfig()): Promise<InputRun> {
  const resolver = resolverFor(data);
  const engine = new DetectorEngine({ config });
  const records: ConnRecord[] = [];
  // One pass: each chunk's DNS events reach the detectors before the parser sees the chunk, so a
  // lookup is known before the connection it was for (the parser emits connections when they end).
  async function* chunks(): AsyncGenerator<Buffer> {
    let rest = '';
    for await (const c of fs.createReadStream(data.hubble, { highWaterMark: 1 << 16 })) {
      const text = rest + (c as Buffer).toString('utf8');
      const cut = text.lastIndexOf('\n') + 1;
      rest = text.slice(cut);
      const whole = text.slice(0, cut);
      for (const line of whole.split('\n')) {
        const d = hubbleDns(line);
        if (d !== null) engine.observeAppWith(d.rec, d.ctx);
      }
      yield Buffer.from(whole, 'utf8');
    }
    if (rest !== '') yield Buffer.from(rest, 'utf8');
  }
  const errors: string[] = [];
  await parseFlows(
    Readable.from(chunks()),
    { format: 'hubble', source: data.hubble },
    (r) => {
      // Hubble's own identity stays; the imported policies' verdict comes from the resolver.
      const own = r.k8s;
      resolver.enrich(r);
      if (own !== undefined) r.k8s = { ...own, policy: r.k8s?.policy };
      engine.observe(r);
      records.push(stripForScore(r));
    },
    (e) => errors.push(e.message),
  );
  if (errors.length > 0) throw new Error(`hubble flows: ${errors.length} bad lines, first: ${errors[0]}`);
  engine.flush();
  return { alerts: engine.alerts(), records };
}

/** What scoring needs of a record (the run holds every one of them). */
function stripForScore(r: ConnRecord): ConnRecord {
  return { uid: r.uid, ts: r.ts, orig_h: r.orig_h, orig_p: r.orig_p } as ConnRecord;
}

export async function runEval(dir: string, seed = DEFAULT_SEED): Promise<EvalResult> {
  const data = await generateEval(dir, seed);
  const cap = await runCapture(data);
  const hub = await runHubble(data);
  fs.writeFileSync(path.join(dir, 'alerts-capture.ndjson'), `${cap.alerts.map((a) => JSON.stringify(a)).join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'alerts-hubble.ndjson'), `${hub.alerts.map((a) => JSON.stringify(a)).join('\n')}\n`);
  return { data, capture: score(data, cap), hubble: score(data, hub) };
}

function table(name: string, s: EvalScore): string {
  const lines = [
    `${name}: ${s.connections} connections (${s.benign} benign), ${s.alerts} alerts, ${s.falseAlerts} false (${s.falsePer10k.toFixed(2)} per 10k benign connections), ${s.surpriseAlerts} on benign surprises`,
  ];
  lines.push(
    `  ${'detector'.padEnd(22)} ${'labels'.padStart(6)} ${'alerts'.padStart(6)} ${'TP'.padStart(4)} ${'precision'.padStart(9)} ${'recall'.padStart(6)}`,
  );
  for (const d of DETECTOR_NAMES) {
    const x = s.perDetector[d];
    lines.push(
      `  ${d.padEnd(22)} ${String(x.labels).padStart(6)} ${String(x.alerts).padStart(6)} ${String(x.truePositives).padStart(4)} ${x.precision.toFixed(3).padStart(9)} ${x.recall.toFixed(3).padStart(6)}`,
    );
  }
  for (const a of s.false) lines.push(`  false: ${describe(a)}`);
  for (const l of s.missed) lines.push(`  missed: ${l.detector} ${l.source} -> ${l.dest.join('|')} (${l.what})`);
  return `${lines.join('\n')}\n`;
}

function describe(a: Alert): string {
  return `${a.detector} ${a.source.namespace ?? ''}/${a.source.workload ?? a.source.ip} -> ${a.destination.service ?? a.destination.workload ?? a.destination.domain ?? a.destination.ip ?? ''}: ${a.title}`;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (n: string): string | undefined => {
    const i = args.indexOf(n);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const keep = opt('--dir');
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-eval-'));
  const seed = opt('--seed') !== undefined ? Number(opt('--seed')) : DEFAULT_SEED;
  const t0 = Date.now();
  runEval(dir, seed)
    .then(
      (r) => {
        if (args.includes('--json')) {
          process.stdout.write(`${JSON.stringify({ capture: r.capture, hubble: r.hubble }, null, 1)}\n`);
          return;
        }
        process.stdout.write(
          `eval data${keep !== undefined ? ` in ${dir}` : ''} (seed ${seed}): ${r.data.packets} packets, ${r.data.hubbleEvents} Hubble events, ${r.data.labels.length} labels\n`,
        );
        process.stdout.write(table('capture', r.capture));
        process.stdout.write(table('hubble', r.hubble));
        process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      },
      (e: Error) => {
        process.stderr.write(`eval: ${e.stack ?? e.message}\n`);
        process.exitCode = 1;
      },
    )
    .finally(() => {
      if (keep === undefined) fs.rmSync(dir, { recursive: true, force: true });
    });
}
