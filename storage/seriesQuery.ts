/**
 * torus' `/series` over the store: one answer per stat, read from one interval of the schema the
 * name is stored under, with kairos' range rules. Pure over a StoreReader (the HTTP API and
 * `tally query` share it); errors are QueryErrors naming what was wrong.
 *
 * Where tally differs from torus on purpose:
 * - `avg` is a function of series (torus passes it to kairos, which has no `avg`);
 * - booleans are `true`/`1`/`yes` (torus' `bool(string)` makes `collapse=0` true);
 * - `condense` is accepted and does nothing: tally's intervals have no sub-resolutions, a bucket is
 *   already one value;
 * - datapoints are `[[value|null, ts], ...]` lists, one per bucket, empty buckets as null (torus'
 *   graphite format returns an object keyed by timestamp);
 * - an unknown interval is a 400 naming the intervals the schema has (torus: a 500).
 */

import type { StoreSource, StoreType } from '../agent/config/types.js';
import { FUNCTIONS_OF_TYPE, mergeBuckets, parsePercentileFunction, readBucket, type BucketData } from './buckets.js';
import { tagsOf } from './fetcher.js';
import { QueryError } from './query/errors.js';
import { parseTime } from './query/time.js';
import type { StoreReader, StoredInterval, StoredSeries } from './reader.js';
import { addBuckets, bucketStart, formatStep, nominalSeconds, type Step } from './step.js';
import { STORE_SOURCES } from '../agent/config/schema.js';

export type SeriesFormat = 'json' | 'graphite';
export const SERIES_FORMATS: readonly SeriesFormat[] = ['json', 'graphite'];

/** The most buckets one stat may ask for: a year of 10 s buckets is about 3.2 million. */
export const MAX_BUCKETS = 1_000_000;

export interface SeriesQuery {
  /** `name` or `func(name)`: avg, min, max, sum, count, last, mean, pNN, unique */
  stats: string[];
  /** the interval's name; default the finest of the name's schema */
  interval?: string | undefined;
  /** epoch seconds, Graphite forms (`-1h`, `now`, `noon yesterday`) or torus' human forms */
  start?: string | undefined;
  end?: string | undefined;
  /** a number of buckets; default the interval's configured steps */
  steps?: string | undefined;
  /** the whole range as one datapoint (a percentile or unique count of the range) */
  collapse?: boolean | undefined;
  /** accepted for torus' clients; does nothing (no sub-resolutions) */
  condense?: boolean | undefined;
}

export type Datapoint = [number | null, number];

/** One stat's answer in torus' `json` format. */
export interface SeriesResult {
  stat: string;
  stat_name: string;
  function: string;
  schema: string | null;
  interval: string | null;
  datapoints: Datapoint[];
}

/** One stat's answer in Graphite's render shape (`format=graphite`). */
export interface GraphiteResult {
  target: string;
  tags: Record<string, string>;
  datapoints: Datapoint[];
}

/** torus' boolean params: only `true`, `1` and `yes` (any case) are true. */
export function queryBool(value: string | null | undefined): boolean {
  return value !== null && value !== undefined && /^(true|1|yes)$/i.test(value.trim());
}

/** The query from `/series?stat=...&interval=...` parameters; also checks `format`. */
export function seriesQueryOf(params: URLSearchParams): { query: SeriesQuery; format: SeriesFormat } {
  const format = params.get('format') ?? 'json';
  if (!(SERIES_FORMATS as readonly string[]).includes(format)) throw new QueryError(`unknown format ${JSON.stringify(format)}: json or graphite`);
  const opt = (key: string): string | undefined => params.get(key) ?? undefined;
  return {
    format: format as SeriesFormat,
    query: {
      stats: params.getAll('stat'),
      interval: opt('interval'),
      start: opt('start'),
      end: opt('end'),
      steps: opt('steps'),
      collapse: queryBool(params.get('collapse')),
      condense: queryBool(params.get('condense')),
    },
  };
}

interface ParsedStat {
  stat: string;
  name: string;
  /** 'value' for a bare name */
  fn: string;
}

const KNOWN = ['avg', 'min', 'max', 'sum', 'count', 'last', 'mean', 'unique'];
const STAT = /^([A-Za-z0-9_.]+)\((.+)\)$/;

