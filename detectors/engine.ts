/**
 * The detector engine: runs the enabled detectors over connection and application records, turns
 * findings into alerts with stable ids, groups repeats into one alert (count, first/last seen,
 * evidence uids capped at ALERT_MAX_UIDS), and applies suppression rules. snapshot()/restore()
 * carry the whole state (JSON) across worker restarts.
 *
 * Application records are dispatched at once, not held for their connection record: that record
 * comes only when the connection ends (a DNS flow, a minute later), after the connections the
 * lookup was for. Their identity comes from `identify` (the Kubernetes resolver) instead.
 */
import type { ConnRecord, Transport } from '../parsers/record/conn';
import type { ConnK8s } from '../parsers/record/k8s';
import { ALERT_MAX_UIDS, type Alert, type Suppression } from './contract/alert';
import { CappedMap, SEVERITY_RANK } from './common';
import { DETECTOR_NAMES, defaultDetectorConfig, type DetectorConfig, type DetectorName } from './config';
import { alertId } from './entity';
import { BeaconDetector } from './beacon';
import { LongConnectionDetector } from './long-connection';
import { NewEdgeDetector } from './new-edge';
import { buildDetector } from './registry';
import { SensitiveDestinationDetector } from './sensitive-destination';
import { applySuppressions } from './contract/suppress';
import type { Detector, Finding, Json } from './types';
import type { AppInput, ConnContext } from '../parsers/record/app';

export interface Baseline {
  version: 1;
  /** new-edge keys: "ns/workload|destination|proto/port" (edges that alerted are never written). */
  edges: string[];
  /** sensitive-destination: "ns/workload|category". */
  sensitive: string[];
  /** long-connection: edges that hold long-lived connections normally, "ns/workload|destination|proto/port". */
  long?: string[];
  /** beacon: pairs that poll periodically as a matter of course (benign pollers), "wl:ns/workload|dom:name" or "...|ip:address". */
  beacon?: string[];
}

/**
 * The learning window of every learning detector (new-edge, sensitive-destination, beacon,
 * long-connection): `seconds` of data time from the first record, or `share` of the data's span
 * when the caller knows it (`dataSpan`). Without either, each detector's configured
 * `learning_seconds`, shortened to `DEFAULT_LEARN_SHARE` of the data when the span is known.
 */
export interface LearningOptions {
  seconds?: number;
  /** 0..1 */
  share?: number;
  /** [first, last] record time (epoch seconds), when known before detection (a batch). */
  dataSpan?: [number, number];
}

/** The default learning window never covers more than this share of data whose span is known. */
export const DEFAULT_LEARN_SHARE = 0.25;
/** A learning window covering at least this share of the data is reported as a warning. */
export const LEARN_WARN_SHARE = 0.5;

export interface LearningReport {
  /** Data time the window opened and closed (null before any record). */
  start: number | null;
  end: number | null;
  seconds: number;
  /** The data seen so far. */
  data_first: number | null;
  data_last: number | null;
  /** Share of the data's span the window covered (0..1). */
  covered_share: number;
  /** From a baseline (no learning window). */
  baseline: boolean;
  /** What was learned, per detector. */
  learned: Record<string, number>;
  /** Set when the window covered LEARN_WARN_SHARE of the data or more: anything in it was taken as normal. */
  warning?: string;
}

export interface EngineOptions {
  config?: DetectorConfig;
  /** Detectors to run (default: all). */
  enabled?: readonly DetectorName[];
  /** Known-normal behaviour; when given, the learning windows are skipped (alerts from the first record). */
  baseline?: Baseline;
  suppressions?: readonly Suppression[];
  /** Wall clock for suppression expiry (epoch ms); default Date.now. */
  clock?: () => number;
  /** Identity of an application record's connection (e.g. from the Kubernetes resolver). */
  identify?: (c: AppConnKey) => ConnK8s | undefined;
  learning?: LearningOptions;
}

