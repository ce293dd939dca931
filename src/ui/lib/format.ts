/** Display formatting: sizes, times, and record fields flattened to dotted paths. */
import { getZone, offsetOf, wallClock, type Zone } from './zone';

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function fmtCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '' : n.toLocaleString('en-US');
}

/**
 * Epoch seconds (with fraction) to the millisecond, on the chosen clock: UTC bare (the headers
 * say UTC), local with its offset (`2026-01-15 16:30:32.317 +05:30`).
 */
export function fmtTime(sec: number | null | undefined, z: Zone = getZone()): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return '';
  const ms = sec * 1000;
  const t = wallClock(ms, z).replace('T', ' ');
  return z === 'utc' ? t : `${t} ${offsetOf(ms)}`;
}

/**
 * Epoch seconds to the microsecond, ISO 8601 (packet times): `...T10:00:32.317123Z` in UTC,
 * `...T15:30:32.317123+05:30` in local time.
 */
export function fmtTimeMicro(sec: number, z: Zone = getZone()): string {
  const ms = Math.floor(sec * 1000);
  const micro = Math.round((sec * 1e6) % 1000)
    .toString()
    .padStart(3, '0');
  return `${wallClock(ms, z)}${micro}${z === 'utc' ? 'Z' : offsetOf(ms)}`;
}

export function fmtIso(iso: string | null | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : fmtTime(t / 1000);
}

export function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(fmtValue).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Nested objects as dotted paths; arrays stay values. */
export function flatten(obj: Record<string, unknown>, prefix = '', out: [string, unknown][] = []): [string, unknown][] {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, key, out);
    else out.push([key, v]);
  }
  return out;
}

/** A dotted path into a record. */
export function pick(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
