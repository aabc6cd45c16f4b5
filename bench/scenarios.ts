/** Scenario definitions: the datagrams each one sends, generated here so the exact expected
 * totals are known, and how what a server flushed is turned back into "samples counted". */
import { writeFileSync } from "node:fs";
import type { FakeCarbon } from "./carbon.js";
import type { Naming } from "./servers.js";

/** Ramp scenarios: one datagram, replayed at increasing rates until the server loses >= 0.1 %. */
export interface RampScenario {
  kind: "ramp";
  id: string;
  title: string;
  unit: string; // what `rates` count
  metricsPerDatagram: number;
  keys: string[]; // counters, each once per datagram
  datagrams: string[];
  rates: number[]; // metrics/s
  seconds: number; // per step
}

/** Fixed-load scenarios: every datagram of the file sent once at `rate`. */
export interface LoadScenario {
  kind: "load";
  id: string;
  title: string;
  datagrams: string[];
  rate: number; // datagrams/s (= samples/s: one sample per datagram)
  expected: Expected;
}

export type Scenario = RampScenario | LoadScenario;

/** What was sent, per key. */
export interface Expected {
  counters: Map<string, { samples: number; weight: number }>; // weight = 1 / sample rate
  timers: Map<string, number>; // samples
  /** Each gauge: one absolute GAUGE_BASE set, then `plus` "+1000" and `minus` "-1" deltas. */
  gauges: Map<string, { plus: number; minus: number }>;
  sets: Map<string, number>; // samples, each with a member never repeated for that key
}

export const GAUGE_BASE = 1_000_000_000;
const GAUGE_UP = 1000; // > the number of "-1" deltas per gauge, so the final value decodes uniquely

const emptyExpected = (): Expected => ({ counters: new Map(), timers: new Map(), gauges: new Map(), sets: new Map() });

/** Deterministic PRNG (mulberry32) so every run sends the same file. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: T[], rand: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const pad = (i: number, n: number): string => String(i).padStart(String(n - 1).length, "0");

export interface ScenarioSizes {
  rates: number[];
  rampSeconds: number;
  timerNames: number; // (c)
  mixNames: number; // (d)
  loadRate: number; // (c)/(d) samples (= datagrams) per second
}

export const FULL: ScenarioSizes = {
  rates: [10e3, 25e3, 50e3, 100e3, 150e3, 200e3, 300e3, 400e3, 600e3, 800e3, 1e6, 1.5e6],
  rampSeconds: 3,
  timerNames: 100_000,
  mixNames: 10_000,
  loadRate: 250_000,
};

export const QUICK: ScenarioSizes = { rates: [50e3, 200e3, 800e3], rampSeconds: 1, timerNames: 20_000, mixNames: 2_000, loadRate: 250_000 };

export const SCENARIO_IDS = ["a", "b", "c", "d"];

export function buildScenario(id: string, sizes: ScenarioSizes): Scenario {
  switch (id) {
    case "a":
      return {
        kind: "ramp",
        id,
        title: "(a) 1-metric datagrams: max rate with < 0.1 % loss (packets/s)",
        unit: "packets/s",
        metricsPerDatagram: 1,
        keys: ["bench.a"],
        datagrams: ["bench.a:1|c"],
        rates: sizes.rates,
        seconds: sizes.rampSeconds,
      };
    case "b": {
      const keys = Array.from({ length: 20 }, (_, i) => `bench.b.m${pad(i, 20)}`);
      return {
        kind: "ramp",
        id,
        title: "(b) 20-metric datagrams: max rate with < 0.1 % loss (metrics/s)",
        unit: "metrics/s",
        metricsPerDatagram: 20,
        keys,
        datagrams: [keys.map((k) => `${k}:1|c`).join("\n")],
        // Same metric rates as (a) and beyond: batching is where a fast parser should pull away.
        rates: [...sizes.rates, ...[2e6, 3e6, 4e6, 5e6, 6e6].filter((r) => r > sizes.rates.at(-1)!)],
        seconds: sizes.rampSeconds,
      };
    }
    case "c":
      return timerScenario(sizes.timerNames, sizes.loadRate);
    case "d":
      return mixScenario(sizes.mixNames, sizes.loadRate);
    default:
      throw new Error(`unknown scenario ${id}`);
  }
}

/** (c) names x 10 timer samples; sent as 10 rounds, each a fresh shuffle of all names, so every
 * name's samples are spread evenly over the run. */
