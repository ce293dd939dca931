import * as assert from 'node:assert/strict';
import { bimodalScore, bowley, frequencyCounts, histogram, madScore, quartiles, ritaBeaconScore } from '../../detectors/rita';
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