/** What an application record knows of its connection (AppRecordOut's `conn`). */
export interface AppConnKey {
  ts: number;
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  proto: Transport;
}

const ENGINE_STATE_VERSION = 1;

/** The detectors that learn what is normal (each has a learning window and `learning_seconds`). */
type LearnerName = 'new-edge' | 'sensitive-destination' | 'beacon' | 'long-connection';

export class DetectorEngine {
  readonly detectors: Detector[];
  /** The detectors that take application records: three of nine, and each record asked all nine. */
  private readonly appDetectors: Required<Pick<Detector, 'observeApp'>>[];
  readonly config: DetectorConfig;
  suppressions: Suppression[];
  private readonly clock: () => number;
  private readonly alertMap: CappedMap<string, Alert>;
  private readonly identify: EngineOptions['identify'];
  /** Alert ids changed since the last flush. */
  private changed = new Set<string>();
  private dataFirst = Infinity;
  private dataLast = -Infinity;
  private fromBaseline = false;

  constructor(opts: EngineOptions = {}) {
    this.config = opts.config ?? defaultDetectorConfig();
    // A detector switched off in the configuration (`enabled: false`) is not built at all.
    const names = (opts.enabled ?? DETECTOR_NAMES).filter((n) => this.config[n].enabled);
    this.detectors = names.map((n) => buildDetector(n, this.config));
    this.appDetectors = this.detectors.filter((d): d is Detector & Required<Pick<Detector, 'observeApp'>> => d.observeApp !== undefined);
    this.suppressions = [...(opts.suppressions ?? [])];
    this.clock = opts.clock ?? Date.now;
    this.alertMap = new CappedMap(this.config.max_alerts);
    this.identify = opts.identify;
    this.setLearning(opts.learning ?? {});
    if (opts.baseline) this.adoptBaseline(opts.baseline);
  }

  private learners(): (NewEdgeDetector | SensitiveDestinationDetector | BeaconDetector | LongConnectionDetector)[] {
    return this.detectors.filter(
      (d): d is NewEdgeDetector | SensitiveDestinationDetector | BeaconDetector | LongConnectionDetector =>
        d instanceof NewEdgeDetector || d instanceof SensitiveDestinationDetector || d instanceof BeaconDetector || d instanceof LongConnectionDetector,
    );
  }

  /** Sets every learning detector's window (see LearningOptions). */
  setLearning(o: LearningOptions): void {
    const span = o.dataSpan !== undefined ? Math.max(0, o.dataSpan[1] - o.dataSpan[0]) : undefined;
    for (const d of this.learners()) {
      let secs = d.window.seconds;
      if (o.share !== undefined && span !== undefined) secs = o.share * span;
      else if (o.seconds !== undefined) secs = o.seconds;
      else if (span !== undefined) secs = Math.min(secs, DEFAULT_LEARN_SHARE * span);
      d.window.seconds = secs;
    }
    if (o.share !== undefined && span === undefined && o.seconds === undefined)
      throw new Error('learning: a share of the data needs the data span (dataSpan) or a duration');
  }

  /**
   * Sets every learning detector's window length to `seconds`, or back to its configured
   * `learning_seconds`, keeping where it started: a long-running engine whose settings changed
   * (the service) applies the new length to the window in progress.
   */
  resetLearningSeconds(seconds?: number): void {
    for (const d of this.learners()) d.window.seconds = seconds ?? this.config[d.name as LearnerName].learning_seconds;
  }

  /** Each learning detector's window and how much it learned (what learningReport sums up). */
  learningWindows(): Record<string, { window_start: number | null; window_seconds: number; learned: number }> {
    const learned = this.learningReport().learned;
    const out: Record<string, { window_start: number | null; window_seconds: number; learned: number }> = {};
    for (const d of this.learners()) out[d.name] = { window_start: d.window.start, window_seconds: d.window.seconds, learned: learned[d.name] ?? 0 };
    return out;
  }

