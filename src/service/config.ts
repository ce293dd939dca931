/**
 * Service configuration: environment first, then an optional JSON file for what is awkward in
 * the environment, validated once at start so that a typo fails loudly instead of running with a
 * default nobody asked for.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { loadBaseline } from '../../detectors/batch';
import { type DetectorConfig, parseDetectorConfig } from '../../detectors/config';
import type { Baseline } from '../../detectors/engine';
import { AGENT_NAME } from '../capture/shipper';
import { MONITOR_AGGREGATIONS, type MonitorAggregation } from '../../parsers/flows/types';

const MiB = 1024 * 1024;

const bytes = z.coerce.number().int().positive();

export const AgentName = z.string().regex(AGENT_NAME, 'letters, digits, . _ - (at most 63, starting with a letter or digit)');

/** 30 days: a learning window longer than that is a unit mistake (ms for s), not a choice. */
export const MAX_LEARN_SECONDS = 30 * 86_400;

export const ConfigSchema = z.object({
  /** Absent: the in-process queue (with its journal in dataDir). */
  redisUrl: z.string().url().optional(),
  /** Absent: the embedded SQLite store in dataDir. */
  esUrl: z.string().url().optional(),
  esPrefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _')
    .default('eastwatch'),
  dataDir: z.string().min(1).default('eastwatch-data'),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** PEM certificate (chain) and key files: serve HTTPS without a proxy in front. Both or neither. */
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  /** Bull queue names are prefixed with this in Redis, so that two deployments can share one Redis. */
  queuePrefix: z
    .string()
    .regex(/^[A-Za-z0-9:_-]+$/)
    .default('eastwatch'),
  limits: z
    .object({
      uploadBytes: bytes.default(4096 * MiB),
      flowRequestBytes: bytes.default(256 * MiB),
      flowLineBytes: bytes.default(1 * MiB),
      /**
       * A delivery read as one JSON document rather than as lines: an AWS Kinesis Data Firehose
       * HTTP endpoint request (`{requestId, timestamp, records: [{data}]}`, up to the stream's
       * buffer size, 64 MiB at most) or a CloudWatch Logs subscription payload. Each of its log
       * events is still checked as a line is, and is at most flowLineBytes.
       */
      flowDocumentBytes: bytes.default(64 * MiB),
      /**
       * Rejected lines after which a flow request's body is no longer read (400, with the lines
       * taken): each bad line costs the event loop a few microseconds, and a body of them is a way to
       * take the CPU from every other client.
       */
      flowMaxRejectedLines: z.coerce.number().int().min(1).default(10_000),
      flowBatchRecords: z.coerce.number().int().min(1).max(100_000).default(5000),
      flowBatchBytes: bytes.default(8 * MiB),
      /** Flow batches waiting in the queue beyond which ingestion waits for the workers (backpressure). */
      flowBacklogBatches: z.coerce.number().int().min(1).default(40),
      /** How long a flow request waits for the backlog to drain before it is answered 503. */
      flowBacklogWaitMs: z.coerce.number().int().min(0).default(60_000),
      jsonBodyBytes: bytes.default(16 * MiB),
      inventoryBytes: bytes.default(64 * MiB),
      /** Requests per minute per API key on the expensive routes (uploads, searches, aggregations, pcap). */
      expensivePerMinute: z.coerce.number().int().min(1).default(600),
      /**
       * Failed authentications (401) per minute per client address (IPv6: per /56) after which
       * that address's requests without a valid key are answered 429 before anything else runs:
       * a flood of keyless or forged-key requests then costs a counter lookup each instead of the
       * whole middleware chain. Requests with a valid key are never held by it. 0: off.
       */
      authFailuresPerMinute: z.coerce.number().int().min(0).default(120),
      searchPageMax: z.coerce.number().int().min(1).max(10_000).default(1000),
      /** The longest one store query (search page, aggregation) may run before it is stopped with a 400. */
      queryTimeoutMs: z.coerce.number().int().min(1).max(600_000).default(20_000),
      /** Bounds of a pcap cut from captures (GET .../pcap). */
      pcapBytes: bytes.default(512 * MiB),
      pcapPackets: z.coerce.number().int().min(1).default(1_000_000),
      /**
       * Packets a session (GET .../session) decodes and lists: its answer is JSON of ~300 bytes a
       * packet, so far fewer than a pcap's; the rest of a longer connection is in its pcap.
       */
      sessionPackets: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
      /**
       * A live-captured connection's pcap comes from its agent's ring (config agents): how long the
       * agent may take to answer, and to send the next bytes of its pcap, before the request is 504.
       */
      agentTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
      /**
       * A connection that sends and receives nothing for this long is closed (a stalled upload, a
       * client gone silent); longer than the flow backlog wait and the event streams' keep-alive.
       */
      idleTimeoutMs: z.coerce.number().int().min(1000).default(180_000),
      /**
       * The longest a whole request may take to arrive: 24 h, so that a 4 GiB capture still
       * arrives over a 0.5 Mbit/s link (a stalled or trickling one is cut much sooner by the body
       * rules below). 0: no cap.
       */
      requestTimeoutMs: z.coerce
        .number()
        .int()
        .refine((n) => n === 0 || n >= 1000, 'at least 1000 ms, or 0 for no cap')
        .default(86_400_000),
      /**
       * The request line and headers must be complete this long after the connection opens (or
       * after the previous request on it): a socket that connects and sends nothing is answered
       * 408 and closed after it.
       */
      headersTimeoutMs: z.coerce.number().int().min(100).default(20_000),
      /** No byte of a request body for this long while the server reads it -> 408 and closed. 0: off. */
      bodyIdleTimeoutMs: z.coerce
        .number()
        .int()
        .refine((n) => n === 0 || n >= 100, 'at least 100 ms, or 0 for off')
        .default(60_000),
      /**
       * The slowest a request body may arrive, averaged over bodyRateWindowMs: 1 KiB/s (8 kbit/s)
       * is far below any link a capture is uploaded over, and makes a client holding a connection
       * pay for it (a trickle of 1 byte every 10 s is cut after one window). 0: off.
       */
      bodyMinBytesPerSec: z.coerce.number().int().min(0).default(1024),
      /** The window the body rate is measured over. */
      bodyRateWindowMs: z.coerce.number().int().min(100).default(60_000),
      /**
       * When the body rate is first checked (over the time since the body started, until a whole
       * window has passed): a body trickled at 1 byte/s otherwise held its connection for the whole
       * window (the soak's body slowloris, 60 s); at the minimum rate, 10 s is 10 KiB.
       */
      bodyRateGraceMs: z.coerce.number().int().min(100).default(10_000),
    })
    .default({}),
  jobs: z
    .object({
      attempts: z.coerce.number().int().min(1).max(20).default(3),
      backoffMs: z.coerce.number().int().min(0).default(2000),
      /** Captures analysed at once per worker process (each takes one core). */
      captureConcurrency: z.coerce.number().int().min(1).max(64).default(1),
      /**
       * Captures of at least this many bytes are analysed as `captureShards` shard jobs (jobs/capture-shards.ts),
       * which any workers take up side by side; 0 (the default): never. Below it one worker reads and tracks a
       * capture. Off by default: every shard reads and decodes the whole file, so it pays only with idle cores
       * per shard and tracking-heavy captures, and no measurement here has shown it faster yet.
       */
      captureShardBytes: z.coerce.number().int().min(0).default(0),
      /** Shard jobs per large capture: the worker processes times their captureConcurrency (1: never sharded). */
      captureShards: z.coerce.number().int().min(1).max(64).default(2),
      flowConcurrency: z.coerce.number().int().min(1).max(64).default(2),
      /** Finished jobs kept for the API (count per queue). */
      keepCompleted: z.coerce.number().int().min(0).default(10_000),
      keepFailed: z.coerce.number().int().min(0).default(10_000),
      /** Bull: a worker's lock on its job; a dead worker's job is taken up again once it lapses. */
      lockMs: z.coerce.number().int().min(1000).default(30_000),
      stalledIntervalMs: z.coerce.number().int().min(500).default(30_000),
      /** Running jobs get this long to finish on shutdown before they are handed back. */
      shutdownGraceMs: z.coerce.number().int().min(0).default(30_000),
    })
    .default({}),
  /**
   * The capture agents (`eastwatch capture --agent-name NAME --ring DIR --metrics-port P`) whose
   * rings the service cuts live-captured connections from. Each is bound to the ingest key it ships
   * with (its id, the `ew_<id>_...` part of the token): records are linked to an agent only when
   * shipped with that key, so no other key can make the service fetch from it. The service sends the
   * agent's endpoint token (tokenFile, else $EASTWATCH_AGENT_TOKEN), read once at start.
   */
  agents: z
    .array(
      z
        .object({
          name: AgentName,
          /** The agent's endpoint, as `capture --metrics-host/--metrics-port` serve it: http://node:9464. */
          url: z
            .string()
            .url()
            .refine((u) => /^https?:$/.test(new URL(u).protocol), 'an http:// or https:// URL'),
          keyId: z.string().regex(/^[0-9a-f]{12}$/, "the ingest key's id: 12 hex digits, as in ew_<id>_..."),
          tokenFile: z.string().min(1).optional(),
        })
        .strict(),
    )
    .default([])
    .superRefine((list, c) => {
      const seen = new Set<string>();
      for (const [i, a] of list.entries()) {
        if (seen.has(a.name)) c.addIssue({ code: 'custom', path: [i, 'name'], message: `agent ${a.name} is named twice` });
        seen.add(a.name);
      }
    }),
  /** Days of uploaded captures and records to keep; 0 keeps everything. */
  retentionDays: z.coerce.number().int().min(0).default(0),
  /**
   * Networks treated as local (local_orig/local_resp, network.direction); default as `analyze`
   * (Zeek's private address space). $EASTWATCH_LOCAL_NETS gives them comma-separated.
   */
  localNets: z
    .preprocess(
      (v) =>
        typeof v === 'string'
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== '')
          : v,
      z.array(z.string()),
    )
    .optional(),
  /**
   * `eastwatch collect --netflow ADDR --enqueue`: the cluster its exporters are in (k8s/cluster.ts),
   * so their records resolve against that cluster's inventory only (default: default). --cluster
   * on the command line wins; $EASTWATCH_COLLECT_CLUSTER gives it too.
   */
  collect: z
    .object({
      cluster: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS label: 1-63 lower-case letters, digits and -, starting and ending with a letter or digit')
        .optional(),
    })
    .strict()
    .default({}),
  /**
   * Hubble flows posted to /flows: Cilium's monitor aggregation on the nodes they come from
   * (Helm `bpf.monitorAggregation`). With the default `medium` (or `low`, `maximum`) the datapath
   * reports a connection's packets selectively, and the records' packet counts are report counts
   * (`counts: reports`); `none` says every event is a packet. A request's ?monitorAggregation=
   * wins; $EASTWATCH_HUBBLE_MONITOR_AGGREGATION gives it too.
   */
  hubble: z
    .object({
      monitorAggregation: z.enum(MONITOR_AGGREGATIONS as [MonitorAggregation, ...MonitorAggregation[]]).default('medium'),
    })
    .strict()
    .default({}),
  /**
   * The detectors' starting settings: thresholds (inline, or a file as `analyze --detector-config`
   * takes), a baseline (as `analyze --save-baseline` writes it) and the learning window. What an
   * admin sets through the API (/api/v1/detectors/...) replaces these until it is cleared.
   */
  detectors: z
    .object({
      config: z.record(z.unknown()).optional(),
      configFile: z.string().min(1).optional(),
      baselineFile: z.string().min(1).optional(),
      /** Learning window of every learning detector, seconds of data time (default: each detector's learning_seconds). */
      learnSeconds: z.coerce.number().nonnegative().max(MAX_LEARN_SECONDS).optional(),
    })
    .strict()
    .default({}),
});

