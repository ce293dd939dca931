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
import { NewEdgeDetector } from './new-edge';
import { buildDetector } from './registry';
import { SensitiveDestinationDetector } from './sensitive-destination';
import { applySuppressions } from './contract/suppress';
import type { Detector, Finding, Json } from './types';
import type { AppInput, ConnContext } from '../parsers/record/app';

export interface Baseline {
  version: 1;
  /** new-edge keys: "ns/workload|destination|proto/port". */
  edges: string[];
  /** sensitive-destination: "ns/workload|category". */
  sensitive: string[];
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

export class DetectorEngine {
  readonly detectors: Detector[];
  readonly config: DetectorConfig;
  suppressions: Suppression[];
  private readonly clock: () => number;
  private readonly alertMap: CappedMap<string, Alert>;
  private readonly identify: EngineOptions['identify'];
  /** Alert ids changed since the last flush. */
  private changed = new Set<string>();

  constructor(opts: EngineOptions = {}) {
    this.config = opts.config ?? defaultDetectorConfig();
    const names = opts.enabled ?? DETECTOR_NAMES;
    this.detectors = names.map((n) => buildDetector(n, this.config));
    this.suppressions = [...(opts.suppressions ?? [])];
    this.clock = opts.clock ?? Date.now;
    this.alertMap = new CappedMap(this.config.max_alerts);
    this.identify = opts.identify;
    if (opts.baseline) this.adoptBaseline(opts.baseline);
  }

  adoptBaseline(b: Baseline): void {
    for (const d of this.detectors) {
      if (d instanceof NewEdgeDetector) {
        d.addBaseline(b.edges);
        d.window.seconds = 0;
      } else if (d instanceof SensitiveDestinationDetector) {
        d.addBaseline(b.sensitive);
        d.window.seconds = 0;
      }
    }
  }

  /** What the learning detectors consider normal so far, as a baseline file's content. */
  exportBaseline(): Baseline {
    const b: Baseline = { version: 1, edges: [], sensitive: [] };
    for (const d of this.detectors) {
      if (d instanceof NewEdgeDetector) b.edges = d.knownEdges();
      else if (d instanceof SensitiveDestinationDetector) b.sensitive = d.knownAccess();
    }
    return b;
  }

  observe(r: ConnRecord): void {
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
    for (const d of this.detectors) d.observeApp?.(rec, conn);
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
    } as unknown as Json;
  }

  restore(state: Json): void {
    const s = state as unknown as {
      version: number;
      detectors: Record<string, Json>;
      alerts: Alert[];
      changed: string[];
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
  }
}
