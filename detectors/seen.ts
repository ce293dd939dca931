/**
 * Connections a detector has already counted, by uid: interim records and the final record of
 * one connection share its uid, and must count once. Bounded (oldest forgotten first).
 */
import type { ConnRecord } from '../parsers/record/conn';
import { CappedMap, FindingBuffer } from './common';
import type { Detector, Finding, Json } from './types';

export class SeenUids {
  private readonly m: CappedMap<string, 1>;
  constructor(cap = 50_000) {
    this.m = new CappedMap(cap);
  }

  /** True the first time a uid is offered. */
  first(uid: string): boolean {
    if (this.m.get(uid) !== undefined) return false;
    this.m.set(uid, 1);
    return true;
  }

  snapshot(): Json {
    return [...this.m.map.keys()];
  }

  restore(s: Json): void {
    this.m.clear();
    for (const u of (s ?? []) as string[]) this.m.set(u, 1);
  }
}

/**
 * A detector that judges each connection on its own records (no window across connections):
 * findings are buffered until flush, and each connection counts once across its interim and
 * final records. Its whole state is the buffer and the uids seen.
 */
export abstract class PerConnectionDetector implements Detector {
  abstract readonly name: string;
  protected readonly out = new FindingBuffer();
  protected readonly seen = new SeenUids();

  abstract observe(r: ConnRecord): void;

  flush(): Finding[] {
    return this.out.take();
  }

  snapshot(): Json {
    return { out: this.out.snapshot(), seen: this.seen.snapshot() };
  }

  restore(s: Json): void {
    const o = s as { out: Json; seen: Json };
    this.out.restore(o.out);
    this.seen.restore(o.seen);
  }
}
