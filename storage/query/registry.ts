/**
 * How a render function is declared: its /functions catalog entry (group, description, params)
 * and its implementation side by side, so the catalog and the evaluator can't disagree.
 */
import type { TimeSeries, ValueReader } from './timeSeries.js';

/** Graphite's parameter types (functions/params.py), which Grafana's function editor understands. */
export type ParamType =
  | 'seriesList'
  | 'float'
  | 'integer'
  | 'intOrInf'
  | 'string'
  | 'boolean'
  | 'interval'
  | 'intOrInterval'
  | 'node'
  | 'nodeOrTag'
  | 'aggFunc'
  | 'aggOrSeriesFunc'
  | 'any';

export interface ParamSpec {
  name: string;
  type: ParamType;
  required?: boolean;
  default?: string | number | boolean;
  /** takes all remaining positional arguments */
  multiple?: boolean;
  options?: readonly string[];
  suggestions?: readonly (string | number)[];
  /** tally's fetch functions: bind the metric path itself instead of fetching it as values */
  pattern?: boolean;
}

export type ArgValue = number | string | boolean | null | TimeSeries[] | ArgValue[];

/** Bound arguments by parameter name; absent optional ones hold their default or null. */
export type Args = Record<string, ArgValue>;

export interface CallContext {
  from: number;
  until: number;
  now: number;
  /** The expression bound to `param`, evaluated again over another range (movingAverage's lead-in, timeShift). */
  reevaluate(param: string, from: number, until: number): TimeSeries[];
  /** The store's series matching `pattern` over [from, until), read with `reader`. */
  fetch(pattern: string, reader: ValueReader): TimeSeries[];
}

export interface FunctionDef {
  name: string;
  /** Graphite's grouping in /functions: Combine, Transform, Calculate, Filter Series, Alias, Special, Sorting */
  group: string;
  description: string;
  /** graphite.render.functions for Graphite's own, tally for tally's additions */
  module?: string;
  params: ParamSpec[];
  impl(ctx: CallContext, args: Args): TimeSeries[];
}

export const seriesList = (name = 'seriesList'): ParamSpec => ({ name, type: 'seriesList', required: true });

/** `sum` → the same function as `sumSeries` under another name (Graphite lists both). */
export function aliasOf(def: FunctionDef, name: string): FunctionDef {
  return { ...def, name };
}
