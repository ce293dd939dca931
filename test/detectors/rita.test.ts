import * as assert from 'node:assert/strict';
import { bimodalScore, bowley, cvScore, frequencyCounts, histogram, madScore, periodHistogram, quartiles, ritaBeaconScore } from '../../detectors/rita';
import { defaultDetectorConfig } from '../../detectors/config';
import { rng } from '../util/rng';

const P = defaultDetectorConfig().beacon;

describe('detectors: RITA beacon scoring', () => {
  it('quartiles as montanaflynn/stats: medians of the halves, the median left out for odd lengths', () => {
    assert.deepEqual(quartiles([10, 20, 30, 40, 50, 60]), [20, 35, 50]);
    assert.deepEqual(quartiles([1, 2, 3, 4, 5, 6, 7]), [2, 4, 6]);
  });

  it('Bowley skew is 0 under a spread of 10 and when the median equals a quartile', () => {
    assert.deepEqual(bowley([10, 20, 30, 40, 50, 60]), { skew: 0, score: 1 });
    // Q1 10, Q2 15, Q3 40: (10 + 40 - 30) / 30
    const b = bowley([5, 10, 15, 15, 20, 40, 60]);
    assert.deepEqual(quartiles([5, 10, 15, 15, 20, 40, 60]), [10, 15, 40]);
    assert.equal(b.skew, 20 / 30);
    assert.equal(b.score, 1 - 20 / 30);
    assert.equal(bowley([60, 60, 60, 61]).skew, 0);
  });

  it('Bowley skew is 0 when the quartiles are closer than skew_min_spread of the median, kept when wider', () => {
    // The 12 intervals of a 300 s beacon with ±10 % jitter (family A seed 396742, 1-hour cut):
    // Q1 287.5, Q2 291, Q3 312.5, spread 25 = 8.6 % of the median.
    const iv = [262, 278, 286, 289, 290, 291, 291, 297, 309, 316, 324, 327];
    assert.deepEqual(quartiles(iv), [287.5, 291, 312.5]);
    assert.equal(bowley(iv).skew, 0.72);
    assert.deepEqual(bowley(iv, P.skew_min_spread), { skew: 0, score: 1 });
    // Spread 30 around a median of 15: wide, the skew stays.
    assert.equal(bowley([5, 10, 15, 15, 20, 40, 60], P.skew_min_spread).skew, 20 / 30);
  });

  it('MAD score (median - MAD) / median, the default below a median of 1', () => {
    // median 35, deviations 25 15 5 5 15 25 -> MAD 15
    assert.deepEqual(madScore([10, 20, 30, 40, 50, 60], 1), { mad: 15, score: 20 / 35 });
    assert.deepEqual(madScore([0, 0, 0], 1), { mad: 0, score: 1 });
    assert.deepEqual(madScore([0, 0, 0], 0), { mad: 0, score: 0 });
  });

  it('histogram frequency counts: bars, longest run with wrap-around, bimodal fit', () => {
    const h = [3, 3, 0, 0, 3, 3, 3, 0, 0, 0, 3, 3];
    assert.deepEqual(histogram(0, 12, [0.5, 1.2, 4, 12], 12), [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    const f = frequencyCounts(h, 0.05);
    assert.equal(f.bars, 7);
    // bins 10, 11 and 0, 1 are consecutive across the wrap: 4
    assert.equal(f.longestRun, 4);
    assert.deepEqual([...f.freq], [[3, 7]]);
    assert.equal(bimodalScore(f.freq, f.bars, 1, 11), 0, 'fewer bars than the bimodal minimum');
    assert.equal(
      bimodalScore(
        new Map([
          [3, 10],
          [6, 2],
        ]),
        12,
        1,
        11,
      ),
      1,
    );
  });

  it('period bins: whole mean intervals centred on the expected connections, where equal parts of the span lose and gain one', () => {
    const base = 1_768_446_024;
    // Family A seed 396742, 1-hour cut: 13 connections of the 300 s ±10 % beacon.
    const a = [0.294, 262.705, 578.293, 864.265, 1191.568, 1500.872, 1791.494, 2081.109, 2405.009, 2702.971, 2980.938, 3271.374, 3560.208].map((t) =>
      Math.floor(base + t),
    );
    assert.deepEqual(histogram(a[0], a[12], a, 4), [4, 2, 3, 4]);
    assert.equal(cvScore([4, 2, 3, 4]), 0.745);
    assert.deepEqual(periodHistogram(a, 4), [3, 3, 3, 3]);
    // Bunched arrivals stay uneven: mean interval 1100 / 12, bins of 3 cells from -46 s; the last
    // connection is in the cell left over.
    const bunched = [0, 40, 50, 60, 300, 310, 330, 500, 700, 710, 720, 730, 1100].map((t) => base + t);
    assert.deepEqual(periodHistogram(bunched, 4), [4, 4, 4, 0]);
    // A burst of zero intervals counts once for the mean interval: 4 beats of 2 connections.
    assert.deepEqual(periodHistogram([0, 0, 100, 100, 200, 200, 300, 300], 4), [2, 2, 2, 2]);
  });

  it("the bimodal fit needs RITA's 11 bars however few the bins", () => {
    // 7 bins of 2 and 6 connections: two heights fill every bar, a bimodal fit of 1 that RITA
    // would not compute on 7 bars; the histogram subscore is 1 - CV.
    const ts: number[] = [];
    [2, 6, 2, 6, 2, 6, 2].forEach((c, b) => {
      for (let i = 0; i < c; i++) ts.push(b * 1000 + 100 + i * 130);
    });
    const s = ritaBeaconScore(
      ts,
      ts.map(() => 100),
      0,
      7000,
      P,
      { bins: 7 },
    )!;
    assert.equal(s.bars, 7);
    assert.equal(s.hist, cvScore([2, 6, 2, 6, 2, 6, 2]));
    assert.ok(s.hist < 0.5, `${s.hist}`);
  });

  it('the two 1-hour-cut beacons the evaluation missed score over the threshold on their own span', () => {
    const base = 1_768_446_024;
    const a = [0.294, 262.705, 578.293, 864.265, 1191.568, 1500.872, 1791.494, 2081.109, 2405.009, 2702.971, 2980.938, 3271.374, 3560.208].map((t) => base + t);
    const sa = ritaBeaconScore(a, new Array<number>(13).fill(448), a[0], a[12], P, { bins: 4, periodBins: true })!;
    assert.deepEqual([sa.score, sa.ts, sa.ds, sa.hist, sa.dur], [0.996, 0.984, 1, 1, 1]);
    const ha = ritaBeaconScore(a, new Array<number>(13).fill(0), a[0], a[12], P, { bins: 4, periodBins: true, sizesKnown: false })!;
    assert.equal(ha.score, 0.995);
    // Family B seed 1598284, capture: 180 s ±10 %, 2-8 kB (scored 0.837 before: histogram 0.822, skew 0.091 of the intervals).
    const b = [
      0.299, 165.609, 336.594, 543.801, 712.64, 896.463, 1058.603, 1245.749, 1429.62, 1628.347, 1785.548, 1984.275, 2140.593, 2332.578, 2514.434, 2698.812,
      2875.816, 3041.394, 3218.389, 3417.281, 3589.197,
    ].map((t) => base + t);
    const sizes = [7043, 4752, 4100, 5724, 3449, 5666, 4704, 5447, 3844, 5999, 2736, 6041, 8020, 3595, 6089, 3302, 5894, 7109, 6765, 6089, 4309];
    const sb = ritaBeaconScore(b, sizes, b[0], b[20], P, { bins: 5, periodBins: true })!;
    assert.deepEqual([sb.ts, sb.ds, sb.hist, sb.dur], [0.968, 0.603, 1, 1]);
    assert.ok(sb.score >= P.threshold, `${sb.score}`);
  });

  it('a perfectly periodic beacon scores 1 on every subscore', () => {
    const ts: number[] = [],
      sizes: number[] = [];
    for (let t = 0; t < 86_400; t += 60) {
      ts.push(1_768_435_200 + t);
      sizes.push(512);
    }
    const s = ritaBeaconScore(ts, sizes, 1_768_435_200, 1_768_435_200 + 86_400, P)!;
    assert.deepEqual(
      { score: s.score, ts: s.ts, ds: s.ds, hist: s.hist, dur: s.dur, mode: s.ts_mode, bars: s.bars },
      { score: 1, ts: 1, ds: 1, hist: 1, dur: 1, mode: 60, bars: 24 },
    );
  });

  it('timestamps 0 10 30 60 100 150 210: intervals 10..60, timestamp score (1 + 20/35) / 2', () => {
    const base = 1_768_435_200;
    const s = ritaBeaconScore(
      [0, 10, 30, 60, 100, 150, 210].map((x) => base + x),
      [100, 100, 100, 100, 100, 100, 100],
      base,
      base + 3600,
      P,
    )!;
    assert.equal(s.ts, Math.round(((1 + 20 / 35) / 2) * 1000) / 1000);
    assert.equal(s.ds, 1);
    // All seven in the first of 24 bins: CV above 1, too few bars for the bimodal fit or a duration.
    assert.equal(s.hist, 0);
    assert.equal(s.dur, 0);
    assert.equal(s.score, Math.round((0.786 * 0.25 + 0.25) * 1000) / 1000);
  });

  it('jittered human traffic (Poisson arrivals, log-normal sizes) stays under the threshold', () => {
    const r = rng(42);
    const base = 1_768_435_200;
    const ts: number[] = [],
      sizes: number[] = [];
    for (let t = base + 5; t < base + 6 * 3600; t += -Math.log(1 - r()) * 45) {
      ts.push(t);
      const z = Math.sqrt(-2 * Math.log(Math.max(1e-12, r()))) * Math.cos(2 * Math.PI * r());
      sizes.push(Math.round(2000 * Math.exp(0.8 * z)));
    }
    const s = ritaBeaconScore(ts, sizes, base, base + 6 * 3600, P)!;
    assert.ok(s.ts < 0.65, `timestamp score of a Poisson process ${s.ts}`);
    assert.ok(s.score < P.threshold, `score ${s.score}`);
    assert.ok(s.score > 0.5, `steady traffic still scores on histogram and duration: ${s.score}`);
  });

  it('refuses to score fewer than 4 connections or 3 non-zero intervals', () => {
    assert.equal(ritaBeaconScore([1, 2, 3], [1, 1, 1], 0, 10, P), null);
    assert.equal(ritaBeaconScore([1, 1, 1, 2, 3], [1, 1, 1, 1, 1], 0, 10, P), null);
  });
});
