/**
 * Beaconing: periodic connections from a workload to a destination, the destination named by the
 * TLS server name or the DNS name the source resolved it from when known (so a C2 domain behind
 * rotating addresses is one destination), else its address. Scored as RITA v5 does (rita.ts);
 * the score and its four subscores are the alert's evidence.
 *
 * The histogram and duration subscores are computed over the pair's own active span (first to
 * last connection), not the dataset's: a 20-minute beacon inside a 2-hour capture scores as it
 * would alone. The histogram's bins follow the pair's connection count (about 4 per bin, at most
 * RITA's 24) so that a short beacon is not judged on bins narrower than its interval, and are
 * whole mean intervals of the pair, centred on where its connections are expected (rita.ts,
 * `periodHistogram`): with 3-5 connections per bin, bins cut at arbitrary points gained or lost
 * one wherever a jittered connection fell near an edge. A pair must span `min_span_seconds` (a
 * burst of calls is not a beacon). Where the input has no byte
 * counts (Hubble) the data-size subscore is left out and the weights renormalised (the alert
 * says so: `sizes_known: false`); packet counts are not a stand-in, Cilium's monitor aggregation
 * makes them meaningless.
 *
 * Pairs already active in the learning window (benign pollers the workload always runs) must
 * reach `known_threshold`, a higher bar, and with byte counts (without them nothing tells a
 * known poller from a known beacon); new pairs the ordinary one. A beacon already running when
 * learning starts is therefore learned: give a baseline from a clean period to catch it.
 *
 * Pairs are judged on flush over a sliding window; a pair alerts once per episode (again only
 * after its state has expired). Service-to-service calls inside the cluster are periodic by
 * design, so by default only destinations outside the cluster's inventory are scored.
 */
import type { ConnRecord } from '../parsers/record/conn';
import { ALERT_MAX_UIDS, type AlertEntity } from './contract/alert';
import { CappedMap, FindingBuffer } from './common';
import { UID_NAMES_MAX } from './dest-names';
import { answerKey, internName } from './intern';
import type { DetectorConfig } from './config';
import { destEntity, sourceEntity } from './entity';
import { LearningWindow } from './learning';
import { ritaBeaconScore } from './rita';
import type { Detector, Finding, Json } from './types';
import type { AppInput, ConnContext } from '../parsers/record/app';

export const BEACON = 'beacon';

interface Pair {
  source: AlertEntity;
  destination: AlertEntity;
  ts: number[];
  sizes: number[];
  uids: string[];
  alerted: boolean;
  /** Some record of the pair carried byte counts. */
  bytes: boolean;
  /** First seen inside the learning window. */
  known: boolean;
}

export class BeaconDetector implements Detector {
  readonly name = BEACON;
  private readonly out = new FindingBuffer();
  private readonly pairs: CappedMap<string, Pair>;
  /** uid -> TLS server name, until the connection's record arrives (every named connection in flight: see UID_NAMES_MAX). */
  private readonly sni = new CappedMap<string, string>(UID_NAMES_MAX);
  /** "client|address" -> the name the client resolved to that address. */
  private readonly names = new CappedMap<string, string>(100_000);
  private minTs = Infinity;
  private maxTs = -Infinity;
  readonly window: LearningWindow;
  /** Pair keys (by name and by address) seen while learning: a pair is known if either was. */
  private readonly learned = new CappedMap<string, 1>(50_000);

  constructor(private readonly cfg: DetectorConfig['beacon']) {
    this.pairs = new CappedMap(cfg.max_pairs);
    this.window = new LearningWindow(cfg.learning_seconds);
  }

  /** Pair keys known in advance (a baseline from a clean period): held to `known_threshold` like learned ones. */
  addBaseline(keys: Iterable<string>): void {
    for (const k of keys) this.learned.set(k, 1);
  }

  /** Pair keys learned or given that never alerted (to write a baseline). */
  knownKeys(): string[] {
    const alerted = new Set<string>();
    for (const [k, p] of this.pairs.entries()) if (p.alerted) alerted.add(k);
    return [...this.learned.map.keys()].filter((k) => !alerted.has(k)).sort();
  }

  /** Pairs first seen while learning (for the learning report). */
  knownPairs(): number {
    let n = 0;
    for (const p of this.pairs.map.values()) if (p.known) n++;
    return n;
  }

  observeApp(rec: AppInput, conn: ConnContext): void {
    if (rec.kind === 'tls' && rec.server_name) this.sni.set(rec.uid, rec.server_name.toLowerCase());
    else if (rec.kind === 'dns' && rec.query && rec.answers) {
      for (const a of rec.answers)
        if (/^[0-9a-f:.]+$/i.test(a) && (a.includes('.') || a.includes(':'))) this.names.set(answerKey(conn.orig_h, a), internName(rec.query.toLowerCase()));
    }
  }

  private outside(r: ConnRecord): boolean {
    if (this.cfg.include_internal) return true;
    const k = r.k8s?.resp.kind;
    return k === undefined ? !r.local_resp : k === 'external' || k === 'internal';
  }

