/**
 * Exfiltration / volume: bytes a workload sends to one destination, summed per time bucket, far
 * above that edge's own baseline. The baseline is robust: an EWMA of past buckets and the median
 * and MAD of the last `history` ones; a bucket alerts when it exceeds max(EWMA, median) by k
 * scaled MADs, by `min_ratio` times, and the absolute floor. Alerting buckets are kept out of the
 * baseline (it must not learn the exfiltration). Buckets without traffic are not zeros: the
 * baseline is "what a busy bucket of this edge looks like". Sources that report packets but no
 * bytes (Hubble) are judged on packets, with their own floor.
 *
 * A destination the workload never sent to has no edge history: its buckets (and those of any
 * edge still short of `min_history`) are judged against the workload's own egress over all its
 * destinations instead (the same robust rule on the per-bucket totals), so a large upload to a
 * first-contact address alerts in the same run. Payload bytes where known, else IP bytes.
 *
 * Peers: a workload's replicas behind one Service do the same work, so in one bucket they send
 * about the same to the same destinations. Each bucket also judges the replica that sent the
 * most to the destination against its siblings (the workload's other pods with egress in that
 * bucket): above `peer_ratio` times the median of what the siblings sent there; or, when no
 * replica ever sent to that destination (first contact) and no sibling does now, above
 * `peer_new_ratio` times the median of the siblings' whole egress in the bucket. First contact
 * weighs most: it needs no history at all, so it holds in the first hour of data too. The same
 * floors apply. A peer alert and an edge alert of one workload and destination are one alert.
 *
 * Long connections count as they go: each interim record adds what was sent since the previous
 * record of that connection, and a record covering more than a bucket (a keep-alive connection's
 * hour, or a flow source's final record of a connection held for hours) adds its volume as a rate
 * (the share of one bucket), not as a burst: a Kafka consumer's six hours are not one upload.
 * The price: an upload inside a connection already open for long is diluted by its age.
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

/** A workload's egress over all its destinations, per bucket. */
interface Egress {
  bucket: number;
  sum: number;
  history: number[];
  ewma: number | null;
  /** The open bucket's egress per replica (pod), and the previous bucket's (edges close after the workload moved on). */
  pods?: Record<string, number>;
  prev?: { bucket: number; pods: Record<string, number> } | null;
}

interface Edge {
  unit: 'bytes' | 'packets';
  /** The source workload's Egress key. */
  wl: string;
  source: AlertEntity;
  destination: AlertEntity;
  bucket: number;
  sum: number;
  conns: number;
  /** The bucket's connections by volume ([volume, uid, pod]), largest kept: the evidence is the ones that carried the bulk. */
  top: [number, string, string?][];
  /** The bucket's volume per replica, and each replica as an alert entity. */
  pods?: Record<string, number>;
  podSource?: Record<string, AlertEntity>;
  /** Buckets closed so far (0: no replica of the workload ever sent here before this bucket). */
  closed?: number;
  first: number;
  last: number;
  history: number[];
  ewma: number | null;
}

export class ExfiltrationDetector implements Detector {
  readonly name = EXFILTRATION;
  private readonly out = new FindingBuffer();
  private readonly edges: CappedMap<string, Edge>;
  private readonly egress: CappedMap<string, Egress>;
  /** uid -> [volume counted so far, end time of the last record]: interim records add only their increase. */
  private readonly counted = new CappedMap<string, [number, number]>(50_000);
  /** Edge keys per workload egress key: a workload's finished bucket closes its edges' buckets too. */
  private readonly byWl = new Map<string, Set<string>>();
  constructor(private readonly cfg: DetectorConfig['exfiltration']) {
    this.edges = new CappedMap(cfg.max_edges, (k, e) => this.byWl.get(e.wl)?.delete(k));
    this.egress = new CappedMap(cfg.max_edges);
  }

  /** Adds `v` to the workload's egress, closing its earlier bucket into the history. */
  private addEgress(key: string, b: number, v: number, pod: string): void {
    let g = this.egress.touch(key);
    if (g === undefined) {
      g = { bucket: b, sum: 0, history: [], ewma: null, pods: {}, prev: null };
      this.egress.set(key, g);
    }
    if (b > g.bucket) {
      this.closeWorkloadEdges(key, g.bucket);
      this.closeEgress(g);
      g.bucket = b;
    }
    g.sum += v;
    g.pods ??= {};
    g.pods[pod] = (g.pods[pod] ?? 0) + v;
  }

  /**
   * Judges the workload's edges whose bucket is finished, while the workload's per-replica egress
   * of that bucket is still at hand (the peer rule): an edge used once would otherwise wait for
   * the end of the data, long after its siblings' figures are gone.
   */
  private closeWorkloadEdges(wl: string, upTo: number): void {
    const keys = this.byWl.get(wl);
    if (keys === undefined) return;
    for (const k of keys) {
      const e = this.edges.get(k);
      if (e === undefined) keys.delete(k);
      else if (e.bucket <= upTo && e.conns > 0) this.close(e);
    }
  }

