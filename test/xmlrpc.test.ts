import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../agent/config/load.js';
import type { Config, XmlRpcConfig } from '../agent/config/types.js';
import type { AgentControl, CurrentValues, Health, MetricType } from '../agent/control.js';
import { globMatcher } from '../agent/glob.js';
import type { Figures } from '../agent/meta/registry.js';
import { statsCommand } from '../agent/statsCommand.js';
import { FAULT, startXmlRpc, type XmlRpcServer } from '../agent/xmlrpc/server.js';

const run = promisify(execFile);

/** What a running agent's figures look like: nested groups, strings, integers past i4, one flusher and one collector in error. */
const STATS: Figures = {
  bad_lines_seen: 3,
  numStats: 7,
  graphiteStats: { last_exception: 1764000100, last_flush: 1764000000, flush_time: 12.5 },
  flushers: { console: { last_flush: 1764000100, last_exception: 0 } },
  collectors: { cpu: { errors: 2, runs: 10 }, disk: { errors: 0, runs: 10 } },
  listeners: { xmlrpc_127_0_0_1_8127: { requests: 9, timeouts: 1 } },
  process: { rss_bytes: 5_000_000_000, started_ms: 1_764_000_000_123, i4_max: 2 ** 31 - 1, i4_over: 2 ** 31, i4_min: -(2 ** 31), i4_under: -(2 ** 31) - 1, load: 0.25 },
  version: '0.1.0 <&>',
};

