/**
 * Long connections: open for an hour or more (RITA's long_connection thresholds), seen from
 * interim records while the connection is still open, so the alert does not wait for its end.
 * Score: duration / the critical band (capped at 1).
 *
 * What is not judged:
 * - tunnel outer flows (VXLAN, Geneve: UDP 4789/8472/6081, or a record some inner connection
 *   names in its tunnel_parents): they carry connections, they are not one;
 * - connections on an edge (source workload, destination, proto/port) that holds long-lived
 *   connections habitually: a connection of the edge that started inside the learning window (or
 *   before the data began: a watch, a keep-alive scrape, a consumer or a pool open when the
 *   capture started) and lasted `min_seconds` makes the edge long-lived-normal, for every
 *   replica of the workload, as does a baseline entry. A connection opened after learning on an
 *   edge that never held one is what alerts.
 */
import type { ConnRecord } from '../parsers/record/conn';
import type { Severity } from './contract/alert';
import { CappedMap, FindingBuffer, round3 } from './common';
import type { DetectorConfig } from './config';
import { destEntity, destKey, sourceEntity } from './entity';
import { LearningWindow } from './learning';
import { PerConnectionDetector } from './seen';
import type { Finding, Json } from './types';

export const LONG_CONNECTION = 'long-connection';

/** The edge a long connection is judged on: the source's workload (or address), the destination, proto/port. */
export function longEdgeKey(r: ConnRecord): string {
  const o = r.k8s?.orig;
  const src = o?.workload !== undefined ? `${o.namespace ?? ''}/${o.workload}` : `ip:${r.orig_h}`;
  return `${src}|${destKey(r)}|${r.proto}/${r.resp_p}`;
}

export class LongConnectionDetector extends PerConnectionDetector {
  readonly name = LONG_CONNECTION;
  readonly window: LearningWindow;
  private readonly tunnelPorts: Set<number>;
  /** uids of tunnel outer flows (named in an inner record's tunnel_parents). */
  private readonly tunnels = new CappedMap<string, 1>(20_000);
  /** Edges that hold long-lived connections normally (learned or from the baseline). */
  private readonly normal = new CappedMap<string, 1>(100_000);
  /** Edges that alerted (kept out of a saved baseline) -> their finding's id. */
  private readonly alerted = new CappedMap<string, string>(100_000);

  constructor(private readonly cfg: DetectorConfig['long-connection']) {
    super();
    this.window = new LearningWindow(cfg.learning_seconds);
    this.tunnelPorts = new Set(cfg.tunnel_udp_ports);
  }

  addBaseline(edges: Iterable<string>): void {
    for (const e of edges) this.normal.set(e, 1);
  }

  /** Long-lived-normal edges that never alerted (for a saved baseline). */
  knownEdges(): string[] {
    return [...this.normal.map.keys()].filter((k) => this.alerted.get(k) === undefined).sort();
  }

  private isTunnel(r: ConnRecord): boolean {
    if (r.service.some((s) => s === 'vxlan' || s === 'geneve' || s === 'ayiya' || s === 'teredo' || s === 'gtpv1')) return true;
    if (r.proto === 'udp' && (this.tunnelPorts.has(r.resp_p) || this.tunnelPorts.has(r.orig_p))) return true;
    return this.tunnels.get(r.uid) !== undefined;
  }

  observe(r: ConnRecord): void {
    for (const p of r.tunnel_parents) this.tunnels.set(p, 1);
    // Every record moves the window (its start is the first record's time).
    const learning = this.window.learning(r.ts);
    const c = this.cfg;
    if (r.duration < c.min_seconds || this.isTunnel(r)) return;
    const edge = longEdgeKey(r);
    if (learning || r.observed === 'midstream') {
      // Open when learning (or when the data began): what this edge habitually holds. A flow
      // source emits records when connections end, so this may come after the edge alerted on a
      // later connection: the alert is withdrawn while it is still unreported.
      const id = this.alerted.get(edge);
      if (id === undefined) this.normal.set(edge, 1);
      else if (this.out.retract(id)) {
        this.alerted.delete(edge);
        this.normal.set(edge, 1);
      }
      if (learning) return;
    }
    if (this.normal.touch(edge) !== undefined && this.alerted.get(edge) === undefined) return;
    const severity: Severity =
      r.duration >= c.critical_seconds ? 'critical' : r.duration >= c.high_seconds ? 'high' : r.duration >= c.medium_seconds ? 'medium' : 'low';
    const f: Finding = {
      detector: LONG_CONNECTION,
      title: `Connection open ${(r.duration / 3600).toFixed(1)} h`,
      severity,
      score: round3(Math.min(1, r.duration / c.critical_seconds)),
      mitre: ['T1071', 'T1095'],
      source: sourceEntity(r),
      destination: destEntity(r),
      key: `${r.proto}/${r.resp_p}`,
      first_seen: r.ts,
      last_seen: r.ts + r.duration,
      // An interim record and the final one are one connection.
      count: this.seen.first(r.uid) ? 1 : 0,
      uids: [r.uid],
      figures: {
        duration_s: round3(r.duration),
        threshold_s: c.min_seconds,
        interim: r.interim,
        orig_bytes: r.orig_bytes,
        resp_bytes: r.resp_bytes,
        edge_long_lived_normal: false,
      },
    };
    this.alerted.set(edge, FindingBuffer.idOf(f));
    this.out.add(f);
  }

  override snapshot(): Json {
    return {
      base: super.snapshot(),
      tunnels: [...this.tunnels.map.keys()],
      normal: [...this.normal.map.keys()],
      alerted: [...this.alerted.entries()],
      start: this.window.start,
      seconds: this.window.seconds,
    };
  }

  override restore(s: Json): void {
    const o = s as { base: Json; tunnels: string[]; normal: string[]; alerted: [string, string][]; start: number | null; seconds: number };
    super.restore(o.base);
    this.tunnels.clear();
    for (const u of o.tunnels) this.tunnels.set(u, 1);
    this.normal.clear();
    for (const u of o.normal) this.normal.set(u, 1);
    this.alerted.clear();
    for (const [k, v] of o.alerted) this.alerted.set(k, v);
    this.window.start = o.start;
    this.window.seconds = o.seconds;
  }
}
