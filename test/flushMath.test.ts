import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawInterval } from '../agent/statsd/aggregator.js';
import { FlushMath, type DerivedValues, type TimerMathOptions } from '../agent/statsd/processMetrics.js';

function raw(timers: Record<string, { values: number[]; count?: number }>, counters: Record<string, number> = {}): RawInterval {
  const tk = Object.keys(timers);
  return {
    counters: { keys: Object.keys(counters), values: Float64Array.from(Object.values(counters)) },
    timers: { keys: tk, samples: tk.map((k) => timers[k]!.values), counts: Float64Array.from(tk.map((k) => timers[k]!.count ?? timers[k]!.values.length)) },
    gauges: { keys: [], values: new Float64Array(0) },
    sets: { keys: [], members: [] },
  };
}

/** Timer i's values by name, leaving out those not sent (NaN). */
function timerValues(d: DerivedValues, i: number): Record<string, number> {
  const { layout, offset, values } = d.timers;
  return Object.fromEntries(layout[i]!.map((n, j) => [n, values[offset[i]! + j]!]).filter(([, v]) => !Number.isNaN(v)));
}

function timer(values: number[], opts: Partial<TimerMathOptions> = {}, key = 'a', count?: number): Record<string, number> {
  const math = new FlushMath({ flushIntervalMs: 100, percentiles: [90], histograms: [], calculatedTimerMetrics: [], ...opts });
  return timerValues(math.derive(raw({ [key]: count === undefined ? { values } : { values, count } })), 0);
}

