/**
 * Workers: take capture, flow and re-resolution jobs from the queues and run them, timing each for the metrics.
 * Any number of worker processes may share one Redis and one store; records are idempotent by
 * uid, so a job that runs twice (retry, recovered stall) leaves each record once.
 */
import type { CaptureJobDeps } from './jobs/capture';
import { runCaptureJobSharded, runCaptureShardJob } from './jobs/capture-shards';
import { runFlowJob } from './jobs/flows';
import { runResolutionJob } from './jobs/resolve';
import type { AlertSink } from './jobs/alerts';
import { ResolverCache } from './inventory';
import type { ServiceContext } from './context';
import type { JobContext } from './queue';

export interface WorkerOptions {
  alerts: AlertSink;
  analyzers?: boolean;
  log?: (line: string) => void;
}

function timed<D, P, R>(
  ctx: ServiceContext,
  queue: string,
  log: (l: string) => void,
  run: (job: JobContext<D, P>) => Promise<R>,
): (job: JobContext<D, P>) => Promise<R> {
  return async (job) => {
    const end = ctx.metrics.jobSeconds.startTimer({ queue });
    try {
      const r = await run(job);
      end({ outcome: 'completed' });
      return r;
    } catch (e) {
      end({ outcome: 'failed' });
      log(`${queue} job ${job.id} attempt ${job.attempt} failed: ${(e as Error).message}`);
      throw e;
    }
  };
}

export function startWorkers(ctx: ServiceContext, o: WorkerOptions): void {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const resolvers = new ResolverCache(ctx.inventory, ctx.cfg.localNets);
  const captureDeps: CaptureJobDeps = {
    store: ctx.store,
    resolvers,
    metrics: ctx.metrics,
    alerts: o.alerts,
    localNets: ctx.cfg.localNets,
    uploadsDir: ctx.uploadsDir,
    analyzers: o.analyzers,
  };
  const sharding = { queue: ctx.queues.captureShards, shards: ctx.cfg.jobs.captureShards, minBytes: ctx.cfg.jobs.captureShardBytes };
  ctx.queues.captures.process(
    ctx.cfg.jobs.captureConcurrency,
    timed(ctx, 'captures', log, (job) => runCaptureJobSharded(job, captureDeps, sharding)),
  );
  // Shards take the same cores as whole captures: as many at once.
  ctx.queues.captureShards.process(
    ctx.cfg.jobs.captureConcurrency,
    timed(ctx, 'captureShards', log, (job) => runCaptureShardJob(job, captureDeps)),
  );
  ctx.queues.flows.process(
    ctx.cfg.jobs.flowConcurrency,
    timed(ctx, 'flows', log, (job) =>
      runFlowJob(job, {
        store: ctx.store,
        resolvers,
        metrics: ctx.metrics,
        alerts: o.alerts,
      }),
    ),
  );
  // One at a time: each walks every record of its cluster in range, and a second snapshot's walk repeats the first's.
  ctx.queues.resolutions.process(
    1,
    timed(ctx, 'resolutions', log, (job) => runResolutionJob(job, { store: ctx.store, resolvers, captures: ctx.queues.captures, alerts: o.alerts })),
  );
}
