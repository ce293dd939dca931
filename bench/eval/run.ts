/**
 * `npm run eval`: generates the labelled cluster traffic, runs the detectors over the capture
 * (through the analyze pipeline: capture reader, decoder, connection tracker, protocol analyzers,
 * Kubernetes resolver with the generated inventory) and over the Hubble flows (flow parser, the
 * resolver's policy verdicts, the L7 DNS events), and prints precision and recall per detector,
 * false alerts per 10k benign connections, alerts raised on the benign surprises, and the
 * learning window's share of the data. It runs family A (the traffic the thresholds were
 * developed on) and family B (held out: other rates, intervals, jitter, sizes, attacks), each
 * over `--seeds N` seeds (default 1), and prints the figures per run and pooled per family.
 *
 *   node dist/bench/eval/run.js [--dir DIR] [--seed N] [--seeds N] [--family A|B|both] [--short] [--no-packets] [--json] [--gate]
 *
 * --gate (implies --short): every run and every 1-hour cut with a baseline checked against the
 * test's floors (gate.ts); each shortfall printed, and the exit code 1 if there is any.
 * `npm run eval` is `--seeds 5 --gate`.
 *
 * --short also scores the hour from 3 h to 4 h of each run as a capture of its own (1 h), learning
 * from itself and with a baseline from the run's clean first half hour.
 * Hubble is scored twice: as Cilium emits flows by default (monitor aggregation `medium`, "hubble")
 * and with aggregation off (one event per packet, "hubble packets"); --no-packets leaves the latter out.
 *
 * Without --dir the data (about 250 MB) goes to a temporary directory removed afterwards; with it,
 * the capture, flows, inventory, labels and both runs' alerts stay there for inspection.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
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
import { DetectorEngine, type EngineOptions } from '../../detectors/engine';
import { hubbleDns } from '../../parsers/flows/hubble-dns';
import { DEFAULT_SEED, generateEval, type EvalData, EVAL_LOCAL_NETS } from './generate';

export { EVAL_LOCAL_NETS };
import { score, type EvalScore, type InputRun } from './score';
import { seedFailures } from './gate';
import type { Family } from './traffic';
import type { Baseline, LearningReport } from '../../detectors/engine';

export interface EvalResult {
  data: EvalData;
  capture: EvalScore & { learning: LearningReport };
  /** Hubble flows as Cilium emits them by default (monitor aggregation `medium`). */
  hubble: EvalScore & { learning: LearningReport };
  /** Hubble flows with monitor aggregation off (one event per packet), when asked for. */
  hubblePackets?: EvalScore & { learning: LearningReport };
}

/** Which Hubble file: as Cilium emits flows by default, or one event per packet (aggregation off). */
export type HubbleInput = 'aggregated' | 'packets';

function resolverFor(data: EvalData): K8sResolver {
  return new K8sResolver(loadInventoryFiles([data.inventory], new InventoryStore()), { policies: 'inventory', localNets: EVAL_LOCAL_NETS });
}

/**
 * How a run learns what is normal: by default the engine's window over the data itself; with a
 * baseline (learned from a clean period, see learnBaseline) no window at all; `learnAll` takes
 * the whole data as normal (the clean period itself).
 */
export interface RunOptions {
  config?: DetectorConfig;
  baseline?: Baseline;
  learnAll?: boolean;
}

function engineFor(data: EvalData, o: RunOptions, identify?: EngineOptions['identify']): DetectorEngine {
  const span = data.span[1] - data.span[0];
  return new DetectorEngine({
    config: o.config ?? defaultDetectorConfig(),
    identify,
    baseline: o.baseline,
    learning: o.learnAll ? { seconds: span + 3600 } : { dataSpan: data.span },
  });
}

export async function runCapture(data: EvalData, o: RunOptions = {}): Promise<InputRun & { engine: DetectorEngine }> {
  const resolver = resolverFor(data);
  const engine = engineFor(data, o, identifyWith(resolver));
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
  return { alerts: engine.alerts(), records, learning: engine.learningReport(), engine };
}

