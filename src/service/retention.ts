/**
 * Retention: records older than `retentionDays` whole days leave the store, and uploaded
 * captures older than that leave the uploads directory (their connections' pcaps with them).
 * Runs in the API process every hour; running it twice (two API servers) removes nothing twice.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ServiceContext } from './context';

export interface RetentionRun {
  removedRecords: number;
  removedIndices: string[];
  removedCaptures: string[];
}

export async function applyRetention(ctx: ServiceContext, now = new Date()): Promise<RetentionRun | null> {
  const days = ctx.cfg.retentionDays;
  if (days <= 0) return null;
  const r = await ctx.store.retain(days, now);
  const removedCaptures: string[] = [];
  if (fs.existsSync(ctx.uploadsDir)) {
    for (const f of fs.readdirSync(ctx.uploadsDir)) {
      if (!/^[0-9a-f]{64}(-[a-z0-9-]+)?\./.test(f)) continue;
      const p = path.join(ctx.uploadsDir, f);
      if (fs.statSync(p).mtime < r.cutoff) {
        fs.rmSync(p, { force: true });
        removedCaptures.push(f);
      }
    }
  }
  return { removedRecords: r.removedRecords, removedIndices: r.removedIndices, removedCaptures };
}

/** Runs retention now and then every `everyMs`; returns a stop function. */
export function scheduleRetention(ctx: ServiceContext, log: (l: string) => void, everyMs = 3_600_000): () => void {
  if (ctx.cfg.retentionDays <= 0) return () => undefined;
  const run = (): void => {
    applyRetention(ctx).then(
      (r) => {
        if (r && (r.removedRecords || r.removedCaptures.length))
          log(
            `retention (${ctx.cfg.retentionDays} days): ${r.removedRecords} records, ${r.removedIndices.length} indices, ${r.removedCaptures.length} captures removed`,
          );
      },
      (e: Error) => log(`retention: ${e.message}`),
    );
  };
  const first = setTimeout(run, 10_000);
  const timer = setInterval(run, everyMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
