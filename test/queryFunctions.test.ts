import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueryError } from '../storage/query/errors.js';
import { evaluateTargets } from '../storage/query/evaluate.js';
import { compileGlob, splitTags } from '../storage/query/glob.js';
import type { SeriesFetcher, TimeSeries, ValueReader } from '../storage/query/timeSeries.js';

type Stored = { step: number; start?: number; values: (number | null)[] };
type Call = { pattern: string; reader: ValueReader; from: number; until: number };

/** An in-memory store: slots from the first step boundary at or after `from` up to `until`, null outside the data. */
function store(data: Record<string, Stored>): { fetcher: SeriesFetcher; calls: Call[] } {
  const calls: Call[] = [];
  const fetcher: SeriesFetcher = {
    fetch(pattern, reader, from, until) {
      calls.push({ pattern, reader, from, until });
      const match = compileGlob(pattern);
      return Object.keys(data)
        .filter(match)
        .sort()
        .map((name): TimeSeries => {
          const d = data[name]!;
          const start = Math.ceil(from / d.step) * d.step;
          const end = Math.ceil(until / d.step) * d.step;
          const values: (number | null)[] = [];
          for (let t = start; t < end; t += d.step) values.push(d.values[(t - (d.start ?? 0)) / d.step] ?? null);
          const { path, tags } = splitTags(name);
          return { name, pathExpression: pattern, tags: { ...tags, name: path }, start, end, step: d.step, values, consolidationFunc: 'average', xFilesFactor: 0 };
        });
    },
  };
  return { fetcher, calls };
}

const DATA: Record<string, Stored> = {
  'web.a.requests': { step: 60, values: [1, 2, 3, null, 5, 6, 7, 8, 9, 10] },
  'web.b.requests': { step: 60, values: [10, null, 30, null, 50, 60, 70, 80, 90, 100] },
  'db.x.latency': { step: 120, values: [4, 8, 12, 16, 20] },
  'if.rx': { step: 60, values: [250, 253, 255, 2, 5, null, 9, 8] },
  gappy: { step: 60, values: [null, 1, null, null, null, 2, null] },
  'cpu.user': { step: 60, values: [25, 50, null, 0] },
  'cpu.sys': { step: 60, values: [75, 50, null, 0] },
  'total.cpu': { step: 60, values: [200, 100, 50, 0] },
  'h.a.used': { step: 60, values: [1, 2] },
  'h.a.free': { step: 60, values: [3, 2] },
  'h.b.used': { step: 60, values: [5, null] },
  'h.b.free': { step: 60, values: [5, 4] },
  'srv.a': { step: 60, values: [1, 5, 3] },
  'srv.b': { step: 60, values: [9, 1, 2] },
  'srv.c': { step: 60, values: [2, 2, null] },
  'srv.d': { step: 60, values: [null, null, null] },
  'sys.load;host=h1': { step: 60, values: [1] },
  'api.latency': { step: 60, values: [100, 200] },
  'api.users': { step: 60, values: [3, 4] },
};

/** Evaluate over [from, until) (default 0..600, ten 60 s slots) and return the series plus the fetch calls. */
function run(target: string, from = 0, until = 600): { series: TimeSeries[]; calls: Call[] } {
  const { fetcher, calls } = store(DATA);
  return { series: evaluateTargets([target], { from, until, now: until, fetcher }), calls };
}
const points = (s: TimeSeries): [number | null, number][] => s.values.map((v, i) => [v, s.start + i * s.step]);
const only = (target: string, from?: number, until?: number): TimeSeries => {
  const { series } = run(target, from, until);
  assert.equal(series.length, 1, `${target} should give one series`);
  return series[0]!;
};
const names = (target: string, from?: number, until?: number): string[] => run(target, from, until).series.map((s) => s.name);
const values = (target: string, from?: number, until?: number): (number | null)[][] => run(target, from, until).series.map((s) => s.values);

