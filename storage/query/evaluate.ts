/** Render targets → series: parse, bind arguments to the registry's parameters, run, then maxDataPoints. */
import { AGG_FUNC_NAMES } from './aggfuncs.js';
import { applyMaxDataPoints } from './consolidate.js';
import { QueryError } from './errors.js';
import { parseTarget, type Arg, type CallExpr, type Expr } from './expr.js';
import { pyStr } from './format.js';
import { FUNCTIONS } from './functions.js';
import { graphiteJson } from './json.js';
import type { ArgValue, Args, FunctionDef, ParamSpec, ParamType } from './registry.js';
import { parseInterval } from './time.js';
import type { SeriesFetcher, TimeSeries, ValueReader } from './timeSeries.js';

export interface EvaluateContext {
  /** unix seconds; swapped if reversed, like Graphite */
  from: number;
  until: number;
  now: number;
  fetcher: SeriesFetcher;
  maxDataPoints?: number;
}

const EXPECTED: Record<ParamType, string> = {
  seriesList: 'a series list (a metric path or a function call)',
  float: 'a number',
  integer: 'an integer',
  intOrInf: 'an integer or inf',
  string: 'a quoted string',
  boolean: 'true or false',
  interval: 'a quoted interval such as "5min"',
  intOrInterval: 'a number of points or a quoted interval such as "5min"',
  node: 'a node index (an integer)',
  nodeOrTag: 'a node index (an integer) or a quoted tag name',
  aggFunc: `one of ${AGG_FUNC_NAMES.join(', ')}`,
  aggOrSeriesFunc: 'an aggregation function',
  any: 'anything',
};

function isInterval(v: ArgValue): boolean {
  if (typeof v !== 'string') return false;
  try {
    parseInterval(v);
    return true;
  } catch {
    return false;
  }
}

function accepts(p: ParamSpec, v: ArgValue): boolean {
  switch (p.type) {
    case 'seriesList':
      return Array.isArray(v);
    case 'float':
      return typeof v === 'number';
    case 'integer':
    case 'node':
      return Number.isInteger(v);
    case 'intOrInf':
      return Number.isInteger(v) || v === Infinity;
    case 'string':
      return typeof v === 'string' && (p.options === undefined || p.options.includes(v));
    case 'boolean':
      return typeof v === 'boolean';
    case 'interval':
      return isInterval(v);
    case 'intOrInterval':
      return Number.isInteger(v) || isInterval(v);
    case 'nodeOrTag':
      return Number.isInteger(v) || typeof v === 'string';
    case 'aggFunc':
      return typeof v === 'string' && AGG_FUNC_NAMES.includes(v);
    case 'aggOrSeriesFunc':
      return typeof v === 'string' && (p.options ?? AGG_FUNC_NAMES).includes(v);
    case 'any':
      return true;
  }
}

function describe(v: ArgValue): string {
  if (Array.isArray(v)) return 'a series list';
  if (typeof v === 'string') return `"${v}"`;
  return pyStr(v as number | boolean | null);
}

function isExpr(a: Arg): a is Expr {
  return a.type === 'path' || a.type === 'call';
}

/** Which argument syntax goes to which parameter: positionals in order (a `multiple` one takes the rest), then keywords. */
function bindSyntax(def: FunctionDef, call: CallExpr): Map<string, Arg | Arg[]> {
  const bound = new Map<string, Arg | Arg[]>();
  let i = 0;
  for (const p of def.params) {
    if (i >= call.args.length) break;
    if (p.multiple) {
      bound.set(p.name, call.args.slice(i));
      i = call.args.length;
    } else bound.set(p.name, call.args[i++]!);
  }
  if (i < call.args.length) throw new QueryError(`${def.name}(): too many arguments: it takes at most ${def.params.length}, got ${call.args.length}`);
  for (const [name, arg] of Object.entries(call.kwargs)) {
    const p = def.params.find((q) => q.name === name);
    if (p === undefined) throw new QueryError(`${def.name}(): unknown argument "${name}": expected one of ${def.params.map((q) => q.name).join(', ')}`);
    if (bound.has(name)) throw new QueryError(`${def.name}(): argument "${name}" given twice`);
    bound.set(name, p.multiple ? [arg] : arg);
  }
  return bound;
}

class Evaluator {
  /** one fetch per pattern, reader and range in a render, like Graphite's prefetch (functions never mutate series) */
  private readonly fetched = new Map<string, TimeSeries[]>();

  constructor(private readonly ctx: EvaluateContext) {}

