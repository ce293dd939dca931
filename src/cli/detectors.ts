/**
 * Command-line glue of the detectors for `eastwatch analyze`: the options, building the engine
 * from them, and the alerts table printed after the summary.
 */
import Table from 'cli-table3';
import { type Command, InvalidArgumentError } from 'commander';
import type { Alert } from '../../detectors/contract/alert';
import { loadBaseline } from '../../detectors/batch';
import { DETECTOR_NAMES, defaultDetectorConfig, loadDetectorConfig } from '../../detectors/config';
import type { K8sResolver } from '../k8s/resolver';
import { identifyWith } from '../k8s/identify';
import { DetectorEngine } from '../../detectors/engine';
import { parseDetectorList } from '../../detectors/registry';

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
    .option('--detector-config <file>', 'JSON overriding detector thresholds (see detectors/config.ts)');
}

/** The engine for the options, or null with --no-detectors. Throws with a message fit for the user. */
export function buildAlertEngine(o: DetectorCliOptions, resolver: K8sResolver | null = null): DetectorEngine | null {
  if (o.detectors === false) return null;
  const enabled = typeof o.detectors === 'string' ? parseDetectorList(o.detectors) : undefined;
  const config = o.detectorConfig ? loadDetectorConfig(o.detectorConfig) : defaultDetectorConfig();
  const baseline = o.baseline ? loadBaseline(o.baseline) : undefined;
  return new DetectorEngine({ config, enabled, baseline, identify: resolver ? identifyWith(resolver) : undefined });
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