describe('flush math: etsy process_metrics_tests vectors', () => {
  it('counter rate per second: 2 over a 100 ms flush is 20', () => {
    const math = new FlushMath({ flushIntervalMs: 100, percentiles: [90], histograms: [], calculatedTimerMetrics: [] });
    assert.deepEqual([...math.derive(raw({}, { a: 2 })).counterRates], [20]);
  });
  it('an empty timer has only count and count_ps of 0', () => {
    assert.deepEqual(timer([]), { count: 0, count_ps: 0 });
  });
  it('a single value', () => {
    assert.deepEqual(timer([100]), {
      count_90: 1, mean_90: 100, upper_90: 100, sum_90: 100, sum_squares_90: 10000,
      std: 0, upper: 100, lower: 100, count: 1, count_ps: 10, sum: 100, sum_squares: 10000, mean: 100, median: 100,
    });
  });
  it('[100, 200, 300] at 90 % and 80 %', () => {
    const t = timer([300, 100, 200], { percentiles: [90, 80] });
    assert.equal(t.std!.toFixed(4), '81.6497');
    assert.equal(t.mean, 200);
    assert.equal(t.median, 200);
    assert.deepEqual([t.count_90, t.mean_90, t.upper_90, t.sum_90], [3, 200, 300, 600]);
    assert.deepEqual([t.count_80, t.mean_80, t.upper_80, t.sum_80, t.sum_squares_80], [2, 150, 200, 300, 50000]);
    assert.equal(t.sum_squares, 140000);
  });
  it('keeps etsy\'s order of sub-metrics', () => {
    const math = new FlushMath({ flushIntervalMs: 1000, percentiles: [90], histograms: [{ match: '', bins: [1] }], calculatedTimerMetrics: [] });
    assert.deepEqual(Object.keys(timerValues(math.derive(raw({ a: { values: [1, 2] } })), 0)), [
      'count_90', 'mean_90', 'upper_90', 'sum_90', 'sum_squares_90',
      'std', 'upper', 'lower', 'count', 'count_ps', 'sum', 'sum_squares', 'mean', 'median', 'histogram.bin_1',
    ]);
  });
  it('sampled timers: count and count_ps scaled, percentiles not', () => {
    const t = timer([100], {}, 'a', 50);
    assert.equal(t.count, 50);
    assert.equal(t.count_ps, 500);
    assert.equal(t.count_90, 1);
    assert.equal(t.sum, 100);
  });
  it('even count median is the mean of the two middle values', () => {
    assert.equal(timer([300, 200, 400, 100]).median, 250);
  });
  it('top-N percentiles', () => {
    const t = timer([10, 10, 10, 10, 10, 10, 10, 10, 100, 200], { percentiles: [-20] });
    assert.deepEqual([t.mean_top20, t.lower_top20, t.sum_top20, t.count_top20], [150, 100, 300, 2]);
    assert.equal(t.upper_top20, undefined);
    assert.equal(timer([7], { percentiles: [-10] }).mean_top10, 7);
  });
  it('skips a percentile whose share rounds to no value', () => {
    const t = timer([1, 2, 3], { percentiles: [10, 90] });
    assert.equal(t.count_10, undefined);
    assert.equal(t.count_90, 3);
  });
  it('fractional percentile names: 99.9 -> _99_9', () => {
    const t = timer(Array.from({ length: 1000 }, (_, i) => i + 1), { percentiles: [99.9] });
    assert.equal(t.upper_99_9, 999);
    assert.equal(t.count_99_9, 999);
  });
  it('top -100 sums every value (etsy emits NaN)', () => {
    const t = timer([1, 2, 3], { percentiles: [-100] });
    assert.deepEqual([t.sum_top100, t.lower_top100, t.mean_top100], [6, 1, 2]);
  });
  it('histograms: first matching rule wins, substring match, bins are strict upper limits', () => {
    const histograms = [
      { match: 'abc', bins: [1, 2.21, Infinity] },
      { match: 'a', bins: [1, 2] },
      { match: 'foo', bins: [] },
    ];
    const a = timer([1], { histograms }, 'a');
    assert.deepEqual([a['histogram.bin_1'], a['histogram.bin_2'], a['histogram.bin_inf']], [0, 1, undefined]);
    const abc = timer([0, 3, 4, 5, 1000], { histograms }, 'abc');
    const bins = Object.keys(abc).filter((k) => k.startsWith('histogram.'));
    assert.deepEqual(bins, ['histogram.bin_1', 'histogram.bin_2_21', 'histogram.bin_inf']);
    assert.deepEqual(bins.map((b) => abc[b]), [1, 0, 4]);
    assert.deepEqual(Object.keys(timer([1], { histograms }, 'foo')).filter((k) => k.startsWith('histogram')), []);
    assert.deepEqual(Object.keys(timer([1], { histograms }, 'zzz')).filter((k) => k.startsWith('histogram')), []);
  });
  it('histogram values at or above the last finite limit are dropped without inf', () => {
    assert.deepEqual(timer([0.5, 1.5, 2, 9], { histograms: [{ match: '', bins: [1, 2] }] }, 'x')['histogram.bin_2'], 1);
  });
  it('calculated_timer_metrics keeps exactly the listed metrics', () => {
    const t = timer([100, 200], {
      histograms: [{ match: '', bins: [1000] }],
      calculatedTimerMetrics: ['count_ps', 'count', 'count_percent', 'mean_percent', 'histogram'],
    });
    assert.deepEqual(Object.keys(t).sort(), ['count', 'count_90', 'count_ps', 'histogram.bin_1000', 'mean_90']);
  });
  it('calculated_timer_metrics matches fractional and top percentiles too', () => {
    const t = timer([1, 2, 3, 4], { percentiles: [99.9, -50], calculatedTimerMetrics: ['upper_percent', 'lower_percent'] });
    assert.deepEqual(Object.keys(t).sort(), ['lower_top50', 'upper_99_9']);
  });
  it('numStats counts every key flushed', () => {
    const math = new FlushMath({ flushIntervalMs: 1000, percentiles: [90], histograms: [], calculatedTimerMetrics: [] });
    const r = raw({ t1: { values: [1] }, t2: { values: [] } }, { c1: 1, c2: 0, c3: 5 });
    assert.equal(math.derive(r).numStats, 5);
  });
});
