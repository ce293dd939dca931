/**
 * The service processes: `serve` (the API, plus the workers when asked or when the queue is
 * in-process) and `worker` (workers only, with their own metrics port). Both shut down
 * gracefully on SIGTERM/SIGINT: stop taking requests and jobs, let running jobs finish within the
 * grace period (the rest are handed back), flush the store.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { buildApi, serverListener, type ApiOptions } from './api/app';
import type { ServiceConfig } from './config';
import type { AlertSink } from './jobs/alerts';

/** The detectors for a process, built once its runtime (store, Redis) is open. */
export type AlertsFactory = (rt: Runtime) => AlertSink;
import { openRuntime, type Runtime } from './runtime';
import { startWorkers } from './worker';
import { scheduleRetention } from './retention';
import { authenticator } from './api/app';

export interface ServeOptions {
  withWorkers?: boolean;
  alerts: AlertsFactory;
  analyzers?: boolean;
  api?: ApiOptions;
  log?: (line: string) => void;
}

export interface Running {
  runtime: Runtime;
  server: http.Server | null;
  url: string | null;
  /** Whether this process runs jobs. */
  working: boolean;
  /**
   * The API's Express app, when this process serves it. The server's request listener may be
   * the failed-authentication check in front of it, not the app itself.
   */
  app?: express.Express;
  stop(): Promise<void>;
}

function listen(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function urlOf(a: AddressInfo, scheme = 'http'): string {
  return `${scheme}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}

/**
 * Requests whose body is still arriving (uploads, flow posts): at shutdown each is answered 503
 * at once, with Retry-After, instead of having its connection reset when the grace period ends.
 */
function receivingRequests(server: http.Server): Set<http.ServerResponse> {
  const open = new Set<http.ServerResponse>();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    // A request without a body (a search) is not receiving: it is answered by its handler within
    // the grace period. Node sets `complete` only once the body is read, which a GET never is, so
    // without this a search in flight got the 503 and then its handler wrote a second answer.
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody || req.complete) return;
    open.add(res);
    const done = (): void => void open.delete(res);
    req.once('end', done);
    res.once('close', done);
  });
  return open;
}

function stopper(runtime: Runtime, server: http.Server | null, receiving?: Set<http.ServerResponse>): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  return () => {
    stopping ??= (async () => {
      for (const res of receiving ?? []) {
        if (res.headersSent) continue;
        res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', Connection: 'close', 'Retry-After': '30' });
        res.end(JSON.stringify({ error: 'the server is shutting down: nothing of this request was kept; send it again after Retry-After seconds' }));
      }
      if (server) {
        const closed = new Promise<void>((r) => server.close(() => r()));
        // Idle keep-alive sockets would hold close() open; SSE streams are ended by the close too.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 5000).unref();
        await closed;
      }
      await runtime.close();
    })();
    return stopping;
  };
}

export async function serve(cfg: ServiceConfig, o: ServeOptions): Promise<Running> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const runtime = await openRuntime(cfg);
  const working = o.withWorkers === true || runtime.queues.kind === 'local';
  if (working) startWorkers(runtime, { alerts: o.alerts(runtime), analyzers: o.analyzers, log });
  const app = buildApi(runtime, { log, ...o.api });
  // Uploads of gigabytes take long (requestTimeoutMs caps them); a stalled or trickling body is
  // cut by the API's body rules, a silent socket by headersTimeout. Node checks the headers and
  // request timeouts every connectionsCheckingInterval (30 s by default, which would let a silent
  // socket live up to headersTimeout + 30 s): a quarter of the timeout, at most a second.
  const { requestTimeoutMs, headersTimeoutMs } = cfg.limits;
  const timeouts = {
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs > 0 ? Math.min(headersTimeoutMs, requestTimeoutMs) : headersTimeoutMs,
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
  };
  let server: http.Server;
  try {
    // TLS without a proxy: the same app, the same timeouts.
    server =
      cfg.tlsCert && cfg.tlsKey
        ? https.createServer({ ...timeouts, cert: fs.readFileSync(cfg.tlsCert), key: fs.readFileSync(cfg.tlsKey) }, serverListener(app))
        : http.createServer(timeouts, serverListener(app));
  } catch (e) {
    await runtime.close();
    throw new Error(`TLS: cannot use the certificate ${cfg.tlsCert} and key ${cfg.tlsKey}: ${(e as Error).message}`);
  }
  server.setTimeout(cfg.limits.idleTimeoutMs);
  server.keepAliveTimeout = 65_000;
  const receiving = receivingRequests(server);
  let addr: AddressInfo;
  try {
    addr = await listen(server, cfg.host, cfg.port);
  } catch (e) {
    await runtime.close();
    throw e;
  }
  const stopRetention = scheduleRetention(runtime, log);
  const stop = stopper(runtime, server, receiving);
  return {
    runtime,
    server,
    url: urlOf(addr, cfg.tlsCert ? 'https' : 'http'),
    working,
    app,
    stop: () => {
      stopRetention();
      return stop();
    },
  };
}

export interface WorkerProcessOptions {
  alerts: AlertsFactory;
  analyzers?: boolean;
  /** Serve /metrics (admin key) on this port; absent: no HTTP at all. */
  metricsPort?: number;
  log?: (line: string) => void;
}

export async function work(cfg: ServiceConfig, o: WorkerProcessOptions): Promise<Running> {
  if (!cfg.redisUrl) throw new Error('`eastwatch worker` takes jobs from Redis: set REDIS_URL (without Redis, `eastwatch serve` runs the workers itself)');
  const runtime = await openRuntime(cfg);
  startWorkers(runtime, { alerts: o.alerts(runtime), analyzers: o.analyzers, log: o.log });
  let server: http.Server | null = null;
  let url: string | null = null;
  if (o.metricsPort !== undefined) {
    const app = express();
    app.get('/metrics', authenticator(runtime), (req, res, next) => {
      const p = (req as unknown as { principal?: { role: string } }).principal;
      if (p?.role !== 'admin') {
        res.status(403).json({ error: 'an admin key is required' });
        return;
      }
      runtime.metrics.registry.metrics().then((t) => res.set('Content-Type', runtime.metrics.registry.contentType).send(t), next);
    });
    server = http.createServer(app);
    url = urlOf(await listen(server, cfg.host, o.metricsPort));
  }
  return { runtime, server, url, working: true, stop: stopper(runtime, server) };
}

/** Stops `r` on SIGTERM/SIGINT; a second signal exits at once. */
export function stopOnSignals(r: Running, log: (l: string) => void): void {
  let n = 0;
  const on = (sig: NodeJS.Signals): void => {
    if (++n > 1) process.exit(130);
    log(`${sig}: stopping (running jobs get ${r.runtime.cfg.jobs.shutdownGraceMs} ms to finish)`);
    r.stop().then(
      () => process.exit(0),
      (e: Error) => {
        log(`shutdown: ${e.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', on);
  process.on('SIGINT', on);
}
