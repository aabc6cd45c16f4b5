/** `npm run bench`: tally vs etsy statsd vs collectd's statsd plugin on loopback, same load, same
 * run. Prints a Markdown table and notes on stdout; progress goes to stderr.
 *
 *   node dist/bench/run.js [--only a,b,c,d,store] [--servers tally,etsy,collectd] [--quick] [--rate N]
 *
 * `store`: the embedded store's own figures (bench/store.ts), tally only.
 * --quick: short smoke run (fewer ramp steps, smaller (c)/(d)); --rate: send (c)/(d) at N
 * samples/s instead of 250,000 (at a rate a server keeps up with, every share must be 100 %).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FakeCarbon } from "./carbon.js";
import { renderFigure, storeWriteFigures } from "./store.js";
import { buildLoadgen } from "./loadgen.js";
import { runFixedLoad, runRamp, type Env } from "./measure.js";
import { killAllChildren, runCommand } from "./proc.js";
import { renderReport, type Cell, type Report, type ServerColumn } from "./report.js";
import { buildScenario, FULL, QUICK, SCENARIO_IDS, writeDatagramFile, type Scenario } from "./scenarios.js";
import { freeUdpPort, SERVERS, startServer, type RunningServer } from "./servers.js";

/** Ramps use short flushes so each step is read quickly; the fixed loads (c, d) use tally's and
 * etsy's default 10 s, as users run them: their flush cost is per interval, not per second. */
const RAMP_FLUSH_MS = 1000;
const LOAD_FLUSH_MS = 10_000;
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const log = (m: string): void => void process.stderr.write(`${m}\n`);

function parseOptions() {
  const { values } = parseArgs({
    options: {
      only: { type: "string", default: [...SCENARIO_IDS, "store"].join(",") },
      servers: { type: "string", default: Object.keys(SERVERS).join(",") },
      quick: { type: "boolean", default: false },
      rate: { type: "string" }, // override the (c)/(d) send rate, e.g. to validate counting at a lossless rate
    },
  });
  const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
  const servers = list(values.servers);
  for (const s of servers) if (!SERVERS[s]) throw new Error(`unknown server ${s} (have ${Object.keys(SERVERS).join(", ")})`);
  for (const id of list(values.only)) if (!SCENARIO_IDS.includes(id) && id !== "store") throw new Error(`unknown scenario ${id} (have ${SCENARIO_IDS.join(", ")}, store)`);
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0)) throw new Error(`bad --rate ${values.rate}`);
  return { scenarios: list(values.only), servers, quick: values.quick, rate };
}

/** The bench process itself (fake carbon) shares core 1 with the load generator, so core 0
 * belongs to the server alone. */
async function pinSelf(): Promise<void> {
  await runCommand("taskset", ["-a", "-p", "-c", "1", String(process.pid)], 5000).catch((e: Error) => log(`warning: could not pin bench: ${e.message}`));
}

const read = (p: string): string => {
  try {
    return readFileSync(p, "utf8").trim();
  } catch {
    return "?";
  }
};
/** 1-minute load average: other work on the machine skews every number here. */
const loadAverage = (): string => read("/proc/loadavg").split(" ")[0] ?? "?";

async function environment(loadAtStart: string): Promise<string[]> {
  const etsyVersion = (() => {
    try {
      return (JSON.parse(read(join(root, "node_modules/statsd/package.json"))) as { version: string }).version;
    } catch {
      return "?";
    }
  })();
  const collectdVersion = await runCommand("/usr/sbin/collectd", ["-h"], 5000)
    .then((o) => /collectd (\S+),/.exec(o)?.[1] ?? "?")
    .catch(() => "not installed");
  return [
    `Kernel defaults (untouched): net.core.rmem_default = ${read("/proc/sys/net/core/rmem_default")}, net.core.rmem_max = ${read("/proc/sys/net/core/rmem_max")} (a SO_RCVBUF request is capped at rmem_max and then doubled by the kernel for bookkeeping).`,
    `Server pinned to core 0 (taskset -c 0), load generator (bench/loadgen.c, cc -O2, sendmmsg) and the bench process with the fake carbon to core 1; ${cpus().length} CPUs, node ${process.version}, etsy statsd ${etsyVersion} (graphite backend), collectd ${collectdVersion}; flush interval ${RAMP_FLUSH_MS / 1000} s for (a) and (b), ${LOAD_FLUSH_MS / 1000} s (the default) for (c) and (d), on every server.`,
    `Load average (1 min) at start ${loadAtStart}, at end ${loadAverage()}: anything else running on these cores (above ~0 before the bench starts) makes the servers lose datagrams.`,
    "collectd names: counters `bench.statsd.derive-<key>` (running total, StoreRates false), timer counts `bench.statsd.gauge-<key>-count` (TimerCount true, DeleteTimers true), gauges `bench.statsd.gauge-<key>`, sets `bench.statsd.objects-<key>`, with the key's dots replaced by `_` by write_graphite; it reports no flush math time. Its reads run on its own schedule from start-up, not on wall-clock slots, and write_graphite sends in 1428-byte blocks plus a flush every interval.",
  ];
}