  /** The learning window and what it learned; a warning when it covered most of the data. */
  learningReport(): LearningReport {
    const ls = this.learners();
    let start: number | null = null;
    let seconds = 0;
    for (const d of ls) {
      if (d.window.start !== null && (start === null || d.window.start < start)) start = d.window.start;
      seconds = Math.max(seconds, d.window.seconds);
    }
    const first = Number.isFinite(this.dataFirst) ? this.dataFirst : null;
    const last = Number.isFinite(this.dataLast) ? this.dataLast : null;
    const end = start === null ? null : start + seconds;
    const span = first !== null && last !== null ? last - first : 0;
    const covered = end === null || first === null || last === null ? 0 : span <= 0 ? 1 : Math.min(1, Math.max(0, (Math.min(end, last) - first) / span));
    const learned: Record<string, number> = {};
    for (const d of ls) {
      if (d instanceof NewEdgeDetector) learned['new-edge'] = d.knownEdges().length;
      else if (d instanceof SensitiveDestinationDetector) learned['sensitive-destination'] = d.knownAccess().length;
      else if (d instanceof LongConnectionDetector) learned['long-connection'] = d.knownEdges().length;
      else learned.beacon = d.knownPairs();
    }
    const r: LearningReport = {
      start,
      end,
      seconds,
      data_first: first,
      data_last: last,
      covered_share: Math.round(covered * 1000) / 1000,
      baseline: this.fromBaseline,
      learned,
    };
    if (!this.fromBaseline && seconds > 0 && covered >= LEARN_WARN_SHARE)
      r.warning = `the learning window (${Math.round(seconds)} s) covered ${Math.round(covered * 100)} % of the data: what happened in it was taken as normal and cannot alert (shorten it with a duration or a share, or give a baseline)`;
    return r;
  }

  adoptBaseline(b: Baseline): void {
    for (const d of this.detectors) {
      if (d instanceof NewEdgeDetector) {
        d.addBaseline(b.edges);
        d.window.seconds = 0;
      } else if (d instanceof SensitiveDestinationDetector) {
        d.addBaseline(b.sensitive);
        d.window.seconds = 0;
      } else if (d instanceof LongConnectionDetector) {
        d.addBaseline(b.long ?? []);
        d.window.seconds = 0;
      } else if (d instanceof BeaconDetector) {
        // Without the pollers known in the clean period, every benign poller would be held to the new-pair bar.
        d.addBaseline(b.beacon ?? []);
        d.window.seconds = 0;
      }
    }
    this.fromBaseline = true;
  }

  /** What the learning detectors consider normal so far, as a baseline file's content. */
  exportBaseline(): Baseline {
    const b: Baseline = { version: 1, edges: [], sensitive: [], long: [] };
    for (const d of this.detectors) {
      if (d instanceof NewEdgeDetector) b.edges = d.knownEdges();
      else if (d instanceof SensitiveDestinationDetector) b.sensitive = d.knownAccess();
      else if (d instanceof LongConnectionDetector) b.long = d.knownEdges();
      else if (d instanceof BeaconDetector) b.beacon = d.knownKeys();
    }
    return b;
  }

  observe(r: ConnRecord): void {
    if (r.ts < this.dataFirst) this.dataFirst = r.ts;
    const end = r.ts + r.duration;
    if (end > this.dataLast) this.dataLast = end;
    for (const d of this.detectors) d.observe(r);
  }

  /** An application record with its connection's addresses (AppRecordOut); identity from `identify`. */
  observeApp(rec: AppInput & { conn: AppConnKey }): void {
    const c = rec.conn;
    const ctx: ConnContext = { uid: rec.uid, ts: c.ts, orig_h: c.orig_h, resp_h: c.resp_h, resp_p: c.resp_p };
    const k8s = this.identify?.(c);
    if (k8s !== undefined) ctx.k8s = k8s;
    this.observeAppWith(rec, ctx);
  }

  /** An application record whose connection is already described (its record, or a Hubble L7 event). */
  observeAppWith(rec: AppInput, conn: ConnContext): void {
    for (const d of this.appDetectors) d.observeApp(rec, conn);
  }

