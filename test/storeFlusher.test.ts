import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../agent/config/load.js';
import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import { Aggregator } from '../agent/statsd/aggregator.js';
import { FlushMath } from '../agent/statsd/processMetrics.js';
import { StoreFlusher, storeBatches } from '../flushers/store.js';
import { GraphiteNames } from '../flushers/graphiteNames.js';
import { readBucket } from '../storage/buckets.js';
import { openForReading } from '../storage/db.js';
import { StoreReader } from '../storage/reader.js';
import { SchemaSet } from '../storage/schemas.js';
import { tempDir } from './helpers/agentProcess.js';

const quiet = { info() {}, warn() {}, error() {} };

/** A snapshot of `gauges` gauges g0..gN = their index, one timer and one set, at `ts`. */
function snapshot(ts: number, gauges: number): FlushSnapshot {
  const a = new Aggregator({ prefixStats: 'statsd', maxMetrics: gauges + 10, deleteIdle: { counters: false, timers: false, gauges: false, sets: false }, gaugesMaxTtl: 1 });
  for (let i = 0; i < gauges; i++) a.gauge(`g${i}`, i, false);
  a.timer('lat', 5, 1);
  a.timer('lat', 7, 1);
  a.set('users', 'ann');
  const raw = a.takeInterval();
  const derived = new FlushMath({ flushIntervalMs: 10_000, percentiles: [90], histograms: [], calculatedTimerMetrics: [] }).derive(raw);
  return { ts, intervalMs: 10_000, raw, derived, named: { names: ['host.cpu'], values: [42], timestamps: [ts - 5] }, meta: [] };
}

describe('the store flusher', () => {
  it('sends a large flush in parts, the samples, members and carbon input in the last one', () => {
    const c = loadConfig([]);
    const parts: { names: number; timers: number; named: number; last: boolean }[] = [];
    storeBatches(snapshot(1_700_000_000, 120_000), new GraphiteNames(c.graphite, 'statsd', true), (b, last) =>
      parts.push({ names: b.flushed.names.length, timers: b.timers.keys.length, named: b.named.names.length, last }),
    );
    assert.deepEqual(parts.map((p) => p.last), [false, false, true]);
    assert.deepEqual(parts.map((p) => p.names).slice(0, 2), [50_000, 50_000]);
    assert.deepEqual([parts[2]!.timers, parts[2]!.named, parts[0]!.timers], [1, 1, 0]);
  });

  it('the writer thread stores every part of a flush in one transaction, and close() waits for it', async () => {
    const dir = tempDir();
    const c = { ...loadConfig([]), data_dir: dir };
    const now = Math.floor(Date.now() / 1000);
    const ts = now - (now % 10);
    const flusher = new StoreFlusher(c, new GraphiteNames(c.graphite, 'statsd', true), quiet);
    await flusher.flush(snapshot(ts, 60_000));
    await flusher.close();
    assert.deepEqual([flusher.status().flushes, flusher.status().errors, flusher.status().pending], [1, 0, 0]);

    const reader = new StoreReader(openForReading(path.join(dir, 'tally.db')), new SchemaSet(c));
    try {
      const value = (name: string, source: 'flushed' | 'timer_samples' | 'set_members', fn: string): unknown => {
        const s = reader.lookup(name, source)!;
        return reader.buckets(s, s.intervals[0]!, 0, 2 ** 32).map((b) => [b.t, readBucket(b.data, fn)]);
      };
      assert.deepEqual(value('stats.gauges.g0', 'flushed', 'last'), [[ts, 0]]);
      assert.deepEqual(value('stats.gauges.g59999', 'flushed', 'last'), [[ts, 59_999]]); // in the second part
      assert.deepEqual(value('lat', 'timer_samples', 'count'), [[ts, 2]]);
      assert.deepEqual(value('users', 'set_members', 'unique'), [[ts, 1]]);
      assert.deepEqual(value('host.cpu', 'flushed', 'last'), [[ts - 5 - ((ts - 5) % 10), 42]]);
      assert.equal(reader.names('flushed').filter((n) => n.startsWith('stats.gauges.')).length, 60_000);
    } finally {
      reader.close();
    }
  });
});
