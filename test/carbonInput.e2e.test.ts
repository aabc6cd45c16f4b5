import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encodePickle } from '../flushers/carbon/pickle.js';
import { AgentProcess, configFile, tempDir } from './helpers/agentProcess.js';
import { FakeCarbon } from './helpers/fakeCarbon.js';
import { sendUdp } from './helpers/statsd.js';

let carbon: FakeCarbon;
before(async () => (carbon = await FakeCarbon.start()));
after(() => carbon.close());

/** An agent flushing every second to the fake carbon, with the carbon input on ephemeral ports. */
async function startAgent(extra = ''): Promise<{ agent: AgentProcess; tcp: number; udp: number; pickle: number }> {
  const yaml = `
data_dir: ${JSON.stringify(tempDir())}
flush_interval: 1s
statsd: {udp: ["127.0.0.1:0"], tcp: []}
admin: {listen: []}
xmlrpc: {listen: []}
http: {listen: []}
store: {enabled: false}
graphite: {destinations: ["127.0.0.1:${carbon.port}"]}
carbon: {listen: ["127.0.0.1:0"], pickle_listen: ["127.0.0.1:0"]}
`;
  const agent = await AgentProcess.start(['--config', configFile(yaml), '--config', configFile(extra)]);
  const port = (proto: string): number => Number(new RegExp(`${proto} 127\\.0\\.0\\.1:(\\d+)`).exec(agent.stderr)?.[1] ?? 0);
  const ports = { tcp: port('carbon-tcp'), udp: port('carbon-udp'), pickle: port('carbon-pickle') };
  assert.ok(ports.tcp && ports.udp && ports.pickle, agent.stderr);
  return { agent, ...ports };
}

/** Connects, writes each chunk as its own segment, and resolves when the agent closed or the end was sent. */
async function tcpSend(port: number, ...chunks: (string | Buffer)[]): Promise<void> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const closed = new Promise((r) => sock.once('close', r));
  for (const c of chunks) {
    if (sock.destroyed) break;
    await new Promise<void>((r) => sock.write(c, () => r()));
    await new Promise((r) => setTimeout(r, 30));
  }
  sock.end();
  await closed;
}

let run = 0;
const uniq = (): string => `ci${process.pid}_${++run}`;
const seg = (proto: string, port: number): string => `stats.statsd.listeners.${proto}_127_0_0_1_${port}`;

