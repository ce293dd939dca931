/**
 * The analyst query language's AST. Leaves are bound to registry fields and carry typed,
 * validated values, so both compilers only translate: they never re-parse user text.
 */
import type { FieldDef } from './fields';
import type { CidrRange } from './ip';

/** A syntax or semantic error in a query, at a character offset (0-based) of the query text. */
export class QueryError extends Error {
  constructor(
    message: string,
    readonly position: number,
    readonly query?: string,
  ) {
    super(`${message} (at position ${position})`);
    this.name = 'QueryError';
  }

  /** The query with a caret under the position, for terminals. */
  pointer(): string {
    if (this.query === undefined) return this.message;
    return `${this.query}\n${' '.repeat(this.position)}^ ${this.message}`;
  }
}

/** A point in time with nanosecond precision: whole seconds plus nanoseconds. */
export interface Instant {
  sec: number;
  nanos: number;
}

export type WildPart = { t: 'lit'; s: string } | { t: 'star' } | { t: 'one' };

export type Value =
  | { kind: 'string'; v: string }
  | { kind: 'number'; v: number }
  | { kind: 'boolean'; v: boolean }
  | { kind: 'ip'; text: string; key: Buffer }
  | { kind: 'date'; v: Instant };

export type RangeOp = 'gt' | 'gte' | 'lt' | 'lte';

export type Query =
  | { kind: 'all' }
  | { kind: 'and'; children: Query[] }
  | { kind: 'or'; children: Query[] }
  | { kind: 'not'; child: Query }
  | { kind: 'term'; field: FieldDef; value: Value; pos: number }
  | { kind: 'wildcard'; field: FieldDef; parts: WildPart[]; pos: number }
  | { kind: 'cidr'; field: FieldDef; cidr: CidrRange; pos: number }
  | { kind: 'exists'; field: FieldDef; pos: number }
  | { kind: 'range'; field: FieldDef; op: RangeOp; value: Value; pos: number };

export function instantSeconds(i: Instant): number {
  return i.sec + i.nanos / 1e9;
}

/** RFC 3339 with nanoseconds, UTC: what Elasticsearch `date_nanos` takes and returns losslessly. */
export function formatInstant(i: Instant): string {
  const base = new Date(i.sec * 1000).toISOString().slice(0, 19);
  return `${base}.${String(i.nanos).padStart(9, '0')}Z`;
}

/**
 * Epoch seconds (a double, as ConnRecord.ts) to an Instant that converts back to the same double.
 * The coarsest of ms/us/ns that does is used, so 1768471200.100409 prints as .100409000, not as
 * the double's exact binary value (.100409031).
 */
export function instantFromSeconds(s: number): Instant {
  const sec = Math.floor(s);
  const frac = s - sec;
  for (const scale of [1e3, 1e6, 1e9]) {
    const n = Math.round(frac * scale);
    const nanos = n * (1e9 / scale);
    if (nanos >= 1e9) continue;
    if (sec + nanos / 1e9 === s) return { sec, nanos };
  }
  return { sec, nanos: Math.min(999_999_999, Math.round(frac * 1e9)) };
}