  fetch(pattern: string, reader: ValueReader, from: number, until: number): TimeSeries[] {
    const key = JSON.stringify([pattern, reader, from, until]);
    let series = this.fetched.get(key);
    if (series === undefined) {
      series = this.ctx.fetcher.fetch(pattern, reader, from, until).map((s) => ({ ...s, pathExpression: pattern, tags: { name: s.name, ...s.tags } }));
      this.fetched.set(key, series);
    }
    return series;
  }

  expression(e: Expr, from: number, until: number): TimeSeries[] {
    if (e.type === 'path') return this.fetch(e.path, { kind: 'value' }, from, until);
    const def = FUNCTIONS.get(e.name);
    if (def === undefined) throw new QueryError(`unknown function "${e.name}"`);
    const syntax = bindSyntax(def, e);
    const args: Args = {};
    for (const p of def.params) args[p.name] = this.argument(def, p, syntax.get(p.name), from, until);
    return def.impl(
      {
        from,
        until,
        now: this.ctx.now,
        reevaluate: (param, f, u) => {
          const a = syntax.get(param);
          if (a === undefined || Array.isArray(a) || !isExpr(a)) throw new QueryError(`${def.name}(): argument "${param}" is not an expression`);
          return this.expression(a, f, u);
        },
        fetch: (pattern, reader) => this.fetch(pattern, reader, from, until),
      },
      args,
    );
  }

  private argument(def: FunctionDef, p: ParamSpec, syntax: Arg | Arg[] | undefined, from: number, until: number): ArgValue {
    if (syntax === undefined || (!Array.isArray(syntax) && syntax.type === 'none')) {
      if (p.required) throw new QueryError(`${def.name}(): missing required argument "${p.name}" (${EXPECTED[p.type]})`);
      return p.multiple ? [] : (p.default ?? null);
    }
    if (Array.isArray(syntax)) return syntax.map((a) => this.single(def, p, a, from, until));
    return this.single(def, p, syntax, from, until);
  }

  private single(def: FunctionDef, p: ParamSpec, a: Arg, from: number, until: number): ArgValue {
    if (p.pattern) {
      if (a.type !== 'path') throw new QueryError(`${def.name}(): argument "${p.name}" must be a metric path, not ${a.type === 'call' ? `${a.name}(...)` : 'a literal'}`);
      return a.path;
    }
    const v: ArgValue = isExpr(a) ? this.expression(a, from, until) : a.type === 'none' ? null : a.value;
    if (!accepts(p, v)) {
      const options = p.options && p.type === 'string' ? ` (one of ${p.options.join(', ')})` : '';
      throw new QueryError(`${def.name}(): argument "${p.name}" must be ${EXPECTED[p.type]}${options}, got ${describe(v)}`);
    }
    return v;
  }
}

/**
 * Evaluates render targets over [from, until): metric paths through `fetcher` (Graphite globs,
 * `{kind: 'value'}`), functions from the registry; then maxDataPoints consolidation if asked.
 * Empty targets are skipped; errors are QueryErrors.
 */
export function evaluateTargets(targets: string[], ctx: EvaluateContext): TimeSeries[] {
  const [from, until] = ctx.from <= ctx.until ? [ctx.from, ctx.until] : [ctx.until, ctx.from];
  if (from === until) throw new QueryError(`empty time range: from and until are both ${from}`);
  const trees = targets.filter((t) => t.trim() !== '').map(parseTarget);
  const evaluator = new Evaluator(ctx);
  const series = trees.flatMap((t) => evaluator.expression(t, from, until));
  return ctx.maxDataPoints === undefined ? series : applyMaxDataPoints(series, ctx.maxDataPoints);
}

/**
 * Graphite's JSON render format: `[{"target", "tags", "datapoints": [[value, timestamp], ...]}]`,
 * NaN as null and ±Infinity as ±1e9999. noNullPoints drops null points and series left empty.
 */
export function renderJson(series: TimeSeries[], options: { noNullPoints?: boolean } = {}): string {
  const out: { target: string; tags: Record<string, string>; datapoints: [number | null, number][] }[] = [];
  for (const s of series) {
    let datapoints = s.values.map((v, i): [number | null, number] => [v, s.start + i * s.step]);
    if (options.noNullPoints) {
      datapoints = datapoints.filter(([v]) => v !== null && !Number.isNaN(v));
      if (datapoints.length === 0) continue;
    }
    out.push({ target: s.name, tags: s.tags, datapoints });
  }
  return graphiteJson(out);
}
