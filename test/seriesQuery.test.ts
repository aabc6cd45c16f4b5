import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../agent/config/load.js';

import { openForReading, openForWriting, storeFile } from '../storage/db.js';
import { QueryError } from '../storage/query/errors.js';
import { StoreReader } from '../storage/reader.js';
import { SchemaSet } from '../storage/schemas.js';
import { asGraphite, parseStat, querySeries, seriesQueryOf, type SeriesQuery, type SeriesResult } from '../storage/seriesQuery.js';
import { StoreWriter, type StoreBatch } from '../storage/writer.js';
import { storeBatch } from './helpers/storeBatch.js';

/** 2024-03-15 12:00:00 UTC: an hour boundary */
const T0 = 1710504000;
const NOW = T0 + 600;
const JAN = 1704067200;
const FEB = 1706745600;
const MAR = 1709251200;

const CONFIG = (dir: string): string => `
data_dir: ${dir}
store:
  schemas:
    - name: api
      match: ^api\\.
      type: series
      intervals: {minute: {step: 1m, steps: 60}, hour: {step: 1h, steps: 48}, month: {step: monthly, steps: 12}}
    - name: gauges
      match: ^gauges\\.
      type: gauge
      intervals: {minute: {step: 1m, steps: 60}}
`;

const batch = (ts: number, flushed: Record<string, number>, timers: Record<string, number[]> = {}, sets: Record<string, string[]> = {}): StoreBatch =>
  storeBatch(ts, { flushed, timers, sets });

/** The raw samples of api.latency per minute, as written below. */
const LATENCY: Record<number, number[]> = {
  [T0]: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100],
  [T0 + 60]: [20, 30, 40],
  [T0 + 180]: [5, 5, 5, 500],
};
const USERS = { a: ['a', 'b'], b: ['b', 'c'], c: ['c', 'd'], d: ['a', 'e'] };

