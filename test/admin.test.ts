import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startAdmin, type AdminLimits, type AdminServer } from '../agent/admin/server.js';
import { loadConfig } from '../agent/config/load.js';
import type { Config } from '../agent/config/types.js';
import type { AgentControl, CurrentValues, Health, MetricType } from '../agent/control.js';
import type { Figures } from '../agent/meta/registry.js';

const STARTED_AT = Math.round(Date.now() / 1000) - 3600;

/** The agent's side in memory; deletion with etsy's mgmt_console.existing_stats rules. */
class FakeControl implements AgentControl {
  data: Record<MetricType, CurrentValues> = { counters: new Map(), timers: new Map(), gauges: new Map(), sets: new Map() };
  state: Health = 'up';
  /** the unix s `stats()` was read at, which the server reads too in the same tick */
  statsNow = 0;
  readonly cfg: Config = loadConfig([]);

  stats(): Figures {
    const now = (this.statsNow = Math.round(Date.now() / 1000));
    return {
      last_msg_seen: now - 7,
      bad_lines_seen: 3,
      packets_received: 12,
      flushers: {
        graphite: { last_flush: now - 2, last_exception: now - 100, flush_time: 4, flush_length: 250 },
        console: { flushes: 9 },
      },
      listeners: { udp_127_0_0_1_8125: { datagrams: 12, last_error: 'none' } },
    };
  }
  values(type: MetricType): CurrentValues {
    return new Map(this.data[type]);
  }
  health(): Health {
    return this.state;
  }
  setHealth(h: Health): void {
    this.state = h;
  }
  async flush(): Promise<void> {}
  async reload(): Promise<boolean> {
    return true;
  }
  delete(type: MetricType, pattern: string): string[] {
    const keys = [...this.data[type].keys()];
    const folder = pattern.endsWith('.*') ? pattern.slice(0, -1) : undefined;
    const deleted = keys.filter((k) => k === pattern || (folder !== undefined && k.startsWith(folder)));
    for (const k of deleted) this.data[type].delete(k);
    return deleted;
  }
  config(): Config {
    return this.cfg;
  }
}