export type ServiceConfig = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const ENV: Record<string, string[]> = {
  REDIS_URL: ['redisUrl'],
  ES_URL: ['esUrl'],
  EASTWATCH_ES_PREFIX: ['esPrefix'],
  EASTWATCH_DATA_DIR: ['dataDir'],
  EASTWATCH_HOST: ['host'],
  EASTWATCH_PORT: ['port'],
  EASTWATCH_TLS_CERT: ['tlsCert'],
  EASTWATCH_TLS_KEY: ['tlsKey'],
  EASTWATCH_QUEUE_PREFIX: ['queuePrefix'],
  EASTWATCH_MAX_UPLOAD_BYTES: ['limits', 'uploadBytes'],
  EASTWATCH_MAX_FLOW_REQUEST_BYTES: ['limits', 'flowRequestBytes'],
  EASTWATCH_MAX_FLOW_DOCUMENT_BYTES: ['limits', 'flowDocumentBytes'],
  EASTWATCH_FLOW_BATCH_RECORDS: ['limits', 'flowBatchRecords'],
  EASTWATCH_FLOW_MAX_REJECTED_LINES: ['limits', 'flowMaxRejectedLines'],
  EASTWATCH_FLOW_BACKLOG_BATCHES: ['limits', 'flowBacklogBatches'],
  EASTWATCH_FLOW_BACKLOG_WAIT_MS: ['limits', 'flowBacklogWaitMs'],
  EASTWATCH_RATE_PER_MINUTE: ['limits', 'expensivePerMinute'],
  EASTWATCH_AUTH_FAILURES_PER_MINUTE: ['limits', 'authFailuresPerMinute'],
  EASTWATCH_SEARCH_PAGE_MAX: ['limits', 'searchPageMax'],
  EASTWATCH_QUERY_TIMEOUT_MS: ['limits', 'queryTimeoutMs'],
  EASTWATCH_IDLE_TIMEOUT_MS: ['limits', 'idleTimeoutMs'],
  EASTWATCH_REQUEST_TIMEOUT_MS: ['limits', 'requestTimeoutMs'],
  EASTWATCH_HEADERS_TIMEOUT_MS: ['limits', 'headersTimeoutMs'],
  EASTWATCH_BODY_IDLE_TIMEOUT_MS: ['limits', 'bodyIdleTimeoutMs'],
  EASTWATCH_BODY_MIN_BYTES_PER_SEC: ['limits', 'bodyMinBytesPerSec'],
  EASTWATCH_BODY_RATE_WINDOW_MS: ['limits', 'bodyRateWindowMs'],
  EASTWATCH_BODY_RATE_GRACE_MS: ['limits', 'bodyRateGraceMs'],
  EASTWATCH_JOB_ATTEMPTS: ['jobs', 'attempts'],
  EASTWATCH_CAPTURE_CONCURRENCY: ['jobs', 'captureConcurrency'],
  EASTWATCH_CAPTURE_SHARD_BYTES: ['jobs', 'captureShardBytes'],
  EASTWATCH_CAPTURE_SHARDS: ['jobs', 'captureShards'],
  EASTWATCH_JOB_LOCK_MS: ['jobs', 'lockMs'],
  EASTWATCH_STALLED_INTERVAL_MS: ['jobs', 'stalledIntervalMs'],
  EASTWATCH_RETENTION_DAYS: ['retentionDays'],
  EASTWATCH_LOCAL_NETS: ['localNets'],
  EASTWATCH_COLLECT_CLUSTER: ['collect', 'cluster'],
  EASTWATCH_HUBBLE_MONITOR_AGGREGATION: ['hubble', 'monitorAggregation'],
  EASTWATCH_DETECTOR_CONFIG: ['detectors', 'configFile'],
  EASTWATCH_BASELINE: ['detectors', 'baselineFile'],
  EASTWATCH_LEARN_SECONDS: ['detectors', 'learnSeconds'],
};

