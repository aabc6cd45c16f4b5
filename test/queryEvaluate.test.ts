import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { functionCatalog, functionInfo, functionNames } from '../storage/query/catalog.js';
import { QueryError } from '../storage/query/errors.js';
import { evaluateTargets, renderJson } from '../storage/query/evaluate.js';
import { compileGlob } from '../storage/query/glob.js';
import { graphiteJson } from '../storage/query/json.js';
import type { SeriesFetcher, TimeSeries, ValueReader } from '../storage/query/timeSeries.js';

type Call = { pattern: string; reader: ValueReader; from: number; until: number };

/** web.a.requests: 1, 2, 3, null, 5 … 10 at 0, 60 … 540; slots from the first step boundary at or after `from`. */
function store(): { fetcher: SeriesFetcher; calls: Call[] } {
  const data: Record<string, (number | null)[]> = {
    'web.a.requests': [1, 2, 3, null, 5, 6, 7, 8, 9, 10],
    'web.b.requests': [10, null, 30, null, 50, 60, 70, 80, 90, 100],
  };
  const calls: Call[] = [];
  return {
    calls,
    fetcher: {
      fetch(pattern, reader, from, until) {
        calls.push({ pattern, reader, from, until });
        return Object.keys(data)
          .filter(compileGlob(pattern))
          .map((name): TimeSeries => {
            const start = Math.ceil(from / 60) * 60;
            const end = Math.ceil(until / 60) * 60;
            const values: (number | null)[] = [];
            for (let t = start; t < end; t += 60) values.push(data[name]![t / 60] ?? null);
            return { name, pathExpression: pattern, tags: { name }, start, end, step: 60, values, consolidationFunc: 'average', xFilesFactor: 0 };
          });
      },
    },
  };
}

function run(targets: string[], from = 0, until = 600, maxDataPoints?: number): { series: TimeSeries[]; calls: Call[] } {
  const { fetcher, calls } = store();
  return { series: evaluateTargets(targets, { from, until, now: 600, fetcher, ...(maxDataPoints === undefined ? {} : { maxDataPoints }) }), calls };
}
const points = (s: TimeSeries): [number | null, number][] => s.values.map((v, i) => [v, s.start + i * s.step]);
const fails = (target: string, re: RegExp): void =>
  assert.throws(() => run([target]), (e: unknown) => e instanceof QueryError && re.test(e.message), target);

describe('evaluateTargets', () => {
  test('a path is fetched as values over [from, until), with its pattern as path expression', () => {
    const { series, calls } = run(['web.*.requests'], 60, 300);
    assert.deepEqual(calls, [{ pattern: 'web.*.requests', reader: { kind: 'value' }, from: 60, until: 300 }]);
    assert.deepEqual(series.map((s) => [s.name, s.pathExpression]), [['web.a.requests', 'web.*.requests'], ['web.b.requests', 'web.*.requests']]);
  });

  test('several targets in order; empty ones skipped; no match gives nothing', () => {
    const { series } = run(['web.b.requests', ' ', 'web.a.requests', 'nothing.*', 'sumSeries(nothing.*)']);
    assert.deepEqual(series.map((s) => s.name), ['web.b.requests', 'web.a.requests']);
  });

  test('a render fetches each pattern and range once', () => {
    const { calls } = run(['web.*.requests', 'sumSeries(web.*.requests)', 'asPercent(web.*.requests)']);
    assert.equal(calls.length, 1);
  });

  test('from and until are swapped when reversed; an empty range is an error', () => {
    assert.deepEqual(run(['web.a.requests'], 300, 60).calls[0]!.from, 60);
    assert.throws(() => run(['web.a.requests'], 60, 60), /empty time range/);
  });

  test('pipes evaluate like nested calls', () => {
    const piped = run(['web.a.requests|scale(2)|alias("x")']).series;
    assert.deepEqual(piped, run(['alias(scale(web.a.requests,2),"x")']).series);
    assert.equal(piped[0]!.name, 'x');
  });

  test('keyword arguments bind by name', () => {
    assert.deepEqual(run(['summarize(web.a.requests,"5min",func="max")']).series[0]!.values, [5, 10, null]);
    assert.equal(run(['summarize(web.a.requests,intervalString="5min",alignToFrom=true)']).series[0]!.name, 'summarize(web.a.requests, "5min", "sum", true)');
  });

  test('unknown functions and bad arguments are QueryErrors naming the function and argument', () => {
    fails('foo(web.a.requests)', /^unknown function "foo"$/);
    fails('scale(web.a.requests,"x")', /^scale\(\): argument "factor" must be a number, got "x"$/);
    fails('scale(web.a.requests)', /^scale\(\): missing required argument "factor" \(a number\)$/);
    fails('scale(web.a.requests,1,2)', /^scale\(\): too many arguments: it takes at most 2, got 3$/);
    fails('scale(web.a.requests,factr=2)', /^scale\(\): unknown argument "factr": expected one of seriesList, factor$/);
    fails('scale(web.a.requests,2,factor=3)', /^scale\(\): argument "factor" given twice$/);
    fails('sumSeries(1)', /^sumSeries\(\): argument "seriesLists" must be a series list \(a metric path or a function call\), got 1$/);
    fails('summarize(web.a.requests,"1m")', /^summarize\(\): argument "intervalString" must be a quoted interval such as "5min", got "1m"$/);
    fails('summarize(web.a.requests,"1h","nope")', /^summarize\(\): argument "func" must be one of average, .*, got "nope"$/);
    fails('highestCurrent(web.*.requests,1.5)', /^highestCurrent\(\): argument "n" must be an integer, got 1.5$/);
    fails('summarize(web.a.requests,"1h",alignToFrom=1)', /argument "alignToFrom" must be true or false, got 1/);
    fails('scale(web.a.requests', /^bad target "scale\(web.a.requests": expected/);
  });

  test('None for an optional argument means its default', () => {
    assert.equal(run(['summarize(web.a.requests,"5min",None)']).series[0]!.name, 'summarize(web.a.requests, "5min", "sum")');
  });
});

