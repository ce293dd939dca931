/** Capture uploads and their analysis jobs, with progress as server-sent events. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { receiveCapture } from '../../uploads';
import { type CaptureJobData, type CaptureProgress, type CaptureResult, captureIdOf, type JobInfo } from '../../queue';
import type { ServiceContext } from '../../context';
import type { Principal } from '../../keys';
import { ApiError, defineRoute, type RouteKit } from '../route';
import { CaptureJob, ClusterName, JobState } from '../schemas';
import { CAPTURE_ID, captureId, DEFAULT_CLUSTER } from '../../../k8s/cluster';

type CaptureInfo = JobInfo<CaptureJobData, CaptureProgress, CaptureResult>;

/** Absolute server paths out of a client-visible message, whatever produced it. */
export function scrubPaths(m: string): string {
  return m.replace(/(^|[\s'"(=])\/(?:[^\s:'")]+\/)*[^\s:'")]*/g, '$1<server file>');
}

/**
 * A finished capture's problems in words a user can act on: what happened, what was kept, what
 * to do. Null when the capture was read to its end and every record was stored.
 */
export function captureProblem(r: CaptureResult | null): string | null {
  if (!r) return null;
  const parts: string[] = [];
  const n = (x: number): string => x.toLocaleString('en-US');
  if (r.error) {
    const cut = /ends inside packet record (\d+) at offset (\d+)/.exec(r.error);
    if (cut)
      parts.push(
        `The capture file is cut short: it ends in the middle of packet ${n(Number(cut[1]))} (byte ${n(Number(cut[2]))}). ` +
          `The ${n(r.packets)} packets before the cut were analysed and are searchable; anything after it is missing. ` +
          'If the file was still being written or copied, upload the complete file again.',
      );
    else
      parts.push(
        `Reading the capture stopped early (${scrubPaths(r.error)}). The ${n(r.packets)} packets before that point were analysed and are searchable; ` +
          'the rest of the file was not. Check that the file is a complete pcap or pcapng and upload it again.',
      );
  }
  if (r.deadLettered > 0)
    parts.push(
      `${n(r.deadLettered)} connection records were refused by the store and set aside (dead-letter); an administrator can see why in the service log.`,
    );
  return parts.length ? parts.join(' ') : null;
}

export function captureView(j: CaptureInfo): z.infer<typeof CaptureJob> {
  const result = j.result ? { ...j.result, error: j.result.error === null ? null : scrubPaths(j.result.error) } : null;
  const problem = j.state === 'completed' ? captureProblem(result) : null;
  return {
    id: j.id,
    state: j.state,
    finishedWithErrors: problem !== null,
    problem,
    name: j.data.name,
    sha256: j.data.sha256,
    bytes: j.data.bytes,
    format: j.data.format,
    uploadedAt: j.data.uploadedAt,
    uploadedBy: j.data.uploadedBy,
    cluster: j.data.cluster ?? DEFAULT_CLUSTER,
    reanalysis: j.data.reanalysis ?? null,
    progress: j.progress,
    result: result as unknown as Record<string, unknown> | null,
    failedReason: j.failedReason === null ? null : scrubPaths(j.failedReason),
    attemptsMade: j.attemptsMade,
    createdAt: new Date(j.createdAt).toISOString(),
    startedAt: j.processedAt === null ? null : new Date(j.processedAt).toISOString(),
    finishedAt: j.finishedAt === null ? null : new Date(j.finishedAt).toISOString(),
  };
}

/**
 * Analysts and admins see every capture; an ingest key, and a namespace-scoped key of any role,
 * only those it uploaded: a capture's name and figures are of every namespace it holds.
 */
export function seesOnlyOwnUploads(p: Principal): boolean {
  return p.role === 'ingest' || p.scope !== undefined;
}

function visible(j: CaptureInfo, p: Principal): boolean {
  if (!seesOnlyOwnUploads(p)) return true;
  return j.data.uploadedByKey !== undefined ? j.data.uploadedByKey === p.keyId : j.data.uploadedBy === p.name;
}

