import type { RawInterval } from '../statsd/aggregator.js';
import type { DerivedValues } from '../statsd/processMetrics.js';

/** Datapoints that keep their own path and timestamp (carbon input), in arrival order. */
export interface NamedPoints {
  readonly names: readonly string[];
  readonly values: readonly number[];
  /** unix seconds, whole */
  readonly timestamps: readonly number[];
}

/** One flush interval, immutable once built: the raw material and the etsy math, computed once. */
export interface FlushSnapshot {
  /** the flush's wall-clock slot, whole unix seconds: every datapoint of the flush carries it */
  readonly ts: number;
  readonly intervalMs: number;
  readonly raw: RawInterval;
  readonly derived: DerivedValues;
  readonly named: NamedPoints;
  /** tally's own published meta stats at flush time: [dotted path under prefix_stats, value] */
  readonly meta: readonly (readonly [string, number])[];
}
