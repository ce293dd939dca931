/**
 * Which clock every displayed time follows: UTC (the default, as the API and the records speak)
 * or the browser's local time, with its offset shown so that a local time is never ambiguous.
 * The choice is kept in localStorage and read synchronously by the formatters, so a view only
 * has to render again (the shell remounts its views when it changes).
 */

export type Zone = 'utc' | 'local';

const ITEM = 'eastwatch.timezone';
const listeners = new Set<() => void>();

/** The part of the DOM's Storage used here: the root tsconfig (node, no DOM lib) compiles this file too. */
interface KeyValue {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
}
// Node (test/ui/helpers.test.ts) has no localStorage: UTC there.
const storage = (globalThis as { localStorage?: KeyValue }).localStorage;

function stored(): Zone {
  return storage?.getItem(ITEM) === 'local' ? 'local' : 'utc';
}

let current: Zone = stored();

export function getZone(): Zone {
  return current;
}

export function setZone(z: Zone): void {
  current = z;
  storage?.setItem(ITEM, z);
  for (const l of listeners) l();
}

export function subscribeZone(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** What table headers put in brackets: "Time (UTC)", "Time (local)". */
export function zoneName(z: Zone = current): string {
  return z === 'utc' ? 'UTC' : 'local';
}

/** " UTC" after a bare UTC time in prose; nothing in local mode, where each time carries its offset. */
export function zoneSuffix(z: Zone = current): string {
  return z === 'utc' ? ' UTC' : '';
}

/** The local offset at `ms` as ISO 8601 writes it: +05:30, -08:00, +00:00. */
export function offsetOf(ms: number): string {
  const off = -new Date(ms).getTimezoneOffset();
  const a = Math.abs(off);
  return `${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/**
 * `YYYY-MM-DDTHH:MM:SS.mmm` of the instant `ms` on the chosen clock, without a zone designator
 * (the callers add "Z", the offset or nothing).
 */
export function wallClock(ms: number, z: Zone = current): string {
  if (z === 'utc') return new Date(ms).toISOString().slice(0, 23);
  // The local wall clock is the UTC one shifted by the offset in force at that instant.
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 23);
}
