/**
 * `eastwatch policy suggest`: captures + inventory (+ alerts) in, suggested NetworkPolicies out as
 * YAML for `kubectl apply`, with the what-if verification of the suggestion on standard error
 * (or as JSON with --report).
 */
import * as fs from 'node:fs';
import type { Alert } from '../../detectors/contract/alert';
import { analyzeCaptures, k8sLoadError } from './cli';
import { loadInventoryFiles } from './load';
import { K8sResolver } from './resolver';
import type { PolicySuggester, SuggestOptions } from './suggest';

export interface SuggestCliOptions {
  inventory: string[];
  localNets?: string[];
  /** Window bounds: epoch seconds or an RFC 3339 time. */
  from?: string;
  to?: string;
  alerts?: string[];
  external?: string;
  externalPrefix?: number;
  namespace?: string[];
  out?: string;
  /** Where to write the full report (policies, exclusions, verification) as JSON. */
  report?: string;
}

/** Exit codes: 0 suggestion verified, 1 unreadable input, 2 bad arguments, 3 the verification failed. */
export const EXIT_VERIFY_FAILED = 3;

function parseTime(v: string, what: string): number {
  const n = Number(v);
  if (v.trim() !== '' && Number.isFinite(n)) return n;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`${what}: "${v}" is neither epoch seconds nor an RFC 3339 time`);
  return t / 1000;
}

/**
 * Alerts as `analyze --alerts` writes them (ndjson) or as `GET /api/v1/alerts` answers (an object
 * with `alerts`), or a JSON array of them.
 */
export function readAlerts(file: string): Alert[] {
  const text = fs.readFileSync(file, 'utf8');
  let list: unknown[];
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch {
    whole = undefined;
  }
  if (Array.isArray(whole)) list = whole;
  else if (Array.isArray((whole as { alerts?: unknown } | null)?.alerts)) list = (whole as { alerts: unknown[] }).alerts;
  else if (whole !== undefined) list = [whole];
  else {
    list = [];
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      try {
        list.push(JSON.parse(line));
      } catch (e) {
        throw new Error(`${file}: line ${i + 1}: ${(e as Error).message}`);
      }
    }
  }
  list.forEach((a: unknown, i) => {
    const x = a as Partial<Alert> | null;
    if (
      typeof x?.id !== 'string' ||
      typeof x.status !== 'string' ||
      typeof x.source !== 'object' ||
      typeof x.destination !== 'object' ||
      !Array.isArray(x.evidence?.uids)
    )
      throw new Error(`${file}: alert ${i + 1}: needs id, status, source, destination and evidence.uids`);
  });
  return list as Alert[];
}

export async function runSuggest(captures: string[], o: SuggestCliOptions): Promise<number> {
  // The suggester (and its YAML library) loads when suggesting, not with every command.
  const { PolicySuggester, renderSuggestSummary, suggestionYaml } = await import('./suggest');
  const opts: SuggestOptions = { namespaces: o.namespace?.length ? o.namespace : undefined };
  let resolver: K8sResolver;
  try {
    if (o.external !== undefined && o.external !== 'cidr' && o.external !== 'omit') throw new Error(`--external: "${o.external}": expected cidr or omit`);
    opts.external = o.external === 'omit' ? 'omit' : 'cidr';
    opts.ipv4Prefix = o.externalPrefix;
    if (o.from !== undefined) opts.from = parseTime(o.from, '--from');
    if (o.to !== undefined) opts.to = parseTime(o.to, '--to');
  } catch (e) {
    process.stderr.write(`eastwatch: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    opts.alerts = (o.alerts ?? []).flatMap(readAlerts);
    resolver = new K8sResolver(loadInventoryFiles(o.inventory), { localNets: o.localNets, policies: null });
  } catch (e) {
    // readAlerts' own errors name the file and line; inventory and fs errors are the usual ones.
    const msg = k8sLoadError(e) ?? (e instanceof Error && !(e instanceof TypeError) ? e.message : null);
    if (msg === null) throw e;
    process.stderr.write(`eastwatch: ${msg}\n`);
    return 1;
  }
  let s: PolicySuggester;
  try {
    s = new PolicySuggester(resolver, opts);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    process.stderr.write(`eastwatch: --external-prefix: ${e.message}\n`);
    return 2;
  }
  let exit = await analyzeCaptures(captures, (r) => s.add(r));
  const rep = s.suggest();
  const yaml = suggestionYaml(rep);
  if (o.out) fs.writeFileSync(o.out, yaml);
  else process.stdout.write(yaml);
  if (o.report) fs.writeFileSync(o.report, `${JSON.stringify(rep, null, 1)}\n`);
  process.stderr.write(renderSuggestSummary(rep));
  if (exit === 0 && !rep.verification.ok) exit = EXIT_VERIFY_FAILED;
  return exit;
}
