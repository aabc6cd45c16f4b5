/** Building and lining up TimeSeries the way graphite-web's TimeSeries class and normalize() do. */
import { consolidateTo } from './consolidate.js';
import { firstPathExpression } from './expr.js';
import { splitTags } from './glob.js';
import type { TimeSeries } from './timeSeries.js';

export type Value = number | null;

/** Graphite's tags for a new series: a function-looking name is only `name`, else a tagged path is parsed. */
function nameTags(name: string): Record<string, string> {
  if (/^[a-z]+\(.+\)$/i.test(name)) return { name };
  const { path, tags } = splitTags(name);
  return { ...tags, name: path };
}

/** A new series (Graphite's `TimeSeries(name, start, end, step, values)`): its path expression is its name. */
export function makeSeries(name: string, start: number, step: number, values: Value[], extra: Partial<TimeSeries> = {}): TimeSeries {
  return {
    name,
    pathExpression: name,
    tags: nameTags(name),
    consolidationFunc: 'average',
    xFilesFactor: 0,
    ...extra,
    start,
    step,
    values,
    end: start + values.length * step,
  };
}

/** A copy of `s` with some fields changed and tags added (values of Graphite tags are strings); `end` follows. */
export function derive(s: TimeSeries, change: Partial<Omit<TimeSeries, 'end'>>, addTags: Record<string, string> = {}): TimeSeries {
  const next = { ...s, ...change, tags: { ...s.tags, ...addTags } };
  return { ...next, end: next.start + next.values.length * next.step };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Series brought to one grid: the LCM of their steps, from the earliest start to the latest end. */
export interface Grid {
  series: TimeSeries[];
  start: number;
  end: number;
  step: number;
}

/**
 * Graphite's normalize(): every series consolidated (its own function and xFilesFactor) to the LCM
 * of the steps. Buckets are aligned to multiples of that step, so series that start at different
 * times still line up by timestamp. `list` must not be empty.
 */
export function normalize(list: TimeSeries[]): Grid {
  const step = list.map((s) => s.step).reduce((a, b) => (a / gcd(a, b)) * b);
  const series = list.map((s) => consolidateTo(s, step));
  const start = Math.min(...series.map((s) => s.start));
  let end = Math.max(...series.map((s) => s.end));
  end -= (end - start) % step;
  return { series, start, end, step };
}

function valueAt(s: TimeSeries, t: number): Value {
  const i = (t - s.start) / s.step;
  return Number.isInteger(i) && i >= 0 && i < s.values.length ? s.values[i]! : null;
}

/** One row per grid slot: each series' value there (null outside its range). */
export function rows(grid: Grid): Value[][] {
  const out: Value[][] = [];
  for (let t = grid.start; t < grid.end; t += grid.step) out.push(grid.series.map((s) => valueAt(s, t)));
  return out;
}

/** The series' path expressions, de-duplicated, comma-joined: how Graphite names combined series. */
export function formatPathExpressions(list: TimeSeries[]): string {
  return [...new Set(list.map((s) => s.pathExpression))].join(',');
}

/**
 * Graphite's aggKey: the chosen name elements (negative counts from the end) or tag values, dot-joined.
 * Elements come from the first path expression when the name is a function call; an index out of
 * range falls back to a tag of that name, '' if there is none.
 */
export function aggKey(s: TimeSeries, nodes: readonly (number | string)[]): string {
  const source = (s.name.endsWith(')') ? firstPathExpression(s.name) : undefined) ?? s.name;
  const parts = source.split(';')[0]!.split('.');
  return nodes
    .map((n) => {
      if (typeof n === 'number') {
        const i = n < 0 ? parts.length + n : n;
        if (i >= 0 && i < parts.length) return parts[i]!;
      }
      return s.tags[String(n)] ?? '';
    })
    .join('.');
}
