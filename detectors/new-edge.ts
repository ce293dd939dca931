/**
 * New edges: after a learning window (or given a baseline of known edges), a workload talking to
 * a destination (service, workload, node or address) on a protocol/port never seen before. Edges
 * are between workloads, not pods, so a rollout or a new replica is not new. Only connections the
 * responder answered with data are edges (probes are the scan detector's). Every connection on a
 * new edge during its novelty period counts toward its alert; after that the edge is normal.
 *
 * Destinations outside the cluster are keyed by the name the client used (TLS server name, HTTP
 * Host, or the DNS name it resolved to that address, dest-names.ts) when one is known, so the
 * second address of a SaaS name is not a new edge. An external address whose name is not known
 * yet (the client resolved it before the capture began, or reuses a cached answer) is held for
 * `name_wait_seconds` before it is reported: a later answer naming the address with a name the
 * workload already uses withdraws it. Edges that alerted are never written to a saved baseline
 * (learning on day 1 must not bake day 1's attacks in).
 */
import type { ConnRecord } from '../parsers/record/conn';
import { CappedMap, FindingBuffer } from './common';
import type { DetectorConfig } from './config';
import { destEntity, destKey, exchangedData, podWorkload, sourceEntity } from './entity';
import { LearningWindow } from './learning';
import { SeenUids } from './seen';
import type { Detector, Finding, Json } from './types';
import { DestNames } from './dest-names';
import type { AppInput, ConnContext } from '../parsers/record/app';
import { parse as parseName } from 'tldts';

export const NEW_EDGE = 'new-edge';
/** First-seen time of edges that are normal (learned or from the baseline). */
const KNOWN = -1;

/** Whether the responder is outside the cluster (its name, not its address, identifies it). */
export function externalResp(r: ConnRecord): boolean {
  const k = r.k8s?.resp.kind;
  return k === undefined ? !r.local_resp : k === 'external';
}

export function edgeKey(r: ConnRecord, name?: string): string | null {
  const wl = podWorkload(r);
  if (wl === null) return null;
  const dst = name !== undefined && externalResp(r) ? `name:${name}` : destKey(r);
  return `${wl}|${dst}|${r.proto}/${r.resp_p}`;
}

/**
 * "workload|platform suffix|proto/port" of an edge to a name under a hosting platform's suffix
 * (the Public Suffix List's private section), else null.
 */
export function platformKey(edge: string): string | null {
  const [wl, dst, port] = edge.split('|');
  if (dst === undefined || port === undefined || !dst.startsWith('name:')) return null;
  const p = parseName(dst.slice(5), { allowPrivateDomains: true, validateHostname: false });
  if (!p.isPrivate || p.publicSuffix === null) return null;
  return `${wl}|${p.publicSuffix}|${port}`;
}

export class NewEdgeDetector implements Detector {
  readonly name = NEW_EDGE;
  private readonly out = new FindingBuffer();
  private readonly seen = new SeenUids();
  private readonly edges: CappedMap<string, number>;
  /** Edges that alerted -> their finding's id (to retract it if a late record shows the edge was normal). */
  private readonly alerted: CappedMap<string, string>;
  /** Findings on external addresses with no name yet, held until the data time they map to (see `name_wait_seconds`). */
  private readonly held = new FindingBuffer();
  private readonly heldUntil = new Map<string, number>();
  private readonly names = new DestNames();
  /** platformKey -> distinct known names under it (see `platform_min_names`). */
  private readonly platforms = new CappedMap<string, string[]>(10_000);
  readonly window: LearningWindow;
  constructor(private readonly cfg: DetectorConfig['new-edge']) {
    this.edges = new CappedMap(cfg.max_edges);
    this.alerted = new CappedMap(cfg.max_edges);
    this.window = new LearningWindow(cfg.learning_seconds);
  }

  /** Edges known in advance (a baseline file, the store's history): no learning window needed. */
  addBaseline(edges: Iterable<string>): void {
    for (const e of edges) this.known(e);
  }

  /** Marks an edge normal, and counts it toward its platform. */
  private known(key: string): void {
    this.edges.set(key, KNOWN);
    if (this.cfg.platform_min_names === 0) return;
    const pk = platformKey(key);
    if (pk === null) return;
    const names = this.platforms.get(pk) ?? [];
    // Only the count matters beyond the bar: no need to keep more names.
    if (names.length < this.cfg.platform_min_names && !names.includes(key)) this.platforms.set(pk, [...names, key]);
  }

  /** Whether the workload already uses the hosting platform this edge's name is under. */
  private onKnownPlatform(key: string): boolean {
    if (this.cfg.platform_min_names === 0) return false;
    const pk = platformKey(key);
    return pk !== null && (this.platforms.get(pk)?.length ?? 0) >= this.cfg.platform_min_names;
  }

  /** The edges normal so far that never alerted (to write a baseline). */
  knownEdges(): string[] {
    return [...this.edges.entries()]
      .filter(([k, v]) => v === KNOWN && this.alerted.get(k) === undefined)
      .map(([k]) => k)
      .sort();
  }

  /** How many edges were learned or given (for the learning report). */
  get edgeCount(): number {
    return this.edges.size;
  }

  observeApp(rec: AppInput, conn: ConnContext): void {
    this.names.observeApp(rec, conn);
  }

  /** Withdraws the alert of an edge that turned out normal, if it is not reported yet. */
  private withdraw(key: string): void {
    const id = this.alerted.get(key);
    if (id === undefined) return;
    if (this.heldUntil.has(id)) {
      this.held.remove(id);
      this.heldUntil.delete(id);
      this.alerted.delete(key);
    } else if (this.out.retract(id)) this.alerted.delete(key);
  }

