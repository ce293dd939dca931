/**
 * The in-process queue: the embedded default when there is no Redis. Jobs are journalled in a
 * SQLite file under the data directory, so a restart neither loses queued jobs nor forgets
 * finished ones; a job that was running when the process died is taken up again on the next
 * start, as Bull does with a stalled job.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { backoffDelay, isPermanent, JOB_STATES, type JobContext, type JobInfo, type JobQueue, type JobState, type QueueOptions } from './types';

interface Row {
  id: string;
  queue: string;
  data: string;
  state: JobState;
  progress: string | null;
  result: string | null;
  failed_reason: string | null;
  attempts_made: number;
  created_at: number;
  processed_at: number | null;
  finished_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  id TEXT NOT NULL,
  data TEXT NOT NULL,
  state TEXT NOT NULL,
  progress TEXT,
  result TEXT,
  failed_reason TEXT,
  attempts_made INTEGER NOT NULL DEFAULT 0,
  run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  processed_at INTEGER,
  finished_at INTEGER,
  UNIQUE (queue, id)
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (queue, state, run_at);
`;

/** One journal shared by the queues of a process. */
export class LocalQueueJournal {
  readonly db: Database.Database;
  readonly events = new EventEmitter();
  private nextId: number;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true });
    this.db = new Database(path.join(dataDir, 'queue.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Whatever was running when the last process stopped is handed back, like a stalled Bull job.
    this.db.prepare("UPDATE jobs SET state = 'waiting' WHERE state = 'active'").run();
    this.nextId = ((this.db.prepare('SELECT max(seq) AS m FROM jobs').get() as { m: number | null }).m ?? 0) + 1;
    this.events.setMaxListeners(0);
  }

  newId(): string {
    return String(this.nextId++);
  }

  queue<D, P, R>(name: string, opts: QueueOptions): LocalQueue<D, P, R> {
    return new LocalQueue<D, P, R>(this, name, opts);
  }

  close(): void {
    this.db.close();
  }
}

export class LocalQueue<D, P, R> implements JobQueue<D, P, R> {
  private handler: ((ctx: JobContext<D, P>) => Promise<R>) | null = null;
  private concurrency = 0;
  private readonly running = new Set<Promise<void>>();
  private closed = false;
  /** Set by close(): no new jobs are taken, the running ones may finish. */
  private stopping = false;
  private wake: NodeJS.Timeout | null = null;
  private readonly stmt;

  constructor(
    private readonly journal: LocalQueueJournal,
    readonly name: string,
    private readonly opts: QueueOptions,
  ) {
    const db = journal.db;
    this.stmt = {
      get: db.prepare('SELECT * FROM jobs WHERE queue = ? AND id = ?'),
      insert: db.prepare("INSERT INTO jobs (queue, id, data, state, run_at, created_at) VALUES (?, ?, ?, 'waiting', ?, ?)"),
      next: db.prepare("SELECT * FROM jobs WHERE queue = ? AND state IN ('waiting', 'delayed') AND run_at <= ? ORDER BY run_at, seq LIMIT 1"),
      nextAt: db.prepare("SELECT min(run_at) AS t FROM jobs WHERE queue = ? AND state IN ('waiting', 'delayed')"),
      start: db.prepare("UPDATE jobs SET state = 'active', attempts_made = attempts_made + 1, processed_at = ? WHERE queue = ? AND id = ?"),
      progress: db.prepare('UPDATE jobs SET progress = ? WHERE queue = ? AND id = ?'),
      complete: db.prepare("UPDATE jobs SET state = 'completed', result = ?, failed_reason = NULL, finished_at = ? WHERE queue = ? AND id = ?"),
      fail: db.prepare("UPDATE jobs SET state = 'failed', failed_reason = ?, finished_at = ? WHERE queue = ? AND id = ?"),
      retry: db.prepare("UPDATE jobs SET state = 'delayed', failed_reason = ?, run_at = ? WHERE queue = ? AND id = ?"),
      trim: db.prepare(
        'DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE queue = ? AND state = ? ORDER BY finished_at DESC, seq DESC LIMIT -1 OFFSET ?)',
      ),
      counts: db.prepare('SELECT state, count(*) AS n FROM jobs WHERE queue = ? GROUP BY state'),
      remove: db.prepare("DELETE FROM jobs WHERE queue = ? AND id = ? AND state IN ('completed', 'failed')"),
      rerun: db.prepare(
        `UPDATE jobs SET data = ?, state = 'waiting', progress = NULL, result = NULL, failed_reason = NULL, attempts_made = 0,
         run_at = ?, created_at = ?, processed_at = NULL, finished_at = NULL WHERE queue = ? AND id = ? AND state IN ('completed', 'failed')`,
      ),
    };
  }

  private info(r: Row): JobInfo<D, P, R> {
    return {
      id: r.id,
      queue: r.queue,
      data: JSON.parse(r.data) as D,
      state: r.state,
      progress: r.progress === null ? null : (JSON.parse(r.progress) as P),
      result: r.result === null ? null : (JSON.parse(r.result) as R),
      failedReason: r.failed_reason,
      attemptsMade: r.attempts_made,
      createdAt: r.created_at,
      processedAt: r.processed_at,
      finishedAt: r.finished_at,
    };
  }