describe('combining', () => {
  test('sumSeries: nulls ignored, all-null slots stay null, named by path expressions', () => {
    const s = only('sumSeries(web.*.requests)');
    assert.equal(s.name, 'sumSeries(web.*.requests)');
    assert.equal(s.pathExpression, 'sumSeries(web.*.requests)');
    assert.deepEqual(s.tags, { name: 'sumSeries(web.*.requests)', aggregatedBy: 'sum' });
    assert.deepEqual(s.values, [11, 2, 33, null, 55, 66, 77, 88, 99, 110]);
    assert.equal(only('sum(web.a.requests,web.b.requests)').name, 'sumSeries(web.a.requests,web.b.requests)');
  });

  test('average, max, min, diff, multiply, stddev, range', () => {
    assert.deepEqual(only('averageSeries(web.*.requests)').values, [5.5, 2, 16.5, null, 27.5, 33, 38.5, 44, 49.5, 55]);
    assert.equal(only('avg(web.*.requests)').name, 'averageSeries(web.*.requests)');
    assert.deepEqual(only('maxSeries(web.*.requests)').values, [10, 2, 30, null, 50, 60, 70, 80, 90, 100]);
    assert.deepEqual(only('minSeries(web.*.requests)').values, [1, 2, 3, null, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(only('diffSeries(web.b.requests,web.a.requests)').values, [9, 2, 27, null, 45, 54, 63, 72, 81, 90]);
    assert.deepEqual(only('multiplySeries(web.a.requests,web.b.requests)').values, [10, null, 90, null, 250, 360, 490, 640, 810, 1000]);
    assert.equal(only('multiplySeries(web.a.requests)').name, 'web.a.requests');
    assert.deepEqual(only('stddevSeries(cpu.*)').values.slice(0, 2), [25, 0]);
    assert.deepEqual(only('rangeOfSeries(cpu.*)').values.slice(0, 2), [50, 0]);
    const agg = only('aggregate(web.*.requests,"max")');
    assert.equal(agg.name, 'maxSeries(web.*.requests)');
    assert.deepEqual(agg.tags, { name: 'maxSeries(web.*.requests)', aggregatedBy: 'max' });
  });

  test('shared tags survive aggregation', () => {
    assert.deepEqual(only('sumSeries(sys.load;host=h1)', 0, 60).tags, { name: 'sys.load', host: 'h1', aggregatedBy: 'sum' });
  });

  test('different steps are combined at their LCM, each consolidated by its own function', () => {
    const s = only('sumSeries(web.a.requests,db.x.latency)');
    assert.equal(s.step, 120);
    // web.a averaged in pairs: 1.5, 3, 5.5, 7.5, 9.5
    assert.deepEqual(points(s), [[5.5, 0], [11, 120], [17.5, 240], [23.5, 360], [29.5, 480]]);
    // summed in pairs: 3, 3, 11, 15, 19
    assert.deepEqual(only('sumSeries(consolidateBy(web.a.requests,"sum"),db.x.latency)').values, [7, 11, 23, 31, 39]);
    assert.equal(only('sumSeries(consolidateBy(web.a.requests,"sum"),db.x.latency)').name, 'sumSeries(consolidateBy(web.a.requests,"sum"),db.x.latency)');
  });

  test('asPercent of the sum of the list', () => {
    const { series } = run('asPercent(cpu.*)', 0, 240);
    assert.deepEqual(series.map((s) => s.name), ['asPercent(cpu.sys,sumSeries(cpu.*))', 'asPercent(cpu.user,sumSeries(cpu.*))']);
    // a zero total gives null, not Infinity
    assert.deepEqual(series.map((s) => s.values), [[75, 50, null, null], [25, 50, null, null]]);
  });

  test('asPercent of a total series, a number, or matched lists', () => {
    const s = only('asPercent(cpu.user,total.cpu)', 0, 240);
    assert.equal(s.name, 'asPercent(cpu.user,total.cpu)');
    assert.deepEqual(s.values, [12.5, 50, null, null]);
    assert.deepEqual(names('asPercent(cpu.*,200)', 0, 240), ['asPercent(cpu.sys,200)', 'asPercent(cpu.user,200)']);
    assert.deepEqual(values('asPercent(cpu.*,200)', 0, 240), [[37.5, 25, null, 0], [12.5, 25, null, 0]]);
    // a single total series for every series
    assert.deepEqual(values('asPercent(cpu.*,total.cpu)', 0, 240), [[37.5, 50, null, null], [12.5, 50, null, null]]);
    // as many totals as series: paired by sorted name
    assert.deepEqual(names('asPercent(cpu.*,group(total.cpu,web.a.requests))', 0, 240), ['asPercent(cpu.sys,total.cpu)', 'asPercent(cpu.user,web.a.requests)']);
    assert.throws(() => run('asPercent(cpu.*,group(total.cpu,web.*.requests))'), (e: unknown) => e instanceof QueryError && /asPercent\(\): total must be/.test(e.message));
  });

  test('asPercent grouped by nodes', () => {
    const { series } = run('asPercent(h.*.*,None,1)', 0, 120);
    assert.deepEqual(
      series.map((s) => [s.name, s.values]),
      [
        ['asPercent(h.a.free,sumSeries(h.*.*))', [75, 50]],
        ['asPercent(h.a.used,sumSeries(h.*.*))', [25, 50]],
        ['asPercent(h.b.free,sumSeries(h.*.*))', [50, 100]],
        ['asPercent(h.b.used,sumSeries(h.*.*))', [50, null]],
      ],
    );
    assert.deepEqual(names('asPercent(h.*.used,h.{a,c}.free,1)', 0, 120), ['asPercent(h.a.used,h.a.free)', 'asPercent(h.b.used,MISSING)']);
  });

  test('divideSeries, group, groupByNode(s)', () => {
    const d = only('divideSeries(web.b.requests,web.a.requests)');
    assert.equal(d.name, 'divideSeries(web.b.requests,web.a.requests)');
    assert.deepEqual(d.values, [10, null, 10, null, 10, 10, 10, 10, 10, 10]);
    assert.throws(() => run('divideSeries(web.a.requests,web.*.requests)'), /exactly one series, got 2/);
    assert.deepEqual(names('group(web.a.requests,cpu.user)'), ['web.a.requests', 'cpu.user']);
    const g = run('groupByNode(h.*.*,1,"sum")', 0, 120).series;
    assert.deepEqual(g.map((s) => [s.name, s.values]), [['a', [4, 4]], ['b', [10, 4]]]);
    assert.deepEqual(names('groupByNodes(h.*.*,"maxSeries",2)', 0, 120), ['free', 'used']);
  });
});

describe('transforming', () => {
  test('scale and offset: %g names, nulls stay null, tags record the argument', () => {
    const s = only('scale(web.a.requests,2)');
    assert.equal(s.name, 'scale(web.a.requests,2)');
    assert.equal(s.pathExpression, 'scale(web.a.requests,2)');
    assert.deepEqual(s.tags, { name: 'web.a.requests', scale: '2' });
    assert.deepEqual(s.values, [2, 4, 6, null, 10, 12, 14, 16, 18, 20]);
    assert.equal(only('scale(web.a.requests,0.5)').name, 'scale(web.a.requests,0.5)');
    assert.equal(only('scale(web.a.requests,1000000)').name, 'scale(web.a.requests,1e+06)');
    assert.equal(only('scale(web.a.requests,0.00001)').name, 'scale(web.a.requests,1e-05)');
    const o = only('offset(web.a.requests,-1)');
    assert.equal(o.name, 'offset(web.a.requests,-1)');
    assert.deepEqual(o.values, [0, 1, 2, null, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(only('absolute(offset(web.a.requests,-3))').values.slice(0, 3), [2, 1, 0]);
  });

  test('derivative: null when either point is null', () => {
    const s = only('derivative(web.b.requests)');
    assert.equal(s.name, 'derivative(web.b.requests)');
    assert.deepEqual(s.values, [null, null, null, null, null, 10, 10, 10, 10, 10]);
  });

  test('nonNegativeDerivative: decreases are null, or wrap at maxValue', () => {
    const w = [0, 480] as const;
    const s = only('nonNegativeDerivative(if.rx)', ...w);
    assert.equal(s.name, 'nonNegativeDerivative(if.rx)');
    assert.deepEqual(s.values, [null, 3, 2, null, 3, null, null, null]);
    // 255 → 2 wraps: 255 + 1 + 2 - 255 = 3; 9 → 8 wraps all the way round
    assert.deepEqual(only('nonNegativeDerivative(if.rx,255)', ...w).values, [null, 3, 2, 3, 3, null, null, 255]);
    // 255 is above maxValue: null, and the next point has nothing to compare with
    assert.deepEqual(only('nonNegativeDerivative(if.rx,254)', ...w).values, [null, 3, null, null, 3, null, null, 254]);
    // only minValue: a reset to minValue counts from it
    assert.deepEqual(only('nonNegativeDerivative(if.rx,minValue=1)', ...w).values, [null, 3, 2, 1, 3, null, null, 7]);
    assert.deepEqual(only('nonNegativeDerivative(if.rx,255,1)', ...w).values, [null, 3, 2, 2, 3, null, null, 254]);
  });

  test('perSecond: the non-negative delta per second, 6 decimals', () => {
    const s = only('perSecond(if.rx)', 0, 480);
    assert.equal(s.name, 'perSecond(if.rx)');
    assert.deepEqual(s.values, [null, 0.05, 0.033333, null, 0.05, null, null, null]);
  });

  test('integral and keepLastValue', () => {
    assert.deepEqual(only('integral(web.b.requests)').values, [10, null, 40, null, 90, 150, 220, 300, 390, 490]);
    const k = only('keepLastValue(gappy)', 0, 420);
    assert.equal(k.name, 'keepLastValue(gappy)');
    assert.deepEqual(k.values, [null, 1, 1, 1, 1, 2, 2]);
    // a run longer than the limit stays null; the trailing run of one is filled
    assert.deepEqual(only('keepLastValue(gappy,2)', 0, 420).values, [null, 1, null, null, null, 2, 2]);
  });

  test('transformNull and delay', () => {
    const t = only('transformNull(web.b.requests)');
    assert.equal(t.name, 'transformNull(web.b.requests,0)');
    assert.deepEqual(t.values.slice(0, 4), [10, 0, 30, 0]);
    assert.deepEqual(only('transformNull(gappy,-1,referenceSeries=web.b.requests)', 0, 420).values, [-1, 1, -1, null, -1, 2, -1]);
    const d = only('delay(web.a.requests,2)');
    assert.equal(d.name, 'delay(web.a.requests,2)');
    assert.deepEqual(d.values.slice(0, 4), [null, null, 1, 2]);
  });

  test('summarize: buckets aligned to the interval since the epoch', () => {
    // the series starts at 180 (3 min in): the first 5 min bucket is 0-300 and holds 180 (null) and 240 (5)
    const s = only('summarize(web.a.requests,"5min")', 180, 600);
    assert.equal(s.name, 'summarize(web.a.requests, "5min", "sum")');
    assert.deepEqual(s.tags, { name: 'web.a.requests', summarize: '5min', summarizeFunction: 'sum' });
    assert.deepEqual(points(s), [[5, 0], [40, 300], [null, 600]]);
    assert.deepEqual(points(only('summarize(web.a.requests,"5min")', 120, 600)), [[8, 0], [40, 300], [null, 600]]);
    assert.deepEqual(only('summarize(web.a.requests,"5min","avg")', 120, 600).values, [4, 8, null]);
    assert.equal(only('summarize(web.a.requests,"5min","avg")', 120, 600).name, 'summarize(web.a.requests, "5min", "avg")');
  });

  test('summarize alignToFrom: buckets from the series start', () => {
    const s = only('summarize(web.a.requests,"5min","sum",true)', 120, 600);
    assert.equal(s.name, 'summarize(web.a.requests, "5min", "sum", true)');
    // 120-420: 3 + null + 5 + 6 + 7; 420-720: 8 + 9 + 10
    assert.deepEqual(points(s), [[21, 120], [27, 420]]);
    assert.equal(s.end, 720);
  });

  test('timeShift: back by default, + forward, drawn over the current range', () => {
    const { series, calls } = run('timeShift(web.a.requests,"2min")', 240, 600);
    assert.equal(series.length, 1);
    assert.equal(series[0]!.name, 'timeShift(web.a.requests, "-2min")');
    assert.equal(series[0]!.pathExpression, 'web.a.requests');
    assert.deepEqual(series[0]!.tags, { name: 'web.a.requests', timeShift: '-2min' });
    assert.deepEqual(points(series[0]!), [[3, 240], [null, 300], [5, 360], [6, 420], [7, 480], [8, 540]]);
    assert.deepEqual(calls.map((c) => [c.from, c.until]), [[240, 600], [120, 480]]);
    const fwd = run('timeShift(web.a.requests,"+1min")', 240, 540);
    assert.equal(fwd.series[0]!.name, 'timeShift(web.a.requests, "+1min")');
    assert.deepEqual(points(fwd.series[0]!), [[6, 240], [7, 300], [8, 360], [9, 420], [10, 480]]);
    assert.equal(only('timeShift(web.a.requests,"-1h")', 0, 600).name, 'timeShift(web.a.requests, "-1h")');
  });

  test('timeShift resetEnd: ends where the unshifted series ends unless false', () => {
    const data = { fetch: (p: string, r: ValueReader, from: number, until: number) => store(DATA).fetcher.fetch(p, r, from, from === 240 ? until - 120 : until) };
    const shifted = evaluateTargets(['timeShift(web.a.requests,"2min")'], { from: 240, until: 600, now: 600, fetcher: data });
    assert.equal(shifted[0]!.values.length, 4);
    const full = evaluateTargets(['timeShift(web.a.requests,"2min",false)'], { from: 240, until: 600, now: 600, fetcher: data });
    assert.equal(full[0]!.values.length, 6);
    assert.equal(full[0]!.end, 600);
  });
});

describe('moving windows', () => {
  test('movingAverage over points fetches the window before from, so the first points are defined', () => {
    const { series, calls } = run('movingAverage(web.a.requests,2)', 120, 600);
    assert.deepEqual(calls.map((c) => [c.pattern, c.from, c.until]), [['web.a.requests', 120, 600], ['web.a.requests', 0, 600]]);
    const s = series[0]!;
    assert.equal(s.name, 'movingAverage(web.a.requests,2)');
    assert.deepEqual(s.tags, { name: 'web.a.requests', movingAverage: '2' });
    // each point is the average of the two before it
    assert.deepEqual(points(s), [[1.5, 120], [2.5, 180], [3, 240], [5, 300], [5.5, 360], [6.5, 420], [7.5, 480], [8.5, 540]]);
  });

  test('movingAverage over a time window', () => {
    const { series, calls } = run('movingAverage(web.a.requests,"2min")', 120, 600);
    assert.equal(calls[1]!.from, 0);
    assert.equal(series[0]!.name, 'movingAverage(web.a.requests,"2min")');
    assert.deepEqual(series[0]!.values, [1.5, 2.5, 3, 5, 5.5, 6.5, 7.5, 8.5]);
  });

  test('movingSum, movingMax, movingWindow with a function and xFilesFactor', () => {
    assert.deepEqual(only('movingSum(web.a.requests,2)', 120, 600).values.slice(0, 3), [3, 5, 3]);
    assert.deepEqual(only('movingMax(web.a.requests,3)', 180, 600).values.slice(0, 3), [3, 3, 5]);
    assert.equal(only('movingWindow(web.a.requests,2,"median")', 120, 600).name, 'movingMedian(web.a.requests,2)');
    // half of the window must be present: (3, null) passes, (null) alone would not
    assert.deepEqual(only('movingWindow(web.a.requests,2,"sum",0.6)', 120, 600).values.slice(0, 4), [3, 5, null, null]);
    assert.deepEqual(run('movingAverage(nothing.*,2)').series, []);
    assert.throws(() => run('movingAverage(web.a.requests,0)'), /positive number of points/);
  });
});

describe('filtering and sorting', () => {
  test('highestCurrent / highestAverage order, ties keep input order, no value sorts last', () => {
    const w = [0, 180] as const;
    assert.deepEqual(names('highestCurrent(srv.*,2)', ...w), ['srv.a', 'srv.b']);
    assert.deepEqual(names('highestCurrent(srv.*,3)', ...w), ['srv.a', 'srv.b', 'srv.c']);
    assert.deepEqual(names('highestAverage(srv.*,2)', ...w), ['srv.b', 'srv.a']);
    assert.deepEqual(names('highestAverage(srv.*,10)', ...w), ['srv.b', 'srv.a', 'srv.c', 'srv.d']);
    assert.deepEqual(names('highestMax(srv.*,1)', ...w), ['srv.b']);
    assert.deepEqual(names('highest(srv.*,1,"min")', ...w), ['srv.c']);
    assert.deepEqual(names('lowestAverage(srv.*,2)', ...w), ['srv.d', 'srv.c']);
    assert.deepEqual(names('lowestCurrent(srv.*,2)', ...w), ['srv.d', 'srv.b']);
  });

  test('threshold filters, limit, grep/exclude, removeEmptySeries, sortByName', () => {
    const w = [0, 180] as const;
    assert.deepEqual(names('currentAbove(srv.*,2)', ...w), ['srv.a']);
    assert.deepEqual(names('currentBelow(srv.*,2)', ...w), ['srv.b', 'srv.c', 'srv.d']);
    assert.deepEqual(names('averageAbove(srv.*,3)', ...w), ['srv.b']);
    assert.deepEqual(names('maximumAbove(srv.*,4)', ...w), ['srv.a', 'srv.b']);
    assert.deepEqual(names('filterSeries(srv.*,"sum","=",9)', ...w), ['srv.a']);
    assert.throws(() => run('filterSeries(srv.*,"sum","~",9)'), /filterSeries\(\): argument "operator" must be a quoted string \(one of !=, <, <=, =, >, >=\), got "~"/);
    assert.deepEqual(names('limit(srv.*,2)', ...w), ['srv.a', 'srv.b']);
    assert.deepEqual(names('grep(srv.*,"[ab]$")', ...w), ['srv.a', 'srv.b']);
    assert.deepEqual(names('exclude(srv.*,"[ab]$")', ...w), ['srv.c', 'srv.d']);
    assert.deepEqual(names('removeEmptySeries(srv.*)', ...w), ['srv.a', 'srv.b', 'srv.c']);
    assert.deepEqual(names('sortByName(group(srv.b,srv.a),false,true)', ...w), ['srv.b', 'srv.a']);
  });
});

describe('naming', () => {
  test('alias keeps the path expression for combining', () => {
    const s = only('alias(web.a.requests,"hits")');
    assert.equal(s.name, 'hits');
    assert.deepEqual(s.tags, { name: 'web.a.requests' });
    assert.equal(only('sumSeries(alias(web.a.requests,"hits"),cpu.user)').name, 'sumSeries(web.a.requests,cpu.user)');
  });

  test('aliasByNode: negative indexes, first path inside functions, tags', () => {
    assert.deepEqual(names('aliasByNode(web.*.requests,1)'), ['a', 'b']);
    assert.deepEqual(names('aliasByNode(scale(web.*.requests,2),-2,0)'), ['a.web', 'b.web']);
    assert.deepEqual(names('aliasByNode(sumSeries(web.*.requests),0)'), ['web']);
    assert.deepEqual(names('aliasByNode(sys.load;host=h1,"host",1,7)', 0, 60), ['h1.load.']);
    assert.deepEqual(names('aliasByMetric(scale(web.*.requests,2))'), ['requests', 'requests']);
    assert.deepEqual(names('aliasSub(web.*.requests,"^web\\.(\\w+)\\..*$","host \\1")'), ['host a', 'host b']);
  });

  test('consolidateBy sets the function and the name', () => {
    const s = only('consolidateBy(web.a.requests,"max")');
    assert.equal(s.name, 'consolidateBy(web.a.requests,"max")');
    assert.equal(s.consolidationFunc, 'max');
    assert.equal(only('consolidateBy(web.a.requests,"avg")').consolidationFunc, 'average');
    assert.equal(only('cumulative(web.a.requests)').consolidationFunc, 'sum');
    assert.throws(() => run('consolidateBy(web.a.requests,"avg_zero")'), /consolidateBy\(\): argument "consolidationFunc" must be a quoted string \(one of sum, average, avg, min, max, first, last\), got "avg_zero"/);
  });
});

describe("tally's fetch functions", () => {
  test('percentile reads histogram buckets through the fetcher', () => {
    const { series, calls } = run('percentile(api.latency,99)', 0, 120);
    assert.deepEqual(calls, [{ pattern: 'api.latency', reader: { kind: 'percentile', n: 99 }, from: 0, until: 120 }]);
    assert.equal(series[0]!.name, 'percentile(api.latency,99)');
    assert.equal(series[0]!.pathExpression, 'percentile(api.latency,99)');
    assert.equal(only('api.latency|percentile(99.9)', 0, 120).name, 'percentile(api.latency,99.9)');
    assert.equal(only('sumSeries(percentile(api.*,50))', 0, 120).name, 'sumSeries(percentile(api.*,50))');
    assert.equal(only('aliasByNode(percentile(api.latency,99),1)', 0, 120).name, 'latency');
  });

  test('unique reads set members through the fetcher', () => {
    const { series, calls } = run('unique(api.users)', 0, 120);
    assert.deepEqual(calls, [{ pattern: 'api.users', reader: { kind: 'unique' }, from: 0, until: 120 }]);
    assert.equal(series[0]!.name, 'unique(api.users)');
  });

  test('their argument must be a metric path', () => {
    assert.throws(() => run('percentile(scale(api.latency,1),99)'), /percentile\(\): argument "seriesList" must be a metric path, not scale\(...\)/);
    assert.throws(() => run('percentile(api.latency,0)'), /n must be in \(0, 100\], got 0/);
    assert.throws(() => run('percentile(api.latency,101)'), QueryError);
  });
});
