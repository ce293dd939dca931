/**
 * The job queue the service is built on, with two implementations of the same semantics: Bull on
 * Redis (many workers on many machines) and an in-process queue journalled in SQLite (one
 * machine, nothing else to run). Semantics both keep: a job id given by the producer makes `add`
 * idempotent; a failed attempt is retried with exponential backoff up to `attempts`; a job whose
 * worker died (stalled) goes back to waiting; finished jobs keep their result or failure reason.
 */

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';
export const JOB_STATES: readonly JobState[] = ['waiting', 'active', 'delayed', 'completed', 'failed'];

export interface JobInfo<D, P, R> {
  id: string;
  queue: string;
  data: D;
  state: JobState;
  progress: P | null;
  result: R | null;
  failedReason: string | null;
  /** Attempts started so far. */
  attemptsMade: number;
  /** Epoch ms. */
  createdAt: number;
  processedAt: number | null;
  finishedAt: number | null;
}

export interface JobContext<D, P> {
  id: string;
  data: D;
  /** 1-based. */
  attempt: number;
  progress(p: P): Promise<void>;
}

export interface QueueOptions {
  attempts: number;
  backoffMs: number;
  keepCompleted: number;
  keepFailed: number;
}

export interface JobQueue<D, P, R> {
  readonly name: string;
  /** Adds a job; with `jobId`, a job already holding that id is returned instead (`created: false`). */
  add(data: D, opts?: { jobId?: string }): Promise<{ id: string; created: boolean }>;
  get(id: string): Promise<JobInfo<D, P, R> | null>;
  /** Newest first. */
  list(opts?: { states?: JobState[]; limit?: number; offset?: number }): Promise<JobInfo<D, P, R>[]>;
  counts(): Promise<Record<JobState, number>>;
  /**
   * Removes a finished (completed or failed) job; 'busy' while it is waiting or running, 'missing'
   * when there is no such job.
   */
  remove(id: string): Promise<'removed' | 'busy' | 'missing'>;
  /**
   * Runs a finished job again under the same id with new data, as if just added (attempts from
   * zero, no result); 'busy' while it is waiting or running, 'missing' when there is no such job.
   */
  rerun(id: string, data: D): Promise<'queued' | 'busy' | 'missing'>;
  /** Starts taking jobs in this process. */
  process(concurrency: number, handler: (ctx: JobContext<D, P>) => Promise<R>): void;
  /** Progress of any job of this queue (from any worker): for server-sent events. Returns an unsubscribe. */
  onProgress(listener: (id: string, progress: P) => void): () => void;
  /** Finished (completed or failed for good) jobs of this queue. Returns an unsubscribe. */
  onFinished(listener: (id: string) => void): () => void;
  /** Stops taking jobs and waits up to `graceMs` for the running ones; what is left is handed back (retried later). */
  close(graceMs?: number): Promise<void>;
}

/**
 * A failure no retry can change (the upload is not a capture, its file is outside the uploads
 * directory): the job fails at once instead of being tried `attempts` times.
 */
export class PermanentJobError extends Error {
  readonly permanent = true;
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

export function isPermanent(e: unknown): boolean {
  return e instanceof PermanentJobError || (e as { permanent?: unknown } | null)?.permanent === true;
}

/** Delay before attempt `n + 1` after `n` failed attempts. */
export function backoffDelay(baseMs: number, failedAttempts: number): number {
  return baseMs * 2 ** Math.max(0, failedAttempts - 1);
}