/** The upload's file when it is still there (retention removes old ones), inside the uploads directory only. */
function uploadOf(ctx: ServiceContext, j: CaptureInfo): string | null {
  if (typeof j.data.path !== 'string') return null;
  const f = path.resolve(ctx.uploadsDir, j.data.path);
  if (path.dirname(f) !== path.resolve(ctx.uploadsDir) || !path.basename(f).startsWith(captureIdOf(j.data))) return null;
  return fs.existsSync(f) ? f : null;
}

const Busy = (id: string, state: string): ApiError =>
  new ApiError(409, `capture ${id} is ${state === 'active' ? 'being analysed' : `${state} (queued for analysis)`}: wait until it has finished`);

const Deleted = z
  .object({
    id: z.string(),
    records: z.number().openapi({ description: 'Connection records removed' }),
    appRecords: z.number().openapi({ description: 'Application records (dns, http, tls, ...) removed' }),
    alertsRemoved: z.number().openapi({ description: 'Alerts removed: this capture was all that raised them' }),
    alertsKept: z
      .number()
      .openapi({ description: 'Alerts also raised by something else (another capture, flows): kept, without this capture among their origins' }),
    fileRemoved: z.boolean().openapi({ description: 'False when the uploaded file was already gone (retention)' }),
  })
  .openapi('CaptureDeleted');

const Id = z.object({
  id: z
    .string()
    .regex(
      CAPTURE_ID,
      "a capture id is the SHA-256 of its bytes (64 hex digits), then '-' and the cluster's name when it was uploaded to one other than the default",
    ),
});

