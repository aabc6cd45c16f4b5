/** The statsd servers under test: how to configure and start each one, and how each names what
 * it flushes to carbon. Adding a server = adding a ServerSpec to SERVERS. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { FakeCarbon, FlushSplit, Line } from "./carbon.js";
import { pollUntil, runCommand, sleep, spawnTracked, stopChild, tail } from "./proc.js";

export interface ServerContext {
  root: string; // project root
  dir: string; // scratch dir for config files
  udpPort: number;
  carbonPort: number;
  flushIntervalMs: number;
}

/** Where a statsd key's aggregate ends up at carbon. */
export interface Naming {
  counter(key: string): string;
  /** true: the counter path carries a running total (collectd derive); false: a per-flush count. */
  counterCumulative: boolean;
  timerCount(key: string): string;
  gauge(key: string): string;
  setCount(key: string): string;
  processingTime: string | null; // flush math time in ms, if the server reports it
}

export interface ServerSpec {
  name: string;
  /** Why it cannot run here, or null. */
  unavailable(root: string): string | null;
  /** Writes its config into ctx.dir and returns the command line (before CPU pinning). */
  command(ctx: ServerContext): Promise<string[]>;
  readyPattern: RegExp | null; // on stdout/stderr, before probing
  naming: Naming;
  flushSplit: FlushSplit;
  rcvbufNote: string;
}

const legacyNaming: Naming = {
  counter: (k) => `stats_counts.${k}`,
  counterCumulative: false,
  timerCount: (k) => `stats.timers.${k}.count`,
  gauge: (k) => `stats.gauges.${k}`,
  setCount: (k) => `stats.sets.${k}.count`,
  processingTime: "stats.statsd.processing_time",
};

const hostPort = (port: number): string => `127.0.0.1:${port}`;

const tally: ServerSpec = {
  name: "tally",
  unavailable: (root) => (existsSync(join(root, "dist/agent/cli.js")) ? null : "not built (dist/agent/cli.js missing)"),
  async command(ctx) {
    const file = join(ctx.dir, "tally.yaml");
    writeFileSync(
      file,
      [
        `flush_interval: ${ctx.flushIntervalMs / 1000}s`,
        `statsd: {udp: ["${hostPort(ctx.udpPort)}"], tcp: []}`,
        `graphite: {destinations: ["${hostPort(ctx.carbonPort)}"]}`,
        "admin: {listen: []}", // etsy's admin port is 8126 too
        "xmlrpc: {listen: []}",
        // the embedded store stays on, as by default: the figures must hold with it
        `data_dir: "${ctx.dir}"`,
        "http: {listen: []}",
        "",
      ].join("\n"),
    );
    return [process.execPath, join(ctx.root, "dist/agent/cli.js"), "agent", "--config", file];
  },
  readyPattern: /tally agent ready/,
  naming: legacyNaming,
  flushSplit: "timestamp", // one persistent connection; every line stamped with its flush slot
  rcvbufNote:
    "asks 8 MiB via SO_RCVBUF (plain, so the kernel caps it at net.core.rmem_max); its native receive thread also copies datagrams into an in-process ring, so a busy JS thread does not back the socket queue up",
};

const etsy: ServerSpec = {
  name: "etsy statsd",
  unavailable: (root) => (existsSync(join(root, "node_modules/statsd/stats.js")) ? null : "not installed"),
  async command(ctx) {
    const file = join(ctx.dir, "etsy-config.js");
    const config = {
      port: ctx.udpPort,
      address: "127.0.0.1",
      mgmt_address: "127.0.0.1",
      mgmt_port: await freeTcpPort(), // its TCP admin interface, default 8126
      flushInterval: ctx.flushIntervalMs,
      backends: ["./backends/graphite"],
      graphiteHost: "127.0.0.1",
      graphitePort: ctx.carbonPort,
      automaticConfigReload: false,
    };
    writeFileSync(file, JSON.stringify(config, null, 2)); // its config file is a JS object literal
    return [process.execPath, join(ctx.root, "node_modules/statsd/stats.js"), file];
  },
  readyPattern: /server is up/,
  naming: legacyNaming,
  flushSplit: "connection",
  rcvbufNote: "does not set SO_RCVBUF (Node dgram socket, kernel default net.core.rmem_default); parses on its only JS thread, which also does the flush math",
};

/** collectd's write_graphite replaces dots inside a name component with "_". */
const cdName = (k: string): string => k.replace(/\./g, "_");
const CD_HOST = "bench";

const collectd: ServerSpec = {
  name: "collectd",
  unavailable: () =>
    existsSync("/usr/sbin/collectd") && existsSync("/usr/lib/collectd/statsd.so") && existsSync("/usr/lib/collectd/write_graphite.so")
      ? null
      : "not installed",
  async command(ctx) {
    const file = join(ctx.dir, "collectd.conf");
    const s = ctx.flushIntervalMs / 1000;
    writeFileSync(
      file,
      `Hostname "${CD_HOST}"
FQDNLookup false
Interval ${s}
BaseDir "${ctx.dir}"
PIDFile "${join(ctx.dir, "collectd.pid")}"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDERR
</Plugin>
LoadPlugin statsd
<Plugin statsd>
  Host "127.0.0.1"
  Port "${ctx.udpPort}"
  # Counters stay (their derive value is a running total, read at the end); timers without
  # samples would otherwise be dispatched as NaN.
  DeleteTimers true
  TimerCount true
</Plugin>
# Without a flush interval write_graphite holds a partly filled 1428-byte buffer until more
# values come in.
<LoadPlugin write_graphite>
  FlushInterval ${s}
</LoadPlugin>
<Plugin write_graphite>
  <Node "carbon">
    Host "127.0.0.1"
    Port "${ctx.carbonPort}"
    Protocol "tcp"
    StoreRates false
  </Node>
</Plugin>
`,
    );
    return ["/usr/sbin/collectd", "-f", "-C", file];
  },
  readyPattern: /Initialization complete/,
  naming: {
    counter: (k) => `${CD_HOST}.statsd.derive-${cdName(k)}`,
    counterCumulative: true,
    timerCount: (k) => `${CD_HOST}.statsd.gauge-${cdName(k)}-count`,
    gauge: (k) => `${CD_HOST}.statsd.gauge-${cdName(k)}`,
    setCount: (k) => `${CD_HOST}.statsd.objects-${cdName(k)}`,
    processingTime: null,
  },
  flushSplit: "silence",
  rcvbufNote: "does not set SO_RCVBUF (statsd plugin source: plain socket() + bind(), one 4 KiB recv() per poll() wake-up on its network thread)",
};

