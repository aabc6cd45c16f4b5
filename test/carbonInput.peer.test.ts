import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { AgentProcess, configFile, tempDir } from './helpers/agentProcess.js';
import { CarbonCache, carbonAvailable } from './helpers/carbonCache.js';
import { CarbonRelay, relayAvailable } from './helpers/carbonRelay.js';
import { FakeCarbon } from './helpers/fakeCarbon.js';
import { requirePeer } from './helpers/peers.js';

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function tcpSend(port: number, text: string): Promise<void> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  await new Promise<void>((r) => sock.end(text, () => r()));
}

/** tally with only the carbon input on, flushing every second to `graphite`. */
async function startTally(graphite: string): Promise<{ agent: AgentProcess; pickle: number; tcp: number }> {
  const yaml = `
data_dir: ${JSON.stringify(tempDir())}
flush_interval: 1s
statsd: {udp: [], tcp: []}
admin: {listen: []}
xmlrpc: {listen: []}
http: {listen: []}
store: {enabled: false}
graphite: ${graphite}
carbon: {listen: ["127.0.0.1:0"], pickle_listen: ["127.0.0.1:0"]}
`;
  const agent = await AgentProcess.start(['--config', configFile(yaml)]);
  const port = (proto: string): number => Number(new RegExp(`${proto} 127\\.0\\.0\\.1:(\\d+)`).exec(agent.stderr)?.[1] ?? 0);
  return { agent, pickle: port('carbon-pickle'), tcp: port('carbon-tcp') };
}

const PEERS = 'carbon-relay, carbon-cache and whisper-fetch (Debian graphite-carbon, python3-whisper)';

describe('carbon input with real carbon peers', () => {
  it('carbon-relay (rules) -> tally pickle_listen -> tally pickle flusher -> carbon-cache: whisper holds the exact values and timestamps', async (t) => {
    if (!requirePeer(t, carbonAvailable && relayAvailable, PEERS)) return;
    const cleanup: (() => Promise<unknown>)[] = [];
    try {
      const cache = await CarbonCache.start();
      cleanup.unshift(() => cache.stop());
      const { agent, pickle } = await startTally(`{destinations: [{host: 127.0.0.1, port: ${cache.picklePort}, protocol: pickle}]}`);
      cleanup.unshift(async () => assert.equal(await agent.stop(), 0));
      const relay = await CarbonRelay.start([`127.0.0.1:${pickle}`], 'rules');
      cleanup.unshift(() => relay.stop());
      const k = `cin${process.pid}`;
      const t0 = Math.floor(Date.now() / 1000) - 120;
      const sent: [string, number, number][] = [
        [`${k}.relay.a`, 1.5, t0],
        [`${k}.relay.a`, 2.25, t0 + 1],
        [`${k}.relay.b`, -2000, t0 + 2],
        [`${k}.relay.c`, 123456.789, t0 + 3],
        [`${k}.relay.d`, 1e-7, t0 + 4],
      ];
      // the timestamps as carbon-relay passes them on (floats), one with a fraction tally floors
      await tcpSend(relay.linePort, sent.map(([n, v, ts], i) => `${n} ${v} ${ts}${i === 4 ? '.75' : ''}\n`).join('') + `${k}.relay.nan nan ${t0}\n`);
      for (const [name, value, ts] of sent) {
        const points = await until(`${name} in whisper`, async () => {
          const p = await cache.fetch(name, ts - 1, ts);
          return p.length > 0 ? p : undefined;
        });
        assert.deepEqual(points, [[ts, value]], name);
      }
      assert.deepEqual(await cache.fetch(`${k}.relay.a`, t0 - 10, t0 + 10), [[t0, 1.5], [t0 + 1, 2.25]]);
      assert.deepEqual(await cache.fetch(`${k}.relay.nan`, t0 - 10, t0 + 10), []); // carbon-relay drops NaN itself
    } finally {
      for (const f of cleanup) await f();
    }
  });

  it('carbon-relay (consistent-hashing) -> tally pickle_listen -> fake carbon: every datapoint, exact', async (t) => {
    if (!requirePeer(t, relayAvailable, 'carbon-relay (Debian graphite-carbon)')) return;
    const cleanup: (() => Promise<unknown>)[] = [];
    try {
      const carbon = await FakeCarbon.start();
      cleanup.unshift(() => carbon.close());
      const { agent, pickle } = await startTally(`{destinations: ["127.0.0.1:${carbon.port}"]}`);
      cleanup.unshift(async () => assert.equal(await agent.stop(), 0));
      const relay = await CarbonRelay.start([`127.0.0.1:${pickle}`], 'consistent-hashing');
      cleanup.unshift(() => relay.stop());
      const k = `cih${process.pid}`;
      const t0 = Math.floor(Date.now() / 1000) - 3600;
      const sent = Array.from({ length: 2000 }, (_, i): [string, number, number] => [`${k}.m${i % 50}`, i / 8 - 17, t0 + Math.floor(i / 50)]);
      await tcpSend(relay.linePort, sent.map(([n, v, ts]) => `${n} ${v} ${ts}\n`).join(''));
      const got = await carbon
        .until((lines) => {
          const mine = lines.filter((l) => l.name.startsWith(k + '.'));
          return mine.length >= sent.length ? mine : undefined;
        })
        .catch((err: Error) => {
          throw new Error(`${err.message.slice(0, 300)}\nrelay:\n${relay.output}\ntally:\n${agent.stderr}\npickle: ${carbon.lines.filter((l) => l.name.includes('carbon-pickle')).slice(-12).map((l) => `${l.name} ${l.value}`).join('\n')}`);
        });
      const key = ([n, v, ts]: [string, number, number]): string => `${n} ${v} ${ts}`;
      assert.deepEqual(got.map((l) => key([l.name, l.value, l.ts])).sort(), sent.map(key).sort());
    } finally {
      for (const f of cleanup) await f();
    }
  });
});
