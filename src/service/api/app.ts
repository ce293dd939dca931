/**
 * The HTTP API (v1) as an Express app: security headers, API-key auth on every route (Bearer,
 * X-API-Key, or Basic with the key as password for browsers on the operator pages), per-key rate
 * limits on the expensive routes, JSON errors that say what is wrong, the OpenAPI document,
 * Prometheus metrics and the queue dashboard for admins.
 */
import express, { type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';
import { rateLimit } from 'express-rate-limit';
import type * as http from 'node:http';
import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { StoreRequestError, StoreUnavailableError } from '../../store/types';
import { QueryError } from '../../query/ast';
import { InventoryError } from '../../k8s/schema';
import { ClusterNameError } from '../../k8s/cluster';
import { PolicyError } from '../../k8s/policy';
import type { ServiceContext } from '../context';
import type { Principal } from '../keys';
import { UploadError } from '../uploads';
import { BacklogError, TooManyRejectedError } from '../flow-ingest';
import { ApiError, defineRoute, principalOf, type RouteKit } from './route';
import { firehoseRequestId } from './firehose';
import { captureRoutes } from './routes/captures';
import { exportRoutes } from './routes/export';
import { flowRoutes } from './routes/flows';
import { connectionRoutes } from './routes/connections';
import { alertRoutes } from './routes/alerts';
import { k8sRoutes } from './routes/k8s';
import { pcapRoutes } from './routes/pcap';
import { sessionRoutes } from './routes/session';
import { keyRoutes } from './routes/keys';
import { detectorRoutes } from './routes/detectors';
import { mountUi } from './ui';
import { scopedStore } from './scope';
import { bodyWatch, hasBody } from './body-watch';
import { AuthFailureLimit, behindAuthLimit } from './auth-limit';

const PACKAGE = require('../../../../package.json') as { version: string; license: string };
const VERSION = PACKAGE.version;

/**
 * The generated document made lint-clean (`npm run lint:openapi`): zod-to-openapi writes
 * z.unknown() as `{ nullable: true }`, which OpenAPI 3.0.3 ignores ("adds null to the types given
 * by `type`, only if type is explicitly defined") and linters flag; without it the schema means
 * the same: any value.
 */
export function tidyOpenApi<T>(doc: T): T {
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.nullable === true && o.type === undefined && o.$ref === undefined) delete o.nullable;
      for (const x of Object.values(o)) walk(x);
    }
  };
  walk(doc);
  return doc;
}

function tokenOf(req: http.IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (h) {
    const [scheme, value] = h.split(' ', 2);
    if (/^bearer$/i.test(scheme) && value) return value.trim();
    if (/^basic$/i.test(scheme) && value) {
      const text = Buffer.from(value, 'base64').toString('utf8');
      const i = text.indexOf(':');
      return i >= 0 ? text.slice(i + 1) : null;
    }
    return null;
  }
  const k = req.headers['x-api-key'];
  if (typeof k === 'string') return k.trim();
  // Firehose sends the configured access key verbatim in its own header: taken on the flows route only.
  const fh = req.headers['x-amz-firehose-access-key'];
  if (typeof fh === 'string' && firehoseRequestId(req) !== null) return fh.trim();
  return null;
}

/** Whether the request carries a key that authenticates. */
function hasValidKey(ctx: ServiceContext, req: http.IncomingMessage): boolean {
  const token = tokenOf(req);
  return token !== null && ctx.keys.authenticate(token) !== null;
}

export function authenticator(ctx: ServiceContext, realm: 'api' | 'basic' = 'api', failures?: AuthFailureLimit): RequestHandler {
  return (req, res, next) => {
    const token = tokenOf(req);
    const p = token ? ctx.keys.authenticate(token) : null;
    if (!p) {
      failures?.failed(req);
      res.set('WWW-Authenticate', realm === 'basic' ? 'Basic realm="eastwatch", charset="UTF-8"' : 'Bearer realm="eastwatch"');
      next(new ApiError(401, token ? 'the API key is not valid (unknown, revoked or malformed)' : 'an API key is required: Authorization: Bearer ew_...'));
      return;
    }
    (req as Request & { principal?: Principal }).principal = p;
    next();
  };
}

function requireAdmin(req: Request, _res: Response, next: NextFunction): void {
  const p = principalOf(req);
  next(p.role === 'admin' ? undefined : new ApiError(403, `this key (role ${p.role}) is not an admin key`));
}

