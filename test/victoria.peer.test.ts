import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { AgentProcess } from './helpers/agentProcess.js';
import { tempDir } from './helpers/agentProcess.js';
import { freePort, waitForPort } from './helpers/freePort.js';
import { requirePeer } from './helpers/peers.js';
import { sendUdp, startAgent } from './helpers/statsd.js';

const VM = '/usr/bin/victoria-metrics';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Series {
  metric: { __name__: string };
  values: number[];
  timestamps: number[];
}

describe('with a real VictoriaMetrics (Debian victoria-metrics)', () => {
  it('the same flushes, sent to its Graphite listener, read back exactly through its export API', async (t) => {
    if (!requirePeer(t, existsSync(VM), `VictoriaMetrics (${VM}, package victoria-metrics)`)) return;
    const [graphitePort, httpPort] = [await freePort(), await freePort()];
    const vm = spawn(VM, [`-graphiteListenAddr=127.0.0.1:${graphitePort}`, `-httpListenAddr=127.0.0.1:${httpPort}`, `-storageDataPath=${tempDir()}`], { stdio: 'ignore' });
    let agent: AgentProcess | undefined;
    try {
      await waitForPort(graphitePort);
      await waitForPort(httpPort);
      agent = await startAgent(`graphite: {destinations: ["127.0.0.1:${graphitePort}"]}`);
      const k = `vm${process.pid}`;
      await sendUdp(agent.udpPort, `${k}.hits:5|c`, `${k}.lat:100|ms\n${k}.lat:300|ms`, `${k}.temp:-2.5|g`);
      const base = `http://127.0.0.1:${httpPort}`;
      const read = async (name: string): Promise<Series | undefined> => {
        await fetch(`${base}/internal/force_flush`);
        const res = await fetch(`${base}/api/v1/export?match[]=${encodeURIComponent(`{__name__="${name}"}`)}`);
        const text = (await res.text()).trim();
        return text === '' ? undefined : (JSON.parse(text.split('\n')[0]!) as Series);
      };
      const deadline = Date.now() + 20_000;
      let hits: Series | undefined;
      while (!(hits = await read(`stats_counts.${k}.hits`))?.values.some((v) => v > 0)) {
        if (Date.now() > deadline) throw new Error('nothing in VictoriaMetrics');
        await sleep(300);
      }
      const i = hits.values.findIndex((v) => v > 0);
      assert.equal(hits.values[i], 5);
      const ts = hits.timestamps[i]!;
      assert.equal(ts % 1000, 0, 'stamped on a whole second');
      const at = async (name: string): Promise<number | undefined> => {
        const series = await read(name);
        return series?.values[series.timestamps.indexOf(ts)];
      };
      assert.equal(await at(`stats.timers.${k}.lat.mean_90`), 200);
      assert.equal(await at(`stats.timers.${k}.lat.upper`), 300);
      assert.equal(await at(`stats.gauges.${k}.temp`), -2.5);
    } finally {
      await agent?.stop();
      vm.kill('SIGTERM');
    }
  });
});
