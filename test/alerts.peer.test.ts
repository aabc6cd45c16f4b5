import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configFile, runCli, tempDir } from './helpers/agentProcess.js';
import { FakeCarbon } from './helpers/fakeCarbon.js';
import { freePort } from './helpers/freePort.js';
import { HAVE_NSCA, NscaDaemon, NSCA_PEER } from './helpers/nscaDaemon.js';
import { requirePeer } from './helpers/peers.js';
import { startAgent } from './helpers/statsd.js';

const nscaSection = (d: NscaDaemon): string =>
  `nsca: {host: 127.0.0.1, port: ${d.port}, encryption: xor, password: s3cret, host_name: web1, service: tally, timeout: 3s}`;

const RESULT = /^\[(\d+)\] PROCESS_SERVICE_CHECK_RESULT;web1;tally;(\d);(.*)$/;

describe('NSCA alerts to a real nsca daemon (Debian nsca)', () => {
  it('CRITICAL with the cause when carbon goes away, once per outage; OK when it is back', async (t) => {
    if (!requirePeer(t, HAVE_NSCA, NSCA_PEER)) return;
    const nsca = await NscaDaemon.start(1, 's3cret');
    const carbonPort = await freePort(); // nothing listens there yet
    const agent = await startAgent(`
graphite: {destinations: ["127.0.0.1:${carbonPort}"]}
${nscaSection(nsca)}
`);
    let carbon: FakeCarbon | undefined;
    try {
      const [critical] = await nsca.until(1, 5000);
      const [, ts, code, output] = RESULT.exec(critical!) ?? [];
      assert.equal(code, '2', critical);
      assert.match(output!, new RegExp(`^CRITICAL: delivery failing: carbon 127\\.0\\.0\\.1:${carbonPort}: connect ECONNREFUSED`));
      assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 10);
      await new Promise((r) => setTimeout(r, 2500)); // more failed flushes: no more alerts
      assert.equal(nsca.lines().length, 1);

      carbon = await FakeCarbon.start(carbonPort);
      const lines = await nsca.until(2, 5000);
      assert.match(lines[1]!, /;tally;0;OK: delivering to every carbon destination$/);
      assert.match(agent.stderr, /carbon 127\.0\.0\.1:\d+: delivering again/);
    } finally {
      await agent.stop();
      await carbon?.close();
      await nsca.stop();
    }
  });

  it('WARNING while a recovered destination still delivers a large spool, then OK', async (t) => {
    if (!requirePeer(t, HAVE_NSCA, NSCA_PEER)) return;
    const nsca = await NscaDaemon.start(1, 's3cret');
    const carbonPort = await freePort();
    const agent = await startAgent(`
data_dir: ${tempDir()}
graphite: {destinations: ["127.0.0.1:${carbonPort}"], queue_max: 5}
${nscaSection(nsca).replace('timeout: 3s}', 'timeout: 3s, spool_warning_bytes: 1B}')}
`);
    let carbon: FakeCarbon | undefined;
    try {
      await nsca.until(1, 5000);
      await new Promise((r) => setTimeout(r, 2500)); // a few flushes go to the spool
      carbon = await FakeCarbon.start(carbonPort);
      const lines = await nsca.until(3, 8000);
      assert.deepEqual(
        lines.map((l) => RESULT.exec(l)?.[2]),
        ['2', '1', '0'],
        lines.join('\n'),
      );
      assert.match(lines[1]!, /;1;WARNING: delivery degraded: carbon 127\.0\.0\.1:\d+: spool holds \d+ bytes$/);
    } finally {
      await agent.stop();
      await carbon?.close();
      await nsca.stop();
    }
  });

  it('tally send-nsca sends one result by hand', async (t) => {
    if (!requirePeer(t, HAVE_NSCA, NSCA_PEER)) return;
    const nsca = await NscaDaemon.start(1, 's3cret');
    try {
      const r = await runCli(['send-nsca', '--config', configFile(nscaSection(nsca) + '\n'), '--code', '1', '--message', 'disk almost full']);
      assert.equal(r.code, 0, r.stderr);
      const [line] = await nsca.until(1);
      assert.match(line!, /;web1;tally;1;disk almost full$/);
      const bad = await runCli(['send-nsca', '--config', configFile(nscaSection(nsca) + '\n'), '--code', '7', '--message', 'x']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--code must be 0 \(OK\), 1 \(WARNING\), 2 \(CRITICAL\) or 3 \(UNKNOWN\)/);
    } finally {
      await nsca.stop();
    }
  });
});
