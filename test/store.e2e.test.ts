import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import StatsD from 'hot-shots';
import { loadConfig } from '../agent/config/load.js';
import { mergeBuckets, readBucket } from '../storage/buckets.js';
import { openForReading } from '../storage/db.js';
import { StoreReader, type StoredSeries } from '../storage/reader.js';
import { SchemaSet } from '../storage/schemas.js';
import { AgentProcess, configFile, tempDir } from './helpers/agentProcess.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every bucket of the finest interval merged: the value of all that was stored. */
function whole(reader: StoreReader, s: StoredSeries, fn: string): number | null | undefined {
  const buckets = reader.buckets(s, s.intervals[0]!, 0, 2 ** 32).map((b) => b.data);
  return readBucket(mergeBuckets(buckets)!, fn);
}

describe('the embedded store, fed by a running agent', () => {
  it('keeps counts, timer distributions and set members of several flushes, the last one written at stop', async () => {
    const dir = tempDir();
    const yaml = `flush_interval: 1s\ndata_dir: "${dir}"\nstatsd: {udp: ["127.0.0.1:0"], tcp: []}\nadmin: {listen: []}\nxmlrpc: {listen: []}\nhttp: {listen: []}\n`;
    const file = configFile(yaml);
    const agent = await AgentProcess.start(['--config', file]);
    assert.match(agent.stderr, /flushing every 1000 ms to store/);
    const client = new StatsD({ host: '127.0.0.1', port: agent.udpPort, protocol: 'udp' });
    const latencies: number[] = [];
    const users = new Set<string>();
    // three rounds over at least two flushes; each value has at most 3 significant digits, so the
    // histogram keeps it exactly and its percentiles must equal those of the raw samples
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 40; i++) {
        const ms = (round * 40 + i) * 7 + 1;
        latencies.push(ms);
        client.timing('shop.checkout', ms);
        client.increment('shop.orders', 2);
        const u = `user${(round * 13 + i) % 50}`;
        users.add(u);
        client.set('shop.buyers', u);
      }
      await sleep(700);
    }
    await new Promise<void>((r) => client.close(() => r()));
    await sleep(100);
    assert.equal(await agent.stop(), 0);

    const c = loadConfig([file]);
    const reader = new StoreReader(openForReading(path.join(dir, 'tally.db')), new SchemaSet(c));
    try {
      const orders = reader.lookup('stats_counts.shop.orders', 'flushed')!;
      assert.equal(orders.type, 'count');
      assert.equal(whole(reader, orders, 'sum'), 240);
      const minutes = reader.buckets(orders, orders.intervals.find((i) => i.name === '1m')!, 0, 2 ** 32);
      assert.equal(minutes.reduce((a, b) => a + (readBucket(b.data, 'sum') ?? 0), 0), 240);

      const checkout = reader.lookup('shop.checkout', 'timer_samples')!;
      assert.equal(checkout.type, 'histogram');
      const sorted = [...latencies].sort((a, b) => a - b);
      for (const p of [50, 90, 99, 100]) {
        assert.equal(whole(reader, checkout, `p${p}`), sorted[Math.ceil((p / 100) * sorted.length) - 1], `p${p}`);
      }
      assert.equal(whole(reader, checkout, 'count'), 120);

      const buyers = reader.lookup('shop.buyers', 'set_members')!;
      assert.equal(whole(reader, buyers, 'unique'), users.size);
      // the flushed per-interval value is a series: its mean over the flushes that saw the timer
      assert.equal(reader.lookup('stats.timers.shop.checkout.upper', 'flushed')!.type, 'series');
    } finally {
      reader.close();
    }
  });
});
