import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CarbonHashRing, type CarbonHashType, parseCarbonDestination } from '../flushers/carbon/hashRing.js';
import { encodePickle, PICKLE_RECEIVER_MAX_LENGTH, PickleEncoder } from '../flushers/carbon/pickle.js';
import { requirePeer } from './helpers/peers.js';

// The oracle is carbon's own Python code (Debian's graphite-carbon, in /usr/lib/python3/dist-packages):
// the first interpreter that can import it. A pyenv `python3` first on PATH may not see it.
const carbonPython = ['/usr/bin/python3', 'python3'].find(
  (py) => spawnSync(py, ['-c', 'import carbon.routers, carbon.protocols'], { stdio: 'ignore' }).status === 0,
);
const CARBON = "carbon's Python package (Debian graphite-carbon, for /usr/bin/python3 or python3)";

/** Runs `script` with carbon's Python on `input` (as a JSON file) and returns what it prints as JSON. */
function runCarbonPython(script: string, input: unknown, wire?: Buffer): any {
  const dir = mkdtempSync(join(tmpdir(), 'tally-carbon-'));
  try {
    writeFileSync(join(dir, 'check.py'), script);
    writeFileSync(join(dir, 'input.json'), JSON.stringify(input));
    if (wire) writeFileSync(join(dir, 'wire.bin'), wire);
    const r = spawnSync(carbonPython!, [join(dir, 'check.py'), join(dir, 'input.json'), join(dir, 'wire.bin')], {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    });
    assert.equal(r.status, 0, `python failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `count` distinct metric names of the shapes tally flushes and a few it never would. */
function metricNames(count: number): string[] {
  const rnd = random(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const words = ['stats', 'timers', 'api', 'web-01', 'count_ps', 'upper_90', 'bin_2_21', 'a', 'x_y', '0', '12345'];
  const unicode = ['ünïcödé', '日本語', 'métrique', '🚀', 'Ωmega', 'naïve'];
  const names = new Set<string>(['', 'a', '.', ';', 'stats.statsd.numStats']);
  while (names.size < count) {
    const segments = Array.from({ length: 1 + Math.floor(rnd() * 8) }, () =>
      rnd() < 0.1 ? pick(unicode) : rnd() < 0.1 ? 'n' + Math.floor(rnd() * 1e9) : pick(words),
    );
    let name = segments.join('.');
    if (rnd() < 0.2) name += ';env=' + pick(['prod', 'dev', 'é']) + (rnd() < 0.5 ? ';dc=eu-1' : '');
    if (rnd() < 0.01) name = name.repeat(20);
    names.add(name);
  }
  return [...names];
}

const ROUTER_PY = String.raw`
import json, sys
from carbon.conf import settings
from carbon.hashing import ConsistentHashRing
from carbon.routers import ConsistentHashingRouter
from carbon.util import parseDestinations

inp = json.load(open(sys.argv[1], encoding='utf-8'))
assert settings.REPLICATION_FACTOR == 1 and settings.DIVERSE_REPLICAS is True
out = []
for cfg in inp['configs']:
    settings['ROUTER_HASH_TYPE'] = cfg['hashType']
    dests = parseDestinations(cfg['destinations'])
    index = {d: n for n, d in enumerate(dests)}
    routers = []
    for diverse in (True, False):   # carbon's default, and the other branch of getDestinations
        settings['DIVERSE_REPLICAS'] = diverse
        router = ConsistentHashingRouter(settings)
        for d in dests:             # in DESTINATIONS order, as carbon-relay's startClient does
            router.addDestination(d)
        routers.append(router)
    settings['DIVERSE_REPLICAS'] = True
    ring = ConsistentHashRing([(s, i) for (s, p, i) in dests], hash_type=cfg['hashType'])
    chosen, disagree = [], 0
    for name in inp['names']:
        (d,) = routers[0].getDestinations(name)
        chosen.append(index[d])
        if list(routers[1].getDestinations(name)) != [d] or ring.get_node(name) != (d[0], d[2]):
            disagree += 1
    out.append({'parsed': dests, 'chosen': chosen, 'disagree': disagree})
print(json.dumps(out))
`;

describe('carbon consistent hashing', () => {
  const names = metricNames(20_000);
  const configs: Array<{ destinations: string[]; hashType: CarbonHashType }> = [];
  for (const n of [2, 3, 5]) {
    const withInstances = Array.from({ length: n }, (_, i) => `127.0.0.1:${2004 + 100 * i}:${'abcde'[i]}`);
    const hosts = Array.from({ length: n }, (_, i) => (i === 4 ? '[::1]:2004' : `carbon${i + 1}.example.com:2004`));
    configs.push({ destinations: withInstances, hashType: 'carbon_ch' });
    configs.push({ destinations: hosts, hashType: 'carbon_ch' });
    configs.push({ destinations: withInstances, hashType: 'fnv1a_ch' });
  }
  configs.push({ destinations: ['10.1.2.3:2004'], hashType: 'carbon_ch' });
  // instances Python's repr quotes and escapes in the replica key
  configs.push({
    destinations: ["127.0.0.1:2004:it's", `127.0.0.1:2104:a"b'c`, '127.0.0.1:2204:back\\slash', '127.0.0.1:2304:ünï\u00a0x\u200b'],
    hashType: 'carbon_ch',
  });

  it('sends each of 20,000 names to the node carbon-relay picks (2, 3, 5 nodes, with and without instances)', (t) => {
    if (!requirePeer(t, carbonPython !== undefined, CARBON)) return;
    const python: Array<{ parsed: [string, number, string | null][]; chosen: number[]; disagree: number }> =
      runCarbonPython(ROUTER_PY, { configs, names });
    configs.forEach((cfg, c) => {
      const label = `${cfg.hashType} ${cfg.destinations.join(' ')}`;
      const nodes = cfg.destinations.map(parseCarbonDestination);
      assert.deepEqual(nodes.map((d) => [d.host, d.port, d.instance]), python[c]!.parsed, label);
      assert.equal(python[c]!.disagree, 0, `${label}: carbon's ring and routers disagree`);
      const ring = new CarbonHashRing(nodes, cfg.hashType);
      const ours = names.map((name) => ring.nodeFor(name));
      const wrong = ours.flatMap((n, i) => (n === python[c]!.chosen[i] ? [] : [names[i]]));
      assert.deepEqual(wrong.slice(0, 5), [], `${label}: ${wrong.length} names routed differently`);
      // every node gets a share (a ring built wrong often sends everything to one node)
      for (let n = 0; n < nodes.length; n++) assert.ok(ours.includes(n), `${label}: node ${n} gets nothing`);
    });
  });

  it('refuses a second destination with the same host and instance, as carbon does', () => {
    assert.throws(
      () => new CarbonHashRing(['127.0.0.1:2004', '127.0.0.1:2104'].map(parseCarbonDestination)),
      /already configured/,
    );
    assert.throws(() => new CarbonHashRing([]), /at least one/);
    assert.deepEqual(parseCarbonDestination('[::1]:2004:a'), { host: '::1', port: 2004, instance: 'a' });
    assert.deepEqual(parseCarbonDestination(' c1:2004 '), { host: 'c1', port: 2004, instance: null });
    assert.throws(() => parseCarbonDestination('c1'), /invalid destination/);
  });

  it('looks up 1M metrics fast', (t) => {
    const ring = new CarbonHashRing(configs[6]!.destinations.map(parseCarbonDestination));
    let sum = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < 1_000_000; i++) sum += ring.nodeFor(names[i % names.length]!);
    const ns = Number(process.hrtime.bigint() - start);
    t.diagnostic(`1M lookups on a 5-node ring: ${(ns / 1e6).toFixed(0)} ms, ${(ns / 1e6).toFixed(0)} ns per lookup`);
    assert.ok(sum > 0);
    assert.ok(ns < 10e9, 'over 10 µs per lookup');
  });
});

