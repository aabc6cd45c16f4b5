import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { takePickled } from '../agent/carbonInput/input.js';
import { CarbonLineParser, newCounts, parsePythonFloat } from '../agent/carbonInput/lineParser.js';
import { NamedBuffer } from '../agent/carbonInput/namedBuffer.js';
import { listenPickle } from '../agent/carbonInput/pickleListener.js';
import { unpickle, UnpickleError } from '../agent/carbonInput/unpickle.js';
import type { GraphiteConfig } from '../agent/config/types.js';
import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import { Aggregator } from '../agent/statsd/aggregator.js';
import { FlushMath } from '../agent/statsd/processMetrics.js';
import { encodePickle } from '../flushers/carbon/pickle.js';
import { ConsoleFlusher } from '../flushers/console.js';
import { DebugFlusher } from '../flushers/debug.js';
import { GraphiteNames } from '../flushers/graphiteNames.js';
import { requirePeer } from './helpers/peers.js';

const NOW = 1_700_000_000;

function parse(text: string): { points: [string, number, number][]; bad: string[]; counts: ReturnType<typeof newCounts> } {
  const points: [string, number, number][] = [];
  const bad: string[] = [];
  const p = new CarbonLineParser(
    (n, v, t) => (points.push([n, v, t]), true),
    (line, reason) => bad.push(`${reason}: ${line}`),
    () => NOW,
  );
  p.text(text);
  return { points, bad, counts: p.counts };
}

describe('carbon plaintext lines', () => {
  it('parses numbers as Python float() does', () => {
    const cases: [string, number | undefined][] = [
      ['1', 1], ['1.5', 1.5], ['-2e3', -2000], ['+7', 7], ['.5', 0.5], ['5.', 5], ['1E2', 100], ['1_000.5', 1000.5],
      ['0', 0], ['-0.25', -0.25], ['1e-7', 1e-7],
      ['inf', Infinity], ['-Infinity', -Infinity], ['+INF', Infinity],
      ['0x10', undefined], ['1e', undefined], ['', undefined], ['abc', undefined], ['1,5', undefined], ['1__0', undefined], ['_1', undefined], ['--1', undefined], ['0b1', undefined],
    ];
    for (const [text, want] of cases) assert.equal(parsePythonFloat(text), want, text);
    assert.ok(Number.isNaN(parsePythonFloat('nan')));
    assert.ok(Number.isNaN(parsePythonFloat('-NaN')));
  });

  it('takes path value timestamp with exact values, floors timestamps, -1 or nothing means now', () => {
    const { points, bad, counts } = parse(
      'a.b 1 1699999990\n' +
        'a.c 1.5 1699999991.9\n' +
        '  a.d\t-2e3   1699999992  \r\n' +
        'a.e 42 -1\n' +
        'a.f 43\n' +
        'a.g 0.1 -1.5\n' +
        '\n' +
        'a.h 1e300 1.7e9\n' +
        'tagged;dc=x 7 1699999993',
    );
    assert.deepEqual(points, [
      ['a.b', 1, 1699999990],
      ['a.c', 1.5, 1699999991],
      ['a.d', -2000, 1699999992],
      ['a.e', 42, NOW],
      ['a.f', 43, NOW],
      ['a.g', 0.1, NOW], // int(-1.5) == -1, as carbon checks it
      ['a.h', 1e300, 1700000000],
      ['tagged;dc=x', 7, 1699999993],
    ]);
    assert.deepEqual(bad, []);
    assert.deepEqual(counts, { datapoints: 8, bad_lines: 0, dropped_nan: 0, dropped_infinite: 0, dropped_max_points: 0 });
  });

  it('drops NaN and infinite values (counted) and counts bad lines without stopping', () => {
    const { points, bad, counts } = parse(
      'n 1 nan\nv nan 1699999990\nw -inf 1699999990\nx inf\n' +
        'onlyname\n' +
        'a b c d\n' +
        'x abc 1699999990\n' +
        'x 1 yesterday\n' +
        'x 1 inf\n' +
        'x 0x10 1699999990\n' +
        'ok 3 1699999999\n',
    );
    assert.deepEqual(points, [['ok', 3, 1699999999]]);
    assert.deepEqual(counts, { datapoints: 1, bad_lines: 7, dropped_nan: 1, dropped_infinite: 2, dropped_max_points: 0 });
    assert.deepEqual(bad, [
      'timestamp is not a number: n 1 nan',
      'expected "path value [timestamp]", got 1 field: onlyname',
      'expected "path value [timestamp]", got 4 fields: a b c d',
      'value is not a number: x abc 1699999990',
      'timestamp is not a number: x 1 yesterday',
      'timestamp is not a number: x 1 inf',
      'value is not a number: x 0x10 1699999990',
    ]);
  });

  it('survives binary junk', () => {
    const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('utf8');
    const { points, counts } = parse(junk + '\nafter.junk 5 1699999999\n');
    assert.deepEqual(points.at(-1), ['after.junk', 5, 1699999999]);
    assert.ok(counts.bad_lines > 0);
  });
});

