import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import { tempDir } from './helpers/agentProcess.js';
import { FakeCarbon } from './helpers/fakeCarbon.js';
import { sendUdp, startAgent } from './helpers/statsd.js';

const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('a carbon that accepts but never reads', () => {
  it('does not stall the flushes to the others, nor memory beyond the bounds', async () => {
    const stalled = net.createServer((socket) => socket.pause()); // takes connections, reads nothing
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    const stalledPort = (stalled.address() as net.AddressInfo).port;
    const good = await FakeCarbon.start();
    const agent = await startAgent(`
data_dir: ${tempDir()}
graphite:
  routing: all
  destinations: ["127.0.0.1:${good.port}", "127.0.0.1:${stalledPort}"]
  write_timeout: 1s
  queue_max: 20000
  spool_max_bytes: 2MiB
`);
    try {
      const k = `stall${process.pid}`;
      const packets = Array.from({ length: 400 }, (_, i) => Array.from({ length: 50 }, (_, j) => `${k}.c${i * 50 + j}:1|c`).join('\n'));
      await sendUdp(agent.udpPort, ...packets);
      const seen = good.lines.length;
      await new Promise((r) => setTimeout(r, 8000));
      const flushes = good.lines.slice(seen).filter((l) => l.name === 'statsd.numStats');
      assert.ok(flushes.length >= 7, `the good carbon got ${flushes.length} flushes in 8 s`);
      for (const f of flushes) assert.ok(f.at - f.ts * 1000 < 1000, `flush ${f.ts} reached the good carbon ${f.at - f.ts * 1000} ms after its slot`);
      assert.match(agent.stderr, /carbon 127\.0\.0\.1:\d+: write timed out after 1000 ms/);
      const rss = rssMiB(agent.proc.pid!);
      assert.ok(rss < 400, `RSS ${rss.toFixed(0)} MiB`);
    } finally {
      await agent.stop();
      await good.close();
      stalled.close();
    }
  });

  it('with carbon away and both bounds full, the oldest datapoints are dropped and counted', async () => {
    const away = await FakeCarbon.start();
    const port = away.port;
    await away.close();
    const agent = await startAgent(`
data_dir: ${tempDir()}
graphite: {destinations: ["127.0.0.1:${port}"], queue_max: 5, spool_max_bytes: 4KiB}
xmlrpc: {listen: ["127.0.0.1:0"]}
`);
    try {
      await sendUdp(agent.udpPort, Array.from({ length: 100 }, (_, j) => `drop${process.pid}.c${j}:1|c`).join('\n'));
      const deadline = Date.now() + 10_000;
      while (!/spool full \(\d+ bytes\): \d+ oldest datapoints dropped/.test(agent.stderr)) {
        if (Date.now() > deadline) throw new Error(`no drop reported:\n${agent.stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const res = await fetch(`http://127.0.0.1:${agent.xmlrpcPort}/RPC2`, {
        method: 'POST',
        body: '<?xml version="1.0"?><methodCall><methodName>istats</methodName><params></params></methodCall>',
      });
      const json = /<string>([\s\S]*)<\/string>/.exec(await res.text())![1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
      const dest = (JSON.parse(json) as { flushers: { graphite: Record<string, { dropped: number; spooled_bytes: number }> } }).flushers.graphite[`127_0_0_1_${port}`]!;
      assert.ok(dest.dropped > 0, `dropped ${dest.dropped}`);
      assert.ok(dest.spooled_bytes <= 4096 + 8 + 4096, `spool ${dest.spooled_bytes} bytes stays near its bound`);
    } finally {
      await agent.stop();
    }
  });
});
