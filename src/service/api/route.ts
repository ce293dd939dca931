/**
 * One declaration per API route: its auth (roles), its validated inputs (zod), its rate limit and
 * its OpenAPI description come from the same object, so the document cannot drift from what the
 * route accepts and no route can be added without saying who may call it.
 */
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { type OpenAPIRegistry, extendZodWithOpenApi, type ResponseConfig, type ZodRequestBody } from '@asteasolutions/zod-to-openapi';
import { z, type AnyZodObject, type ZodTypeAny } from 'zod';
import { parseInstant } from '../../query/parser';
import type { Principal, Role } from '../keys';
import type { Store } from '../../store/types';

extendZodWithOpenApi(z);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    // A refusal (4xx) is answered, never logged with its stack: capturing one through Express's
    // middleware chain cost ~70 us per 401 in the soak's key floods (CPU profile, bench/soak.ts).
    const limit = Error.stackTraceLimit;
    if (status < 500) Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'ApiError';
  }
}

export interface Validated<Q, P, B> {
  query: Q;
  params: P;
  body: B;
  principal: Principal;
  /** The store as this key may see it: narrowed to its namespaces for a scoped key. Read through this, never ctx.store. */
  store: Store;
  req: Request;
  res: Response;
}

export interface RouteDef<QS extends AnyZodObject, PS extends AnyZodObject, BS extends ZodTypeAny> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express path under /api/v1, e.g. /connections/:uid */
  path: string;
  /** Unique across the API: client generators name their methods after it. */
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  roles: readonly Role[];
  /**
   * How the route treats a namespace-scoped key. 'filtered': it reads stored data only through
   * the `store` it is handed (narrowed to the key's namespaces) or filters what it answers by
   * the key itself (its own uploads). 'none': it answers nothing recorded about traffic (the
   * key itself, the field list, an ingest). Absent: scoped keys are refused with a 403, so a
   * route added without thinking about scopes leaks nothing.
   */
  scope?: 'filtered' | 'none';
  /** Rate-limited per key (uploads, searches, aggregations, pcap). */
  expensive?: boolean;
  query?: QS;
  params?: PS;
  /** A JSON body, validated. */
  body?: BS;
  /** A streamed body the handler reads itself (uploads, flows): documented, not parsed. */
  rawBody?: ZodRequestBody;
  responses: Record<number, ResponseConfig>;
  handler(v: Validated<z.infer<QS>, z.infer<PS>, z.infer<BS>>): Promise<void> | void;
}

export interface RouteKit {
  registry: OpenAPIRegistry;
  /** The store as a key may see it (scope.ts): what handlers get as Validated.store. */
  storeFor(p: Principal): Store;
  router: Router;
  authenticate: RequestHandler;
  expensiveLimit: RequestHandler;
  jsonBody: RequestHandler;
}

function issues(e: z.ZodError, where: string): { where: string; path: string; message: string }[] {
  return e.issues.map((i) => ({ where, path: i.path.join('.'), message: i.message }));
}

function validate<S extends ZodTypeAny>(schema: S | undefined, value: unknown, where: string): z.infer<S> {
  if (!schema) return {} as z.infer<S>;
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const list = issues(r.error, where);
    throw new ApiError(400, `invalid ${where}: ${list.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`, list);
  }
  return r.data as z.infer<S>;
}

/**
 * Query parameters the route does not declare are refused by name, not ignored: `count?query=`
 * answering the whole total looks like an answer to the question asked and is not.
 */
function checkKnownQuery(schema: AnyZodObject | undefined, value: unknown): void {
  const known = new Set(Object.keys(schema?.shape ?? {}));
  const given = Object.keys((value ?? {}) as Record<string, unknown>);
  const unknown = given.filter((k) => !known.has(k));
  if (unknown.length === 0) return;
  const accepted = known.size ? `accepted: ${[...known].join(', ')}` : 'this route takes no query parameters';
  const list = unknown.map((k) => ({ where: 'query parameters', path: k, message: 'unknown parameter' }));
  throw new ApiError(400, `unknown query parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (${accepted})`, list);
}