const perSecond = (rate: number): string => `${rate.toLocaleString("en-US")}/s`;

function timerScenario(names: number, rate: number): LoadScenario {
  const rand = rng(0xc);
  const keys = Array.from({ length: names }, (_, i) => `bench.c.t${pad(i, names)}`);
  const datagrams: string[] = [];
  for (let round = 0; round < 10; round++)
    for (const k of shuffled(keys, rand)) datagrams.push(`${k}:${1 + Math.floor(rand() * 1000)}|ms`);
  const expected = emptyExpected();
  for (const k of keys) expected.timers.set(k, 10);
  return {
    kind: "load",
    id: "c",
    title: `(c) ${names.toLocaleString("en-US")} timers × 10 samples at ${perSecond(rate)}`,
    datagrams,
    rate,
    expected,
  };
}

/** (d) names split evenly into counters (a quarter of them sampled @0.1), timers, gauges and
 * sets, 100 samples each, sent as 100 shuffled rounds (round 0 carries each gauge's absolute
 * value, later rounds its deltas). */
function mixScenario(names: number, rate: number): LoadScenario {
  const rand = rng(0xd);
  const perType = Math.floor(names / 4);
  const rounds = 100;
  type Kind = "c" | "t" | "g" | "s";
  const all: { key: string; kind: Kind; i: number }[] = [];
  for (const kind of ["c", "t", "g", "s"] as Kind[])
    for (let i = 0; i < perType; i++) all.push({ key: `bench.d.${kind}${pad(i, perType)}`, kind, i });
  const expected = emptyExpected();
  const datagrams: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const { key, kind, i } of shuffled(all, rand)) {
      switch (kind) {
        case "c": {
          const sampled = i < perType / 4;
          datagrams.push(sampled ? `${key}:1|c|@0.1` : `${key}:1|c`);
          const e = expected.counters.get(key) ?? { samples: 0, weight: sampled ? 10 : 1 };
          e.samples++;
          expected.counters.set(key, e);
          break;
        }
        case "t":
          datagrams.push(`${key}:${1 + Math.floor(rand() * 1000)}|ms`);
          expected.timers.set(key, (expected.timers.get(key) ?? 0) + 1);
          break;
        case "g": {
          const e = expected.gauges.get(key) ?? { plus: 0, minus: 0 };
          if (round === 0) {
            datagrams.push(`${key}:${GAUGE_BASE}|g`);
          } else if (rand() < 0.5) {
            datagrams.push(`${key}:+${GAUGE_UP}|g`);
            e.plus++;
          } else {
            datagrams.push(`${key}:-1|g`);
            e.minus++;
          }
          expected.gauges.set(key, e);
          break;
        }
        case "s":
          datagrams.push(`${key}:m${round}|s`);
          expected.sets.set(key, (expected.sets.get(key) ?? 0) + 1);
          break;
      }
    }
  }
  return {
    kind: "load",
    id: "d",
    title: `(d) mix over ${names.toLocaleString("en-US")} names at ${perSecond(rate)}`,
    datagrams,
    rate,
    expected,
  };
}

/** The file format bench/loadgen.c replays: 4-byte big-endian length + payload, per datagram. */
export function writeDatagramFile(path: string, datagrams: string[]): void {
  let size = 0;
  for (const d of datagrams) size += 4 + Buffer.byteLength(d, "latin1");
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  for (const d of datagrams) {
    const len = buf.write(d, off + 4, "latin1");
    buf.writeUInt32BE(len, off);
    off += 4 + len;
  }
  writeFileSync(path, buf);
}

