import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from './helpers/agentProcess.js';
import { CarbonCache, carbonAvailable } from './helpers/carbonCache.js';
import { requirePeer } from './helpers/peers.js';
import { startAgent } from './helpers/statsd.js';

const PEER = 'carbon-cache and whisper-fetch (Debian graphite-carbon, python3-whisper)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = (): number => Math.floor(Date.now() / 1000);

const agentYaml = (carbon: CarbonCache, dataDir: string): string => `data_dir: ${dataDir}\ngraphite: {destinations: ["127.0.0.1:${carbon.linePort}"]}\n`;

/** The seconds in [from, to] for which whisper holds tally's numStats (one datapoint per flush). */
async function flushSeconds(carbon: CarbonCache, from: number, to: number): Promise<number[]> {
  return (await carbon.fetch('statsd.numStats', from - 1, to)).map(([ts]) => ts);
}

async function until(what: string, test: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('delivery that survives carbon outages, with a real carbon-cache', () => {
  it('carbon killed for several intervals, then restarted: every interval is in whisper', async (t) => {
    if (!requirePeer(t, carbonAvailable, PEER)) return;
    const carbon = await CarbonCache.start();
    const agent = await startAgent(agentYaml(carbon, tempDir()));
    try {
      const start = now();
      await until('a first flush in whisper', async () => (await flushSeconds(carbon, start, now())).length > 0);
      const first = (await flushSeconds(carbon, start, now()))[0]!;
      await carbon.stop();
      await sleep(4000);
      assert.match(agent.stderr, /carbon 127\.0\.0\.1:\d+: .*datapoints queued, retrying/);
      await carbon.run();
      const last = now();
      await until('the outage delivered', async () => (await flushSeconds(carbon, first, last)).length === last - first + 1);
      assert.deepEqual(await flushSeconds(carbon, first, last), range(first, last));
    } finally {
      await agent.stop();
      await carbon.stop();
    }
  });

  it('tally restarted while carbon is down: its spool is delivered after the restart', async (t) => {
    if (!requirePeer(t, carbonAvailable, PEER)) return;
    const carbon = await CarbonCache.start();
    const dataDir = tempDir();
    const config = agentYaml(carbon, dataDir);
    let agent = await startAgent(config);
    try {
      const start = now();
      await until('a first flush in whisper', async () => (await flushSeconds(carbon, start, now())).length > 0);
      await carbon.stop();
      const down = now();
      await sleep(3000);
      assert.equal(await agent.stop(), 0);
      const stopped = now();
      const spooled = readdirSync(path.join(dataDir, 'spool'), { recursive: true }).filter((f) => String(f).endsWith('.spool'));
      assert.ok(spooled.length > 0, 'the undelivered flushes are on disk');

      agent = await startAgent(config);
      assert.match(agent.stderr, /datapoints spooled by an earlier run, delivering them first/);
      await sleep(1500);
      await carbon.run();
      await until('the spooled flushes delivered', async () => (await flushSeconds(carbon, down, stopped - 1)).length >= stopped - down - 1);
      const got = await flushSeconds(carbon, down, stopped - 1);
      for (const second of range(down + 1, stopped - 1)) assert.ok(got.includes(second), `the flush of ${second} is missing: ${got.join(',')}`);
    } finally {
      await agent.stop();
      await carbon.stop();
    }
  });
});