function statusOf(e: unknown): { status: number; message: string; extra?: Record<string, unknown>; retryAfter?: number } {
  if (e instanceof ApiError) return { status: e.status, message: e.message, extra: e.details === undefined ? undefined : { details: e.details } };
  if (e instanceof UploadError) return { status: e.status, message: e.message };
  // The UI puts the cursor where the query went wrong.
  if (e instanceof QueryError) return { status: 400, message: e.message, extra: { position: e.position } };
  if (e instanceof StoreRequestError || e instanceof InventoryError || e instanceof PolicyError || e instanceof ClusterNameError)
    return { status: 400, message: e.message };
  if (e instanceof StoreUnavailableError) return { status: 503, message: e.message };
  if (e instanceof TooManyRejectedError) return { status: 400, message: e.message, extra: { ...e.taken } };
  if (e instanceof BacklogError) return { status: 503, message: e.message, extra: { backlog: e.backlog, ...e.taken }, retryAfter: 30 };
  const body = e as { type?: string; status?: number; message?: string };
  if (body?.type === 'entity.too.large') return { status: 413, message: 'the JSON body is larger than the limit' };
  if (body?.type === 'entity.parse.failed') return { status: 400, message: `the body is not valid JSON: ${body.message ?? ''}` };
  if (typeof body?.status === 'number' && body.status >= 400 && body.status < 500) return { status: body.status, message: body.message ?? 'bad request' };
  return { status: 500, message: 'internal error' };
}

export interface ApiOptions {
  /** Extra routers mounted before the 404 (the UI's static files). */
  extra?: (app: express.Express) => void;
  /** Serve the built UI (dist/ui) when present (default true). */
  ui?: boolean;
  /** Log 5xx errors (default to stderr). */
  log?: (line: string) => void;
}

/** The listener each API app is served through (serverListener). */
const listeners = new WeakMap<express.Express, http.RequestListener>();

/** What the HTTP server should call for `app`: the app behind its failed-authentication limit (auth-limit.ts). */
export function serverListener(app: express.Express): http.RequestListener {
  return listeners.get(app) ?? app;
}

