/**
 * Connections over time (GET /aggregations/histogram) drawn with uPlot: a zero-based y axis, bars
 * exactly as wide as their buckets, ISO times on the axis (UTC, or local as chosen); dragging across the chart selects
 * a range and zooms the search to it.
 */
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ApiError, apiGet, type SearchPage } from '../lib/api';
import { fmtCount, fmtTime } from '../lib/format';
import { getZone, zoneSuffix } from '../lib/zone';
import { axisTimes, bucketBars, fmtInterval, niceInterval, resolveTime } from '../lib/time';

interface Bucket {
  start: number;
  connections: number;
  bytes: number;
}

/** The first and last connection times of a query, when the range leaves either end open. */
async function extent(q: string, from: string, to: string, signal: AbortSignal): Promise<[number, number] | null> {
  const one = (order: 'asc' | 'desc'): Promise<SearchPage> => apiGet<SearchPage>('/connections', { q, from, to, sort: '@timestamp', order, limit: 1 }, signal);
  let lo = resolveTime(from);
  let hi = resolveTime(to);
  if (lo === null || hi === null) {
    const [a, b] = await Promise.all([lo === null ? one('asc') : null, hi === null ? one('desc') : null]);
    if (lo === null) lo = a?.records[0]?.ts ?? null;
    if (hi === null) {
      const last = b?.records[0];
      hi = last ? last.ts + Number(last.duration ?? 0) + 1 : null;
    }
  }
  return lo === null || hi === null ? null : [lo, Math.max(hi, lo + 1)];
}

export function Histogram(props: { q: string; from: string; to: string; onBrush: (fromSec: number, toSec: number) => void }) {
  const zone = getZone();
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const brush = useRef(props.onBrush);
  brush.current = props.onBrush;
  const [state, setState] = useState<{ buckets: Bucket[]; interval: number; span: [number, number] } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    setError(null);
    setState(null);
    (async () => {
      const span = await extent(props.q, props.from, props.to, ac.signal);
      if (!span) {
        setState({ buckets: [], interval: 0, span: [0, 0] });
        return;
      }
      const interval = niceInterval(span[1] - span[0]);
      const r = await apiGet<{ buckets: Bucket[]; interval?: number }>(
        '/aggregations/histogram',
        { q: props.q, from: props.from, to: props.to, interval },
        ac.signal,
      );
      // The server widens an interval that would give too many buckets: draw with the one it used.
      setState({ buckets: r.buckets, interval: r.interval ?? interval, span });
    })().catch((e: unknown) => {
      if (ac.signal.aborted) return;
      // A query error is shown at the query bar, where it can be fixed.
      setError(e instanceof ApiError && e.position !== null ? 'waiting for a valid query' : e instanceof Error ? e.message : String(e));
    });
    return () => ac.abort();
  }, [props.q, props.from, props.to]);

  useEffect(() => {
    const el = host.current;
    if (!el || !state || state.buckets.length === 0) return;
    const xs = state.buckets.map((b) => b.start / 1000);
    const ys = state.buckets.map((b) => b.connections);
    // The axis shows the range asked for (or the data's extent), not just the non-empty buckets.
    const lo = Math.min(state.span[0], xs[0]);
    const hi = Math.max(state.span[1], xs[xs.length - 1] + state.interval);
    const interval = state.interval;
    // Each bucket a rectangle from its start to its end: uPlot's own bars are sized to a share of the gap between points.
    const bars: uPlot.Series.PathBuilder = (u) => {
      const fill = new Path2D();
      for (const r of bucketBars(
        xs,
        ys,
        interval,
        (v) => u.valToPos(v, 'x', true),
        (v) => u.valToPos(v, 'y', true),
      ))
        fill.rect(r.left, r.top, r.width, r.height);
      return { stroke: fill, fill };
    };
    const opts: uPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height: 140,
      legend: { show: false },
      // The axis follows the clock the rest of the UI shows (UTC unless the user chose local).
      tzDate: (ts) => (zone === 'utc' ? uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC') : new Date(ts * 1000)),
      cursor: { drag: { x: true, y: false, setScale: false } },
      // Zero-based: a bar's height is its count, so that a full bucket never looks empty.
      scales: { x: { time: true, range: () => [lo, hi] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      series: [
        {},
        {
          label: 'connections',
          stroke: '#2563eb',
          fill: 'rgba(37,99,235,0.35)',
          width: 0,
          paths: bars,
          points: { show: false },
        },
      ],
      axes: [
        {
          space: 130,
          values: (_u, ticks, _axis, _space, step) => {
            const labels = axisTimes(ticks, step, zone);
            el.dataset.xTicks = labels.join('|');
            return labels;
          },
        },
        { size: 50 },
      ],
      hooks: {
        // What the browser tests read back: the y scale's floor and where the bars stand, in canvas pixels.
        draw: [
          (u) => {
            el.dataset.yMin = String(u.scales.y.min);
            el.dataset.interval = String(interval);
            el.dataset.bucketPx = String(u.valToPos(xs[0] + interval, 'x', true) - u.valToPos(xs[0], 'x', true));
            el.dataset.baseY = String(u.valToPos(0, 'y', true));
            el.dataset.x0 = String(u.valToPos(xs[0], 'x', true));
            el.dataset.yMax = String(u.scales.y.max);
            el.dataset.topY = String(u.valToPos(u.scales.y.max ?? 1, 'y', true));
          },
        ],
        setSelect: [
          (u) => {
            if (u.select.width < 2) return;
            const a = u.posToVal(u.select.left, 'x');
            const b = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            brush.current(a, b);
          },
        ],
      },
    };
    plot.current = new uPlot(opts, [xs, ys], el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(320, el.clientWidth), height: 140 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [state, zone]);

  const total = state?.buckets.reduce((n, b) => n + b.connections, 0) ?? 0;
  return (
    <figure className="histogram" aria-label="Connections over time">
      <div ref={host} className="histogram-plot" data-testid="histogram" />
      <figcaption className="muted">
        {error ? (
          <span className="error" role="alert">
            Histogram: {error}
          </span>
        ) : !state ? (
          'Loading the histogram…'
        ) : state.buckets.length === 0 ? (
          'No connections in this range.'
        ) : (
          `${fmtCount(total)} connections, ${fmtInterval(state.interval)} buckets from ${fmtTime(state.buckets[0].start / 1000)}${zoneSuffix()}. Drag across the chart to zoom the range.`
        )}
      </figcaption>
    </figure>
  );
}
