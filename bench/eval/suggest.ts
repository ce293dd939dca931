/**
 * The policy advisor on the labelled evaluation traffic: policies are suggested from the benign
 * connections of the capture only, then the existing what-if evaluates them, alone in force,
 * against every connection: benign ones must all be allowed, injected ones denied wherever a
 * NetworkPolicy can deny them (a pod at one end).
 *
 *   node dist/bench/eval/suggest.js [--dir DIR] [--seed N]
 *
 * test/k8s/suggest-eval.test.ts runs it as a regression test.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { InventoryStore } from '../../src/k8s/inventory';
import { loadInventoryFiles } from '../../src/k8s/load';
import { PolicySet } from '../../src/k8s/policy';
import { K8sResolver } from '../../src/k8s/resolver';
import { PolicySuggester, type SuggestReport } from '../../src/k8s/suggest';
import { endLabel } from '../../src/k8s/whatif';
import { DEFAULT_SEED, EVAL_LOCAL_NETS, generateEval } from './generate';

export interface EvalSuggest {
  report: SuggestReport;
  benign: number;
  benignDenied: number;
  injected: number;
  /** Injected connections on edges no benign connection uses, and how many of them the suggestion denies. */
  deniable: number;
  injectedDenied: number;
  /** Injected connections on edges benign traffic also uses (same workloads, port, protocol), by edge. */
  onBenignEdge: Map<string, number>;
  /** Injected connections on new edges the suggestion lets through, by edge. */
  leaks: Map<string, number>;
  injectedOutside: number;
  text: string;
}

/** Generates the evaluation data into `dir`, suggests from its benign connections and evaluates. */
export async function evalSuggest(dir: string, seed = DEFAULT_SEED): Promise<EvalSuggest> {
  const data = await generateEval(dir, seed);
  const resolver = new K8sResolver(loadInventoryFiles([data.inventory], new InventoryStore()), { policies: null, localNets: EVAL_LOCAL_NETS });
  const records: ConnRecord[] = [];
  const res = await analyzeFile(data.pcap, (r) => {
    if (!r.interim) records.push(r);
  });
  if (res.error) throw res.error;
  const injected = (r: ConnRecord): boolean => data.anomalous.has(`${r.orig_h}|${r.orig_p}`);
  const s = new PolicySuggester(resolver);
  for (const r of records) if (!injected(r)) s.add(r);
  const rep = s.suggest();
  const set = new PolicySet(rep.policies);
  // An injected connection on an edge benign traffic also uses (same workloads, port and protocol)
  // cannot be denied by any L3/L4 policy that keeps the benign traffic: counted apart.
  const edge = (r: ConnRecord): string => {
    const c = resolver.resolve(r);
    return `${endLabel(c.orig.end, r.orig_h)} -> ${endLabel(c.resp.end, r.resp_h)}:${r.resp_p}/${r.proto}`;
  };
  const benignEdges = new Set<string>();
  for (const r of records) if (!injected(r)) benignEdges.add(edge(r));
  const n = { benign: 0, benignDenied: 0, injected: 0, injectedDenied: 0, injectedOutside: 0, onBenignEdge: 0, onBenignEdgeAllowed: 0 };
  const leaks = new Map<string, number>();
  for (const r of records) {
    const c = resolver.resolve(r);
    const v = resolver.verdict(r, c, set);
    if (!injected(r)) {
      n.benign++;
      if (v.verdict !== 'allowed') n.benignDenied++;
      continue;
    }
    n.injected++;
    const e = edge(r);
    if (!c.orig.pod && !c.resp.pod && !c.resp.service) n.injectedOutside++;
    else if (benignEdges.has(e)) {
      n.onBenignEdge++;
      if (v.verdict === 'allowed') n.onBenignEdgeAllowed++;
    } else if (v.verdict === 'denied') n.injectedDenied++;
    else leaks.set(e, (leaks.get(e) ?? 0) + 1);
  }
  const deniable = n.injected - n.injectedOutside - n.onBenignEdge;
  const onBenign = new Map<string, number>();
  for (const r of records) if (injected(r) && benignEdges.has(edge(r))) onBenign.set(edge(r), (onBenign.get(edge(r)) ?? 0) + 1);
  const lines = [
    `${rep.policies.length} policies from ${n.benign} benign connections; verification ${rep.verification.ok ? 'ok' : 'FAILED'} (${rep.verification.probes} probes)`,
    `benign allowed: ${n.benign - n.benignDenied}/${n.benign}`,
    `injected: ${n.injected}; denied ${n.injectedDenied}/${deniable} on edges no benign connection uses; ` +
      `${n.onBenignEdge} on benign edges (${n.onBenignEdgeAllowed} allowed); ${n.injectedOutside} with no pod at either end`,
    ...[...leaks].sort((a, b) => b[1] - a[1]).map(([k, c]) => `  allowed injected on a new edge: ${k} (${c})`),
    ...[...onBenign].sort((a, b) => b[1] - a[1]).map(([k, c]) => `  injected on a benign edge: ${k} (${c})`),
    ...rep.warnings.map((w) => `  warning: ${w}`),
  ];
  return {
    report: rep,
    benign: n.benign,
    benignDenied: n.benignDenied,
    injected: n.injected,
    deniable,
    injectedDenied: n.injectedDenied,
    onBenignEdge: onBenign,
    leaks,
    injectedOutside: n.injectedOutside,
    text: `${lines.join('\n')}\n`,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (n: string): string | undefined => {
    const i = args.indexOf(n);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const keep = arg('--dir');
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-eval-suggest-'));
  fs.mkdirSync(dir, { recursive: true });
  try {
    process.stdout.write((await evalSuggest(dir, Number(arg('--seed') ?? DEFAULT_SEED))).text);
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
