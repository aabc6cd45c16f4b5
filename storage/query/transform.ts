/** Graphite's Transform functions: each series changed point by point or re-bucketed in time. */
import { AGG_FUNC_NAMES, getAggFunc, xff } from './aggfuncs.js';
import { QueryError } from './errors.js';
import { pyG, pyStr } from './format.js';
import { seriesList, type FunctionDef } from './registry.js';
import { derive, type Value } from './series.js';
import { parseInterval } from './time.js';
import type { TimeSeries } from './timeSeries.js';

const GROUP = 'Transform';

/** Renamed and changed point by point; the new name is also the path expression (Graphite mutates both). */
function mapValues(s: TimeSeries, name: string, f: (v: Value, i: number) => Value, tags: Record<string, string>): TimeSeries {
  return derive(s, { name, pathExpression: name, values: s.values.map(f) }, tags);
}

/** Graphite's _nonNegativeDelta: [delta, the value to compare the next one with]. */
function nonNegativeDelta(v: Value, prev: Value, maxValue: number | null, minValue: number | null): [Value, Value] {
  if (v === null) return [null, null];
  if ((maxValue !== null && v > maxValue) || (minValue !== null && v < minValue)) return [null, null];
  if (prev === null) return [null, v];
  if (v >= prev) return [v - prev, v];
  // the counter wrapped: past maxValue back to minValue (or 0), or just reset to minValue
  if (maxValue !== null) return [maxValue + 1 + v - prev - (minValue ?? 0), v];
  if (minValue !== null) return [v - minValue, v];
  return [null, v];
}

function deltas(s: TimeSeries, maxValue: number | null, minValue: number | null): Value[] {
  let prev: Value = null;
  return s.values.map((v) => {
    const [delta, next] = nonNegativeDelta(v, prev, maxValue, minValue);
    prev = next;
    return delta;
  });
}

/** Graphite's keepLastValue: a run of at most `limit` nulls after a value is filled with it. */
function keepLast(values: Value[], limit: number): Value[] {
  const out = [...values];
  let last: Value = null;
  let nulls = 0;
  const fill = (end: number): void => {
    if (nulls > 0 && nulls <= limit && last !== null) out.fill(last, end - nulls, end);
  };
  values.forEach((v, i) => {
    if (v === null) nulls++;
    else {
      fill(i);
      nulls = 0;
      last = v;
    }
  });
  fill(values.length);
  return out;
}

/**
 * Graphite's summarize: buckets of `interval` seconds, aligned to multiples of it since the epoch
 * (22:32 → 22:00–23:00) or starting at the series' start with alignToFrom. The default end is one
 * whole interval past the last boundary, as in Graphite.
 */
function summarize(s: TimeSeries, intervalText: string, func: string, alignToFrom: boolean): TimeSeries {
  const interval = parseInterval(intervalText);
  if (interval <= 0) throw new QueryError(`summarize(): interval "${intervalText}" must be positive`);
  const agg = getAggFunc(func);
  const mod = (a: number): number => ((a % interval) + interval) % interval;
  const start = alignToFrom ? s.start : s.start - mod(s.start);
  const end = alignToFrom ? s.end : s.end - mod(s.end) + interval;
  const count = Math.ceil((end - start) / interval);
  const buckets: Value[][] = Array.from({ length: count }, () => []);
  s.values.forEach((v, i) => buckets[Math.floor((s.start + i * s.step - start) / interval)]?.push(v));
  const slots = interval / s.step;
  const values = buckets.map((b) => (xff(b.filter((v) => v !== null).length, slots, s.xFilesFactor) ? agg(b) : null));
  const name = `summarize(${s.name}, "${intervalText}", "${func}"${alignToFrom ? ', true' : ''})`;
  return derive(s, { name, pathExpression: name, start, step: interval, values }, { summarize: intervalText, summarizeFunction: func });
}