export const SERVERS: Record<string, ServerSpec> = { tally, etsy, collectd };

export interface RunningServer {
  spec: ServerSpec;
  pid: number;
  child: ChildProcess;
  rcvbuf: number | null; // receive buffer the kernel reports for its UDP socket (ss rb)
  alive(): boolean;
  output(): string;
  peakRssKiB(): number | null;
  socketDrops(): Promise<number | null>;
  /** See flushMarker. */
  flushMarker(timeoutMs: number): Promise<Line | null>;
  stop(): Promise<void>;
}

export async function startServer(spec: ServerSpec, ctx: ServerContext, carbon: FakeCarbon): Promise<RunningServer> {
  const argv = await spec.command(ctx);
  const child = spawnTracked("taskset", ["-c", "0", ...argv], { cwd: ctx.dir });
  const out = tail(child.stdout);
  const err = tail(child.stderr);
  const output = (): string => `${out()}${err()}`.trim().split("\n").slice(-15).join("\n");
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const server: RunningServer = {
    spec,
    pid: child.pid ?? -1,
    child,
    rcvbuf: null,
    alive,
    output,
    peakRssKiB: () => peakRssKiB(child.pid ?? -1),
    socketDrops: async () => (await udpSocketStats(ctx.udpPort))?.drops ?? null,
    flushMarker: (timeoutMs) => flushMarker(spec.naming, ctx.udpPort, carbon, alive, timeoutMs),
    stop: () => stopChild(child),
  };
  try {
    if (child.pid === undefined) throw new Error("spawn failed");
    if (spec.readyPattern) {
      const pattern = spec.readyPattern;
      const ok = await pollUntil(() => !alive() || pattern.test(output()), 20_000);
      if (!ok || !alive()) throw new Error(`no ready line (${pattern})`);
    }
    // Proves the UDP listener and the flush path both work before any measurement.
    if (!(await flushMarker(spec.naming, ctx.udpPort, carbon, alive, 2 * ctx.flushIntervalMs + 10_000))) throw new Error("marker metric never reached carbon");
    server.rcvbuf = (await udpSocketStats(ctx.udpPort))?.rcvbuf ?? null;
    return server;
  } catch (e) {
    await stopChild(child, 1000);
    throw new Error(`${spec.name} failed to start: ${(e as Error).message}\n${output()}`);
  }
}

let markers = 0;

/** Sends a counter under a never-used key (so any sighting of it is fresh) every 250 ms until a
 * flush carrying it reaches carbon, and returns that line (null on timeout or server exit). The
 * socket queue is FIFO, so that flush accounts for every datagram sent before the marker; once a
 * second marker has been seen, the flush holding the first has been delivered in full. */
async function flushMarker(naming: Naming, port: number, carbon: FakeCarbon, alive: () => boolean, timeoutMs: number): Promise<Line | null> {
  const key = `bench.marker.m${markers++}`;
  const seen = carbon.watchFor(naming.counter(key), carbon.mark());
  const sock = createSocket("udp4");
  try {
    const deadline = Date.now() + timeoutMs;
    let lastSend = 0;
    while (alive() && Date.now() < deadline) {
      if (Date.now() - lastSend >= 250) {
        sock.send(`${key}:1|c`, port, "127.0.0.1");
        lastSend = Date.now();
      }
      const line = seen();
      if (line) return line;
      await sleep(25);
    }
    return null;
  } finally {
    sock.close();
  }
}

/** Sum of VmHWM over the process and its descendants (a server may run helper processes). */
function peakRssKiB(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    let kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    for (const task of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(/\s+/).filter(Boolean))
      kib += peakRssKiB(Number(task)) ?? 0;
    return Number.isFinite(kib) ? kib : null;
  } catch {
    return null;
  }
}

export interface SocketStats {
  rcvbuf: number; // bytes the kernel allows queued (ss rb)
  drops: number; // datagrams the kernel dropped because the queue was full (ss d)
}

/** Kernel view of the server's UDP socket(s) on `port`, summed if it binds several. */
export async function udpSocketStats(port: number): Promise<SocketStats | null> {
  try {
    const out = await runCommand("ss", ["-Huamn", `sport = :${port}`], 5000);
    const mem = [...out.matchAll(/skmem:\(([^)]*)\)/g)].map((m) => m[1]!);
    if (!mem.length) return null;
    const field = (name: string) => mem.reduce((a, m) => a + Number(new RegExp(`(?:^|,)${name}(\\d+)`).exec(m)?.[1] ?? 0), 0);
    return { rcvbuf: field("rb"), drops: field("d") };
  } catch {
    return null;
  }
}

export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}