  /**
   * Runs the detectors' flush and returns the alerts created or updated since the last flush
   * (suppressions applied). `now` (epoch seconds, data time) closes finished windows; without it
   * everything open is judged, as at the end of a batch.
   */
  flush(now?: number): Alert[] {
    for (const d of this.detectors) for (const f of d.flush(now)) this.upsert(f);
    const out: Alert[] = [];
    for (const id of [...this.changed].sort()) {
      const a = this.alertMap.get(id);
      if (a !== undefined) out.push(a);
    }
    this.changed = new Set();
    return this.suppress(out);
  }

  /** Every alert held, in first-seen order, suppressions applied. */
  alerts(): Alert[] {
    const all = [...this.alertMap.map.values()].sort((a, b) => a.first_seen - b.first_seen || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return this.suppress(all);
  }

  private suppress(list: Alert[]): Alert[] {
    return this.suppressions.length === 0 ? list.map((a) => ({ ...a, suppressed_by: null })) : applySuppressions(list, this.suppressions, this.clock());
  }

  private upsert(f: Finding): void {
    const id = alertId(f.detector, f.source, f.destination, f.key);
    const a = this.alertMap.touch(id);
    if (a === undefined) {
      this.alertMap.set(id, {
        id,
        detector: f.detector,
        title: f.title,
        severity: f.severity,
        score: f.score,
        mitre: f.mitre,
        source: f.source,
        destination: f.destination,
        first_seen: f.first_seen,
        last_seen: f.last_seen,
        count: Math.max(1, f.count),
        evidence: { uids: f.uids.slice(0, ALERT_MAX_UIDS), figures: f.figures },
        status: 'open',
        suppressed_by: null,
        note: null,
      });
    } else {
      a.count += f.count;
      a.first_seen = Math.min(a.first_seen, f.first_seen);
      a.last_seen = Math.max(a.last_seen, f.last_seen);
      for (const u of f.uids) {
        if (a.evidence.uids.length >= ALERT_MAX_UIDS) break;
        if (!a.evidence.uids.includes(u)) a.evidence.uids.push(u);
      }
      a.evidence.figures = f.figures;
      a.title = f.title;
      a.score = Math.max(a.score, f.score);
      if (SEVERITY_RANK[f.severity] > SEVERITY_RANK[a.severity]) a.severity = f.severity;
    }
    this.changed.add(id);
  }

  snapshot(): Json {
    const detectors: Record<string, Json> = {};
    for (const d of this.detectors) detectors[d.name] = d.snapshot();
    return {
      version: ENGINE_STATE_VERSION,
      detectors,
      alerts: [...this.alertMap.map.values()],
      changed: [...this.changed],
      data: [Number.isFinite(this.dataFirst) ? this.dataFirst : null, Number.isFinite(this.dataLast) ? this.dataLast : null],
      baseline: this.fromBaseline,
    } as unknown as Json;
  }

  restore(state: Json): void {
    const s = state as unknown as {
      version: number;
      detectors: Record<string, Json>;
      alerts: Alert[];
      changed: string[];
      data?: [number | null, number | null];
      baseline?: boolean;
    };
    if (s === null || typeof s !== 'object' || s.version !== ENGINE_STATE_VERSION) {
      throw new Error(`detector state: unsupported version ${String((s as { version?: unknown } | null)?.version)} (expected ${ENGINE_STATE_VERSION})`);
    }
    for (const d of this.detectors) {
      const st = s.detectors[d.name];
      if (st !== undefined) d.restore(st);
    }
    this.alertMap.clear();
    for (const a of s.alerts) this.alertMap.set(a.id, a);
    this.changed = new Set(s.changed);
    this.dataFirst = s.data?.[0] ?? Infinity;
    this.dataLast = s.data?.[1] ?? -Infinity;
    this.fromBaseline = s.baseline ?? false;
  }
}
