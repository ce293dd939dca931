/**
 * Export of a query's connection records as CSV or NDJSON: streamed page by page with keyset
 * pagination (one page in memory at a time, writes wait for the client), bounded by `limit`.
 */
import type { Response } from 'express';
import { z } from 'zod';
import type { ConnRecord } from '../../../../parsers/record/conn';
import type { ServiceContext } from '../../context';
import { ApiError, defineRoute, type RouteKit } from '../route';
import { TimeRange } from '../schemas';

/** The most records one export may hold; past it, narrow the query or the time range. */
export const EXPORT_MAX = 1_000_000;
const EXPORT_DEFAULT = 10_000;

type Cell = string | number | boolean | null | undefined | readonly string[];

/** CSV columns: Zeek's conn.log fields in its order, then the Kubernetes identity of both ends. */
export const EXPORT_COLUMNS: readonly [string, (r: ConnRecord) => Cell][] = [
  ['ts', (r) => r.ts],
  ['uid', (r) => r.uid],
  ['id.orig_h', (r) => r.orig_h],
  ['id.orig_p', (r) => r.orig_p],
  ['id.resp_h', (r) => r.resp_h],
  ['id.resp_p', (r) => r.resp_p],
  ['proto', (r) => r.proto],
  ['service', (r) => r.service],
  ['duration', (r) => r.duration],
  ['orig_bytes', (r) => r.orig_bytes],
  ['resp_bytes', (r) => r.resp_bytes],
  ['conn_state', (r) => r.conn_state],
  ['local_orig', (r) => r.local_orig],
  ['local_resp', (r) => r.local_resp],
  ['missed_bytes', (r) => r.missed_bytes],
  ['history', (r) => r.history],
  ['orig_pkts', (r) => r.orig_pkts],
  ['orig_ip_bytes', (r) => r.orig_ip_bytes],
  ['resp_pkts', (r) => r.resp_pkts],
  ['resp_ip_bytes', (r) => r.resp_ip_bytes],
  ['tunnel_parents', (r) => r.tunnel_parents],
  ['community_id', (r) => r.community_id],
  ['orig_namespace', (r) => r.k8s?.orig.namespace],
  ['orig_workload', (r) => r.k8s?.orig.workload],
  ['orig_pod', (r) => r.k8s?.orig.pod],
  ['resp_namespace', (r) => r.k8s?.resp.namespace],
  ['resp_workload', (r) => r.k8s?.resp.workload],
  ['resp_service', (r) => r.k8s?.resp.service],
  ['verdict', (r) => r.k8s?.policy?.verdict],
];

/** RFC 4180: quoted when it holds a comma, quote or line break; lists joined with commas; absent is empty. */
export function csvCell(v: Cell): string {
  if (v === null || v === undefined) return '';
  const s = Array.isArray(v) ? v.join(',') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(r: ConnRecord): string {
  return `${EXPORT_COLUMNS.map(([, get]) => csvCell(get(r))).join(',')}\r\n`;
}

/** Resolves once the client has taken what was written; false when it went away. */
function write(res: Response, chunk: string): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

export function exportRoutes(kit: RouteKit, ctx: ServiceContext): void {
  defineRoute(kit, {
    method: 'get',
    path: '/export',
    scope: 'filtered',
    operationId: 'exportConnections',
    tag: 'connections',
    roles: ['analyst'],
    expensive: true,
    summary: "Export a query's connection records as CSV or NDJSON",
    description: `Oldest first, streamed page by page. At most \`limit\` records (default ${EXPORT_DEFAULT}, at most ${EXPORT_MAX}); the \`X-Export-Limit\` header says which limit applied, so a file of exactly that many rows may have been cut there.`,
    query: TimeRange.extend({
      format: z.enum(['csv', 'ndjson']).default('csv'),
      limit: z.coerce.number().int().min(1).max(EXPORT_MAX).default(EXPORT_DEFAULT).openapi({ description: 'The most records to export' }),
    }),
    responses: {
      200: {
        description: 'The records: CSV with a header row (Zeek conn.log fields, then Kubernetes identity), or one JSON record a line',
        content: { 'text/csv': { schema: { type: 'string' } }, 'application/x-ndjson': { schema: { type: 'string' } } },
      },
    },
    async handler({ req, res, query, store }) {
      const pageSize = Math.min(1000, ctx.cfg.limits.searchPageMax);
      const filter = { query: query.q, from: query.from, to: query.to, sort: { field: '@timestamp', order: 'asc' as const } };
      // The first page before any byte is sent: a bad query is still a clean 400.
      let page = await store.search({ ...filter, limit: Math.min(pageSize, query.limit) });
      const csv = query.format === 'csv';
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      res.status(200);
      res.setHeader('content-type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
      res.setHeader('content-disposition', `attachment; filename="eastwatch-connections-${stamp}.${csv ? 'csv' : 'ndjson'}"`);
      res.setHeader('x-export-limit', String(query.limit));
      let gone = false;
      req.on('close', () => {
        gone = true;
      });
      if (csv && !(await write(res, `${EXPORT_COLUMNS.map(([name]) => name).join(',')}\r\n`))) return;
      let sent = 0;
      try {
        for (;;) {
          const records = page.records as ConnRecord[];
          let chunk = '';
          for (const r of records) {
            if (sent >= query.limit) break;
            chunk += csv ? csvRow(r) : `${JSON.stringify(r)}\n`;
            sent++;
          }
          if (chunk && !(await write(res, chunk))) return;
          if (gone || sent >= query.limit || page.next === null) break;
          page = await store.search({ ...filter, limit: Math.min(pageSize, query.limit - sent), after: page.next });
        }
      } catch (e) {
        // Headers are gone: a cut connection is the only honest signal left (a complete-looking file would lie).
        res.destroy(e instanceof Error ? e : new ApiError(500, String(e)));
        return;
      }
      res.end();
    },
  });
}
