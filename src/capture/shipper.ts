/**
 * Ships connection records to the service's flow ingestion (`POST /api/v1/flows?format=ndjson`)
 * through a spool on disk: every record is appended to a segment file first, and a sender posts
 * the spool from a persisted cursor in batches, advancing the cursor only once the service says
 * the batch is stored (`wait=true`). While the service is away the spool grows and the sender
 * retries with exponential backoff; across a restart of the agent the sender resumes from the
 * cursor. A batch stored just before a crash, whose cursor was not yet written, is posted again:
 * the store keys records by uid, so that repeat replaces the same records instead of adding any.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ndjsonLine } from '../output/formats';
import type { ConnRecord } from '../../parsers/record/conn';

export interface ShipperOptions {
  /** The service's base URL (http://host:8080) or its flows endpoint (.../api/v1/flows). */
  url: string;
  key: string;
  spoolDir: string;
  /** Names this agent in the service's flow sources. */
  source: string;
  /** The cluster this agent captures in (k8s/cluster.ts): the service resolves its records against that inventory. */
  cluster?: string;
  /**
   * This agent's name in the service's agents registry (capture --agent-name): the service links
   * each record to the agent's packet ring, to fetch its pcap from it.
   */
  agent?: string;
  /** Records per POST at most (default 2000) and bytes per POST at most (default 1 MiB). */
  batchRecords?: number;
  batchBytes?: number;
  /** Longest a record waits in memory before it is written to the spool, ms (default 500). */
  flushMs?: number;
  /** A new segment file once the current one is this large (default 16 MiB). */
  segmentBytes?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log?: (msg: string) => void;
}

export interface ShipperStats {
  /** Records the service confirmed stored. */
  shipped: number;
  /** Records written to the spool by this process. */
  spooled: number;
  /** Bytes in the spool not yet confirmed (including what an earlier run left). */
  spoolBytes: number;
  posts: number;
  failedPosts: number;
  lastError: string | null;
}

interface Cursor {
  segment: number;
  offset: number;
}

const SEGMENT = /^seg-(\d{12})\.ndjson$/;
const segName = (n: number): string => `seg-${String(n).padStart(12, '0')}.ndjson`;

