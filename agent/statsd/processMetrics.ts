import type { HistogramRule } from '../config/types.js';
import type { RawInterval } from './aggregator.js';

export interface TimerMathOptions {
  flushIntervalMs: number;
  percentiles: number[];
  histograms: HistogramRule[];
  calculatedTimerMetrics: string[];
}

/** One timer's derived values, in etsy's order, names relative to the timer (`mean_90`, `histogram.bin_1`). */
export interface TimerStats {
  names: string[];
  values: number[];
}

export interface DerivedValues {
  counterRates: Float64Array; // parallel to raw.counters.keys
  timers: TimerStats[]; // parallel to raw.timers.keys
  /** etsy's numStats: keys flushed, internal counters and timestamp_lag included */
  numStats: number;
  /** etsy's processing_time: ms spent here */
  processingTime: number;
}

interface PctNames {
  pct: number;
  count: string | null; // null = filtered out by calculated_timer_metrics
  mean: string | null;
  bound: string | null;
  sum: string | null;
  sumSquares: string | null;
}

/**
 * etsy statsd's process_metrics, computed once per flush for every flusher. Same formulas and the
 * same floating point order of operations (cumulative sums), so the numbers match etsy's digit for
 * digit. Fixed etsy bugs: top-N at -100 (etsy reads past the array and emits NaN) and
 * calculated_timer_metrics for fractional percentiles (etsy's `count_99_9` never matches `count_percent`).
 */
export class FlushMath {
  private readonly pcts: PctNames[];
  private readonly base: Record<'std' | 'upper' | 'lower' | 'count' | 'count_ps' | 'sum' | 'sum_squares' | 'mean' | 'median', boolean>;
  private readonly histogramOn: boolean;
  private readonly binNames: Map<HistogramRule, string[]>;

  constructor(private readonly opts: TimerMathOptions) {
    const wanted = opts.calculatedTimerMetrics;
    const keep = (name: string): string | null => {
      if (wanted.length === 0) return name;
      return wanted.includes(name.replace(/_(top)?\d+(_\d+)?$/, '_percent')) ? name : null;
    };
    this.pcts = opts.percentiles.map((pct) => {
      const clean = String(pct).replace('.', '_').replace('-', 'top');
      return {
        pct,
        count: keep(`count_${clean}`),
        mean: keep(`mean_${clean}`),
        bound: keep(`${pct > 0 ? 'upper' : 'lower'}_${clean}`),
        sum: keep(`sum_${clean}`),
        sumSquares: keep(`sum_squares_${clean}`),
      };
    });
    const on = (name: string): boolean => keep(name) !== null;
    this.base = {
      std: on('std'),
      upper: on('upper'),
      lower: on('lower'),
      count: on('count'),
      count_ps: on('count_ps'),
      sum: on('sum'),
      sum_squares: on('sum_squares'),
      mean: on('mean'),
      median: on('median'),
    };
    this.histogramOn = on('histogram');
    this.binNames = new Map(
      opts.histograms.map((rule) => [rule, rule.bins.map((b) => 'histogram.bin_' + (b === Infinity ? 'inf' : String(b).replace('.', '_')))]),
    );
  }

  derive(raw: RawInterval): DerivedValues {
    const started = Date.now();
    const seconds = this.opts.flushIntervalMs / 1000;
    const cv = raw.counters.values;
    const counterRates = new Float64Array(cv.length);
    for (let i = 0; i < cv.length; i++) counterRates[i] = cv[i]! / seconds;

    const { keys, samples, counts } = raw.timers;
    const timers: TimerStats[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) timers[i] = this.timer(keys[i]!, samples[i]!, counts[i]!, seconds);

    return {
      counterRates,
      timers,
      numStats: raw.counters.keys.length + keys.length + raw.gauges.keys.length + raw.sets.keys.length,
      processingTime: Date.now() - started,
    };
  }

  private timer(key: string, samples: number[], scaledCount: number, seconds: number): TimerStats {
    const names: string[] = [];
    const out: number[] = [];
    const put = (name: string | null | false, value: number): void => {
      if (name) {
        names.push(name);
        out.push(value);
      }
    };
    const b = this.base;
    const count = samples.length;
    if (count === 0) {
      put(b.count && 'count', 0);
      put(b.count_ps && 'count_ps', 0);
      return { names, values: out };
    }
    const values = Float64Array.from(samples).sort();
    const min = values[0]!;
    const max = values[count - 1]!;
    const cum = new Float64Array(count);
    const cumSq = new Float64Array(count);
    cum[0] = min;
    cumSq[0] = min * min;
    for (let i = 1; i < count; i++) {
      cum[i] = values[i]! + cum[i - 1]!;
      cumSq[i] = values[i]! * values[i]! + cumSq[i - 1]!;
    }

    for (const p of this.pcts) {
      let n = count;
      let sum = min;
      let sumSquares = min * min;
      let mean = min;
      let bound = max;
      if (count > 1) {
        n = Math.round((Math.abs(p.pct) / 100) * count);
        if (n === 0) continue;
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
    const median = count % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;

    put(b.std && 'std', Math.sqrt(sumOfDiffs / count));
    put(b.upper && 'upper', max);
    put(b.lower && 'lower', min);
    put(b.count && 'count', scaledCount);
    put(b.count_ps && 'count_ps', scaledCount / seconds);
    put(b.sum && 'sum', sum);
    put(b.sum_squares && 'sum_squares', cumSq[count - 1]!);
    put(b.mean && 'mean', mean);
    put(b.median && 'median', median);

    if (this.histogramOn) this.histogram(key, values, put);
    return { names, values: out };
  }

  /** First rule whose `match` is a substring of the key; a value goes in the first bin whose limit is above it. */
  private histogram(key: string, values: Float64Array, put: (name: string, value: number) => void): void {
    const rule = this.opts.histograms.find((r) => key.includes(r.match));
    if (!rule) return;
    const names = this.binNames.get(rule)!;
    let i = 0;
    for (let b = 0; b < rule.bins.length; b++) {
      const limit = rule.bins[b]!;
      let freq = 0;
      for (; i < values.length && (limit === Infinity || values[i]! < limit); i++) freq++;
      put(names[b]!, freq);
    }
  }
}