export function buildApi(ctx: ServiceContext, opts: ApiOptions = {}): express.Express {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const app = express();
  const perMinute = ctx.cfg.limits.authFailuresPerMinute;
  const failures = perMinute > 0 ? new AuthFailureLimit(perMinute) : undefined;
  if (failures)
    listeners.set(
      app,
      behindAuthLimit(app, failures, (req) => hasValidKey(ctx, req)),
    );
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');
  // First, so that a body trickling in is bounded whatever route (or refusal) it reaches.
  app.use(
    bodyWatch({
      idleMs: ctx.cfg.limits.bodyIdleTimeoutMs,
      minBytesPerSec: ctx.cfg.limits.bodyMinBytesPerSec,
      windowMs: ctx.cfg.limits.bodyRateWindowMs,
      graceMs: ctx.cfg.limits.bodyRateGraceMs,
    }).middleware,
  );
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'default-src': ["'self'"],
          'img-src': ["'self'", 'data:'],
          'style-src': ["'self'", "'unsafe-inline'"],
          'script-src': ["'self'"],
          // The service map's layout worker, a same-origin script file (never a blob: or data: URL).
          'worker-src': ["'self'"],
          // No outside hosts: helmet's default allows fonts from any https origin.
          'font-src': ["'self'", 'data:'],
          // helmet's default would make browsers fetch every asset over https, which a service on
          // plain HTTP under any name but localhost does not serve: a blank page (compose's :8080).
          'upgrade-insecure-requests': null,
        },
      },
      crossOriginEmbedderPolicy: false,
    }),
  );
  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path;
      ctx.metrics.httpSeconds.observe(
        { method: req.method, route: route ? `${req.baseUrl}${route}` : 'unmatched', status: String(res.statusCode) },
        Number(process.hrtime.bigint() - start) / 1e9,
      );
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    // Liveness only: no data, so no key (load balancers and compose health checks call it).
    res.json({ status: 'ok' });
  });

  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'An API key: `eastwatch keys create`' });
  const router = express.Router();
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: ctx.cfg.limits.expensivePerMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => principalOf(req).keyId,
    handler: (_req, _res, next) =>
      next(new ApiError(429, `more than ${ctx.cfg.limits.expensivePerMinute} requests a minute on expensive routes with this key`)),
  });
  const kit: RouteKit = {
    registry,
    storeFor: (p) => (p.scope ? scopedStore(ctx.store, p.scope) : ctx.store),
    router,
    authenticate: authenticator(ctx, 'api', failures),
    expensiveLimit: limiter,
    jsonBody: express.json({ limit: ctx.cfg.limits.jsonBodyBytes, strict: false }),
  };

  defineRoute(kit, {
    method: 'get',
    path: '/whoami',
    scope: 'none',
    operationId: 'whoami',
    tag: 'meta',
    roles: ['ingest', 'analyst'],
    summary: 'The key you are calling with, and the service it reaches',
    responses: {
      200: {
        description: 'Key and service',
        content: {
          'application/json': {
            schema: z.object({
              key: z.object({
                id: z.string(),
                name: z.string(),
                role: z.string(),
                scope: z
                  .object({ namespaces: z.array(z.string()).optional(), clusters: z.array(z.string()).optional() })
                  .nullable()
                  .openapi({ description: 'The namespaces (or cluster/namespace) and clusters a scoped key sees; null: all' }),
              }),
              service: z.record(z.unknown()),
            }),
          },
        },
      },
    },
    handler({ res, principal }) {
      res.json({
        key: { id: principal.keyId, name: principal.name, role: principal.role, scope: principal.scope ?? null },
        service: { version: VERSION, store: ctx.store.backend, queue: ctx.queues.kind },
      });
    },
  });
  captureRoutes(kit, ctx);
  flowRoutes(kit, ctx);
  connectionRoutes(kit, ctx);
  exportRoutes(kit, ctx);
  alertRoutes(kit, ctx);
  k8sRoutes(kit, ctx);
  pcapRoutes(kit, ctx);
  sessionRoutes(kit, ctx);
  keyRoutes(kit, ctx);
  detectorRoutes(kit, ctx);

  let openapi: unknown = null;
  defineRoute(kit, {
    method: 'get',
    path: '/openapi.json',
    scope: 'none',
    operationId: 'getOpenApi',
    tag: 'meta',
    roles: ['ingest', 'analyst'],
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.0' } },
    handler({ res }) {
      openapi ??= tidyOpenApi(
        new OpenApiGeneratorV3(registry.definitions).generateDocument({
          openapi: '3.0.3',
          info: {
            title: 'eastwatch API',
            version: VERSION,
            description: 'East-west traffic analysis: captures and flow logs in, connections, application records and alerts out.',
            license: { name: PACKAGE.license, url: 'https://www.apache.org/licenses/LICENSE-2.0' },
          },
          servers: [{ url: '/' }],
        }),
      );
      res.json(openapi);
    },
  });
  app.use('/api/v1', router);

  app.get('/metrics', authenticator(ctx, 'api', failures), requireAdmin, (_req, res, next) => {
    ctx.metrics.registry.metrics().then((text) => {
      res.set('Content-Type', ctx.metrics.registry.contentType).send(text);
    }, next);
  });

  if (ctx.queues.bullQueues.length > 0) mountBullBoard(app, ctx, failures);
  opts.extra?.(app);
  if (opts.ui !== false) mountUi(app);

  app.use((req, _res, next) => next(new ApiError(404, `no route ${req.method} ${req.path}`)));
  const onError: ErrorRequestHandler = (err: unknown, req, res, _next) => {
    const { status, message, extra, retryAfter } = statusOf(err);
    if (status >= 500) log(`${req.method} ${req.originalUrl}: ${(err as Error)?.stack ?? String(err)}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    // A refused upload may still be arriving: say so and close instead of reading the rest. Only a
    // request with a body: one without is not yet `complete` while its handler runs synchronously
    // (llhttp ends the message after the headers callback returns), so every synchronous refusal
    // (401 to a bad key, 400 from validation) used to close the connection, and a client sending
    // many (the soak's floods, a misconfigured agent) reconnected for each, at a TCP accept and a
    // socket set-up per request on the server.
    if (hasBody(req) && !req.complete) res.set('Connection', 'close');
    if (retryAfter !== undefined) res.set('Retry-After', String(retryAfter));
    const firehose = firehoseRequestId(req);
    if (firehose !== null) {
      // Firehose logs the status and this body and retries: its form, with our details beside it.
      res.status(status).json({ requestId: firehose, timestamp: Date.now(), errorMessage: message, ...extra });
      return;
    }
    res.status(status).json({ error: message, ...extra });
  };
  app.use(onError);
  return app;
}

function mountBullBoard(app: express.Express, ctx: ServiceContext, failures?: AuthFailureLimit): void {
  const { createBullBoard } = require('@bull-board/api') as typeof import('@bull-board/api');
  const { BullAdapter } = require('@bull-board/api/bullAdapter') as typeof import('@bull-board/api/bullAdapter');
  const { ExpressAdapter } = require('@bull-board/express') as typeof import('@bull-board/express');
  const adapter = new ExpressAdapter();
  adapter.setBasePath('/admin/queues');
  createBullBoard({ queues: ctx.queues.bullQueues.map((q) => new BullAdapter(q.bull)), serverAdapter: adapter });
  // Browsers send Basic auth on every request to the dashboard once asked: the key is the password.
  const relaxCsp: RequestHandler = (_req, res, next) => {
    res.set(
      'Content-Security-Policy',
      // No https: sources: the dashboard's page links web fonts from an outside host, which stay unloaded.
      "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:",
    );
    next();
  };
  // The dashboard's page links fonts from an outside host: the links are taken out of the HTML so
  // that no page of ours makes the browser contact a third party (the CSP would block them anyway).
  const noOutsideHosts: RequestHandler = (_req, res, next) => {
    const send = res.send.bind(res);
    res.send = (body?: unknown) => send(typeof body === 'string' ? body.replace(/<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>/gi, '') : body);
    next();
  };
  app.use('/admin/queues', authenticator(ctx, 'basic', failures), requireAdmin, relaxCsp, noOutsideHosts, adapter.getRouter() as RequestHandler);
}
