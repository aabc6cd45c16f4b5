import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StatsdParser } from '../agent/statsd/parser.js';
import type { SampleSink } from '../agent/statsd/sink.js';

type Event = [string, ...unknown[]];

function parse(text: string | string[], opts = { keySanitize: true, maxKeyLength: 1024 }): { events: Event[]; packets: number; lines: number; bad: string[] } {
  const r = { events: [] as Event[], packets: 0, lines: 0, bad: [] as string[] };
  const sink: SampleSink = {
    counter: (k, v, rate) => r.events.push(['c', k, v, rate]),
    timer: (k, v, rate) => r.events.push(['ms', k, v, rate]),
    gauge: (k, v, signed) => r.events.push(['g', k, v, signed]),
    set: (k, m) => r.events.push(['s', k, m]),
    packet: () => r.packets++,
    line: () => r.lines++,
    badLine: (_line, reason) => r.bad.push(reason),
  };
  const p = new StatsdParser(sink, opts);
  for (const t of Array.isArray(text) ? text : [text]) p.packet(t);
  return r;
}

const valid = (line: string): boolean => parse(line).bad.length === 0;

describe('statsd parser: etsy validation matrix (helpers_tests)', () => {
  it('rejects samples without a type, and empty counter or gauge values', () => {
    assert.equal(valid('a:1'), false);
    assert.equal(valid('a'), false);
    assert.equal(valid('a:|c'), false);
    assert.equal(valid('a:|g'), false);
  });
  it('accepts signed and scientific counters', () => {
    assert.deepEqual(parse('a:+10e1|c').events, [['c', 'a', 100, 1]]);
    assert.deepEqual(parse('a:-10|c').events, [['c', 'a', -10, 1]]);
  });
  it('rejects negative timers, accepts -0.0, +0.0 and 0', () => {
    assert.equal(valid('a:-1|ms'), false);
    for (const v of ['-0.0', '+0.0', '0']) assert.equal(valid(`a:${v}|ms`), true, v);
  });
  it('accepts gauges with signs and decimals, marking signed ones', () => {
    assert.deepEqual(parse('a:+10|g\na:-10|g\na:10.0|g\na:-10.0|g').events, [
      ['g', 'a', 10, true],
      ['g', 'a', -10, true],
      ['g', 'a', 10, false],
      ['g', 'a', -10, true],
    ]);
  });
  it('accepts any string as a set member, and an empty one as "0"', () => {
    assert.deepEqual(parse('u:abc|s\nu:123|s\nu:|s').events, [
      ['s', 'u', 'abc'],
      ['s', 'u', '123'],
      ['s', 'u', '0'],
    ]);
  });
  it('accepts the sample rates etsy accepts in (0, 1]', () => {
    for (const r of ['@0.1', '@.2', '@1', '@0.5']) assert.equal(valid(`a:1|c|${r}`), true, r);
    assert.deepEqual(parse('a:1.0|c|@0.1').events, [['c', 'a', 1, 0.1]]);
  });
  it('rejects malformed sample rates', () => {
    for (const r of ['', '@', '@blah', '@.1.', '@-1.0', 'x0.1']) assert.equal(valid(`a:1|c|${r}`), false, r);
  });
});

