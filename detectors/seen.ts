/**
 * Connections a detector has already counted, by uid: interim records and the final record of
 * one connection share its uid, and must count once. Bounded (oldest forgotten first).
 */
import { CappedMap } from './common';
import type { Json } from './types';

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
