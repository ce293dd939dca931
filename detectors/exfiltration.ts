/**
 * Exfiltration / volume: bytes a workload sends to one destination, summed per time bucket, far
 * above that edge's own baseline. The baseline is robust: an EWMA of past buckets and the median
 * and MAD of the last `history` ones; a bucket alerts when it exceeds max(EWMA, median) by k
 * scaled MADs, by `min_ratio` times, and the absolute floor. Alerting buckets are kept out of the
 * baseline (it must not learn the exfiltration). Buckets without traffic are not zeros: the
 * baseline is "what a busy bucket of this edge looks like". Sources that report packets but no
 * bytes (Hubble) are judged on packets, with their own floor.
 */
import type { ConnRecord } from '../parsers/record/conn';
import { ALERT_MAX_UIDS, type AlertEntity } from './contract/alert';
import { CappedMap, FindingBuffer, mad, round3 } from './common';
import type { DetectorConfig } from './config';
import { destEntity, destKey, podWorkload, sourceEntity } from './entity';
import type { Detector, Finding, Json } from './types';

export const EXFILTRATION = 'exfiltration';
/** MAD to standard deviation under normality. */
const MAD_SCALE = 1.4826;

interface Edge {
  unit: 'bytes' | 'packets';
  source: AlertEntity;
  destination: AlertEntity;
  bucket: number;
  sum: number;
  conns: number;
  /** The bucket's connections by volume ([volume, uid]), largest kept: the evidence is the ones that carried the bulk. */
  top: [number, string][];
  first: number;
  last: number;
  history: number[];
  ewma: number | null;
}

export class ExfiltrationDetector implements Detector {
  readonly name = EXFILTRATION;
  private readonly out = new FindingBuffer();
  private readonly edges: CappedMap<string, Edge>;
  constructor(private readonly cfg: DetectorConfig['exfiltration']) {
    this.edges = new CappedMap(cfg.max_edges);
  }

  observe(r: ConnRecord): void {
    if (r.interim) return;
    const wl = podWorkload(r);
    if (wl === null) return;
    const hasBytes = r.orig_bytes > 0 || r.orig_ip_bytes > 0 || r.resp_bytes > 0;
    const key = `${wl}|${destKey(r)}`;
    const b = Math.floor(r.ts / this.cfg.bucket_seconds);
    let e = this.edges.touch(key);
    if (e === undefined) {
      e = {
        unit: hasBytes ? 'bytes' : 'packets',
        source: sourceEntity(r),
        destination: destEntity(r, false),
        bucket: b,
        sum: 0,
        conns: 0,
        top: [],
        first: r.ts,
        last: r.ts,
        history: [],
        ewma: null,
      };
      this.edges.set(key, e);
    }
    if (b > e.bucket) {
      this.close(e);
      e.bucket = b;
    }
    const v = e.unit === 'bytes' ? r.orig_bytes : r.orig_pkts;
    e.sum += v;
    e.conns++;
    e.top.push([v, r.uid]);
    if (e.top.length > 2 * ALERT_MAX_UIDS) {
      e.top.sort((x, y) => y[0] - x[0]);
      e.top.length = ALERT_MAX_UIDS;
    }
    if (e.conns === 1) e.first = r.ts;
    e.last = Math.max(e.last, r.ts + r.duration);
  }

  /** Judges the edge's open bucket against its history, then starts an empty one. */
  private close(e: Edge): void {
    if (e.conns === 0) return;
    const c = this.cfg;
    const v = e.sum;
    let alerted = false;
    if (e.history.length >= c.min_history) {
      const { median, mad: m } = mad(e.history);
      const base = Math.max(e.ewma ?? median, median);
      const floor = e.unit === 'bytes' ? c.min_bytes : c.min_packets;
      const limit = Math.max(base + c.k * MAD_SCALE * m, base * c.min_ratio, floor);
      if (v > limit) {
        alerted = true;
        this.out.add({
          detector: EXFILTRATION,
          title: `${e.unit === 'bytes' ? `${(v / 1e6).toFixed(1)} MB` : `${v} packets`} sent in ${c.bucket_seconds} s, ${(v / Math.max(base, 1)).toFixed(0)}x the edge's baseline`,
          severity: v > 10 * limit ? 'critical' : 'high',
          score: round3(Math.min(1, 0.6 + 0.1 * Math.log10(v / limit + 1) * 4)),
          mitre: ['T1041', 'T1048'],
          source: e.source,
          destination: e.destination,
          key: e.unit,
          first_seen: e.first,
          last_seen: e.last,
          count: 1,
          uids: bulk(e.top, v),
          figures: {
            [`sent_${e.unit}`]: v,
            baseline_ewma: round3(e.ewma ?? 0),
            baseline_median: median,
            baseline_mad: m,
            limit: round3(limit),
            k: c.k,
            min_ratio: c.min_ratio,
            history_buckets: e.history.length,
            bucket_s: c.bucket_seconds,
            connections: e.conns,
          },
        });
      }
    }
    if (!alerted) {
      e.history.push(v);
      if (e.history.length > c.history) e.history.shift();
      e.ewma = e.ewma === null ? v : c.alpha * v + (1 - c.alpha) * e.ewma;
    }
    e.sum = 0;
    e.conns = 0;
    e.top = [];
  }

  flush(now?: number): Finding[] {
    for (const e of this.edges.map.values()) {
      if (now === undefined || (e.bucket + 1) * this.cfg.bucket_seconds <= now) this.close(e);
    }
    return this.out.take();
  }

  snapshot(): Json {
    return { out: this.out.snapshot(), edges: [...this.edges.entries()] } as unknown as Json;
  }

  restore(j: Json): void {
    const o = j as unknown as { out: Json; edges: [string, Edge][] };
    this.out.restore(o.out);
    this.edges.clear();
    for (const [k, v] of o.edges) this.edges.set(k, v);
  }
}

/** The largest connections that together carried 80 % of the bucket's volume (the transfer, not the background). */
function bulk(top: [number, string][], total: number): string[] {
  const sorted = [...top].sort((x, y) => y[0] - x[0] || (x[1] < y[1] ? -1 : 1));
  const out: string[] = [];
  let acc = 0;
  for (const [v, uid] of sorted) {
    if (out.length >= ALERT_MAX_UIDS || (out.length > 0 && acc >= 0.8 * total)) break;
    out.push(uid);
    acc += v;
  }
  return out;
}
