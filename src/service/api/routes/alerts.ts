/** Alert triage: list, read, acknowledge/close with a note; suppression rules. */
import * as crypto from 'node:crypto';
import { z } from 'zod';
import type { ServiceContext } from '../../context';
import type { Suppression } from '../../../../detectors/contract/alert';
import { ApiError, defineRoute, type RouteKit } from '../route';
import { Alert, Page } from '../schemas';

const Severity = z.enum(['low', 'medium', 'high', 'critical']);
const Status = z.enum(['open', 'acknowledged', 'closed']);
const Entity = z
  .object({
    ip: z.string().max(64).optional(),
    port: z.number().int().min(0).max(65535).optional(),
    namespace: z.string().max(253).optional(),
    pod: z.string().max(253).optional(),
    workload: z.string().max(253).optional(),
    service: z.string().max(253).optional(),
    node: z.string().max(253).optional(),
    domain: z.string().max(253).optional(),
  })
  .strict();
const AlertId = z.object({
  id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_-]+$/),
});

/** Ids of one bulk triage request: a page of the alert list is at most this long too. */
export const BULK_MAX = 1000;

export function alertRoutes(kit: RouteKit, _ctx: ServiceContext): void {
  defineRoute(kit, {
    method: 'get',
    path: '/alerts',
    scope: 'filtered',
    operationId: 'searchAlerts',
    tag: 'alerts',
    roles: ['analyst'],
    expensive: true,
    summary: 'Alerts, newest last-seen first',
    query: Page.extend({
      status: Status.optional(),
      severity: Severity.optional().openapi({ description: 'Minimum severity' }),
      detector: z.string().max(64).optional(),
      from: z.string().max(64).optional(),
      to: z.string().max(64).optional(),
      suppressed: z.enum(['true', 'false']).optional().openapi({ description: 'Include suppressed alerts' }),
    }),
    responses: {
      200: { description: 'One page', content: { 'application/json': { schema: z.object({ alerts: z.array(Alert), next: z.string().nullable() }) } } },
    },
    async handler({ res, query, store }) {
      res.json(
        await store.searchAlerts({
          status: query.status,
          severity: query.severity,
          detector: query.detector,
          from: query.from,
          to: query.to,
          includeSuppressed: query.suppressed === 'true',
          limit: query.limit,
          after: query.after,
        }),
      );
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/alerts/:id',
    scope: 'filtered',
    operationId: 'getAlert',
    tag: 'alerts',
    roles: ['analyst'],
    summary: 'One alert with its evidence',
    params: AlertId,
    responses: { 200: { description: 'The alert', content: { 'application/json': { schema: Alert } } }, 404: { description: 'No such alert' } },
    async handler({ res, params, store }) {
      const a = await store.getAlert(params.id);
      if (!a) throw new ApiError(404, `no alert ${params.id}`);
      res.json(a);
    },
  });

  defineRoute(kit, {
    method: 'patch',
    path: '/alerts/:id',
    scope: 'filtered',
    operationId: 'updateAlert',
    tag: 'alerts',
    roles: ['analyst'],
    summary: 'Acknowledge, close or reopen an alert; add a note',
    params: AlertId,
    body: z
      .object({ status: Status.optional(), note: z.string().max(4000).nullable().optional() })
      .strict()
      .refine((b) => b.status !== undefined || b.note !== undefined, 'give status or note'),
    responses: {
      200: { description: 'The alert after the change', content: { 'application/json': { schema: Alert } } },
      404: { description: 'No such alert' },
    },
    async handler({ res, params, body, store }) {
      const a = await store.patchAlert(params.id, body);
      if (!a) throw new ApiError(404, `no alert ${params.id}`);
      res.json(a);
    },
  });

  defineRoute(kit, {
    method: 'patch',
    path: '/alerts',
    operationId: 'updateAlerts',
    tag: 'alerts',
    roles: ['analyst'],
    summary: 'Bulk triage: acknowledge, close or reopen many alerts at once; add the same note',
    description: `At most ${BULK_MAX} ids a request. Ids that are not alerts are listed in \`missing\`; the others are changed.`,
    body: z
      .object({
        ids: z.array(AlertId.shape.id).min(1).max(BULK_MAX),
        status: Status.optional(),
        note: z.string().max(4000).nullable().optional(),
      })
      .strict()
      .refine((b) => b.status !== undefined || b.note !== undefined, 'give status or note'),
    responses: {
      200: {
        description: 'What was changed',
        content: { 'application/json': { schema: z.object({ updated: z.array(z.string()), missing: z.array(z.string()) }) } },
      },
    },
    async handler({ res, body, store }) {
      res.json(await store.patchAlerts(body.ids, { status: body.status, note: body.note }));
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/suppressions',
    operationId: 'listSuppressions',
    tag: 'alerts',
    roles: ['analyst'],
    summary: 'Suppression rules',
    responses: { 200: { description: 'Rules', content: { 'application/json': { schema: z.object({ suppressions: z.array(z.record(z.unknown())) }) } } } },
    async handler({ res, store }) {
      res.json({ suppressions: await store.listSuppressions() });
    },
  });

  defineRoute(kit, {
    method: 'post',
    path: '/suppressions',
    operationId: 'createSuppression',
    tag: 'alerts',
    roles: ['analyst'],
    summary: 'Silence known-good behaviour: alerts of a detector whose entities match',
    body: z
      .object({
        detector: z.string().min(1).max(64),
        source: Entity.optional(),
        destination: Entity.optional(),
        reason: z.string().min(1).max(1000),
        expires_at: z.string().datetime({ offset: true }).nullable().optional(),
        ttl_hours: z
          .number()
          .positive()
          .max(24 * 366)
          .optional(),
      })
      .strict(),
    responses: { 201: { description: 'The rule', content: { 'application/json': { schema: z.record(z.unknown()) } } } },
    async handler({ res, body, principal, store }) {
      const now = Date.now();
      const expires = body.expires_at ?? (body.ttl_hours !== undefined ? new Date(now + body.ttl_hours * 3_600_000).toISOString() : null);
      const s: Suppression = {
        id: `s-${crypto.randomBytes(8).toString('hex')}`,
        detector: body.detector,
        ...(body.source ? { source: body.source } : {}),
        ...(body.destination ? { destination: body.destination } : {}),
        reason: body.reason,
        created_by: principal.name,
        created_at: new Date(now).toISOString(),
        expires_at: expires,
      };
      await store.addSuppression(s);
      res.status(201).json(s);
    },
  });

  defineRoute(kit, {
    method: 'delete',
    path: '/suppressions/:id',
    operationId: 'deleteSuppression',
    tag: 'alerts',
    roles: ['analyst'],
    summary: 'Remove a suppression rule',
    params: z.object({
      id: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[A-Za-z0-9_-]+$/),
    }),
    responses: { 204: { description: 'Removed' }, 404: { description: 'No such rule' } },
    async handler({ res, params, store }) {
      if (!(await store.deleteSuppression(params.id))) throw new ApiError(404, `no suppression ${params.id}`);
      res.status(204).end();
    },
  });
}