/** Nearest rank, straight from its definition over the raw samples. */
function nearestRank(samples: number[], p: number): number {
  const sorted = [...samples].sort((x, y) => x - y);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

describe('/series queries (seriesQuery)', () => {
  let dir: string;
  let reader: StoreReader;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tally-series-'));
    const file = path.join(dir, 'tally.yaml');
    writeFileSync(file, CONFIG(dir));
    const config = loadConfig([file]);
    const schemas = new SchemaSet(config);
    const db = openForWriting(storeFile(config));
    const w = new StoreWriter(db, schemas, () => NOW);
    w.write(batch(FEB + 9 * 86400, { 'api.req': 100 })); // only the monthly interval keeps it
    w.write(batch(T0 + 5, { 'api.req': 10, 'api.err': 1, 'stats_counts.hits': 5, 'gauges.temp': 3 }, { 'api.latency': LATENCY[T0]!.slice(0, 10) }, { users: USERS.a }));
    w.write(batch(T0 + 15, { 'api.req': 20, 'stats_counts.hits': 7, 'gauges.temp': 4 }, { 'api.latency': [100] }, { users: USERS.b }));
    w.write(batch(T0 + 65, { 'api.req': 30, 'api.err': 2, 'stats_counts.hits': 1, 'gauges.temp': 5 }, { 'api.latency': LATENCY[T0 + 60]! }, { users: USERS.c }));
    w.write(batch(T0 + 185, { 'api.req': 40, 'stats_counts.hits': 2, 'gauges.temp': 6 }, { 'api.latency': LATENCY[T0 + 180]! }, { users: USERS.d }));
    db.close();
    reader = new StoreReader(openForReading(storeFile(config)), schemas);
  });

  after(() => {
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const q = (query: Partial<SeriesQuery> & { stats: string[] }): SeriesResult[] => querySeries(reader, query, NOW);
  /** The values of one stat over the four minutes 12:00-12:03. */
  const minutes = (stat: string, interval?: string): (number | null)[] => {
    const [r] = q({ stats: [stat], interval, start: String(T0), end: String(T0 + 180) });
    assert.deepEqual(
      r!.datapoints.map((d) => d[1]),
      [T0, T0 + 60, T0 + 120, T0 + 180],
    );
    return r!.datapoints.map((d) => d[0]);
  };

  it('answers torus json: one object per stat, one datapoint per bucket, empty buckets null', () => {
    const r = q({ stats: ['api.req', 'p99(api.latency)'], start: String(T0), end: String(T0 + 180) });
    assert.deepEqual(r, [
      { stat: 'api.req', stat_name: 'api.req', function: 'value', schema: 'api', interval: 'minute', datapoints: [[15, T0], [30, T0 + 60], [null, T0 + 120], [40, T0 + 180]] },
      { stat: 'p99(api.latency)', stat_name: 'api.latency', function: 'p99', schema: 'timer_samples', interval: '10s', datapoints: r[1]!.datapoints },
    ]);
  });

  it('series functions: avg (and a bare name), min, max, sum, count, last', () => {
    assert.deepEqual(minutes('api.req'), [15, 30, null, 40]);
    assert.deepEqual(minutes('avg(api.req)'), [15, 30, null, 40]);
    assert.deepEqual(minutes('min(api.req)'), [10, 30, null, 40]);
    assert.deepEqual(minutes('max(api.req)'), [20, 30, null, 40]);
    assert.deepEqual(minutes('sum(api.req)'), [30, 30, null, 40]);
    assert.deepEqual(minutes('count(api.req)'), [2, 1, null, 1]);
    assert.deepEqual(minutes('last(api.req)'), [20, 30, null, 40]);
  });

  it('counts sum, gauges keep the last value', () => {
    // the default counts schema: 10s, 1m, 1h, 1d
    assert.deepEqual(minutes('stats_counts.hits', '1m'), [12, 1, null, 2]);
    assert.deepEqual(minutes('sum(stats_counts.hits)', '1m'), [12, 1, null, 2]);
    assert.deepEqual(minutes('count(stats_counts.hits)', '1m'), [12, 1, null, 2]);
    assert.deepEqual(minutes('gauges.temp'), [4, 5, null, 6]);
    assert.deepEqual(minutes('last(gauges.temp)'), [4, 5, null, 6]);
  });

  it('histograms: pNN (nearest rank), mean, count, min, max from the timer samples', () => {
    // default timer_samples schema: finest interval 10s; read its 1m interval
    const at = (stat: string): (number | null)[] =>
      q({ stats: [stat], interval: '1m', start: String(T0), end: String(T0 + 180) })[0]!.datapoints.map((d) => d[0]);
    assert.deepEqual(at('p50(api.latency)'), [6, 30, null, 5]);
    assert.deepEqual(at('p99(api.latency)'), [100, 40, null, 500]);
    assert.deepEqual(at('p99.9(api.latency)'), [100, 40, null, 500]);
    assert.deepEqual(at('p0(api.latency)'), [1, 20, null, 5]);
    assert.deepEqual(at('p75(api.latency)'), [9, 40, null, 5]);
    assert.deepEqual(at('mean(api.latency)'), [155 / 11, 30, null, 128.75]);
    assert.deepEqual(at('count(api.latency)'), [11, 3, null, 4]);
    assert.deepEqual(at('min(api.latency)'), [1, 20, null, 5]);
    assert.deepEqual(at('max(api.latency)'), [100, 40, null, 500]);
  });

  it('sets: unique members per bucket (a bare set name reads the same)', () => {
    const at = (stat: string): (number | null)[] =>
      q({ stats: [stat], interval: '1m', start: String(T0), end: String(T0 + 180) })[0]!.datapoints.map((d) => d[0]);
    assert.deepEqual(at('unique(users)'), [3, 2, null, 2]);
    assert.deepEqual(at('users'), [3, 2, null, 2]);
  });

  it("kairos' range rules", () => {
    const ts = (query: Partial<SeriesQuery>): number[] => q({ stats: ['api.req'], ...query })[0]!.datapoints.map((d) => d[1]);
    // start and end: every bucket between, both included (end inside its bucket)
    assert.deepEqual(ts({ start: String(T0 + 30), end: String(T0 + 121) }), [T0, T0 + 60, T0 + 120]);
    // steps is ignored when both are given
    assert.deepEqual(ts({ start: String(T0), end: String(T0 + 60), steps: '10' }), [T0, T0 + 60]);
    // only start: steps buckets from start's
    assert.deepEqual(ts({ start: String(T0 + 59), steps: '3' }), [T0, T0 + 60, T0 + 120]);
    // only end: steps buckets ending at end's
    assert.deepEqual(ts({ end: String(T0 + 185), steps: '2' }), [T0 + 120, T0 + 180]);
    // neither: steps buckets ending now
    assert.deepEqual(ts({ steps: '3' }), [NOW - 120, NOW - 60, NOW]);
    // steps defaults to the interval's: 60 minutes ending now
    const all = ts({});
    assert.equal(all.length, 60);
    assert.equal(all[59], NOW);
    assert.equal(all[0], NOW - 59 * 60);
    // Graphite's relative forms
    assert.deepEqual(ts({ start: '-10min', end: '-8min' }), [T0, T0 + 60, T0 + 120]);
  });

  it('collapse folds the range into one datapoint: a percentile or unique count of the range, not of a bucket', () => {
    const one = (stat: string, interval?: string): [number | null, number][] =>
      q({ stats: [stat], interval, start: String(T0), end: String(T0 + 180), collapse: true })[0]!.datapoints;
    const samples = Object.values(LATENCY).flat();
    assert.equal(samples.length, 18);
    for (const p of [50, 90, 99, 99.9]) assert.deepEqual(one(`p${p}(api.latency)`, '1m'), [[nearestRank(samples, p), T0]]);
    assert.deepEqual(one('p50(api.latency)', '10s'), [[6, T0]]);
    assert.deepEqual(one('p90(api.latency)', '1m'), [[100, T0]]);
    assert.deepEqual(one('mean(api.latency)', '1m'), [[samples.reduce((a, b) => a + b) / 18, T0]]);
    assert.deepEqual(one('count(api.latency)', '1m'), [[18, T0]]);
    assert.deepEqual(one('unique(users)', '1m'), [[new Set(Object.values(USERS).flat()).size, T0]]);
    assert.deepEqual(one('unique(users)', '1m'), [[5, T0]]);
    assert.deepEqual(one('api.req'), [[25, T0]]);
    assert.deepEqual(one('sum(api.req)'), [[100, T0]]);
    assert.deepEqual(one('max(api.req)'), [[40, T0]]);
    assert.deepEqual(one('stats_counts.hits'), [[15, T0]]);
    assert.deepEqual(one('gauges.temp'), [[6, T0]]);
    // a range with no data: one null point at its first bucket
    assert.deepEqual(q({ stats: ['api.req'], start: String(T0 + 240), end: String(T0 + 400), collapse: true })[0]!.datapoints, [[null, T0 + 240]]);
  });

  it('interval selection: the finest by default, another by name, an unknown one names those the schema has', () => {
    assert.equal(q({ stats: ['api.req'], steps: '1' })[0]!.interval, 'minute');
    assert.deepEqual(q({ stats: ['api.req'], interval: 'hour', end: String(T0 + 10), steps: '2' })[0]!.datapoints, [[null, T0 - 3600], [25, T0]]);
    assert.throws(
      () => q({ stats: ['api.req'], interval: 'week' }),
      (err: Error) => err instanceof QueryError && err.message === 'unknown interval "week" for api.req: schema api has minute (1m), hour (1h) and month (monthly)',
    );
  });

  it('monthly buckets follow the calendar', () => {
    assert.deepEqual(q({ stats: ['api.req'], interval: 'month', steps: '3' })[0]!.datapoints, [[null, JAN], [100, FEB], [25, MAR]]);
    assert.deepEqual(q({ stats: ['sum(api.req)'], interval: 'month', start: String(FEB + 3600), end: String(NOW) })[0]!.datapoints, [[100, FEB], [100, MAR]]);
    assert.deepEqual(q({ stats: ['api.req'], interval: 'month', start: String(FEB + 3600), collapse: true, steps: '2' })[0]!.datapoints, [[40, FEB]]);
  });

  it('a name stored nowhere answers with no schema and no datapoints; so does a store not there yet', () => {
    const empty = { stat: 'p99(nope)', stat_name: 'nope', function: 'p99', schema: null, interval: null, datapoints: [] };
    assert.deepEqual(q({ stats: ['p99(nope)'] }), [empty]);
    assert.deepEqual(querySeries(undefined, { stats: ['p99(nope)'] }, NOW), [empty]);
  });

  it('a function that does not apply to the type is an error naming both', () => {
    const fails = (stat: string, message: string): void =>
      assert.throws(() => q({ stats: [stat] }), (err: Error) => err instanceof QueryError && err.message === message);
    fails('p99(api.req)', 'p99 applies to histograms; api.req is a series');
    fails('p99(stats_counts.hits)', 'p99 applies to histograms; stats_counts.hits is a count');
    fails('avg(stats_counts.hits)', 'avg applies to series; stats_counts.hits is a count');
    fails('sum(users)', 'sum applies to counts and series; users is a set');
    fails('unique(api.req)', 'unique applies to sets; api.req is a series');
    fails('mean(gauges.temp)', 'mean applies to histograms; gauges.temp is a gauge');
    fails('min(gauges.temp)', 'min applies to series and histograms; gauges.temp is a gauge');
    fails('avg(api.latency)', 'avg applies to series; api.latency is a histogram');
    assert.throws(() => q({ stats: ['median(api.req)'] }), /unknown function "median"/);
    assert.throws(() => q({ stats: ['p101(api.req)'] }), /unknown function "p101"/);
    assert.throws(() => q({ stats: ['api.req)'] }), /bad stat/);
    assert.throws(() => q({ stats: [] }), /no stat given/);
  });

  it('bad times, steps and ranges are QueryErrors', () => {
    assert.throws(() => q({ stats: ['api.req'], start: 'whenever' }), (err: Error) => err instanceof QueryError && /^start: bad time "whenever"/.test(err.message));
    assert.throws(() => q({ stats: ['api.req'], steps: '0' }), (err: Error) => err instanceof QueryError && /bad steps "0"/.test(err.message));
    assert.throws(() => q({ stats: ['api.req'], steps: 'x' }), QueryError);
    assert.throws(() => q({ stats: ['api.req'], steps: '2000000' }), QueryError);
    assert.throws(() => q({ stats: ['api.req'], start: String(T0 + 60), end: String(T0) }), /start .* is after end/);
    assert.throws(() => q({ stats: ['api.req'], interval: 'minute', start: '0', end: String(NOW) }), /more than 1000000 buckets/);
  });

  it('query parameters: stat repeatable, only true/1/yes are true, format json or graphite', () => {
    const { query, format } = seriesQueryOf(new URLSearchParams('stat=a&stat=p99(b)&collapse=0&condense=yes&interval=hour&start=1&end=2&steps=3'));
    assert.equal(format, 'json');
    assert.deepEqual(query, { stats: ['a', 'p99(b)'], interval: 'hour', start: '1', end: '2', steps: '3', collapse: false, condense: true });
    for (const [text, value] of [['false', false], ['0', false], ['no', false], ['', false], ['true', true], ['1', true], ['YES', true]] as const) {
      assert.equal(seriesQueryOf(new URLSearchParams({ stat: 'a', collapse: text })).query.collapse, value, text);
    }
    assert.equal(seriesQueryOf(new URLSearchParams('stat=a&format=graphite')).format, 'graphite');
    assert.throws(() => seriesQueryOf(new URLSearchParams('stat=a&format=csv')), /unknown format "csv": json or graphite/);
    assert.deepEqual(parseStat('p99.9( api.latency )'), { stat: 'p99.9( api.latency )', name: 'api.latency', fn: 'p99.9' });
  });

  it('condense is accepted and changes nothing', () => {
    const base = { stats: ['api.req'], start: String(T0), end: String(T0 + 180) };
    assert.deepEqual(q({ ...base, condense: true }), q(base));
  });

  it("format graphite: Graphite's render shape", () => {
    const r = q({ stats: ['p99(api.latency)', 'gauges.temp;host=a'], interval: '1m', start: String(T0), end: String(T0 + 60) });
    assert.deepEqual(asGraphite(r), [
      { target: 'p99(api.latency)', tags: { name: 'api.latency' }, datapoints: [[100, T0], [40, T0 + 60]] },
      { target: 'gauges.temp;host=a', tags: { name: 'gauges.temp', host: 'a' }, datapoints: [] },
    ]);
  });
});
