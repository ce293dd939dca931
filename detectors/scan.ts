/**
 * Scans and sweeps from inside the cluster, by Threshold Random Walk (Jung, Paxson, Berger,
 * Balakrishnan, "Fast Portscan Detection Using Sequential Hypothesis Testing", IEEE S&P 2004).
 *
 * Each first contact of a source with a (host, port) pair is a Bernoulli trial: it succeeds
 * (the responder answered) with probability theta0 for a benign source and theta1 for a scanner.
 * The likelihood ratio is multiplied by theta1/theta0 on success and (1-theta1)/(1-theta0) on
 * failure; at eta1 = PD/PF it declares a scanner, at eta0 = (1-PD)/(1-PF) benign (and the walk
 * starts over). Two walks per source: per host over its ports (vertical scan) and per port over
 * hosts (horizontal sweep). A busy healthy client makes many first contacts that succeed, so its
 * walk falls to eta0; a count threshold would flag it.
 */
import type { ConnRecord } from '../parsers/record/conn';
import type { AlertEntity } from './contract/alert';
import { ALERT_MAX_UIDS } from './contract/alert';
import { CappedMap, FindingBuffer, round3 } from './common';
import type { DetectorConfig } from './config';
import { attemptOutcome, destEntity, sourceEntity } from './entity';
import { PairKeys } from './intern';
import type { Detector, Finding, Json } from './types';

export const SCAN = 'scan';

interface Walk {
  lr: number;
  contacts: number;
  failures: number;
  first: number;
  last: number;
  uids: string[];
  /** Distinct values of the other axis (ports for a vertical walk, hosts for a horizontal one), capped. */
  distinct: number;
}

interface SourceState {
  /** (host|port) first contacts, oldest first, with their time. */
  contacts: [string, number][];
  vertical: [string, Walk][];
  horizontal: [string, Walk][];
  source: AlertEntity;
}

class Source {
  readonly contacts: CappedMap<string, number>;
  readonly vertical = new CappedMap<string, Walk>(256);
  readonly horizontal = new CappedMap<string, Walk>(256);
  constructor(
    cap: number,
    public source: AlertEntity,
  ) {
    this.contacts = new CappedMap(cap);
  }
}

/**
 * The uids of a walk without failures: shared, as most walks (a source's answered first contacts)
 * never fail, and an array each was 32 bytes of tens of thousands of walks. Frozen: a push on it
 * would be a bug.
 */
const NO_UIDS: string[] = Object.freeze([]) as unknown as string[];

function newWalk(ts: number): Walk {
  return { lr: 1, contacts: 0, failures: 0, first: ts, last: ts, uids: NO_UIDS, distinct: 0 };
}

export class ScanDetector implements Detector {
  readonly name = SCAN;
  private readonly out = new FindingBuffer();
  private readonly sources: CappedMap<string, Source>;
  /**
   * (host|port) keys, shared by the sources' contact maps (each source's copy was 40 bytes of ~100k
   * entries), found by host and port number without building the key.
   */
  private readonly pairs = new PairKeys(50_000);
  /** "tcp/port" by port number (the detector sees TCP only): one string per port, not one per record. */
  private readonly ports = new Map<number, string>();
  private readonly up: number;
  private readonly down: number;
  readonly eta1: number;
  readonly eta0: number;

  constructor(private readonly cfg: DetectorConfig['scan']) {
    this.sources = new CappedMap(cfg.max_sources);
    this.up = (1 - cfg.theta1) / (1 - cfg.theta0);
    this.down = cfg.theta1 / cfg.theta0;
    this.eta1 = cfg.p_detect / cfg.p_false;
    this.eta0 = (1 - cfg.p_detect) / (1 - cfg.p_false);
  }

