/** What the API routes and the workers share in one process. */
import type { Store } from '../store/types';
import type { ServiceConfig } from './config';
import type { DetectorControl } from './detector-control';
import type { InventoryRepo } from './inventory';
import type { KeyStore } from './keys';
import type { Metrics } from './metrics';
import type { Queues } from './queue';
import type { SourceRegistry } from './sources';

export interface ServiceContext {
  cfg: ServiceConfig;
  store: Store;
  queues: Queues;
  keys: KeyStore;
  inventory: InventoryRepo;
  metrics: Metrics;
  sources: SourceRegistry;
  /** The detectors' settings, baseline and continuous state (shared by the API and the workers). */
  detectors: DetectorControl;
  /** Where uploaded captures are kept (a shared volume when workers run elsewhere). */
  uploadsDir: string;
}
