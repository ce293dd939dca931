/**
 * Batch detection over an analysed capture (or any records already in memory), and the baseline
 * file of the learning detectors.
 */
import * as fs from 'node:fs';
import type { ConnRecord } from '../parsers/record/conn';
import type { Alert } from './contract/alert';
import { DetectorEngine, type Baseline, type EngineOptions } from './engine';
import type { AppInput } from '../parsers/record/app';

/**
 * Runs the detectors over connection records (in emission order) and application records, each
 * joined to its connection record by uid and seen just before it (records without a connection
 * record are left out: nothing says who sent them). Returns every alert.
 */
export function detect(records: Iterable<ConnRecord>, appRecords: Iterable<AppInput>, opts: EngineOptions = {}): Alert[] {
  // In memory the data's span is known: the learning window adapts to it (engine.ts, LearningOptions).
  const recs = Array.isArray(records) ? (records as ConnRecord[]) : [...records];
  let span = opts.learning?.dataSpan;
  if (span === undefined) {
    let lo = Infinity,
      hi = -Infinity;
    for (const r of recs) {
      if (r.ts < lo) lo = r.ts;
      if (r.ts + r.duration > hi) hi = r.ts + r.duration;
    }
    if (Number.isFinite(lo)) span = [lo, hi];
  }
  const engine = new DetectorEngine({ ...opts, learning: { ...opts.learning, dataSpan: span } });
  const byUid = new Map<string, AppInput[]>();
  for (const a of appRecords) {
    const l = byUid.get(a.uid);
    if (l) l.push(a);
    else byUid.set(a.uid, [a]);
  }
  for (const r of recs) {
    const apps = byUid.get(r.uid);
    if (apps !== undefined) {
      byUid.delete(r.uid);
      for (const a of apps) engine.observeAppWith(a, r);
    }
    engine.observe(r);
  }
  engine.flush();
  return engine.alerts();
}

export class BaselineError extends Error {}

export function parseBaseline(obj: unknown, source: string): Baseline {
  const o = obj as Partial<Baseline> | null;
  if (o === null || typeof o !== 'object' || o.version !== 1)
    throw new BaselineError(`${source}: not an eastwatch baseline (expected {"version": 1, "edges": [...], "sensitive": [...]})`);
  const strings = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new BaselineError(`${source}: ${field} must be an array of strings`);
    return v as string[];
  };
  const b: Baseline = { version: 1, edges: strings(o.edges, 'edges'), sensitive: strings(o.sensitive, 'sensitive'), long: strings(o.long, 'long') };
  if (o.beacon !== undefined) b.beacon = strings(o.beacon, 'beacon');
  return b;
}

export function loadBaseline(file: string): Baseline {
  let obj: unknown;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BaselineError(`${file}: ${(e as Error).message}`);
  }
  return parseBaseline(obj, file);
}
