/**
 * RITA v5 beacon scoring (activecm/rita, analysis/beacons.go), reimplemented from its published
 * definitions: four subscores in 0..1, weighted.
 *
 * - timestamp: intervals between connections (integer seconds, zero intervals dropped), the mean
 *   of the Bowley skew score 1-|(Q1+Q3-2Q2)/(Q3-Q1)| (0 skew when Q3-Q1 < 10 or Q2 equals a
 *   quartile; here also when Q3-Q1 is under `skew_min_spread` of the median, see `bowley`) and
 *   the MAD score (median-MAD)/median (1 when the median is below 1);
 * - data size: the same on the sizes (MAD score 0 when the median is below 1);
 * - histogram: the connections in `bins` equal bins over the dataset's time range (or, over a
 *   pair's own span, bins of whole mean intervals: `periodHistogram`); the better of 1-CV of the
 *   bin counts and a bimodal fit (the two most common bar heights, heights grouped by
 *   ceil(max * mode_sensitivity), over the bars minus outliers, from `hist_bimodal_min_hours`
 *   bars up, however few the bins);
 * - duration: from `dur_min` bars up, the better of coverage (pair span / dataset span) and
 *   consistency (longest run of filled bins, wrapping around, / `dur_ideal`).
 */
import { medianSorted, round3 } from './common';

export interface RitaParams {
  ts_weight: number;
  ds_weight: number;
  dur_weight: number;
  hist_weight: number;
  hist_bins: number;
  hist_mode_sensitivity: number;
  hist_bimodal_outlier_removal: number;
  hist_bimodal_min_hours: number;
  dur_min_hours: number;
  dur_ideal_hours: number;
  skew_min_spread: number;
}

export interface BeaconScore {
  score: number;
  ts: number;
  ds: number;
  /** False when the data-size subscore was left out (no byte counts) and the others renormalised. */
  sizes_known: boolean;
  hist: number;
  dur: number;
  ts_skew: number;
  ts_mad: number;
  ds_skew: number;
  ds_mad: number;
  /** Most common interval (s). */
  ts_mode: number;
  bars: number;
  bins: number;
}

/** Quartiles as montanaflynn/stats computes them: medians of the halves, the median excluded for odd lengths. */
export function quartiles(sorted: readonly number[]): [number, number, number] {
  const n = sorted.length;
  const c1 = n % 2 === 0 ? n / 2 : (n - 1) / 2;
  const c2 = n % 2 === 0 ? n / 2 : c1 + 1;
  return [medianSorted(sorted.slice(0, c1)), medianSorted(sorted), medianSorted(sorted.slice(c2))];
}

/**
 * Bowley skew and its score. RITA counts no skew when the quartiles are under 10 apart (seconds
 * or bytes) or the median equals a quartile: the values are then one tight spike, whose shape says
 * nothing against a beacon. `minSpread` states the same relative to the median, so that it holds
 * at every period: under it, the middle half of the values lies within ±minSpread/2 of the
 * median, which is jitter around one value, and the skew of 12-30 such values is noise (measured:
 * it alone cost a 300 s beacon 0.19 of its timestamp subscore). Memoryless (Poisson) arrivals
 * have a spread of 1.58 times the median, far above any such bound, so they still pay for theirs.
 */
export function bowley(sorted: readonly number[], minSpread = 0): { skew: number; score: number } {
  const [q1, q2, q3] = quartiles(sorted);
  const den = q3 - q1;
  const skew = den >= 10 && den >= minSpread * Math.abs(q2) && q2 !== q1 && q2 !== q3 ? (q1 + q3 - 2 * q2) / den : 0;
  return { skew, score: 1 - Math.abs(skew) };
}

export function madScore(sorted: readonly number[], dflt: number): { mad: number; score: number } {
  const med = medianSorted(sorted);
  const dev = sorted.map((v) => Math.abs(v - med)).sort((a, b) => a - b);
  const m = medianSorted(dev);
  let score = med >= 1 ? (med - m) / med : dflt;
  if (!(score >= 0)) score = 0;
  return { mad: m, score };
}

function statScore(sorted: readonly number[], dflt: number, minSpread: number): { score: number; skew: number; mad: number } {
  const b = bowley(sorted, minSpread);
  const m = madScore(sorted, dflt);
  return { score: round3((b.score + m.score) / 2), skew: b.skew, mad: m.mad };
}

