import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import StatsD from 'hot-shots';
import { AgentProcess, configFile } from './helpers/agentProcess.js';
import { FakeCarbon } from './helpers/fakeCarbon.js';
import { sendUdp } from './helpers/statsd.js';

let carbon: FakeCarbon;
before(async () => (carbon = await FakeCarbon.start()));
after(() => carbon.close());

const yaml = (extra = '', interval = '1s'): string => `
flush_interval: ${interval}
statsd: {udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"], histograms: [{match: "", bins: [1000]}]}
graphite: {destinations: ["127.0.0.1:${carbon.port}"]}
admin: {listen: ["127.0.0.1:0"]}
xmlrpc: {listen: ["127.0.0.1:0"]}
${extra}`;

/** Keys are made unique per test so that lines from several tests on one carbon never mix. */
let run = 0;
const uniq = (name: string): string => `t${process.pid}_${++run}.${name}`;

async function tcpSend(port: number, ...chunks: (string | Buffer)[]): Promise<void> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  for (const c of chunks) {
    await new Promise<void>((r) => sock.write(c, () => r()));
    await new Promise((r) => setTimeout(r, 50)); // separate TCP segments
  }
  await new Promise<void>((r) => sock.end(() => r()));
}

/** Waits for the next flush to reach carbon, so that what is sent next falls in one interval. */
async function afterNextFlush(): Promise<void> {
  const seen = carbon.lines.length;
  await carbon.until((lines) => lines.slice(seen).some((l) => l.name === 'statsd.numStats'), 5000, 'a flush');
}