/** An in-memory agent: values by type, etsy's delete semantics (exact name, or `prefix.*`). */
class FakeControl implements AgentControl {
  state: Health = 'up';
  flushes = 0;
  reloadAnswer: boolean | Error = true;
  data: Record<MetricType, CurrentValues> = {
    counters: new Map<string, number>([['api.hits', 5], ['api.errors', 1], ['db.queries', 2.5]]),
    timers: new Map([['api.latency', [1, 2.5, 300]]]),
    gauges: new Map([['mem.free', 3_000_000_000], ['load', -1]]),
    sets: new Map([['users', ['alice', 'bob']]]),
  };
  stats(): Figures {
    return STATS;
  }
  values(type: MetricType, glob?: string): CurrentValues {
    const match = glob === undefined ? () => true : globMatcher(glob);
    return new Map([...this.data[type]].filter(([name]) => match(name)));
  }
  health(): Health {
    return this.state;
  }
  setHealth(h: Health): void {
    this.state = h;
  }
  async flush(): Promise<void> {
    await new Promise((r) => setTimeout(r, 200)); // the answer must wait for this
    this.flushes++;
  }
  async reload(): Promise<boolean> {
    if (this.reloadAnswer instanceof Error) throw this.reloadAnswer;
    return this.reloadAnswer;
  }
  delete(type: MetricType, pattern: string): string[] {
    const hit = (name: string): boolean => (pattern.endsWith('.*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern);
    const gone = [...this.data[type].keys()].filter(hit);
    for (const name of gone) this.data[type].delete(name);
    return gone;
  }
  config(): Config {
    return loadConfig([]);
  }
}

const LOOPBACK: XmlRpcConfig = {
  listen: [],
  allow: [
    { address: '127.0.0.0', prefix: 8, family: 4 },
    { address: '::1', prefix: 128, family: 6 },
  ],
  auth: { user: '', password_file: '' },
  request_timeout: 5000,
};

const dir = mkdtempSync(join(tmpdir(), 'tally-xmlrpc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Python's xmlrpc.client makes each call; a fault or an HTTP error is an answer too. */
const PY_CLIENT = `
import json, sys, xmlrpc.client
url, calls = sys.argv[1], json.loads(sys.argv[2])
proxy = xmlrpc.client.ServerProxy(url)
out = []
for name, params in calls:
    try:
        out.append({'result': getattr(proxy, name)(*params)})
    except xmlrpc.client.Fault as f:
        out.append({'fault': f.faultCode, 'message': f.faultString})
    except xmlrpc.client.ProtocolError as e:
        headers = {k.lower(): v for k, v in e.headers.items()}
        out.append({'http': e.errcode, 'authenticate': headers.get('www-authenticate')})
print(json.dumps(out))
`;
const pyScript = join(dir, 'client.py');
writeFileSync(pyScript, PY_CLIENT);

type PyAnswer = { result?: unknown; fault?: number; message?: string; http?: number; authenticate?: string | null };

async function py(url: string, calls: [string, unknown[]][]): Promise<PyAnswer[]> {
  const { stdout } = await run('python3', [pyScript, url, JSON.stringify(calls)]);
  return JSON.parse(stdout) as PyAnswer[];
}
const result = async (url: string, name: string, ...params: unknown[]): Promise<unknown> => {
  const [a] = await py(url, [[name, params]]);
  assert.ok(a && 'result' in a, `${name}: ${JSON.stringify(a)}`);
  return a.result;
};

const portOf = (s: XmlRpcServer): number => Number(/:(\d+)$/.exec(s.description)![1]);

async function start(cfg: Partial<XmlRpcConfig> = {}, control = new FakeControl()): Promise<{ server: XmlRpcServer; url: string; port: number; control: FakeControl }> {
  const server = await startXmlRpc({ host: '127.0.0.1', port: 0, family: 4 }, { ...LOOPBACK, ...cfg }, control);
  const port = portOf(server);
  return { server, url: `http://127.0.0.1:${port}/RPC2`, port, control };
}

/** A raw POST: status, headers and body text, so hostile bodies can be sent as they are. */
function post(port: number, body: string | Buffer, path = '/RPC2', method = 'POST'): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { 'content-type': 'text/xml' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A fault answer read with the xmlrpc package's own deserializer. */
const Deserializer = createRequire(import.meta.url)('xmlrpc/lib/deserializer.js') as new () => {
  deserializeMethodResponse(s: NodeJS.ReadableStream, cb: (err: (Error & { faultCode?: number; faultString?: string }) | null, v: unknown) => void): void;
};
function faultIn(xml: string): Promise<{ code: number; message: string }> {
  return new Promise((resolve, reject) => {
    const s = new PassThrough();
    new Deserializer().deserializeMethodResponse(s, (err, v) =>
      err?.faultCode !== undefined ? resolve({ code: err.faultCode, message: err.faultString! }) : reject(new Error(`not a fault: ${err?.message ?? JSON.stringify(v)}`)),
    );
    s.end(xml);
  });
}

const call = (method: string, param = ''): string =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${param && `<param><value><string>${param}</string></value></param>`}</params></methodCall>`;

describe('XML-RPC server: methods from Python xmlrpc.client', () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => (s = await start()));
  after(() => s.server.close());

  it('describes itself with the bound port; a port in use is named', async () => {
    assert.equal(s.server.description, `xmlrpc 127.0.0.1:${s.port}`);
    await assert.rejects(startXmlRpc({ host: '127.0.0.1', port: s.port, family: 4 }, LOOPBACK, s.control), {
      message: `xmlrpc 127.0.0.1:${s.port}: address already in use`,
      code: 'EADDRINUSE',
    });
  });

  it('answers stats, istats and the current values exactly as the agent holds them', async () => {
    const answers = await py(s.url, [
      ['tally.stats', []],
      ['istats', []],
      ['tally.counters', []],
      ['tally.counters', ['api.*']],
      ['tally.timers', []],
      ['tally.gauges', []],
      ['tally.sets', []],
      ['tally.sets', ['nothing.*']],
    ]);
    assert.deepEqual(
      answers.map((a) => a.result),
      [
        STATS,
        JSON.stringify(STATS),
        { 'api.hits': 5, 'api.errors': 1, 'db.queries': 2.5 },
        { 'api.hits': 5, 'api.errors': 1 },
        { 'api.latency': [1, 2.5, 300] },
        { 'mem.free': 3_000_000_000, load: -1 },
        { users: ['alice', 'bob'] },
        {},
      ],
    );
    assert.deepEqual(await result(s.url, 'system.listMethods'), [
      'istats',
      'system.listMethods',
      'system.methodHelp',
      'system.methodSignature',
      'system.multicall',
      'tally.counters',
      'tally.delete',
      'tally.flush',
      'tally.gauges',
      'tally.health',
      'tally.reload',
      'tally.set_health',
      'tally.sets',
      'tally.stats',
      'tally.timers',
    ]);
  });

  it('sends integers past i4 (and fractions) as <double>, the rest as <int>', async () => {
    const { text } = await post(s.port, call('tally.stats'));
    const wire = (name: string): string => new RegExp(`<name>${name}</name><value>(<[^>]+>[^<]*</[^>]+>)</value>`).exec(text)![1]!;
    assert.equal(wire('rss_bytes'), '<double>5000000000</double>');
    assert.equal(wire('started_ms'), '<double>1764000000123</double>');
    assert.equal(wire('i4_max'), '<int>2147483647</int>');
    assert.equal(wire('i4_over'), '<double>2147483648</double>');
    assert.equal(wire('i4_min'), '<int>-2147483648</int>');
    assert.equal(wire('i4_under'), '<double>-2147483649</double>');
    assert.equal(wire('load'), '<double>0.25</double>');
    assert.equal(wire('version'), '<string>0.1.0 &lt;&amp;&gt;</string>');
  });

  it('health, set_health, flush (answered after the flush) and reload', async () => {
    const answers = await py(s.url, [
      ['tally.health', []],
      ['tally.set_health', ['down']],
      ['tally.health', []],
      ['tally.set_health', ['up']],
      ['tally.flush', []],
      ['tally.reload', []],
    ]);
    assert.deepEqual(
      answers.map((a) => a.result),
      ['up', 'down', 'down', 'up', true, true],
    );
    assert.equal(s.control.flushes, 1);
    s.control.reloadAnswer = false;
    assert.equal(await result(s.url, 'tally.reload'), false);
    s.control.reloadAnswer = true;
  });

  it('every method has a help text and its signatures', async () => {
    const names = (await result(s.url, 'system.listMethods')) as string[];
    const answers = await py(s.url, names.flatMap((n): [string, unknown[]][] => [['system.methodHelp', [n]], ['system.methodSignature', [n]]]));
    for (const [i, name] of names.entries()) {
      assert.match(answers[2 * i]!.result as string, /\w{3}/, name);
      assert.ok((answers[2 * i + 1]!.result as string[][]).length > 0, name);
    }
    assert.deepEqual(await result(s.url, 'system.methodSignature', 'tally.counters'), [['struct'], ['struct', 'string']]);
    assert.deepEqual(await result(s.url, 'system.methodSignature', 'tally.delete'), [['array', 'string', 'string']]);
    assert.match((await result(s.url, 'system.methodHelp', 'istats')) as string, /JSON/);
  });

  it('multicall: results wrapped in one-element arrays, failures as fault structs, in order', async () => {
    const out = await result(s.url, 'system.multicall', [
      { methodName: 'tally.counters', params: ['db.*'] },
      { methodName: 'no.such', params: [] },
      { methodName: 'tally.health', params: [] },
      { methodName: 'tally.set_health', params: [1] },
      { methodName: 'system.multicall', params: [[]] },
      { methodName: 'tally.health' },
    ]);
    assert.deepEqual(out, [
      [{ 'db.queries': 2.5 }],
      { faultCode: FAULT.METHOD_NOT_FOUND, faultString: 'no such method: no.such' },
      ['up'],
      { faultCode: FAULT.INVALID_PARAMS, faultString: 'tally.set_health takes (string), got (int)' },
      { faultCode: FAULT.INVALID_REQUEST, faultString: 'system.multicall cannot be nested' },
      { faultCode: FAULT.INVALID_REQUEST, faultString: 'each call must be a struct {methodName: string, params: array}' },
    ]);
  });

  it('wrong arguments, unknown methods and agent failures are faults, counted', async () => {
    const before = s.server.figures().faults;
    s.control.reloadAnswer = new Error('config file vanished');
    const answers = await py(s.url, [
      ['tally.nope', []],
      ['tally.stats', [1]],
      ['tally.counters', ['a', 'b']],
      ['tally.counters', [['a']]],
      ['tally.set_health', ['sideways']],
      ['tally.delete', ['meters', 'x']],
      ['tally.delete', ['counters']],
      ['system.methodHelp', ['tally.nope']],
      ['tally.reload', []],
    ]);
    s.control.reloadAnswer = true;
    assert.deepEqual(answers, [
      { fault: -32601, message: 'no such method: tally.nope' },
      { fault: -32602, message: 'tally.stats takes (), got (int)' },
      { fault: -32602, message: 'tally.counters takes () or (string), got (string, string)' },
      { fault: -32602, message: 'tally.counters takes () or (string), got (array)' },
      { fault: -32602, message: 'health must be one of up, down, got "sideways"' },
      { fault: -32602, message: 'type must be one of counters, timers, gauges, sets, got "meters"' },
      { fault: -32602, message: 'tally.delete takes (string, string), got (string)' },
      { fault: -32601, message: 'no such method: tally.nope' },
      { fault: -32500, message: 'application error: config file vanished' },
    ]);
    assert.equal((s.server.figures().faults as number) - (before as number), answers.length);
  });

  it('delete takes an exact name or a prefix.* folder and returns the names deleted', async () => {
    const answers = await py(s.url, [
      ['tally.delete', ['counters', 'api.*']],
      ['tally.delete', ['gauges', 'load']],
      ['tally.delete', ['gauges', 'nothing']],
      ['tally.counters', []],
      ['tally.gauges', []],
    ]);
    assert.deepEqual(
      answers.map((a) => a.result),
      [['api.hits', 'api.errors'], ['load'], [], { 'db.queries': 2.5 }, { 'mem.free': 3_000_000_000 }],
    );
  });
});

describe('XML-RPC server: access', () => {
  it('basic auth: right password answers, wrong or none gets 401 with WWW-Authenticate, counted', async () => {
    const file = join(dir, 'password');
    writeFileSync(file, 's3cret:x\n');
    const { server, port } = await start({ auth: { user: 'ops', password_file: file } });
    try {
      const at = (userinfo: string): string => `http://${userinfo}127.0.0.1:${port}/RPC2`;
      assert.deepEqual(await py(at('ops:s3cret%3Ax@'), [['tally.health', []]]), [{ result: 'up' }]);
      const refused = { http: 401, authenticate: 'Basic realm="tally", charset="UTF-8"' };
      assert.deepEqual(await py(at('ops:s3cret@'), [['tally.health', []]]), [refused]);
      assert.deepEqual(await py(at('root:s3cret%3Ax@'), [['tally.health', []]]), [refused]);
      assert.deepEqual(await py(at(''), [['tally.health', []]]), [refused]);
      assert.equal(server.figures().unauthorized, 3);
    } finally {
      await server.close();
    }
  });

  it('a client outside allow gets 403, counted; IPv6 clients are checked against IPv6 networks', async () => {
    const { server, url } = await start({ allow: [{ address: '10.0.0.0', prefix: 8, family: 4 }] });
    const v6 = await startXmlRpc({ host: '::1', port: 0, family: 6 }, { ...LOOPBACK, allow: [{ address: '127.0.0.0', prefix: 8, family: 4 }] }, new FakeControl());
    const v6ok = await startXmlRpc({ host: '::1', port: 0, family: 6 }, LOOPBACK, new FakeControl());
    try {
      assert.deepEqual(await py(url, [['tally.health', []], ['tally.stats', []]]), [
        { http: 403, authenticate: null },
        { http: 403, authenticate: null },
      ]);
      assert.equal(server.figures().refused, 2);
      assert.deepEqual(await py(`http://[::1]:${portOf(v6)}/RPC2`, [['tally.health', []]]), [{ http: 403, authenticate: null }]);
      assert.deepEqual(await py(`http://[::1]:${portOf(v6ok)}/RPC2`, [['tally.health', []]]), [{ result: 'up' }]);
      assert.equal(v6ok.description, `xmlrpc [::1]:${portOf(v6ok)}`);
    } finally {
      await Promise.all([server.close(), v6.close(), v6ok.close()]);
    }
  });
});

