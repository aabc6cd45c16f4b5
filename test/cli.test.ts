import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AgentProcess, configFile, runCli } from './helpers/agentProcess.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('tally command line', () => {
  it('--help tells how to run the agent and check a config', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /tally agent \[--config FILE\]\.\.\. \[--debug \[GLOB\]\]/);
    assert.match(r.stdout, /tally check-config/);
    assert.equal((await runCli(['agent', '--help'])).code, 0);
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `tally ${version}\n`);
  });

  it('an unknown command or argument is a usage error, exit 2', async () => {
    const a = await runCli(['frobnicate']);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /unknown command: frobnicate/);
    const b = await runCli(['agent', '--confg', 'x']);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /unknown argument for agent: --confg/);
  });

  it('check-config prints the merged effective config, later files winning', async () => {
    const one = configFile('flush_interval: 2s\nstatsd: {percentiles: [90, 99]}\n');
    const two = configFile('statsd: {percentiles: [-10]}\n');
    const r = await runCli(['check-config', '--config', one, '--config', two]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^flush_interval: 2s$/m);
    assert.match(r.stdout, /percentiles:\n\s+- -10\n/);
  });

  it('check-config and agent reject a bad config naming file, key and expectation, exit 2', async () => {
    const bad = configFile('statsd:\n  percentiles: [90, abc]\n  udpp: []\n');
    for (const args of [['check-config', '--config', bad], ['agent', '--config', bad]]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args[0]);
      assert.match(r.stderr, new RegExp(`${bad.replace(/[.]/g, '\\.')}: statsd\\.percentiles\\[1\\]: expected .*got "abc"`));
      assert.match(r.stderr, /statsd\.udpp: unknown key/);
      assert.doesNotMatch(r.stderr, /ready/);
    }
  });

  it('a port already in use: a clear message and exit 1', async () => {
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
    const port = taken.address().port;
    const r = await runCli(['agent', '--config', configFile(`statsd: {udp: ["127.0.0.1:${port}"], tcp: []}\n`)]);
    taken.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`udp 127\\.0\\.0\\.1:${port}: address already in use`));
  });

  it('with no config, runs on the embedded defaults: loopback 8125, printing flushes to stdout', async (t) => {
    const probe = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.bind(8125, '127.0.0.1', () => resolve(true));
    });
    probe.close();
    if (!free) return t.skip('port 8125 is in use on this machine');
    const agent = await AgentProcess.start([]);
    assert.match(agent.stderr, /listening on udp 127\.0\.0\.1:8125, tcp 127\.0\.0\.1:8125; flushing every 10000 ms to console/);
    assert.equal(await agent.stop('SIGINT'), 0);
    assert.match(agent.stdout, /^statsd\.numStats 3 \d+$/m);
  });
});
