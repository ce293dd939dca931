/**
 * DNS tunnelling and DGA, per source workload:
 * - tunnel: many distinct subdomains under one registered domain, long and high-entropy (data
 *   encoded in the names), that the source did not then connect to (a workload using many
 *   object-store buckets or load-balancer names connects to what they resolve to);
 * - unusual record types (TXT, NULL) queried repeatedly under one registered domain;
 * - a registered domain queried a lot and never connected to (no connection from the source to
 *   any address it resolved to): DNS used as the channel, not as a phone book;
 * - DGA: NXDOMAIN answers for many distinct high-entropy registered domains.
 * Each indicator fires once per episode (the domain's state expires after a quiet window).
 * Cluster-internal names (cluster.local search-path expansions) and reverse lookups are ignored.
 */
import type { ConnRecord } from '../parsers/record/conn';
import type { DnsLogRecord } from '../parsers/record/app';
import { ALERT_MAX_UIDS, type AlertEntity } from './contract/alert';
import { CappedMap, FindingBuffer, round3 } from './common';
import type { DetectorConfig } from './config';
import { entityOf } from './entity';
import { entropy, normalizeName, splitRegistered, underSuffix } from './dns-names';
import type { Detector, Finding, Json } from './types';
import type { AppInput, ConnContext } from '../parsers/record/app';

export const DNS_TUNNEL = 'dns-tunnel';

interface DomainState {
  source: AlertEntity;
  subs: string[];
  lenSum: number;
  entSum: number;
  queries: number;
  unusual: number;
  unusualTypes: string[];
  answers: number;
  connected: boolean;
  /** Connections from the source to addresses the domain's names resolved to. */
  conns?: number;
  first: number;
  last: number;
  uids: string[];
  fired: string[];
}

interface SourceState {
  source: AlertEntity;
  nx: [string, number][];
  nxUids: string[];
  nxFirst: number;
  nxFired: boolean;
}

/** Per source: the DGA state (NXDOMAIN registered domains with their time, capped). */
class Source {
  readonly nx = new CappedMap<string, number>(256);
  nxUids: string[] = [];
  nxFirst = 0;
  nxFired = false;
  constructor(public source: AlertEntity) {}
}

function sourceKey(c: Pick<ConnContext, 'orig_h' | 'k8s'>): string {
  const o = c.k8s?.orig;
  return o?.workload !== undefined ? `wl:${o.namespace ?? ''}/${o.workload}` : `ip:${c.orig_h}`;
}

export class DnsTunnelDetector implements Detector {
  readonly name = DNS_TUNNEL;
  private readonly out = new FindingBuffer();
  private readonly sources: CappedMap<string, Source>;
  /** "source|registered domain" -> its state: one bound for all sources together. */
  private readonly domains: CappedMap<string, DomainState>;
  /** "source|address" -> registered domain it was resolved from (for "never connected"). */
  private readonly resolved = new CappedMap<string, string>(200_000);
  private readonly unusual: Set<string>;

  constructor(private readonly cfg: DetectorConfig['dns-tunnel']) {
    this.sources = new CappedMap(cfg.max_sources);
    this.domains = new CappedMap(cfg.max_domains);
    this.unusual = new Set(cfg.unusual_types.map((t) => t.toUpperCase()));
  }

  observe(r: ConnRecord): void {
    // Empty unless some answer was an address under a name not ignored: no key to build then.
    if (r.interim || this.resolved.size === 0) return;
    const sk = sourceKey(r);
    const reg = this.resolved.get(`${sk}|${r.resp_h}`);
    if (reg === undefined) return;
    const d = this.domains.get(`${sk}|${reg}`);
    if (d !== undefined) {
      d.connected = true;
      d.conns = (d.conns ?? 0) + 1;
    }
  }

  observeApp(rec: AppInput, conn: ConnContext): void {
    if (rec.kind !== 'dns' || rec.query === null || rec.query === '') return;
    const name = normalizeName(rec.query);
    if (underSuffix(name, this.cfg.ignore_suffixes)) return;
    const sk = sourceKey(conn);
    let s = this.sources.touch(sk);
    if (s === undefined) {
      s = new Source(entityOf(conn.orig_h, conn.k8s?.orig));
      this.sources.set(sk, s);
    }
    const { registered, sub } = splitRegistered(name);
    if (registered === '') return;
    if (isNx(rec)) this.nxdomain(s, registered, rec, conn);
    const dk = `${sk}|${registered}`;
    let d = this.domains.touch(dk);
    if (d === undefined || rec.ts - d.last > this.cfg.window_seconds) {
      d = {
        source: s.source,
        subs: [],
        lenSum: 0,
        entSum: 0,
        queries: 0,
        unusual: 0,
        unusualTypes: [],
        answers: 0,
        connected: false,
        conns: 0,
        first: rec.ts,
        last: rec.ts,
        uids: [],
        fired: [],
      };
      this.domains.set(dk, d);
    }
    d.queries++;
    d.last = Math.max(d.last, rec.ts);
    if (d.uids.length < ALERT_MAX_UIDS && !d.uids.includes(rec.uid)) d.uids.push(rec.uid);
    if (sub !== '' && d.subs.length < this.cfg.max_subdomains_per_domain && !d.subs.includes(sub)) {
      d.subs.push(sub);
      d.lenSum += sub.length;
      d.entSum += entropy(sub.replace(/\./g, ''));
    }
    const type = (rec.qtype_name ?? '').toUpperCase();
    if (this.unusual.has(type)) {
      d.unusual++;
      if (!d.unusualTypes.includes(type)) d.unusualTypes.push(type);
    }
    for (const a of rec.answers ?? []) {
      if (/^[0-9a-f:.]+$/i.test(a) && (a.includes('.') || a.includes(':'))) {
        d.answers++;
        this.resolved.set(`${sk}|${a}`, registered);
      }
    }
    this.judge(registered, d);
  }

