import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../agent/config/load.js';
import type { Config, ListenAddress } from '../agent/config/types.js';
import type { Listener } from '../agent/listeners/listener.js';
import type { Log } from '../agent/log.js';

import { openForWriting, storeFile } from '../storage/db.js';
import { startHttp } from '../storage/http/server.js';
import { SchemaSet } from '../storage/schemas.js';
import { StoreWriter, type StoreBatch } from '../storage/writer.js';
import type { FromWriter, ToWriter, WriterInit } from '../storage/writerWorker.js';
import { AgentProcess } from './helpers/agentProcess.js';
import { storeBatch } from './helpers/storeBatch.js';

/** 2024-03-15 12:00:00 UTC: an hour boundary */
const T0 = 1710504000;
const NOW = T0 + 600;
const LOOPBACK: ListenAddress = { host: '127.0.0.1', port: 0, family: 4 };

const SCHEMAS = `
store:
  schemas:
    - name: api
      match: ^api\\.
      type: series
      intervals: {minute: {step: 1m, steps: 60}, hour: {step: 1h, steps: 48}}
`;

const batch = (ts: number, flushed: Record<string, number>, timers: Record<string, number[]> = {}, sets: Record<string, string[]> = {}): StoreBatch =>
  storeBatch(ts, { flushed, timers, sets });

function configIn(dir: string, extra = ''): Config {
  const file = path.join(dir, 'tally.yaml');
  writeFileSync(file, `data_dir: ${dir}\n${SCHEMAS}${extra}`);
  return loadConfig([file]);
}

const tempDir = (): string => mkdtempSync(path.join(tmpdir(), 'tally-http-'));

/** A log that keeps its lines, so a test can see what the server reported. */
function memoryLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

