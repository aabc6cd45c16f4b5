import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueryError } from '../storage/query/errors.js';
import { firstPathExpression, parseTarget, type Arg } from '../storage/query/expr.js';

/** The tree without positions, for comparing shapes. */
function shape(a: Arg): unknown {
  switch (a.type) {
    case 'path':
      return a.path;
    case 'call':
      return { [a.name]: a.args.map(shape), ...(Object.keys(a.kwargs).length ? { kwargs: Object.fromEntries(Object.entries(a.kwargs).map(([k, v]) => [k, shape(v)])) } : {}) };
    case 'none':
      return null;
    default:
      return a.value;
  }
}
const parse = (t: string): unknown => shape(parseTarget(t));

describe('parseTarget', () => {
  test('path expressions keep globs, braces with commas and tags', () => {
    assert.deepEqual(parseTarget('a.b.c'), { type: 'path', path: 'a.b.c', pos: 0 });
    assert.equal(parse('a.{b,c}.*[0-9]?'), 'a.{b,c}.*[0-9]?');
    assert.equal(parse('a.{b,c{1,2}}.d'), 'a.{b,c{1,2}}.d');
    assert.equal(parse('a.b;host=x;dc=eu-1'), 'a.b;host=x;dc=eu-1');
    assert.equal(parse('5xx.count'), '5xx.count');
    assert.equal(parse('  a.b  '), 'a.b');
  });

  test('nested calls and literals', () => {
    assert.deepEqual(parse('sumSeries(a.*, scale(b.c, 2.5))'), { sumSeries: ['a.*', { scale: ['b.c', 2.5] }] });
    assert.deepEqual(parse('f(1, -2, 1.5, 1e3, -2.5E-2)'), { f: [1, -2, 1.5, 1000, -0.025] });
    assert.deepEqual(parse('f(1min.x, true.y, true, False, None, inf)'), { f: ['1min.x', 'true.y', true, false, null, Infinity] });
    assert.deepEqual(parse(`alias(a.b, 'x'), `.slice(0, -2)), { alias: ['a.b', 'x'] });
    assert.deepEqual(parse(`f("a,b", 'it\\'s', "(x)|y")`), { f: ['a,b', "it\\'s", '(x)|y'] });
    assert.deepEqual(parse('f()'), { f: [] });
    assert.deepEqual(parse(' sumSeries ( a.b , c.d ) '), { sumSeries: ['a.b', 'c.d'] });
    assert.deepEqual(parse('f(a.{b,c}.d, e)'), { f: ['a.{b,c}.d', 'e'] });
  });

  test('keyword arguments', () => {
    assert.deepEqual(parse('summarize(a.b, "1h", func="max", alignToFrom=true)'), { summarize: ['a.b', '1h'], kwargs: { func: 'max', alignToFrom: true } });
    assert.deepEqual(parse('f(a.b, total=sumSeries(c.*))'), { f: ['a.b'], kwargs: { total: { sumSeries: ['c.*'] } } });
  });

  test('pipes are nested calls', () => {
    assert.deepEqual(parse('a.b|scale(2)|alias("x")'), parse('alias(scale(a.b,2),"x")'));
    assert.deepEqual(parse('a.b | scale(2)'), { scale: ['a.b', 2] });
    assert.deepEqual(parse('sum(a.*|scale(2))'), { sum: [{ scale: ['a.*', 2] }] });
    assert.deepEqual(parse('sumSeries(a.*)|alias("total")'), { alias: [{ sumSeries: ['a.*'] }, 'total'] });
  });

  test('errors name the position and what was expected', () => {
    const fails = (t: string, re: RegExp): void => assert.throws(() => parseTarget(t), (e: unknown) => e instanceof QueryError && re.test(e.message), t);
    fails('sum(a.b', /expected "," or "\)" in the arguments of sum\(\) at position 7, found the end/);
    fails('sum(a.b))', /expected end of target .* at position 8, found "\)"/);
    fails('a.b|c.d', /expected a function call after "\|" at position 4/);
    fails('', /expected a metric path or a function call at position 0/);
    fails('f(x="a", b.c)', /a keyword argument \(positional arguments come first\)/);
    fails('f(x=1, x=2)', /no repeated keyword argument "x"/);
    fails("alias(a,'x", /expected a closing ' for the string at position 8/);
    fails('f(a.{b,c)', /expected "}" to close the "{" at position 4/);
    fails('f(,)', /expected a metric path or a function call at position 2/);
  });
});

describe('firstPathExpression', () => {
  test('the first path inside a function-wrapped name', () => {
    assert.equal(firstPathExpression('sumSeries(a.b,c.d)'), 'a.b');
    assert.equal(firstPathExpression('scale(a.b,2)'), 'a.b');
    assert.equal(firstPathExpression('timeShift(movingAverage(x.y,"5min"), "-1d")'), 'x.y');
    assert.equal(firstPathExpression('percentile(api.latency,99)'), 'api.latency');
    assert.equal(firstPathExpression('a.b'), 'a.b');
    assert.equal(firstPathExpression('Large Blue Widgets'), undefined);
    assert.equal(firstPathExpression('f(1)'), undefined);
  });
});
