/**
 * Time range values as the API takes them (ISO 8601, epoch seconds, now-15m) and their meaning
 * in epoch seconds for the histogram's axis.
 */

const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Epoch seconds of a range bound, or null when it is empty or unreadable. */
export function resolveTime(v: string | null | undefined, nowMs = Date.now()): number | null {
  if (!v) return null;
  const s = v.trim();
  const rel = /^now(?:-(\d+)([smhdw]))?$/.exec(s);
  if (rel) return nowMs / 1000 - (rel[1] ? Number(rel[1]) * UNIT[rel[2]] : 0);
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t / 1000;
}

export const PRESETS: { label: string; from: string }[] = [
  { label: 'Last 15 minutes', from: 'now-15m' },
  { label: 'Last hour', from: 'now-1h' },
  { label: 'Last 24 hours', from: 'now-24h' },
  { label: 'Last 7 days', from: 'now-7d' },
  { label: 'Last 30 days', from: 'now-30d' },
  { label: 'Last 365 days', from: 'now-365d' },
];

const NICE = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000];

/** A round bucket width giving about `buckets` buckets over the span. */
export function niceInterval(spanSec: number, buckets = 60): number {
  const raw = Math.max(1, spanSec / buckets);
  return NICE.find((n) => n >= raw) ?? Math.ceil(raw / 86400) * 86400;
}

/** Seconds as an ISO 8601 UTC time with milliseconds. */
export function isoOf(sec: number): string {
  return new Date(Math.round(sec * 1000)).toISOString();
}