const portOf = (l: Listener): number => Number(/:(\d+)$/.exec(l.description)![1]);

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function call(port: number, pathAndQuery: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const form = (fields: [string, string][]): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('HTTP API over a filled store', () => {
  let dir: string;
  let server: Listener;
  let port: number;
  const log = memoryLog();
  let failNext = false;

  before(async () => {
    dir = tempDir();
    const config = configIn(dir);
    const db = openForWriting(storeFile(config));
    const w = new StoreWriter(db, new SchemaSet(config), () => NOW);
    w.write(batch(T0 + 5, { 'api.req': 10, 'api.err': 1, 'stats_counts.hits': 5 }, { 'api.latency': [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }, { users: ['a', 'b'] }));
    w.write(batch(T0 + 15, { 'api.req': 20 }, { 'api.latency': [100] }, { users: ['b', 'c'] }));
    w.write(batch(T0 + 65, { 'api.req': 30, 'api.err': 2, 'stats_counts.hits': 1 }, { 'api.latency': [20, 30, 40] }, { users: ['c', 'd'] }));
    w.write(batch(T0 + 185, { 'api.req': 40, 'stats_counts.hits': 2 }, { 'api.latency': [5, 5, 5, 500] }, { users: ['a', 'e'] }));
    db.close();
    const getConfig = (): Config => {
      if (failNext) {
        failNext = false;
        throw new Error('boom');
      }
      return config;
    };
    server = await startHttp(LOOPBACK, { config: getConfig, log, now: () => NOW });
    port = portOf(server);
  });

  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (p: string): Promise<Reply> => call(port, p);
  const RANGE = `from=${T0 - 60}&until=${T0 + 240}`;

  it('/render: JSON, null for empty buckets, CORS and content type', async () => {
    const r = await get(`/render?target=api.req&${RANGE}&format=json`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(r.json, [{ target: 'api.req', tags: { name: 'api.req' }, datapoints: [[15, T0], [30, T0 + 60], [null, T0 + 120], [40, T0 + 180], [null, T0 + 240]] }]);
  });

  it('/render: POST form as Grafana sends it, merged with the query string', async () => {
    const expected = (await get(`/render?target=api.req&${RANGE}`)).json;
    const posted = await call(port, '/render', form([['target', 'api.req'], ['from', String(T0 - 60)], ['until', String(T0 + 240)], ['format', 'json'], ['maxDataPoints', '100']]));
    assert.equal(posted.status, 200);
    assert.deepEqual(posted.json, expected);
    const merged = await call(port, `/render?${RANGE}`, form([['target', 'api.req']]));
    assert.deepEqual(merged.json, expected);
  });

  it('/render: several targets, sumSeries and summarize', async () => {
    const r = await get(`/render?target=sumSeries(api.*)&target=${encodeURIComponent('summarize(api.req, "2min", "sum")')}&${RANGE}`);
    assert.equal(r.status, 200, r.text);
    const [sum, summarized] = r.json as { target: string; datapoints: unknown }[];
    // api.err 1, 2 and api.req 15, 30, -, 40 per minute
    assert.equal(sum!.target, 'sumSeries(api.*)');
    assert.deepEqual(sum!.datapoints, [[16, T0], [32, T0 + 60], [null, T0 + 120], [40, T0 + 180], [null, T0 + 240]]);
    // 2-minute buckets from a multiple of 120 s: 15 + 30, 40, nothing
    assert.equal(summarized!.target, 'summarize(api.req, "2min", "sum")');
    assert.deepEqual(summarized!.datapoints, [[45, T0], [40, T0 + 120], [null, T0 + 240]]);
  });

  it('/render: maxDataPoints consolidates by average; 1 folds the whole series', async () => {
    const two = await get(`/render?target=api.req&${RANGE}&maxDataPoints=2`);
    assert.deepEqual((two.json as { datapoints: unknown }[])[0]!.datapoints, [[22.5, T0], [40, T0 + 180]]);
    const one = await get(`/render?target=api.req&${RANGE}&maxDataPoints=1`);
    assert.deepEqual((one.json as { datapoints: unknown }[])[0]!.datapoints, [[85 / 3, T0]]);
  });

  it('/render: percentile() and unique() read the stored samples and members', async () => {
    // 10 s buckets: 1..10 at 12:00:00, 100 at 12:00:10, nothing at 12:00:20
    const p = await get(`/render?target=percentile(api.latency,99)&target=percentile(api.latency,50)&from=${T0 - 10}&until=${T0 + 20}`);
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.json, [
      { target: 'percentile(api.latency,99)', tags: { name: 'api.latency', percentile: '99' }, datapoints: [[10, T0], [100, T0 + 10], [null, T0 + 20]] },
      { target: 'percentile(api.latency,50)', tags: { name: 'api.latency', percentile: '50' }, datapoints: [[5, T0], [100, T0 + 10], [null, T0 + 20]] },
    ]);
    const u = await get(`/render?target=unique(users)&from=${T0 - 10}&until=${T0 + 20}`);
    assert.deepEqual(u.json, [{ target: 'unique(users)', tags: { name: 'users', unique: '1' }, datapoints: [[2, T0], [2, T0 + 10], [null, T0 + 20]] }]);
    // from 7 h back, the 1m interval: a, b, c in the 12:00 minute
    const coarse = await get(`/render?target=unique(users)&from=-7h&until=${T0 + 120}`);
    const points = new Map((coarse.json as { datapoints: [number | null, number][] }[])[0]!.datapoints.map(([v, t]) => [t, v]));
    assert.equal(points.get(T0), 3);
    assert.equal(points.get(T0 + 60), 2);
  });

  it('/render: noNullPoints, and a path that matches nothing is []', async () => {
    const r = await get(`/render?target=api.req&target=nothing.here&${RANGE}&noNullPoints=true`);
    assert.deepEqual(r.json, [{ target: 'api.req', tags: { name: 'api.req' }, datapoints: [[15, T0], [30, T0 + 60], [40, T0 + 180]] }]);
    assert.deepEqual((await get(`/render?target=nothing.*&${RANGE}`)).json, []);
    assert.deepEqual((await get(`/render?${RANGE}`)).json, []);
  });

  it('/render: bad requests are 400 with a JSON error naming the problem', async () => {
    const bad = async (query: string, pattern: RegExp): Promise<void> => {
      const r = await get(`/render?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.headers.get('content-type'), 'application/json');
      assert.match((r.json as { error: string }).error, pattern, query);
    };
    await bad(`target=api.req&format=png`, /^format "png" is not supported: json is$/);
    await bad(`target=api.req&format=csv`, /format "csv" is not supported/);
    await bad(`target=frobnicate(api.req)`, /frobnicate/);
    await bad(`target=sumSeries(api.req`, /bad target/);
    await bad(`target=api.req&from=yesterdayish`, /^from: bad time "yesterdayish"/);
    await bad(`target=api.req&maxDataPoints=abc`, /^bad maxDataPoints "abc"/);
    await bad(`target=api.req&maxDataPoints=0`, /maxDataPoints/);
    await bad(`target=api.req&from=${T0}&until=${T0}`, /empty time range/);
  });

  it('/metrics/find: treejson (GET, POST, /metrics alias), completer, wildcards', async () => {
    const branch = (name: string): object => ({ text: name, id: name, leaf: 0, expandable: 1, allowChildren: 1 });
    const top = await get('/metrics/find?query=*');
    assert.deepEqual(top.json, [branch('api'), branch('stats_counts')]);
    const leaves = [
      { text: 'err', id: 'api.err', leaf: 1, expandable: 0, allowChildren: 0 },
      { text: 'req', id: 'api.req', leaf: 1, expandable: 0, allowChildren: 0 },
    ];
    assert.deepEqual((await get('/metrics/find?query=api.*')).json, leaves);
    assert.deepEqual((await get('/metrics?query=api.*')).json, leaves);
    assert.deepEqual((await call(port, `/metrics/find?from=${T0}&until=${NOW}`, form([['query', 'api.*']]))).json, leaves);
    assert.deepEqual((await get('/metrics/find?query=api.*&wildcards=1')).json, [{ text: '*', id: 'api.*', leaf: 1, expandable: 0, allowChildren: 0 }, ...leaves]);
    assert.deepEqual((await get('/metrics/find?query=api.*&format=completer')).json, {
      metrics: [
        { path: 'api.err', name: 'err', is_leaf: '1' },
        { path: 'api.req', name: 'req', is_leaf: '1' },
      ],
    });
    assert.deepEqual((await get('/metrics/find?query=nothing.*')).json, []);
    const missing = await get('/metrics/find');
    assert.equal(missing.status, 400);
    assert.match((missing.json as { error: string }).error, /query is required/);
    assert.equal((await get('/metrics/find?query=*&format=pickle')).status, 400);
  });

  it('/metrics/expand and /metrics/index.json list the flushed names', async () => {
    assert.deepEqual((await get('/metrics/expand?query=api.*&query=stats_counts.*')).json, { results: ['api.err', 'api.req', 'stats_counts.hits'] });
    assert.deepEqual((await get('/metrics/expand?query=api.*&query=stats_counts.*&groupByExpr=1')).json, {
      results: { 'api.*': ['api.err', 'api.req'], 'stats_counts.*': ['stats_counts.hits'] },
    });
    assert.deepEqual((await get('/metrics/expand?query=*&leavesOnly=1')).json, { results: [] });
    assert.deepEqual((await get('/metrics/expand?query=*')).json, { results: ['api', 'stats_counts'] });
    assert.deepEqual((await get('/metrics/index.json')).json, ['api.err', 'api.req', 'stats_counts.hits']);
    assert.equal((await get('/metrics/expand')).status, 400);
  });

  it('/functions: the catalog, Infinity as 1e9999; /functions/<name>; 404 for an unknown one', async () => {
    const all = await get('/functions');
    assert.equal(all.status, 200);
    const catalog = all.json as Record<string, { name: string; function: string; params: { name: string; default?: unknown }[] }>;
    assert.equal(catalog.sumSeries!.name, 'sumSeries');
    assert.ok(catalog.percentile, 'tally percentile() is listed');
    assert.match(all.text, /"default":1e9999/);
    assert.equal(catalog.keepLastValue!.params.find((p) => p.name === 'limit')!.default, Infinity);
    const one = await get('/functions/summarize');
    assert.equal(one.status, 200);
    assert.deepEqual(one.json, catalog.summarize);
    const none = await get('/functions/noSuchThing');
    assert.equal(none.status, 404);
    assert.deepEqual(none.json, { error: 'no such function: noSuchThing' });
  });

  it('/series over HTTP: json and graphite formats, 400 for an unknown interval', async () => {
    const r = await get(`/series?stat=p99(api.latency)&stat=unique(users)&interval=1m&start=${T0}&end=${T0 + 180}&collapse=1`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, [
      { stat: 'p99(api.latency)', stat_name: 'api.latency', function: 'p99', schema: 'timer_samples', interval: '1m', datapoints: [[500, T0]] },
      { stat: 'unique(users)', stat_name: 'users', function: 'unique', schema: 'set_members', interval: '1m', datapoints: [[5, T0]] },
    ]);
    const g = await get(`/series?stat=api.req&start=${T0}&end=${T0 + 120}&format=graphite`);
    assert.deepEqual(g.json, [{ target: 'api.req', tags: { name: 'api.req' }, datapoints: [[15, T0], [30, T0 + 60], [null, T0 + 120]] }]);
    const bad = await get('/series?stat=api.req&interval=week');
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, { error: 'unknown interval "week" for api.req: schema api has minute (1m) and hour (1h)' });
    const notApplicable = await get('/series?stat=p99(api.req)');
    assert.deepEqual(notApplicable.json, { error: 'p99 applies to histograms; api.req is a series' });
    assert.deepEqual((await get('/series?stat=nope')).json, [{ stat: 'nope', stat_name: 'nope', function: 'value', schema: null, interval: null, datapoints: [] }]);
  });

  it("what Grafana's data source asks besides render and find: /version, and empty tag lists", async () => {
    assert.deepEqual([(await get('/version')).status, (await get('/version')).json], [200, '1.1.10']);
    for (const p of ['/tags', '/tags/autoComplete/tags?tagPrefix=a&limit=100', '/tags/autoComplete/values?tag=name', '/tags/findSeries?expr=a=b']) {
      assert.deepEqual((await get(p)).json, [], p);
    }
  });

  it('unknown paths and / are 404 JSON; other methods 405; OPTIONS answers CORS', async () => {
    for (const p of ['/', '/nope', '/render/x']) {
      const r = await get(p);
      assert.equal(r.status, 404, p);
      assert.match((r.json as { error: string }).error, /no such path/);
    }
    const del = await call(port, '/render', { method: 'DELETE' });
    assert.equal(del.status, 405);
    const opt = await call(port, '/render', { method: 'OPTIONS' });
    assert.equal(opt.status, 204);
    assert.equal(opt.headers.get('access-control-allow-origin'), '*');
  });

  it('a body over 1 MiB is 413; a body that is not a form is 415', async () => {
    const big = await call(port, '/render', form([['target', 'x'.repeat(1024 * 1024 + 10)]]));
    assert.equal(big.status, 413);
    assert.match((big.json as { error: string }).error, /over 1048576 bytes/);
    const json = await call(port, '/render', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"target": "api.req"}' });
    assert.equal(json.status, 415);
  });

  it('an unexpected exception is a logged 500 JSON, and the server goes on', async () => {
    failNext = true;
    const r = await get(`/render?target=api.req&${RANGE}`);
    assert.equal(r.status, 500);
    assert.deepEqual(r.json, { error: 'internal error: boom' });
    assert.ok(log.lines.some((l) => l.startsWith('error http: GET /render') && l.includes('boom')));
    assert.equal((await get(`/render?target=api.req&${RANGE}`)).status, 200);
  });

  it('counts requests in its figures', () => {
    const f = server.figures();
    assert.ok((f.requests as number) > 10);
    assert.ok((f.bad_requests as number) > 0);
    assert.ok((f.not_found as number) > 0);
    assert.equal(f.too_large, 1);
    assert.equal(f.errors, 1);
  });
});

describe('HTTP API: the store file and slow clients', () => {
  it('answers empty before the store exists, then reads it once it appears', async () => {
    const dir = tempDir();
    const config = configIn(dir);
    const server = await startHttp(LOOPBACK, { config: () => config, log: memoryLog(), now: () => NOW });
    const port = portOf(server);
    try {
      const render = `/render?target=api.req&from=${T0 - 60}&until=${T0 + 60}`;
      assert.deepEqual((await call(port, render)).json, []);
      assert.deepEqual((await call(port, '/metrics/find?query=*')).json, []);
      assert.deepEqual((await call(port, '/metrics/index.json')).json, []);
      assert.deepEqual((await call(port, '/series?stat=api.req')).json, [{ stat: 'api.req', stat_name: 'api.req', function: 'value', schema: null, interval: null, datapoints: [] }]);
      // errors are still errors
      assert.equal((await call(port, '/render?target=nope(api.req)')).status, 400);

      const db = openForWriting(storeFile(config));
      new StoreWriter(db, new SchemaSet(config), () => NOW).write(batch(T0 + 5, { 'api.req': 7 }));
      assert.deepEqual((await call(port, render)).json, [{ target: 'api.req', tags: { name: 'api.req' }, datapoints: [[7, T0], [null, T0 + 60]] }]);
      // and it sees what is written later, through the same connection
      new StoreWriter(db, new SchemaSet(config), () => NOW).write(batch(T0 + 65, { 'api.req': 9 }));
      assert.deepEqual((await call(port, render)).json, [{ target: 'api.req', tags: { name: 'api.req' }, datapoints: [[7, T0], [9, T0 + 60]] }]);
      db.close();
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a client that does not finish its request in time gets 408', async () => {
    const dir = tempDir();
    const server = await startHttp(LOOPBACK, { config: () => configIn(dir), log: memoryLog(), requestTimeoutMs: 300 });
    try {
      const socket = net.connect(portOf(server), '127.0.0.1');
      socket.write('GET /render?target=a HTTP/1.1\r\nHost: x\r\n'); // no blank line: the headers never end
      let reply = '';
      socket.setEncoding('utf8').on('data', (d: string) => (reply += d));
      await new Promise<void>((resolve) => socket.on('close', () => resolve()));
      assert.match(reply, /^HTTP\/1\.1 408/);
      assert.equal(server.figures().timeouts, 1);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('queries while the writer thread commits flushes: each answer is one consistent state, none fails', async () => {
    const dir = tempDir();
    const config = configIn(dir);
    const now = Math.floor(Date.now() / 1000);
    const init: WriterInit = { file: storeFile(config), config, pruneEveryMs: 3_600_000 };
    const worker = new Worker(new URL('../storage/writerWorker.js', import.meta.url), { workerData: init });
    const server = await startHttp(LOOPBACK, { config: () => config, log: memoryLog() });
    const port = portOf(server);
    const BATCHES = 400;
    let written = 0;
    const allWritten = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromWriter) => {
        if (m.type === 'failed') reject(new Error(m.message));
        if (m.type === 'written' && ++written === BATCHES) resolve();
      });
      worker.on('error', reject);
    });
    try {
      // each flush adds 1 to both counts in one transaction, among enough other rows to take a while
      const load = Object.fromEntries(Array.from({ length: 300 }, (_, j) => [`load.n${j}`, j]));
      for (let i = 0; i < BATCHES; i++) {
        worker.postMessage({ type: 'batch', batch: batch(now, { 'stats_counts.c': 1, ...load, 'stats_counts.d': 1 }), last: true } satisfies ToWriter);
      }
      const query = `/series?stat=stats_counts.c&stat=stats_counts.d&interval=1h&start=${now - 3600}&end=${now + 3600}&collapse=1`;
      const seen: number[] = [];
      let done = false;
      void allWritten.then(() => (done = true), () => (done = true));
      while (!done) {
        const r = await call(port, query);
        assert.equal(r.status, 200, r.text);
        const [c, d] = (r.json as { datapoints: [number | null, number][] }[]).map((s) => s.datapoints[0]?.[0] ?? 0);
        assert.equal(c, d, 'both counts come from the same committed flush');
        seen.push(c!);
      }
      await allWritten;
      const last = await call(port, query);
      const first = Math.floor((now - 3600) / 3600) * 3600; // collapse: the range's first bucket
      assert.deepEqual((last.json as { datapoints: [number | null, number][] }[]).map((s) => s.datapoints), [[[BATCHES, first]], [[BATCHES, first]]]);
      assert.ok(seen.length > 1, 'several queries ran while the writer wrote');
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'the counts only grow');
    } finally {
      await server.close();
      await worker.terminate();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HTTP API in the agent', () => {
  it('tally agent serves the store it writes on http.listen', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'tally.yaml');
    writeFileSync(
      file,
      `data_dir: ${dir}\nflush_interval: 200ms\nstatsd: {udp: ["127.0.0.1:0"], tcp: []}\nadmin: {listen: []}\nxmlrpc: {listen: []}\nhttp: {listen: ["127.0.0.1:0"]}\n`,
    );
    const agent = await AgentProcess.start(['--config', file]);
    try {
      const port = Number(/http 127\.0\.0\.1:(\d+)/.exec(agent.stderr)?.[1]);
      assert.ok(port > 0, agent.stderr);
      const udp = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => udp.send('hits:3|c', agent.udpPort, '127.0.0.1', () => resolve()));
      udp.close();
      const query = '/series?stat=stats_counts.hits&interval=1m&steps=2&collapse=1';
      const deadline = Date.now() + 10_000;
      let value: number | null = null;
      while (value !== 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        const r = await call(port, query);
        assert.equal(r.status, 200, r.text);
        value = (r.json as { datapoints: [number | null, number][] }[])[0]!.datapoints[0]?.[0] ?? null;
      }
      assert.equal(value, 3);
      const find = await call(port, '/metrics/find?query=stats_counts.*');
      assert.ok((find.json as { text: string }[]).some((n) => n.text === 'hits'));
    } finally {
      assert.equal(await agent.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