describe('tally agent end to end, with a fake carbon', () => {
  it('aggregates what hot-shots sends over UDP, tags included, under etsy\'s legacy names', async () => {
    const agent = await AgentProcess.start(['--config', configFile(yaml())]);
    const random = Math.random;
    Math.random = () => 0; // hot-shots samples on the client side: make it keep every sampled call
    try {
      const k = uniq('app');
      const client = new StatsD({ host: '127.0.0.1', port: agent.udpPort, protocol: 'udp' });
      await afterNextFlush();
      client.increment(`${k}.hits`, 3, 1, ['env:prod', 'canary']);
      client.increment(`${k}.sampled`, 1, 0.1);
      for (const ms of [100, 200, 300]) client.timing(`${k}.latency`, ms);
      client.histogram(`${k}.size`, 7);
      client.gauge(`${k}.temp`, 50);
      client.gaugeDelta(`${k}.temp`, -3);
      for (const u of ['alice', 'bob', 'alice']) client.set(`${k}.users`, u);
      await new Promise<void>((r) => client.close(() => r()));

      const line = await carbon.value(`stats.timers.${k}.latency.count`, (v) => v === 3);
      const f = carbon.flush(line.ts);
      assert.equal(f.get(`stats_counts.${k}.hits;env=prod;canary`), 3);
      assert.equal(f.get(`stats.${k}.hits;env=prod;canary`), 3, 'rate per second over 1 s');
      assert.equal(f.get(`stats_counts.${k}.sampled`), 10);
      assert.equal(f.get(`stats.timers.${k}.latency.mean_90`), 200);
      assert.equal(f.get(`stats.timers.${k}.latency.upper_90`), 300);
      assert.equal(f.get(`stats.timers.${k}.latency.std`), 81.64965809277261);
      assert.equal(f.get(`stats.timers.${k}.latency.histogram.bin_1000`), 3);
      assert.equal(f.get(`stats.timers.${k}.size.count`), 1, 'h is a timer');
      assert.equal(f.get(`stats.gauges.${k}.temp`), 47);
      assert.equal(f.get(`stats.sets.${k}.users.count`), 2);
      assert.equal(f.get('stats_counts.statsd.packets_received'), 11);
      assert.equal(f.get('stats_counts.statsd.metrics_received'), 11);
      assert.equal(f.get('stats_counts.statsd.bad_lines_seen'), 0);
      assert.equal(f.get('statsd.numStats'), 3 + 1 /* timestamp_lag */ + 2 + 2 + 1 + 1);
      assert.ok(f.has('stats.statsd.processing_time'));
      assert.ok(f.has('stats.statsd.graphiteStats.calculationtime'));
      for (const s of ['last_exception', 'last_flush', 'flush_time', 'flush_length']) assert.ok(f.has(`stats.statsd.graphiteStats.${s}`), s);
      assert.equal(f.get('stats.statsd.graphiteStats.last_exception'), 0);
    } finally {
      Math.random = random;
      assert.equal(await agent.stop(), 0);
    }
  });

  it('takes hot-shots over TCP', async () => {
    const agent = await AgentProcess.start(['--config', configFile(yaml())]);
    const k = uniq('tcp');
    const client = new StatsD({ host: '127.0.0.1', port: agent.tcpPort, protocol: 'tcp' });
    for (let i = 0; i < 100; i++) client.increment(`${k}.n`, 1, 1, ['via:tcp']);
    client.timing(`${k}.t`, 42);
    await new Promise<void>((r) => client.close(() => r()));
    await carbon.until(() => carbon.sum(`stats_counts.${k}.n;via=tcp`) === 100 || undefined, 5000, 'tcp counter');
    assert.equal((await carbon.value(`stats.timers.${k}.t.upper`)).value, 42);
    assert.equal(await agent.stop(), 0);
  });

  it('counts garbage, empty and huge datagrams without losing the good ones', async () => {
    const agent = await AgentProcess.start(['--config', configFile(yaml())]);
    const k = uniq('raw');
    await afterNextFlush();
    const huge = `${k}.big:1|c\n`.repeat(Math.floor(60_000 / `${k}.big:1|c\n`.length));
    await sendUdp(
      agent.udpPort,
      'a_bad_test_value|z', // etsy's bad line
      Buffer.from([0, 1, 2, 0xff, 0xfe]),
      `${k}.x:NaN|c`,
      `${k}.x:1|c|@0`,
      '',
      huge,
      `${k}.ok:1|c\n${k}.ok:1|c|@0.5`,
    );
    const line = await carbon.value(`stats_counts.${k}.ok`);
    const f = carbon.flush(line.ts);
    assert.equal(line.value, 3);
    assert.equal(f.get(`stats_counts.${k}.big`), huge.split('\n').length - 1);
    assert.equal(f.get('stats_counts.statsd.bad_lines_seen'), 4);
    assert.equal(f.get('stats_counts.statsd.packets_received'), 7);
    assert.equal(f.has(`stats_counts.${k}.x`), false);
    assert.match(agent.stderr, /bad line \(no ":" between name and value\): "a_bad_test_value\|z"/);
    assert.equal(await agent.stop(), 0);
  });

  it('frames TCP by lines: split lines, split UTF-8, overlong lines and idle connections', async () => {
    const seen = carbon.lines.length;
    const agent = await AgentProcess.start(['--config', configFile(yaml('', '1s').replace('tcp: ["127.0.0.1:0"]', 'tcp: ["127.0.0.1:0"], tcp_max_line: 1KiB'))]);
    const k = uniq('frame');
    const idle = Array.from({ length: 5 }, () => net.connect(agent.tcpPort, '127.0.0.1').on('error', () => {}));
    const member = Buffer.from(`${k}.u:é|s\n`);
    const cut = member.indexOf(0xc3) + 1; // in the middle of é
    await tcpSend(agent.tcpPort, `${k}.a:1|c\n${k}.b:`, `2|c\r\n${k}.c:3|c`, '\n', member.subarray(0, cut), member.subarray(cut));
    await tcpSend(agent.tcpPort, 'x'.repeat(2000), `yyy\n${k}.after:1|c\n`);
    await tcpSend(agent.tcpPort, `${k}.nonewline:5|c`); // taken when the client closes
    await carbon.until(() => carbon.sum(`stats_counts.${k}.nonewline`) === 5 || undefined, 5000, 'last line');
    assert.equal(carbon.sum(`stats_counts.${k}.a`), 1);
    assert.equal(carbon.sum(`stats_counts.${k}.b`), 2);
    assert.equal(carbon.sum(`stats_counts.${k}.c`), 3);
    assert.equal(carbon.sum(`stats_counts.${k}.after`), 1);
    assert.equal((await carbon.value(`stats.sets.${k}.u.count`, (v) => v === 1)).value, 1);
    const badLines = carbon.lines.slice(seen).filter((l) => l.name === 'stats_counts.statsd.bad_lines_seen');
    assert.equal(badLines.reduce((n, l) => n + l.value, 0), 1, 'the over-long line, and nothing else, is a bad line');
    assert.match(agent.stderr, /TCP line longer than 1024 bytes/);
    for (const s of idle) s.destroy();
    assert.equal(await agent.stop(), 0);
  });

  it('flushes at wall-clock multiples of the interval, stamped with the slot', async () => {
    const agent = await AgentProcess.start(['--config', configFile(yaml('', '2s'))]);
    const seen = carbon.lines.length;
    const flushes = await carbon.until((lines) => {
      const ts = [...new Set(lines.slice(seen).filter((l) => l.name === 'statsd.numStats').map((l) => l.ts))];
      return ts.length >= 3 ? ts : undefined;
    }, 10_000, 'three flushes');
    for (const ts of flushes) assert.equal(ts % 2, 0, `flush stamped ${ts} is not on a 2 s boundary`);
    assert.deepEqual([flushes[1]! - flushes[0]!, flushes[2]! - flushes[1]!], [2, 2]);
    for (const l of carbon.lines.slice(seen).filter((x) => x.name === 'statsd.numStats')) {
      assert.ok(l.at >= l.ts * 1000 && l.at < l.ts * 1000 + 500, `flush ${l.ts} arrived ${l.at - l.ts * 1000} ms after its slot`);
    }
    assert.equal(await agent.stop(), 0);
  });

  it('on SIGTERM takes what is in the socket buffer, flushes it and exits 0', async () => {
    const agent = await AgentProcess.start(['--config', configFile(yaml('', '1h'))]);
    const k = uniq('last');
    await sendUdp(agent.udpPort, ...Array.from({ length: 1000 }, () => `${k}.n:1|c`));
    const started = Date.now();
    assert.equal(await agent.stop('SIGTERM'), 0);
    assert.ok(Date.now() - started < 10_000);
    assert.equal((await carbon.value(`stats_counts.${k}.n`)).value, 1000);
  });

  it('SIGHUP applies a new config without losing the interval; a bad one is refused', async () => {
    const file = configFile(yaml('', '1h'));
    const agent = await AgentProcess.start(['--config', file]);
    const k = uniq('reload');
    await sendUdp(agent.udpPort, `${k}.keep:1|c`, ...[1, 2, 3, 4].map((v) => `${k}.t:${v}|ms`));
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(file, yaml('', '1h').replace('histograms', 'percentiles: [50], histograms').replace(', tcp: ["127.0.0.1:0"]', ', tcp: []'));
    agent.proc.kill('SIGHUP');
    await waitFor(() => agent.stderr.includes('config reloaded'));
    assert.doesNotMatch(agent.stderr.split('config reloaded')[1]!.split('\n')[0]!, /tcp/, 'the TCP listener is closed');
    await assert.rejects(tcpSend(agent.tcpPort, 'x:1|c\n'), /ECONNREFUSED/);

    writeFileSync(file, 'flush_interval: soon\n');
    agent.proc.kill('SIGHUP');
    await waitFor(() => agent.stderr.includes('reload refused'));
    assert.match(agent.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}: flush_interval: expected`));

    await sendUdp(agent.udpPort, `${k}.keep:2|c`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await agent.stop(), 0);
    assert.equal((await carbon.value(`stats_counts.${k}.keep`)).value, 3);
    const f = carbon.flush((await carbon.value(`stats.timers.${k}.t.count`)).ts);
    assert.equal(f.get(`stats.timers.${k}.t.upper_50`), 2);
    assert.equal(f.has(`stats.timers.${k}.t.upper_90`), false);
  });

  it('--debug GLOB prints the matching samples and flushed values', async () => {
    const k = uniq('dbg');
    const agent = await AgentProcess.start(['--config', configFile(yaml()), '--debug', `${k}.api.*`]);
    await sendUdp(agent.udpPort, `${k}.api.hits:2|c|@0.5`, `${k}.other:1|c`, `${k}.api.lat:5|ms`);
    await carbon.value(`stats_counts.${k}.api.hits`);
    await waitFor(() => agent.stderr.includes(`flushed stats.timers.${k}.api.lat.upper 5`));
    assert.match(agent.stderr, new RegExp(`sample counter ${k}\\.api\\.hits 2 @0\\.5`));
    assert.match(agent.stderr, new RegExp(`sample timer ${k}\\.api\\.lat 5`));
    assert.match(agent.stderr, new RegExp(`flushed stats_counts\\.${k}\\.api\\.hits 4 \\d+`));
    assert.doesNotMatch(agent.stderr, /other/);
    assert.equal(await agent.stop(), 0);
  });
});

describe('bounds and failures', () => {
  it('refuses TCP connections beyond tcp_max_connections and closes idle ones', async () => {
    const agent = await AgentProcess.start([
      '--config',
      configFile(yaml().replace('tcp: ["127.0.0.1:0"]', 'tcp: ["127.0.0.1:0"], tcp_max_connections: 2, tcp_idle_timeout: 300ms')),
    ]);
    const k = uniq('bounds');
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const s = net.connect(agent.tcpPort, '127.0.0.1', () => resolve(s)).on('error', reject);
      });
    const closed = (s: net.Socket): Promise<number> => {
      const t0 = Date.now();
      return new Promise((resolve) => s.once('close', () => resolve(Date.now() - t0)));
    };
    const [a, b] = [await open(), await open()];
    const third = await open(); // accepted by the kernel, then closed by the agent
    assert.ok((await closed(third)) < 250, 'the connection over the limit is closed at once');
    const [aClosed, bClosed] = await Promise.all([closed(a), closed(b)]);
    assert.ok(aClosed >= 200 && bClosed >= 200, `idle connections closed after the timeout (${aClosed}, ${bClosed} ms)`);
    await tcpSend(agent.tcpPort, `${k}.after:1|c\n`);
    assert.equal((await carbon.value(`stats_counts.${k}.after`)).value, 1);
    assert.match(agent.stderr, /tcp: connection refused, 2 already open/);
    assert.equal(await agent.stop(), 0);
  });

  it('holds at most max_metrics distinct keys, drops samples of new keys beyond and says so', async () => {
    // 3 internal counters + timestamp_lag + 2
    const agent = await AgentProcess.start(['--config', configFile(yaml().replace('tcp: ["127.0.0.1:0"]', 'tcp: ["127.0.0.1:0"], max_metrics: 6'))]);
    const k = uniq('max');
    await afterNextFlush();
    await afterNextFlush(); // timestamp_lag exists from the second flush on
    await sendUdp(agent.udpPort, `${k}.a:1|c`, `${k}.b:1|c`, `${k}.c:1|c`, `${k}.d:1|c`, `${k}.a:1|c`);
    assert.equal((await carbon.value(`stats_counts.${k}.a`)).value, 2);
    await waitFor(() => agent.stderr.includes('2 samples of new keys dropped in this interval: statsd.max_metrics (6) distinct keys held'));
    assert.equal(carbon.lines.some((l) => l.name === `stats_counts.${k}.c` || l.name === `stats_counts.${k}.d`), false);
    assert.equal(await agent.stop(), 0);
  });

  it('a carbon outage is logged once, sets last_exception, and its end is logged once', async () => {
    const down = await FakeCarbon.start();
    const port = down.port;
    await down.close(); // nothing listens there now
    const agent = await AgentProcess.start(['--config', configFile(yaml().replace(`127.0.0.1:${carbon.port}`, `127.0.0.1:${port}`))]);
    await waitFor(() => (agent.stderr.match(/carbon 127\.0\.0\.1:\d+: connect ECONNREFUSED/g) ?? []).length === 1, 5000);
    await new Promise((r) => setTimeout(r, 2100)); // two more failed flushes
    assert.equal((agent.stderr.match(/ECONNREFUSED/g) ?? []).length, 1, 'logged once per outage, not per flush');
    const back = await FakeCarbon.start(port);
    const backAt = Math.floor(Date.now() / 1000);
    try {
      await back.value('statsd.numStats', () => true, 5000).then(() => back.until((lines) => lines.some((l) => l.name === 'statsd.numStats' && l.ts > backAt)));
      // the flushes of the outage come first, oldest first; those rendered after the failure carry its time
      const exc = await back.value('stats.statsd.graphiteStats.last_exception', (v) => v > 0);
      assert.ok(Math.abs(exc.value - Date.now() / 1000) < 10, `last_exception ${exc.value} is the time of the failure`);
      const stamps = back.lines.filter((l) => l.name === 'statsd.numStats').map((l) => l.ts);
      assert.ok(stamps.length >= 3, 'the flushes made while carbon was away are delivered');
      assert.deepEqual(stamps, [...stamps].sort(), 'oldest first');
      assert.deepEqual(stamps.slice(1).map((ts, i) => ts - stamps[i]!), stamps.slice(1).map(() => 1), 'none missing');
      await waitFor(() => agent.stderr.includes(`carbon 127.0.0.1:${port}: delivering again`));
    } finally {
      assert.equal(await agent.stop(), 0);
      await back.close();
    }
  });
});

describe('etsy graphite_tests, non-legacy namespace, 200 ms flush', () => {
  const etsy = (): string =>
    yaml(
      'graphite: {destinations: ["127.0.0.1:CARBON"], legacy_namespace: false}\n'.replace('CARBON', String(carbon.port)),
      '200ms',
    ).replace(/^graphite: \{destinations: \[[^\]]*\]\}$/m, '');

  it('numStats is 3 at idle, then 4 with timestamp_lag; a bad line counts', async () => {
    const seen = carbon.lines.length;
    const agent = await AgentProcess.start(['--config', configFile(etsy())]);
    const first = await carbon.until((l) => l.slice(seen).find((x) => x.name === 'stats.statsd.numStats'));
    assert.equal(first.value, 3);
    await sendUdp(agent.udpPort, 'a_bad_test_value|z');
    await carbon.until((l) => l.slice(seen).find((x) => x.name === 'stats.counters.statsd.bad_lines_seen.count' && x.value === 1));
    assert.equal(carbon.lines.slice(seen).filter((x) => x.name === 'stats.statsd.numStats').at(-1)!.value, 4);
    assert.equal(await agent.stop(), 0);
  });

  it('timers, sampled timers, counters and gauges', async () => {
    const agent = await AgentProcess.start(['--config', configFile(etsy())]);
    const k = uniq('etsy');
    await sendUdp(agent.udpPort, `${k}.t:100|ms`, `${k}.s:100|ms|@0.1`, `${k}.c:100|c`, `${k}.g:70|g`);
    const t = carbon.flush((await carbon.value(`stats.timers.${k}.t.count`, (v) => v === 1)).ts);
    assert.equal(t.get(`stats.timers.${k}.t.mean_90`), 100);
    assert.equal(t.get(`stats.timers.${k}.t.histogram.bin_1000`), 1);
    assert.equal(t.get(`stats.timers.${k}.t.count_ps`), 5);
    const s = carbon.flush((await carbon.value(`stats.timers.${k}.s.count`, (v) => v === 10)).ts);
    assert.equal(s.get(`stats.timers.${k}.s.count_ps`), 50);
    const c = carbon.flush((await carbon.value(`stats.counters.${k}.c.count`, (v) => v === 100)).ts);
    assert.equal(c.get(`stats.counters.${k}.c.rate`), 500);
    assert.equal((await carbon.value(`stats.gauges.${k}.g`)).value, 70);
    await sendUdp(agent.udpPort, `${k}.g:50|g\n${k}.g:-3|g`);
    assert.equal((await carbon.value(`stats.gauges.${k}.g`, (v) => v !== 70)).value, 47);
    assert.equal(await agent.stop(), 0);
  });
});

async function waitFor(test: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