/** A raw client that collects everything the server sends. */
class Client {
  received = '';
  readonly closed: Promise<void>;
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8').on('data', (d: string) => (this.received += d));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }
  static async connect(port: number): Promise<Client> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Client(socket);
  }
  /** Sends, then returns what came back once it is `expected.length` long (or the server closed). */
  async exchange(text: string | Buffer, expected: string): Promise<string> {
    return this.send(text, (r) => r.length >= expected.length);
  }
  /** Sends, then returns what came back once `done` says so (or the server closed). */
  async send(text: string | Buffer, done: (received: string) => boolean): Promise<string> {
    this.received = '';
    this.socket.write(text);
    const deadline = Date.now() + 5000;
    while (!done(this.received) && !this.socket.destroyed && Date.now() < deadline) await sleep(5);
    return this.received;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ADDR = { host: '127.0.0.1', port: 0, family: 4 } as const;

describe('admin server', () => {
  let control: FakeControl;
  let server: AdminServer;
  let port: number;
  let client: Client;
  /** sends and checks the exact reply */
  const expect = async (send: string | Buffer, reply: string) => assert.equal(await client.exchange(send, reply), reply);

  before(async () => {
    control = new FakeControl();
    server = await startAdmin(ADDR, control, STARTED_AT);
    port = Number(server.description.split(':').pop());
  });
  after(() => server.close());
  beforeEach(async () => {
    control.data = {
      counters: new Map([['a.b', 1], ['a.c', 2], ['c', 3]]),
      timers: new Map([['t.x', [1, 2, 3]], ['t.y', []]]),
      gauges: new Map([['g', -4.5]]),
      sets: new Map([['s', ['u1', 'u2']]]),
    };
    control.state = 'up';
    client?.socket.destroy();
    client = await Client.connect(port);
  });

  it('describes itself with the bound port', () => {
    assert.match(server.description, /^admin 127\.0\.0\.1:[1-9]\d*$/);
  });

  it('help: etsy\'s list plus sets and delsets', () =>
    expect('help\n', 'Commands: stats, counters, timers, gauges, sets, delcounters, deltimers, delgauges, delsets, health, config, quit\n\n'));

  it('health reports, and health up|down (any case) sets it; anything else leaves it', async () => {
    await expect('health\n', 'health: up\n');
    await expect('health down\n', 'health: down\n');
    await expect('health\n', 'health: down\n');
    assert.equal(control.state, 'down');
    await expect('health UP\n', 'health: up\n');
    await expect('health sideways\n', 'health: up\n');
  });

  it('counters, timers, gauges, sets: util.inspect of the current values, then END', async () => {
    await expect('counters\n', "{ 'a.b': 1, 'a.c': 2, c: 3 }\nEND\n\n");
    await expect('timers\n', "{ 't.x': [ 1, 2, 3 ], 't.y': [] }\nEND\n\n");
    await expect('gauges\n', '{ g: -4.5 }\nEND\n\n');
    await expect('sets\n', "{ s: [ 'u1', 'u2' ] }\nEND\n\n");
    control.data.counters.clear();
    await expect('counters\n', '{}\nEND\n\n');
  });

  it('delcounters: etsy\'s replies for a missing, an exact and a folder deletion', async () => {
    await expect('delcounters e\n', 'metric e not found\nEND\n\n');
    await expect('delcounters a.b\n', 'deleted: a.b\nEND\n\n');
    await expect('counters\n', "{ 'a.c': 2, c: 3 }\nEND\n\n");
    await expect('delcounters a.*\n', 'deleted: a.c\nEND\n\n');
    await expect('delcounters c.*\n', 'metric c.* not found\nEND\n\n'); // `c` exists, but is no folder
    await expect('delcounters\n', 'END\n\n');
    assert.deepEqual([...control.data.counters.keys()], ['c']);
  });

  it('deltimers, delgauges, delsets with several names, each answered in turn', async () => {
    await expect('deltimers t.* nope\n', 'deleted: t.x\ndeleted: t.y\nmetric nope not found\nEND\n\n');
    await expect('delgauges g\n', 'deleted: g\nEND\n\n');
    await expect('delsets s s\n', 'deleted: s\nmetric s not found\nEND\n\n');
    await expect('delsets a  b\n', 'metric a not found\nmetric  not found\nmetric b not found\nEND\n\n'); // etsy splits on each space
  });

  it('stats: uptime, etsy\'s messages, the flushers with last_* as seconds ago, then the other figures', async () => {
    assert.equal(
      await client.send('stats\n', (r) => r.endsWith('END\n\n')),
      `uptime: ${control.statsNow - STARTED_AT}\n` +
        'messages.last_msg_seen: 7\n' +
        'messages.bad_lines_seen: 3\n' +
        'console.flushes: 9\n' +
        'graphite.flush_length: 250\n' +
        'graphite.flush_time: 4\n' +
        'graphite.last_exception: 100\n' +
        'graphite.last_flush: 2\n' +
        'listeners.udp_127_0_0_1_8125.datagrams: 12\n' +
        'listeners.udp_127_0_0_1_8125.last_error: none\n' +
        'packets_received: 12\n' +
        'END\n\n',
    );
  });

  it('config: etsy\'s writeConfig lines, nested deeper with " > ", in check-config units, lists as JSON', async () => {
    // etsy's config reply has no end marker: the health reply after it shows where it ends
    const reply = await client.send('config\nhealth\n', (r) => r.endsWith('health: up\n'));
    const lines = reply.slice(0, -'health: up\n'.length).split('\n');
    assert.equal(lines[0], ''); // etsy starts with a blank line
    assert.equal(lines.at(-1), '');
    for (const line of lines.slice(1, -1)) assert.match(line, /^\w+( > \w+)*: /);
    for (const line of [
      'data_dir: ./data',
      'flush_interval: 10s',
      'statsd > udp: ["127.0.0.1:8125"]',
      'statsd > recv_buffer: 8MiB',
      'statsd > percentiles: [90]',
      'statsd > histograms: []',
      'statsd > delete_idle > counters: false',
      'statsd > prefix_stats: statsd',
      'graphite > global_suffix: ',
    ])
      assert.ok(lines.includes(line), line);
  });

  it('several commands in one write, CRLF tolerated, each answered in order', () =>
    expect('health\r\ngauges\nbogus\n\nhealth down\n', 'health: up\n{ g: -4.5 }\nEND\n\nERROR\nERROR\nhealth: down\n'));

  it('one command split over two writes', async () => {
    client.socket.write('hea');
    await sleep(30);
    assert.equal(client.received, '');
    await expect('lth\n', 'health: up\n');
  });

  it('a command split inside a UTF-8 character is decoded whole', async () => {
    control.data.gauges.set('é', 1);
    const line = Buffer.from('delgauges é\n');
    client.socket.write(line.subarray(0, 11)); // ends between the two bytes of é
    await sleep(30);
    await expect(line.subarray(11), 'deleted: é\nEND\n\n');
  });

  it('garbage and binary bytes are ERROR lines, and the connection still works', async () => {
    const before = server.figures().errors as number;
    await expect(Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 0x80, 0x1b, 0x5b, 10]), 'ERROR\nERROR\n');
    await expect('HELP\n', 'ERROR\n'); // commands are case-sensitive, as etsy's
    await expect('toString\nconstructor\n__proto__\ndelhasOwnProperty x\n', 'ERROR\n'.repeat(4));
    await expect('health\n', 'health: up\n');
    assert.equal(server.figures().errors, before + 7);
  });

  it('stats ignores arguments as etsy does', async () => {
    const reply = await client.send('stats please\n', (r) => r.endsWith('END\n\n'));
    assert.match(reply, /^uptime: \d+\n/);
  });

  it('a line over 64 KiB closes the connection, with an ERROR', async () => {
    await expect('health\n' + 'x'.repeat(64 * 1024 + 1), 'health: up\nERROR\n');
    await client.closed;
    client = await Client.connect(port);
    await expect('y'.repeat(70_000) + '\nhealth\n', 'ERROR\n'); // complete but too long: same
    await client.closed;
    client = await Client.connect(port);
    await expect('z'.repeat(64 * 1024) + '\nhealth\n', 'ERROR\nhealth: up\n'); // exactly 64 KiB: a line
  });

  it('quit closes the connection; what follows it is not run', async () => {
    await expect('health\nquit\nhealth down\n', 'health: up\n');
    await client.closed;
    assert.equal(control.state, 'up');
  });

  it('counts connections, commands and unknown commands', async () => {
    const before = server.figures() as Record<string, number>;
    const c2 = await Client.connect(port);
    await c2.exchange('help\nnope\n', 'x'.repeat(108));
    c2.socket.destroy();
    assert.deepEqual(server.figures(), {
      connections: before.connections! + 1,
      commands: before.commands! + 2,
      errors: before.errors! + 1,
    });
  });

  it('keeps every reply for a client that pipelines without reading, then catches up', async () => {
    control.data.counters = new Map(Array.from({ length: 2000 }, (_, i) => [`some.rather.long.counter.name.${i}`, i]));
    const one = await client.send('counters\n', (r) => r.endsWith('END\n\n'));
    client.socket.pause(); // not reading: the server's writes back up
    const all = client.send('counters\n'.repeat(100) + 'health\n', (r) => r.endsWith('health: up\n'));
    await sleep(100);
    client.socket.resume();
    assert.equal(await all, one.repeat(100) + 'health: up\n');
  });
});