/** An agent's name as it ships (capture --agent-name) and as the service's agents registry names it. */
export const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function flowsEndpoint(url: string, source: string, cluster?: string, agent?: string): string {
  const u = new URL(url);
  if (!/\/api\/v1\/flows\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v1/flows`;
  u.searchParams.set('format', 'ndjson');
  u.searchParams.set('wait', 'true');
  u.searchParams.set('source', source);
  if (cluster !== undefined) u.searchParams.set('cluster', cluster);
  if (agent !== undefined) u.searchParams.set('agent', agent);
  return u.toString();
}

/** The message of the service's JSON error answer, else the start of the text. */
function serviceMessage(text: string): string {
  try {
    const msg = (JSON.parse(text) as { error?: unknown } | null)?.error;
    if (typeof msg === 'string') return msg.slice(0, 300);
  } catch {
    // Not JSON: the text itself.
  }
  return text.slice(0, 200);
}

export class Shipper {
  readonly stats: ShipperStats = { shipped: 0, spooled: 0, spoolBytes: 0, posts: 0, failedPosts: 0, lastError: null };
  private readonly o: Required<Omit<ShipperOptions, 'log' | 'cluster' | 'agent'>> & Pick<ShipperOptions, 'log' | 'cluster' | 'agent'>;
  private readonly endpoint: string;
  private cursor: Cursor = { segment: 0, offset: 0 };
  private writeSeg = 0;
  private writeFd = -1;
  private writeSize = 0;
  private pending: string[] = [];
  private pendingRecords = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private closing = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private sleepTimer: NodeJS.Timeout | null = null;
  private sleepResolve: (() => void) | null = null;

  constructor(o: ShipperOptions) {
    this.o = {
      batchRecords: 2000,
      batchBytes: 1 << 20,
      flushMs: 500,
      segmentBytes: 16 << 20,
      minBackoffMs: 250,
      maxBackoffMs: 30_000,
      ...o,
    };
    this.endpoint = flowsEndpoint(o.url, o.source, o.cluster, o.agent);
  }

  /** Opens the spool (creating it), recovers the cursor and a segment cut by a crash, starts sending. */
  open(): void {
    fs.mkdirSync(this.o.spoolDir, { recursive: true });
    const segs = this.segments();
    try {
      const c = JSON.parse(fs.readFileSync(this.cursorFile(), 'utf8')) as Cursor;
      if (Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.offset) && c.offset >= 0) this.cursor = c;
    } catch {
      // No cursor yet: everything in the spool is unsent.
      this.cursor = { segment: segs[0] ?? 0, offset: 0 };
    }
    this.writeSeg = segs.length > 0 ? segs[segs.length - 1] : this.cursor.segment;
    const file = this.segPath(this.writeSeg);
    // A crash in the middle of a write leaves a partial last line: cut it so the segment stays whole lines.
    if (fs.existsSync(file)) {
      const data = fs.readFileSync(file);
      const end = data.lastIndexOf(0x0a) + 1;
      if (end < data.length) fs.truncateSync(file, end);
    }
    this.writeFd = fs.openSync(file, 'a');
    this.writeSize = fs.fstatSync(this.writeFd).size;
    this.stats.spoolBytes = this.unsentBytes();
    this.loop = this.sendLoop();
  }

  add(r: ConnRecord): void {
    this.pending.push(ndjsonLine(r));
    this.pendingRecords++;
    if (this.pending.length >= this.o.batchRecords) this.flush();
    else if (this.flushTimer === null) this.flushTimer = setTimeout(() => this.flush(), this.o.flushMs);
  }

  /** Writes the records held in memory to the spool. */
  flush(): void {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.pending.length === 0) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    fs.writeSync(this.writeFd, buf);
    fs.fdatasyncSync(this.writeFd);
    this.writeSize += buf.length;
    this.stats.spooled += this.pendingRecords;
    this.stats.spoolBytes += buf.length;
    this.pendingRecords = 0;
    if (this.writeSize >= this.o.segmentBytes) {
      fs.closeSync(this.writeFd);
      this.writeSeg++;
      this.writeFd = fs.openSync(this.segPath(this.writeSeg), 'a');
      this.writeSize = 0;
    }
    this.poke();
  }

  /**
   * Writes what is held to the spool, then keeps sending until the spool is empty or `drainMs`
   * passes; what is left stays spooled for the next start.
   */
  async close(drainMs = 10_000): Promise<void> {
    this.flush();
    this.closing = true;
    const deadline = setTimeout(() => this.stop(), drainMs);
    this.poke();
    await this.loop;
    clearTimeout(deadline);
    this.stop();
    if (this.writeFd >= 0) fs.closeSync(this.writeFd);
    this.writeFd = -1;
  }

  private stop(): void {
    this.stopped = true;
    if (this.sleepTimer !== null) clearTimeout(this.sleepTimer);
    this.sleepResolve?.();
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async sendLoop(): Promise<void> {
    let backoff = this.o.minBackoffMs;
    while (!this.stopped) {
      const batch = this.nextBatch();
      if (batch === null) {
        if (this.closing) return;
        await new Promise<void>((r) => {
          this.wake = r;
        });
        continue;
      }
      const ok = await this.post(batch.body, batch.records);
      if (ok) {
        this.advance(batch.next);
        this.stats.shipped += batch.records;
        this.stats.spoolBytes = Math.max(0, this.stats.spoolBytes - batch.body.length);
        backoff = this.o.minBackoffMs;
        continue;
      }
      if (this.stopped) return;
      // Full jitter: agents that lost the service together do not come back together.
      const wait = Math.floor(backoff / 2 + (Math.random() * backoff) / 2);
      backoff = Math.min(backoff * 2, this.o.maxBackoffMs);
      // New records do not cut the wait short (they would hammer a service that is away); stop() does.
      await new Promise<void>((r) => {
        this.sleepResolve = r;
        this.sleepTimer = setTimeout(r, wait);
      });
      this.sleepResolve = null;
    }
  }

  /** The next whole lines after the cursor, or null when everything written is sent. */
  private nextBatch(): { body: Buffer; records: number; next: Cursor } | null {
    for (;;) {
      const { segment, offset } = this.cursor;
      const file = this.segPath(segment);
      let size: number;
      try {
        size = fs.statSync(file).size;
      } catch {
        size = 0;
      }
      if (offset < size) {
        const want = Math.min(size - offset, this.o.batchBytes);
        const buf = Buffer.allocUnsafe(want);
        const fd = fs.openSync(file, 'r');
        let got: number;
        try {
          got = fs.readSync(fd, buf, 0, want, offset);
        } finally {
          fs.closeSync(fd);
        }
        let end = 0;
        let records = 0;
        for (let i = 0; i < got && records < this.o.batchRecords; i++) {
          if (buf[i] === 0x0a) {
            end = i + 1;
            records++;
          }
        }
        if (end === 0) {
          if (want === this.o.batchBytes) throw new Error(`${file}: a record at offset ${offset} is longer than the ${this.o.batchBytes}-byte batch`);
          return null;
        }
        return { body: buf.subarray(0, end), records, next: { segment, offset: offset + end } };
      }
      if (segment >= this.writeSeg) return null;
      // This segment is sent and no longer written: move on and drop it.
      this.advance({ segment: segment + 1, offset: 0 });
      fs.rmSync(file, { force: true });
    }
  }

  private async post(body: Buffer, records: number): Promise<boolean> {
    this.stats.posts++;
    try {
      const res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.o.key}`, 'content-type': 'application/x-ndjson' },
        body,
        signal: AbortSignal.timeout(150_000),
      });
      const text = await res.text();
      if (res.status === 202) {
        const r = JSON.parse(text) as { records: number; rejected: number; errors: { line: number; reason: string }[]; stored?: { failed: string[] } };
        if (r.stored && r.stored.failed.length > 0) throw new Error(`the service could not store the batch: ${r.stored.failed.join('; ')}`);
        // Lines the service refuses will be refused again: report them and move on.
        if (r.rejected > 0)
          this.o.log?.(`the service rejected ${r.rejected} of ${records} records: ${r.errors.map((e) => `line ${e.line}: ${e.reason}`).join('; ')}`);
        this.stats.lastError = null;
        return true;
      }
      if (res.status === 401 || res.status === 403)
        throw new Error(`the service refused the key (${res.status}: ${serviceMessage(text)}); records stay spooled`);
      throw new Error(`the service answered ${res.status}: ${text.slice(0, 200)}`);
    } catch (e) {
      this.stats.failedPosts++;
      const msg = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
      if (this.stats.lastError !== msg) this.o.log?.(`shipping to ${this.o.url}: ${msg}; retrying with backoff, spool ${this.stats.spoolBytes} bytes`);
      this.stats.lastError = msg;
      return false;
    }
  }

  private advance(c: Cursor): void {
    this.cursor = c;
    const tmp = `${this.cursorFile()}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(c));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // rename is atomic: a crash leaves the old cursor or the new one, never half of one.
    fs.renameSync(tmp, this.cursorFile());
  }

  private unsentBytes(): number {
    let n = 0;
    for (const s of this.segments()) {
      if (s < this.cursor.segment) continue;
      const size = fs.statSync(this.segPath(s)).size;
      n += s === this.cursor.segment ? Math.max(0, size - this.cursor.offset) : size;
    }
    return n;
  }

  private segments(): number[] {
    return fs
      .readdirSync(this.o.spoolDir)
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private segPath(n: number): string {
    return path.join(this.o.spoolDir, segName(n));
  }

  private cursorFile(): string {
    return path.join(this.o.spoolDir, 'cursor.json');
  }
}
