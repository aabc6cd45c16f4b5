import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AgentProcess, configFile, runCli } from './helpers/agentProcess.js';
import { FakeCarbon } from './helpers/fakeCarbon.js';
import { sendUdp } from './helpers/statsd.js';

const exec = promisify(execFile);

let carbon: FakeCarbon;
let agent: AgentProcess;
let config: string;
const k = `intro${process.pid}`;

before(async () => {
  carbon = await FakeCarbon.start();
  config = configFile(`
flush_interval: 1h
statsd: {udp: ["127.0.0.1:0"], tcp: []}
graphite: {destinations: ["127.0.0.1:${carbon.port}"]}
admin: {listen: ["127.0.0.1:0"]}
xmlrpc: {listen: ["127.0.0.1:0"]}
`);
  agent = await AgentProcess.start(['--config', config]);
  await send(`${k}.hits:3|c`, `${k}.hits:2|c`, `${k}.lat:10|ms\n${k}.lat:20|ms`, `${k}.temp:7|g`, `${k}.users:ann|s\n${k}.users:bob|s`, `other.x:1|c`, 'garbage');
});
after(async () => {
  await agent.stop();
  await carbon.close();
});

/** To the agent, then a moment for it to read them. */
async function send(...packets: string[]): Promise<void> {
  await sendUdp(agent.udpPort, ...packets);
  await new Promise((r) => setTimeout(r, 100));
}

/** Calls XML-RPC methods with Python's own xmlrpc.client; returns the answers as JSON. */
async function python(calls: string): Promise<unknown> {
  const script = `
import json, sys, xmlrpc.client
s = xmlrpc.client.ServerProxy("http://127.0.0.1:${agent.xmlrpcPort}/RPC2", allow_none=True)
out = []
${calls}
print(json.dumps(out))
`;
  const { stdout } = await exec('python3', ['-c', script], { timeout: 20_000 });
  return JSON.parse(stdout);
}