export function captureRoutes(kit: RouteKit, ctx: ServiceContext): void {
  const q = ctx.queues.captures;

  defineRoute(kit, {
    method: 'post',
    path: '/captures',
    scope: 'filtered',
    operationId: 'uploadCapture',
    tag: 'captures',
    roles: ['ingest', 'analyst'],
    expensive: true,
    summary: 'Upload a capture for analysis',
    description:
      'pcap, pcapng or gzip-compressed either, as the raw body (name in ?name=) or as one multipart/form-data file. Streamed to disk and hashed on the way; refused unless its magic bytes say capture. The same bytes uploaded again to the same cluster return the first job; uploaded to another cluster they are another capture with records of their own (id `<sha256>-<cluster>` for a cluster other than the default).',
    query: z.object({ name: z.string().max(255).optional(), cluster: ClusterName }),
    rawBody: {
      required: true,
      content: {
        'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
        'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } } },
      },
    },
    responses: {
      202: {
        description: 'Queued (or already known: created=false)',
        content: { 'application/json': { schema: z.object({ created: z.boolean(), capture: CaptureJob }) } },
      },
      413: { description: 'Larger than the upload limit' },
      415: { description: 'Not a pcap, pcapng or gzip' },
    },
    async handler({ req, res, query, principal }) {
      // The same bytes in another cluster are another capture: the file, job and uids carry the cluster.
      const suffix = captureId('', query.cluster);
      const got = await receiveCapture(
        req,
        ctx.uploadsDir,
        ctx.cfg.limits.uploadBytes,
        query.name ?? (req.headers['x-filename'] as string | undefined),
        suffix,
      );
      ctx.metrics.uploadBytes.inc(got.bytes);
      const data: CaptureJobData = {
        path: got.path,
        sha256: got.sha256,
        bytes: got.bytes,
        name: got.name,
        format: got.format,
        uploadedAt: new Date().toISOString(),
        uploadedBy: principal.name,
        uploadedByKey: principal.keyId,
        cluster: query.cluster,
        ...(query.cluster !== DEFAULT_CLUSTER ? { idCluster: query.cluster } : {}),
      };
      const added = await q.add(data, { jobId: captureIdOf(data) });
      const job = await q.get(added.id);
      if (!job) throw new ApiError(500, `capture job ${added.id} vanished right after it was queued`);
      // The same bytes uploaded earlier by another key: a key that sees only its own uploads learns
      // that they are known and their state, not that key's name for them, its name, or the results.
      const shown = visible(job, principal)
        ? captureView(job)
        : {
            ...captureView({ ...job, data: { ...job.data, name: got.name, uploadedBy: 'another key' } }),
            result: null,
            problem: null,
            finishedWithErrors: false,
          };
      res.status(202).location(`/api/v1/captures/${added.id}`).json({ created: added.created, capture: shown });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/captures',
    scope: 'filtered',
    operationId: 'listCaptures',
    tag: 'captures',
    roles: ['analyst', 'ingest'],
    summary: 'Uploaded captures, newest first',
    query: z.object({
      state: JobState.optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      offset: z.coerce.number().int().min(0).max(100_000).default(0),
    }),
    responses: {
      200: { description: 'Captures', content: { 'application/json': { schema: z.object({ captures: z.array(CaptureJob), counts: z.record(z.number()) }) } } },
    },
    async handler({ res, query, principal }) {
      const states = query.state ? [query.state] : undefined;
      if (seesOnlyOwnUploads(principal)) {
        // Its own uploads among the newest 5000: the page is cut after filtering, and the counts are of its own.
        const own = (await q.list({ states, limit: 5000, offset: 0 })).filter((j) => visible(j, principal));
        const counts: Record<string, number> = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };
        for (const j of own) counts[j.state] = (counts[j.state] ?? 0) + 1;
        res.json({ captures: own.slice(query.offset, query.offset + query.limit).map(captureView), counts });
        return;
      }
      const jobs = await q.list({ states, limit: query.limit, offset: query.offset });
      res.json({ captures: jobs.map(captureView), counts: await q.counts() });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/captures/:id',
    scope: 'filtered',
    operationId: 'getCapture',
    tag: 'captures',
    roles: ['analyst', 'ingest'],
    summary: 'One capture: status, progress, result',
    params: Id,
    responses: { 200: { description: 'The capture', content: { 'application/json': { schema: CaptureJob } } }, 404: { description: 'No such capture' } },
    async handler({ res, params, principal }) {
      const j = await q.get(params.id);
      if (!j || !visible(j, principal)) throw new ApiError(404, `no capture ${params.id}`);
      res.json(captureView(j));
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/captures/:id/events',
    scope: 'filtered',
    operationId: 'streamCaptureEvents',
    tag: 'captures',
    roles: ['analyst', 'ingest'],
    summary: 'Progress of one capture as server-sent events',
    description:
      'Events: `state` (the capture, at once), `progress` (at least every second while it runs), `done` (the final capture, then the stream ends). Read it with fetch and the Authorization header; keys never go in URLs.',
    params: Id,
    responses: {
      200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
      404: { description: 'No such capture' },
    },
    async handler({ req, res, params, principal }) {
      const first = await q.get(params.id);
      if (!first || !visible(first, principal)) throw new ApiError(404, `no capture ${params.id}`);
      res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      res.flushHeaders();
      let closed = false;
      // `done` can run twice (a finished event while the first `done` awaits the queue): after the
      // stream has ended a write would throw ERR_STREAM_WRITE_AFTER_END and take the process down.
      const send = (event: string, data: unknown): void => {
        if (closed || res.writableEnded) return;
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const cleanups: (() => void)[] = [];
      const finish = (): void => {
        if (closed) return;
        closed = true;
        for (const c of cleanups) c();
        res.end();
      };
      const done = async (): Promise<void> => {
        const j = await q.get(params.id);
        if (j) send('done', captureView(j));
        finish();
      };
      send('state', captureView(first));
      if (first.state === 'completed' || first.state === 'failed') {
        await done();
        return;
      }
      cleanups.push(
        q.onProgress((id, p) => {
          if (id === params.id && !closed) send('progress', p);
        }),
      );
      cleanups.push(
        q.onFinished((id) => {
          if (id === params.id) void done();
        }),
      );
      const beat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      cleanups.push(() => clearInterval(beat));
      req.on('close', finish);
      // It may have finished between the first read and the subscription.
      const again = await q.get(params.id);
      if (again && (again.state === 'completed' || again.state === 'failed')) await done();
    },
  });

  defineRoute(kit, {
    method: 'delete',
    path: '/captures/:id',
    operationId: 'deleteCapture',
    tag: 'captures',
    roles: ['analyst'],
    summary: 'Delete a capture: its connection and application records, the alerts only it raised, its file and its job',
    description:
      'Refused (409) while the capture is queued or being analysed. Alerts that something else raised too (another capture, flow logs) are kept. Repeating the call after a failure (the store unreachable part-way) finishes the job; afterwards the capture is 404 and the same bytes can be uploaded again.',
    params: Id,
    responses: {
      200: { description: 'What was removed', content: { 'application/json': { schema: Deleted } } },
      404: { description: 'No such capture' },
      409: { description: 'The capture is queued or being analysed' },
    },
    async handler({ res, params }) {
      const j = await q.get(params.id);
      if (!j) throw new ApiError(404, `no capture ${params.id}`);
      if (j.state !== 'completed' && j.state !== 'failed') throw Busy(params.id, j.state);
      // Records and alerts first, the job last: a failure part-way leaves the capture listed, to delete again.
      const removed = await ctx.store.deleteCapture(params.id);
      const alerts = await ctx.store.releaseCaptureAlerts(params.id);
      const file = uploadOf(ctx, j);
      if (file) fs.rmSync(file, { force: true });
      const gone = await q.remove(params.id);
      if (gone === 'busy') throw Busy(params.id, 'waiting');
      res.json({
        id: params.id,
        records: removed.records,
        appRecords: removed.appRecords,
        alertsRemoved: alerts.removed,
        alertsKept: alerts.released,
        fileRemoved: file !== null,
      });
    },
  });

  defineRoute(kit, {
    method: 'post',
    path: '/captures/:id/reanalyze',
    operationId: 'reanalyzeCapture',
    tag: 'captures',
    roles: ['analyst'],
    expensive: true,
    summary: 'Analyse a stored capture again (after the Kubernetes inventory changed, say), replacing its records',
    description:
      "Queues the capture again under its id: the job removes its stored records, analyses the uploaded file with the current inventory and settings, and writes the records again (the same uids, one copy each); alerts it raised before and no longer raises are removed unless something else raised them too, and the analyst's status and note on the others are kept. Follow it with GET /captures/{id}/events. Refused (409) while queued or running, 410 when the uploaded file is gone.",
    params: Id,
    query: z.object({
      cluster: ClusterName.removeDefault()
        .optional()
        .openapi({ description: 'Re-assign the capture to this cluster (its records then resolve against that inventory); default: the one it has' }),
    }),
    responses: {
      202: { description: 'Queued', content: { 'application/json': { schema: CaptureJob } } },
      404: { description: 'No such capture' },
      409: { description: 'The capture is queued or being analysed' },
      410: { description: 'The uploaded file is gone (retention): upload it again' },
    },
    async handler({ res, params, query, principal }) {
      const j = await q.get(params.id);
      if (!j) throw new ApiError(404, `no capture ${params.id}`);
      if (j.state !== 'completed' && j.state !== 'failed') throw Busy(params.id, j.state);
      if (!uploadOf(ctx, j)) throw new ApiError(410, `the uploaded file of capture ${params.id} is gone (retention): upload it again`);
      const data: CaptureJobData = {
        ...j.data,
        ...(query.cluster !== undefined ? { cluster: query.cluster } : {}),
        reanalysis: { requestedAt: new Date().toISOString(), requestedBy: principal.name, count: (j.data.reanalysis?.count ?? 0) + 1 },
      };
      const r = await q.rerun(params.id, data);
      if (r === 'missing') throw new ApiError(404, `no capture ${params.id}`);
      if (r === 'busy') throw Busy(params.id, 'waiting');
      const now = await q.get(params.id);
      if (!now) throw new ApiError(500, `capture job ${params.id} vanished right after it was queued again`);
      res.status(202).location(`/api/v1/captures/${params.id}`).json(captureView(now));
    },
  });
}
