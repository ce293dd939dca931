/**
 * Command-line glue of the detectors for `eastwatch analyze`: the options, building the engine
 * from them, and the alerts table printed after the summary.
 */
import Table from 'cli-table3';
import { type Command, InvalidArgumentError } from 'commander';
import type { Alert } from '../../detectors/contract/alert';
import type { DetectorEngine, LearningReport } from '../../detectors/engine';
import { DETECTOR_NAMES, parseDetectorList } from '../../detectors/names';
import type { K8sResolver } from '../k8s/resolver';
import { identifyWith } from '../k8s/identify';

export interface DetectorCliOptions {
  /** ndjson file of the alerts. */
  alerts?: string;
  /** Comma-separated detector names; false (--no-detectors) runs none; absent or true runs all. */
  detectors?: string | boolean;
  /** new-edge / sensitive-destination baseline (JSON, as --save-baseline writes it). */
  baseline?: string;
  saveBaseline?: string;
  /** JSON file overriding detector thresholds (detectors/config.ts). */
  detectorConfig?: string;
  /** Learning window of every learning detector, seconds (from --learn). */
  learn?: number;
}

/** "20m", "1h", "90s", "900" -> seconds. A share ("40%") needs the data's span, which a streamed capture does not give before its end. */
export function parseLearn(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(v.trim());
  if (m === null) {
    if (/%$/.test(v.trim()))
      throw new InvalidArgumentError(`--learn ${v}: a share of the data is not known before a streamed capture ends; give a duration (e.g. 20m)`);
    throw new InvalidArgumentError(`--learn ${v}: expected a duration such as 900, 90s, 20m, 1h`);
  }
  const mult = { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

function detectorList(v: string): string {
  try {
    parseDetectorList(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return v;
}

/** Adds the detector options to the `analyze` command. */
export function addDetectorOptions(cmd: Command): Command {
  return cmd
    .option('--alerts <file>', 'write the alerts as ndjson to this file')
    .option('--detectors <list>', `comma-separated detectors to run (default all: ${DETECTOR_NAMES.join(', ')})`, detectorList)
    .option('--no-detectors', 'run no detectors')
    .option(
      '--baseline <file>',
      'known-normal edges and sensitive-destination access (JSON from --save-baseline): new-edge alerts from the first record, no learning window',
    )
    .option('--save-baseline <file>', 'write what new-edge and sensitive-destination consider normal after this run (a baseline for later runs)')
    .option('--detector-config <file>', 'JSON overriding detector thresholds (see detectors/config.ts)')
    .option('--learn <duration>', 'learning window of every learning detector, data time from the first record (e.g. 20m; default 1 h)', parseLearn);
}

/**
 * The engine for the options, or null with --no-detectors. Throws with a message fit for the user.
 * The detectors, their configuration schema and the public suffix list load here, not for a run
 * without them.
 */
export async function buildAlertEngine(o: DetectorCliOptions, resolver: K8sResolver | null = null): Promise<DetectorEngine | null> {
  if (o.detectors === false) return null;
  const [{ loadBaseline }, { defaultDetectorConfig, loadDetectorConfig }, { DetectorEngine }] = await Promise.all([
    import('../../detectors/batch'),
    import('../../detectors/config'),
    import('../../detectors/engine'),
  ]);
  const enabled = typeof o.detectors === 'string' ? parseDetectorList(o.detectors) : undefined;
  const config = o.detectorConfig ? loadDetectorConfig(o.detectorConfig) : defaultDetectorConfig();
  const baseline = o.baseline ? loadBaseline(o.baseline) : undefined;
  return new DetectorEngine({
    config,
    enabled,
    baseline,
    identify: resolver ? identifyWith(resolver) : undefined,
    learning: o.learn !== undefined ? { seconds: o.learn } : undefined,
  });
}

/** One line on the learning window (and a warning line when it covered most of the data). */
export function renderLearning(r: LearningReport): string {
  const iso = (t: number) => new Date(t * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const learned = Object.entries(r.learned)
    .map(([d, n]) => `${d} ${n}`)
    .join(', ');
  if (r.baseline) return `learning: from a baseline (no learning window); known: ${learned}\n`;
  if (r.start === null || r.end === null) return '';
  let s = `learning: ${Math.round(r.seconds)} s of data from ${iso(r.start)} to ${iso(r.end)}, ${Math.round(r.covered_share * 100)} % of the data; learned: ${learned}\n`;
  if (r.warning) s += `warning: ${r.warning}\n`;
  return s;
}

function who(e: Alert['source']): string {
  if (e.workload !== undefined) return `${e.namespace ?? ''}/${e.workload}`;
  if (e.service !== undefined) return `${e.namespace ?? ''}/svc/${e.service}`;
  if (e.domain !== undefined) return e.domain;
  if (e.node !== undefined) return `node/${e.node}`;
  return e.ip ?? (e.port !== undefined ? `*:${e.port}` : '-');
}

/** The alerts as a table (the summary's style), highest severity first, with a count line. */
export function renderAlertTable(alerts: readonly Alert[]): string {
  const rank = { critical: 0, high: 1, medium: 2, low: 3 } as const;
  const sorted = [...alerts].sort((a, b) => rank[a.severity] - rank[b.severity] || b.score - a.score || a.first_seen - b.first_seen || (a.id < b.id ? -1 : 1));
  const t = new Table({
    head: ['severity', 'detector', 'score', 'count', 'source', 'destination', 'first seen', 'title'],
    style: { head: [], border: [], compact: true },
  });
  for (const a of sorted) {
    const d = a.destination;
    const bare = d.workload === undefined && d.service === undefined && d.domain === undefined && d.node === undefined;
    t.push([
      a.severity,
      a.detector,
      a.score.toFixed(2),
      String(a.count),
      who(a.source),
      who(d) + (bare && d.ip !== undefined && d.port !== undefined ? `:${d.port}` : ''),
      new Date(a.first_seen * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
      a.suppressed_by ? `${a.title} (suppressed by ${a.suppressed_by})` : a.title,
    ]);
  }
  const bySev = (['critical', 'high', 'medium', 'low'] as const)
    .map((s) => [s, alerts.filter((a) => a.severity === s).length] as const)
    .filter(([, n]) => n > 0);
  return `alerts: ${alerts.length} (${bySev.map(([s, n]) => `${n} ${s}`).join(', ')})\n${t.toString()}\n`;
}
