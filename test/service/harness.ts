/**
 * A real eastwatch service for the API tests: `serve` in this process on a free port, on the
 * embedded default (SQLite + in-process queue) or on Redis + Elasticsearch, with one key per
 * role, and a small client for it.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, type ServiceConfig } from '../../src/service/config';
import { KeyStore, type Role } from '../../src/service/keys';
import { serve, type Running } from '../../src/service/serve';
import { NO_ALERTS } from '../../src/service/jobs/alerts';
import { serviceAlerts } from '../../src/service/jobs/detect';

export const REPO = [2, 3]
  .map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..')))
  .find((d) => fs.existsSync(path.join(d, 'package.json'))) as string;
export const sample = (rel: string): string => path.join(REPO, 'samples', rel);

export type Mode = 'local' | 'redis+es';
type FetchBody = NonNullable<Parameters<typeof fetch>[1]>['body'];

export interface Harness {
  mode: Mode;
  /** The environment the service was configured from (for child worker processes). */
  env: Record<string, string>;
  url: string;
  keys: Record<Role, string>;
  running: Running;
  cfg: ServiceConfig;
  dataDir: string;
  call(
    method: string,
    p: string,
    o?: { key?: string | null; body?: FetchBody | object; headers?: Record<string, string> },
  ): Promise<{ status: number; json: any; text: string; headers: Headers }>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  mode: Mode;
  env?: Record<string, string>;
  /** Run the detectors (default off: most tests check records only). */
  detectors?: boolean;
  /** Run workers in the API process (default true; the in-process queue always does). */
  workers?: boolean;
}

export async function startHarness(o: HarnessOptions): Promise<Harness> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-svc-'));
  const tag = crypto.randomBytes(4).toString('hex');
  const env: Record<string, string> = { EASTWATCH_DATA_DIR: dataDir, EASTWATCH_PORT: '0', ...o.env };
  if (o.mode === 'redis+es') {
    env.REDIS_URL ??= process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    env.ES_URL = process.env.ES_URL as string;
    env.EASTWATCH_ES_PREFIX = `ewtest-${tag}`;
    env.EASTWATCH_QUEUE_PREFIX = `ewtest-${tag}`;
  }
  const cfg = loadConfig({ env });
  const ks = KeyStore.inDataDir(dataDir);
  const keys = {
    ingest: ks.create('test-ingest', 'ingest').token,
    analyst: ks.create('test-analyst', 'analyst').token,
    admin: ks.create('test-admin', 'admin').token,
  };
  const running = await serve(cfg, {
    withWorkers: o.workers !== false,
    alerts: (rt) => (o.detectors ? serviceAlerts(rt, true) : NO_ALERTS),
    log: () => undefined,
  });
  const url = running.url as string;
  return {
    mode: o.mode,
    env,
    url,
    keys,
    running,
    cfg,
    dataDir,
    async call(method, p, c = {}) {
      const headers: Record<string, string> = { ...c.headers };
      const key = c.key === undefined ? keys.analyst : c.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      let body: FetchBody | undefined;
      if (c.body !== undefined) {
        if (typeof c.body === 'string' || c.body instanceof Uint8Array || c.body instanceof FormData) body = c.body as FetchBody;
        else {
          body = JSON.stringify(c.body);
          headers['content-type'] ??= 'application/json';
        }
      }
      const res = await fetch(`${url}${p}`, { method, headers, body });
      const text = await res.text();
      let json: any = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: res.status, json, text, headers: res.headers };
    },
    async stop() {
      await running.stop();
      if (o.mode === 'redis+es') await dropTestState(cfg);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * For a before() of a suite that needs Elasticsearch: skips with a message without one, fails
 * under CI=true (where its absence is an error).
 */
export function requireElasticsearch(ctx: Mocha.Context): void {
  if (process.env.ES_URL) return;
  if (process.env.CI === 'true') throw new Error('CI=true but no ES_URL: this suite needs Elasticsearch');
  console.warn(`      skipped: no Elasticsearch (${process.env.EASTWATCH_ES_UNAVAILABLE ?? 'ES_URL unset'})`);
  ctx.skip();
}

/** Removes the Redis keys of the queues under `prefix` (a run's own EASTWATCH_QUEUE_PREFIX). */
export async function dropQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const IORedis = (await import('ioredis')).default;
  const r = new IORedis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await r.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await r.quit();
}

/** Removes what a redis+es harness left: its queue keys and its indices. */
async function dropTestState(cfg: ServiceConfig): Promise<void> {
  await dropQueueKeys(cfg.redisUrl as string, cfg.queuePrefix);
  await fetch(`${cfg.esUrl}/${cfg.esPrefix}-*`, { method: 'DELETE' }).catch(() => undefined);
  for (const t of ['_index_template', '_component_template']) {
    const res = await fetch(`${cfg.esUrl}/${t}/${cfg.esPrefix}-*`).catch(() => null);
    if (!res?.ok) continue;
    const body = (await res.json()) as Record<string, { name: string }[]>;
    for (const item of Object.values(body)[0] ?? []) await fetch(`${cfg.esUrl}/${t}/${item.name}`, { method: 'DELETE' }).catch(() => undefined);
  }
}

/** Reads a server-sent event stream until it ends; returns the events in order. */
export async function readEvents(url: string, key: string, timeoutMs = 60_000): Promise<{ event: string; data: any }[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal: ac.signal });
  if (res.status !== 200 || !res.body) throw new Error(`SSE ${url}: ${res.status} ${await res.text()}`);
  const out: { event: string; data: any }[] = [];
  let buf = '';
  const dec = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data) out.push({ event, data: JSON.parse(data) });
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}
