/**
 * Bull on Redis: the queue when REDIS_URL is set, shared by every API server and worker that
 * points at the same Redis. Bull gives retries with backoff, stalled-job recovery (a worker that
 * dies loses its lock, and the job goes back to waiting) and global events for progress.
 */
import Bull from 'bull';
import type { JobContext, JobInfo, JobQueue, JobState, QueueOptions } from './types';
import { isPermanent, JOB_STATES } from './types';

export interface BullQueueOptions extends QueueOptions {
  redisUrl: string;
  prefix: string;
  /** How long a worker's lock on a job lasts without renewal; a dead worker's job is recovered after it. */
  lockMs: number;
  stalledIntervalMs: number;
}

function parseMaybe<T>(v: unknown): T | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') {
    try {
      return JSON.parse(v) as T;
    } catch {
      return v as unknown as T;
    }
  }
  return v as T;
}

export class BullQueue<D, P, R> implements JobQueue<D, P, R> {
  readonly bull: Bull.Queue<D>;

  constructor(
    readonly name: string,
    o: BullQueueOptions,
  ) {
    this.bull = new Bull<D>(name, o.redisUrl, {
      prefix: o.prefix,
      defaultJobOptions: {
        attempts: o.attempts,
        backoff: { type: 'exponential', delay: o.backoffMs },
        removeOnComplete: o.keepCompleted,
        removeOnFail: o.keepFailed,
      },
      settings: {
        lockDuration: o.lockMs,
        lockRenewTime: Math.max(250, Math.floor(o.lockMs / 3)),
        stalledInterval: o.stalledIntervalMs,
        // A capture that kills its worker twice is more likely the capture's fault than bad luck.
        maxStalledCount: 2,
      },
    });
    // A Redis outage reports every reconnect attempt: say it once per 10 s, not ten times a second.
    let lastLogged = 0;
    this.bull.on('error', (e) => {
      const now = Date.now();
      if (now - lastLogged < 10_000) return;
      lastLogged = now;
      process.stderr.write(`queue ${name}: ${e.message}\n`);
    });
  }

  private async info(read: Bull.Job<D>): Promise<JobInfo<D, P, R>> {
    const state = (await read.getState()) as string;
    // The job's fields were read a round trip before its state: a job that finished in between
    // reads as completed (or failed) with no result, reason or finish time yet, and a client polling
    // for the end took that for the end (seen in CI: a re-resolution completed with a null result).
    // A finished job changes no more, so its fields read again now are those of that state.
    const job = (state === 'completed' || state === 'failed') && !read.finishedOn ? ((await this.bull.getJob(read.id)) ?? read) : read;
    const known: JobState = (JOB_STATES as readonly string[]).includes(state) ? (state as JobState) : state === 'paused' ? 'waiting' : 'waiting';
    const progress = job.progress() as unknown;
    return {
      id: String(job.id),
      queue: this.name,
      data: job.data,
      state: known,
      progress: progress === 0 ? null : parseMaybe<P>(progress),
      result: parseMaybe<R>(job.returnvalue),
      failedReason: job.failedReason ?? null,
      attemptsMade: job.attemptsMade + (known === 'active' ? 1 : 0),
      createdAt: job.timestamp,
      processedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
    };
  }

  async add(data: D, opts: { jobId?: string } = {}): Promise<{ id: string; created: boolean }> {
    if (opts.jobId !== undefined) {
      const existing = await this.bull.getJob(opts.jobId);
      if (existing) return { id: String(existing.id), created: false };
    }
    const job = await this.bull.add(data, opts.jobId === undefined ? {} : { jobId: opts.jobId });
    return { id: String(job.id), created: true };
  }

  async remove(id: string): Promise<'removed' | 'busy' | 'missing'> {
    const job = await this.bull.getJob(id);
    if (!job) return 'missing';
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return 'busy';
    await job.remove();
    return 'removed';
  }

  /**
   * Bull retries only failed jobs: a finished job is removed and added again under its id (its
   * creation time becomes now). A job taken by a worker in between cannot be removed (its lock):
   * that is 'busy'.
   */
  async rerun(id: string, data: D): Promise<'queued' | 'busy' | 'missing'> {
    const job = await this.bull.getJob(id);
    if (!job) return 'missing';
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return 'busy';
    try {
      await job.remove();
    } catch {
      return 'busy';
    }
    await this.bull.add(data, { jobId: id });
    return 'queued';
  }

  async get(id: string): Promise<JobInfo<D, P, R> | null> {
    const job = await this.bull.getJob(id);
    return job ? this.info(job) : null;
  }

  async list(opts: { states?: JobState[]; limit?: number; offset?: number } = {}): Promise<JobInfo<D, P, R>[]> {
    const states = opts.states?.length ? opts.states : JOB_STATES;
    const offset = opts.offset ?? 0;
    const limit = opts.limit ?? 100;
    // Bull pages per state; take enough of each, then order by creation across states.
    const jobs = await this.bull.getJobs(states as Bull.JobStatus[], 0, offset + limit - 1, false);
    const infos = await Promise.all(jobs.filter((j): j is Bull.Job<D> => j !== null && j !== undefined).map((j) => this.info(j)));
    infos.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    return infos.slice(offset, offset + limit);
  }

  async counts(): Promise<Record<JobState, number>> {
    const c = await this.bull.getJobCounts();
    return { waiting: c.waiting, active: c.active, delayed: c.delayed, completed: c.completed, failed: c.failed };
  }

  process(concurrency: number, handler: (ctx: JobContext<D, P>) => Promise<R>): void {
    void this.bull.process(concurrency, async (job) => {
      const ctx: JobContext<D, P> = {
        id: String(job.id),
        data: job.data,
        attempt: job.attemptsMade + 1,
        progress: async (p) => {
          await job.progress(p as unknown as object);
        },
      };
      try {
        return await handler(ctx);
      } catch (e) {
        // No retry can change it: Bull fails the job now instead of after every attempt.
        if (isPermanent(e)) job.discard();
        throw e;
      }
    });
  }

  onProgress(listener: (id: string, progress: P) => void): () => void {
    const fn = (id: string | number, p: unknown): void => listener(String(id), parseMaybe<P>(p) as P);
    this.bull.on('global:progress', fn);
    return () => void this.bull.off('global:progress', fn);
  }

  onFinished(listener: (id: string) => void): () => void {
    const done = (id: string | number): void => listener(String(id));
    // A failed attempt that will be retried is not the end: ask the job.
    const failed = (id: string | number): void => {
      void this.bull.getJob(id).then(
        async (j) => {
          if (!j || (await j.getState()) === 'failed') listener(String(id));
        },
        () => undefined,
      );
    };
    this.bull.on('global:completed', done);
    this.bull.on('global:failed', failed);
    return () => {
      this.bull.off('global:completed', done);
      this.bull.off('global:failed', failed);
    };
  }

  async close(graceMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    // Past the grace period the running job keeps its lock until it expires; another worker then recovers it.
    await Promise.race([
      this.bull.close(),
      new Promise<void>((r) => {
        timer = setTimeout(() => {
          void this.bull.close(true).catch(() => undefined);
          r();
        }, graceMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
