/** API keys over the API, for admins: create (optionally namespace-scoped), list, revoke. */
import { z } from 'zod';
import type { ServiceContext } from '../../context';
import { KeyScope, KeyScopeError, KeyScopeFields, ROLES, type KeyEntry } from '../../keys';
import { ApiError, defineRoute, type RouteKit } from '../route';

const KeyView = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  scope: KeyScope.nullable(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});

/** Never the hash: it is all an offline guess would need to be checked. */
function view(e: KeyEntry): z.infer<typeof KeyView> {
  return { id: e.id, name: e.name, role: e.role, scope: e.scope, created_at: e.created_at, revoked_at: e.revoked_at };
}

export function keyRoutes(kit: RouteKit, ctx: ServiceContext): void {
  defineRoute(kit, {
    method: 'post',
    path: '/keys',
    operationId: 'createKey',
    tag: 'keys',
    roles: ['admin'],
    summary: 'Create an API key (the token is in this answer only)',
    description:
      'With `namespaces`, the key is namespace-scoped: it sees only connections, alerts, edges and pcaps with at least one end in those Kubernetes namespaces, only the captures it uploaded, and is refused (403) on every route that cannot be narrowed that way. With `clusters`, only records of those clusters (orchestrator.cluster.name); with both, only those namespaces in those clusters; a namespace entry `cluster/ns` is that namespace in that cluster only. Alerts carry no cluster: a key with a cluster in its scope is refused alert searches. Admin keys cannot be scoped.',
    body: z
      .object({
        name: z.string().min(1).max(200),
        role: z.enum(ROLES),
        namespaces: KeyScopeFields.shape.namespaces,
        clusters: KeyScopeFields.shape.clusters,
      })
      .strict(),
    responses: {
      201: { description: 'The key and its token', content: { 'application/json': { schema: z.object({ token: z.string(), key: KeyView }) } } },
    },
    handler({ res, body }) {
      try {
        const { namespaces, clusters } = body;
        const scope = namespaces || clusters ? { ...(namespaces ? { namespaces } : {}), ...(clusters ? { clusters } : {}) } : null;
        const { token, entry } = ctx.keys.create(body.name, body.role, scope);
        res.status(201).json({ token, key: view(entry) });
      } catch (e) {
        if (e instanceof KeyScopeError) throw new ApiError(400, e.message);
        throw e;
      }
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/keys',
    operationId: 'listKeys',
    tag: 'keys',
    roles: ['admin'],
    summary: 'Every key (never its secret)',
    responses: { 200: { description: 'Keys', content: { 'application/json': { schema: z.object({ keys: z.array(KeyView) }) } } } },
    handler({ res }) {
      res.json({ keys: ctx.keys.list().map(view) });
    },
  });

  defineRoute(kit, {
    method: 'delete',
    path: '/keys/:id',
    operationId: 'revokeKey',
    tag: 'keys',
    roles: ['admin'],
    summary: 'Revoke a key',
    params: z.object({ id: z.string().regex(/^[0-9a-f]{12}$/, 'a key id is 12 hex digits') }),
    responses: { 204: { description: 'Revoked' }, 404: { description: 'No live key with that id' } },
    handler({ res, params }) {
      if (!ctx.keys.revoke(params.id)) throw new ApiError(404, `no live key ${params.id}`);
      res.status(204).end();
    },
  });
}
