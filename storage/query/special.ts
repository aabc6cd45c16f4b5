/** consolidateBy, and tally's fetch functions that read histogram and set buckets instead of values. */
import { QueryError } from './errors.js';
import { pyG, pyStr } from './format.js';
import { seriesList, type FunctionDef } from './registry.js';
import { derive } from './series.js';
import type { ConsolidationFunc, TimeSeries } from './timeSeries.js';

/** Graphite's consolidateBy names; avg is average. avg_zero is not supported (the store's type has no such fold). */
const CONSOLIDATIONS: Record<string, ConsolidationFunc> = { sum: 'sum', average: 'average', avg: 'average', min: 'min', max: 'max', first: 'first', last: 'last' };

function consolidateBy(list: TimeSeries[], func: string): TimeSeries[] {
  // func was checked against the options when the arguments were bound
  const f = CONSOLIDATIONS[func]!;
  return list.map((s) => {
    const name = `consolidateBy(${s.name},"${func}")`;
    return derive(s, { name, pathExpression: name, consolidationFunc: f }, { consolidateBy: func });
  });
}

const PATTERN = { ...seriesList(), pattern: true };

export const SPECIAL: FunctionDef[] = [
  {
    name: 'consolidateBy',
    group: 'Special',
    description: 'How points are folded together when there are more than maxDataPoints (and when series of different steps are combined): sum, average, min, max, first or last (default average). Example: consolidateBy(sales.count,"sum")',
    params: [seriesList(), { name: 'consolidationFunc', type: 'string', required: true, options: Object.keys(CONSOLIDATIONS) }],
    impl: (_ctx, args) => consolidateBy(args.seriesList as TimeSeries[], args.consolidationFunc as string),
  },
  {
    name: 'cumulative',
    group: 'Special',
    description: 'consolidateBy(seriesList, "sum"). Example: cumulative(sales.widgets)',
    params: [seriesList()],
    impl: (_ctx, args) => consolidateBy(args.seriesList as TimeSeries[], 'sum'),
  },
  {
    name: 'percentile',
    group: 'Special',
    module: 'tally',
    description:
      "tally: the n-th percentile (0 < n <= 100, nearest rank) of a timer's samples in each bucket, read from the stored histograms rather than from averages. The first argument must be a metric path. Example: percentile(api.latency,99)",
    params: [PATTERN, { name: 'n', type: 'float', required: true, suggestions: [50, 90, 95, 99, 99.9] }],
    impl: (ctx, args) => {
      const n = args.n as number;
      if (!(n > 0 && n <= 100)) throw new QueryError(`percentile(): n must be in (0, 100], got ${pyStr(n)}`);
      const pattern = args.seriesList as string;
      return ctx.fetch(pattern, { kind: 'percentile', n }).map((s) =>
        derive(s, { name: `percentile(${s.name},${pyG(n)})`, pathExpression: `percentile(${pattern},${pyG(n)})` }, { percentile: pyStr(n) }),
      );
    },
  },
  {
    name: 'unique',
    group: 'Special',
    module: 'tally',
    description:
      "tally: the number of distinct members of a set in each bucket, read from the stored set members (so coarser buckets count each member once). The argument must be a metric path. Not Graphite's unique(), which de-duplicates series by name. Example: unique(api.users)",
    params: [PATTERN],
    impl: (ctx, args) => {
      const pattern = args.seriesList as string;
      return ctx.fetch(pattern, { kind: 'unique' }).map((s) => derive(s, { name: `unique(${s.name})`, pathExpression: `unique(${pattern})` }, { unique: '1' }));
    },
  },
];
