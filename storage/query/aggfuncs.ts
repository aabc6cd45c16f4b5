/**
 * Graphite's aggregation functions (functions/aggfuncs.py): what summarize, aggregate, highest,
 * movingWindow and friends apply to a list of values. Nulls are skipped; no values → null.
 */
import { QueryError } from './errors.js';

export type Values = readonly (number | null)[];
export type AggFunc = (values: Values) => number | null;

const present = (values: Values): number[] => values.filter((v): v is number => v !== null);
const sum = (v: number[]): number => v.reduce((a, b) => a + b, 0);
const orNull = (f: (v: number[]) => number): AggFunc => (values) => {
  const v = present(values);
  return v.length > 0 ? f(v) : null;
};

const average = orNull((v) => sum(v) / v.length);
const total = orNull(sum);
const last = orNull((v) => v[v.length - 1]!);
const range = orNull((v) => Math.max(...v) - Math.min(...v));

const FUNCS: Record<string, AggFunc> = {
  average,
  // nulls count as zeros, but only an empty list has no average
  avg_zero: (values) => (values.length > 0 ? sum(values.map((v) => v ?? 0)) / values.length : null),
  median: orNull((v) => {
    const s = [...v].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 0 ? (s[mid - 1]! + s[mid]!) / 2 : s[mid]!;
  }),
  sum: total,
  min: orNull((v) => Math.min(...v)),
  max: orNull((v) => Math.max(...v)),
  diff: orNull((v) => v.slice(1).reduce((a, b) => a - b, v[0]!)),
  stddev: orNull((v) => {
    const mean = sum(v) / v.length;
    return Math.sqrt(sum(v.map((x) => (x - mean) ** 2)) / v.length);
  }),
  count: (values) => present(values).length,
  range,
  // any null makes the product null (Graphite's safeMul)
  multiply: (values) => (values.length === 0 || values.includes(null) ? null : (values as number[]).reduce((a, b) => a * b, 1)),
  last,
};

const ALIASES: Record<string, AggFunc> = { rangeOf: range, avg: average, total, current: last };

/** Every name summarize/aggregate/highest accept, for /functions. */
export const AGG_FUNC_NAMES: readonly string[] = [...Object.keys(FUNCS), ...Object.keys(ALIASES)];

export function getAggFunc(name: string, shownAs = name): AggFunc {
  const f = Object.hasOwn(FUNCS, name) ? FUNCS[name] : Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
  if (f === undefined) {
    throw new QueryError(`unsupported aggregation function "${shownAs}": expected one of ${AGG_FUNC_NAMES.join(', ')}`);
  }
  return f;
}

/** Graphite's xFilesFactor test: enough of `total` slots are non-null (and at least one is). */
export function xff(nonNull: number, total: number, factor: number): boolean {
  return nonNull > 0 && total > 0 && nonNull / total >= factor;
}

export function xffValues(values: Values, factor: number): boolean {
  return xff(present(values).length, values.length, factor);
}