  observe(r: ConnRecord): void {
    if (r.interim) return;
    const sni = this.sni.get(r.uid);
    if (sni !== undefined) this.sni.delete(r.uid);
    const learning = this.window.learning(r.ts);
    if (!this.outside(r)) return;
    if (r.ts < this.minTs) this.minTs = r.ts;
    if (r.ts > this.maxTs) this.maxTs = r.ts;
    const domain = sni ?? this.names.get(`${r.orig_h}|${r.resp_h}`);
    const o = r.k8s?.orig;
    const src = o?.workload !== undefined ? `wl:${o.namespace ?? ''}/${o.workload}` : `ip:${r.orig_h}`;
    const key = `${src}|${domain !== undefined ? `dom:${domain}` : `ip:${r.resp_h}`}`;
    const byIp = `${src}|ip:${r.resp_h}`;
    if (learning) {
      this.learned.set(key, 1);
      this.learned.set(byIp, 1);
    }
    let p = this.pairs.touch(key);
    if (p === undefined) {
      const destination: AlertEntity = domain !== undefined ? { domain } : destEntity(r, false);
      p = {
        source: sourceEntity(r),
        destination,
        ts: [],
        sizes: [],
        uids: [],
        alerted: false,
        bytes: false,
        known: learning || this.learned.get(key) !== undefined || this.learned.get(byIp) !== undefined,
      };
      this.pairs.set(key, p);
    }
    p.ts.push(r.ts);
    // Payload bytes; IP bytes where a flow source counted no payload (VPC, one-way NetFlow), so
    // a flow source's sizes are not all taken for zero (a perfectly regular size).
    const payload = r.orig_bytes + r.resp_bytes;
    const bytes = payload > 0 ? payload : r.orig_ip_bytes + r.resp_ip_bytes;
    if (bytes > 0) p.bytes = true;
    p.sizes.push(bytes);
    if (p.uids.length < ALERT_MAX_UIDS) p.uids.push(r.uid);
    if (p.ts.length > this.cfg.max_events_per_pair) {
      p.ts.shift();
      p.sizes.shift();
    }
  }

  flush(now?: number): Finding[] {
    const end = now ?? this.maxTs;
    const start = Math.max(this.minTs, end - this.cfg.window_seconds);
    for (const [k, p] of this.pairs.entries()) {
      while (p.ts.length > 0 && p.ts[0] < start) {
        p.ts.shift();
        p.sizes.shift();
      }
      if (p.ts.length === 0) {
        this.pairs.delete(k);
        continue;
      }
      if (p.alerted || p.ts.length < this.cfg.min_connections) continue;
      const first = p.ts[0];
      const last = p.ts[p.ts.length - 1];
      if (last - first < this.cfg.min_span_seconds) continue;
      const bins = Math.max(4, Math.min(this.cfg.hist_bins, Math.floor(p.ts.length / 4)));
      const s = ritaBeaconScore(p.ts, p.sizes, first, last, this.cfg, { sizesKnown: p.bytes, bins, periodBins: true });
      const threshold = p.known ? this.cfg.known_threshold : this.cfg.threshold;
      // A known pair differs from what was learned only if its sizes say so: without byte counts it never alerts.
      if (s === null || s.score < threshold || (p.known && !s.sizes_known)) continue;
      p.alerted = true;
      this.out.add({
        detector: BEACON,
        title: `Beaconing every ~${s.ts_mode} s to ${p.destination.domain ?? p.destination.ip}`,
        severity: s.score >= 0.9 ? 'high' : 'medium',
        score: s.score,
        mitre: ['T1071', 'T1573'],
        source: p.source,
        destination: p.destination,
        key: '',
        first_seen: p.ts[0],
        last_seen: p.ts[p.ts.length - 1],
        count: 1,
        uids: p.uids.slice(0, ALERT_MAX_UIDS),
        figures: {
          score: s.score,
          threshold,
          known_pair: p.known,
          ts_score: s.ts,
          ds_score: s.sizes_known ? s.ds : 'unknown (no byte counts: left out, weights renormalised)',
          sizes_known: s.sizes_known,
          hist_score: s.hist,
          dur_score: s.dur,
          ts_skew: s.ts_skew,
          ts_mad_s: s.ts_mad,
          ds_skew: s.ds_skew,
          ds_mad: s.ds_mad,
          interval_mode_s: s.ts_mode,
          connections: p.ts.length,
          histogram_bars: s.bars,
          histogram_bins: s.bins,
          span_s: Math.round(last - first),
        },
      });
    }
    return this.out.take();
  }

  snapshot(): Json {
    return {
      out: this.out.snapshot(),
      pairs: [...this.pairs.entries()],
      sni: [...this.sni.entries()],
      names: [...this.names.entries()],
      minTs: Number.isFinite(this.minTs) ? this.minTs : null,
      maxTs: Number.isFinite(this.maxTs) ? this.maxTs : null,
      start: this.window.start,
      seconds: this.window.seconds,
      learned: [...this.learned.map.keys()],
    } as unknown as Json;
  }

  restore(j: Json): void {
    const o = j as unknown as {
      out: Json;
      pairs: [string, Pair][];
      sni: [string, string][];
      names: [string, string][];
      minTs: number | null;
      maxTs: number | null;
      start: number | null;
      seconds: number;
      learned?: string[];
    };
    this.out.restore(o.out);
    this.pairs.clear();
    for (const [k, v] of o.pairs) this.pairs.set(k, v);
    this.sni.clear();
    for (const [k, v] of o.sni) this.sni.set(k, v);
    this.names.clear();
    for (const [k, v] of o.names) this.names.set(k, v);
    this.minTs = o.minTs ?? Infinity;
    this.maxTs = o.maxTs ?? -Infinity;
    this.window.start = o.start;
    this.window.seconds = o.seconds;
    this.learned.clear();
    for (const k of o.learned ?? []) this.learned.set(k, 1);
  }
}