  observe(r: ConnRecord): void {
    // TCP only: a silent UDP service (statsd, syslog) looks the same as a closed port.
    if (r.interim || r.proto !== 'tcp') return;
    const o = r.k8s?.orig;
    if (o !== undefined ? o.kind === 'external' : !r.local_orig) return;
    const sk = o?.kind === 'pod' ? `${o.namespace ?? ''}/${o.pod ?? ''}` : r.orig_h;
    let s = this.sources.touch(sk);
    if (s === undefined) {
      s = new Source(this.cfg.max_contacts_per_source, sourceEntity(r));
      this.sources.set(sk, s);
    }
    // Forget first contacts older than the window: contacting them again is a first contact again.
    for (const [k, t] of s.contacts.entries()) {
      if (r.ts - t <= this.cfg.window_seconds) break;
      s.contacts.delete(k);
    }
    // One-way and midstream records say nothing of whether a first contact succeeded: neither step.
    const outcome = attemptOutcome(r);
    if (outcome === 'unknown') return;
    let port = this.ports.get(r.resp_p);
    if (port === undefined) {
      port = `${r.proto}/${r.resp_p}`;
      this.ports.set(r.resp_p, port);
    }
    // Every source that contacts a (host, port) keeps it as a key: one string for all of them.
    const pair = this.pairs.get(r.resp_h, r.resp_p, port);
    // Contacts hold times, never undefined: set's answer is whether the pair was known.
    if (s.contacts.set(pair, r.ts)) return;
    const ok = outcome === 'answered';
    this.step(s, s.vertical, r.resp_h, r, ok, 'vertical');
    this.step(s, s.horizontal, port, r, ok, 'horizontal');
  }

  private step(s: Source, walks: CappedMap<string, Walk>, key: string, r: ConnRecord, ok: boolean, kind: 'vertical' | 'horizontal'): void {
    let w = walks.touch(key);
    if (w === undefined || r.ts - w.last > this.cfg.window_seconds) {
      w = newWalk(r.ts);
      walks.set(key, w);
    }
    w.lr *= ok ? this.down : this.up;
    w.contacts++;
    w.distinct++;
    w.last = r.ts;
    if (!ok) {
      w.failures++;
      if (w.uids === NO_UIDS) w.uids = [r.uid];
      else if (w.uids.length < ALERT_MAX_UIDS) w.uids.push(r.uid);
    }
    if (w.lr <= this.eta0) {
      walks.set(key, newWalk(r.ts));
      return;
    }
    if (w.lr < this.eta1) return;
    const vertical = kind === 'vertical';
    const destination: AlertEntity = vertical ? destEntity(r, false) : { port: r.resp_p };
    const f: Finding = {
      detector: SCAN,
      title: vertical ? `Vertical port scan of ${r.resp_h}` : `Horizontal sweep of ${r.proto}/${r.resp_p}`,
      severity: 'high',
      score: round3(Math.min(1, Math.log(w.lr) / (2 * Math.log(this.eta1)))),
      mitre: ['T1046'],
      source: s.source,
      destination,
      key: vertical ? 'vertical' : `horizontal/${r.proto}/${r.resp_p}`,
      first_seen: w.first,
      last_seen: w.last,
      count: 1,
      uids: w.uids === NO_UIDS ? [] : w.uids,
      figures: {
        likelihood_ratio: round3(w.lr),
        eta1: round3(this.eta1),
        first_contacts: w.contacts,
        failed: w.failures,
        [vertical ? 'distinct_ports' : 'distinct_hosts']: w.distinct,
        theta0: this.cfg.theta0,
        theta1: this.cfg.theta1,
      },
    };
    this.out.add(f);
    walks.set(key, newWalk(r.ts));
  }

  flush(): Finding[] {
    return this.out.take();
  }

  snapshot(): Json {
    const sources: [string, SourceState][] = [];
    for (const [k, s] of this.sources.entries()) {
      sources.push([
        k,
        { contacts: [...s.contacts.entries()], vertical: [...s.vertical.entries()], horizontal: [...s.horizontal.entries()], source: s.source },
      ]);
    }
    return { out: this.out.snapshot(), sources } as unknown as Json;
  }

  restore(j: Json): void {
    const o = j as unknown as { out: Json; sources: [string, SourceState][] };
    this.out.restore(o.out);
    this.sources.clear();
    for (const [k, st] of o.sources) {
      const s = new Source(this.cfg.max_contacts_per_source, st.source);
      for (const [a, b] of st.contacts) s.contacts.set(a, b);
      for (const [a, b] of st.vertical) s.vertical.set(a, b);
      for (const [a, b] of st.horizontal) s.horizontal.set(a, b);
      this.sources.set(k, s);
    }
  }
}