export function histogram(min: number, max: number, ts: readonly number[], bins: number): number[] {
  const h = new Array<number>(bins).fill(0);
  const step = (max - min) / bins;
  for (const t of ts) {
    let i = Math.floor((t - min) / step);
    if (i < 0) i = 0;
    if (i >= bins) i = bins - 1;
    h[i]++;
  }
  return h;
}

/**
 * The histogram of a pair over its own span, in bins of whole periods: the period is the pair's
 * mean interval d (span over its distinct connection times less one), connection i is expected
 * at first + i*d, its cell is [first + (i-1/2)d, first + (i+1/2)d), and each bin holds
 * k = floor(cells / bins) consecutive cells (the cells left over at the end, fewer than k, are
 * not binned). A periodic pair then fills every bin with k whatever its jitter below half a
 * period; bins of the span cut into equal parts hold 3-5 connections and lose or gain one
 * wherever a jittered connection falls near an edge, and the span's last connection sits on the
 * last edge (measured: [4,2,3,4] for a 300 s beacon with ±10 % jitter, histogram subscore 0.745).
 * Memoryless (Poisson) arrivals stay uneven wherever the cells start: period bins alone moved
 * the share of hour-long constant-size Poisson clients that alert from 8.3 to 6.1 % (mean 300 s),
 * 13.9 to 12.7 % (180 s) and 14.4 to 16.0 % (120 s, 7 bins, where the bimodal fit still applied
 * before its floor went back to RITA's 11 bars; with both, 4.0 %). A beacon that misses beats has a longer mean interval than its period, so its cells drift
 * (see detectors/README.md: blind spots).
 */
export function periodHistogram(secs: readonly number[], bins: number): number[] {
  let distinct = 1;
  for (let i = 1; i < secs.length; i++) if (secs[i] !== secs[i - 1]) distinct++;
  const h = new Array<number>(bins).fill(0);
  const first = secs[0];
  const span = secs[secs.length - 1] - first;
  if (distinct < 2 || span <= 0) {
    h[0] = secs.length;
    return h;
  }
  const d = span / (distinct - 1);
  const width = Math.max(1, Math.floor(distinct / bins)) * d;
  const lo = first - d / 2;
  for (const t of secs) {
    const i = Math.floor((t - lo) / width);
    if (i >= 0 && i < bins) h[i]++;
  }
  return h;
}

export function frequencyCounts(h: readonly number[], sensitivity: number): { freq: Map<number, number>; bars: number; longestRun: number } {
  let bars = 0,
    largest = 0;
  for (const v of h) {
    if (v > 0) bars++;
    if (v > largest) largest = v;
  }
  const binSize = Math.ceil(largest * sensitivity);
  const freq = new Map<number, number>();
  let longest = 0,
    run = 0;
  for (let i = 0; i < h.length * 2; i++) {
    const v = h[i % h.length];
    if (v > 0) run++;
    else {
      if (run > longest) longest = run;
      run = 0;
    }
    if (i < h.length && v > 0) {
      const bin = Math.floor(v / binSize) * binSize;
      freq.set(bin, (freq.get(bin) ?? 0) + 1);
    }
  }
  if (run > longest) longest = run;
  return { freq, bars, longestRun: Math.min(longest, h.length) };
}

export function cvScore(h: readonly number[]): number {
  const total = h.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  const mean = total / h.length;
  let sd = 0;
  for (const v of h) sd += (v - mean) ** 2;
  sd = Math.sqrt(sd / h.length);
  const cv = sd / mean;
  return cv > 1 ? 0 : Math.min(1, round3(1 - cv));
}

export function bimodalScore(freq: Map<number, number>, bars: number, outliers: number, minBars: number): number {
  if (minBars < 6) minBars = 11;
  if (bars < minBars) return 0;
  let a = 0,
    b = 0;
  for (const v of freq.values()) {
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) b = v;
  }
  return Math.min(1, round3((a + b) / Math.max(bars - outliers, 1)));
}

export function durationScore(
  dsMin: number,
  dsMax: number,
  first: number,
  last: number,
  bars: number,
  longestRun: number,
  minBars: number,
  ideal: number,
): number {
  if (bars < minBars || dsMax <= dsMin || last <= first) return 0;
  const coverage = Math.min(1, Math.ceil(((last - first) / (dsMax - dsMin)) * 1000) / 1000);
  const consistency = Math.min(1, Math.ceil((longestRun / ideal) * 1000) / 1000);
  return Math.max(coverage, consistency);
}