describe('maxDataPoints', () => {
  test('fewer points than asked: unchanged', () => {
    assert.deepEqual(run(['web.a.requests'], 0, 600, 10).series, run(['web.a.requests']).series);
  });

  test('valuesPerPoint = ceil(points / maxDataPoints), buckets at multiples of the new step', () => {
    // 10 points, at most 3: 4 per point, 240 s buckets from 0
    const s = run(['web.a.requests'], 0, 600, 3).series[0]!;
    assert.equal(s.step, 240);
    assert.deepEqual(points(s), [[2, 0], [6.5, 240], [9.5, 480]]);
  });

  test('the start is nudged to a multiple of the new step; the partial first bucket goes', () => {
    // 9 points from 60, at most 4: 3 per point, 180 s buckets; 60 and 120 come before the first one at 180
    const s = run(['web.a.requests'], 60, 600, 4).series[0]!;
    assert.deepEqual(points(s), [[5.5, 180], [8, 360], [10, 540]]);
    // a later refresh keeps the same bucket boundaries
    assert.deepEqual(points(run(['web.a.requests'], 120, 660, 4).series[0]!), [[5.5, 180], [8, 360], [10, 540]]);
  });

  test('the consolidation function comes from consolidateBy', () => {
    assert.deepEqual(run(['consolidateBy(web.a.requests,"max")'], 0, 600, 5).series[0]!.values, [2, 3, 6, 8, 10]);
    assert.deepEqual(run(['consolidateBy(web.a.requests,"sum")'], 0, 600, 5).series[0]!.values, [3, 3, 11, 15, 19]);
    assert.deepEqual(run(['consolidateBy(web.a.requests,"first")'], 0, 600, 5).series[0]!.values, [1, 3, 5, 7, 9]);
  });

  test('an all-null bucket is null', () => {
    const { fetcher } = store();
    const holes: SeriesFetcher = { fetch: (p, r, f, u) => fetcher.fetch(p, r, f, u).map((s) => ({ ...s, values: s.values.map((v, i) => (i < 4 ? null : v)) })) };
    assert.deepEqual(evaluateTargets(['web.a.requests'], { from: 0, until: 600, now: 600, fetcher: holes, maxDataPoints: 5 })[0]!.values, [null, null, 5.5, 7.5, 9.5]);
  });

  test('maxDataPoints = 1 folds each series into one point', () => {
    const s = run(['web.a.requests'], 0, 600, 1).series[0]!;
    assert.deepEqual(points(s), [[51 / 9, 0]]);
    assert.equal(s.step, 600);
    assert.throws(() => run(['web.a.requests'], 0, 600, 0), /bad maxDataPoints 0/);
  });
});