  observe(r: ConnRecord): void {
    // The uid's name is consumed by the final record whatever follows; the lookup by address changes
    // nothing, so it waits until the record is known to make an edge.
    const byUid = this.names.nameByUid(r.uid, !r.interim);
    if (!exchangedData(r) || podWorkload(r) === null) return;
    let name = byUid ?? this.names.resolvedName(r);
    let key = edgeKey(r, name);
    if (key === null) return;
    const learning = this.window.learning(r.ts);
    if (name !== undefined && externalResp(r)) {
      const byAddress = edgeKey(r);
      if (byAddress !== null && byAddress !== key) {
        const prior = this.edges.get(byAddress);
        if (learning) {
          // The address served a name the workload uses: a later connection to it whose name is
          // not known (the lookup was before the capture, no SNI) is the same edge.
          this.known(byAddress);
        } else if (this.edges.get(key) === KNOWN && prior !== undefined && prior !== KNOWN) {
          // The edge alerted by address while its name was unknown, and the address serves a name
          // the workload already uses (a rotating pool's next address): it was not a new edge.
          // (An address merely named so is not marked known: another name may use it later.)
          this.withdraw(byAddress);
          this.known(byAddress);
        } else if (this.edges.get(key) === undefined && prior !== undefined && prior !== KNOWN) {
          // The edge alerted by address before its name was known (the lookup came later): the
          // same new edge, so its connections stay on that alert instead of raising a second.
          key = byAddress;
          name = undefined;
        }
      }
    }
    const first = this.edges.touch(key);
    if (first === KNOWN) return;
    if (first !== undefined && learning) {
      // A record from the learning window arriving after the edge alerted (records come when connections end): it was normal.
      this.known(key);
      this.withdraw(key);
      return;
    }
    if (first === undefined && name !== undefined && !learning) {
      // The address was an edge before its name was known (learned keyed by address): the same edge.
      const byAddress = edgeKey(r);
      if (byAddress !== null && byAddress !== key && this.edges.get(byAddress) === KNOWN) {
        this.edges.set(key, KNOWN);
        return;
      }
    }
    if (first === undefined && !learning && this.onKnownPlatform(key)) {
      this.known(key);
      return;
    }
    if (first === undefined) {
      if (learning) {
        this.known(key);
        return;
      }
      this.edges.set(key, r.ts);
    } else if (r.ts - first > this.cfg.novelty_seconds) {
      this.edges.set(key, KNOWN);
      return;
    }
    const firstSeen = first ?? r.ts;
    const dst = destEntity(r);
    if (name !== undefined && externalResp(r)) dst.domain = name;
    const external = r.k8s?.resp.kind === 'external';
    const f: Finding = {
      detector: NEW_EDGE,
      title: `New edge: ${key.split('|')[0]} -> ${dst.service ?? dst.workload ?? dst.node ?? dst.domain ?? dst.ip} ${r.proto}/${r.resp_p}`,
      severity: external ? 'medium' : 'low',
      score: external ? 0.6 : 0.5,
      mitre: external ? ['T1071'] : ['T1021'],
      source: sourceEntity(r),
      destination: dst,
      key: `${r.proto}/${r.resp_p}`,
      first_seen: r.ts,
      last_seen: r.ts + r.duration,
      count: this.seen.first(r.uid) ? 1 : 0,
      uids: [r.uid],
      figures: {
        edge_first_seen: firstSeen,
        learning_ended: (this.window.start ?? r.ts) + this.window.seconds,
        novelty_s: this.cfg.novelty_seconds,
        destination_key: key.split('|')[1],
      },
    };
    const id = FindingBuffer.idOf(f);
    this.alerted.set(key, id);
    if (this.heldUntil.has(id)) this.held.add(f);
    else if (first === undefined && name === undefined && externalResp(r) && this.cfg.name_wait_seconds > 0) {
      this.held.add(f);
      this.heldUntil.set(id, r.ts + this.cfg.name_wait_seconds);
    } else this.out.add(f);
  }

  /** With `now`, held findings whose wait for a name is over are reported; without it (end of the data), all of them. */
  flush(now?: number): Finding[] {
    for (const [id, until] of [...this.heldUntil]) {
      if (now !== undefined && until > now) continue;
      const f = this.held.remove(id);
      if (f !== undefined) this.out.add(f);
      this.heldUntil.delete(id);
    }
    return this.out.take();
  }

  snapshot(): Json {
    return {
      out: this.out.snapshot(),
      held: this.held.snapshot(),
      held_until: [...this.heldUntil],
      seen: this.seen.snapshot(),
      edges: [...this.edges.entries()],
      alerted: [...this.alerted.entries()],
      names: this.names.snapshot(),
      start: this.window.start,
      seconds: this.window.seconds,
    };
  }

  restore(s: Json): void {
    const o = s as {
      out: Json;
      held?: Json;
      held_until?: [string, number][];
      seen: Json;
      edges: [string, number][];
      alerted?: [string, string][];
      names?: Json;
      start: number | null;
      seconds: number;
    };
    this.out.restore(o.out);
    this.held.restore(o.held ?? []);
    this.heldUntil.clear();
    for (const [k, v] of o.held_until ?? []) this.heldUntil.set(k, v);
    this.seen.restore(o.seen);
    this.edges.clear();
    this.platforms.clear();
    for (const [k, v] of o.edges) {
      if (v === KNOWN) this.known(k);
      else this.edges.set(k, v);
    }
    this.alerted.clear();
    for (const [k, v] of o.alerted ?? []) this.alerted.set(k, v);
    this.names.restore(o.names ?? null);
    this.window.start = o.start;
    this.window.seconds = o.seconds;
  }
}