async function waitFor(test: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function admin(commands: string): Promise<string> {
  const sock = net.connect(agent.adminPort, '127.0.0.1');
  let reply = '';
  sock.setEncoding('utf8').on('data', (d: string) => (reply += d));
  await new Promise((r) => sock.once('connect', r));
  sock.write(commands + 'quit\n');
  await new Promise((r) => sock.once('close', r));
  return reply;
}

describe('looking inside a running agent', () => {
  it('XML-RPC from Python: stats, current values, health', async () => {
    const [stats, counters, timers, gauges, sets, health] = (await python(`
out.append(s.tally.stats())
out.append(s.tally.counters("${k}.*"))
out.append(s.tally.timers("${k}.*"))
out.append(s.tally.gauges())
out.append(s.tally.sets("${k}.users"))
out.append(s.tally.health())
`)) as [Record<string, unknown>, Record<string, number>, Record<string, number[]>, Record<string, number>, Record<string, string[]>, string];
    assert.equal(stats.packets_received, 7);
    assert.equal(stats.metrics_received, 9);
    assert.equal(stats.bad_lines_seen, 1);
    assert.deepEqual(stats.samples, { counters: 3, timers: 2, gauges: 1, sets: 2, dropped_max_metrics: 0, keys_held: 8 });
    const listeners = stats.listeners as Record<string, Record<string, number>>;
    assert.equal(listeners[`udp_127_0_0_1_${agent.udpPort}`]!.datagrams, 7);
    assert.equal(typeof (stats.process as Record<string, number>).rss_bytes, 'number');
    assert.deepEqual(counters, { [`${k}.hits`]: 5 });
    assert.deepEqual(timers, { [`${k}.lat`]: [10, 20] });
    assert.equal(gauges[`${k}.temp`], 7);
    assert.deepEqual(sets[`${k}.users`]!.sort(), ['ann', 'bob']);
    assert.equal(health, 'up');
  });

  it('set_health down shows on the admin port; the admin port dumps and deletes as etsy', async () => {
    await python('out.append(s.tally.set_health("down"))');
    const reply = await admin(`health\ncounters\n`);
    assert.match(reply, /^health: down\n/);
    assert.match(reply, new RegExp(`'${k}\\.hits': 5`));
    assert.equal(await admin('health up\n'), 'health: up\n');
    const stats = await admin('stats\n');
    assert.match(stats, /^uptime: \d+\n/);
    assert.match(stats, /messages\.bad_lines_seen: 1\n/);
    assert.match(stats, /graphite\.last_flush: \d+\n/);
    assert.match(stats, /END\n\n$/);
    assert.equal(await admin(`delcounters ${k}.nothing\n`), `metric ${k}.nothing not found\nEND\n\n`);
  });

  it('tally stats prints the same figures, as text and JSON', async () => {
    // the agent's config asked for an ephemeral port: say which one it got
    const where = ['--config', config, '--config', configFile(`xmlrpc: {listen: ["127.0.0.1:${agent.xmlrpcPort}"]}\n`)];
    const text = await runCli(['stats', ...where]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^packets_received: 7$/m);
    const json = await runCli(['stats', ...where, '--json']);
    assert.equal((JSON.parse(json.stdout) as { bad_lines_seen: number }).bad_lines_seen, 1);
  });

  it('the rest of the methods from Python: istats, introspection, multicall, reload', async () => {
    const [istats, methods, help, multi, reloaded] = (await python(`
out.append(json.loads(s.istats()))
out.append(s.system.listMethods())
out.append(s.system.methodHelp("tally.delete"))
mc = xmlrpc.client.MultiCall(s)
mc.tally.health()
mc.tally.gauges("${k}.temp")
out.append(list(mc()))
out.append(s.tally.reload())
`)) as [Record<string, unknown>, string[], string, unknown[], boolean];
    assert.equal(istats.packets_received, 7);
    for (const m of ['system.listMethods', 'system.methodHelp', 'system.methodSignature', 'system.multicall', 'istats', 'tally.stats', 'tally.counters', 'tally.timers', 'tally.gauges', 'tally.sets', 'tally.health', 'tally.set_health', 'tally.flush', 'tally.reload', 'tally.delete']) {
      assert.ok(methods.includes(m), m);
    }
    assert.match(help, /delete/i);
    assert.deepEqual(multi, ['up', { [`${k}.temp`]: 7 }]);
    assert.equal(reloaded, true);
    await waitFor(() => agent.stderr.includes('config reloaded'));
  });

  it('hostile requests are refused and the agent keeps serving statsd and XML-RPC', async () => {
    const post = (body: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: agent.xmlrpcPort, path: '/RPC2', method: 'POST' }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end(body);
      });
    assert.match(await post('<methodCall><methodName>tally.health'), /faultCode[\s\S]*-32700/);
    const laughs = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><methodCall><methodName>&c;</methodName></methodCall>';
    assert.ok((await post(laughs)).length < 2000, 'entities are not expanded');
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: agent.xmlrpcPort, path: '/RPC2', method: 'POST', headers: { 'content-type': 'text/xml' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(Buffer.alloc(2 * 1024 * 1024, 'a'));
    });
    assert.equal(status, 413);
    const [fault] = (await python(`
try:
    s.no.such.method()
except xmlrpc.client.Fault as f:
    out.append(f.faultCode)
`)) as [number];
    assert.equal(fault, -32601);
    await send(`${k}.after:1|c`);
    const [counters] = (await python(`out.append(s.tally.counters("${k}.after"))`)) as [Record<string, number>];
    assert.deepEqual(counters, { [`${k}.after`]: 1 });
  });

  it("tally.delete and tally.flush: the flush carries the values and tally's meta stats", async () => {
    const [deleted] = (await python(`out.append(s.tally.delete("counters", "other.*"))`)) as [string[]];
    assert.deepEqual(deleted, ['other.x']);
    await python('out.append(s.tally.flush())');
    const line = await carbon.value(`stats_counts.${k}.hits`);
    const f = carbon.flush(line.ts);
    assert.equal(line.value, 5);
    assert.equal(f.has('stats_counts.other.x'), false);
    assert.equal(f.get('stats.statsd.samples.counters'), 4);
    assert.equal(f.get(`stats.statsd.listeners.udp_127_0_0_1_${agent.udpPort}.datagrams`), 8);
    assert.ok((f.get('stats.statsd.process.rss_bytes') ?? 0) > 1e6);
    assert.equal(f.get('statsd.numStats'), 3 + 2 + 1 + 1 + 1, 'numStats counts only etsy keys: hits, after, lat, temp, users and the internal three');
  });
});
