/** Graphite's Combine functions: several series → fewer, on a common grid (normalize). */
import { AGG_FUNC_NAMES, getAggFunc, xffValues } from './aggfuncs.js';
import { QueryError } from './errors.js';
import { pyStr } from './format.js';
import { aliasOf, seriesList, type ArgValue, type FunctionDef } from './registry.js';
import { aggKey, derive, formatPathExpressions, makeSeries, normalize, rows, type Value } from './series.js';
import type { TimeSeries } from './timeSeries.js';

const GROUP = 'Combine';
const lists = { name: 'seriesLists', type: 'seriesList', required: true, multiple: true } as const;

/**
 * Graphite's aggregate(): one series whose slots are `func` over the series' slots, named
 * `<func>Series(<path expressions>)` (a trailing "Series" in `func` is dropped first), tagged with
 * the tags all inputs share plus aggregatedBy. A slot with no values (or fewer than xFilesFactor) is null.
 */
export function aggregate(list: TimeSeries[], rawFunc: string, xFilesFactor = 0): TimeSeries[] {
  const func = rawFunc.endsWith('Series') ? rawFunc.slice(0, -'Series'.length) : rawFunc;
  const agg = getAggFunc(func, rawFunc);
  if (list.length === 0) return [];
  const grid = normalize(list);
  const name = `${func}Series(${formatPathExpressions(grid.series)})`;
  const values = rows(grid).map((row) => (xffValues(row, xFilesFactor) ? agg(row) : null));
  let tags = { ...grid.series[0]!.tags };
  for (const s of grid.series) tags = Object.fromEntries(Object.entries(tags).filter(([k, v]) => s.tags[k] === v));
  tags.name ??= name;
  tags.aggregatedBy = func;
  return [makeSeries(name, grid.start, grid.step, values, { tags, xFilesFactor })];
}

/** sumSeries and friends: aggregate() over all the lists given. */
function aggregator(name: string, func: string, description: string): FunctionDef {
  return {
    name,
    group: GROUP,
    description,
    params: [lists],
    impl: (_ctx, args) => aggregate((args.seriesLists as TimeSeries[][]).flat(), func),
  };
}

const sumSeries = aggregator('sumSeries', 'sum', 'Short form: sum(). Adds the series together at each point (nulls ignored; a point where all are null stays null). Example: sumSeries(host.*.requests)');
const averageSeries = aggregator('averageSeries', 'average', 'Short form: avg(). The average of the series at each point, nulls ignored. Example: averageSeries(host.*.load)');

const safeDiv = (a: Value, b: Value): Value => (a === null || b === null || b === 0 ? null : a / b);
const percent = (a: Value, b: Value): Value => {
  const q = safeDiv(a, b);
  return q === null ? null : q * 100;
};
const safeSum = (row: Value[]): Value => getAggFunc('sum')(row);

/** Each series as a percentage of `total` on their common grid. */
function percentOf(s: TimeSeries, total: TimeSeries, name: string): TimeSeries {
  const grid = normalize([s, total]);
  const values = rows(grid).map(([v, t]) => percent(v ?? null, t ?? null));
  return makeSeries(name, grid.start, grid.step, values);
}

/** A sum of the group, or the series itself when it is alone (asPercent's totals). */
function totalOf(group: TimeSeries[]): TimeSeries {
  if (group.length === 1) return group[0]!;
  const grid = normalize(group);
  return makeSeries(`sumSeries(${formatPathExpressions(group)})`, grid.start, grid.step, rows(grid).map(safeSum));
}

function missing(s: TimeSeries, name: string): TimeSeries {
  return makeSeries(name, s.start, s.step, s.values.map(() => null));
}

