/**
 * Live inventory: applies watch events (pods, services, endpointslices, nodes, namespaces,
 * networkpolicies) from any informer-shaped source to the same InventoryStore the file imports
 * fill. Each event's object goes through the same validation; a deletion ends the object's
 * ownership at the time it was seen. No cluster client is wired to it yet: the tests drive it
 * with sources that replay recorded events.
 */
import type { InventoryStore } from './inventory';
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
      if (typeof m?.name !== 'string') {
        this.note(`${kind} delete without a name`);
        return;
      }
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