const PICKLE_PY = String.raw`
import json, math, pickle, struct, sys
from carbon import log, protocols, util

wire = open(sys.argv[2], 'rb').read()
frames, offset = [], 0
while offset < len(wire):
    (length,) = struct.unpack('!L', wire[offset:offset + 4])
    body = wire[offset + 4:offset + 4 + length]
    offset += 4 + length
    plain = pickle.loads(body)
    assert util.SafeUnpickler.loads(body) == plain
    assert type(plain) is list
    for p in plain:
        assert type(p) is tuple and len(p) == 2 and type(p[1]) is tuple and len(p[1]) == 2
    frames.append({'length': length, 'datapoints': [
        [path, ts, type(ts).__name__, value, type(value).__name__] for (path, (ts, value)) in plain]})

# carbon's own receiver, fed the whole stream at once: framing, length limit, SafeUnpickler, float()
received, errors = [], []
class Receiver(protocols.MetricPickleReceiver):
    def metricReceived(self, metric, datapoint):
        received.append([metric, datapoint[0], datapoint[1]])
    def lengthLimitExceeded(self, length):
        errors.append('message of %d bytes over MAX_LENGTH' % length)
log.listener = errors.append
receiver = Receiver()
receiver.unpickler = util.get_unpickler(insecure=False)
receiver.dataReceived(wire)
print(json.dumps({'maxLength': receiver.MAX_LENGTH, 'frames': frames, 'received': received, 'errors': errors}))
`;