/** asPercent with nodes: series and totals matched by their node keys, like groupByNodes. */
function asPercentByNodes(list: TimeSeries[], total: ArgValue, nodes: (number | string)[]): TimeSeries[] {
  const keys: string[] = [];
  const groups = new Map<string, TimeSeries[]>();
  const add = (map: Map<string, TimeSeries[]>, s: TimeSeries): void => {
    const key = aggKey(s, nodes);
    if (!keys.includes(key)) keys.push(key);
    map.set(key, [...(map.get(key) ?? []), s]);
  };
  for (const s of list) add(groups, s);
  const totalGroups = new Map<string, TimeSeries[]>();
  if (total === null) for (const [k, g] of groups) totalGroups.set(k, g);
  else if (Array.isArray(total)) for (const t of total as TimeSeries[]) add(totalGroups, t);
  else throw new QueryError('asPercent(): with nodes, total must be None or a series list');
  const out: TimeSeries[] = [];
  for (const key of keys) {
    const group = totalGroups.get(key);
    const t = group && totalOf(group);
    const series = groups.get(key);
    if (series === undefined) out.push(missing(t!, `asPercent(MISSING,${t!.name})`));
    else for (const s of series) out.push(t ? percentOf(s, t, `asPercent(${s.name},${t.name})`) : missing(s, `asPercent(${s.name},MISSING)`));
  }
  return out;
}

function asPercent(list: TimeSeries[], total: ArgValue, nodes: (number | string)[]): TimeSeries[] {
  if (list.length === 0) return [];
  if (nodes.length > 0) return asPercentByNodes(list, total, nodes);
  if (Array.isArray(total)) {
    const totals = total as TimeSeries[];
    if (totals.length === list.length) {
      // matched one to one, by name
      const byName = (a: TimeSeries, b: TimeSeries): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
      const t = [...totals].sort(byName);
      return [...list].sort(byName).map((s, i) => percentOf(s, t[i]!, `asPercent(${s.name},${t[i]!.name})`));
    }
    if (totals.length !== 1) {
      throw new QueryError(`asPercent(): total must be missing, a number, one series or as many series as the first argument (${list.length}), got ${totals.length}`);
    }
    return list.map((s) => percentOf(s, totals[0]!, `asPercent(${s.name},${totals[0]!.name})`));
  }
  const grid = normalize(list);
  const table = rows(grid);
  const totalValues = typeof total === 'number' ? table.map(() => total) : table.map(safeSum);
  const totalText = typeof total === 'number' ? pyStr(total) : `sumSeries(${formatPathExpressions(list)})`;
  return grid.series.map((s, i) =>
    makeSeries(`asPercent(${s.name},${totalText})`, grid.start, grid.step, table.map((row, j) => percent(row[i] ?? null, totalValues[j] ?? null))),
  );
}

