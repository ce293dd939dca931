/**
 * Small shared pieces of the detectors: a findings buffer that merges repeats between flushes
 * (so a batch over millions of records holds one entry per alert, not per connection), and a
 * capped insertion-ordered map for bounded state.
 */
import { ALERT_MAX_UIDS } from './contract/alert';
import { alertId } from './entity';
import type { Finding, Json } from './types';

export const SEVERITY_RANK = { low: 0, medium: 1, high: 2, critical: 3 } as const;

/** Merges `b` (later) into `a`: counts add, times widen, uids keep the first ALERT_MAX_UIDS, figures and title are the latest. */
export function mergeFinding(a: Finding, b: Finding): void {
  a.count += b.count;
  a.first_seen = Math.min(a.first_seen, b.first_seen);
  a.last_seen = Math.max(a.last_seen, b.last_seen);
  for (const u of b.uids) {
    if (a.uids.length >= ALERT_MAX_UIDS) break;
    if (!a.uids.includes(u)) a.uids.push(u);
  }
  if (SEVERITY_RANK[b.severity] > SEVERITY_RANK[a.severity]) a.severity = b.severity;
  a.score = Math.max(a.score, b.score);
  a.figures = b.figures;
  a.title = b.title;
  a.source = { ...a.source, ...b.source };
  a.destination = { ...a.destination, ...b.destination };
}

export class FindingBuffer {
  private readonly byId = new Map<string, Finding>();

  add(f: Finding): void {
    if (f.uids.length > ALERT_MAX_UIDS) f.uids = f.uids.slice(0, ALERT_MAX_UIDS);
    const id = alertId(f.detector, f.source, f.destination, f.key);
    const prev = this.byId.get(id);
    if (prev) mergeFinding(prev, f);
    else this.byId.set(id, f);
  }

  /** The id a finding gets (the engine's alert id). */
  static idOf(f: Finding): string {
    return alertId(f.detector, f.source, f.destination, f.key);
  }

  /**
   * Drops a finding not yet taken: a record that arrives late (flow sources emit records when
   * connections end, not in start order) can show that what alerted was normal after all.
   */
  retract(id: string): boolean {
    return this.byId.delete(id);
  }

  /** Takes one finding out (to hold it elsewhere or report it later). */
  remove(id: string): Finding | undefined {
    const f = this.byId.get(id);
    this.byId.delete(id);
    return f;
  }

  take(): Finding[] {
    const out = [...this.byId.values()];
    this.byId.clear();
    return out;
  }

  snapshot(): Json {
    return [...this.byId.values()] as unknown as Json;
  }

  restore(s: Json): void {
    this.byId.clear();
    for (const f of (s ?? []) as unknown as Finding[]) this.add(f);
  }
}

/**
 * Makes V8 store a string built by concatenation (`${ip}|${name}`) as one flat string. The keys and
 * names these maps hold for hours are such strings; as built, each is a tree of pieces (a key of
 * two parts and a separator took 188 heap bytes with its map entry, 115 once flat; at the 10M-packet
 * bench run's peak, 327k of them were alive). Reading a character flattens a string in place, and
 * the garbage collector then drops the tree.
 */
function flatten(x: unknown): void {
  if (typeof x === 'string' && x.length > 0) x.charCodeAt(0);
}

/**
 * Insertion-ordered map with a size cap: `touch` moves a key to the young end, and beyond the cap
 * the oldest entries go (the caller may be told, to keep what they held).
 */
export class CappedMap<K, V> {
  readonly map = new Map<K, V>();
  /**
   * The oldest entry while the map is full, as one iterator kept from one eviction to the next. A
   * Map's entries stay in insertion order with a hole for each deleted one until the table is
   * rebuilt; a fresh iterator per eviction walked every hole before the oldest live entry (touch and
   * the evictions leave one each), so a full map's set cost grew with the cap: 300,000 sets at a cap
   * of 20,000 took 4.1 s, 0.15 s this way. Spec iterators are live: they skip deleted entries and
   * reach those appended later, and every live entry lies ahead of this one, as it passes only what
   * it evicts. It is let go once the map is below its cap or `cap` changes went by without an
   * eviction: an iterator holds every table the map has outgrown since it last moved (20 MB more
   * peak RSS on the short-session bench when one was kept for each map's life).
   */
  private cursor: IterableIterator<[K, V]> | null = null;
  /** Changes since the cursor last moved. */
  private idle = 0;
  /**
   * The key last set or touched while it is still in the map: the youngest entry. Setting or
   * touching it again moves nothing, so the delete and re-insert (two more hash lookups, and a
   * hole in the table) are skipped: a scan source's sweep walk is touched on every record of the
   * source (48k of 49k touches on the short-session bench were of the youngest key).
   */
  private youngest: K | undefined = undefined;

  constructor(
    private readonly cap: number,
    private readonly onEvict?: (k: K, v: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(k: K): V | undefined {
    return this.map.get(k);
  }

  /** Sets (as youngest) and evicts the oldest beyond the cap; whether `k` was there before. */
  set(k: K, v: V): boolean {
    if (k === this.youngest) {
      flatten(v);
      this.map.set(k, v);
      this.still();
      return true;
    }
    const had = this.map.delete(k);
    flatten(k);
    flatten(v);
    this.map.set(k, v);
    this.youngest = k;
    if (this.map.size <= this.cap) {
      this.still();
      return had;
    }
    // A local: onEvict may set into this map and let the cursor go.
    const cursor = this.cursor ?? this.map.entries();
    this.cursor = cursor;
    this.idle = 0;
    while (this.map.size > this.cap) {
      const [ok, ov] = cursor.next().value as [K, V];
      this.map.delete(ok);
      // Only with a cap of 0 is the key just set the oldest.
      if (ok === this.youngest) this.youngest = undefined;
      this.onEvict?.(ok, ov);
    }
    return had;
  }

  /** A change that evicted nothing: the cursor goes when it may be holding outgrown tables for long. */
  private still(): void {
    if (this.cursor !== null && (this.map.size < this.cap || ++this.idle > this.cap)) this.cursor = null;
  }

  touch(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      if (k !== this.youngest) {
        this.map.delete(k);
        this.map.set(k, v);
        this.youngest = k;
      }
      this.still();
    }
    return v;
  }

  delete(k: K): boolean {
    const had = this.map.delete(k);
    if (k === this.youngest) this.youngest = undefined;
    this.still();
    return had;
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  clear(): void {
    this.cursor = null;
    this.youngest = undefined;
    this.map.clear();
  }
}

/** Median of a sorted array. */
export function medianSorted(a: readonly number[]): number {
  const n = a.length;
  if (n === 0) return 0;
  const m = n >> 1;
  return n % 2 === 1 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/** Median absolute deviation about the median. */
export function mad(values: readonly number[]): { median: number; mad: number } {
  const s = [...values].sort((x, y) => x - y);
  const med = medianSorted(s);
  const dev = s.map((v) => Math.abs(v - med)).sort((x, y) => x - y);
  return { median: med, mad: medianSorted(dev) };
}

export const round3 = (x: number): number => Math.round(x * 1000) / 1000;