describe('the named buffer', () => {
  it('holds at most max points per interval, counts the rest, and starts fresh on take', () => {
    const b = new NamedBuffer(3);
    const kept = ['a', 'b', 'c', 'd', 'e'].map((n, i) => b.add(n, i, NOW + i));
    assert.deepEqual(kept, [true, true, true, false, false]);
    assert.equal(b.size, 3);
    const { points, dropped } = b.take();
    assert.deepEqual(points, { names: ['a', 'b', 'c'], values: [0, 1, 2], timestamps: [NOW, NOW + 1, NOW + 2] });
    assert.equal(dropped, 2);
    assert.equal(b.size, 0);
    assert.equal(b.add('f', 5, NOW), true);
    b.maxPoints = 1;
    assert.equal(b.add('g', 6, NOW), false);
    assert.deepEqual(b.take(), { points: { names: ['f'], values: [5], timestamps: [NOW] }, dropped: 1 });
  });

  it('parser counts the points the bound refused', () => {
    const b = new NamedBuffer(2);
    const p = new CarbonLineParser(b.add, () => {}, () => NOW);
    p.text('a 1 1\nb 2 2\nc 3 3\n');
    assert.deepEqual(p.counts, { datapoints: 2, bad_lines: 0, dropped_nan: 0, dropped_infinite: 0, dropped_max_points: 1 });
  });
});

// ---- pickle ----------------------------------------------------------------------------------

const python = spawnSync('python3', ['-c', 'import pickle'], { encoding: 'utf8' }).status === 0;