/** How a pair is scored beyond RITA's own parameters. */
export interface ScoreOptions {
  /** False when the input has no byte counts (Hubble): the data-size subscore is left out and the weights renormalised. */
  sizesKnown?: boolean;
  /** Histogram bins (default p.hist_bins); the duration thresholds scale with it (RITA's are in hours of 24 bins). */
  bins?: number;
  /**
   * The histogram in bins of whole mean intervals of the pair (`periodHistogram`) instead of
   * equal parts of [dsMin, dsMax]: for a range that is the pair's own span, where bins hold a few
   * connections each. The duration still covers [dsMin, dsMax].
   */
  periodBins?: boolean;
}

/**
 * Score one pair. `ts`: connection start times (seconds); `sizes`: bytes per connection;
 * [dsMin, dsMax]: the time range the histogram and the duration cover (RITA: the dataset's;
 * the beacon detector passes the pair's own active span so that a short beacon inside a long
 * capture scores as it would alone). Null when RITA would not score it (fewer than 4
 * connections or 3 non-zero intervals).
 */
export function ritaBeaconScore(
  ts: readonly number[],
  sizes: readonly number[],
  dsMin: number,
  dsMax: number,
  p: RitaParams,
  o: ScoreOptions = {},
): BeaconScore | null {
  const sizesKnown = o.sizesKnown ?? true;
  if (ts.length < 4 || (sizesKnown && sizes.length < 3) || dsMax <= dsMin) return null;
  const secs = ts.map((t) => Math.floor(t)).sort((a, b) => a - b);
  const deltas: number[] = [];
  for (let i = 1; i < secs.length; i++) deltas.push(secs[i] - secs[i - 1]);
  deltas.sort((a, b) => a - b);
  const nonZero = deltas.filter((d) => d > 0);
  if (nonZero.length < 3) return null;
  let mode = nonZero[0],
    modeN = 0,
    run = 0;
  for (let i = 0; i < nonZero.length; i++) {
    run = i > 0 && nonZero[i] === nonZero[i - 1] ? run + 1 : 1;
    if (run > modeN) {
      modeN = run;
      mode = nonZero[i];
    }
  }
  const tsS = statScore(nonZero, 1, p.skew_min_spread);
  const dsS = sizesKnown
    ? statScore(
        [...sizes].sort((a, b) => a - b),
        0,
        p.skew_min_spread,
      )
    : { score: 0, skew: 0, mad: 0 };
  const bins = o.bins ?? p.hist_bins;
  const scale = bins / p.hist_bins;
  const lo = Math.floor(dsMin);
  // A span that is a whole number of seconds long, so that the last connection is inside the last bin.
  const hi = Math.max(Math.floor(dsMax), lo + 1);
  const h = o.periodBins ? periodHistogram(secs, bins) : histogram(lo, hi, secs, bins);
  const fc = frequencyCounts(h, p.hist_mode_sensitivity);
  // RITA's floor is a count of bars, not a share of the bins: below it two modes cover most bars
  // by chance ("a histogram with 1-2 bars will always be given a high bimodal fit score"). Scaled
  // down to 6 with the bins, it gave memoryless clients with 24-43 connections (6-10 bins of 4)
  // a fit of 0.8-1: 15 % of such hour-long clients with constant sizes alerted, 3.6 % without it.
  const hist = Math.max(cvScore(h), bimodalScore(fc.freq, fc.bars, p.hist_bimodal_outlier_removal, p.hist_bimodal_min_hours));
  const durMin = Math.max(1, Math.ceil(p.dur_min_hours * scale));
  const durIdeal = Math.max(1, p.dur_ideal_hours * scale);
  const dur = durationScore(lo, hi, secs[0], secs[secs.length - 1], fc.bars, fc.longestRun, durMin, durIdeal);
  const wsum = sizesKnown ? 1 : p.ts_weight + p.dur_weight + p.hist_weight;
  const raw = tsS.score * p.ts_weight + (sizesKnown ? dsS.score * p.ds_weight : 0) + dur * p.dur_weight + hist * p.hist_weight;
  const score = round3(wsum > 0 ? raw / wsum : 0);
  return {
    score,
    ts: tsS.score,
    ds: dsS.score,
    sizes_known: sizesKnown,
    hist,
    dur,
    ts_skew: round3(tsS.skew),
    ts_mad: tsS.mad,
    ds_skew: round3(dsS.skew),
    ds_mad: dsS.mad,
    ts_mode: mode,
    bars: fc.bars,
    bins,
  };
}