/** `p99.9(api.latency)` → {fn: 'p99.9', name: 'api.latency'}; `api.count` → {fn: 'value'}. */
export function parseStat(stat: string): ParsedStat {
  const text = stat.trim();
  if (text === '') throw new QueryError('empty stat: expected a name or func(name)');
  const m = STAT.exec(text);
  if (m === null) {
    if (/[()]/.test(text)) throw new QueryError(`bad stat ${JSON.stringify(stat)}: expected a name or func(name)`);
    return { stat, name: text, fn: 'value' };
  }
  const fn = m[1]!;
  const name = m[2]!.trim();
  if (!KNOWN.includes(fn) && parsePercentileFunction(fn) === undefined) {
    throw new QueryError(`unknown function ${JSON.stringify(fn)} in ${JSON.stringify(stat)}: avg, min, max, sum, count, last, mean, pNN (e.g. p99.9) or unique`);
  }
  if (name === '' || /[()]/.test(name)) throw new QueryError(`bad stat ${JSON.stringify(stat)}: expected func(name)`);
  return { stat, name, fn };
}

const ARTICLE: Record<StoreType, string> = { count: 'a count', gauge: 'a gauge', series: 'a series', histogram: 'a histogram', set: 'a set' };
const PLURAL: Record<StoreType, string> = { count: 'counts', gauge: 'gauges', series: 'series', histogram: 'histograms', set: 'sets' };
const TYPES = Object.keys(FUNCTIONS_OF_TYPE) as StoreType[];

function applies(fn: string, type: StoreType): boolean {
  if (fn === 'value') return true;
  const fns: readonly string[] = FUNCTIONS_OF_TYPE[type];
  return fns.includes(parsePercentileFunction(fn) !== undefined ? 'pNN' : fn);
}

function typesOf(fn: string): StoreType[] {
  return TYPES.filter((t) => applies(fn, t));
}

