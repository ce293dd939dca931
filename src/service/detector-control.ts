/**
 * What an operator controls of the service's detectors: their settings (thresholds and learning
 * window), the baseline of known-normal behaviour, and the continuous engine's learned state
 * (shown, exported as a baseline, reset). Settings and baseline start from the configuration
 * (`detectors` section); what an admin sets through the API is kept where every worker finds it
 * (Redis when the deployment has one, else the data directory) and wins until it is cleared.
 *
 * The continuous engine's state lives in a StateSlot beside a small `service` record of what was
 * applied to it (the baseline's revision, the last reset), so that a baseline given through the
 * API is adopted by the next flow batch whichever worker takes it, exactly once.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type IORedis from 'ioredis';
import { type DetectorConfig, parseDetectorConfig } from '../../detectors/config';
import { type Baseline, DetectorEngine, type EngineOptions, type LearningReport } from '../../detectors/engine';
import type { Json } from '../../detectors/types';
import type { DetectorStartup } from './config';

export interface StateSlot {
  /** Runs `fn` with the saved state (null: none yet) and saves what it returns, exclusively. */
  update(fn: (state: Json | null) => Promise<Json>): Promise<void>;
  /** The saved state as it is now (no lock: a batch may be writing the next one). */
  read(): Promise<Json | null>;
}

