/**
 * Folding a series into coarser buckets with its consolidation function: for maxDataPoints (the
 * last step of a render) and for bringing series of different steps to a common one.
 */
import { QueryError } from './errors.js';
import type { ConsolidationFunc, TimeSeries } from './timeSeries.js';

const FOLD: Record<ConsolidationFunc, (v: number[]) => number> = {
  average: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  sum: (v) => v.reduce((a, b) => a + b, 0),
  min: (v) => Math.min(...v),
  max: (v) => Math.max(...v),
  first: (v) => v[0]!,
  last: (v) => v[v.length - 1]!,
};

/**
 * `s` in buckets of `step` seconds (a multiple of s.step) from `first` on: slots before `first`
 * are dropped; a bucket is null when it has no values or fewer than xFilesFactor of its slots.
 */
function rebucket(s: TimeSeries, step: number, first: number): TimeSeries {
  const slotsPerBucket = step / s.step;
  const count = Math.max(0, Math.ceil((s.end - first) / step));
  const buckets: number[][] = Array.from({ length: count }, () => []);
  s.values.forEach((v, i) => {
    const t = s.start + i * s.step;
    if (v !== null && t >= first) buckets[Math.floor((t - first) / step)]!.push(v);
  });
  const fold = FOLD[s.consolidationFunc];
  const values = buckets.map((b) => (b.length > 0 && b.length / slotsPerBucket >= s.xFilesFactor ? fold(b) : null));
  return { ...s, start: first, end: first + count * step, step, values };
}

/** `s` at a coarser step, buckets aligned to multiples of it (so every series lines up). */
export function consolidateTo(s: TimeSeries, step: number): TimeSeries {
  return s.step === step ? s : rebucket(s, step, Math.floor(s.start / step) * step);
}

/**
 * Graphite's maxDataPoints: a series with more points than asked over the whole render's time range
 * gets valuesPerPoint = ceil(points / maxDataPoints) slots per point, with buckets starting at
 * multiples of the new step (a partial first bucket is dropped) so they don't jitter between
 * refreshes. maxDataPoints = 1 folds each whole series into one point.
 */
export function applyMaxDataPoints(series: TimeSeries[], maxDataPoints: number): TimeSeries[] {
  if (!Number.isInteger(maxDataPoints) || maxDataPoints < 1) throw new QueryError(`bad maxDataPoints ${maxDataPoints}: expected a positive integer`);
  if (series.length === 0) return series;
  const timeRange = Math.max(...series.map((s) => s.end)) - Math.min(...series.map((s) => s.start));
  return series.map((s) => {
    if (maxDataPoints === 1) return s.values.length > 0 ? rebucket(s, s.values.length * s.step, s.start) : s;
    const points = timeRange / s.step;
    if (maxDataPoints >= points) return s;
    const step = Math.ceil(points / maxDataPoints) * s.step;
    return rebucket(s, step, Math.ceil(s.start / step) * step);
  });
}
