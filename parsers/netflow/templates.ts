/**
 * Templates per exporter (NetFlow v9: exporter address + source id, RFC 3954 section 5.1;
 * IPFIX over UDP: exporter + observation domain, RFC 7011 section 8), with expiry, a bound on
 * their number, and a bounded hold for data sets that arrive before their template.
 */

/** Field length meaning "variable length" in an IPFIX template (RFC 7011 section 7). */
export const VARLEN = 65535;

export interface Template {
  readonly id: number;
  /** Element id per field: IANA id, REVERSE | id for RFC 5103 reverse elements, -1 for anything we skip. */
  readonly ies: Int32Array;
  /** Length per field in bytes; VARLEN for variable-length fields. */
  readonly lens: Int32Array;
  /** Options templates: the first `scopeCount` fields are scope fields. */
  readonly scopeCount: number;
  readonly isOptions: boolean;
  /** Shortest possible record (a variable-length field counts 1): fewer remaining bytes are padding. */
  readonly minLen: number;
  lastSeenMs: number;
}

/** What a data set needs from its message header to resolve times (kept with held sets). */
export interface SetContext {
  version: number;
  /** Export time, Unix ms (v9: unix_secs; IPFIX: export time). */
  exportMs: number;
  /** v9 header sysUptime (ms); -1 for IPFIX. */
  sysUptime: number;
}

export interface HeldSet {
  readonly bytes: Uint8Array;
  /** Offset of the set in its datagram, for reports. */
  readonly offset: number;
  readonly ctx: SetContext;
  readonly atMs: number;
}

export function templateKey(exporter: string, domain: number, id: number): string {
  return `${exporter}\u0000${domain}\u0000${id}`;
}

export interface TemplateStoreOptions {
  /** Templates not refreshed for this long are forgotten (default 30 minutes). */
  templateTimeoutMs?: number;
  /** At most this many templates over all exporters; the least recently refreshed go first (default 65536). */
  maxTemplates?: number;
  /** Bytes of data sets held while waiting for their template (default 1 MiB). */
  maxHeldBytes?: number;
  /** Data sets held (default 1024). */
  maxHeldSets?: number;
  /** A held set whose template has not come within this long is dropped (default 60 s). */
  heldTimeoutMs?: number;
}

export class TemplateStore {
  // Map order is refresh order (a refresh deletes and re-inserts), so expiry and eviction only
  // ever look at the front.
  private readonly templates = new Map<string, Template>();
  private readonly held = new Map<string, HeldSet[]>();
  private heldBytes = 0;
  private heldCount = 0;
  private readonly templateTimeoutMs: number;
  private readonly maxTemplates: number;
  private readonly maxHeldBytes: number;
  private readonly maxHeldSets: number;
  private readonly heldTimeoutMs: number;

  constructor(o: TemplateStoreOptions = {}) {
    this.templateTimeoutMs = o.templateTimeoutMs ?? 30 * 60_000;
    this.maxTemplates = Math.max(1, o.maxTemplates ?? 65536);
    this.maxHeldBytes = o.maxHeldBytes ?? 1 << 20;
    this.maxHeldSets = o.maxHeldSets ?? 1024;
    this.heldTimeoutMs = o.heldTimeoutMs ?? 60_000;
  }

  get size(): number {
    return this.templates.size;
  }

  get heldSets(): number {
    return this.heldCount;
  }

  get(key: string): Template | undefined {
    return this.templates.get(key);
  }

  /** Store (or refresh) a template. Returns how many templates were evicted to make room. */
  set(key: string, t: Template): number {
    this.templates.delete(key);
    this.templates.set(key, t);
    let evicted = 0;
    while (this.templates.size > this.maxTemplates) {
      const oldest = this.templates.keys().next().value as string;
      this.templates.delete(oldest);
      evicted++;
    }
    return evicted;
  }

  delete(key: string): boolean {
    return this.templates.delete(key);
  }

  /** Withdraw every template (or every options template) of one exporter and domain. */
  deleteAll(exporter: string, domain: number, options: boolean): number {
    const prefix = `${exporter}\u0000${domain}\u0000`;
    let n = 0;
    for (const [k, t] of this.templates) {
      if (t.isOptions === options && k.startsWith(prefix)) {
        this.templates.delete(k);
        n++;
      }
    }
    return n;
  }

  /**
   * Hold a copy of a data set until its template arrives. Returns the number of held sets
   * dropped (oldest first) to stay within bounds, including this one if it alone is too large.
   */
  hold(key: string, set: HeldSet): number {
    if (set.bytes.length > this.maxHeldBytes || this.maxHeldSets <= 0) return 1;
    let list = this.held.get(key);
    if (!list) {
      list = [];
      this.held.set(key, list);
    }
    list.push(set);
    this.heldBytes += set.bytes.length;
    this.heldCount++;
    let dropped = 0;
    while (this.heldBytes > this.maxHeldBytes || this.heldCount > this.maxHeldSets) {
      const d = this.dropOldestHeld();
      if (d === 0) break;
      dropped += d;
    }
    return dropped;
  }

  /** The held sets for a template key, removed from the hold. */
  take(key: string): HeldSet[] | undefined {
    const list = this.held.get(key);
    if (!list) return undefined;
    this.held.delete(key);
    for (const s of list) {
      this.heldBytes -= s.bytes.length;
      this.heldCount--;
    }
    return list;
  }

  /** Forget stale templates and held sets. Returns [templates expired, held sets dropped]. */
  expire(nowMs: number): [number, number] {
    let templates = 0;
    for (const [k, t] of this.templates) {
      if (nowMs - t.lastSeenMs < this.templateTimeoutMs) break;
      this.templates.delete(k);
      templates++;
    }
    let sets = 0;
    for (const [k, list] of this.held) {
      let i = 0;
      while (i < list.length && nowMs - list[i].atMs >= this.heldTimeoutMs) {
        this.heldBytes -= list[i].bytes.length;
        this.heldCount--;
        i++;
      }
      if (i > 0) list.splice(0, i);
      sets += i;
      if (list.length === 0) this.held.delete(k);
    }
    return [templates, sets];
  }

  private dropOldestHeld(): number {
    // Oldest across keys: the front of each list; keys are few, so a scan is fine.
    let bestKey: string | undefined;
    let bestAt = Infinity;
    for (const [k, list] of this.held) {
      if (list.length && list[0].atMs < bestAt) {
        bestAt = list[0].atMs;
        bestKey = k;
      }
    }
    if (bestKey === undefined) return 0;
    const list = this.held.get(bestKey) as HeldSet[];
    const s = list.shift() as HeldSet;
    this.heldBytes -= s.bytes.length;
    this.heldCount--;
    if (list.length === 0) this.held.delete(bestKey);
    return 1;
  }
}