  private index(key: string, e: Edge): void {
    let set = this.byWl.get(e.wl);
    if (set === undefined) {
      set = new Set();
      this.byWl.set(e.wl, set);
    }
    set.add(key);
  }

  private closeEgress(g: Egress): void {
    g.prev = { bucket: g.bucket, pods: g.pods ?? {} };
    g.pods = {};
    if (g.sum <= 0) return;
    g.history.push(g.sum);
    if (g.history.length > this.cfg.history) g.history.shift();
    g.ewma = g.ewma === null ? g.sum : this.cfg.alpha * g.sum + (1 - this.cfg.alpha) * g.ewma;
    g.sum = 0;
  }

  observe(r: ConnRecord): void {
    const wl = podWorkload(r);
    if (wl === null) return;
    const hasBytes = r.orig_bytes > 0 || r.orig_ip_bytes > 0 || r.resp_bytes > 0;
    // Report counts (aggregated Hubble) grow with a connection's duration, not its volume: without
    // bytes there is nothing to judge, and judging the reports would call long connections uploads.
    if (!hasBytes && r.counts === 'reports') return;
    const unit = hasBytes ? 'bytes' : 'packets';
    const key = `${wl}|${destKey(r)}`;
    const end = r.ts + r.duration;
    const b = Math.floor(end / this.cfg.bucket_seconds);
    let e = this.edges.touch(key);
    if (e === undefined) {
      e = {
        unit,
        wl: `${wl}|${unit}`,
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
        pods: {},
        podSource: {},
        closed: 0,
      };
      this.edges.set(key, e);
      this.index(key, e);
    }
    if (b > e.bucket) {
      this.close(e);
      e.bucket = b;
    }
    // Payload bytes, else IP bytes (flow exporters that count only those), else packets.
    const total = e.unit === 'bytes' ? (r.orig_bytes > 0 ? r.orig_bytes : r.orig_ip_bytes) : r.orig_pkts;
    const prev = this.counted.get(r.uid);
    if (r.interim) this.counted.set(r.uid, [total, end]);
    else if (prev !== undefined) this.counted.delete(r.uid);
    const delta = Math.max(0, total - (prev?.[0] ?? 0));
    const period = end - (prev?.[1] ?? r.ts);
    const v = period > this.cfg.bucket_seconds ? Math.round((delta * this.cfg.bucket_seconds) / period) : delta;
    const pod = r.k8s?.orig.pod ?? r.orig_h;
    this.addEgress(e.wl, b, v, pod);
    e.sum += v;
    e.conns++;
    e.pods ??= {};
    e.podSource ??= {};
    e.pods[pod] = (e.pods[pod] ?? 0) + v;
    e.podSource[pod] ??= sourceEntity(r);
    e.top.push([v, r.uid, pod]);
    if (e.top.length > 2 * ALERT_MAX_UIDS) {
      e.top.sort((x, y) => y[0] - x[0]);
      e.top.length = ALERT_MAX_UIDS;
    }
    if (e.conns === 1) e.first = r.ts;
    e.last = Math.max(e.last, end);
  }

