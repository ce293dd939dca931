/**
 * Live inventory: a thin adapter from @kubernetes/client-node informers (pods, services,
 * endpointslices, nodes, namespaces, networkpolicies) to the same InventoryStore the file imports
 * fill. Each event's object goes through the same validation; a deletion ends the object's
 * ownership at the time it was seen. Not exercised against a real cluster here: the tests drive
 * `InventoryWatcher` with fake informers.
 */
import { InventoryStore } from './inventory';
import { InventoryError, parseObjects } from './schema';

export type WatchedKind = 'Pod' | 'Service' | 'EndpointSlice' | 'Node' | 'Namespace' | 'NetworkPolicy';

/** The part of a client-node Informer we use. */
export interface WatchSource {
  on(verb: 'add' | 'update' | 'delete', cb: (obj: object) => void): void;
  on(verb: 'error', cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class InventoryWatcher {
  /** Objects the API sent that failed validation, and informer errors, most recent last (bounded). */
  readonly errors: string[] = [];
  private readonly sources: WatchSource[] = [];

  constructor(
    readonly store: InventoryStore,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  attach(kind: WatchedKind, src: WatchSource): void {
    src.on('add', (o) => this.handle(kind, 'add', o));
    src.on('update', (o) => this.handle(kind, 'update', o));
    src.on('delete', (o) => this.handle(kind, 'delete', o));
    src.on('error', (e) => this.note(`${kind} watch: ${e instanceof Error ? e.message : String(e)}`));
    this.sources.push(src);
  }

  /** One informer event. Client objects carry Dates and no `kind`: they are brought to their JSON form first. */
  handle(kind: WatchedKind, verb: 'add' | 'update' | 'delete', obj: object): void {
    const plain: Record<string, unknown> = { ...(JSON.parse(JSON.stringify(obj)) as Record<string, unknown>), kind };
    if (verb === 'delete') {
      const m = plain.metadata as { name?: unknown; namespace?: unknown; uid?: unknown } | undefined;
      if (typeof m?.name !== 'string') return this.note(`${kind} delete without a name`);
      if (kind === 'Namespace') return;
      const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
      this.store.remove(kind, str(m.namespace), m.name, this.now(), str(m.uid));
      return;
    }
    try {
      this.store.addObjects(parseObjects(plain, `${kind} ${verb}`).objects);
    } catch (e) {
      if (!(e instanceof InventoryError)) throw e;
      this.note(e.message);
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.stop()));
  }

  private note(msg: string): void {
    this.errors.push(msg);
    if (this.errors.length > 100) this.errors.shift();
  }
}

/**
 * Watches a cluster with the default kubeconfig resolution of client-node (KUBECONFIG, ~/.kube/config,
 * or the in-cluster service account), or the given kubeconfig file. Resolves once every informer has listed.
 */
export async function watchCluster(store: InventoryStore, opts: { kubeconfig?: string } = {}): Promise<InventoryWatcher> {
  // Loaded on demand: the client library is large and only live watching needs it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const k8s = require('@kubernetes/client-node') as typeof import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const disc = kc.makeApiClient(k8s.DiscoveryV1Api);
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
  const w = new InventoryWatcher(store);
  const add = (kind: WatchedKind, path: string, list: () => Promise<{ response: import('http').IncomingMessage; body: import('@kubernetes/client-node').KubernetesListObject<import('@kubernetes/client-node').KubernetesObject> }>) =>
    w.attach(kind, k8s.makeInformer(kc, path, list) as unknown as WatchSource);
  add('Namespace', '/api/v1/namespaces', () => core.listNamespace());
  add('Node', '/api/v1/nodes', () => core.listNode());
  add('Service', '/api/v1/services', () => core.listServiceForAllNamespaces());
  add('EndpointSlice', '/apis/discovery.k8s.io/v1/endpointslices', () => disc.listEndpointSliceForAllNamespaces());
  add('NetworkPolicy', '/apis/networking.k8s.io/v1/networkpolicies', () => net.listNetworkPolicyForAllNamespaces());
  add('Pod', '/api/v1/pods', () => core.listPodForAllNamespaces());
  await w.start();
  return w;
}