const list = (items: string[]): string => (items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`);

function notApplicable(p: ParsedStat, type: StoreType): QueryError {
  return new QueryError(`${p.fn} applies to ${list(typesOf(p.fn).map((t) => PLURAL[t]))}; ${p.name} is ${ARTICLE[type]}`);
}

/** The sources a function reads, in the order they are tried. */
function sourcesOf(fn: string): readonly StoreSource[] {
  if (fn === 'mean' || parsePercentileFunction(fn) !== undefined) return ['timer_samples'];
  if (fn === 'unique') return ['set_members'];
  return STORE_SOURCES;
}

/**
 * The stored series a stat reads, undefined when the name is stored nowhere. A function that does
 * not apply to the type the name is stored as (in the source it reads, or else in any source) is
 * an error naming both.
 */
function resolve(reader: StoreReader, p: ParsedStat): StoredSeries | undefined {
  let misfit: StoredSeries | undefined;
  for (const source of sourcesOf(p.fn)) {
    const s = reader.lookup(p.name, source);
    if (s !== undefined && applies(p.fn, s.type)) return s;
    misfit ??= s;
  }
  // not where the function reads: if it is stored elsewhere, say why that does not answer
  for (const source of STORE_SOURCES) misfit ??= reader.lookup(p.name, source);
  if (misfit !== undefined) throw notApplicable(p, misfit.type);
  return undefined;
}

function pickInterval(s: StoredSeries, name: string | undefined): StoredInterval {
  if (name === undefined) {
    const first = s.intervals[0];
    if (first === undefined) throw new QueryError(`${s.name}: schema ${s.schema} has no intervals`);
    return first;
  }
  const found = s.intervals.find((i) => i.name === name);
  if (found === undefined) {
    const names = s.intervals.map((i) => `${i.name} (${formatStep(i.step)})`);
    throw new QueryError(`unknown interval ${JSON.stringify(name)} for ${s.name}: schema ${s.schema} has ${names.length === 0 ? 'none' : list(names)}`);
  }
  return found;
}

function parseSteps(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const t = text.trim();
  if (!/^\d+$/.test(t) || Number(t) < 1) throw new QueryError(`bad steps ${JSON.stringify(text)}: expected a whole number of buckets, at least 1`);
  const n = Number(t);
  if (n > MAX_BUCKETS) throw new QueryError(`steps ${t} is over ${MAX_BUCKETS} buckets`);
  return n;
}

function parseWhen(what: string, text: string | undefined, now: number): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return parseTime(text, now);
  } catch (err) {
    if (err instanceof QueryError) throw new QueryError(`${what}: ${err.message}`);
    throw err;
  }
}

/** The bucket starts a query covers (kairos' rules), in time order. */
export function rangeOf(step: Step, steps: number, start: number | undefined, end: number | undefined, now: number): number[] {
  const out: number[] = [];
  const tooMany = (): QueryError => new QueryError(`the range holds more than ${MAX_BUCKETS} buckets of ${formatStep(step)}`);
  if (start !== undefined && end !== undefined) {
    if (start > end) throw new QueryError(`start (${start}) is after end (${end})`);
    if ((end - start) / nominalSeconds(step) > MAX_BUCKETS + 1) throw tooMany();
    for (let t = bucketStart(step, start); t <= end; t = addBuckets(step, t, 1)) {
      if (out.length === MAX_BUCKETS) throw tooMany();
      out.push(t);
    }
    return out;
  }
  // only start: `steps` buckets from start's; only end or neither: `steps` buckets ending at end's (now's)
  const first = start !== undefined ? bucketStart(step, start) : addBuckets(step, bucketStart(step, end ?? now), -(steps - 1));
  for (let i = 0; i < steps; i++) out.push(addBuckets(step, first, i));
  return out;
}

interface Validated {
  stats: ParsedStat[];
  steps: number | undefined;
  start: number | undefined;
  end: number | undefined;
}

/** Everything that can be wrong with a query without reading the store. */
function validate(q: SeriesQuery, now: number): Validated {
  if (q.stats.length === 0) throw new QueryError('no stat given: expected stat=NAME or stat=func(NAME)');
  return {
    stats: q.stats.map(parseStat),
    steps: parseSteps(q.steps),
    start: parseWhen('start', q.start, now),
    end: parseWhen('end', q.end, now),
  };
}

/**
 * Answers a query, one result per stat in the order asked. `reader` undefined is a store that
 * does not exist yet: every name is stored nowhere. A name stored nowhere answers with
 * `schema: null, interval: null, datapoints: []`.
 */
export function querySeries(reader: StoreReader | undefined, q: SeriesQuery, now: number): SeriesResult[] {
  const v = validate(q, now);
  return v.stats.map((p) => {
    const s = reader === undefined ? undefined : resolve(reader, p);
    if (s === undefined || reader === undefined) return { stat: p.stat, stat_name: p.name, function: p.fn, schema: null, interval: null, datapoints: [] };
    const interval = pickInterval(s, q.interval);
    const range = rangeOf(interval.step, v.steps ?? interval.steps, v.start, v.end, now);
    const datapoints = range.length === 0 ? [] : read(reader, s, interval, range, p.fn, q.collapse === true);
    return { stat: p.stat, stat_name: p.name, function: p.fn, schema: s.schema, interval: interval.name, datapoints };
  });
}

function read(reader: StoreReader, s: StoredSeries, interval: StoredInterval, range: number[], fn: string, collapse: boolean): Datapoint[] {
  const first = range[0]!;
  const until = addBuckets(interval.step, range[range.length - 1]!, 1);
  const buckets = reader.buckets(s, interval, first, until);
  const value = (b: BucketData | undefined): number | null => (b === undefined ? null : finite(readBucket(b, fn)));
  if (collapse) return [[value(mergeBuckets(buckets.map((b) => b.data))), first]];
  const byStart = new Map(buckets.map((b) => [b.t, b.data]));
  return range.map((t) => [value(byStart.get(t)), t]);
}

/** NaN and ±Infinity have no JSON form: null. */
function finite(v: number | null | undefined): number | null {
  return v === undefined || v === null || !Number.isFinite(v) ? null : v;
}

/** The answers in Graphite's render shape: the stat as asked is the target. */
export function asGraphite(results: SeriesResult[]): GraphiteResult[] {
  return results.map((r) => ({ target: r.stat, tags: tagsOf(r.stat_name), datapoints: r.datapoints }));
}