function groupByNodes(list: TimeSeries[], callback: string, nodes: (number | string)[]): TimeSeries[] {
  const groups = new Map<string, TimeSeries[]>();
  for (const s of list) {
    const key = aggKey(s, nodes);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  return [...groups].map(([key, group]) => derive(aggregate(group, callback)[0]!, { name: key }));
}

/** groupByNode's callback: an aggregation function or one of the *Series aggregators. */
const CALLBACKS = [...AGG_FUNC_NAMES, 'sumSeries', 'averageSeries', 'minSeries', 'maxSeries', 'diffSeries', 'multiplySeries', 'stddevSeries', 'rangeOfSeries'];

const multiplySeries: FunctionDef = {
  ...aggregator('multiplySeries', 'multiply', 'Multiplies the series point by point; a null anywhere makes the point null. Example: multiplySeries(a.rate,a.size)'),
  impl: (_ctx, args) => {
    const given = args.seriesLists as TimeSeries[][];
    // Graphite returns a lone series untouched
    return given.length === 1 && given[0]!.length === 1 ? given[0]! : aggregate(given.flat(), 'multiply');
  },
};

export const COMBINE: FunctionDef[] = [
  {
    name: 'aggregate',
    group: GROUP,
    description: 'Aggregates the series point by point with func (average, avg_zero, median, sum, min, max, diff, stddev, count, range, multiply, last). Example: aggregate(host.cpu-*.user, "sum")',
    params: [seriesList(), { name: 'func', type: 'aggFunc', required: true }, { name: 'xFilesFactor', type: 'float' }],
    impl: (_ctx, args) => aggregate(args.seriesList as TimeSeries[], args.func as string, (args.xFilesFactor as number | null) ?? 0),
  },
  sumSeries,
  aliasOf(sumSeries, 'sum'),
  averageSeries,
  aliasOf(averageSeries, 'avg'),
  aggregator('maxSeries', 'max', 'The largest of the series at each point. Example: maxSeries(host.*.connections)'),
  aggregator('minSeries', 'min', 'The smallest of the series at each point. Example: minSeries(host.*.free)'),
  aggregator('diffSeries', 'diff', 'Subtracts series 2 through n from series 1 at each point. Example: diffSeries(conn.total,conn.failed)'),
  multiplySeries,
  aggregator('stddevSeries', 'stddev', 'The standard deviation of the series at each point. Example: stddevSeries(host.*.load)'),
  aggregator('rangeOfSeries', 'rangeOf', 'Maximum minus minimum of the series at each point. Example: rangeOfSeries(host.*.load)'),
  {
    name: 'asPercent',
    group: GROUP,
    description:
      'Each series as a percentage of total: a series, as many series as the first argument (matched by name), a number, or None (the sum of the series). With nodes, series and totals are matched by those nodes. Example: asPercent(host.cpu.*.jiffies)',
    params: [seriesList(), { name: 'total', type: 'any' }, { name: 'nodes', type: 'nodeOrTag', multiple: true }],
    impl: (_ctx, args) => asPercent(args.seriesList as TimeSeries[], args.total ?? null, args.nodes as (number | string)[]),
  },
  {
    name: 'divideSeries',
    group: GROUP,
    description: 'Divides each dividend series by the divisor series (exactly one; a zero or null divisor gives null). Example: divideSeries(req.errors,req.total)',
    params: [seriesList('dividendSeriesList'), seriesList('divisorSeries')],
    impl: (_ctx, args) => {
      const dividends = args.dividendSeriesList as TimeSeries[];
      const divisors = args.divisorSeries as TimeSeries[];
      if (divisors.length === 0) {
        return dividends.map((s) => {
          const name = `divideSeries(${s.name},MISSING)`;
          return derive(s, { name, pathExpression: name, values: s.values.map(() => null) });
        });
      }
      if (divisors.length > 1) throw new QueryError(`divideSeries(): the divisor must be exactly one series, got ${divisors.length}`);
      const d = divisors[0]!;
      return dividends.map((s) => {
        const grid = normalize([s, d]);
        return makeSeries(`divideSeries(${s.name},${d.name})`, grid.start, grid.step, rows(grid).map(([a, b]) => safeDiv(a ?? null, b ?? null)));
      });
    },
  },
  {
    name: 'group',
    group: GROUP,
    description: 'Joins several series lists into one, e.g. to pass them as one argument. Example: group(a.b,c.d)',
    params: [{ ...lists, required: false }],
    impl: (_ctx, args) => (args.seriesLists as TimeSeries[][]).flat(),
  },
  {
    name: 'groupByNode',
    group: GROUP,
    description: 'Groups the series by one node (or tag) and aggregates each group with callback, naming it by the node. Example: groupByNode(host.*.cpu.load,1,"sum")',
    params: [seriesList(), { name: 'nodeNum', type: 'nodeOrTag', required: true }, { name: 'callback', type: 'aggOrSeriesFunc', default: 'average', options: CALLBACKS }],
    impl: (_ctx, args) => groupByNodes(args.seriesList as TimeSeries[], args.callback as string, [args.nodeNum as number | string]),
  },
  {
    name: 'groupByNodes',
    group: GROUP,
    description: 'Groups the series by several nodes (or tags) and aggregates each group with callback, naming it by those nodes joined with dots. Example: groupByNodes(host.*.cpu.*,"sum",1,3)',
    params: [seriesList(), { name: 'callback', type: 'aggOrSeriesFunc', required: true, options: CALLBACKS }, { name: 'nodes', type: 'nodeOrTag', multiple: true }],
    impl: (_ctx, args) => groupByNodes(args.seriesList as TimeSeries[], args.callback as string, args.nodes as (number | string)[]),
  },
];