export async function runHubble(data: EvalData, o: RunOptions = {}, input: HubbleInput = 'aggregated'): Promise<InputRun & { engine: DetectorEngine }> {
  const file = input === 'packets' ? data.hubblePackets : data.hubble;
  const resolver = resolverFor(data);
  const engine = engineFor(data, o);
  const records: ConnRecord[] = [];
  // One pass: each chunk's DNS events reach the detectors before the parser sees the chunk, so a
  // lookup is known before the connection it was for (the parser emits connections when they end).
  async function* chunks(): AsyncGenerator<Buffer> {
    let rest = '';
    for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 16 })) {
      const text = rest + (c as Buffer).toString('utf8');
      const cut = text.lastIndexOf('\n') + 1;
      rest = text.slice(cut);
      const whole = text.slice(0, cut);
      for (const line of whole.split('\n')) {
        const d = hubbleDns(line);
        if (d !== null) {
          engine.observeAppWith(d.rec, d.ctx);
          // The DNS event's uid is its uuid, not a flow's: the scorer needs its client port to match it to a label.
          const f = (JSON.parse(line) as { flow: { l4?: { UDP?: { destination_port?: number } } } }).flow;
          dnsClients.set(d.rec.uid, `${d.ctx.orig_h}|${f.l4?.UDP?.destination_port ?? 0}`);
        }
      }
      yield Buffer.from(whole, 'utf8');
    }
    if (rest !== '') yield Buffer.from(rest, 'utf8');
  }
  const errors: string[] = [];
  const dnsClients = new Map<string, string>();
  await parseFlows(
    Readable.from(chunks()),
    { format: 'hubble', source: file, hubble: { monitorAggregation: input === 'packets' ? 'none' : 'medium' } },
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
  return { alerts: engine.alerts(), records, learning: engine.learningReport(), dnsClients, engine };
}

/**
 * What the operator of a short capture does: save a baseline from a period known to be clean and
 * give it to the capture. Here the clean period is [from, to) seconds of the same generated run,
 * before its first attack (the first starts 30 min in), learned whole from the same input kind.
 */
export async function learnBaseline(clean: EvalData, input: 'capture' | HubbleInput): Promise<Baseline> {
  const r = input === 'capture' ? await runCapture(clean, { learnAll: true }) : await runHubble(clean, { learnAll: true }, input);
  return r.engine.exportBaseline();
}

/** The clean period the short cuts' baselines are learned from (seconds into the run). */
export const CLEAN_PERIOD: [number, number] = [0, 1800];

/** What scoring needs of a record (the run holds every one of them). */
function stripForScore(r: ConnRecord): ConnRecord {
  return { uid: r.uid, ts: r.ts, orig_h: r.orig_h, orig_p: r.orig_p } as ConnRecord;
}

/**
 * The same data cut to [from, to) seconds after its start: a shorter capture of the same cluster
 * (editcap for the pcap, the events' time for the Hubble flows). Labels none of whose connections
 * fall in the cut are dropped when scoring; those that fall in its learning window stay (and are
 * missed: that is what learning costs).
 */
export async function sliceEval(data: EvalData, from: number, to: number): Promise<EvalData> {
  const a = data.span[0] + from;
  const b = data.span[0] + to;
  const tag = `${from}-${to}`;
  const pcap = path.join(data.dir, `cluster-${tag}.pcap`);
  const stamp = (t: number) => new Date(t * 1000).toISOString().replace('T', ' ').replace('Z', '');
  execFileSync('editcap', ['-A', stamp(a), '-B', stamp(b), data.pcap, pcap], { env: { ...process.env, TZ: 'UTC' } });
  const hubble = await sliceHubble(data.hubble, path.join(data.dir, `hubble-${tag}.json`), a, b);
  const hubblePackets = await sliceHubble(data.hubblePackets, path.join(data.dir, `hubble-packets-${tag}.json`), a, b);
  return { ...data, pcap, hubble, hubblePackets, span: [a, b] };
}

