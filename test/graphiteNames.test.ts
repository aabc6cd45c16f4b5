import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GraphiteConfig } from '../agent/config/types.js';
import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import { Aggregator } from '../agent/statsd/aggregator.js';
import { FlushMath } from '../agent/statsd/processMetrics.js';
import { GraphiteNames } from '../flushers/graphiteNames.js';

const graphite = (o: Partial<GraphiteConfig> = {}): GraphiteConfig => ({
  destinations: [],
  routing: 'consistent-hash',
  legacy_namespace: true,
  global_prefix: 'stats',
  prefix_counter: 'counters',
  prefix_timer: 'timers',
  prefix_gauge: 'gauges',
  prefix_set: 'sets',
  global_suffix: '',
  flush_counts: true,
  connect_timeout: 5000,
    write_timeout: 10_000,
    queue_max: 1_000_000,
    spool_max_bytes: 1024 ** 3,
  ...o,
});

function flushed(g: GraphiteConfig, feed: (a: Aggregator) => void, prefixStats = 'statsd', keysSanitized = true): Map<string, number> {
  const a = new Aggregator({ prefixStats, maxMetrics: 100, deleteIdle: { counters: false, timers: false, gauges: false, sets: false }, gaugesMaxTtl: 1 });
  feed(a);
  const raw = a.takeInterval();
  const derived = new FlushMath({ flushIntervalMs: 200, percentiles: [90], histograms: [], calculatedTimerMetrics: [] }).derive(raw);
  const snap: FlushSnapshot = { ts: 1, intervalMs: 200, raw, derived, named: { names: [], values: [], timestamps: [] }, meta: [] };
  const out = new Map<string, number>();
  new GraphiteNames(g, prefixStats, keysSanitized).forEach(snap, (name, value) => out.set(name, value));
  return out;
}

const sample = (a: Aggregator): void => {
  a.counter('c', 100, 1);
  a.timer('t', 100, 1);
  a.gauge('g', 70, false);
  a.set('s', 'x');
};

describe('graphite names (etsy graphite backend)', () => {
  it('legacy namespace', () => {
    assert.deepEqual([...flushed(graphite(), sample)], [
      ['stats.statsd.bad_lines_seen', 0], ['stats_counts.statsd.bad_lines_seen', 0],
      ['stats.statsd.packets_received', 0], ['stats_counts.statsd.packets_received', 0],
      ['stats.statsd.metrics_received', 0], ['stats_counts.statsd.metrics_received', 0],
      ['stats.c', 500], ['stats_counts.c', 100],
      ['stats.timers.t.count_90', 1], ['stats.timers.t.mean_90', 100], ['stats.timers.t.upper_90', 100], ['stats.timers.t.sum_90', 100],
      ['stats.timers.t.sum_squares_90', 10000], ['stats.timers.t.std', 0], ['stats.timers.t.upper', 100], ['stats.timers.t.lower', 100],
      ['stats.timers.t.count', 1], ['stats.timers.t.count_ps', 5], ['stats.timers.t.sum', 100], ['stats.timers.t.sum_squares', 10000],
      ['stats.timers.t.mean', 100], ['stats.timers.t.median', 100],
      ['stats.gauges.g', 70], ['stats.sets.s.count', 1], ['statsd.numStats', 7],
    ]);
  });
  it('non-legacy namespace', () => {
    const out = flushed(graphite({ legacy_namespace: false }), sample);
    assert.equal(out.get('stats.counters.c.rate'), 500);
    assert.equal(out.get('stats.counters.c.count'), 100);
    assert.equal(out.get('stats.counters.statsd.bad_lines_seen.count'), 0);
    assert.equal(out.get('stats.timers.t.mean_90'), 100);
    assert.equal(out.get('stats.gauges.g'), 70);
    assert.equal(out.get('stats.sets.s.count'), 1);
    assert.equal(out.get('stats.statsd.numStats'), 7);
  });
  it('flush_counts false leaves out the counts', () => {
    const legacy = flushed(graphite({ flush_counts: false }), sample);
    assert.equal(legacy.has('stats_counts.c'), false);
    assert.equal(legacy.get('stats.c'), 500);
    assert.equal(flushed(graphite({ legacy_namespace: false, flush_counts: false }), sample).has('stats.counters.c.count'), false);
  });
  it('empty prefixes mean none; the suffix goes after the path and before the tags', () => {
    const g = graphite({ legacy_namespace: false, global_prefix: '', prefix_counter: '', global_suffix: 'statssuffix' });
    const out = flushed(g, (a) => {
      a.counter('a_test_value', 1, 1);
      a.counter('tagged;env=prod', 1, 1);
    }, 'statsprefix');
    assert.equal(out.get('a_test_value.count.statssuffix'), 1);
    assert.equal(out.get('tagged.count.statssuffix;env=prod'), 1);
    assert.equal(out.get('statsprefix.numStats.statssuffix'), 5);
  });
  it('prefix_stats moves the internal metrics; legacy numStats has no stats. prefix', () => {
    const out = flushed(graphite(), () => {}, 'statsprefix');
    assert.equal(out.get('statsprefix.numStats'), 3);
    assert.equal(out.get('stats_counts.statsprefix.packets_received'), 0);
  });
  it('tags follow the sub-metric', () => {
    const out = flushed(graphite({ legacy_namespace: false }), (a) => a.timer('lat;env=prod', 5, 1));
    assert.equal(out.get('stats.timers.lat.count;env=prod'), 1);
  });
  it('sanitizes names on output when keys were not sanitized on input, leaving tags alone', () => {
    const out = flushed(graphite(), (a) => a.gauge('fo/o b;t=v', 1, false), 'statsd', false);
    assert.equal(out.get('stats.gauges.fo-o_b;t=v'), 1);
  });
  it('names internal figures under the stats namespace', () => {
    assert.equal(new GraphiteNames(graphite(), 'statsd', true).stat('graphiteStats.last_flush'), 'stats.statsd.graphiteStats.last_flush');
    assert.equal(new GraphiteNames(graphite({ legacy_namespace: false, global_prefix: '' }), 'statsd', true).stat('processing_time'), 'statsd.processing_time');
  });
});
