/**
 * The detectors in the service. A capture job runs a fresh engine over its records as they
 * stream (as `analyze` does). Flow jobs share one continuous engine whose state (windows,
 * learned edges, open alerts) is kept in Redis, or in the data directory on the embedded
 * default: each batch runs under a lock, starting from the newest saved state, so any worker may
 * take the next batch and a restarted worker loses nothing.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type IORedis from 'ioredis';
import { type Baseline, DetectorEngine, type EngineOptions } from '../../../detectors/engine';
import type { DetectorConfig } from '../../../detectors/config';
import { identifyWith } from '../../k8s/identify';
import type { K8sResolver } from '../../k8s/resolver';
import type { Json } from '../../../detectors/types';
import type { Alert } from '../../../detectors/contract/alert';
import type { ConnRecord } from '../../../parsers/record/conn';
import type { AlertOrigin, Store } from '../../store/types';
import type { Metrics } from '../metrics';
import { NO_ALERTS, type AlertBatch, type AlertSink } from './alerts';
import type { AppRecordOut } from '../../../parsers/record/app';

export interface StateSlot {
  /** Runs `fn` with the saved state (null: none yet) and saves what it returns, exclusively. */
  update(fn: (state: Json | null) => Promise<Json>): Promise<void>;
}

/** One process: a file, rewritten atomically, and a promise chain as the lock. */
export class FileStateSlot implements StateSlot {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly file: string) {}

  update(fn: (state: Json | null) => Promise<Json>): Promise<void> {
    const run = this.chain.then(async () => {
      const state = fs.existsSync(this.file) ? (JSON.parse(fs.readFileSync(this.file, 'utf8')) as Json) : null;
      const next = await fn(state);
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(`${this.file}.tmp`, JSON.stringify(next));
      fs.renameSync(`${this.file}.tmp`, this.file);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * Many processes: the state under one key, a lock key with a token and an expiry (so a killed
 * worker's lock lapses), and an in-process chain so this process's batches do not race each other.
 */
export class RedisStateSlot implements StateSlot {
  private chain: Promise<void> = Promise.resolve();
  constructor(
    private readonly redis: IORedis,
    private readonly key: string,
    private readonly lockMs = 60_000,
  ) {}

  private async acquire(): Promise<string> {
    const token = crypto.randomBytes(12).toString('hex');
    const deadline = Date.now() + 5 * this.lockMs;
    for (let wait = 10; ; wait = Math.min(wait * 2, 500)) {
      if ((await this.redis.set(`${this.key}:lock`, token, 'PX', this.lockMs, 'NX')) === 'OK') return token;
      if (Date.now() > deadline) throw new Error(`detector state ${this.key}: lock not acquired in ${5 * this.lockMs} ms`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  update(fn: (state: Json | null) => Promise<Json>): Promise<void> {
    const run = this.chain.then(async () => {
      const token = await this.acquire();
      try {
        const raw = await this.redis.get(this.key);
        const next = await fn(raw === null ? null : (JSON.parse(raw) as Json));
        await this.redis.set(this.key, JSON.stringify(next));
      } finally {
        await this.redis.eval(RELEASE, 1, `${this.key}:lock`, token);
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

export interface DetectorServiceOptions {
  store: Store;
  metrics: Metrics;
  slot: StateSlot;
  /** Detector thresholds (default: detectors/config.ts's defaults). */
  config?: DetectorConfig;
  /** Known-normal behaviour: the learning windows are skipped. */
  baseline?: Baseline;
  /** Learning window, seconds of data time (default: each detector's). */
  learnSeconds?: number;
}

function engineSettings(o: DetectorServiceOptions): EngineOptions {
  const e: EngineOptions = {};
  if (o.config !== undefined) e.config = o.config;
  if (o.baseline !== undefined) e.baseline = o.baseline;
  if (o.learnSeconds !== undefined) e.learning = { seconds: o.learnSeconds };
  return e;
}

async function storeAlerts(store: Store, metrics: Metrics, alerts: readonly Alert[], origin?: AlertOrigin): Promise<number> {
  if (alerts.length === 0) return 0;
  await store.writeAlerts(alerts, origin);
  for (const a of alerts) metrics.alerts.inc({ detector: a.detector });
  return alerts.length;
}

export function detectorSink(o: DetectorServiceOptions): AlertSink {
  return {
    batch(resolver: K8sResolver | null, origin?: AlertOrigin): AlertBatch {
      let engine: DetectorEngine | null = null;
      const queued: (() => void)[] = [];
      // Suppressions are read once per capture; the engine starts at the first record.
      const ready = o.store.listSuppressions().then((suppressions) => {
        engine = new DetectorEngine({ ...engineSettings(o), suppressions, identify: resolver ? identifyWith(resolver) : undefined });
        for (const q of queued.splice(0)) q();
      });
      const feed = (f: (e: DetectorEngine) => void): void => {
        if (engine) f(engine);
        else queued.push(() => f(engine as DetectorEngine));
      };
      return {
        conn: (r: ConnRecord) => feed((e) => e.observe(r)),
        app: (r: AppRecordOut) => feed((e) => e.observeApp(r)),
        async finish() {
          await ready;
          const e = engine as DetectorEngine;
          e.flush();
          const raised = e.alerts();
          await storeAlerts(o.store, o.metrics, raised, origin);
          return raised.map((a) => a.id);
        },
      };
    },
    async continuous(records, resolver, dns) {
      if (records.length === 0 && !dns?.length) return 0;
      let raised: Alert[] = [];
      const suppressions = await o.store.listSuppressions();
      await o.slot.update(async (state) => {
        const engine = new DetectorEngine({ ...engineSettings(o), suppressions, identify: resolver ? identifyWith(resolver) : undefined });
        if (state !== null) engine.restore(state);
        let now = 0;
        for (const d of dns ?? []) {
          engine.observeAppWith(d.rec, d.ctx);
          if (d.ctx.ts > now) now = d.ctx.ts;
        }
        for (const r of records) {
          engine.observe(r);
          if (r.ts > now) now = r.ts;
        }
        // Windows that ended before the newest record are judged now; open ones wait for more data.
        raised = engine.flush(now);
        return engine.snapshot();
      });
      return storeAlerts(o.store, o.metrics, raised);
    },
  };
}

/** The CLI's choice: detectors on (default) with state where the deployment keeps shared state, or off. */
export function serviceAlerts(
  rt: { store: Store; metrics: Metrics; redis: IORedis | null; cfg: { dataDir: string; queuePrefix: string } },
  enabled: boolean,
): AlertSink {
  if (!enabled) return NO_ALERTS;
  const slot: StateSlot = rt.redis
    ? new RedisStateSlot(rt.redis, `${rt.cfg.queuePrefix}:detectors:flows`)
    : new FileStateSlot(path.join(rt.cfg.dataDir, 'detectors-flows.json'));
  return detectorSink({ store: rt.store, metrics: rt.metrics, slot });
}