export const TRANSFORM: FunctionDef[] = [
  {
    name: 'scale',
    group: GROUP,
    description: 'Multiplies each point by factor. Example: scale(host.cpu.busy,100)',
    params: [seriesList(), { name: 'factor', type: 'float', required: true }],
    impl: (_ctx, args) => {
      const factor = args.factor as number;
      return (args.seriesList as TimeSeries[]).map((s) => mapValues(s, `scale(${s.name},${pyG(factor)})`, (v) => (v === null ? null : v * factor), { scale: pyStr(factor) }));
    },
  },
  {
    name: 'offset',
    group: GROUP,
    description: 'Adds factor to each point. Example: offset(conn.total,-5)',
    params: [seriesList(), { name: 'factor', type: 'float', required: true }],
    impl: (_ctx, args) => {
      const factor = args.factor as number;
      return (args.seriesList as TimeSeries[]).map((s) => mapValues(s, `offset(${s.name},${pyG(factor)})`, (v) => (v === null ? null : v + factor), { offset: pyStr(factor) }));
    },
  },
  {
    name: 'absolute',
    group: GROUP,
    description: 'The absolute value of each point. Example: absolute(account.balance)',
    params: [seriesList()],
    impl: (_ctx, args) => (args.seriesList as TimeSeries[]).map((s) => mapValues(s, `absolute(${s.name})`, (v) => (v === null ? null : Math.abs(v)), { absolute: '1' })),
  },
  {
    name: 'derivative',
    group: GROUP,
    description: 'The change from the previous point (null when either is null); see perSecond for a rate. Example: derivative(if.eth0.txPackets)',
    params: [seriesList()],
    impl: (_ctx, args) =>
      (args.seriesList as TimeSeries[]).map((s) =>
        mapValues(s, `derivative(${s.name})`, (v, i) => {
          const prev = i > 0 ? s.values[i - 1]! : null;
          return v === null || prev === null ? null : v - prev;
        }, { derivative: '1' }),
      ),
  },
  {
    name: 'nonNegativeDerivative',
    group: GROUP,
    description:
      'Like derivative, but a decrease gives null, or with maxValue the delta as if the counter wrapped past maxValue (back to minValue, or 0); with only minValue, the value minus minValue. Values above maxValue or below minValue are null. Example: nonNegativeDerivative(if.eth0.rxBytes,4294967295)',
    params: [seriesList(), { name: 'maxValue', type: 'float' }, { name: 'minValue', type: 'float' }],
    impl: (_ctx, args) =>
      (args.seriesList as TimeSeries[]).map((s) => {
        const values = deltas(s, args.maxValue as number | null, args.minValue as number | null);
        return mapValues(s, `nonNegativeDerivative(${s.name})`, (_v, i) => values[i]!, { nonNegativeDerivative: '1' });
      }),
  },
  {
    name: 'perSecond',
    group: GROUP,
    description: 'nonNegativeDerivative divided by the step in seconds (rounded to 6 decimals): the per-second rate of a counter. Example: perSecond(if.eth0.rxBytes)',
    params: [seriesList(), { name: 'maxValue', type: 'float' }, { name: 'minValue', type: 'float' }],
    impl: (_ctx, args) =>
      (args.seriesList as TimeSeries[]).map((s) => {
        const values = deltas(s, args.maxValue as number | null, args.minValue as number | null);
        return mapValues(s, `perSecond(${s.name})`, (_v, i) => (values[i] === null ? null : Number((values[i]! / s.step).toFixed(6))), { perSecond: '1' });
      }),
  },
  {
    name: 'integral',
    group: GROUP,
    description: 'The running total of the points (nulls stay null and add nothing). Example: integral(sales.perMinute)',
    params: [seriesList()],
    impl: (_ctx, args) =>
      (args.seriesList as TimeSeries[]).map((s) => {
        let total = 0;
        return mapValues(s, `integral(${s.name})`, (v) => (v === null ? null : (total += v)), { integral: '1' });
      }),
  },
  {
    name: 'keepLastValue',
    group: GROUP,
    description: 'Fills runs of at most limit nulls with the last value before them (nulls before the first value stay). Example: keepLastValue(host.conn,10)',
    params: [seriesList(), { name: 'limit', type: 'intOrInf', default: Infinity }],
    impl: (_ctx, args) =>
      (args.seriesList as TimeSeries[]).map((s) => {
        const name = `keepLastValue(${s.name})`;
        return derive(s, { name, pathExpression: name, values: keepLast(s.values, args.limit as number) });
      }),
  },
  {
    name: 'transformNull',
    group: GROUP,
    description: 'Replaces nulls with default; with referenceSeries, only where one of those has a value. Example: transformNull(web.pages.*.views,-1)',
    params: [seriesList(), { name: 'default', type: 'float', default: 0 }, { name: 'referenceSeries', type: 'seriesList' }],
    impl: (_ctx, args) => {
      const fill = args.default as number;
      const reference = args.referenceSeries as TimeSeries[] | null;
      const defaultAt = (i: number): Value => (reference === null || reference.some((r) => (r.values[i] ?? null) !== null) ? fill : null);
      return (args.seriesList as TimeSeries[]).map((s) => {
        const name = `transformNull(${s.name},${pyG(fill)}${reference === null ? '' : ',referenceSeries'})`;
        const tags: Record<string, string> = { transformNull: pyStr(fill), ...(reference === null ? {} : { referenceSeries: '1' }) };
        return mapValues(s, name, (v, i) => v ?? defaultAt(i), tags);
      });
    },
  },
  {
    name: 'delay',
    group: GROUP,
    description: 'Shifts the points later by steps slots (earlier when negative), padding with nulls. Example: delay(server.freeSpace,1)',
    params: [seriesList(), { name: 'steps', type: 'integer', required: true }],
    impl: (_ctx, args) => {
      const steps = args.steps as number;
      return (args.seriesList as TimeSeries[]).map((s) => {
        const name = `delay(${s.name},${steps})`;
        const values = s.values.map((_v, i) => s.values[i - steps] ?? null);
        return derive(s, { name, pathExpression: name, values }, { delay: pyStr(steps) });
      });
    },
  },
  {
    name: 'summarize',
    group: GROUP,
    description:
      'Buckets of intervalString (e.g. "1h") combined with func (default sum). Buckets align to multiples of the interval since the epoch (22:32 → 22:00), or to the series start with alignToFrom. Example: summarize(counter.errors,"1h","sum")',
    params: [
      seriesList(),
      { name: 'intervalString', type: 'interval', required: true, suggestions: ['10min', '1h', '1d'] },
      { name: 'func', type: 'aggFunc', default: 'sum', options: AGG_FUNC_NAMES },
      { name: 'alignToFrom', type: 'boolean', default: false },
    ],
    impl: (_ctx, args) => (args.seriesList as TimeSeries[]).map((s) => summarize(s, args.intervalString as string, args.func as string, args.alignToFrom as boolean)),
  },
  {
    name: 'timeShift',
    group: GROUP,
    description:
      'The series as they were timeShift earlier ("7d" or "-7d"; "+1h" shifts forward), drawn over the current range. resetEnd (default true) ends them where the unshifted series end. alignDst is accepted for compatibility; tally works in UTC, which has no DST. Example: timeShift(sales.total,"7d")',
    params: [
      seriesList(),
      { name: 'timeShift', type: 'interval', required: true, suggestions: ['1h', '6h', '12h', '1d', '2d', '7d', '14d', '30d'] },
      { name: 'resetEnd', type: 'boolean', default: true },
      { name: 'alignDst', type: 'boolean', default: false },
    ],
    impl: (ctx, args) => {
      const current = args.seriesList as TimeSeries[];
      if (current.length === 0) return [];
      // no sign means back in time
      const shift = /^\d/.test(args.timeShift as string) ? `-${args.timeShift as string}` : (args.timeShift as string);
      const delta = parseInterval(shift);
      const base = current[0]!;
      return ctx.reevaluate('seriesList', ctx.from + delta, ctx.until + delta).map((s) => {
        const values = args.resetEnd ? s.values.slice(0, Math.ceil((base.end - base.start) / s.step)) : s.values;
        return derive(s, { name: `timeShift(${s.name}, "${shift}")`, start: base.start, values }, { timeShift: shift });
      });
    },
  },
];