export interface TypeTally {
  sent: number; // samples
  counted: number; // samples the server's flushes account for
}

export interface Observed {
  counters: TypeTally;
  timers: TypeTally;
  gauges: TypeTally;
  sets: TypeTally;
  maxProcessingMs: number | null;
}

/** Reads back what the server flushed since carbon mark `from` and converts it into counted
 * samples per type:
 * - counters: per-flush counts summed (or, for running totals, last minus last before `from`),
 *   divided by the key's 1/sample-rate weight;
 * - timers: per-flush sample counts summed;
 * - sets: per-flush distinct-member counts summed (members never repeat, so = samples);
 * - gauges: the last value flushed is decoded: >= GAUGE_BASE/2 means the absolute set arrived
 *   (else the deltas started from 0), and GAUGE_BASE + 1000 * plus - minus with minus < 1000
 *   gives how many "+1000" and "-1" deltas arrived. */
export function observe(carbon: FakeCarbon, naming: Naming, expected: Expected, from: number): Observed {
  type Acc = { sum: number; last: number | undefined; before: number | undefined };
  const byPath = new Map<string, Acc>();
  const track = (path: string): void => void byPath.set(path, { sum: 0, last: undefined, before: undefined });
  for (const k of expected.counters.keys()) track(naming.counter(k));
  for (const k of expected.timers.keys()) track(naming.timerCount(k));
  for (const k of expected.gauges.keys()) track(naming.gauge(k));
  for (const k of expected.sets.keys()) track(naming.setCount(k));
  let maxProcessingMs: number | null = null;

  carbon.scan((l) => {
    if (l.chunk < from) {
      const acc = byPath.get(l.path);
      if (acc) acc.before = l.value;
      return;
    }
    if (l.path === naming.processingTime && Number.isFinite(l.value)) maxProcessingMs = Math.max(maxProcessingMs ?? 0, l.value);
    const acc = byPath.get(l.path);
    if (!acc || !Number.isFinite(l.value)) return; // collectd may flush NaN for idle metrics
    acc.sum += l.value;
    acc.last = l.value;
  });

  const get = (path: string): Acc => byPath.get(path)!;
  const counters: TypeTally = { sent: 0, counted: 0 };
  for (const [k, e] of expected.counters) {
    const acc = get(naming.counter(k));
    const total = naming.counterCumulative ? (acc.last ?? acc.before ?? 0) - (acc.before ?? 0) : acc.sum;
    counters.sent += e.samples;
    counters.counted += total / e.weight;
  }
  const sumOf = (m: Map<string, number>, path: (k: string) => string): TypeTally => {
    const t = { sent: 0, counted: 0 };
    for (const [k, n] of m) {
      t.sent += n;
      t.counted += get(path(k)).sum;
    }
    return t;
  };
  const gauges: TypeTally = { sent: 0, counted: 0 };
  for (const [k, e] of expected.gauges) {
    gauges.sent += 1 + e.plus + e.minus;
    const last = get(naming.gauge(k)).last;
    if (last === undefined) continue;
    const setSeen = last >= GAUGE_BASE / 2;
    const d = last - (setSeen ? GAUGE_BASE : 0);
    const plus = Math.max(0, Math.ceil(d / GAUGE_UP));
    const minus = plus * GAUGE_UP - d;
    gauges.counted += (setSeen ? 1 : 0) + plus + minus;
  }
  return {
    counters,
    timers: sumOf(expected.timers, naming.timerCount),
    gauges,
    sets: sumOf(expected.sets, naming.setCount),
    maxProcessingMs,
  };
}

/** Expected totals for a ramp step: every key once per datagram sent. */
export function rampExpected(s: RampScenario, sent: number): Expected {
  const e = emptyExpected();
  for (const k of s.keys) e.counters.set(k, { samples: sent, weight: 1 });
  return e;
}