  /** Judges the edge's open bucket against its history (or, for a young edge, the workload's egress), then starts an empty one. */
  private close(e: Edge): void {
    if (e.conns === 0) return;
    const c = this.cfg;
    const v = e.sum;
    let alerted = false;
    const g = this.egress.get(e.wl);
    // The workload's history without this bucket: its egress buckets closed before this one.
    const wlHistory = g === undefined ? [] : g.history;
    const own = e.history.length >= c.min_history;
    const against = own ? 'edge' : 'workload egress';
    const history = own ? e.history : wlHistory;
    const ewma = own ? e.ewma : (g?.ewma ?? null);
    if (history.length >= c.min_history) {
      const { median, mad: m } = mad(history);
      const base = Math.max(ewma ?? median, median);
      const floor = e.unit === 'bytes' ? c.min_bytes : c.min_packets;
      const limit = Math.max(base + c.k * MAD_SCALE * m, base * c.min_ratio, floor);
      if (v > limit) {
        alerted = true;
        this.out.add({
          detector: EXFILTRATION,
          title: `${e.unit === 'bytes' ? `${(v / 1e6).toFixed(1)} MB` : `${v} packets`} sent in ${c.bucket_seconds} s, ${(v / Math.max(base, 1)).toFixed(0)}x the ${own ? "edge's baseline" : "workload's usual egress (new destination)"}`,
          severity: v > 10 * limit || !own ? 'critical' : 'high',
          score: round3(Math.min(1, 0.6 + 0.1 * Math.log10(v / limit + 1) * 4 + (own ? 0 : 0.1))),
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
            baseline: against,
            new_destination: !own,
            edge_history_buckets: e.history.length,
            baseline_ewma: round3(ewma ?? 0),
            baseline_median: median,
            baseline_mad: m,
            limit: round3(limit),
            k: c.k,
            min_ratio: c.min_ratio,
            history_buckets: history.length,
            bucket_s: c.bucket_seconds,
            connections: e.conns,
          },
        });
      }
    }
    if (!alerted) alerted = this.judgePeers(e, g);
    if (!alerted) {
      e.history.push(v);
      if (e.history.length > c.history) e.history.shift();
      e.ewma = e.ewma === null ? v : c.alpha * v + (1 - c.alpha) * e.ewma;
    }
    e.sum = 0;
    e.conns = 0;
    e.top = [];
    e.pods = {};
    e.podSource = {};
    e.closed = (e.closed ?? e.history.length) + 1;
  }

  /** The replica that sent the most to the edge's destination this bucket, against its siblings (see the header). */
  private judgePeers(e: Edge, g: Egress | undefined): boolean {
    const c = this.cfg;
    const pods = e.pods ?? {};
    // The workload's egress per replica in this edge's bucket (the workload may have moved on by one).
    const egress = g === undefined ? undefined : g.bucket === e.bucket ? g.pods : g.prev?.bucket === e.bucket ? g.prev.pods : undefined;
    if (egress === undefined) return false;
    const replicas = new Set([...Object.keys(egress).filter((p) => egress[p] > 0), ...Object.keys(pods)]);
    if (replicas.size < 2) return false;
    let pod = '';
    let v = 0;
    for (const [p, x] of Object.entries(pods)) if (x > v || (x === v && p < pod)) [pod, v] = [p, x];
    const siblings = [...replicas].filter((p) => p !== pod);
    const toDest = siblings.map((p) => pods[p] ?? 0).filter((x) => x > 0);
    const firstContact = (e.closed ?? e.history.length) === 0;
    let basis: 'siblings to destination' | 'siblings total egress';
    let reference: number;
    let ratio: number;
    if (toDest.length > 0) {
      basis = 'siblings to destination';
      reference = mad(toDest).median;
      ratio = c.peer_ratio;
    } else if (firstContact) {
      basis = 'siblings total egress';
      reference = mad(siblings.map((p) => egress[p] ?? 0)).median;
      ratio = c.peer_new_ratio;
    } else return false;
    const floor = e.unit === 'bytes' ? c.min_bytes : c.min_packets;
    const limit = Math.max(ratio * reference, floor);
    if (v <= limit) return false;
    const times = reference > 0 ? `${(v / reference).toFixed(0)}x` : 'far above';
    this.out.add({
      detector: EXFILTRATION,
      title: `${e.unit === 'bytes' ? `${(v / 1e6).toFixed(1)} MB` : `${v} packets`} sent in ${c.bucket_seconds} s by one replica, ${times} ${
        basis === 'siblings to destination' ? 'what its sibling replicas sent there' : "its sibling replicas' whole egress (first-contact destination)"
      }`,
      severity: firstContact ? 'critical' : 'high',
      score: round3(Math.min(1, 0.6 + 0.4 * Math.log10(v / limit + 1) + (firstContact ? 0.1 : 0))),
      mitre: ['T1041', 'T1048'],
      source: e.podSource?.[pod] ?? e.source,
      destination: e.destination,
      key: e.unit,
      first_seen: e.first,
      last_seen: e.last,
      count: 1,
      uids: bulk(
        e.top.filter((t) => t[2] === pod),
        v,
      ),
      figures: {
        [`sent_${e.unit}`]: v,
        baseline: 'peers',
        peer_basis: basis,
        new_destination: firstContact,
        replica: pod,
        sibling_replicas: siblings.length,
        peer_reference: round3(reference),
        peer_ratio: ratio,
        limit: round3(limit),
        edge_history_buckets: e.history.length,
        bucket_s: c.bucket_seconds,
      },
    });
    return true;
  }

  flush(now?: number): Finding[] {
    for (const [wl, g] of this.egress.entries()) {
      // Only finished buckets: the open one may still grow.
      if (now !== undefined && (g.bucket + 1) * this.cfg.bucket_seconds <= now) {
        this.closeWorkloadEdges(wl, g.bucket);
        this.closeEgress(g);
        g.bucket = Math.floor(now / this.cfg.bucket_seconds);
      }
    }
    for (const e of this.edges.map.values()) {
      if (now === undefined || (e.bucket + 1) * this.cfg.bucket_seconds <= now) this.close(e);
    }
    return this.out.take();
  }

  snapshot(): Json {
    return {
      out: this.out.snapshot(),
      edges: [...this.edges.entries()],
      egress: [...this.egress.entries()],
      counted: [...this.counted.entries()],
    } as unknown as Json;
  }

  restore(j: Json): void {
    const o = j as unknown as { out: Json; edges: [string, Edge][]; egress?: [string, Egress][]; counted?: [string, [number, number]][] };
    this.out.restore(o.out);
    this.edges.clear();
    this.byWl.clear();
    for (const [k, v] of o.edges) {
      this.edges.set(k, v);
      this.index(k, v);
    }
    this.egress.clear();
    for (const [k, v] of o.egress ?? []) this.egress.set(k, v);
    this.counted.clear();
    for (const [k, v] of o.counted ?? []) this.counted.set(k, v);
  }
}

/** The largest connections that together carried 80 % of the bucket's volume (the transfer, not the background). */
function bulk(top: [number, string, string?][], total: number): string[] {
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