/** The events of [a, b) (epoch seconds) of a Hubble file. */
async function sliceHubble(from: string, hubble: string, a: number, b: number): Promise<string> {
  const out = fs.createWriteStream(hubble);
  const lines = readline.createInterface({ input: fs.createReadStream(from), crlfDelay: Infinity });
  for await (const line of lines) {
    const m = /"time":"([^"]+)"/.exec(line);
    if (m === null) continue;
    const t = Date.parse(m[1]) / 1000;
    if (t >= a && t < b && !out.write(`${line}\n`)) await once(out, 'drain');
  }
  const done = once(out, 'finish');
  out.end();
  await done;
  return hubble;
}

export async function runEval(
  dir: string,
  seed = DEFAULT_SEED,
  family: Family = 'A',
  slice?: [number, number],
  opts: { clean?: [number, number]; full?: EvalData; packets?: boolean } = {},
): Promise<EvalResult> {
  // The full run's data when given (a cut of data already generated), else generated here.
  const full = opts.full ?? (await generateEval(dir, seed, family));
  const data = slice === undefined ? full : await sliceEval(full, slice[0], slice[1]);
  const clean = opts.clean === undefined ? undefined : await sliceEval(full, opts.clean[0], opts.clean[1]);
  const baseline = async (input: 'capture' | HubbleInput): Promise<RunOptions> => (clean === undefined ? {} : { baseline: await learnBaseline(clean, input) });
  const cap = await runCapture(data, await baseline('capture'));
  const hub = await runHubble(data, await baseline('aggregated'), 'aggregated');
  const pkt = opts.packets === true ? await runHubble(data, await baseline('packets'), 'packets') : undefined;
  const tag = `${slice === undefined ? '' : `-${slice[0]}-${slice[1]}`}${clean === undefined ? '' : '-baseline'}`;
  const write = (name: string, alerts: Alert[]) =>
    fs.writeFileSync(path.join(dir, `alerts-${name}${tag}.ndjson`), `${alerts.map((x) => JSON.stringify(x)).join('\n')}\n`);
  write('capture', cap.alerts);
  write('hubble', hub.alerts);
  if (pkt !== undefined) write('hubble-packets', pkt.alerts);
  return {
    data,
    capture: { ...score(data, cap), learning: cap.learning },
    hubble: { ...score(data, hub), learning: hub.learning },
    ...(pkt === undefined ? {} : { hubblePackets: { ...score(data, pkt), learning: pkt.learning } }),
  };
}

/** Seeds of a family: the default seed, then fixed others (B's differ from A's). */
export function seedsOf(family: Family, n: number, first = DEFAULT_SEED): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(family === 'A' ? first + i * 7919 : first + 1_000_003 + i * 104_729);
  return out;
}

/** Per-detector figures pooled over runs (sums of labels, alerts and true positives). */
export function pool(scores: EvalScore[]): EvalScore {
  const per = {} as EvalScore['perDetector'];
  for (const d of DETECTOR_NAMES) {
    let labels = 0,
      alerts = 0,
      tp = 0,
      found = 0;
    for (const s of scores) {
      const x = s.perDetector[d];
      labels += x.labels;
      alerts += x.alerts;
      tp += x.truePositives;
      found += Math.round(x.recall * x.labels);
    }
    per[d] = {
      labels,
      alerts,
      truePositives: tp,
      precision: alerts === 0 ? (labels === 0 ? 1 : 0) : tp / alerts,
      recall: labels === 0 ? 1 : found / labels,
    };
  }
  const benign = scores.reduce((a, s) => a + s.benign, 0);
  const falseAlerts = scores.reduce((a, s) => a + s.falseAlerts, 0);
  return {
    connections: scores.reduce((a, s) => a + s.connections, 0),
    benign,
    alerts: scores.reduce((a, s) => a + s.alerts, 0),
    falseAlerts,
    falsePer10k: benign === 0 ? 0 : (falseAlerts / benign) * 10_000,
    surpriseAlerts: scores.reduce((a, s) => a + s.surpriseAlerts, 0),
    perDetector: per,
    false: scores.flatMap((s) => s.false),
    missed: scores.flatMap((s) => s.missed),
  };
}

