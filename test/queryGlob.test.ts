import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileGlob, expandBraces, expandPaths, findCompleter, findNodes } from '../storage/query/glob.js';

const matches = (pattern: string, names: string[]): string[] => names.filter(compileGlob(pattern));

describe('globs', () => {
  test('braces, nested, expanded in order', () => {
    assert.deepEqual(expandBraces('a.{b,c}.d'), ['a.b.d', 'a.c.d']);
    assert.deepEqual(expandBraces('a.{b,c{1,2}}.d'), ['a.b.d', 'a.c1.d', 'a.c2.d']);
    assert.deepEqual(expandBraces('{a,b}{1,2}'), ['a1', 'a2', 'b1', 'b2']);
    assert.deepEqual(expandBraces('{a}'), ['a']);
    assert.deepEqual(expandBraces('{a,a}'), ['a']);
    assert.deepEqual(expandBraces('a{b'), ['a{b']);
  });

  test('{a,b}.* and nothing crosses a dot', () => {
    const names = ['a.x', 'b.y', 'c.x', 'a.x.y', 'a'];
    assert.deepEqual(matches('{a,b}.*', names), ['a.x', 'b.y']);
    assert.deepEqual(matches('*', names), ['a']);
    assert.deepEqual(matches('servers.*', ['servers.a', 'servers.a.b']), ['servers.a']);
    assert.deepEqual(matches('a*', ['ab', 'a.b']), ['ab']);
  });

  test('?, sets, ranges and negation', () => {
    assert.deepEqual(matches('a?c', ['abc', 'ac', 'abbc', 'a.c']), ['abc']);
    assert.deepEqual(matches('[!x]*', ['abc', 'xyz', 'x']), ['abc']);
    assert.deepEqual(matches('[a-c]1', ['b1', 'd1', 'a1']), ['b1', 'a1']);
    assert.deepEqual(matches('cpu[01]', ['cpu0', 'cpu1', 'cpu2']), ['cpu0', 'cpu1']);
    assert.deepEqual(matches('[]a]', [']', 'a', 'b']), [']', 'a']);
    // an unclosed [ is literal, like fnmatch
    assert.deepEqual(matches('a[b', ['a[b', 'ab']), ['a[b']);
    // regex characters are literal
    assert.deepEqual(matches('a+b(1)', ['a+b(1)', 'aab1']), ['a+b(1)']);
    // case-sensitive
    assert.deepEqual(matches('A', ['a', 'A']), ['A']);
  });

  test('tags are not part of the path; tags in the pattern must match', () => {
    const names = ['a.b;host=x', 'a.b;host=y;dc=1', 'a.b', 'a.b.c;host=x'];
    assert.deepEqual(matches('a.*', names), ['a.b;host=x', 'a.b;host=y;dc=1', 'a.b']);
    assert.deepEqual(matches('a.*;host=x', names), ['a.b;host=x']);
    assert.deepEqual(matches('a.b;dc=1', names), ['a.b;host=y;dc=1']);
  });
});

const NAMES = ['a.b.c', 'a.b.d', 'a.e', 'a.b', 'x.y', 'a.f;host=1', 'a.my%20host'];
const branch = (text: string, id: string) => ({ text, id, leaf: 0, expandable: 1, allowChildren: 1 });
const leaf = (text: string, id: string) => ({ text, id, leaf: 1, expandable: 0, allowChildren: 0 });

describe('/metrics/find', () => {
  test('children of a query: branches first, each sorted; branch-and-leaf once', () => {
    assert.deepEqual(findNodes('a.*', NAMES), [branch('b', 'a.b'), leaf('e', 'a.e'), leaf('f', 'a.f'), leaf('my host', 'a.my%20host')]);
    assert.deepEqual(findNodes('*', NAMES), [branch('a', 'a'), branch('x', 'x')]);
    assert.deepEqual(findNodes('a.b.*', NAMES), [leaf('c', 'a.b.c'), leaf('d', 'a.b.d')]);
    assert.deepEqual(findNodes('nope.*', NAMES), []);
  });

  test('id is the query up to its last dot plus the name; one node per name', () => {
    assert.deepEqual(findNodes('{a,x}.[ey]', NAMES), [leaf('e', '{a,x}.e'), leaf('y', '{a,x}.y')]);
    assert.deepEqual(findNodes('*.x', ['a.x.z', 'b.x']), [branch('x', '*.x')]);
  });

  test('leavesOnly and wildcards', () => {
    assert.deepEqual(findNodes('a.*', NAMES, { leavesOnly: true }), [leaf('b', 'a.b'), leaf('e', 'a.e'), leaf('f', 'a.f'), leaf('my host', 'a.my%20host')]);
    assert.deepEqual(findNodes('a.b.*', NAMES, { wildcards: true }), [leaf('*', 'a.b.*'), leaf('c', 'a.b.c'), leaf('d', 'a.b.d')]);
    assert.deepEqual(findNodes('*', NAMES, { wildcards: true })[0], branch('*', '*'));
    assert.deepEqual(findNodes('x.*', NAMES, { wildcards: true }), [leaf('y', 'x.y')]);
  });

  test('completer format', () => {
    assert.deepEqual(findCompleter('a.b', NAMES), {
      metrics: [
        { path: 'a.b.', name: 'b', is_leaf: '0' },
        { path: 'a.b', name: 'b', is_leaf: '1' },
      ],
    });
    assert.deepEqual(findCompleter('a..', ['a.b.c']), { metrics: [{ path: 'a.b.', name: 'b', is_leaf: '0' }] });
    assert.deepEqual(findCompleter('x.', NAMES, { wildcards: true }), { metrics: [{ path: 'x.y', name: 'y', is_leaf: '1' }] });
  });
});

describe('/metrics/expand', () => {
  test('merged and sorted, or grouped by query', () => {
    assert.deepEqual(expandPaths(['x.*', 'a.*'], NAMES), { results: ['a.b', 'a.e', 'a.f', 'a.my%20host', 'x.y'] });
    assert.deepEqual(expandPaths(['x.*', 'a.{e,f}'], NAMES, { groupByExpr: true }), { results: { 'x.*': ['x.y'], 'a.{e,f}': ['a.e', 'a.f'] } });
    assert.deepEqual(expandPaths(['a.*', 'a.e'], NAMES, { groupByExpr: false }), { results: ['a.b', 'a.e', 'a.f', 'a.my%20host'] });
  });

  test('leavesOnly drops branches', () => {
    assert.deepEqual(expandPaths(['*', 'a.b*'], NAMES, { leavesOnly: true }), { results: ['a.b'] });
    assert.deepEqual(expandPaths(['*'], NAMES), { results: ['a', 'x'] });
  });
});
