/** Graphite's Filter Series and Sorting functions: which series to keep, and in what order. */
import { AGG_FUNC_NAMES, getAggFunc, xffValues } from './aggfuncs.js';
import { QueryError } from './errors.js';
import { pyRegExp } from './format.js';
import { seriesList, type FunctionDef } from './registry.js';
import type { TimeSeries } from './timeSeries.js';

const GROUP = 'Filter Series';

/** Stable sort by func's value of each series; a series with no value sorts as -Infinity (Graphite's keyFunc). */
function sortByAgg(list: TimeSeries[], func: string, descending: boolean): TimeSeries[] {
  const agg = getAggFunc(func);
  const key = new Map(list.map((s) => [s, agg(s.values) ?? -Infinity]));
  return [...list].sort((a, b) => {
    const d = key.get(a)! - key.get(b)!;
    return (descending ? -d : d) || 0;
  });
}

type Compare = (v: number | null, threshold: number) => boolean;
const OPERATORS: Record<string, Compare> = {
  '=': (v, t) => v !== null && v === t,
  '!=': (v, t) => v === null || v !== t,
  '>': (v, t) => v !== null && v > t,
  '>=': (v, t) => v !== null && v >= t,
  '<': (v, t) => v === null || v < t,
  '<=': (v, t) => v === null || v <= t,
};

function filterSeries(list: TimeSeries[], func: string, operator: string, threshold: number): TimeSeries[] {
  const agg = getAggFunc(func);
  // the operator was checked against the options when the arguments were bound
  const compare = OPERATORS[operator]!;
  return list.filter((s) => compare(agg(s.values), threshold));
}

const N = { name: 'n', type: 'integer', required: true } as const;

function ranked(name: string, func: string, descending: boolean, what: string): FunctionDef {
  return {
    name,
    group: GROUP,
    description: `The n series with the ${what}. Example: ${name}(server*.threads.busy,5)`,
    params: [seriesList(), N],
    impl: (_ctx, args) => sortByAgg(args.seriesList as TimeSeries[], func, descending).slice(0, args.n as number),
  };
}

function threshold(name: string, func: string, operator: string, what: string): FunctionDef {
  return {
    name,
    group: GROUP,
    description: `The series whose ${what} n. Example: ${name}(server*.threads.busy,50)`,
    params: [seriesList(), { name: 'n', type: 'float', required: true }],
    impl: (_ctx, args) => filterSeries(args.seriesList as TimeSeries[], func, operator, args.n as number),
  };
}

function regexFilter(name: string, keep: boolean): FunctionDef {
  return {
    name,
    group: GROUP,
    description: `${keep ? 'Keeps' : 'Drops'} the series whose name matches the regular expression. Example: ${name}(servers*.threads.busy,"server02")`,
    params: [seriesList(), { name: 'pattern', type: 'string', required: true }],
    impl: (_ctx, args) => {
      let re: RegExp;
      try {
        re = pyRegExp(args.pattern as string);
      } catch (e) {
        throw new QueryError(`${name}(): bad regular expression "${args.pattern as string}": ${(e as Error).message}`);
      }
      return (args.seriesList as TimeSeries[]).filter((s) => re.test(s.name) === keep);
    },
  };
}

/** sortByName(natural=true) compares numbers inside names by value: server2 < server11. */
const naturalKey = (name: string): string => name.replace(/\d+/g, (d) => d.padStart(10, '0'));

export const FILTER: FunctionDef[] = [
  {
    name: 'highest',
    group: GROUP,
    description: 'The n series with the highest value of func (default average) over the range. Example: highest(server*.threads.busy,5,"max")',
    params: [seriesList(), N, { name: 'func', type: 'aggFunc', default: 'average', options: AGG_FUNC_NAMES }],
    impl: (_ctx, args) => sortByAgg(args.seriesList as TimeSeries[], args.func as string, true).slice(0, args.n as number),
  },
  {
    name: 'lowest',
    group: GROUP,
    description: 'The n series with the lowest value of func (default average) over the range. Example: lowest(server*.threads.busy,5,"min")',
    params: [seriesList(), N, { name: 'func', type: 'aggFunc', default: 'average', options: AGG_FUNC_NAMES }],
    impl: (_ctx, args) => sortByAgg(args.seriesList as TimeSeries[], args.func as string, false).slice(0, args.n as number),
  },
  ranked('highestCurrent', 'current', true, 'highest last value'),
  ranked('highestAverage', 'average', true, 'highest average'),
  ranked('highestMax', 'max', true, 'highest maximum'),
  ranked('lowestCurrent', 'current', false, 'lowest last value'),
  ranked('lowestAverage', 'average', false, 'lowest average'),
  threshold('currentAbove', 'last', '>', 'last value is above'),
  threshold('currentBelow', 'last', '<=', 'last value is at most'),
  threshold('averageAbove', 'average', '>', 'average is above'),
  threshold('averageBelow', 'average', '<=', 'average is at most'),
  threshold('maximumAbove', 'max', '>', 'maximum is above'),
  threshold('maximumBelow', 'max', '<=', 'maximum is at most'),
  threshold('minimumAbove', 'min', '>', 'minimum is above'),
  threshold('minimumBelow', 'min', '<=', 'minimum is at most'),
  {
    name: 'filterSeries',
    group: GROUP,
    description: 'The series for which func over the range compares to threshold with operator (=, !=, >, >=, <, <=). Example: filterSeries(if.*.packetsSent,"max",">",1000)',
    params: [
      seriesList(),
      { name: 'func', type: 'aggFunc', required: true, options: AGG_FUNC_NAMES },
      { name: 'operator', type: 'string', required: true, options: Object.keys(OPERATORS).sort() },
      { name: 'threshold', type: 'float', required: true },
    ],
    impl: (_ctx, args) => filterSeries(args.seriesList as TimeSeries[], args.func as string, args.operator as string, args.threshold as number),
  },
  {
    name: 'limit',
    group: GROUP,
    description: 'The first n series. Example: limit(server*.memory.free,5)',
    params: [seriesList(), N],
    impl: (_ctx, args) => (args.seriesList as TimeSeries[]).slice(0, args.n as number),
  },
  regexFilter('exclude', false),
  regexFilter('grep', true),
  {
    name: 'removeEmptySeries',
    group: GROUP,
    description: 'Drops series without values (or with fewer than xFilesFactor of them non-null). Example: removeEmptySeries(server*.threads.busy)',
    params: [seriesList(), { name: 'xFilesFactor', type: 'float' }],
    impl: (_ctx, args) => (args.seriesList as TimeSeries[]).filter((s) => xffValues(s.values, (args.xFilesFactor as number | null) ?? 0)),
  },
  {
    name: 'sortByName',
    group: 'Sorting',
    description: 'Sorts the series by name, naturally (server2 before server11) if natural is true. Example: sortByName(server*.load,true)',
    params: [seriesList(), { name: 'natural', type: 'boolean', default: false }, { name: 'reverse', type: 'boolean', default: false }],
    impl: (_ctx, args) => {
      const key = args.natural ? naturalKey : (n: string): string => n;
      const sorted = [...(args.seriesList as TimeSeries[])].sort((a, b) => (key(a.name) < key(b.name) ? -1 : key(a.name) > key(b.name) ? 1 : 0));
      return args.reverse ? sorted.reverse() : sorted;
    },
  },
];
