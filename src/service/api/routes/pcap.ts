/** Packets back out: a pcap of one connection, or of the connections a query finds (bounded), as Arkime serves sessions. */
import * as fs from 'node:fs';
import { z } from 'zod';
import { extractConnections, type ExtractTarget } from '../../../analyze/extract';
import type { ConnRecord } from '../../../../parsers/record/conn';
import { fetchAgentPcap } from '../../agent-pcap';
import type { ServiceContext } from '../../context';
import { parseAgentCapture } from '../../flow-ingest';
import { ApiError, defineRoute, type RouteKit } from '../route';
import { ConnectionUid, TimeRange } from '../schemas';
import { CAPTURE_ID } from '../../../k8s/cluster';

const PCAP = 'application/vnd.tcpdump.pcap';

export function captureFile(ctx: ServiceContext, id: string): string | null {
  if (!CAPTURE_ID.test(id)) return null;
  for (const ext of ['pcap', 'pcapng', 'pcap.gz']) {
    const f = `${ctx.uploadsDir}/${id}.${ext}`;
    if (fs.existsSync(f)) return f;
  }
  return null;
}

export function pcapRoutes(kit: RouteKit, ctx: ServiceContext): void {
  const maxBytes = ctx.cfg.limits.pcapBytes;

  const send = async (res: import('express').Response, name: string, groups: Map<string, ExtractTarget[]>): Promise<void> => {
    const sources = [...groups].map(([sha, targets]) => ({ file: captureFile(ctx, sha) as string, targets }));
    res.status(200).set({ 'Content-Type': PCAP, 'Content-Disposition': `attachment; filename="${name}.pcap"`, 'Cache-Control': 'no-store' });
    // A client that goes away mid-download never drains the response: the extraction waiting on
    // 'drain' would hold its capture file open forever. Its next write fails instead, and it stops.
    const gone = (): void => {
      if (res.writableFinished) return;
      res.write = (() => {
        throw new ApiError(499, 'the client closed the download');
      }) as typeof res.write;
      res.emit('drain');
    };
    res.once('close', gone);
    const r = await extractConnections(sources, res, { maxBytes, maxPackets: ctx.cfg.limits.pcapPackets });
    res.off('close', gone);
    res.end();
    if (r.truncated) ctx.metrics.parseErrors.inc({ source: 'pcap-truncated' });
  };

  defineRoute(kit, {
    method: 'get',
    path: '/connections/:uid/pcap',
    scope: 'filtered',
    operationId: 'getConnectionPcap',
    tag: 'pcap',
    roles: ['analyst'],
    expensive: true,
    summary: 'The packets of one connection, as a pcap',
    description:
      "Cut from the uploaded capture the connection was analysed from, or, for a connection a registered capture agent shipped, fetched from that agent's packet ring (flow-log records have no packets: 409).",
    params: ConnectionUid,
    responses: {
      200: { description: 'pcap (nanosecond timestamps)', content: { [PCAP]: { schema: { type: 'string', format: 'binary' } } } },
      404: { description: 'No such connection' },
      409: { description: "The connection came from flow logs, or its capture (or its agent's ring) no longer holds it" },
      502: { description: 'The agent whose ring holds the packets is unreachable, refused the token or answered an error (named in the message)' },
      504: { description: 'The agent whose ring holds the packets did not answer in time (limits.agentTimeoutMs)' },
    },
    async handler({ res, params, store }) {
      const r = await store.get(params.uid);
      if (!r) throw new ApiError(404, `no connection ${params.uid}`);
      if (!r.capture) throw new ApiError(409, `connection ${params.uid} came from flow logs: there are no packets to give`);
      const live = parseAgentCapture(r.capture);
      if (live !== null) {
        const got = await fetchAgentPcap(
          ctx.cfg,
          live.agent,
          live.uid,
          () => res.status(200).set({ 'Content-Type': PCAP, 'Content-Disposition': `attachment; filename="${params.uid}.pcap"`, 'Cache-Control': 'no-store' }),
          { maxBytes, maxPackets: ctx.cfg.limits.pcapPackets, timeoutMs: ctx.cfg.limits.agentTimeoutMs },
        ).catch((e: Error) => {
          // Part of the pcap went out: the client must see a broken download, not a short pcap that looks whole.
          if (res.headersSent) res.destroy(e);
          throw e;
        });
        res.end();
        if (got.truncated) ctx.metrics.parseErrors.inc({ source: 'pcap-truncated' });
        return;
      }
      if (!captureFile(ctx, r.capture)) throw new ApiError(409, `the capture ${r.capture} of connection ${params.uid} is no longer kept (retention)`);
      await send(res, params.uid, new Map([[r.capture, [r]]]));
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/pcap',
    scope: 'filtered',
    operationId: 'queryPcap',
    tag: 'pcap',
    roles: ['analyst'],
    expensive: true,
    summary: 'The packets of the connections a query finds, as one pcap',
    description: 'At most `limit` connections (default 1000, at most 10000) and the configured byte and packet limits; connections from flow logs are skipped.',
    query: TimeRange.extend({ limit: z.coerce.number().int().min(1).max(10_000).default(1000) }),
    responses: {
      200: { description: 'pcap (nanosecond timestamps)', content: { [PCAP]: { schema: { type: 'string', format: 'binary' } } } },
      404: { description: 'No connection with packets matches' },
    },
    async handler({ res, query, store }) {
      const groups = new Map<string, ExtractTarget[]>();
      let after: string | undefined;
      let n = 0;
      while (n < query.limit) {
        const page = await store.search({
          query: query.q,
          from: query.from,
          to: query.to,
          limit: Math.min(1000, query.limit - n),
          after,
          sort: { field: '@timestamp', order: 'asc' },
        });
        for (const r of page.records as ConnRecord[]) {
          n++;
          if (!r.capture || !captureFile(ctx, r.capture)) continue;
          const l = groups.get(r.capture);
          if (l) l.push(r);
          else groups.set(r.capture, [r]);
        }
        if (page.next === null) break;
        after = page.next;
      }
      if (groups.size === 0) throw new ApiError(404, 'no connection with packets (from an uploaded capture still kept) matches');
      await send(res, 'query', groups);
    },
  });
}
