import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import path from 'node:path';
import { loadConfig } from '../agent/config/load.js';
import { readBucket } from '../storage/buckets.js';
import { openForReading } from '../storage/db.js';
import { StoreReader } from '../storage/reader.js';
import { SchemaSet } from '../storage/schemas.js';
import { AgentProcess, configFile, runCli, tempDir } from './helpers/agentProcess.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Nothing listens on this TCP and UDP port of 127.0.0.1. */
async function portFree(port: number): Promise<boolean> {
  const udp = dgram.createSocket('udp4');
  const udpFree = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, '127.0.0.1', () => resolve(true));
  });
  udp.close();
  const tcp = net.createServer();
  const tcpFree = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false));
    tcp.listen(port, '127.0.0.1', () => resolve(true));
  });
  tcp.close();
  return udpFree && tcpFree;
}

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
    const r = await runCli(['agent', '--config', configFile(`statsd: {udp: ["127.0.0.1:${port}"], tcp: []}\nadmin: {listen: []}\nxmlrpc: {listen: []}\n`)]);
    taken.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`udp 127\\.0\\.0\\.1:${port}: address already in use`));
  });

  it('with no config, runs on the embedded defaults: loopback 8125-8128, keeping flushes in ./data/tally.db', async (t) => {
    const busy = (await Promise.all([8125, 8126, 8127, 8128].map(portFree))).some((free) => !free);
    if (busy) return t.skip('one of the ports 8125-8128 is in use on this machine');
    const cwd = tempDir();
    const agent = await AgentProcess.start([], 10_000, cwd);
    assert.match(agent.stderr, /listening on udp 127\.0\.0\.1:8125, tcp 127\.0\.0\.1:8125, admin 127\.0\.0\.1:8126, xmlrpc 127\.0\.0\.1:8127, http 127\.0\.0\.1:8128; flushing every 10000 ms to store/);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.send('cli.defaults:5|c', 8125, '127.0.0.1', () => r()));
    sock.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await agent.stop('SIGINT'), 0);
    const reader = new StoreReader(openForReading(path.join(cwd, 'data', 'tally.db')), new SchemaSet(loadConfig([])));
    const s = reader.lookup('stats_counts.cli.defaults', 'flushed')!;
    assert.deepEqual(reader.buckets(s, s.intervals[0]!, 0, 2 ** 32).map((b) => readBucket(b.data, 'sum')), [5]);
    reader.close();
  });
});
