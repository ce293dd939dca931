/** Continuous flow-log ingestion over HTTP. */
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import type { Request } from 'express';
import { z } from 'zod';
import { FLOW_FORMATS, FlowFieldError, type FlowFormat, MONITOR_AGGREGATIONS, type MonitorAggregation } from '../../../../parsers/flows';
import { parseVpcFields } from '../../../../parsers/flows/vpc';
import { ingestFlows } from '../../flow-ingest';
import { followCut } from '../../body-cut';
import type { ServiceContext } from '../../context';
import { ApiError, defineRoute, type RouteKit } from '../route';
import { firehoseRequestId } from '../firehose';
import { AgentName } from '../../config';
import { ClusterName } from '../schemas';
import { DEFAULT_CLUSTER } from '../../../k8s/cluster';

class Limit extends Transform {
  bytes = 0;
  constructor(
    private readonly max: number,
    private readonly what = 'the flow request',
  ) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) cb(new ApiError(413, `${this.what} is larger than the ${this.max}-byte limit; lines before the cut were kept`));
    else cb(null, chunk);
  }
}

/**
 * The request body as flow lines: as sent, or gunzipped (`Content-Encoding: gzip`, as Fluent Bit,
 * Vector and `curl --compressed`-style senders post). The byte limit holds for the compressed body
 * and again for what it inflates to, so a small bomb stops at the limit; a corrupt stream is a 400
 * once the lines before the fault are taken.
 */
