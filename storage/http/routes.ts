/**
 * What each path of the HTTP API answers, given its merged GET/POST parameters: a status and a
 * JSON body. Synchronous: the store is read with better-sqlite3 on the caller's thread.
 */

import { StoreFetcher } from '../fetcher.js';
import { QueryError } from '../query/errors.js';
import { compileGlob, expandPaths, findCompleter, findNodes } from '../query/glob.js';
import { parseTime } from '../query/time.js';
import type { SeriesFetcher } from '../query/timeSeries.js';
import type { StoreReader } from '../reader.js';
import { asGraphite, queryBool, querySeries, seriesQueryOf } from '../seriesQuery.js';
import { evaluateTargets, renderJson } from '../query/evaluate.js';
import { functionCatalog, functionInfo } from '../query/catalog.js';

export interface Answer {
  status: number;
  /** written as Graphite's JSON (±Infinity as ±1e9999); undefined = no body */
  body: unknown;
  /** JSON already written (render) */
  json?: string;
}

/** Runs a read over one consistent state of the store; reader undefined = no store yet. */
export type ReadStore = <T>(fn: (reader: StoreReader | undefined) => T) => T;

const ok = (body: unknown): Answer => ({ status: 200, body });

/** The graphite-web API level the HTTP API follows: what Grafana's data source asks at /version. */
const GRAPHITE_VERSION = '1.1.10';
const notFound = (what: string): Answer => ({ status: 404, body: { error: what } });

/** A store not there yet: every glob matches nothing. */
const NO_STORE: SeriesFetcher = { fetch: () => [] };

function positiveInt(name: string, text: string | null): number | undefined {
  if (text === null || text.trim() === '') return undefined;
  const t = text.trim();
  if (!/^\d+$/.test(t) || Number(t) < 1 || !Number.isSafeInteger(Number(t))) throw new QueryError(`bad ${name} "${text}": expected a whole number, at least 1`);
  return Number(t);
}

function when(name: string, text: string, now: number): number {
  try {
    return parseTime(text, now);
  } catch (err) {
    if (err instanceof QueryError) throw new QueryError(`${name}: ${err.message}`);
    throw err;
  }
}

/** Graphite's `/render`, JSON only. */
function render(params: URLSearchParams, read: ReadStore, realNow: number): Answer {
  const format = params.get('format') ?? 'json';
  if (format !== 'json') throw new QueryError(`format "${format}" is not supported: json is`);
  const now = params.get('now') ? when('now', params.get('now')!, realNow) : realNow;
  const from = when('from', params.get('from') || '-24h', now);
  const until = when('until', params.get('until') || 'now', now);
  const maxDataPoints = positiveInt('maxDataPoints', params.get('maxDataPoints'));
  const noNullPoints = queryBool(params.get('noNullPoints'));
  const targets = params.getAll('target').filter((t) => t.trim() !== '');
  if (targets.length === 0) return ok([]);
  const series = read((reader) => {
    const fetcher = reader === undefined ? NO_STORE : new StoreFetcher(reader, compileGlob, now);
    return evaluateTargets(targets, { from, until, now, fetcher, ...(maxDataPoints !== undefined ? { maxDataPoints } : {}) });
  });
  return { status: 200, body: undefined, json: renderJson(series, { noNullPoints }) };
}

/** The names /render paths read (the flushed source), sorted. */
const flushedNames = (read: ReadStore): string[] => read((reader) => reader?.names('flushed') ?? []);

function find(params: URLSearchParams, read: ReadStore): Answer {
  const query = params.get('query') ?? '';
  if (query.trim() === '') throw new QueryError('query is required: a path with globs, e.g. query=servers.*');
  const format = params.get('format') ?? 'treejson';
  const options = { wildcards: queryBool(params.get('wildcards')), leavesOnly: queryBool(params.get('leavesOnly')) };
  if (format === 'treejson') return ok(findNodes(query, flushedNames(read), options));
  if (format === 'completer') return ok(findCompleter(query, flushedNames(read), options));
  throw new QueryError(`format "${format}" is not supported: treejson or completer`);
}

function expand(params: URLSearchParams, read: ReadStore): Answer {
  const queries = params.getAll('query').filter((q) => q.trim() !== '');
  if (queries.length === 0) throw new QueryError('query is required: one or more paths with globs');
  return ok(expandPaths(queries, flushedNames(read), { groupByExpr: queryBool(params.get('groupByExpr')), leavesOnly: queryBool(params.get('leavesOnly')) }));
}

function series(params: URLSearchParams, read: ReadStore, now: number): Answer {
  const { query, format } = seriesQueryOf(params);
  const results = read((reader) => querySeries(reader, query, now));
  return ok(format === 'graphite' ? asGraphite(results) : results);
}

function functions(name: string | undefined, params: URLSearchParams): Answer {
  if (name === undefined) {
    const group = params.get('group');
    return ok(functionCatalog({ grouped: queryBool(params.get('grouped')), ...(group ? { group } : {}) }));
  }
  const entry = functionInfo(name);
  return entry === undefined ? notFound(`no such function: ${name}`) : ok(entry);
}

/** The answer to one request; throws QueryError for a bad one (the server answers 400). */
export function route(method: string, path: string, params: URLSearchParams, read: ReadStore, now: number): Answer {
  const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const getOnly = (): void => {
    if (method !== 'GET' && method !== 'HEAD') throw new MethodError(['GET', 'HEAD']);
  };
  switch (p) {
    case '/render':
      return render(params, read, now);
    case '/metrics':
    case '/metrics/find':
      return find(params, read);
    case '/metrics/expand':
      return expand(params, read);
    case '/metrics/index.json':
      getOnly();
      return ok(flushedNames(read));
    case '/series':
      return series(params, read, now);
    case '/functions':
      getOnly();
      return functions(undefined, params);
    case '/version':
      getOnly();
      return ok(GRAPHITE_VERSION);
    // no tag index (tags stay part of the name): Grafana's tag editor gets empty lists, not errors
    case '/tags':
    case '/tags/autoComplete/tags':
    case '/tags/autoComplete/values':
    case '/tags/findSeries':
      getOnly();
      return ok([]);
  }
  if (p.startsWith('/functions/')) {
    getOnly();
    let name: string;
    try {
      name = decodeURIComponent(p.slice('/functions/'.length));
    } catch {
      return notFound(`no such function: ${p.slice('/functions/'.length)}`);
    }
    return functions(name, params);
  }
  return notFound(`no such path: ${p}; tally answers /render, /metrics/find, /metrics/expand, /metrics/index.json, /functions, /series, /version and /tags (empty)`);
}

/** A method a path does not take: 405 with an Allow header. */
export class MethodError extends Error {
  constructor(readonly allow: string[]) {
    super(`method not allowed here: use ${allow.join(' or ')}`);
  }
}
