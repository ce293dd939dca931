/**
 * Time range values as the API takes them (ISO 8601, epoch seconds, now-15m) and their meaning
 * in epoch seconds for the histogram's axis.
 */
import { getZone, offsetOf, wallClock, type Zone } from './zone';

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

/**
 * The range from the first to the last connection's start, in whole seconds: `to` is exclusive
 * in the API, so it is one second past the last start.
 */
export function spanRange(firstTs: number | undefined, lastTs: number | undefined): { from: string; to: string } | null {
  if (firstTs === undefined || lastTs === undefined) return null;
  return { from: isoOf(Math.floor(firstTs)), to: isoOf(Math.floor(lastTs) + 1) };
}

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

/** A bucket width as people say it: "1 min", "1 h", "1 d", "30 s", "91 d" (the largest unit it is a whole number of). */
export function fmtInterval(sec: number): string {
  const units: [number, string][] = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'min'],
  ];
  for (const [n, name] of units) if (sec >= n && sec % n === 0) return `${sec / n} ${name}`;
  return `${sec} s`;
}

/**
 * Axis labels for ticks `stepSec` apart, ISO 8601 as the table shows times (UTC, or the local
 * wall clock, whose offset the caption gives), cut to what the step can tell apart: the date
 * alone for whole days, minutes under a day, seconds under a minute.
 */
export function axisTimes(ticks: readonly number[], stepSec: number, zone: Zone = 'utc'): string[] {
  return ticks.map((t) => {
    const iso = wallClock(Math.round(t * 1000), zone);
    if (stepSec >= 86400) return iso.slice(0, 10);
    if (stepSec >= 60) return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  });
}

/**
 * Bars for histogram buckets, each exactly as wide as its bucket: left edge at the bucket's
 * start, right edge at start + interval, from zero up. `x`/`y` map values to pixels.
 */
export function bucketBars(
  starts: readonly number[],
  counts: readonly number[],
  intervalSec: number,
  x: (sec: number) => number,
  y: (n: number) => number,
): { left: number; width: number; top: number; height: number }[] {
  const base = y(0);
  return starts.map((s, i) => {
    const left = x(s);
    const top = y(counts[i]);
    return { left, width: x(s + intervalSec) - left, top: Math.min(top, base), height: Math.abs(base - top) };
  });
}

/** Whether a From/To value is an absolute date and time (not epoch seconds, not now-15m). */
function absolute(s: string): boolean {
  return /^\d{4}-\d\d-\d\d/.test(s);
}

/** Whether an absolute value says its zone (Z or an offset); a bare date-time does not. */
function zoned(s: string): boolean {
  return /(Z|[+-]\d\d:?\d\d)$/i.test(s);
}

/**
 * A From/To value as the picker shows it on the chosen clock: absolute ISO times in local mode
 * become the local wall clock with its offset (2026-01-15T15:30:32+05:30), so that what the user
 * reads and edits is never ambiguous; everything else stays as it is.
 */
export function rangeShown(v: string, zone: Zone = getZone()): string {
  const s = v.trim();
  if (zone === 'utc' || !absolute(s)) return v;
  const sec = resolveTime(s);
  if (sec === null) return v;
  const ms = Math.round(sec * 1000);
  const clock = wallClock(ms, 'local');
  return `${clock.endsWith('.000') ? clock.slice(0, 19) : clock}${offsetOf(ms)}`;
}

/**
 * A From/To value as typed, as the API takes it: absolute times become ISO 8601 UTC (Z), a bare
 * date-time read on the chosen clock (so "2026-01-15 15:30" means local time in local mode and
 * UTC otherwise); relative and epoch values, and what is not a time, are left to the caller.
 */
export function rangeSent(v: string, zone: Zone = getZone()): string {
  const s = v.trim();
  if (!absolute(s)) return s;
  if (zone === 'utc' && zoned(s)) return s;
  // A date alone is UTC midnight to Date.parse; a date-time without zone is local: make both explicit.
  const t = /^\d{4}-\d\d-\d\d$/.test(s) ? `${s}T00:00:00` : s.replace(' ', 'T');
  const ms = Date.parse(zoned(t) ? t : zone === 'utc' ? `${t}Z` : t);
  return Number.isNaN(ms) ? s : isoOf(ms / 1000);
}