describe('renderJson', () => {
  const series = (values: (number | null)[]): TimeSeries => ({
    name: 'x',
    pathExpression: 'x',
    tags: { name: 'x' },
    start: 60,
    end: 60 + values.length * 60,
    step: 60,
    values,
    consolidationFunc: 'average',
    xFilesFactor: 0,
  });

  test("Graphite's shape; NaN → null, ±Infinity → ±1e9999", () => {
    assert.equal(
      renderJson([series([1.5, null, NaN, Infinity, -Infinity])]),
      '[{"target":"x","tags":{"name":"x"},"datapoints":[[1.5,60],[null,120],[null,180],[1e9999,240],[-1e9999,300]]}]',
    );
    assert.equal(renderJson([]), '[]');
    assert.deepEqual(JSON.parse(renderJson(run(['scale(web.a.requests,2)'], 0, 120).series)), [
      { target: 'scale(web.a.requests,2)', tags: { name: 'web.a.requests', scale: '2' }, datapoints: [[2, 0], [4, 60]] },
    ]);
  });

  test('noNullPoints drops null points and series left empty', () => {
    assert.equal(renderJson([series([null, 2, NaN]), series([null])], { noNullPoints: true }), '[{"target":"x","tags":{"name":"x"},"datapoints":[[2,120]]}]');
  });
});

describe('/functions catalog', () => {
  test('the required functions are there', () => {
    const required = [
      'alias', 'aliasByNode', 'sumSeries', 'sum', 'averageSeries', 'avg', 'maxSeries', 'minSeries', 'scale', 'offset', 'summarize', 'derivative',
      'nonNegativeDerivative', 'perSecond', 'movingAverage', 'timeShift', 'asPercent', 'highestCurrent', 'highestAverage', 'consolidateBy',
      'keepLastValue', 'integral', 'percentile', 'unique',
    ];
    for (const name of required) assert.ok(functionNames().includes(name), name);
    assert.deepEqual(functionNames(), [...functionNames()].sort());
  });

  test('every listed function is dispatched by the evaluator', () => {
    for (const name of functionNames()) {
      try {
        run([`${name}(web.a.requests)`]);
      } catch (e) {
        assert.ok(e instanceof QueryError && !/unknown function/.test(e.message), `${name}: ${String(e)}`);
      }
    }
  });

  test("an entry in Graphite's format", () => {
    assert.deepEqual(functionInfo('summarize'), {
      name: 'summarize',
      function: "summarize(seriesList, intervalString, func='sum', alignToFrom=False)",
      description: functionInfo('summarize')!.description,
      module: 'graphite.render.functions',
      group: 'Transform',
      params: [
        { name: 'seriesList', type: 'seriesList', required: true },
        { name: 'intervalString', type: 'interval', required: true, suggestions: ['10min', '1h', '1d'] },
        { name: 'func', type: 'aggFunc', default: 'sum', options: functionInfo('summarize')!.params[2]!.options! },
        { name: 'alignToFrom', type: 'boolean', default: false },
      ],
    });
    assert.equal(functionInfo('sumSeries')!.function, 'sumSeries(*seriesLists)');
    assert.deepEqual(functionInfo('sum')!.params, functionInfo('sumSeries')!.params);
    assert.equal(functionInfo('movingAverage')!.function, 'movingAverage(seriesList, windowSize, xFilesFactor=None)');
    assert.equal(functionInfo('percentile')!.module, 'tally');
    assert.equal(functionInfo('nope'), undefined);
  });

  test('Infinity defaults are written 1e9999; groups filter and nest', () => {
    assert.match(graphiteJson(functionInfo('keepLastValue')), /"name":"limit","type":"intOrInf","default":1e9999/);
    const transform = functionCatalog({ group: 'Transform' });
    assert.ok('summarize' in transform && !('sumSeries' in transform));
    const grouped = functionCatalog({ grouped: true }) as Record<string, Record<string, unknown>>;
    assert.ok('sumSeries' in grouped.Combine! && 'alias' in grouped.Alias!);
  });
});