/** One process: a file, rewritten atomically, and a promise chain as the lock. */
export class FileStateSlot implements StateSlot {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly file: string) {}

  async read(): Promise<Json | null> {
    return fs.existsSync(this.file) ? (JSON.parse(fs.readFileSync(this.file, 'utf8')) as Json) : null;
  }

  update(fn: (state: Json | null) => Promise<Json>): Promise<void> {
    const run = this.chain.then(async () => {
      const next = await fn(await this.read());
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

  async read(): Promise<Json | null> {
    const raw = await this.redis.get(this.key);
    return raw === null ? null : (JSON.parse(raw) as Json);
  }

  update(fn: (state: Json | null) => Promise<Json>): Promise<void> {
    const run = this.chain.then(async () => {
      const token = await this.acquire();
      try {
        const next = await fn(await this.read());
        await this.redis.set(this.key, JSON.stringify(next));
      } finally {
        await this.redis.eval(RELEASE, 1, `${this.key}:lock`, token);
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/** Settings an admin gave through the API. */
export interface ApiSettings {
  /** Thresholds as given (any subset of detectors/config.ts), validated when set. */
  config: Record<string, unknown>;
  learn_seconds: number | null;
  updated_at: string;
  updated_by: string;
}

export interface StoredBaseline {
  baseline: Baseline;
  /** sha256 of the baseline's JSON (first 16 hex digits): what the engine state records as adopted. */
  rev: string;
  updated_at: string;
  updated_by: string;
}

/** Where API-set settings and baseline are kept. */
export interface DetectorSettingsRepo {
  settings(): Promise<ApiSettings | null>;
  setSettings(s: ApiSettings | null): Promise<void>;
  /** The baseline's revision only (cheap: read on every flow batch). */
  baselineRev(): Promise<string | null>;
  baseline(): Promise<StoredBaseline | null>;
  setBaseline(b: StoredBaseline | null): Promise<void>;
}

function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

export class FileSettingsRepo implements DetectorSettingsRepo {
  private readonly dir: string;
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'detectors');
  }

  private readJson<T>(name: string): T | null {
    const f = path.join(this.dir, name);
    return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as T) : null;
  }

  async settings(): Promise<ApiSettings | null> {
    return this.readJson<ApiSettings>('settings.json');
  }

  async setSettings(s: ApiSettings | null): Promise<void> {
    if (s === null) fs.rmSync(path.join(this.dir, 'settings.json'), { force: true });
    else writeAtomic(path.join(this.dir, 'settings.json'), JSON.stringify(s));
  }

  async baselineRev(): Promise<string | null> {
    const f = path.join(this.dir, 'baseline.rev');
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null;
  }

  async baseline(): Promise<StoredBaseline | null> {
    return this.readJson<StoredBaseline>('baseline.json');
  }

  async setBaseline(b: StoredBaseline | null): Promise<void> {
    // The revision goes last on set and first on clear: a reader that sees it finds the body.
    if (b === null) {
      fs.rmSync(path.join(this.dir, 'baseline.rev'), { force: true });
      fs.rmSync(path.join(this.dir, 'baseline.json'), { force: true });
      return;
    }
    writeAtomic(path.join(this.dir, 'baseline.json'), JSON.stringify(b));
    writeAtomic(path.join(this.dir, 'baseline.rev'), b.rev);
  }
}

export class RedisSettingsRepo implements DetectorSettingsRepo {
  constructor(
    private readonly redis: IORedis,
    private readonly prefix: string,
  ) {}

  async settings(): Promise<ApiSettings | null> {
    const raw = await this.redis.get(`${this.prefix}:settings`);
    return raw === null ? null : (JSON.parse(raw) as ApiSettings);
  }

  async setSettings(s: ApiSettings | null): Promise<void> {
    if (s === null) await this.redis.del(`${this.prefix}:settings`);
    else await this.redis.set(`${this.prefix}:settings`, JSON.stringify(s));
  }

  async baselineRev(): Promise<string | null> {
    return this.redis.get(`${this.prefix}:baseline:rev`);
  }

  async baseline(): Promise<StoredBaseline | null> {
    const raw = await this.redis.get(`${this.prefix}:baseline`);
    return raw === null ? null : (JSON.parse(raw) as StoredBaseline);
  }

  async setBaseline(b: StoredBaseline | null): Promise<void> {
    if (b === null) await this.redis.del(`${this.prefix}:baseline:rev`, `${this.prefix}:baseline`);
    else await this.redis.multi().set(`${this.prefix}:baseline`, JSON.stringify(b)).set(`${this.prefix}:baseline:rev`, b.rev).exec();
  }
}

export function baselineRev(b: Baseline): string {
  return crypto.createHash('sha256').update(JSON.stringify(b)).digest('hex').slice(0, 16);
}

/** The settings the detectors run with now, and where each part came from. */
export interface EffectiveSettings {
  config: DetectorConfig;
  learnSeconds: number | null;
  baseline: { baseline: Baseline; rev: string } | null;
  source: { settings: 'api' | 'configuration' | 'default'; baseline: 'api' | 'configuration' | 'none' };
}

/** What the service keeps beside the engine's snapshot in the slot. */
interface ServiceMark {
  /** The baseline revision adopted into this state (null: none). */
  baseline_rev: string | null;
  /** When the state was last reset (ISO), and by whom. */
  reset_at?: string;
  reset_by?: string;
}

type SlotState = Record<string, unknown> & { service?: ServiceMark; version?: number };

/** The engine's snapshot in a slot state (null after a reset or before any batch). */
function engineState(s: Json | null): Json | null {
  const o = s as SlotState | null;
  return o !== null && typeof o === 'object' && o.version !== undefined ? (s as Json) : null;
}

function markOf(s: Json | null): ServiceMark {
  const o = s as SlotState | null;
  return o?.service ?? { baseline_rev: null };
}

export interface LearningState extends LearningReport {
  /** Each learning detector's window (data time) and what it learned. */
  detectors: Record<string, { window_start: number | null; window_seconds: number; learned: number }>;
  /** Whether the continuous engine has seen any flow since it started or was reset. */
  state: 'empty' | 'learning' | 'detecting';
  baseline_rev: string | null;
  reset_at: string | null;
  reset_by: string | null;
}

/** Cap on what a baseline may hold, per list (a body this size is already ~tens of MB). */
export const BASELINE_MAX_ENTRIES = 500_000;

export class DetectorControl {
  private cached: { rev: string; baseline: Baseline } | null = null;
  private readonly startupRev: string | null;

  constructor(
    readonly slot: StateSlot,
    readonly repo: DetectorSettingsRepo,
    readonly startup: DetectorStartup,
  ) {
    this.startupRev = startup.baseline ? baselineRev(startup.baseline) : null;
  }

  static open(o: { redis: IORedis | null; dataDir: string; queuePrefix: string; startup: DetectorStartup }): DetectorControl {
    const slot: StateSlot = o.redis
      ? new RedisStateSlot(o.redis, `${o.queuePrefix}:detectors:flows`)
      : new FileStateSlot(path.join(o.dataDir, 'detectors-flows.json'));
    const repo: DetectorSettingsRepo = o.redis ? new RedisSettingsRepo(o.redis, `${o.queuePrefix}:detectors`) : new FileSettingsRepo(o.dataDir);
    return new DetectorControl(slot, repo, o.startup);
  }

  async effective(): Promise<EffectiveSettings> {
    const api = await this.repo.settings();
    const rev = await this.repo.baselineRev();
    let baseline: EffectiveSettings['baseline'] = null;
    let bsource: EffectiveSettings['source']['baseline'] = 'none';
    if (rev !== null) {
      if (this.cached?.rev !== rev) {
        const stored = await this.repo.baseline();
        this.cached = stored === null ? null : { rev: stored.rev, baseline: stored.baseline };
      }
      if (this.cached !== null) {
        baseline = this.cached;
        bsource = 'api';
      }
    }
    if (baseline === null && this.startup.baseline !== null && this.startupRev !== null) {
      baseline = { baseline: this.startup.baseline, rev: this.startupRev };
      bsource = 'configuration';
    }
    if (api !== null) {
      return {
        config: parseDetectorConfig(api.config, 'detector settings (API)'),
        learnSeconds: api.learn_seconds,
        baseline,
        source: { settings: 'api', baseline: bsource },
      };
    }
    const configured = this.startup.given !== null || this.startup.learnSeconds !== null;
    return {
      config: this.startup.config,
      learnSeconds: this.startup.learnSeconds,
      baseline,
      source: { settings: configured ? 'configuration' : 'default', baseline: bsource },
    };
  }

  /** Validates (throws DetectorConfigError naming the setting) and keeps the API's settings. */
  async setSettings(config: Record<string, unknown>, learnSeconds: number | null, by: string): Promise<ApiSettings> {
    parseDetectorConfig(config, 'config');
    const s: ApiSettings = { config, learn_seconds: learnSeconds, updated_at: new Date().toISOString(), updated_by: by };
    await this.repo.setSettings(s);
    return s;
  }

  async setBaseline(b: Baseline | null, by: string): Promise<StoredBaseline | null> {
    if (b === null) {
      await this.repo.setBaseline(null);
      return null;
    }
    const s: StoredBaseline = { baseline: b, rev: baselineRev(b), updated_at: new Date().toISOString(), updated_by: by };
    await this.repo.setBaseline(s);
    return s;
  }

  /**
   * The continuous engine for one batch: the effective settings, the saved state, the baseline
   * adopted when it is newer than the state, and learning windows as the settings say now (a
   * changed window length applies to the window in progress).
   */
  engineFor(eff: EffectiveSettings, state: Json | null, extra: Omit<EngineOptions, 'config' | 'baseline' | 'learning'> = {}): DetectorEngine {
    const engine = new DetectorEngine({ ...extra, config: eff.config });
    const snap = engineState(state);
    if (snap !== null) engine.restore(snap);
    const mark = markOf(state);
    if (eff.baseline !== null && eff.baseline.rev !== mark.baseline_rev) engine.adoptBaseline(eff.baseline.baseline);
    else if (!engine.learningReport().baseline) engine.resetLearningSeconds(eff.learnSeconds ?? undefined);
    return engine;
  }

  /** The slot state to save after a batch. */
  stateOf(engine: DetectorEngine, eff: EffectiveSettings, previous: Json | null): Json {
    const prev = markOf(previous);
    const adopted = engine.learningReport().baseline ? (eff.baseline?.rev ?? prev.baseline_rev) : null;
    const mark: ServiceMark = { ...prev, baseline_rev: adopted };
    return { ...(engine.snapshot() as Record<string, unknown>), service: mark } as unknown as Json;
  }

  /** The learning state of the continuous engine as saved by the last batch. */
  async learning(): Promise<LearningState> {
    const state = await this.slot.read();
    const eff = await this.effective();
    const engine = new DetectorEngine({ config: eff.config });
    const snap = engineState(state);
    if (snap !== null) engine.restore(snap);
    const mark = markOf(state);
    const r = engine.learningReport();
    const inWindow = r.end !== null && r.data_last !== null && r.data_last < r.end;
    return {
      ...r,
      detectors: engine.learningWindows(),
      state: snap === null || r.data_first === null ? 'empty' : r.baseline || !inWindow ? 'detecting' : 'learning',
      baseline_rev: mark.baseline_rev,
      reset_at: mark.reset_at ?? null,
      reset_by: mark.reset_by ?? null,
    };
  }

  /** What the continuous engine considers normal now, as a baseline (edges that alerted left out). */
  async learnedBaseline(): Promise<Baseline> {
    const eff = await this.effective();
    const engine = new DetectorEngine({ config: eff.config });
    const snap = engineState(await this.slot.read());
    if (snap !== null) engine.restore(snap);
    return engine.exportBaseline();
  }

  /**
   * Forgets everything the continuous engine learned and holds (windows, edges, open alert
   * grouping): the next flow opens a new learning window, or adopts the baseline in force.
   */
  async reset(by: string): Promise<{ reset_at: string }> {
    const at = new Date().toISOString();
    await this.slot.update(async () => ({ service: { baseline_rev: null, reset_at: at, reset_by: by } }) as unknown as Json);
    return { reset_at: at };
  }
}