describe('statsd parser: tally choices where etsy is buggy', () => {
  it('reads @2e-1 as 0.2 (etsy reads 2)', () => {
    assert.deepEqual(parse('a:1|c|@2e-1').events, [['c', 'a', 1, 0.2]]);
  });
  it('rejects rates of 0 and above 1', () => {
    assert.deepEqual(parse('a:1|c|@0\na:1|c|@2\na:1|ms|@1.5').bad, ['sample rate not in (0, 1]', 'sample rate not in (0, 1]', 'sample rate not in (0, 1]']);
  });
  it('treats h and d as timers (etsy counts them)', () => {
    assert.deepEqual(parse('a:5|h\nb:7|d').events, [
      ['ms', 'a', 5, 1],
      ['ms', 'b', 7, 1],
    ]);
  });
  it('rejects unknown types (etsy counts them)', () => {
    assert.deepEqual(parse('a:1|x\na:1|cc\na:1|').bad, ['unknown type', 'unknown type', 'unknown type']);
  });
  it('rejects NaN and infinite values', () => {
    assert.deepEqual(parse('a:NaN|c\na:Infinity|g\na:1e400|ms\na:abc|c').bad.length, 4);
  });
  it('rejects empty names and names over the limit', () => {
    const r = parse(':1|c\nabcdef:1|c\nabcdefg:1|c', { keySanitize: true, maxKeyLength: 6 });
    assert.deepEqual(r.bad, ['empty name', 'name longer than 6']);
    assert.deepEqual(r.events, [['c', 'abcdef', 1, 1]]);
  });
});

describe('statsd parser: grammar', () => {
  it('splits lines on \\n, tolerates \\r\\n, skips empty lines and counts non-empty ones', () => {
    const r = parse('a:1|c\r\n\nb:2|c\n\r\nc:3|c\n');
    assert.deepEqual(r.events.map((e) => e[1]), ['a', 'b', 'c']);
    assert.equal(r.packets, 1);
    assert.equal(r.lines, 3);
  });
  it('reads several samples per line, of mixed types', () => {
    assert.deepEqual(parse('key:1|c:250|ms:3|g').events, [
      ['c', 'key', 1, 1],
      ['ms', 'key', 250, 1],
      ['g', 'key', 3, false],
    ]);
  });
  it('skips only the bad sample of a line and the bad line of a packet', () => {
    const r = parse('a:1|c:x|c:2|c\nbad\nb:1|ms');
    assert.deepEqual(r.events, [
      ['c', 'a', 1, 1],
      ['c', 'a', 2, 1],
      ['ms', 'b', 1, 1],
    ]);
    assert.equal(r.bad.length, 2);
  });
  it('sanitizes keys as etsy does', () => {
    assert.deepEqual(parse('fo/o:1|c\nb ar:1|c\nfoo+bar:1|c\na  \tb:1|c').events.map((e) => e[1]), ['fo-o', 'b_ar', 'foobar', 'a_b']);
  });
  it('keeps keys as sent when sanitizing is off', () => {
    assert.equal(parse('fo/o b:1|c', { keySanitize: false, maxKeyLength: 100 }).events[0]![1], 'fo/o b');
  });
  it('turns DogStatsD tags into Graphite tags, in their order', () => {
    assert.equal(parse('api.hits:1|c|#env:prod,region:eu,canary').events[0]![1], 'api.hits;env=prod;region=eu;canary');
    assert.equal(parse('t:1|c|@0.5|#a:b').events[0]![3], 0.5);
    // first ';' of a tag -> '_', first ':' -> '=' (etsy)
    assert.equal(parse('t:1|c|#a:b;c').events[0]![1], 't;a=b_c');
    // DogStatsD fields after the tags are ignored
    assert.equal(parse('t:1|c|#a:b|c:container123').events[0]![1], 't;a=b');
  });
  it('keeps Graphite-style tags in the name', () => {
    assert.equal(parse('api.hits;env=prod:1|c').events[0]![1], 'api.hits;env=prod');
  });
  it('counts binary garbage as bad lines and keeps going', () => {
    const r = parse(['\u0000\u00ff\ufffd:|', 'ok:1|c']);
    assert.equal(r.bad.length, 1);
    assert.deepEqual(r.events, [['c', 'ok', 1, 1]]);
    assert.equal(r.packets, 2);
  });
  it('counts an empty packet as a packet with no lines', () => {
    const r = parse('');
    assert.equal(r.packets, 1);
    assert.equal(r.lines, 0);
  });
  it('keeps UTF-8 set members', () => {
    assert.deepEqual(parse('u:héllo✓|s').events, [['s', 'u', 'héllo✓']]);
  });
});