/** `pickle.dumps(<expr>, protocol=<p>)` by the real Python. */
function pyPickle(expr: string, protocol: number): Buffer {
  const r = spawnSync('python3', ['-c', `import pickle,sys; sys.stdout.buffer.write(pickle.dumps(${expr}, protocol=${protocol}))`]);
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

const body = (frame: Buffer): Buffer => {
  assert.equal(frame.readUInt32BE(0), frame.length - 4);
  return frame.subarray(4);
};

function pickled(message: Buffer): { points: [string, number, number][]; counts: ReturnType<typeof newCounts>; bad: string[] } {
  const points: [string, number, number][] = [];
  const counts = newCounts();
  const bad: string[] = [];
  const ok = takePickled(unpickle(message), (n, v, t) => (points.push([n, v, t]), true), counts, (r) => bad.push(r), () => NOW);
  assert.ok(ok);
  return { points, counts, bad };
}

describe('the safe unpickler', () => {
  it("reads the repo's own encoder (protocol 2, BININT and BINFLOAT timestamps)", () => {
    const frames = encodePickle([
      { path: 'a.b', ts: 1699999990, value: 1.5 },
      { path: 'ünï.cødé', ts: 1699999991.75, value: -2e-300 },
      { path: 'c', ts: 5e9, value: 123456789012345 },
    ]);
    assert.equal(frames.length, 1);
    assert.deepEqual(unpickle(body(frames[0]!)), [
      ['a.b', [1699999990, 1.5]],
      ['ünï.cødé', [1699999991.75, -2e-300]],
      ['c', [5e9, 123456789012345]],
    ]);
    assert.deepEqual(pickled(body(frames[0]!)).points, [
      ['a.b', 1.5, 1699999990],
      ['ünï.cødé', -2e-300, 1699999991],
      ['c', 123456789012345, 5e9],
    ]);
  });

  const expr =
    "[('a.b', (1699999990, 1.5)), (u'\\u00fc.\\u20ac\\\\x\\n', (1699999991.5, -3)), ('big', (1699999992, 2**70)), ('neg', (-1, -7)), ('small', (1699999993, 255)), ('mid', (1699999994, 65535)), ('s', (1699999995, '2.5')), ('t', (True, 0.1))]";
  const want: [string, number, number][] = [
    ['a.b', 1.5, 1699999990],
    ['big', 2 ** 70, 1699999992],
    ['neg', -7, NOW],
    ['small', 255, 1699999993],
    ['mid', 65535, 1699999994],
    ['s', 2.5, 1699999995],
    ['t', 0.1, 1],
  ];
  for (const protocol of [0, 1, 2, 4]) {
    it(`reads what Python's pickle.dumps(protocol=${protocol}) writes`, (t) => {
      if (!requirePeer(t, python, 'python3')) return;
      const msg = pyPickle(expr, protocol);
      const value = unpickle(msg) as unknown[];
      assert.deepEqual(value[1], ['ü.€\\x\n', [1699999991.5, -3]]);
      const { points, counts, bad } = pickled(msg);
      assert.deepEqual(points, want);
      // the path with a newline (and a backslash) is refused: it would inject plaintext lines downstream
      assert.deepEqual(counts, { datapoints: 7, bad_lines: 1, dropped_nan: 0, dropped_infinite: 0, dropped_max_points: 0 });
      assert.equal(bad.length, 1);
    });
  }

  it('reads shared memo entries (the same tuple twice) and NaN dropped', (t) => {
    if (!requirePeer(t, python, 'python3')) return;
    for (const p of [0, 2]) {
      const msg = pyPickle("(lambda d: [('x', d), ('y', d), ('z', (1699999999, float('nan')))])((1699999990, 4.25))", p);
      const { points, counts } = pickled(msg);
      assert.deepEqual(points, [['x', 4.25, 1699999990], ['y', 4.25, 1699999990]]);
      assert.equal(counts.dropped_nan, 1);
    }
  });

  it('reads Python 2 style str opcodes: SHORT_BINSTRING, BINSTRING, STRING, LONG1, LONG text, INT bools', () => {
    // protocol 2 as Python 2's cPickle writes [('a.b', (1699999990L, 2))]: U, LONG1, BININT1
    const p2 = Buffer.concat([
      Buffer.from([0x80, 2, 0x5d, 0x71, 0, 0x28]),
      Buffer.from([0x55, 3]), Buffer.from('a.b'),
      Buffer.from([0x8a, 4]), Buffer.from(Int32Array.of(1699999990).buffer),
      Buffer.from([0x4b, 2, 0x86, 0x86]),
      Buffer.from([0x54]), Buffer.from(Uint32Array.of(4).buffer), Buffer.from('c.dd'),
      Buffer.from([0x4d]), Buffer.from(Uint16Array.of(1000).buffer),
      Buffer.from([0x4a]), Buffer.from(Int32Array.of(-5).buffer),
      Buffer.from([0x86, 0x86, 0x65, 0x2e]),
    ]);
    assert.deepEqual(unpickle(p2), [['a.b', [1699999990, 2]], ['c.dd', [1000, -5]]]);
    // protocol 0 as Python 2 writes it: (lp0\n(S'a\\x41\\'b'\np1\n(L1699999990L\nI01\ntp2\ntp3\na.
    const p0 = Buffer.from("(lp0\n(S'a\\x41\\'b\\n'\np1\n(L1699999990L\nI01\ntp2\ntp3\nag3\na(S\"q\"\n(I-4\nF2.5\nttp4\na.", 'latin1');
    assert.deepEqual(unpickle(p0), [["aA'b\n", [1699999990, 1]], ["aA'b\n", [1699999990, 1]], ['q', [-4, 2.5]]]);
  });

  it('refuses globals and calls: os.system, REDUCE, BUILD, INST, unknown opcodes', (t) => {
    // cos\nsystem\n(S'echo pwned'\ntR. : os.system('echo pwned')
    const attack = Buffer.from("cos\nsystem\n(S'echo pwned'\ntR.", 'latin1');
    assert.throws(() => unpickle(attack), (e: unknown) => e instanceof UnpickleError && e.refused && /GLOBAL/.test(e.message));
    const stackGlobal = Buffer.from([0x80, 4, 0x8c, 2, 0x6f, 0x73, 0x8c, 6, ...Buffer.from('system'), 0x93, 0x8c, 1, 0x78, 0x85, 0x52, 0x2e]);
    assert.throws(() => unpickle(stackGlobal), (e: unknown) => e instanceof UnpickleError && e.refused && /STACK_GLOBAL/.test(e.message));
    const reduce = Buffer.from([0x80, 2, 0x5d, 0x5d, 0x52, 0x2e]);
    assert.throws(() => unpickle(reduce), (e: unknown) => e instanceof UnpickleError && e.refused && /REDUCE/.test(e.message));
    for (const op of [0x62, 0x69, 0x6f, 0x81, 0x7d /* EMPTY_DICT */, 0xff, 0x00]) {
      assert.throws(() => unpickle(Buffer.from([0x80, 2, 0x5d, op, 0x2e])), (e: unknown) => e instanceof UnpickleError && e.refused, `op ${op}`);
    }
    if (python) {
      // what Python itself writes for a callable: a global
      const fn = pyPickle('__import__("os").system', 2);
      assert.throws(() => unpickle(fn), (e: unknown) => e instanceof UnpickleError && e.refused);
      const obj = pyPickle('[__import__("collections").OrderedDict(a=1)]', 0);
      assert.throws(() => unpickle(obj), (e: unknown) => e instanceof UnpickleError && e.refused);
    } else requirePeer(t, python, 'python3');
  });

  it('reports truncated and malformed messages without refusing them', () => {
    const good = body(encodePickle([{ path: 'a', ts: 1, value: 2 }])[0]!);
    for (let cut = 0; cut < good.length; cut++) {
      assert.throws(() => unpickle(good.subarray(0, cut)), (e: unknown) => e instanceof UnpickleError && !e.refused, `cut at ${cut}`);
    }
    assert.throws(() => unpickle(Buffer.from([0x80, 2, 0x61, 0x2e])), (e: unknown) => e instanceof UnpickleError && !e.refused); // APPEND on an empty stack
    assert.throws(() => unpickle(Buffer.from([0x80, 2, 0x68, 9, 0x2e])), (e: unknown) => e instanceof UnpickleError && !e.refused); // BINGET of nothing
    assert.throws(() => unpickle(Buffer.from([0x80, 2, 0x4e, 0x4e, 0x2e])), (e: unknown) => e instanceof UnpickleError && !e.refused); // two things at STOP
    assert.throws(() => unpickle(Buffer.from([0x80, 9, 0x4e, 0x2e])), (e: unknown) => e instanceof UnpickleError && !e.refused); // protocol 9
  });

  it('skips items that are not (path, (timestamp, value)) as carbon does, and refuses a message that is not a list', () => {
    const { points, counts, bad } = pickled(
      Buffer.from("(lp0\n(S'ok'\n(I5\nF1.5\nttp1\na(S'short'\n(I5\nttp2\naI7\na(I5\n(I5\nF1.5\nttp3\na(S'has space'\n(I5\nF1.5\nttp4\na(S'x'\n(S'notanumber'\nF1.5\nttp5\na(S''\n(I5\nF1.5\nttp6\na.", 'latin1'),
    );
    assert.deepEqual(points, [['ok', 1.5, 5]]);
    assert.equal(counts.bad_lines, 6);
    assert.equal(bad.length, 6);
    assert.equal(takePickled(unpickle(Buffer.from('N.')), () => true, newCounts(), () => {}), false);
  });
});

describe('the pickle listener framing', () => {
  it('reassembles messages split anywhere, and drops a connection announcing more than the bound', async () => {
    const got: Buffer[] = [];
    const oversized: number[] = [];
    const l = await listenPickle('carbon-pickle', { host: '127.0.0.1', port: 0, family: 4 }, { maxConnections: 10, idleTimeoutMs: 0, maxMessage: 1000 }, {
      message: (b) => (got.push(Buffer.from(b)), b[0] !== 0x63),
      oversized: (n) => oversized.push(n),
      refused: () => {},
    });
    try {
      const port = Number(/:(\d+)$/.exec(l.description)![1]);
      assert.match(l.description, /^carbon-pickle 127\.0\.0\.1:\d+$/);
      const frames = [...encodePickle([{ path: 'a', ts: 1, value: 1 }]), ...encodePickle([{ path: 'bb', ts: 2, value: 2 }])];
      const all = Buffer.concat(frames);
      const sock = net.connect(port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      for (let i = 0; i < all.length; i += 3) {
        sock.write(all.subarray(i, i + 3));
        await new Promise((r) => setTimeout(r, 2));
      }
      // then a length over the bound: the connection is dropped
      const closed = new Promise((r) => sock.once('close', r));
      sock.write(Buffer.from([0, 0x20, 0, 0]));
      await closed;
      assert.deepEqual(got, frames.map(body));
      assert.deepEqual(oversized, [0x200000]);
      // a message the handler refuses drops the connection too
      const s2 = net.connect(port, '127.0.0.1');
      const closed2 = new Promise((r) => s2.once('close', r));
      s2.write(Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('c.')]));
      await closed2;
      const f = l.figures();
      assert.equal(f.messages, 3);
      assert.equal(f.oversized_messages, 1);
      assert.equal(f.connections_total, 2);
    } finally {
      await l.close();
    }
  });
});