/** A range that ends before it starts selects nothing by construction: a mistake, said so. */
function checkRange(v: unknown, where: string): void {
  if (!v || typeof v !== 'object') return;
  const { from, to } = v as { from?: unknown; to?: unknown };
  if (typeof from !== 'string' || typeof to !== 'string') return;
  const now = new Date();
  const a = parseInstant(from, now);
  const b = parseInstant(to, now);
  // Unparseable bounds are the store's to refuse, with its own message.
  if (!a || !b) return;
  if (a.sec > b.sec || (a.sec === b.sec && a.nanos > b.nanos))
    throw new ApiError(400, `invalid ${where}: from (${from}) is after to (${to})`, [{ where, path: 'from', message: 'after to' }]);
}

export function principalOf(req: Request): Principal {
  const p = (req as Request & { principal?: Principal }).principal;
  if (!p) throw new ApiError(401, 'authentication required');
  return p;
}

export function defineRoute<QS extends AnyZodObject, PS extends AnyZodObject, BS extends ZodTypeAny>(kit: RouteKit, def: RouteDef<QS, PS, BS>): void {
  const openapiPath = def.path.replace(/:([A-Za-z_]+)/g, '{$1}');
  const responses: Record<string, ResponseConfig> = {
    ...Object.fromEntries(Object.entries(def.responses).map(([k, v]) => [String(k), v])),
    400: def.responses[400] ?? {
      description: 'Invalid input (an unknown parameter, a range whose from is after its to, ...): the message names it and says why',
    },
    401: { description: 'No API key, or not a live one' },
    403: { description: `The key's role may not call this (needs ${def.roles.join(' or ')})` },
  };
  if (def.scope === undefined)
    responses[403] = { description: `The key's role may not call this (needs ${def.roles.join(' or ')}), or the key is namespace-scoped` };
  if (def.expensive) responses[429] = { description: 'Rate limit for this key reached; retry after the Retry-After seconds' };
  kit.registry.registerPath({
    method: def.method,
    path: `/api/v1${openapiPath}`,
    operationId: def.operationId,
    summary: def.summary,
    description: `${def.description ?? ''}${def.description ? '\n\n' : ''}Roles: ${def.roles.join(', ')}.`,
    tags: [def.tag],
    security: [{ bearer: [] }],
    request: {
      ...(def.query ? { query: def.query } : {}),
      ...(def.params ? { params: def.params } : {}),
      ...(def.body ? { body: { content: { 'application/json': { schema: def.body } } } } : {}),
      ...(def.rawBody ? { body: def.rawBody } : {}),
    },
    responses,
  });
  const authorize = (req: Request, _res: Response, next: NextFunction): void => {
    const p = principalOf(req);
    if (!def.roles.includes(p.role) && p.role !== 'admin') {
      next(new ApiError(403, `this key (role ${p.role}) may not ${def.method.toUpperCase()} ${def.path}: it needs ${def.roles.join(' or ')}`));
      return;
    }
    if (p.scope && def.scope === undefined) {
      next(new ApiError(403, `${def.method.toUpperCase()} ${def.path} is not available to a namespace-scoped key`));
      return;
    }
    next();
  };
  const handlers: RequestHandler[] = [kit.authenticate, authorize];
  if (def.expensive) handlers.push(kit.expensiveLimit);
  if (def.body) handlers.push(kit.jsonBody);
  const run: RequestHandler = (req, res, next) => {
    Promise.resolve()
      .then(() => {
        checkKnownQuery(def.query, req.query);
        const query = validate(def.query, req.query, 'query parameters');
        const body = validate(def.body, req.body, 'request body');
        checkRange(query, 'query parameters');
        checkRange(body, 'request body');
        const principal = principalOf(req);
        const store = kit.storeFor(principal);
        return def.handler({ query, params: validate(def.params, req.params, 'path parameters'), body, principal, store, req, res });
      })
      .catch(next);
  };
  kit.router[def.method](def.path, ...handlers, run);
}