function setPath(o: Record<string, unknown>, keys: string[], v: unknown): void {
  let cur = o;
  for (const k of keys.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = v;
}

/**
 * The configuration from `file` (JSON, optional) overlaid by the environment, then by
 * `overrides` (command-line options). Throws ConfigError naming each bad setting and its source.
 */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Record<string, unknown> } = {}): ServiceConfig {
  const env = opts.env ?? process.env;
  let raw: Record<string, unknown> = {};
  const file = opts.file ?? env.EASTWATCH_CONFIG;
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read the configuration file ${file}: ${(e as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${file}: the configuration must be a JSON object`);
  }
  const source = new Map<string, string>();
  for (const [name, keys] of Object.entries(ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    setPath(raw, keys, v);
    source.set(keys.join('.'), `$${name}`);
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (v === undefined) continue;
    setPath(raw, k.split('.'), v);
    source.set(k, `--${k}`);
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = i.path.join('.');
      const from = source.get(key) ?? (file ? `${file}: ${key}` : key);
      return `${from}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const cfg = parsed.data;
  if ((cfg.tlsCert === undefined) !== (cfg.tlsKey === undefined))
    throw new ConfigError('invalid configuration:\n  TLS needs both a certificate and its key (--tls-cert and --tls-key)');
  cfg.dataDir = path.resolve(cfg.dataDir);
  agentTokens(cfg, env);
  // Read and checked now: a bad threshold or baseline fails the start, not the first flow batch.
  detectorStartup(cfg, (key) => source.get(`detectors.${key}`) ?? (file ? `${file}: detectors.${key}` : `detectors.${key}`));
  return cfg;
}

/**
 * Each registered agent's endpoint token: its tokenFile, else $EASTWATCH_AGENT_TOKEN. Read at start
 * so that a missing file fails the start, not the first pcap request. Kept out of the parsed
 * configuration (which the admin API may show).
 */
const AGENT_TOKENS = new WeakMap<ServiceConfig, Map<string, string>>();

export function agentTokens(cfg: ServiceConfig, env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const known = AGENT_TOKENS.get(cfg);
  if (known) return known;
  const tokens = new Map<string, string>();
  for (const [i, a] of cfg.agents.entries()) {
    let t: string | undefined;
    if (a.tokenFile !== undefined) {
      try {
        t = fs.readFileSync(a.tokenFile, 'utf8').replace(/[\r\n]+$/, '');
      } catch (e) {
        throw new ConfigError(`invalid configuration:\n  agents.${i}.tokenFile (${a.tokenFile}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    } else t = env.EASTWATCH_AGENT_TOKEN;
    if (t === undefined || t.length < 16)
      throw new ConfigError(
        `invalid configuration:\n  agents.${i} (${a.name}): the agent's endpoint token must be at least 16 characters (tokenFile, or $EASTWATCH_AGENT_TOKEN)`,
      );
    tokens.set(a.name, t);
  }
  AGENT_TOKENS.set(cfg, tokens);
  return tokens;
}

export interface DetectorStartup {
  config: DetectorConfig;
  /** The thresholds as given (null: defaults), for the API's report. */
  given: Record<string, unknown> | null;
  baseline: Baseline | null;
  learnSeconds: number | null;
}

/** The configuration's detector settings, read and validated; throws ConfigError naming the setting. */
export function detectorStartup(cfg: ServiceConfig, where: (key: string) => string = (k) => `detectors.${k}`): DetectorStartup {
  const d = cfg.detectors;
  if (d.config !== undefined && d.configFile !== undefined)
    throw new ConfigError(`invalid configuration:\n  ${where('config')}: give the thresholds inline or as a file (configFile), not both`);
  let given: Record<string, unknown> | null = d.config ?? null;
  let config: DetectorConfig;
  try {
    if (d.configFile !== undefined) {
      given = JSON.parse(fs.readFileSync(d.configFile, 'utf8')) as Record<string, unknown>;
      config = parseDetectorConfig(given, d.configFile);
    } else config = parseDetectorConfig(given ?? {}, where('config'));
  } catch (e) {
    const from = d.configFile !== undefined ? `${where('configFile')} (${d.configFile})` : where('config');
    throw new ConfigError(`invalid configuration:\n  ${from}: ${(e as Error).message}`);
  }
  let baseline: Baseline | null = null;
  if (d.baselineFile !== undefined) {
    try {
      baseline = loadBaseline(d.baselineFile);
    } catch (e) {
      throw new ConfigError(`invalid configuration:\n  ${where('baselineFile')}: ${(e as Error).message}`);
    }
  }
  return { config, given, baseline, learnSeconds: d.learnSeconds ?? null };
}