describe('flushers send named points with their own timestamps, unprefixed', () => {
  const graphite = {
    destinations: [], routing: 'all', legacy_namespace: true, global_prefix: 'stats', prefix_counter: 'counters', prefix_timer: 'timers',
    prefix_gauge: 'gauges', prefix_set: 'sets', global_suffix: 'sfx', flush_counts: true, connect_timeout: 1000, write_timeout: 1000, queue_max: 10, spool_max_bytes: 0,
  } satisfies GraphiteConfig;
  const names = new GraphiteNames(graphite, 'statsd', true);
  const agg = new Aggregator({ prefixStats: 'statsd', maxMetrics: 10, deleteIdle: { counters: false, timers: false, gauges: false, sets: false }, gaugesMaxTtl: 1 });
  const raw = agg.takeInterval();
  const derived = new FlushMath({ flushIntervalMs: 1000, percentiles: [], histograms: [], calculatedTimerMetrics: [] }).derive(raw);
  const snap: FlushSnapshot = {
    ts: NOW,
    intervalMs: 1000,
    raw,
    derived,
    named: { names: ['host.cpu', 'host.mem'], values: [1.5, 1e21], timestamps: [NOW - 60, NOW - 59] },
    meta: [],
  };

  it('console', async () => {
    let out = '';
    const w = new Writable({ write: (c, _e, cb) => ((out += c), cb()) });
    await new ConsoleFlusher(names, w).flush(snap);
    const lines = out.split('\n');
    assert.ok(lines.includes(`host.cpu 1.5 ${NOW - 60}`), out);
    assert.ok(lines.includes(`host.mem 1e+21 ${NOW - 59}`), out);
    assert.ok(lines.includes(`statsd.numStats.sfx 3 ${NOW}`), out);
  });

  it('debug', async () => {
    const printed: string[] = [];
    await new DebugFlusher(names, (n) => n.startsWith('host.c'), (l) => printed.push(l)).flush(snap);
    assert.deepEqual(printed, [`flushed host.cpu 1.5 ${NOW - 60}`]);
  });
});