describe('admin server limits', () => {
  const start = (limits: Partial<AdminLimits> = {}) => startAdmin(ADDR, new FakeControl(), STARTED_AT, limits);
  const portOf = (s: AdminServer) => Number(s.description.split(':').pop());

  it('at most 100 connections at once: more are closed', async () => {
    const server = await start();
    const clients: Client[] = [];
    for (let i = 0; i < 100; i++) {
      const c = await Client.connect(portOf(server));
      assert.equal(await c.exchange('health\n', 'health: up\n'), 'health: up\n');
      clients.push(c);
    }
    const extra = await Client.connect(portOf(server));
    extra.socket.write('health\n');
    await extra.closed;
    assert.equal(extra.received, '');
    clients.pop()!.socket.destroy();
    await sleep(50);
    const again = await Client.connect(portOf(server));
    assert.equal(await again.exchange('health\n', 'health: up\n'), 'health: up\n');
    await server.close();
    await Promise.all([...clients, again].map((c) => c.closed)); // close() ends the sessions
  });

  it('closes idle connections after the idle timeout', async () => {
    const server = await start({ idleTimeoutMs: 100 });
    const c = await Client.connect(portOf(server));
    await c.exchange('health\n', 'health: up\n');
    const t0 = Date.now();
    await c.closed;
    assert.ok(Date.now() - t0 >= 80);
    await server.close();
  });

  it('a port in use is reported as an admin bind error', async () => {
    const server = await start();
    await assert.rejects(startAdmin({ ...ADDR, port: portOf(server) }, new FakeControl(), STARTED_AT), {
      message: `admin 127.0.0.1:${portOf(server)}: address already in use`,
      code: 'EADDRINUSE',
    });
    await server.close();
  });
});
