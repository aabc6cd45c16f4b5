/** What Graphite's render functions work on: one series over [start, end) at a fixed step. */
export interface TimeSeries {
  /** the name shown as `target` (a path, or the function expression that made it) */
  name: string;
  /** the path expression it came from, for aliasByNode and asPercent grouping */
  pathExpression: string;
  /** Graphite tags; `name` is always set */
  tags: Record<string, string>;
  /** unix seconds, a multiple of step; values[i] is the slot starting at start + i * step */
  start: number;
  /** exclusive: start + values.length * step */
  end: number;
  step: number;
  values: (number | null)[];
  /** how maxDataPoints folds slots together (consolidateBy); default average */
  consolidationFunc: ConsolidationFunc;
  xFilesFactor: number;
}

export type ConsolidationFunc = 'average' | 'sum' | 'min' | 'max' | 'first' | 'last';

/** How one stored name reads as a number per bucket. */
export type ValueReader =
  | { kind: 'value' } // series: mean; count: sum; gauge: last; histogram: mean; set: distinct members
  | { kind: 'percentile'; n: number } // histogram buckets (timer_samples), nearest-rank
  | { kind: 'unique' }; // set buckets (set_members)

/** Where the store's data comes from for a render: one call per path expression in a target. */
export interface SeriesFetcher {
  /**
   * Every stored series whose name matches the Graphite glob `pattern`, read with `reader` over
   * [from, until), each from the finest interval whose retention covers `from` (Whisper's rule),
   * with null for empty buckets. Sorted by name. [] when nothing matches.
   */
  fetch(pattern: string, reader: ValueReader, from: number, until: number): TimeSeries[];
}