let tmp: string | undefined; // scratch dir: datagram files, configs, the loadgen binary

function cleanup(): void {
  killAllChildren();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const sizes = { ...(opts.quick ? QUICK : FULL), ...(opts.rate ? { loadRate: opts.rate } : {}) };
  const loadAtStart = loadAverage();
  await pinSelf();
  const dir = (tmp = mkdtempSync(join(tmpdir(), "tally-bench-")));
  let carbon: FakeCarbon | undefined;
  try {
    const loadgen = await buildLoadgen(root, dir);
    carbon = await FakeCarbon.start();
    const columns: ServerColumn[] = opts.servers.map((key) => {
      const spec = SERVERS[key]!;
      return { key, name: spec.name, unavailable: spec.unavailable(root), rcvbufNote: spec.rcvbufNote, rcvbuf: null };
    });
    const scenarios: Scenario[] = [];
    const cells = new Map<string, Map<string, Cell>>();
    for (const id of opts.scenarios.filter((s) => s !== "store")) {
      const scenario = buildScenario(id, sizes);
      scenarios.push(scenario);
      const file = join(dir, `scenario-${id}.bin`);
      writeDatagramFile(file, scenario.datagrams);
      const row = new Map<string, Cell>();
      cells.set(id, row);
      for (const col of columns) {
        if (col.unavailable) {
          row.set(col.key, { kind: "na", reason: col.unavailable });
          continue;
        }
        log(`${scenario.title} — ${col.name}`);
        row.set(col.key, await runOne(scenario, col, { carbon, loadgen, file, udpPort: 0, flushIntervalMs: scenario.kind === "ramp" ? RAMP_FLUSH_MS : LOAD_FLUSH_MS }, dir));
      }
      rmSync(file, { force: true });
    }
    const report: Report = { servers: columns, scenarios, cells, environment: await environment(loadAtStart) };
    process.stdout.write(`${renderReport(report)}\n`);
    if (opts.scenarios.includes("store")) {
      const storeDir = mkdtempSync(join(dir, "store-"));
      const rows = [...storeWriteFigures(storeDir, log), await renderFigure(storeDir, log)];
      process.stdout.write(`\n| embedded store (writer as the agent's worker runs it, real SQLite file) | |\n|---|---|\n${rows.join("\n")}\n`);
    }
  } finally {
    killAllChildren();
    await carbon?.close();
    cleanup();
  }
}

/** One scenario against one fresh server process. */
async function runOne(scenario: Scenario, col: ServerColumn, base: Env, scratch: string): Promise<Cell> {
  const spec = SERVERS[col.key]!;
  const env: Env = { ...base, udpPort: await freeUdpPort() };
  env.carbon.reset();
  let server: RunningServer | undefined;
  try {
    server = await startServer(
      spec,
      { root, dir: mkdtempSync(join(scratch, `${col.key}-`)), udpPort: env.udpPort, carbonPort: env.carbon.port, flushIntervalMs: env.flushIntervalMs },
      env.carbon,
    );
    col.rcvbuf = server.rcvbuf;
    if (scenario.kind === "ramp") return { kind: "ramp", result: await runRamp(scenario, server, env, log) };
    const result = await runFixedLoad(scenario, server, env);
    log(`  counted ${JSON.stringify(result.observed)}`);
    return { kind: "load", result };
  } catch (e) {
    log(`  error: ${(e as Error).message}`);
    return { kind: "error", message: (e as Error).message };
  } finally {
    await server?.stop();
  }
}

// Children must not outlive the bench, whichever way it ends.
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });

main().catch((e: Error) => {
  log(`bench failed: ${e.stack ?? e.message}`);
  cleanup();
  process.exitCode = 1;
});