function table(name: string, s: EvalScore, learning?: LearningReport, details = true): string {
  const lines = [
    `${name}: ${s.connections} connections (${s.benign} benign), ${s.alerts} alerts, ${s.falseAlerts} false (${s.falsePer10k.toFixed(2)} per 10k benign connections), ${s.surpriseAlerts} on benign surprises`,
  ];
  if (learning !== undefined)
    lines.push(
      `  learning window ${Math.round(learning.seconds)} s, ${(learning.covered_share * 100).toFixed(1)} % of the data; learned ${Object.entries(
        learning.learned,
      )
        .map(([d, n]) => `${d} ${n}`)
        .join(', ')}${learning.warning ? `; WARNING ${learning.warning}` : ''}`,
    );
  lines.push(
    `  ${'detector'.padEnd(22)} ${'labels'.padStart(6)} ${'alerts'.padStart(6)} ${'TP'.padStart(4)} ${'precision'.padStart(9)} ${'recall'.padStart(6)}`,
  );
  for (const d of DETECTOR_NAMES) {
    const x = s.perDetector[d];
    lines.push(
      `  ${d.padEnd(22)} ${String(x.labels).padStart(6)} ${String(x.alerts).padStart(6)} ${String(x.truePositives).padStart(4)} ${x.precision.toFixed(3).padStart(9)} ${x.recall.toFixed(3).padStart(6)}`,
    );
  }
  if (details) {
    for (const a of s.false) lines.push(`  false: ${describe(a)}`);
    for (const l of s.missed) lines.push(`  missed: ${l.detector} ${l.source} -> ${l.dest.join('|')} (${l.what})`);
  }
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
  const first = opt('--seed') !== undefined ? Number(opt('--seed')) : DEFAULT_SEED;
  const n = opt('--seeds') !== undefined ? Number(opt('--seeds')) : 1;
  const fam = opt('--family') ?? 'both';
  const families: Family[] = fam === 'both' ? ['A', 'B'] : [fam === 'B' ? 'B' : 'A'];
  // --short: also the hour from 3 h to 4 h of each run, as a 1-hour capture.
  const gate = args.includes('--gate');
  const short = gate || args.includes('--short');
  const failures: string[] = [];
  const packets = !args.includes('--no-packets');
  const t0 = Date.now();
  const main = async (): Promise<void> => {
    const json: Record<string, unknown> = {};
    for (const f of families) {
      const caps: EvalScore[] = [];
      const hubs: EvalScore[] = [];
      const shortCaps: EvalScore[] = [];
      const shortHubs: EvalScore[] = [];
      const pkts: EvalScore[] = [];
      const shortPkts: EvalScore[] = [];
      for (const seed of seedsOf(f, n, first)) {
        const sub = path.join(dir, `${f}-${seed}`);
        const r = await runEval(sub, seed, f, undefined, { packets });
        caps.push(r.capture);
        hubs.push(r.hubble);
        if (r.hubblePackets !== undefined) pkts.push(r.hubblePackets);
        if (!args.includes('--json')) {
          process.stdout.write(
            `family ${f}${f === 'B' ? ' (held out)' : ''}, seed ${seed}: ${r.data.packets} packets, ${r.data.hubbleEvents} Hubble events aggregated (${r.data.hubblePacketEvents} without aggregation), ${r.data.labels.length} labels\n`,
          );
          process.stdout.write(table('capture', r.capture, r.capture.learning));
          process.stdout.write(table('hubble', r.hubble, r.hubble.learning));
          if (r.hubblePackets !== undefined) process.stdout.write(table('hubble packets', r.hubblePackets, r.hubblePackets.learning));
        }
        json[`${f}-${seed}`] = { capture: r.capture, hubble: r.hubble, hubblePackets: r.hubblePackets };
        if (short) {
          const s1 = await runEval(sub, seed, f, [3 * 3600, 4 * 3600], { full: r.data, packets });
          if (!args.includes('--json')) {
            process.stdout.write(`family ${f}, seed ${seed}, 1-hour cut (3 h to 4 h): ${s1.data.labels.length} labels before the cut\n`);
            process.stdout.write(table('capture 1 h', s1.capture, s1.capture.learning));
            process.stdout.write(table('hubble 1 h', s1.hubble, s1.hubble.learning));
            if (s1.hubblePackets !== undefined) process.stdout.write(table('hubble packets 1 h', s1.hubblePackets, s1.hubblePackets.learning));
          }
          json[`${f}-${seed}-1h`] = { capture: s1.capture, hubble: s1.hubble, hubblePackets: s1.hubblePackets };
          const s2 = await runEval(sub, seed, f, [3 * 3600, 4 * 3600], { clean: CLEAN_PERIOD, full: r.data, packets });
          if (!args.includes('--json')) {
            process.stdout.write(`family ${f}, seed ${seed}, 1-hour cut with a baseline from the clean first half hour\n`);
            process.stdout.write(table('capture 1 h+baseline', s2.capture, s2.capture.learning));
            process.stdout.write(table('hubble 1 h+baseline', s2.hubble, s2.hubble.learning));
            if (s2.hubblePackets !== undefined) process.stdout.write(table('hubble packets 1 h+baseline', s2.hubblePackets, s2.hubblePackets.learning));
          }
          json[`${f}-${seed}-1h-baseline`] = { capture: s2.capture, hubble: s2.hubble, hubblePackets: s2.hubblePackets };
          if (gate)
            failures.push(
              ...seedFailures({
                family: f,
                seed,
                full: { capture: r.capture, hubble: r.hubble, ...(r.hubblePackets === undefined ? {} : { hubblePackets: r.hubblePackets }) },
                cut: { capture: s2.capture, hubble: s2.hubble, ...(s2.hubblePackets === undefined ? {} : { hubblePackets: s2.hubblePackets }) },
                seconds: 0,
              }),
            );
          shortCaps.push(s2.capture);
          shortHubs.push(s2.hubble);
          if (s2.hubblePackets !== undefined) shortPkts.push(s2.hubblePackets);
        }
        if (keep === undefined) fs.rmSync(sub, { recursive: true, force: true });
      }
      if (n > 1 && !args.includes('--json')) {
        process.stdout.write(`family ${f}, pooled over ${n} seeds\n`);
        process.stdout.write(table('capture', pool(caps), undefined, false));
        process.stdout.write(table('hubble', pool(hubs), undefined, false));
        if (pkts.length > 0) process.stdout.write(table('hubble packets', pool(pkts), undefined, false));
        if (short) {
          process.stdout.write(`family ${f}, 1-hour cuts with a clean baseline, pooled over ${n} seeds\n`);
          process.stdout.write(table('capture 1 h+baseline', pool(shortCaps), undefined, false));
          process.stdout.write(table('hubble 1 h+baseline', pool(shortHubs), undefined, false));
          if (shortPkts.length > 0) process.stdout.write(table('hubble packets 1 h+baseline', pool(shortPkts), undefined, false));
        }
      }
    }
    if (gate) {
      for (const x of failures) process.stdout.write(`gate: ${x}\n`);
      process.stdout.write(
        `gate: ${failures.length === 0 ? 'passed' : `${failures.length} failures`} (${families.join(', ')}, ${n} seeds, 6 h and 1 h with a clean baseline)\n`,
      );
      if (failures.length > 0) process.exitCode = 1;
    }
    if (args.includes('--json')) process.stdout.write(`${JSON.stringify(json, null, 1)}\n`);
    else process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  };
  main()
    .catch((e: Error) => {
      process.stderr.write(`eval: ${e.stack ?? e.message}\n`);
      process.exitCode = 1;
    })
    .finally(() => {
      if (keep === undefined) fs.rmSync(dir, { recursive: true, force: true });
    });
}