  private judge(registered: string, d: DomainState): void {
    const c = this.cfg;
    const n = d.subs.length;
    const meanLen = n > 0 ? d.lenSum / n : 0;
    const meanEnt = n > 0 ? d.entSum / n : 0;
    const reasons: string[] = [];
    // Names the source then connected to are names it used (object-store buckets, load balancers), not data.
    const used = (d.conns ?? 0) >= n * c.max_used_share;
    if (n >= c.min_distinct_subdomains && meanLen >= c.min_mean_subdomain_length && meanEnt >= c.min_mean_entropy && !used) reasons.push('tunnel');
    if (d.unusual >= c.min_unusual_queries) reasons.push('unusual-type');
    if (d.queries >= c.min_queries_never_connected && !d.connected) reasons.push('never-connected');
    const fresh = reasons.filter((x) => !d.fired.includes(x));
    if (fresh.length === 0) return;
    d.fired.push(...fresh);
    const all = d.fired;
    const tunnel = all.includes('tunnel');
    const score = round3(Math.min(1, 0.5 + 0.2 * all.length + (tunnel ? Math.min(0.2, n / (10 * c.min_distinct_subdomains)) : 0)));
    this.out.add({
      detector: DNS_TUNNEL,
      title: tunnel
        ? `DNS tunnel under ${registered}`
        : all.includes('unusual-type')
          ? `Unusual DNS record types under ${registered}`
          : `${registered} queried a lot, never connected to`,
      severity: tunnel ? 'high' : 'medium',
      score,
      mitre: ['T1071.004', ...(tunnel ? ['T1048.003'] : [])],
      source: d.source,
      destination: { domain: registered },
      key: 'domain',
      first_seen: d.first,
      last_seen: d.last,
      count: fresh.length,
      uids: d.uids.slice(),
      figures: {
        reasons: all.join(','),
        distinct_subdomains: n,
        threshold_subdomains: c.min_distinct_subdomains,
        mean_subdomain_length: round3(meanLen),
        threshold_length: c.min_mean_subdomain_length,
        mean_entropy_bits: round3(meanEnt),
        threshold_entropy: c.min_mean_entropy,
        queries: d.queries,
        unusual_type_queries: d.unusual,
        unusual_types: d.unusualTypes.join(','),
        connected: d.connected,
        connections_to_answers: d.conns ?? 0,
      },
    });
  }

  private nxdomain(s: Source, registered: string, rec: DnsLogRecord & { uid: string }, conn: ConnContext): void {
    const label = registered.split('.')[0];
    if (label.length < 8 || entropy(label) < this.cfg.dga_min_entropy) return;
    if (s.nx.size === 0) s.nxFirst = rec.ts;
    for (const [k, t] of s.nx.entries()) {
      if (rec.ts - t <= this.cfg.window_seconds) break;
      s.nx.delete(k);
    }
    s.nx.set(registered, rec.ts);
    if (s.nxUids.length < ALERT_MAX_UIDS && !s.nxUids.includes(rec.uid)) s.nxUids.push(rec.uid);
    if (s.nxFired || s.nx.size < this.cfg.dga_min_nxdomains) return;
    s.nxFired = true;
    const names = [...s.nx.entries()].map(([k]) => k);
    this.out.add({
      detector: DNS_TUNNEL,
      title: 'DGA-like NXDOMAIN burst',
      severity: 'high',
      score: round3(Math.min(1, 0.7 + names.length / (10 * this.cfg.dga_min_nxdomains))),
      mitre: ['T1568.002'],
      source: s.source,
      destination: entityOf(conn.resp_h, conn.k8s?.resp),
      key: 'dga',
      first_seen: s.nxFirst,
      last_seen: rec.ts,
      count: 1,
      uids: s.nxUids.slice(),
      figures: {
        nxdomain_registered_domains: names.length,
        threshold: this.cfg.dga_min_nxdomains,
        entropy_threshold: this.cfg.dga_min_entropy,
        examples: names.slice(0, 5).join(','),
      },
    });
  }

  flush(): Finding[] {
    return this.out.take();
  }

  snapshot(): Json {
    const sources: [string, SourceState][] = [];
    for (const [k, s] of this.sources.entries()) {
      sources.push([k, { source: s.source, nx: [...s.nx.entries()], nxUids: s.nxUids, nxFirst: s.nxFirst, nxFired: s.nxFired }]);
    }
    return { out: this.out.snapshot(), sources, domains: [...this.domains.entries()], resolved: [...this.resolved.entries()] } as unknown as Json;
  }

  restore(j: Json): void {
    const o = j as unknown as { out: Json; sources: [string, SourceState][]; domains: [string, DomainState][]; resolved: [string, string][] };
    this.out.restore(o.out);
    this.sources.clear();
    for (const [k, st] of o.sources) {
      const s = new Source(st.source);
      for (const [a, b] of st.nx) s.nx.set(a, b);
      s.nxUids = st.nxUids;
      s.nxFirst = st.nxFirst;
      s.nxFired = st.nxFired;
      this.sources.set(k, s);
    }
    this.domains.clear();
    for (const [a, b] of o.domains) this.domains.set(a, b);
    this.resolved.clear();
    for (const [a, b] of o.resolved) this.resolved.set(a, b);
  }
}

function isNx(r: DnsLogRecord): boolean {
  return r.rcode === 3 || r.rcode_name === 'NXDOMAIN';
}
