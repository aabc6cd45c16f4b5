import type { HistogramRule } from '../config/types.js';
import type { RawInterval } from './aggregator.js';

export interface TimerMathOptions {
  flushIntervalMs: number;
  percentiles: number[];
  histograms: HistogramRule[];
  calculatedTimerMetrics: string[];
}

/**
 * Every timer's derived values in one flat array (one allocation per flush, not several per timer:
 * a flush of 100k timers must stay cheap for the GC). Timer i's values are
 * `values[offset[i] .. offset[i] + layout[i].length)`, named by `layout[i]` relative to the timer
 * (`mean_90`, `histogram.bin_1`), in etsy's order. NaN marks a value not sent (a percentile that
 * holds no sample).
 */
export interface TimerValues {
  layout: (readonly string[])[];
  offset: Uint32Array;
  values: Float64Array;
}

export interface DerivedValues {
  counterRates: Float64Array; // parallel to raw.counters.keys
  timers: TimerValues; // parallel to raw.timers.keys
  /** etsy's numStats: keys flushed, internal counters and timestamp_lag included */
  numStats: number;
  /** etsy's processing_time: ms spent here */
  processingTime: number;
}

/** Slot of each value in a layout, -1 when calculated_timer_metrics leaves it out. */
interface Slots {
  pct: { pct: number; count: number; mean: number; bound: number; sum: number; sumSquares: number }[];
  std: number;
  upper: number;
  lower: number;
  count: number;
  countPs: number;
  sum: number;
  sumSquares: number;
  mean: number;
  median: number;
  bins: number; // first histogram slot
}

const BASE = ['std', 'upper', 'lower', 'count', 'count_ps', 'sum', 'sum_squares', 'mean', 'median'] as const;

/**
 * etsy statsd's process_metrics, computed once per flush for every flusher. Same formulas and the
 * same floating point order of operations (cumulative sums), so the numbers match etsy's digit for
 * digit. Fixed etsy bugs: top-N at -100 (etsy reads past the array and emits NaN) and
 * calculated_timer_metrics for fractional percentiles (etsy's `count_99_9` never matches `count_percent`).
 */
export class FlushMath {
  private readonly slots: Slots;
  /** sample layout without histogram, and one per histogram rule */
  private readonly plain: readonly string[];
  private readonly withBins: Map<HistogramRule, readonly string[]>;
  /** the bin limits of each layout that has bins */
  private readonly binLimits = new Map<readonly string[], number[]>();
  private readonly empty: readonly string[];
  // scratch space reused across timers
  private cum = new Float64Array(1024);
  private cumSq = new Float64Array(1024);

  constructor(private readonly opts: TimerMathOptions) {
    const wanted = opts.calculatedTimerMetrics;
    const keep = (name: string): boolean => wanted.length === 0 || wanted.includes(name.replace(/_(top)?\d+(_\d+)?$/, '_percent'));
    const names: string[] = [];
    const slot = (name: string): number => (keep(name) ? names.push(name) - 1 : -1);
    const pct = opts.percentiles.map((p) => {
      const clean = String(p).replace('.', '_').replace('-', 'top');
      return {
        pct: p,
        count: slot(`count_${clean}`),
        mean: slot(`mean_${clean}`),
        bound: slot(`${p > 0 ? 'upper' : 'lower'}_${clean}`),
        sum: slot(`sum_${clean}`),
        sumSquares: slot(`sum_squares_${clean}`),
      };
    });
    const [std, upper, lower, count, countPs, sum, sumSquares, mean, median] = BASE.map(slot) as number[];
    this.slots = { pct, std: std!, upper: upper!, lower: lower!, count: count!, countPs: countPs!, sum: sum!, sumSquares: sumSquares!, mean: mean!, median: median!, bins: names.length };
    this.plain = names;
    const histogramOn = keep('histogram');
    this.withBins = new Map(
      opts.histograms.map((rule) => [
        rule,
        histogramOn ? [...names, ...rule.bins.map((b) => 'histogram.bin_' + (b === Infinity ? 'inf' : String(b).replace('.', '_')))] : names,
      ]),
    );
    if (histogramOn) for (const [rule, layout] of this.withBins) this.binLimits.set(layout, rule.bins);
    this.empty = ['count', 'count_ps'].filter(keep);
  }