  async add(data: D, opts: { jobId?: string } = {}): Promise<{ id: string; created: boolean }> {
    const id = opts.jobId ?? this.journal.newId();
    const now = Date.now();
    const res = this.journal.db.transaction(() => {
      if (this.stmt.get.get(this.name, id)) return false;
      this.stmt.insert.run(this.name, id, JSON.stringify(data), now, now);
      return true;
    })();
    if (res) this.schedule(0);
    return { id, created: res };
  }

  async remove(id: string): Promise<'removed' | 'busy' | 'missing'> {
    return this.journal.db.transaction(() => {
      if (this.stmt.remove.run(this.name, id).changes > 0) return 'removed' as const;
      return this.stmt.get.get(this.name, id) ? ('busy' as const) : ('missing' as const);
    })();
  }

  async rerun(id: string, data: D): Promise<'queued' | 'busy' | 'missing'> {
    const now = Date.now();
    const res = this.journal.db.transaction(() => {
      if (this.stmt.rerun.run(JSON.stringify(data), now, now, this.name, id).changes > 0) return 'queued' as const;
      return this.stmt.get.get(this.name, id) ? ('busy' as const) : ('missing' as const);
    })();
    if (res === 'queued') this.schedule(0);
    return res;
  }

  async get(id: string): Promise<JobInfo<D, P, R> | null> {
    const r = this.stmt.get.get(this.name, id) as Row | undefined;
    return r ? this.info(r) : null;
  }

  async list(opts: { states?: JobState[]; limit?: number; offset?: number } = {}): Promise<JobInfo<D, P, R>[]> {
    const states = opts.states?.length ? opts.states : JOB_STATES;
    const rows = this.journal.db
      .prepare(`SELECT * FROM jobs WHERE queue = ? AND state IN (${states.map(() => '?').join(',')}) ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?`)
      .all(this.name, ...states, opts.limit ?? 100, opts.offset ?? 0) as Row[];
    return rows.map((r) => this.info(r));
  }

  async counts(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of this.stmt.counts.all(this.name) as { state: JobState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  process(concurrency: number, handler: (ctx: JobContext<D, P>) => Promise<R>): void {
    if (this.handler) throw new Error(`queue ${this.name}: process() was already called`);
    this.handler = handler;
    this.concurrency = concurrency;
    this.schedule(0);
  }

  onProgress(listener: (id: string, progress: P) => void): () => void {
    const ev = `progress:${this.name}`;
    this.journal.events.on(ev, listener);
    return () => this.journal.events.off(ev, listener);
  }

  onFinished(listener: (id: string) => void): () => void {
    const ev = `finished:${this.name}`;
    this.journal.events.on(ev, listener);
    return () => this.journal.events.off(ev, listener);
  }

  private schedule(ms: number): void {
    if (this.closed || !this.handler) return;
    if (this.wake) clearTimeout(this.wake);
    this.wake = setTimeout(() => {
      this.wake = null;
      this.pump();
    }, ms);
  }

  private pump(): void {
    if (this.closed || this.stopping || !this.handler) return;
    while (this.running.size < this.concurrency) {
      const now = Date.now();
      const row = this.journal.db.transaction(() => {
        const r = this.stmt.next.get(this.name, now) as Row | undefined;
        if (r) this.stmt.start.run(now, this.name, r.id);
        return r;
      })();
      if (!row) break;
      const p = this.run(row).finally(() => {
        this.running.delete(p);
        this.schedule(0);
      });
      this.running.add(p);
    }
    if (this.running.size < this.concurrency) {
      const t = (this.stmt.nextAt.get(this.name) as { t: number | null }).t;
      if (t !== null) this.schedule(Math.max(10, t - Date.now()));
    }
  }

  private async run(row: Row): Promise<void> {
    const handler = this.handler as (ctx: JobContext<D, P>) => Promise<R>;
    const attempt = row.attempts_made + 1;
    const ctx: JobContext<D, P> = {
      id: row.id,
      data: JSON.parse(row.data) as D,
      attempt,
      progress: async (p) => {
        if (this.closed) return;
        this.stmt.progress.run(JSON.stringify(p), this.name, row.id);
        this.journal.events.emit(`progress:${this.name}`, row.id, p);
      },
    };
    try {
      const result = await handler(ctx);
      if (this.closed) return; // handed back: the journal still says active, the next start retries it
      this.stmt.complete.run(JSON.stringify(result ?? null), Date.now(), this.name, row.id);
      this.stmt.trim.run(this.name, 'completed', this.opts.keepCompleted);
      this.journal.events.emit(`finished:${this.name}`, row.id);
    } catch (e) {
      if (this.closed) return;
      const reason = e instanceof Error ? e.message : String(e);
      if (attempt < this.opts.attempts && !isPermanent(e)) {
        this.stmt.retry.run(reason, Date.now() + backoffDelay(this.opts.backoffMs, attempt), this.name, row.id);
      } else {
        this.stmt.fail.run(reason, Date.now(), this.name, row.id);
        this.stmt.trim.run(this.name, 'failed', this.opts.keepFailed);
        this.journal.events.emit(`finished:${this.name}`, row.id);
      }
    }
  }

  async close(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    if (this.wake) clearTimeout(this.wake);
    this.wake = null;
    if (this.running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.running]),
        new Promise<void>((r) => {
          timer = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.closed = true;
  }
}
