import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CarbonCache, carbonAvailable } from './helpers/carbonCache.js';
import { requirePeer } from './helpers/peers.js';
import { sendUdp, startAgent } from './helpers/statsd.js';

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('with a real carbon-cache (Debian graphite-carbon)', () => {
  it('what tally flushes lands in whisper with its values and flush timestamps', async (t) => {
    if (!requirePeer(t, carbonAvailable, 'carbon-cache and whisper-fetch (Debian graphite-carbon, python3-whisper)')) return;
    const carbon = await CarbonCache.start();
    const agent = await startAgent(`graphite: {destinations: ["127.0.0.1:${carbon.linePort}"]}`);
    try {
      const k = `peer${process.pid}`;
      const sentAt = Math.floor(Date.now() / 1000);
      await sendUdp(agent.udpPort, `${k}.hits:3|c`, `${k}.hits:4|c`, `${k}.lat:100|ms\n${k}.lat:200|ms\n${k}.lat:300|ms`, `${k}.temp:21.5|g`);
      const span = (): [number, number] => [sentAt - 5, Math.floor(Date.now() / 1000) + 2];
      const hits = await until('stats_counts in whisper', async () => {
        const points = (await carbon.fetch(`stats_counts.${k}.hits`, ...span())).filter(([, v]) => v > 0);
        return points.length > 0 ? points : undefined;
      });
      assert.deepEqual(hits.map(([, v]) => v), [7]);
      const [[ts]] = hits as [[number, number]];
      assert.ok(ts >= sentAt && ts <= sentAt + 3, `stamped ${ts}, sent at ${sentAt}`);
      const at = async (metric: string): Promise<number | undefined> =>
        until(metric, async () => (await carbon.fetch(metric, ts - 1, ts + 1)).find(([p]) => p === ts)?.[1]);
      assert.equal(await at(`stats.timers.${k}.lat.mean_90`), 200);
      assert.equal(await at(`stats.timers.${k}.lat.std`), 81.64965809277261);
      assert.equal(await at(`stats.gauges.${k}.temp`), 21.5);
    } finally {
      await agent.stop();
      await carbon.stop();
    }
  });
});