  derive(raw: RawInterval): DerivedValues {
    const started = Date.now();
    const seconds = this.opts.flushIntervalMs / 1000;
    const cv = raw.counters.values;
    const counterRates = new Float64Array(cv.length);
    for (let i = 0; i < cv.length; i++) counterRates[i] = cv[i]! / seconds;

    const { keys, samples, counts } = raw.timers;
    const layout: (readonly string[])[] = new Array(keys.length);
    const offset = new Uint32Array(keys.length);
    let size = 0;
    for (let i = 0; i < keys.length; i++) {
      layout[i] = samples[i]!.length === 0 ? this.empty : this.layoutFor(keys[i]!);
      offset[i] = size;
      size += layout[i]!.length;
    }
    const values = new Float64Array(size);
    for (let i = 0; i < keys.length; i++) {
      this.timer(samples[i]!, counts[i]!, seconds, layout[i]!, values, offset[i]!);
    }

    return {
      counterRates,
      timers: { layout, offset, values },
      numStats: raw.counters.keys.length + keys.length + raw.gauges.keys.length + raw.sets.keys.length,
      processingTime: Date.now() - started,
    };
  }

  /** etsy: the first rule whose `match` is a substring of the key. */
  private layoutFor(key: string): readonly string[] {
    for (const [rule, names] of this.withBins) if (key.includes(rule.match)) return names;
    return this.plain;
  }

  private timer(samples: number[], scaledCount: number, seconds: number, layout: readonly string[], out: Float64Array, at: number): void {
    const count = samples.length;
    if (count === 0) {
      // etsy: an idle timer sends count and count_ps of 0, nothing else (already 0 in `out`)
      return;
    }
    const s = this.slots;
    const put = (slot: number, value: number): void => {
      if (slot >= 0) out[at + slot] = value;
    };
    const values = Float64Array.from(samples).sort();
    if (this.cum.length < count) {
      this.cum = new Float64Array(count * 2);
      this.cumSq = new Float64Array(count * 2);
    }
    const cum = this.cum;
    const cumSq = this.cumSq;
    const min = values[0]!;
    const max = values[count - 1]!;
    cum[0] = min;
    cumSq[0] = min * min;
    for (let i = 1; i < count; i++) {
      cum[i] = values[i]! + cum[i - 1]!;
      cumSq[i] = values[i]! * values[i]! + cumSq[i - 1]!;
    }

    for (const p of s.pct) {
      let n = count;
      let sum = min;
      let sumSquares = min * min;
      let mean = min;
      let bound = max;
      if (count > 1) {
        n = Math.round((Math.abs(p.pct) / 100) * count);
        if (n === 0) {
          for (const slot of [p.count, p.mean, p.bound, p.sum, p.sumSquares]) put(slot, NaN);
          continue;
        }
        if (p.pct > 0) {
          bound = values[n - 1]!;
          sum = cum[n - 1]!;
          sumSquares = cumSq[n - 1]!;
        } else {
          bound = values[count - n]!;
          sum = n === count ? cum[count - 1]! : cum[count - 1]! - cum[count - n - 1]!;
          sumSquares = n === count ? cumSq[count - 1]! : cumSq[count - 1]! - cumSq[count - n - 1]!;
        }
        mean = sum / n;
      }
      put(p.count, n);
      put(p.mean, mean);
      put(p.bound, bound);
      put(p.sum, sum);
      put(p.sumSquares, sumSquares);
    }

    const sum = cum[count - 1]!;
    const mean = sum / count;
    let sumOfDiffs = 0;
    for (let i = 0; i < count; i++) sumOfDiffs += (values[i]! - mean) * (values[i]! - mean);
    const mid = Math.floor(count / 2);
    put(s.std, Math.sqrt(sumOfDiffs / count));
    put(s.upper, max);
    put(s.lower, min);
    put(s.count, scaledCount);
    put(s.countPs, scaledCount / seconds);
    put(s.sum, sum);
    put(s.sumSquares, cumSq[count - 1]!);
    put(s.mean, mean);
    put(s.median, count % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2);

    // histogram: a value goes in the first bin whose limit is above it; above the last finite limit
    // without `inf`, it is dropped (etsy)
    const limits = this.binLimits.get(layout);
    if (limits === undefined) return;
    let i = 0;
    for (let b = 0; b < limits.length; b++) {
      const limit = limits[b]!;
      let freq = 0;
      for (; i < count && (limit === Infinity || values[i]! < limit); i++) freq++;
      out[at + s.bins + b] = freq;
    }
  }
}
