/** Runs one scenario against one already started server and returns what it measured. */
import type { FakeCarbon } from "./carbon.js";
import { wallClock } from "./carbon.js";
import { runLoad, type LoadResult } from "./loadgen.js";
import { pollUntil } from "./proc.js";
import { observe, rampExpected, type LoadScenario, type Observed, type RampScenario } from "./scenarios.js";
import type { RunningServer } from "./servers.js";

export interface Env {
  carbon: FakeCarbon;
  loadgen: string; // binary
  file: string; // the scenario's datagram file
  udpPort: number;
  flushIntervalMs: number;
}

/** "After the load ends, wait for two more flushes": two markers in a row (see flushMarker), then
 * for a server that uses a connection per flush, for the earlier connections to finish. Bounded
 * for a server whose flush takes seconds; one that never flushes again is reported, not awaited. */
async function afterLoad(env: Env, server: RunningServer): Promise<boolean> {
  const bound = 2 * env.flushIntervalMs + 15_000;
  const first = await server.flushMarker(bound);
  const second = first && (await server.flushMarker(bound));
  return !!second && (await pollUntil(() => env.carbon.earlierConnectionsClosed(second.chunk, second.conn), bound));
}

async function dropDelta(server: RunningServer, before: number | null): Promise<number | null> {
  const after = await server.socketDrops();
  return before === null || after === null ? null : after - before;
}

export interface RampStep {
  rate: number; // requested, metrics/s
  load: LoadResult;
  achieved: number; // metrics/s actually sent
  expected: number; // metrics
  counted: number;
  loss: number; // fraction
  kernelDrops: number | null; // datagrams the kernel dropped at the server's full socket queue
  flushed: boolean; // two flushes seen after the load
  generatorLimited: boolean;
  pass: boolean;
}

export interface RampResult {
  steps: RampStep[];
  best: number | null; // highest passing rate, metrics/s
  bestIsLowerBound: boolean; // the ramp ran out (top rate or generator limit) before a failure
  crashed: boolean;
}

/** Loss threshold for a ramp step to pass. */
const MAX_LOSS = 0.001;
/** A step counts as generator-limited when sending took this much longer than planned. */
const GENERATOR_SLACK = 1.05;

export async function runRamp(s: RampScenario, server: RunningServer, env: Env, log: (m: string) => void): Promise<RampResult> {
  const res: RampResult = { steps: [], best: null, bestIsLowerBound: false, crashed: false };
  for (const rate of s.rates) {
    if (!server.alive()) break;
    const dgRate = rate / s.metricsPerDatagram;
    const from = env.carbon.mark();
    const dropsBefore = await server.socketDrops();
    const load = await runLoad(env.loadgen, env.file, env.udpPort, dgRate, Math.round(dgRate * s.seconds));
    const flushed = await afterLoad(env, server);
    const kernelDrops = await dropDelta(server, dropsBefore);
    const obs = observe(env.carbon, server.spec.naming, rampExpected(s, load.sent), from).counters;
    const generatorLimited = load.seconds > s.seconds * GENERATOR_SLACK;
    const loss = 1 - obs.counted / obs.sent;
    const step: RampStep = {
      rate,
      load,
      achieved: (load.sent * s.metricsPerDatagram) / load.seconds,
      expected: obs.sent,
      counted: obs.counted,
      loss,
      kernelDrops,
      flushed,
      generatorLimited,
      // Over-counting beyond the tolerance is as wrong as losing.
      pass: flushed && Math.abs(loss) < MAX_LOSS,
    };
    res.steps.push(step);
    log(
      `  ${rate.toLocaleString("en-US")} ${s.unit}: sent ${obs.sent} counted ${obs.counted} loss ${(loss * 100).toFixed(3)} % kernel drops ${kernelDrops ?? "?"}${generatorLimited ? " (generator-limited)" : ""}`,
    );
    if (!step.pass) break;
    res.best = generatorLimited ? Math.max(res.best ?? 0, Math.min(rate, step.achieved)) : rate;
    if (generatorLimited) {
      res.bestIsLowerBound = true;
      break;
    }
  }
  res.crashed = !server.alive();
  const last = res.steps[res.steps.length - 1];
  if (last?.pass && !last.generatorLimited) res.bestIsLowerBound = true; // passed the top rate
  return res;
}

export interface LoadResultSummary {
  load: LoadResult;
  observed: Observed;
  kernelDrops: number | null;
  flushed: boolean;
  spacing: { min: number; max: number } | null; // ms between consecutive flush arrivals
  worstLatenessMs: number | null;
  peakRssKiB: number | null;
  crashed: boolean;
}

export async function runFixedLoad(s: LoadScenario, server: RunningServer, env: Env): Promise<LoadResultSummary> {
  const from = env.carbon.mark();
  const start = wallClock();
  const dropsBefore = await server.socketDrops();
  const load = await runLoad(env.loadgen, env.file, env.udpPort, s.rate, s.datagrams.length);
  const flushed = await afterLoad(env, server);
  const kernelDrops = await dropDelta(server, dropsBefore);
  const crashed = !server.alive();
  const peakRssKiB = server.peakRssKiB();
  const bursts = env.carbon.bursts(server.spec.flushSplit).filter((b) => b.start >= start && b.first >= from);
  const gaps = bursts.slice(1).map((b, i) => b.start - bursts[i]!.start);
  const iv = env.flushIntervalMs;
  // Lateness: arrival of a flush's first bytes after the wall-clock slot boundary it belongs to:
  // the boundary at or before its timestamp (tally stamps the slot itself; etsy the flush time
  // rounded to the second, possibly up) or before its arrival, whichever is earlier.
  const lateness = bursts.map((b) => {
    const ref = Number.isFinite(b.maxTs) ? Math.min(b.maxTs * 1000, b.start) : b.start;
    return b.start - Math.floor(ref / iv) * iv;
  });
  return {
    load,
    observed: observe(env.carbon, server.spec.naming, s.expected, from),
    kernelDrops,
    flushed,
    spacing: gaps.length ? { min: Math.min(...gaps), max: Math.max(...gaps) } : null,
    worstLatenessMs: lateness.length ? Math.max(...lateness) : null,
    peakRssKiB,
    crashed,
  };
}
