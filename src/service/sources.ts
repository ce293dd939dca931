/**
 * Flow sources: who sends flows (a request's ?source=, the NetFlow collector), in which format,
 * how many records and rejected lines, when last. Kept beside the queue (Redis hash, or a JSON
 * file in the data directory) so every API server sees the same list.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type IORedis from 'ioredis';
import type { FlowSource } from './api/wire';

export type { FlowSource } from './api/wire';

export interface SourceRegistry {
  note(source: string, format: string | null, records: number, rejected: number): Promise<void>;
  list(): Promise<FlowSource[]>;
}

/** At most this many sources are remembered; the least recently seen go first. */
const MAX_SOURCES = 10_000;

function merge(prev: FlowSource | undefined, source: string, format: string | null, records: number, rejected: number): FlowSource {
  const now = new Date().toISOString();
  return {
    source,
    format: format ?? prev?.format ?? null,
    requests: (prev?.requests ?? 0) + 1,
    records: (prev?.records ?? 0) + records,
    rejected: (prev?.rejected ?? 0) + rejected,
    firstSeen: prev?.firstSeen ?? now,
    lastSeen: now,
  };
}

const byLastSeen = (a: FlowSource, b: FlowSource): number => (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0);

export class FileSourceRegistry implements SourceRegistry {
  private readonly file: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'flow-sources.json');
  }

  private read(): Record<string, FlowSource> {
    return fs.existsSync(this.file) ? (JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, FlowSource>) : {};
  }

  note(source: string, format: string | null, records: number, rejected: number): Promise<void> {
    this.chain = this.chain.then(() => {
      const all = this.read();
      all[source] = merge(all[source], source, format, records, rejected);
      const kept = Object.values(all).sort(byLastSeen).slice(0, MAX_SOURCES);
      fs.writeFileSync(`${this.file}.tmp`, JSON.stringify(Object.fromEntries(kept.map((s) => [s.source, s]))));
      fs.renameSync(`${this.file}.tmp`, this.file);
    });
    return this.chain;
  }

  async list(): Promise<FlowSource[]> {
    await this.chain;
    return Object.values(this.read()).sort(byLastSeen);
  }
}

export class RedisSourceRegistry implements SourceRegistry {
  constructor(
    private readonly redis: IORedis,
    private readonly key: string,
  ) {}

  async note(source: string, format: string | null, records: number, rejected: number): Promise<void> {
    // Read-modify-write per request; two concurrent requests of one source may lose one count, never a source.
    const prev = await this.redis.hget(this.key, source);
    const next = merge(prev ? (JSON.parse(prev) as FlowSource) : undefined, source, format, records, rejected);
    await this.redis.hset(this.key, source, JSON.stringify(next));
    if ((await this.redis.hlen(this.key)) > MAX_SOURCES) {
      const all = (await this.list()).slice(MAX_SOURCES);
      if (all.length) await this.redis.hdel(this.key, ...all.map((s) => s.source));
    }
  }

  async list(): Promise<FlowSource[]> {
    const h = await this.redis.hgetall(this.key);
    return Object.values(h)
      .map((v) => JSON.parse(v) as FlowSource)
      .sort(byLastSeen);
  }
}
