import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Aggregator, type AggregatorOptions, type RawInterval } from '../agent/statsd/aggregator.js';

const opts = (o: Partial<AggregatorOptions> = {}): AggregatorOptions => ({
  prefixStats: 'statsd',
  maxMetrics: 1000,
  deleteIdle: { counters: false, timers: false, gauges: false, sets: false },
  gaugesMaxTtl: 1,
  ...o,
});

const table = (part: { keys: string[]; values: Float64Array }): Record<string, number> => Object.fromEntries(part.keys.map((k, i) => [k, part.values[i]!]));
const gauges = (r: RawInterval): Record<string, number> => table(r.gauges);
const counters = (r: RawInterval): Record<string, number> => table(r.counters);

describe('aggregator', () => {
  it('starts with etsy\'s three internal counters, first, at 0', () => {
    const r = new Aggregator(opts()).takeInterval();
    assert.deepEqual(r.counters.keys, ['statsd.bad_lines_seen', 'statsd.packets_received', 'statsd.metrics_received']);
    assert.deepEqual([...r.counters.values], [0, 0, 0]);
  });
  it('scales counters by the sample rate with etsy\'s arithmetic', () => {
    const a = new Aggregator(opts());
    a.counter('c', 3, 0.3);
    a.counter('c', 1, 0.1);
    assert.equal(counters(a.takeInterval()).c, 3 * (1 / 0.3) + 10);
  });
  it('gauges: a signed value is a delta on a non-zero gauge, and sets a new or zero one', () => {
    const a = new Aggregator(opts());
    a.gauge('g', -5, true); // new gauge: set to -5
    a.gauge('g', 3, true); // delta
    a.gauge('z', 0, false);
    a.gauge('z', -3, true); // zero gauge: set
    assert.deepEqual(gauges(a.takeInterval()), { g: -2, z: -3 });
    a.gauge('g', 50, false);
    a.gauge('g', -3, true);
    assert.deepEqual(gauges(a.takeInterval()), { g: 47, z: -3 });
  });
  it('keeps idle keys at zero unless told to delete them', () => {
    const a = new Aggregator(opts());
    a.counter('c', 1, 1);
    a.timer('t', 1, 1);
    a.set('s', 'x');
    a.gauge('g', 1, false);
    a.takeInterval();
    const r = a.takeInterval();
    assert.equal(counters(r).c, 0);
    assert.deepEqual(r.timers.keys, ['t']);
    assert.deepEqual(r.timers.samples, [[]]);
    assert.equal(r.sets.members[0]!.size, 0);
    assert.equal(gauges(r).g, 1);
  });
  it('delete_idle drops idle keys after the flush they appeared in, but only resets internal counters', () => {
    const a = new Aggregator(opts({ deleteIdle: { counters: true, timers: true, gauges: true, sets: true }, gaugesMaxTtl: 2 }));
    a.counter('c', 1, 1);
    a.timer('t', 1, 1);
    a.set('s', 'x');
    a.gauge('g', 1, false);
    a.packet();
    const first = a.takeInterval();
    assert.deepEqual(first.counters.keys, ['statsd.bad_lines_seen', 'statsd.packets_received', 'statsd.metrics_received', 'c']);
    assert.equal(counters(first)['statsd.packets_received'], 1);
    const second = a.takeInterval();
    assert.deepEqual(second.counters.keys, ['statsd.bad_lines_seen', 'statsd.packets_received', 'statsd.metrics_received']);
    assert.deepEqual([second.timers.keys, second.sets.keys], [[], []]);
    assert.deepEqual(gauges(second), { g: 1 }, 'gauge kept for gauges_max_ttl = 2 flushes');
    assert.deepEqual(gauges(a.takeInterval()), {}, 'and gone at the third');
    a.packet();
    assert.equal(counters(a.takeInterval())['statsd.packets_received'], 1, 'internal counters still count after deletion');
  });
  it('an update renews a gauge\'s TTL', () => {
    const a = new Aggregator(opts({ deleteIdle: { counters: false, timers: false, gauges: true, sets: false }, gaugesMaxTtl: 1 }));
    a.gauge('g', 1, false);
    a.takeInterval();
    a.gauge('g', 2, false);
    assert.deepEqual(gauges(a.takeInterval()), { g: 2 });
    assert.deepEqual(gauges(a.takeInterval()), {});
  });
  it('timestamp_lag is a gauge that never expires', () => {
    const a = new Aggregator(opts({ deleteIdle: { counters: false, timers: false, gauges: true, sets: false } }));
    a.setTimestampLag(2);
    a.takeInterval();
    assert.deepEqual(gauges(a.takeInterval()), { 'statsd.timestamp_lag': 2 });
  });
  it('drops samples of new keys beyond max_metrics, and counts them', () => {
    const a = new Aggregator(opts({ maxMetrics: 5 })); // 3 internal counters + 2
    a.counter('a', 1, 1);
    a.timer('b', 1, 1);
    a.gauge('c', 1, false);
    a.set('d', 'x');
    a.counter('a', 1, 1); // existing key: still counted
    assert.equal(a.counts.dropped, 2);
    assert.deepEqual(counters(a.takeInterval()).a, 2);
  });
  it('counts bad lines in statsd.bad_lines_seen and reports them', () => {
    const seen: string[] = [];
    const a = new Aggregator(opts({ prefixStats: 'mystats' }), (line, why) => seen.push(`${why}: ${line}`));
    a.badLine('x|z', 'no value');
    assert.deepEqual(seen, ['no value: x|z']);
    assert.equal(counters(a.takeInterval())['mystats.bad_lines_seen'], 1);
  });
});
