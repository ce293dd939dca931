/** Searching connections and their application records, and aggregations over them. */
import { z } from 'zod';
import { CONN_FIELDS, EITHER_ALIASES } from '../../../query/fields';
import { MAX_EDGE_PAIRS, MAX_EDGES, MAX_HISTOGRAM_BUCKETS, MAX_TOP } from '../../../store/common';
import type { ServiceContext } from '../../context';
import { ApiError, defineRoute, type RouteKit } from '../route';
import { AppRecord, ConnectionRecord, ConnectionUid, Page, TimeRange } from '../schemas';
import type { AppKind } from '../../../../parsers/record/app';

const FieldName = z.string().min(1).max(128);
const APP_KINDS: readonly AppKind[] = ['dns', 'http', 'tls', 'ssh', 'app'];

function filterOf(q: z.infer<typeof TimeRange>): { query?: string; from?: string; to?: string } {
  return { query: q.q, from: q.from, to: q.to };
}

export function connectionRoutes(kit: RouteKit, ctx: ServiceContext): void {
  const pageMax = ctx.cfg.limits.searchPageMax;

  defineRoute(kit, {
    method: 'get',
    path: '/connections',
    scope: 'filtered',
    operationId: 'searchConnections',
    tag: 'connections',
    roles: ['analyst'],
    expensive: true,
    summary: 'Search connections with the query language',
    description: 'Keyset pagination: pass `next` back as `after`. Deep pages cost the same as the first.',
    query: TimeRange.merge(Page).extend({
      sort: FieldName.optional().openapi({ description: 'A sortable field or alias; default @timestamp' }),
      order: z.enum(['asc', 'desc']).optional(),
    }),
    responses: {
      200: {
        description: 'One page',
        content: {
          'application/json': { schema: z.object({ records: z.array(ConnectionRecord), next: z.string().nullable(), total: z.number().optional() }) },
        },
      },
    },
    async handler({ res, query, store }) {
      if ((query.limit ?? 100) > pageMax) throw new ApiError(400, `limit may be at most ${pageMax}`);
      const page = await store.search({
        ...filterOf(query),
        sort: query.sort ? { field: query.sort, order: query.order } : undefined,
        limit: query.limit,
        after: query.after,
      });
      res.json(page);
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/connections/:uid',
    scope: 'filtered',
    operationId: 'getConnection',
    tag: 'connections',
    roles: ['analyst'],
    summary: 'One connection with its dns/http/tls/ssh records',
    params: ConnectionUid,
    responses: {
      200: { description: 'The connection', content: { 'application/json': { schema: z.object({ record: ConnectionRecord, apps: z.array(AppRecord) }) } } },
      404: { description: 'No such connection' },
    },
    async handler({ res, params, store }) {
      const record = await store.get(params.uid);
      if (!record) throw new ApiError(404, `no connection ${params.uid}`);
      res.json({ record, apps: await store.appsOf(params.uid) });
    },
  });

  for (const kind of APP_KINDS) {
    defineRoute(kit, {
      method: 'get',
      path: `/${kind}`,
      scope: 'filtered',
      operationId: `search${kind[0].toUpperCase()}${kind.slice(1)}Records`,
      tag: 'application records',
      roles: ['analyst'],
      expensive: true,
      summary: `Search ${kind} records`,
      query: TimeRange.merge(Page).extend({ sort: FieldName.optional(), order: z.enum(['asc', 'desc']).optional() }),
      responses: {
        200: { description: 'One page', content: { 'application/json': { schema: z.object({ records: z.array(AppRecord), next: z.string().nullable() }) } } },
      },
      async handler({ res, query, store }) {
        if ((query.limit ?? 100) > pageMax) throw new ApiError(400, `limit may be at most ${pageMax}`);
        res.json(
          await store.searchApp(kind, {
            ...filterOf(query),
            sort: query.sort ? { field: query.sort, order: query.order } : undefined,
            limit: query.limit,
            after: query.after,
          }),
        );
      },
    });
  }

  defineRoute(kit, {
    method: 'get',
    path: '/aggregations/count',
    scope: 'filtered',
    operationId: 'countConnections',
    tag: 'aggregations',
    roles: ['analyst'],
    expensive: true,
    summary: 'How many connections match',
    query: TimeRange,
    responses: { 200: { description: 'The count', content: { 'application/json': { schema: z.object({ count: z.number() }) } } } },
    async handler({ res, query, store }) {
      res.json({ count: await store.count(filterOf(query)) });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/aggregations/top',
    scope: 'filtered',
    operationId: 'topValues',
    tag: 'aggregations',
    roles: ['analyst'],
    expensive: true,
    summary: 'Top values of a field, by connections, with bytes',
    query: TimeRange.extend({
      field: FieldName.openapi({ description: 'Any field the query language takes: ECS name, alias, or either-end alias such as `ns` or `port`' }),
      limit: z.coerce.number().int().min(1).max(MAX_TOP).default(10).openapi({ description: 'How many values, most connections first' }),
    }),
    responses: {
      200: {
        description: 'Buckets',
        content: { 'application/json': { schema: z.object({ buckets: z.array(z.object({ key: z.string(), connections: z.number(), bytes: z.number() })) }) } },
      },
    },
    async handler({ res, query, store }) {
      res.json({ buckets: await store.top({ ...filterOf(query), field: query.field, size: query.limit }) });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/aggregations/histogram',
    scope: 'filtered',
    operationId: 'connectionHistogram',
    tag: 'aggregations',
    roles: ['analyst'],
    expensive: true,
    summary: 'Connections and bytes over time',
    description: `At most ${MAX_HISTOGRAM_BUCKETS} buckets: when the interval asked would give more over the matching records, a wider one is used and the answer says so (\`interval\`, \`widened\`).`,
    query: TimeRange.extend({
      interval: z.coerce
        .number()
        .int()
        .min(1)
        .max(366 * 86400)
        .openapi({ description: 'Bucket width, seconds' }),
    }),
    responses: {
      200: {
        description: 'Buckets',
        content: {
          'application/json': {
            schema: z.object({
              buckets: z.array(z.object({ start: z.number(), connections: z.number(), bytes: z.number() })),
              interval: z.number().openapi({ description: 'The bucket width used, seconds' }),
              requestedInterval: z.number(),
              widened: z.boolean().openapi({ description: 'True when interval is wider than asked, to stay within the bucket cap' }),
            }),
          },
        },
      },
    },
    async handler({ res, query, store }) {
      const h = await store.histogram({ ...filterOf(query), intervalSeconds: query.interval });
      res.json({ buckets: h.buckets, interval: h.intervalSeconds, requestedInterval: query.interval, widened: h.widened });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/aggregations/distinct',
    scope: 'filtered',
    operationId: 'distinctCount',
    tag: 'aggregations',
    roles: ['analyst'],
    expensive: true,
    summary: 'How many distinct values a field has',
    query: TimeRange.extend({
      field: FieldName.openapi({ description: 'Any field the query language takes: ECS name, alias, or either-end alias such as `ns` or `port`' }),
    }),
    responses: { 200: { description: 'The count', content: { 'application/json': { schema: z.object({ distinct: z.number() }) } } } },
    async handler({ res, query, store }) {
      res.json({ distinct: await store.distinct({ ...filterOf(query), field: query.field }) });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/aggregations/edges',
    scope: 'filtered',
    operationId: 'serviceMapEdges',
    tag: 'aggregations',
    roles: ['analyst'],
    expensive: true,
    summary: 'Who talks to whom: the service map edges (workload or address, port, transport)',
    query: TimeRange.extend({ limit: z.coerce.number().int().min(1).max(MAX_EDGES).default(1000) }),
    responses: {
      200: {
        description: 'Edges, most connections first',
        content: {
          'application/json': {
            schema: z.object({
              edges: z.array(z.record(z.unknown())),
              truncated: z.boolean().openapi({
                description: `True when the matching connections make more than ${MAX_EDGE_PAIRS} distinct pairs: the edges rank the first ${MAX_EDGE_PAIRS} read, not all; narrow the query or the range`,
              }),
              pairs: z.number().openapi({ description: 'Distinct pairs read' }),
            }),
          },
        },
      },
    },
    async handler({ res, query, store }) {
      res.json(await store.edges({ ...filterOf(query), limit: query.limit }));
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/fields',
    scope: 'none',
    operationId: 'listFields',
    tag: 'connections',
    roles: ['analyst'],
    summary: 'The query language fields (names, aliases, types), for autocomplete',
    responses: {
      200: {
        description: 'Fields',
        content: {
          'application/json': {
            schema: z.object({
              fields: z.array(z.object({ name: z.string(), type: z.string(), aliases: z.array(z.string()), description: z.string(), sortable: z.boolean() })),
            }),
          },
        },
      },
    },
    handler({ res }) {
      res.json({
        fields: [
          ...CONN_FIELDS.fields.map((d) => ({ name: d.name, type: d.type, aliases: [...d.aliases], description: d.description, sortable: !d.optional })),
          ...EITHER_ALIASES.map((e) => ({ name: e.alias, type: 'either', aliases: [], description: `either end: ${e.fields.join(' or ')}`, sortable: false })),
        ],
      });
    },
  });
}
