/**
 * Assembling a service process from its configuration: the store, the queues, the keys, the
 * inventory and the metrics, and taking them down again in order.
 */
import * as path from 'node:path';
import IORedis from 'ioredis';
import { openStore } from '../store';
import { detectorStartup, type ServiceConfig } from './config';
import { DetectorControl } from './detector-control';
import type { ServiceContext } from './context';
import { FileInventoryRepo, RedisInventoryRepo } from './inventory';
import { KeyStore } from './keys';
import { Metrics } from './metrics';
import { openQueues } from './queue';
import { FileSourceRegistry, RedisSourceRegistry } from './sources';

export interface Runtime extends ServiceContext {
  redis: IORedis | null;
  close(): Promise<void>;
}

export async function openRuntime(cfg: ServiceConfig): Promise<Runtime> {
  // Read before anything is opened: a bad file fails the start without leaving connections behind.
  const startup = detectorStartup(cfg);
  const store = await openStore({ esUrl: cfg.esUrl ?? '', dataDir: cfg.dataDir, es: { prefix: cfg.esPrefix }, queryTimeoutMs: cfg.limits.queryTimeoutMs });
  const redis = cfg.redisUrl ? new IORedis(cfg.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false }) : null;
  let lastLogged = 0;
  redis?.on('error', (e) => {
    if (Date.now() - lastLogged < 10_000) return;
    lastLogged = Date.now();
    process.stderr.write(`redis: ${e.message}\n`);
  });
  const queues = openQueues(cfg);
  const metrics = new Metrics(queues);
  let closed = false;
  return {
    cfg,
    store,
    queues,
    redis,
    keys: KeyStore.inDataDir(cfg.dataDir),
    inventory: redis ? new RedisInventoryRepo(redis, cfg.queuePrefix) : new FileInventoryRepo(cfg.dataDir),
    metrics,
    detectors: DetectorControl.open({ redis, dataDir: cfg.dataDir, queuePrefix: cfg.queuePrefix, startup }),
    sources: redis ? new RedisSourceRegistry(redis, `${cfg.queuePrefix}:flow-sources`) : new FileSourceRegistry(cfg.dataDir),
    uploadsDir: path.join(cfg.dataDir, 'uploads'),
    async close() {
      if (closed) return;
      closed = true;
      await queues.close(cfg.jobs.shutdownGraceMs);
      await store.close();
      await redis?.quit().catch(() => undefined);
    },
  };
}
