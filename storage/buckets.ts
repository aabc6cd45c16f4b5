/**
 * What one bucket of each store type holds, how buckets merge over a range, and how they read as
 * numbers. Pure: the SQLite layer only loads rows into these shapes.
 */

export interface SeriesStats {
  n: number;
  sum: number;
  min: number;
  max: number;
  last: number;
}

export type BucketData =
  | { type: 'count'; v: number }
  | { type: 'gauge'; v: number }
  | { type: 'series'; s: SeriesStats }
  | { type: 'histogram'; h: Map<number, number> } // value → occurrences
  | { type: 'set'; members: Set<string> };

/** `value` rounded to `digits` significant digits, as a histogram keeps it. */
export function roundSignificant(value: number, digits: number): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  return Number(value.toPrecision(digits));
}

/** Several buckets of one series as one: the value of a whole range. Buckets are in time order. */
export function mergeBuckets(buckets: BucketData[]): BucketData | undefined {
  const first = buckets[0];
  if (first === undefined || buckets.length === 1) return first;
  switch (first.type) {
    case 'count':
      return { type: 'count', v: buckets.reduce((a, b) => a + (b as { v: number }).v, 0) };
    case 'gauge':
      return buckets[buckets.length - 1];
    case 'series': {
      const s: SeriesStats = { n: 0, sum: 0, min: Infinity, max: -Infinity, last: 0 };
      for (const b of buckets as { s: SeriesStats }[]) {
        s.n += b.s.n;
        s.sum += b.s.sum;
        s.min = Math.min(s.min, b.s.min);
        s.max = Math.max(s.max, b.s.max);
        s.last = b.s.last;
      }
      return { type: 'series', s };
    }
    case 'histogram': {
      const h = new Map<number, number>();
      for (const b of buckets as { h: Map<number, number> }[]) for (const [v, n] of b.h) h.set(v, (h.get(v) ?? 0) + n);
      return { type: 'histogram', h };
    }
    case 'set': {
      const members = new Set<string>();
      for (const b of buckets as { members: Set<string> }[]) for (const m of b.members) members.add(m);
      return { type: 'set', members };
    }
  }
}

/**
 * Nearest-rank percentile of a distribution: the smallest value v such that at least p% of the
 * occurrences are ≤ v (rank ceil(p/100 · N), at least 1). p = 0 gives the minimum, 100 the maximum.
 */
export function percentile(h: Map<number, number>, p: number): number | null {
  let total = 0;
  for (const n of h.values()) total += n;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  const values = [...h.keys()].sort((a, b) => a - b);
  let seen = 0;
  for (const v of values) {
    seen += h.get(v)!;
    if (seen >= rank) return v;
  }
  return values[values.length - 1]!;
}

function histogramCount(h: Map<number, number>): number {
  let total = 0;
  for (const n of h.values()) total += n;
  return total;
}

function extreme(h: Map<number, number>, sign: 1 | -1): number | null {
  let best: number | null = null;
  for (const v of h.keys()) if (best === null || (v - best) * sign > 0) best = v;
  return best;
}

function histogramMean(h: Map<number, number>): number | null {
  let total = 0;
  let sum = 0;
  for (const [v, n] of h) {
    total += n;
    sum += v * n;
  }
  return total === 0 ? null : sum / total;
}

/** The functions of torus' `/series` per type (`p99.9` style percentiles are parsed separately). */
export const FUNCTIONS_OF_TYPE = {
  count: ['sum', 'count'],
  gauge: ['last'],
  series: ['avg', 'min', 'max', 'sum', 'count', 'last'],
  histogram: ['mean', 'count', 'min', 'max', 'pNN'],
  set: ['unique'],
} as const;

/** A stat function: `avg`, `p99.9`, `unique`... or `value` for the type's natural reading. */
export type ReadFunction = string;

/**
 * One bucket (or a merged range) as a number. `value` is the type's natural reading, the one
 * /render uses: a series' mean, a count's sum, a gauge's last value, a histogram's mean, a set's
 * number of members. Returns undefined when the function does not apply to the type.
 */
export function readBucket(b: BucketData, fn: ReadFunction): number | null | undefined {
  switch (b.type) {
    case 'count':
      return fn === 'value' || fn === 'sum' || fn === 'count' ? b.v : undefined;
    case 'gauge':
      return fn === 'value' || fn === 'last' ? b.v : undefined;
    case 'series': {
      const s = b.s;
      if (fn === 'value' || fn === 'avg') return s.n === 0 ? null : s.sum / s.n;
      const direct: Record<string, number> = { min: s.min, max: s.max, sum: s.sum, count: s.n, last: s.last };
      return direct[fn];
    }
    case 'histogram': {
      if (fn === 'value' || fn === 'mean') return histogramMean(b.h);
      if (fn === 'count') return histogramCount(b.h);
      if (fn === 'min' || fn === 'max') return extreme(b.h, fn === 'min' ? -1 : 1);
      const p = parsePercentileFunction(fn);
      return p === undefined ? undefined : percentile(b.h, p);
    }
    case 'set':
      return fn === 'value' || fn === 'unique' || fn === 'count' ? b.members.size : undefined;
  }
}

/** "p99.9" → 99.9; anything else → undefined. */
export function parsePercentileFunction(fn: string): number | undefined {
  const m = /^p(\d+(?:\.\d+)?)$/.exec(fn);
  if (m === null) return undefined;
  const p = Number(m[1]);
  return p <= 100 ? p : undefined;
}