describe('carbon input end to end, with a fake carbon', () => {
  it('lines over TCP and UDP reach carbon with their own timestamps and exact values, unprefixed', async () => {
    const { agent, tcp, udp } = await startAgent();
    try {
      const k = uniq();
      const t0 = Math.floor(Date.now() / 1000) - 600;
      await tcpSend(tcp, `${k}.tcp.a 1.5 ${t0}\n${k}.tcp.b -2e3 ${t0 + 1}.9\n${k}.tcp.sp`, `lit 0.1 ${t0 + 2}\n${k}.tcp.now 42\n`, `${k}.tcp.last 7 ${t0 + 3}`);
      await sendUdp(udp, `${k}.udp.a 3 ${t0}\n${k}.udp.b 123456789.125 ${t0 + 4}\n`, `${k}.udp.c 1e-7 ${t0 + 5}`);
      const sentAt = Math.floor(Date.now() / 1000);
      const want = new Map<string, [number, number]>([
        [`${k}.tcp.a`, [1.5, t0]],
        [`${k}.tcp.b`, [-2000, t0 + 1]],
        [`${k}.tcp.split`, [0.1, t0 + 2]],
        [`${k}.tcp.last`, [7, t0 + 3]],
        [`${k}.udp.a`, [3, t0]],
        [`${k}.udp.b`, [123456789.125, t0 + 4]],
        [`${k}.udp.c`, [1e-7, t0 + 5]],
      ]);
      const got = await carbon.until((lines) => {
        const mine = lines.filter((l) => l.name.startsWith(k + '.'));
        return mine.length >= want.size + 1 ? mine : undefined;
      });
      for (const [name, [value, ts]] of want) {
        assert.deepEqual(got.filter((l) => l.name === name).map((l) => [l.value, l.ts]), [[value, ts]], name);
      }
      const now = got.find((l) => l.name === `${k}.tcp.now`)!;
      assert.equal(now.value, 42);
      assert.ok(now.ts >= sentAt - 2 && now.ts <= sentAt + 1, `stamped ${now.ts}, sent at ${sentAt}`);
      assert.equal(got.length, want.size + 1);
      // counted per listener, published as meta stats
      await carbon.value(`${seg('carbon-tcp', tcp)}.datapoints`, (v) => v === 5);
      await carbon.value(`${seg('carbon-udp', udp)}.datapoints`, (v) => v === 3);
      assert.match(agent.stderr, new RegExp(`carbon-tcp 127\\.0\\.0\\.1:${tcp}, carbon-udp 127\\.0\\.0\\.1:${udp}, carbon-pickle 127\\.0\\.0\\.1:\\d+`));
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  it('pickle messages (the repo encoder) reach carbon as sent', async () => {
    const { agent, pickle } = await startAgent();
    try {
      const k = uniq();
      const t0 = Math.floor(Date.now() / 1000) - 300;
      const points = Array.from({ length: 1200 }, (_, i) => ({ path: `${k}.p${i % 7}.n${i}`, ts: t0 + (i % 60) + 0.5, value: i * 1.25 - 100 }));
      const frames = encodePickle(points);
      assert.ok(frames.length >= 3);
      const all = Buffer.concat(frames);
      await tcpSend(pickle, all.subarray(0, 1000), all.subarray(1000, 5001), all.subarray(5001));
      const got = await carbon.until((lines) => {
        const mine = lines.filter((l) => l.name.startsWith(k + '.'));
        return mine.length >= points.length ? mine : undefined;
      });
      assert.deepEqual(
        got.map((l) => [l.name, l.value, l.ts]),
        points.map((p) => [p.path, p.value, Math.floor(p.ts)]),
      );
      await carbon.value(`${seg('carbon-pickle', pickle)}.datapoints`, (v) => v === 1200);
      await carbon.value(`${seg('carbon-pickle', pickle)}.messages`, (v) => v === frames.length);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  it('bad lines, NaN, junk, oversized and malicious pickles are counted; the agent keeps serving', async () => {
    const { agent, tcp, udp, pickle } = await startAgent('carbon: {max_points: 3}');
    try {
      const k = uniq();
      const t0 = Math.floor(Date.now() / 1000) - 60;
      const junk = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) % 256));
      // pickle: a GLOBAL (os.system) drops the connection (first: at most 5 bad inputs are logged per interval)
      const attack = Buffer.from("cos\nsystem\n(S'touch /tmp/pwned'\ntR.", 'latin1');
      const framedAttack = Buffer.concat([Buffer.from([0, 0, 0, attack.length]), attack]);
      await tcpSend(pickle, framedAttack, encodePickle([{ path: `${k}.after.attack`, ts: t0, value: 1 }])[0]!);
      // TCP: 4 bad lines, NaN and inf values, junk (bad lines), an over-long line
      await tcpSend(tcp, `${k}.x\n${k}.y abc ${t0}\n${k}.z 1 2 3\n${k}.w 1 tomorrow\n${k}.nan nan ${t0}\n${k}.inf inf ${t0}\n`, junk, '\n', 'y'.repeat(40 * 1024), 'y'.repeat(40 * 1024), ' 1 2\n'); // over tcp_max_line before its newline
      await sendUdp(udp, `only-one-field\n${k}.nan2 NaN ${t0}`, junk);
      // a 2 MiB length drops the connection, and so does junk
      await tcpSend(pickle, Buffer.from([0, 0x20, 0, 0]), Buffer.alloc(1000));
      await tcpSend(pickle, junk);
      // still serving, on every listener; then one datagram of 4 points, one over max_points (3)
      await tcpSend(pickle, encodePickle([{ path: `${k}.ok.p`, ts: t0, value: 0.5 }])[0]!);
      await tcpSend(tcp, `${k}.ok.t -1 ${t0}\n`);
      await carbon.until((lines) => lines.filter((l) => l.name.startsWith(k + '.')).length >= 2 || undefined);
      await sendUdp(udp, `${k}.ok.1 1 ${t0}\n${k}.ok.2 2 ${t0 + 1}\n${k}.ok.3 3 ${t0 + 2}\n${k}.ok.4 4 ${t0 + 3}`);
      await carbon.until((lines) => lines.filter((l) => l.name.startsWith(k + '.')).length >= 5 || undefined);
      await new Promise((r) => setTimeout(r, 1200)); // one more flush: nothing else of ours arrives
      assert.deepEqual(
        carbon.lines.filter((l) => l.name.startsWith(k + '.')).map((l) => [l.name, l.value, l.ts]),
        [[`${k}.ok.p`, 0.5, t0], [`${k}.ok.t`, -1, t0], [`${k}.ok.1`, 1, t0], [`${k}.ok.2`, 2, t0 + 1], [`${k}.ok.3`, 3, t0 + 2]],
      );

      const tcpStats = seg('carbon-tcp', tcp);
      await carbon.value(`${tcpStats}.bad_lines`, (v) => v >= 5); // 4 bad lines, the over-long one, and what the junk makes
      await carbon.value(`${tcpStats}.dropped_nan`, (v) => v === 1);
      await carbon.value(`${tcpStats}.dropped_infinite`, (v) => v === 1);
      await carbon.value(`${tcpStats}.overlong_lines`, (v) => v === 1);
      const udpStats = seg('carbon-udp', udp);
      await carbon.value(`${udpStats}.dropped_nan`, (v) => v === 1);
      await carbon.value(`${udpStats}.bad_lines`, (v) => v >= 2);
      const pStats = seg('carbon-pickle', pickle);
      await carbon.value(`${pStats}.bad_messages`, (v) => v >= 3); // the GLOBAL, the 2 MiB length, the junk
      await carbon.value(`${pStats}.oversized_messages`, (v) => v === 2); // the 2 MiB length, the junk's first 4 bytes
      await carbon.value(`${pStats}.datapoints`, (v) => v === 1);
      await carbon.value(`${udpStats}.dropped_max_points`, (v) => v === 1);
      await carbon.value(`${udpStats}.datapoints`, (v) => v === 3);
      await carbon.value('stats.statsd.carbon_input.dropped_max_points', (v) => v === 1);
      assert.match(agent.stderr, /carbon-pickle 127\.0\.0\.1:\d+: bad pickle message \(refused opcode GLOBAL/);
      assert.match(agent.stderr, /carbon-tcp 127\.0\.0\.1:\d+: bad line \(value is not a number\)/);
      assert.match(agent.stderr, /1 carbon input datapoints dropped in this interval: carbon.max_points \(3\) held/);
      assert.match(agent.stderr, /more carbon input bad lines in this interval not logged/);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});