describe('XML-RPC server: hostile input', () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => (s = await start({ request_timeout: 1000 })));
  after(() => s.server.close());

  it('answers a 2 MiB body with 413 (not a reset), counted', async () => {
    const big = Buffer.concat([Buffer.from(call('tally.health').slice(0, -20)), Buffer.alloc(2 * 1024 * 1024, 'x')]);
    const r = await post(s.port, big);
    assert.equal(r.status, 413);
    assert.equal(r.headers.connection, 'close');
    assert.equal(s.server.figures().too_large, 1);
    // 1 MiB exactly is still taken (and is not a call)
    assert.equal((await post(s.port, Buffer.alloc(1024 * 1024, ' '))).status, 200);
  });

  it('malformed XML and non-calls are faults -32700', async () => {
    for (const body of ['this is not xml', '<methodCall><methodName>tally.health</methodName><params><param><value><int>x</int>', '<?xml version="1.0"?><methodResponse/>', '', '<methodCall><params/></methodCall>']) {
      const r = await post(s.port, body);
      assert.equal(r.status, 200, body);
      assert.equal((await faultIn(r.text)).code, FAULT.PARSE_ERROR, body);
    }
  });

  it('billion laughs: entities are not expanded, the answer is small and quick', async () => {
    const lols = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('');
    const body = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">${lols}]>${call('system.methodHelp', '&lol9;')}`;
    const heap = process.memoryUsage().heapUsed;
    const t0 = Date.now();
    const r = await post(s.port, body);
    assert.ok(Date.now() - t0 < 1000);
    assert.ok(r.text.length < 1000, `${r.text.length} bytes`);
    assert.ok(process.memoryUsage().heapUsed - heap < 50 * 1024 * 1024);
    assert.deepEqual(await faultIn(r.text), { code: FAULT.METHOD_NOT_FOUND, message: 'no such method: &lol9;' });
  });

  it('external entities are not read: the entity stays literal', async () => {
    const body = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${call('system.methodHelp', '&xxe;')}`;
    const r = await post(s.port, body);
    assert.doesNotMatch(r.text, /root:/);
    assert.deepEqual(await faultIn(r.text), { code: FAULT.METHOD_NOT_FOUND, message: 'no such method: &xxe;' });
  });

  it('other paths are 404, other methods 405; / serves too', async () => {
    assert.equal((await post(s.port, call('tally.health'), '/admin')).status, 404);
    const get = await post(s.port, '', '/RPC2', 'GET');
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    const root = await post(s.port, call('tally.health'), '/');
    assert.match(root.text, /<string>up<\/string>/);
  });

  it('slow clients (a byte per 100 ms, in the headers or in the body) are answered 408 and closed after request_timeout', async () => {
    const head = 'POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n';
    const slow = (upfront: string, drip: string): Promise<{ ms: number; got: string }> =>
      new Promise((resolve) => {
        const t0 = Date.now();
        const sock = net.connect(s.port, '127.0.0.1', () => sock.write(upfront));
        let i = 0;
        let got = '';
        const timer = setInterval(() => i < drip.length && sock.write(drip[i++]!), 100);
        sock.on('data', (d) => (got += d.toString()));
        sock.on('error', () => {});
        sock.on('close', () => {
          clearInterval(timer);
          resolve({ ms: Date.now() - t0, got });
        });
      });
    const results = await Promise.all([slow('', head + 'x'.repeat(200)), slow(head, 'x'.repeat(200))]);
    for (const { ms, got } of results) {
      assert.ok(ms >= 900 && ms < 2000, `closed after ${ms} ms`);
      assert.match(got, /^HTTP\/1\.1 408 /);
    }
    assert.equal(s.server.figures().timeouts, 2);
  });

  it('still answers afterwards, and counted every request', async () => {
    assert.deepEqual(await py(s.url, [['tally.health', []], ['tally.counters', ['db.*']]]), [{ result: 'up' }, { result: { 'db.queries': 2.5 } }]);
    const f = s.server.figures() as Record<string, number>;
    assert.ok(f.requests! >= 15, JSON.stringify(f));
    assert.ok(f.faults! >= 7, JSON.stringify(f));
  });
});

describe('tally stats', () => {
  let s: Awaited<ReturnType<typeof start>>;
  const config = (xmlrpc: Partial<XmlRpcConfig>): Config => {
    const c = loadConfig([]);
    return { ...c, xmlrpc: { ...c.xmlrpc, ...xmlrpc } };
  };
  before(async () => (s = await start()));
  after(() => s.server.close());

  it('lists every figure sorted, the groups in error first', async () => {
    const text = await statsCommand(config({ listen: [{ host: '127.0.0.1', port: s.port, family: 4 }] }), false);
    assert.equal(
      text,
      `# in error
collectors.cpu.errors: 2
collectors.cpu.runs: 10
graphiteStats.flush_time: 12.5
graphiteStats.last_exception: 1764000100
graphiteStats.last_flush: 1764000000

# ok
bad_lines_seen: 3
collectors.disk.errors: 0
collectors.disk.runs: 10
flushers.console.last_exception: 0
flushers.console.last_flush: 1764000100
listeners.xmlrpc_127_0_0_1_8127.requests: 9
listeners.xmlrpc_127_0_0_1_8127.timeouts: 1
numStats: 7
process.i4_max: 2147483647
process.i4_min: -2147483648
process.i4_over: 2147483648
process.i4_under: -2147483649
process.load: 0.25
process.rss_bytes: 5000000000
process.started_ms: 1764000000123
version: 0.1.0 <&>
`,
    );
  });

  it('--json prints the figures as they are, with basic auth when configured', async () => {
    const file = join(dir, 'stats-password');
    writeFileSync(file, 'pw\n');
    const auth = { user: 'ops', password_file: file };
    const authed = await start({ auth });
    try {
      const listen = [{ host: '127.0.0.1', port: authed.port, family: 4 as const }];
      const json = await statsCommand(config({ listen, auth }), true);
      assert.deepEqual(JSON.parse(json), STATS);
      assert.match(json, /^{\n {2}"bad_lines_seen": 3,/);
      await assert.rejects(statsCommand(config({ listen }), true), { message: `the agent's XML-RPC interface at 127.0.0.1:${authed.port} answered HTTP 401 Unauthorized` });
    } finally {
      await authed.server.close();
    }
  });

  it('says so when the agent cannot be reached, or XML-RPC is off', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await assert.rejects(statsCommand(config({ listen: [{ host: '127.0.0.1', port, family: 4 }] }), false), {
      message: `cannot reach the agent's XML-RPC interface at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
    await assert.rejects(statsCommand(config({ listen: [] }), false), /XML-RPC is off in the config/);
  });
});
