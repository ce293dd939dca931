/**
 * Kubernetes inventories and NetworkPolicies uploaded to the service (POST /api/v1/inventory),
 * kept where every worker finds them (Redis when the queue is on Redis, else the data
 * directory), each with the time it was received and the cluster it describes, so that workers
 * resolve identities by the connection's time from the same snapshots in the same order, and
 * only against the snapshots of the record's own cluster.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type IORedis from 'ioredis';
import { InventoryStore } from '../k8s/inventory';
import { parseK8sText } from '../k8s/load';
import { K8sResolver } from '../k8s/resolver';
import { parseObjects } from '../k8s/schema';
import { DEFAULT_CLUSTER } from '../k8s/cluster';
import type { InventorySummary } from './api/wire';

export type { InventorySummary } from './api/wire';

export interface InventorySnapshot {
  id: number;
  source: string;
  /** The cluster it describes; absent in snapshots kept before clusters were named (DEFAULT_CLUSTER). */
  cluster?: string;
  /** When the snapshot was taken (epoch seconds), if the uploader said: pods absent from it end there. */
  observedAt: number | null;
  receivedAt: number;
  text: string;
}

export interface InventoryRepo {
  /** Validates (throws InventoryError saying where) and keeps a snapshot of `cluster` (a valid name: see k8s/cluster.ts). */
  add(text: string, source: string, observedAt?: number | null, cluster?: string): Promise<InventorySummary>;
  /** Changes whenever a snapshot is added. */
  version(): Promise<number>;
  all(): Promise<InventorySnapshot[]>;
  summaries(): Promise<InventorySummary[]>;
}

function summarise(text: string, source: string, id: number, observedAt: number | null, cluster: string): InventorySummary {
  const parsed = parseObjects(parseK8sText(text, source), source);
  const objects: Record<string, number> = {};
  for (const o of parsed.objects) objects[o.kind] = (objects[o.kind] ?? 0) + 1;
  return { id, source, cluster, observedAt, receivedAt: Date.now() / 1000, objects, ignored: parsed.ignored };
}

/** Summaries kept before clusters were named have none: they were the default cluster's. */
function withCluster(s: InventorySummary): InventorySummary {
  return s.cluster === undefined ? { ...s, cluster: DEFAULT_CLUSTER } : s;
}

export class FileInventoryRepo implements InventoryRepo {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'inventory');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  private files(): string[] {
    return fs
      .readdirSync(this.dir)
      .filter((f) => /^\d{8}\.json$/.test(f))
      .sort();
  }

  async add(text: string, source: string, observedAt: number | null = null, cluster: string = DEFAULT_CLUSTER): Promise<InventorySummary> {
    const id = this.files().length + 1;
    const summary = summarise(text, source, id, observedAt, cluster);
    const file = path.join(this.dir, `${String(id).padStart(8, '0')}.json`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ id, source, cluster, observedAt, receivedAt: summary.receivedAt, text, summary }));
    fs.renameSync(`${file}.tmp`, file);
    return summary;
  }

  async version(): Promise<number> {
    return this.files().length;
  }

  async all(): Promise<InventorySnapshot[]> {
    return this.files().map((f) => JSON.parse(fs.readFileSync(path.join(this.dir, f), 'utf8')) as InventorySnapshot);
  }

  async summaries(): Promise<InventorySummary[]> {
    return this.files().map((f) => withCluster((JSON.parse(fs.readFileSync(path.join(this.dir, f), 'utf8')) as { summary: InventorySummary }).summary));
  }
}

export class RedisInventoryRepo implements InventoryRepo {
  constructor(
    private readonly redis: IORedis,
    private readonly prefix: string,
  ) {}

  private key(k: string): string {
    return `${this.prefix}:inventory:${k}`;
  }

  async add(text: string, source: string, observedAt: number | null = null, cluster: string = DEFAULT_CLUSTER): Promise<InventorySummary> {
    const summary = summarise(text, source, 0, observedAt, cluster);
    const id = await this.redis.incr(this.key('seq'));
    summary.id = id;
    await this.redis
      .multi()
      .hset(this.key('docs'), String(id), JSON.stringify({ id, source, cluster, observedAt, receivedAt: summary.receivedAt, text }))
      .hset(this.key('summaries'), String(id), JSON.stringify(summary))
      .exec();
    return summary;
  }

  async version(): Promise<number> {
    return this.redis.hlen(this.key('docs'));
  }

  async all(): Promise<InventorySnapshot[]> {
    const h = await this.redis.hgetall(this.key('docs'));
    return Object.values(h)
      .map((v) => JSON.parse(v) as InventorySnapshot)
      .sort((a, b) => a.id - b.id);
  }

  async summaries(): Promise<InventorySummary[]> {
    const h = await this.redis.hgetall(this.key('summaries'));
    return Object.values(h)
      .map((v) => withCluster(JSON.parse(v) as InventorySummary))
      .sort((a, b) => a.id - b.id);
  }
}

/**
 * One resolver per cluster, each built from that cluster's snapshots only, rebuilt when a
 * snapshot was added.
 */
export class ResolverCache {
  private built = -1;
  private resolvers = new Map<string, K8sResolver>();

  constructor(
    private readonly repo: InventoryRepo,
    private readonly localNets?: readonly string[],
  ) {}

  /** The resolver of `cluster`'s inventory; null when that cluster has none. */
  async current(cluster: string = DEFAULT_CLUSTER): Promise<K8sResolver | null> {
    const v = await this.repo.version();
    if (v !== this.built) {
      const stores = new Map<string, InventoryStore>();
      for (const s of v === 0 ? [] : await this.repo.all()) {
        const c = s.cluster ?? DEFAULT_CLUSTER;
        let store = stores.get(c);
        if (!store) {
          store = new InventoryStore();
          stores.set(c, store);
        }
        store.addDocument(parseK8sText(s.text, s.source), s.source, s.observedAt === null ? {} : { observedAt: s.observedAt });
      }
      this.resolvers = new Map(
        [...stores].map(([c, store]) => [c, new K8sResolver(store, { localNets: this.localNets ? [...this.localNets] : undefined, policies: 'inventory' })]),
      );
      this.built = v;
    }
    return this.resolvers.get(cluster) ?? null;
  }

  /** The clusters with an inventory. */
  async clusters(): Promise<string[]> {
    await this.current();
    return [...this.resolvers.keys()].sort();
  }
}
