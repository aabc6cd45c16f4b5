/** Graphite's moving-window functions (Calculate group). */
import { AGG_FUNC_NAMES, getAggFunc, xff } from './aggfuncs.js';
import { QueryError } from './errors.js';
import { pyStr } from './format.js';
import { seriesList, type CallContext, type FunctionDef, type ParamSpec } from './registry.js';
import { derive } from './series.js';
import { parseInterval } from './time.js';
import type { TimeSeries } from './timeSeries.js';

const GROUP = 'Calculate';
const WINDOW: ParamSpec = { name: 'windowSize', type: 'intOrInterval', required: true, suggestions: [5, 7, 10, '1min', '5min', '10min', '30min', '1hour'] };
const XFF: ParamSpec = { name: 'xFilesFactor', type: 'float' };

/**
 * Graphite's movingWindow: each point is `func` over the window *before* it (N points, or a time
 * like "5min"). So that the first points have a full window, the inner expression is evaluated
 * again from `from - window`, and only points from the original start on are kept.
 */
function movingWindow(ctx: CallContext, list: TimeSeries[], window: number | string, func: string, xFilesFactor: number | null): TimeSeries[] {
  if (list.length === 0) return [];
  const agg = getAggFunc(func);
  let lead: number;
  if (typeof window === 'string') lead = Math.abs(parseInterval(window));
  else if (Number.isInteger(window) && window > 0) lead = Math.max(...list.map((s) => s.step)) * window;
  else throw new QueryError(`moving window ${window}: expected a positive number of points or an interval such as "5min"`);
  const tag = `moving${func[0]!.toUpperCase()}${func.slice(1).toLowerCase()}`;
  return ctx.reevaluate('seriesList', ctx.from - lead, ctx.until).map((s) => {
    const points = typeof window === 'string' ? Math.floor(lead / s.step) : window;
    const name = typeof window === 'string' ? `${tag}(${s.name},"${window}")` : `${tag}(${s.name},${window})`;
    const factor = xFilesFactor ?? s.xFilesFactor;
    const first = Math.max(points, Math.ceil(lead / s.step));
    const values = s.values.slice(first).map((_v, k) => {
      const w = s.values.slice(first + k - points, first + k);
      const present = w.filter((v) => v !== null);
      return xff(present.length, points, factor) ? agg(present) : null;
    });
    return derive(s, { name, pathExpression: name, start: s.start + first * s.step, values }, { [tag]: pyStr(window) });
  });
}

function moving(name: string, func: string, what: string): FunctionDef {
  return {
    name,
    group: GROUP,
    description: `The ${what} of the preceding windowSize points (a number) or time (e.g. "5min"); xFilesFactor is the share of the window that must be non-null. Example: ${name}(host.threads.busy,"5min")`,
    params: [seriesList(), WINDOW, XFF],
    impl: (ctx, args) => movingWindow(ctx, args.seriesList as TimeSeries[], args.windowSize as number | string, func, args.xFilesFactor as number | null),
  };
}

export const CALCULATE: FunctionDef[] = [
  {
    name: 'movingWindow',
    group: GROUP,
    description: 'func (default average) over the preceding windowSize points (a number) or time (e.g. "5min"). Example: movingWindow(host.threads.idle,"5min","median",0.5)',
    params: [seriesList(), WINDOW, { name: 'func', type: 'aggFunc', default: 'average', options: AGG_FUNC_NAMES }, XFF],
    impl: (ctx, args) => movingWindow(ctx, args.seriesList as TimeSeries[], args.windowSize as number | string, args.func as string, args.xFilesFactor as number | null),
  },
  moving('movingAverage', 'average', 'average'),
  moving('movingSum', 'sum', 'sum'),
  moving('movingMin', 'min', 'minimum'),
  moving('movingMax', 'max', 'maximum'),
  moving('movingMedian', 'median', 'median'),
];
