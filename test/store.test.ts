import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../agent/config/load.js';
import type { Config } from '../agent/config/types.js';
import { mergeBuckets, percentile, readBucket, roundSignificant } from '../storage/buckets.js';
import { openForReading, openForWriting, type Db } from '../storage/db.js';
import { intervalFor, StoreFetcher } from '../storage/fetcher.js';
import { StoreReader } from '../storage/reader.js';
import { defaultSchemas, SchemaSet } from '../storage/schemas.js';
import { addBuckets, bucketIndex, bucketStart, formatStep, indexStart, parseStep, type Step } from '../storage/step.js';
import { StoreWriter } from '../storage/writer.js';
import { configFile } from './helpers/agentProcess.js';
import { storeBatch } from './helpers/storeBatch.js';

const config = (yaml = ''): Config => (yaml === '' ? loadConfig([]) : loadConfig([configFile(yaml)]));

const batch = storeBatch;

/** Nearest rank over the raw samples, the textbook way: sort, take the ceil(p/100 · N)-th. */
function nearestRank(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

describe('steps and buckets', () => {
  it('parses kairos steps: a bare number is seconds, 1m is a minute, calendar names', () => {
    assert.equal(parseStep(60), 60);
    assert.equal(parseStep('60'), 60);
    assert.equal(parseStep('10s'), 10);
    assert.equal(parseStep('1m'), 60);
    assert.equal(parseStep('1h'), 3600);
    assert.equal(parseStep('1d'), 86_400);
    assert.equal(parseStep('monthly'), 'monthly');
    assert.equal(parseStep('0'), undefined);
    assert.equal(parseStep('1.5m'), undefined);
    assert.equal(parseStep('1mon'), undefined);
    assert.deepEqual([60, 3600, 86_400, 90, 'weekly' as const].map(formatStep), ['1m', '1h', '1d', '90s', 'weekly']);
  });

  it('aligns buckets on the epoch, weeks on Mondays, months and years on their first day, in UTC', () => {
    const ts = Date.UTC(2026, 10, 22, 13, 45, 17) / 1000; // Sunday 2026-11-22
    assert.equal(bucketStart(10, ts), ts - 7);
    assert.equal(bucketStart(60, ts), ts - 17);
    assert.equal(bucketStart('daily', ts), Date.UTC(2026, 10, 22) / 1000);
    assert.equal(bucketStart('weekly', ts), Date.UTC(2026, 10, 16) / 1000); // Monday
    assert.equal(bucketStart('monthly', ts), Date.UTC(2026, 10, 1) / 1000);
    assert.equal(bucketStart('yearly', ts), Date.UTC(2026, 0, 1) / 1000);
    assert.equal(addBuckets('monthly', Date.UTC(2026, 10, 1) / 1000, 2), Date.UTC(2027, 0, 1) / 1000);
    // bucket numbers: each step's start is its number's start, and numbers are consecutive
    for (const step of [10, 60, 'daily', 'weekly', 'monthly', 'yearly'] as Step[]) {
      const b = bucketIndex(step, ts);
      assert.equal(indexStart(step, b), bucketStart(step, ts), String(step));
      assert.equal(indexStart(step, b + 1), addBuckets(step, bucketStart(step, ts), 1), String(step));
      assert.equal(bucketIndex(step, indexStart(step, b) - 1), b - 1, String(step));
    }
    assert.equal(bucketIndex('monthly', ts), 56 * 12 + 10);
  });
});

describe('schemas', () => {
  it('defaults: counts as count, other flushed values as series, samples as histograms, members as sets', () => {
    const s = new SchemaSet(config());
    assert.equal(s.match('stats_counts.api.hits', 'flushed').type, 'count');
    assert.equal(s.match('stats.api.hits', 'flushed').type, 'series');
    assert.equal(s.match('stats.timers.api.latency.mean_90', 'flushed').type, 'series');
    assert.equal(s.match('api.latency', 'timer_samples').type, 'histogram');
    assert.equal(s.match('api.users', 'set_members').type, 'set');
    assert.deepEqual(
      defaultSchemas(config())[0]!.intervals.map((i) => [i.name, i.step, i.steps]),
      [['10s', 10, 2160], ['1m', 60, 10080], ['1h', 3600, 8760], ['1d', 'daily', 1826]],
    );
  });

  it('the finest default step follows a longer flush interval, without a duplicate interval', () => {
    assert.deepEqual(defaultSchemas(config('flush_interval: 1m\n'))[0]!.intervals.map((i) => i.name), ['1m', '1h', '1d']);
    assert.deepEqual(defaultSchemas(config('flush_interval: 30s\n'))[0]!.intervals.map((i) => [i.name, i.steps]).slice(0, 2), [['30s', 720], ['1m', 10080]]);
  });

  it('the counts pattern follows the non-legacy names', () => {
    const s = new SchemaSet(config('graphite: {legacy_namespace: false}\n'));
    assert.equal(s.match('stats.counters.api.hits.count', 'flushed').type, 'count');
    assert.equal(s.match('stats.counters.api.hits.count;host=a', 'flushed').type, 'count');
    assert.equal(s.match('stats.counters.api.hits.rate', 'flushed').type, 'series');
    assert.equal(s.match('stats.gauges.api.count', 'flushed').type, 'series');
  });

  it("the user's schemas come first, first match wins, and only data of their source", () => {
    const s = new SchemaSet(
      config(`store:
  schemas:
    - {name: api, match: ["^stats\\\\.api\\\\."], type: gauge, intervals: {minute: {step: 60, steps: 10}}}
    - {name: api2, match: "api", type: count, intervals: {minute: {step: 60, steps: 10}}}
    - {name: lat, match: "^api\\\\.", source: timer_samples, type: histogram, precision: 2, intervals: {minute: {step: 1m, steps: 10}}}
`),
    );
    assert.equal(s.match('stats.api.hits', 'flushed').name, 'api');
    assert.equal(s.match('stats_counts.api.hits', 'flushed').name, 'api2');
    assert.equal(s.match('api.latency', 'timer_samples').name, 'lat');
    assert.equal(s.match('api.users', 'set_members').name, 'set_members');
  });
});

describe('bucket math', () => {
  it('rounds histogram values to significant digits', () => {
    assert.deepEqual([123.456, 0.0012345, 99999, 0, -45.67].map((v) => roundSignificant(v, 3)), [123, 0.00123, 100000, 0, -45.7]);
  });

  it('nearest-rank percentiles: the smallest value with at least p% of occurrences at or below it', () => {
    const h = new Map([[1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [6, 1], [7, 1], [8, 1], [9, 1], [10, 1]]);
    assert.deepEqual([0, 10, 50, 90, 91, 99.9, 100].map((p) => percentile(h, p)), [1, 1, 5, 9, 10, 10, 10]);
    assert.equal(percentile(new Map(), 50), null);
  });

  it('series buckets read exactly over a range', () => {
    const a = { type: 'series' as const, s: { n: 2, sum: 10, min: 4, max: 6, last: 6 } };
    const b = { type: 'series' as const, s: { n: 1, sum: 2, min: 2, max: 2, last: 2 } };
    const m = mergeBuckets([a, b])!;
    assert.deepEqual(['avg', 'min', 'max', 'sum', 'count', 'last'].map((f) => readBucket(m, f)), [4, 2, 6, 12, 3, 2]);
    assert.equal(readBucket(m, 'p99'), undefined);
  });
});

describe('writer and reader', () => {
  let dir: string;
  let db: Db;
  let now = 0;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tally-store-'));
    db = openForWriting(path.join(dir, 'tally.db'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const T0 = 1_700_000_040; // a whole minute
  const writerOf = (c: Config) => new StoreWriter(db, new SchemaSet(c), () => now);
  const readerOf = (c: Config) => new StoreReader(openForReading(path.join(dir, 'tally.db')), new SchemaSet(c));

  it('keeps each type per bucket in every interval, and reads them back exactly', () => {
    const c = config();
    const w = writerOf(c);
    now = T0 + 60;
    const latencies = [[5, 1, 3, 200], [7, 7, 1000.4, 2]];
    for (let i = 0; i < 2; i++) {
      const r = w.write(batch(T0 + 10 * i, {
        flushed: { 'stats_counts.api.hits': 3 + i, 'stats.gauges.temp': 20 + i, 'stats.timers.api.latency.mean': 10 * (i + 1) },
        timers: { 'api.latency': latencies[i]! },
        sets: { 'api.users': i === 0 ? ['ann', 'bob'] : ['bob', 'cy'] },
      }));
      assert.equal(r.skippedOld, 0);
    }
    const rd = readerOf(c);
    const hits = rd.lookup('stats_counts.api.hits', 'flushed')!;
    assert.equal(hits.type, 'count');
    assert.deepEqual(hits.intervals.map((i) => i.name), ['10s', '1m', '1h', '1d']);
    const [i10, i1m, i1h] = hits.intervals;
    assert.deepEqual(rd.buckets(hits, i10!, T0, T0 + 60).map((b) => [b.t, readBucket(b.data, 'value')]), [[T0, 3], [T0 + 10, 4]]);
    assert.deepEqual(rd.buckets(hits, i1m!, T0, T0 + 60).map((b) => [b.t, readBucket(b.data, 'value')]), [[T0, 7]]);
    assert.deepEqual(rd.buckets(hits, i1h!, 0, T0 + 3600).map((b) => [b.t, readBucket(b.data, 'value')]), [[bucketStart(3600, T0), 7]]);

    const temp = rd.lookup('stats.gauges.temp', 'flushed')!;
    assert.equal(temp.type, 'series');
    const m = rd.buckets(temp, temp.intervals[1]!, T0, T0 + 60)[0]!.data;
    assert.deepEqual(['avg', 'min', 'max', 'sum', 'count', 'last'].map((f) => readBucket(m, f)), [20.5, 20, 21, 41, 2, 21]);

    const lat = rd.lookup('api.latency', 'timer_samples')!;
    assert.equal(lat.type, 'histogram');
    const minute = rd.buckets(lat, lat.intervals[1]!, T0, T0 + 60);
    assert.equal(minute.length, 1);
    // sorted samples 1 2 3 5 7 7 200 1000.4, the last kept as 1000 (3 significant digits)
    const raw = latencies.flat().map((v) => roundSignificant(v, 3));
    const ps = [1, 25, 50, 75, 87.5, 90, 99, 100];
    assert.deepEqual(ps.map((p) => readBucket(minute[0]!.data, `p${p}`)), ps.map((p) => nearestRank(raw, p)));
    assert.deepEqual(ps.map((p) => readBucket(minute[0]!.data, `p${p}`)), [1, 2, 5, 7, 200, 1000, 1000, 1000]);
    assert.equal(readBucket(minute[0]!.data, 'count'), 8);

    const users = rd.lookup('api.users', 'set_members')!;
    const perBucket = rd.buckets(users, users.intervals[0]!, T0, T0 + 60).map((b) => readBucket(b.data, 'unique'));
    assert.deepEqual(perBucket, [2, 2]);
    assert.equal(readBucket(mergeBuckets(rd.buckets(users, users.intervals[0]!, T0, T0 + 60).map((b) => b.data))!, 'unique'), 3);
    assert.equal(readBucket(rd.buckets(users, users.intervals[1]!, T0, T0 + 60)[0]!.data, 'unique'), 3);
    assert.deepEqual(rd.names('flushed'), ['stats.gauges.temp', 'stats.timers.api.latency.mean', 'stats_counts.api.hits']);
    rd.close();
  });

  it('carbon input keeps its own timestamps; a gauge keeps the last value', () => {
    const c = config(`store:
  schemas:
    - {name: g, match: "^host\\\\.", type: gauge, intervals: {m: {step: 1m, steps: 100}}}
`);
    now = T0 + 600;
    writerOf(c).write(batch(T0 + 300, { named: [['host.load', 1.5, T0 + 5], ['host.load', 2.5, T0 + 59], ['host.load', 9, T0 + 61]] }));
    const rd = readerOf(c);
    const s = rd.lookup('host.load', 'flushed')!;
    assert.equal(s.type, 'gauge');
    assert.deepEqual(rd.buckets(s, s.intervals[0]!, 0, T0 + 600).map((b) => [b.t, readBucket(b.data, 'value')]), [[T0, 2.5], [T0 + 60, 9]]);
    rd.close();
  });

  it('skips and counts writes older than an interval keeps; pruning deletes what fell out', () => {
    const c = config(`store:
  schemas:
    - {name: short, match: "^x$", type: count, intervals: {ten: {step: 10, steps: 3}, minute: {step: 1m, steps: 2}}}
`);
    const w = writerOf(c);
    now = T0 + 25; // keeps ten-second buckets T0..T0+20 and minutes T0-60..T0
    const r = w.write(batch(T0 - 10, { flushed: { x: 1 } }));
    assert.deepEqual([r.rows, r.skippedOld], [1, 1]); // too old for `ten`, still kept in `minute`
    for (let t = T0; t <= T0 + 20; t += 10) w.write(batch(t, { flushed: { x: 1 } }));
    const rd = readerOf(c);
    const x = rd.lookup('x', 'flushed')!;
    const all = (iv: number) => rd.buckets(x, x.intervals[iv]!, 0, T0 + 1000).map((b) => [b.t, readBucket(b.data, 'value')]);
    assert.deepEqual(all(0), [[T0, 1], [T0 + 10, 1], [T0 + 20, 1]]);
    assert.deepEqual(all(1), [[T0 - 60, 1], [T0, 3]]);
    now = T0 + 65; // ten-second buckets from T0+40 on, minutes from T0 on
    assert.deepEqual(w.prune(1000), { deleted: 4, done: true });
    assert.deepEqual(all(0), []);
    assert.deepEqual(all(1), [[T0, 3]]);
    rd.close();
  });

  it('a schema without intervals keeps nothing', () => {
    const c = config('store:\n  schemas:\n    - {name: drop, match: "^noise\\\\.", type: count, intervals: {}}\n');
    now = T0;
    const r = writerOf(c).write(batch(T0, { flushed: { 'noise.x': 1, 'stats.kept': 2 } }));
    assert.equal(r.newSeries, 1);
    const rd = readerOf(c);
    assert.deepEqual(rd.names('flushed'), ['stats.kept']);
    rd.close();
  });

  it('the fetcher reads Whisper-style: finest covering interval, from exclusive, null gaps', () => {
    const c = config();
    now = T0 + 120;
    const w = writerOf(c);
    w.write(batch(T0, { flushed: { 'stats.a': 1 } }));
    w.write(batch(T0 + 20, { flushed: { 'stats.a': 3 } }));
    const rd = readerOf(c);
    const f = new StoreFetcher(rd, (p) => (n) => n === p, now);
    const [s] = f.fetch('stats.a', { kind: 'value' }, T0 - 10, T0 + 30);
    assert.deepEqual([s!.start, s!.end, s!.step, s!.values], [T0, T0 + 40, 10, [1, null, 3, null]]);
    const series = rd.lookup('stats.a', 'flushed')!;
    assert.equal(intervalFor(series, now - 6 * 3600, now)!.name, '10s');
    assert.equal(intervalFor(series, now - 6 * 3600 - 1, now)!.name, '1m');
    assert.equal(intervalFor(series, now - 400 * 86_400, now)!.name, '1d');
    assert.deepEqual(f.fetch('stats.none', { kind: 'value' }, T0, T0 + 30), []);
    rd.close();
  });
});
