import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CarbonHashRing } from '../flushers/carbon/hashRing.js';
import { tempDir } from './helpers/agentProcess.js';
import { CarbonCache, carbonAvailable } from './helpers/carbonCache.js';
import { requirePeer } from './helpers/peers.js';
import { sendUdp, startAgent } from './helpers/statsd.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a carbon cluster fed directly, with real carbon-caches', () => {
  it('consistent-hash puts each metric on the cache carbon-relay would pick (one plaintext, one pickle)', async (t) => {
    if (!requirePeer(t, carbonAvailable, 'carbon-cache and whisper-fetch (Debian graphite-carbon, python3-whisper)')) return;
    const [a, b] = [await CarbonCache.start('a'), await CarbonCache.start('b')];
    const destinations = [
      { host: '127.0.0.1', port: a.linePort, instance: 'a' },
      { host: '127.0.0.1', port: b.picklePort, instance: 'b' },
    ];
    const agent = await startAgent(`
data_dir: ${tempDir()}
graphite:
  routing: consistent-hash
  destinations:
    - {host: 127.0.0.1, port: ${a.linePort}, instance: a}
    - {host: 127.0.0.1, port: ${b.picklePort}, protocol: pickle, instance: b}
`);
    try {
      const k = `ring${process.pid}`;
      const names = Array.from({ length: 40 }, (_, i) => `${k}.m${i}`);
      await sendUdp(agent.udpPort, ...names.map((n, i) => `${n}:${i + 1}|c`));
      // the ring itself is checked against carbon's own Python code in carbonWire.test.ts
      const ring = new CarbonHashRing(destinations);
      const caches = [a, b];
      const from = Math.floor(Date.now() / 1000) - 5;
      const found = async (cache: CarbonCache, metric: string): Promise<number | undefined> =>
        (await cache.fetch(metric, from, Math.floor(Date.now() / 1000) + 1)).find(([, v]) => v > 0)?.[1];
      const deadline = Date.now() + 20_000;
      for (const [i, n] of names.entries()) {
        const metric = `stats_counts.${n}`;
        const home = ring.nodeFor(metric);
        let v: number | undefined;
        while ((v = await found(caches[home]!, metric)) === undefined) {
          if (Date.now() > deadline) throw new Error(`${metric} never reached cache ${home}`);
          await sleep(200);
        }
        assert.equal(v, i + 1, metric);
        assert.equal(await found(caches[1 - home]!, metric), undefined, `${metric} must not be on the other cache`);
      }
      const homes = names.map((n) => ring.nodeFor(`stats_counts.${n}`));
      assert.ok(homes.includes(0) && homes.includes(1), 'both caches got metrics');
    } finally {
      await agent.stop();
      await a.stop();
      await b.stop();
    }
  });
});