describe('carbon pickle messages', () => {
  const ts = 1_764_000_000;
  const values = [0, -0, 1, -1, 0.1, -2.5, 1e300, -1.7976931348623157e308, 5e-324, 2 ** 53 + 2, 123456789.123, 1 / 3];
  const paths = ['stats.a', 'stats.métrique.日本語', 'x;env=prod', '🚀.b-c_d', ''];
  const points = values.flatMap((value, i) => paths.map((path) => ({ path: `${path}.${i}`, ts, value })));
  // timestamps that are not 32-bit integers travel as floats
  points.push({ path: 'ts.fraction', ts: ts + 0.5, value: 1 }, { path: 'ts.2040', ts: 2_208_988_800, value: 2 });
  points.push({ path: 'ts.negative', ts: -5, value: 3 }, { path: 'ts.max', ts: 2 ** 31 - 1, value: 4 });

  it('is read back exactly by pickle.loads, carbon.util.SafeUnpickler and carbon\'s pickle receiver', (t) => {
    if (!requirePeer(t, carbonPython !== undefined, CARBON)) return;
    const frames = encodePickle(points, { maxDatapoints: 25 });
    assert.equal(frames.length, Math.ceil(points.length / 25));
    const py = runCarbonPython(PICKLE_PY, null, Buffer.concat(frames));
    assert.deepEqual(py.errors, []);
    assert.equal(py.maxLength, PICKLE_RECEIVER_MAX_LENGTH);
    assert.deepEqual(py.frames.map((f: { length: number }) => f.length + 4), frames.map((f) => f.length));
    const isInt32 = (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31;
    assert.deepEqual(
      py.frames.flatMap((f: { datapoints: unknown[] }) => f.datapoints),
      points.map((p) => [p.path, p.ts, isInt32(p.ts) ? 'int' : 'float', p.value, 'float']),
    );
    assert.deepEqual(py.received, points.map((p) => [p.path, p.ts, p.value]));
  });

  it("cuts messages at carbon's 1 MiB receiver limit, which carbon then takes whole", (t) => {
    if (!requirePeer(t, carbonPython !== undefined, CARBON)) return;
    const long = Array.from({ length: 3000 }, (_, i) => ({ path: `p${i}.`.padEnd(1000, 'x'), ts, value: i }));
    const frames = encodePickle(long, { maxDatapoints: Infinity });
    assert.equal(frames.length, 3);
    for (const f of frames) assert.ok(f.length - 4 <= PICKLE_RECEIVER_MAX_LENGTH);
    assert.ok(frames[0]!.length - 4 > PICKLE_RECEIVER_MAX_LENGTH - 1030, 'the first message is filled up');
    const py = runCarbonPython(PICKLE_PY, null, Buffer.concat(frames));
    assert.deepEqual(py.errors, []);
    assert.deepEqual(py.received, long.map((p) => [p.path, p.ts, p.value]));
  });

  it('sends no NaN or infinity, nor a path too long for any message', () => {
    const frames: Buffer[] = [];
    const enc = new PickleEncoder((f) => frames.push(f), { maxBytes: 100 });
    assert.equal(enc.add('a', 1, NaN), false);
    assert.equal(enc.add('a', 1, Infinity), false);
    assert.equal(enc.add('a', 1, -Infinity), false);
    assert.equal(enc.add('x'.repeat(100), 1, 1), false);
    assert.equal(enc.end(), 0);
    assert.deepEqual(frames, []);
    assert.throws(() => new PickleEncoder(() => {}).add('a', NaN, 1), RangeError);
    assert.deepEqual(encodePickle([]), []);
  });

  it('writes the opcodes it documents', () => {
    const [frame] = encodePickle([{ path: 'é', ts: 1, value: 2 }]);
    // \x80\x02 ] ( X <len 2>é J <1> G <2.0> \x86 \x86 e .
    assert.equal(
      frame!.toString('hex'),
      '0000001d' + '8002' + '5d' + '28' + '5802000000c3a9' + '4a01000000' + '474000000000000000' + '8686' + '65' + '2e',
    );
  });
});