export function flowBody(req: Request, max: number): Readable {
  const enc = String(req.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  if (enc !== 'identity' && enc !== '' && enc !== 'gzip' && enc !== 'x-gzip')
    throw new ApiError(415, `Content-Encoding ${enc} is not supported for flows: send gzip or no encoding`);
  const limit = new Limit(max);
  // Its reader (ingestFlows) listens for its failures; a request refused before it is read (a
  // bad query) and then gone must not make one uncaught.
  limit.on('error', () => undefined);
  const cut = (e: Error): ApiError => new ApiError(400, `the flow request was cut off before its end (${e.message}); lines before the cut were kept`);
  if (enc === 'identity' || enc === '') {
    followCut(req, limit, cut);
    return req.pipe(limit);
  }
  const raw = new Limit(max, 'the compressed flow request');
  followCut(req, raw, cut);
  const gunzip = zlib.createGunzip();
  const fail = (e: Error): void => {
    limit.destroy(e instanceof ApiError ? e : new ApiError(400, `the gzip body cannot be decompressed (${e.message}); lines before the fault were kept`));
  };
  raw.on('error', fail);
  gunzip.on('error', fail);
  req.pipe(raw).pipe(gunzip).pipe(limit);
  return limit;
}

async function settle(
  ctx: ServiceContext,
  ids: string[],
  timeoutMs: number,
): Promise<{ written: number; stale: number; deadLettered: number; failed: string[] }> {
  const out = { written: 0, stale: 0, deadLettered: 0, failed: [] as string[] };
  const deadline = Date.now() + timeoutMs;
  for (const id of ids) {
    for (;;) {
      const j = await ctx.queues.flows.get(id);
      if (!j) break;
      if (j.state === 'completed' && j.result) {
        out.written += j.result.written;
        out.stale += j.result.stale;
        out.deadLettered += j.result.deadLettered;
        break;
      }
      if (j.state === 'failed') {
        out.failed.push(`${id}: ${j.failedReason ?? 'failed'}`);
        break;
      }
      if (Date.now() > deadline) throw new ApiError(504, `flow batches still queued after ${timeoutMs} ms (they will still be written); poll without wait`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return out;
}

export function flowRoutes(kit: RouteKit, ctx: ServiceContext): void {
  // PUT is the same ingestion: `curl -T -` (upload a file or a pipe) sends PUT.
  for (const method of ['post', 'put'] as const)
    defineRoute(kit, {
      method,
      path: '/flows',
      scope: 'none',
      operationId: method === 'post' ? 'ingestFlows' : 'ingestFlowsPut',
      tag: 'flows',
      roles: ['ingest'],
      summary: method === 'post' ? 'Ingest flow logs' : 'Ingest flow logs (PUT, as `curl -T -` sends)',
      description: `NDJSON, a JSON array, or text lines, streamed, as sent or with Content-Encoding: gzip. Formats: ${FLOW_FORMATS.join(', ')} (named with ?format= or sniffed from the first line). Bad lines are listed with their line numbers; good lines in the same request are kept. An AWS Kinesis Data Firehose HTTP endpoint request ({requestId, timestamp, records: [{data}]}) or a CloudWatch Logs subscription payload is read as one JSON document of up to limits.flowDocumentBytes (64 MiB), not as a line; each log event in it is checked as a line is (at most limits.flowLineBytes), and one that cannot be read is listed with the body's line, its place (records[i].logEvents[j]) and why. Records go to the flows queue in batches; ?wait=true answers once they are in the store.`,
      query: z.object({
        format: z
          .enum(['vpc', ...FLOW_FORMATS] as [string, ...string[]])
          .optional()
          .openapi({ description: `One of ${FLOW_FORMATS.join(', ')} (vpc: aws-vpc); sniffed from the first line when absent` }),
        fields: z.string().max(4096).optional().openapi({
          description:
            "AWS VPC / Transit Gateway flow logs without a header line (CloudWatch Logs, Firehose): the flow log's LogFormat ($ and the names in braces, as AWS shows it) or the field names comma-separated; implies format=aws-vpc",
        }),
        monitorAggregation: z
          .enum(MONITOR_AGGREGATIONS as [MonitorAggregation, ...MonitorAggregation[]])
          .optional()
          .openapi({
            description:
              "Hubble: Cilium's monitor aggregation on the nodes the flows come from (Helm bpf.monitorAggregation). none: every event is a packet, the records' packet counts are packets; medium (Cilium's default), low, maximum: they are the datapath's report counts, marked counts: reports. Default: the configuration's hubble.monitorAggregation (medium)",
          }),
        source: z
          .string()
          .max(200)
          .regex(/^[\w.:@/-]+$/, 'letters, digits and . : @ / - _')
          .optional(),
        wait: z.enum(['true', 'false']).optional(),
        cluster: ClusterName,
        agent: AgentName.optional().openapi({
          description:
            "The capture agent that sent these records (capture --agent-name), with its packets in its ring: each record is linked to it (capture `agent:NAME:UID`), so GET /connections/{uid}/pcap fetches its packets from the agent. The agent must be in the service's agents registry, bound to this key (else 403).",
        }),
      }),
      rawBody: {
        required: true,
        content: {
          'application/x-ndjson': { schema: { type: 'string' } },
          'application/json': { schema: { type: 'array', items: { type: 'object' } } },
          'text/plain': { schema: { type: 'string' } },
        },
      },
      responses: {
        202: {
          description: 'Parsed and queued',
          content: {
            'application/json': {
              schema: z.object({
                format: z.string().nullable(),
                lines: z.number(),
                records: z.number(),
                rejected: z.number(),
                errors: z.array(z.object({ line: z.number(), field: z.string().optional(), reason: z.string() })),
                jobs: z.array(z.string()),
                stored: z.object({ written: z.number(), stale: z.number(), deadLettered: z.number(), failed: z.array(z.string()) }).optional(),
              }),
            },
          },
        },
        200: {
          description:
            "An AWS Data Firehose HTTP endpoint delivery (X-Amz-Firehose-Request-Id; the key may come as X-Amz-Firehose-Access-Key, on this route only): parsed and queued, answered in Firehose's form, the 202 body beside it. Its errors carry requestId, timestamp and errorMessage.",
          content: {
            'application/json': {
              schema: z.object({ requestId: z.string(), timestamp: z.number(), records: z.number() }).passthrough(),
            },
          },
        },
        400: {
          description:
            'Every line was rejected, or the body held none: nothing was queued; `details.errors` lists the lines and why. Or more lines were rejected than the server reads (EASTWATCH_FLOW_MAX_REJECTED_LINES): the rest of the body was not read; `linesRead` lines were taken',
        },
        403: { description: "`agent` names an agent the service's registry does not have, or binds to another key" },
        413: { description: 'Body over the size limit, compressed or inflated (lines before the cut were kept)' },
        415: { description: 'A Content-Encoding other than gzip' },
        503: {
          description:
            'The workers are behind (the flows queue stayed full): the body was cut at a line boundary; `linesRead` lines were taken, resend from `resumeAtLine` after Retry-After seconds',
        },
      },
      async handler({ req, res, query, principal }) {
        const declared = Number(req.headers['content-length']);
        const max = ctx.cfg.limits.flowRequestBytes;
        if (Number.isFinite(declared) && declared > max)
          throw new ApiError(413, `the request declares ${declared} bytes, above the ${max}-byte flow request limit`);
        const limit = flowBody(req, max);
        const format = query.format === 'vpc' ? 'aws-vpc' : (query.format as FlowFormat | undefined);
        let vpcFields: string[] | undefined;
        if (query.fields !== undefined) {
          if (format !== undefined && format !== 'aws-vpc')
            throw new ApiError(400, `fields names AWS VPC flow log fields: it does not go with format=${format}`);
          try {
            vpcFields = parseVpcFields(query.fields);
          } catch (e) {
            if (e instanceof FlowFieldError) throw new ApiError(400, `fields: ${e.message}`);
            throw e;
          }
        }
        if (query.monitorAggregation !== undefined && format !== undefined && format !== 'hubble')
          throw new ApiError(400, `monitorAggregation describes Cilium's Hubble events: it does not go with format=${format}`);
        if (query.agent !== undefined) {
          const a = ctx.cfg.agents.find((x) => x.name === query.agent);
          if (a === undefined)
            throw new ApiError(
              403,
              `agent ${query.agent} is not in the service's agents registry (configuration: agents): its records cannot be linked to its packets`,
            );
          // Only the agent's own key links records to it: another key could otherwise have the service fetch any uid from it.
          if (a.keyId !== principal.keyId)
            throw new ApiError(403, `agent ${query.agent} ships with another key (the registry binds it to key ${a.keyId}, not ${principal.keyId})`);
        }
        const source = query.source ?? `${principal.name}@${new Date().toISOString()}`;
        const r = await ingestFlows(limit, ctx.queues.flows, {
          source,
          // The key, not the client-chosen source name: a key replaces only its own records.
          // The default cluster keeps the namespace it had before clusters were named (re-sent flows
          // replace their earlier copies); another cluster's identical 5-tuples are other connections.
          uidNamespace: query.cluster === DEFAULT_CLUSTER ? `key:${principal.keyId}` : `key:${principal.keyId}/cluster:${query.cluster}`,
          cluster: query.cluster,
          agent: query.agent,
          format,
          vpcFields,
          monitorAggregation: query.monitorAggregation ?? ctx.cfg.hubble.monitorAggregation,
          maxLineBytes: ctx.cfg.limits.flowLineBytes,
          // A Firehose HTTP endpoint request is one JSON object of several MB: read whole, under its own bound.
          maxDocumentBytes: Math.min(ctx.cfg.limits.flowDocumentBytes, ctx.cfg.limits.flowRequestBytes),
          batchRecords: ctx.cfg.limits.flowBatchRecords,
          batchBytes: ctx.cfg.limits.flowBatchBytes,
          localNets: ctx.cfg.localNets,
          backlog: { max: ctx.cfg.limits.flowBacklogBatches, maxWaitMs: ctx.cfg.limits.flowBacklogWaitMs },
          maxRejectedLines: ctx.cfg.limits.flowMaxRejectedLines,
        });
        ctx.metrics.parseErrors.inc({ source: 'flows' }, r.summary.errors);
        await ctx.sources.note(source, r.summary.format, r.summary.records, r.summary.errors);
        const body: Record<string, unknown> = {
          format: r.summary.format,
          lines: r.summary.lines,
          records: r.summary.records,
          rejected: r.summary.errors,
          errors: r.errors,
          jobs: r.jobs,
        };
        // Nothing taken is a client error: a 202 would read as "accepted" to a sender that checks only the status.
        if (r.summary.records === 0 && r.summary.errors > 0)
          throw new ApiError(
            400,
            `every line of the request was rejected (${r.summary.errors}); first: line ${r.errors[0]?.line}: ${r.errors[0]?.reason ?? 'unreadable'}`,
            body,
          );
        if (r.summary.records === 0) throw new ApiError(400, 'the request holds no flow records (empty body)', body);
        if (query.wait === 'true') body.stored = await settle(ctx, r.jobs, 120_000);
        const firehose = firehoseRequestId(req);
        // Firehose counts anything but a 200 with its requestId as a failed delivery, and sends it again.
        if (firehose !== null) res.status(200).json({ requestId: firehose, timestamp: Date.now(), ...body });
        else res.status(202).json(body);
      },
    });

  defineRoute(kit, {
    method: 'get',
    path: '/flows/sources',
    operationId: 'listFlowSources',
    tag: 'flows',
    roles: ['analyst', 'ingest'],
    summary: 'Who sends flows: format, requests, records, rejected lines, first and last seen',
    responses: {
      200: {
        description: 'Sources, most recent first',
        content: {
          'application/json': {
            schema: z.object({
              sources: z.array(
                z.object({
                  source: z.string(),
                  format: z.string().nullable(),
                  requests: z.number(),
                  records: z.number(),
                  rejected: z.number(),
                  firstSeen: z.string(),
                  lastSeen: z.string(),
                }),
              ),
            }),
          },
        },
      },
    },
    async handler({ res }) {
      res.json({ sources: await ctx.sources.list() });
    },
  });
}
