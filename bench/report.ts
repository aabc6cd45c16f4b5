/** Markdown rendering of the results: the comparison table, notes, and the ramp step log. */
import type { LoadResultSummary, RampResult } from "./measure.js";
import type { Scenario } from "./scenarios.js";
import type { TypeTally } from "./scenarios.js";

export type Cell =
  | { kind: "na"; reason: string }
  | { kind: "error"; message: string }
  | { kind: "ramp"; result: RampResult }
  | { kind: "load"; result: LoadResultSummary };

export interface ServerColumn {
  key: string;
  name: string;
  unavailable: string | null;
  rcvbufNote: string;
  rcvbuf: number | null; // as reported by ss for its UDP socket, last time it ran
}

export interface Report {
  servers: ServerColumn[];
  scenarios: Scenario[];
  cells: Map<string, Map<string, Cell>>; // scenario id -> server key -> cell
  environment: string[];
}

const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const pct = (t: TypeTally): string => (t.sent ? `${((100 * t.counted) / t.sent).toFixed(3)} %` : "–");
const sumTallies = (ts: TypeTally[]): TypeTally => ({ sent: ts.reduce((a, t) => a + t.sent, 0), counted: ts.reduce((a, t) => a + t.counted, 0) });

interface Row {
  label: string;
  value(cell: Cell): string;
}

/** Text for cells that hold no measurement; null when the cell has one. */
function missing(cell: Cell | undefined): string | null {
  if (!cell) return "–";
  if (cell.kind === "na") return cell.reason;
  if (cell.kind === "error") return `error: ${cell.message.split("\n")[0]}`;
  return null;
}

function rampText(r: RampResult, s: Scenario): string {
  const first = s.kind === "ramp" ? s.rates[0]! : 0;
  const val = r.best === null ? `< ${int(first)}` : `${r.bestIsLowerBound ? "≥ " : ""}${int(r.best)}`;
  return r.crashed ? `${val} (crashed)` : val;
}

function loadRows(s: Scenario): Row[] {
  const load = (f: (r: LoadResultSummary) => string) => (cell: Cell) => {
    if (cell.kind !== "load") return "–";
    const r = cell.result;
    const flags = [r.crashed ? "crashed" : "", r.flushed ? "" : "no 2 flushes after load"].filter(Boolean);
    return f(r) + (flags.length ? ` (${flags.join(", ")})` : "");
  };
  const plain = (f: (r: LoadResultSummary) => string) => (cell: Cell) => (cell.kind === "load" ? f(cell.result) : "–");
  if (s.id === "c")
    return [
      { label: `${s.title}: samples counted`, value: load((r) => pct(r.observed.timers)) },
      {
        label: "(c) flush spacing at carbon, min / max (s)",
        value: plain((r) => (r.spacing ? `${(r.spacing.min / 1000).toFixed(3)} / ${(r.spacing.max / 1000).toFixed(3)}` : "no flushes")),
      },
      { label: "(c) worst flush lateness after its wall-clock slot (ms)", value: plain((r) => (r.worstLatenessMs === null ? "–" : int(r.worstLatenessMs))) },
      { label: "(c) flush CPU: max processing_time (ms)", value: plain((r) => (r.observed.maxProcessingMs === null ? "not reported" : int(r.observed.maxProcessingMs))) },
      { label: "(c) peak RSS, VmHWM (MiB)", value: plain((r) => (r.peakRssKiB === null ? "–" : (r.peakRssKiB / 1024).toFixed(1))) },
    ];
  const o = (r: LoadResultSummary) => r.observed;
  return [
    { label: `${s.title}: samples counted, all types`, value: load((r) => pct(sumTallies([o(r).counters, o(r).timers, o(r).gauges, o(r).sets]))) },
    { label: "(d) counters (sampled ones weighted 1/rate)", value: plain((r) => pct(o(r).counters)) },
    { label: "(d) timers", value: plain((r) => pct(o(r).timers)) },
    { label: "(d) gauges (absolute + decoded ± deltas)", value: plain((r) => pct(o(r).gauges)) },
    { label: "(d) sets", value: plain((r) => pct(o(r).sets)) },
  ];
}

function rowsFor(s: Scenario): Row[] {
  if (s.kind === "ramp") return [{ label: s.title, value: (cell) => (cell.kind === "ramp" ? rampText(cell.result, s) : "–") }];
  return loadRows(s);
}

const tableLine = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;

export function renderReport(rep: Report): string {
  const out: string[] = [];
  out.push(tableLine(["", ...rep.servers.map((s) => s.name)]));
  out.push(tableLine(["---", ...rep.servers.map(() => "---:")]));
  for (const s of rep.scenarios) {
    const cells = rep.cells.get(s.id);
    for (const row of rowsFor(s)) {
      out.push(
        tableLine([
          row.label,
          ...rep.servers.map((srv) => {
            const cell = cells?.get(srv.key);
            return missing(cell) ?? row.value(cell!);
          }),
        ]),
      );
    }
  }
  out.push(
    tableLine([
      "UDP receive buffer the kernel gave it (ss rb)",
      ...rep.servers.map((s) => (s.unavailable ? s.unavailable : s.rcvbuf === null ? "–" : `${int(s.rcvbuf)} B`)),
    ]),
  );

  out.push("", "Notes:", "");
  for (const s of rep.servers) out.push(`- ${s.name}: ${s.unavailable ? `${s.unavailable}; ` : ""}${s.rcvbufNote}.`);
  out.push(...rep.environment.map((e) => `- ${e}`));
  const limited = rep.scenarios.flatMap((s) =>
    s.kind !== "ramp"
      ? []
      : [...(rep.cells.get(s.id)?.values() ?? [])].flatMap((c) =>
          c.kind === "ramp" ? c.result.steps.filter((st) => st.generatorLimited).map((st) => st.achieved / s.metricsPerDatagram) : [],
        ),
  );
  if (limited.length)
    out.push(`- The load generator could not keep some asked rates: it peaked at ${int(Math.max(...limited))} datagrams/s on core 1 here, so a "≥" result there is the generator's limit, not the server's.`);
  out.push(
    "- Two more flushes after a load: the bench sends a counter under a fresh key every 250 ms until a flush carrying it reaches carbon, then does it again with another key (and waits for any earlier per-flush connection to close). The server's socket queue is FIFO, so the first of those flushes accounts for everything sent before; the second proves the first was delivered in full. These few datagrams are also in the kernel drop counts.",
    "- (a)/(b): one fresh server per scenario; each rate is sent for the step duration, then after two more flushes the counter totals flushed since the step began are compared with what the generator sent; the ramp stops at the first step with ≥ 0.1 % loss. \"≥\" = no failure up to the top rate or up to what the generator could send.",
    "- (c)/(d) \"samples counted\" = samples the server's flushes account for / samples sent, after the load plus two flushes: timers = sum of per-flush counts; counters = sum of per-flush counts (collectd: its running total) divided by 1/sample-rate, i.e. a lost `@0.1` datagram costs 10; sets = sum of per-flush distinct counts (each member is sent once, so that equals samples received); gauges = each gauge gets one absolute set to 1e9 (first, as the file is sent in rounds over all names) then random `+1000` / `-1` deltas (< 1000 of them), so its last flushed value decodes exactly into whether the set and how many of each delta arrived.",
    "- Flush spacing = time between the first bytes of consecutive flushes at carbon, from load start to two flushes after it (flushes told apart by connection for etsy, which connects per flush; by the flush timestamp on every line for tally; by ≥ 250 ms of silence for collectd, whose write_graphite mixes consecutive reads in one buffer). Lateness = arrival of a flush's first bytes minus its wall-clock slot: the interval boundary at or before the flush's own graphite timestamp (tally stamps its slot, etsy its flush time rounded to the second) or before its arrival if that is earlier. collectd schedules reads from its start-up time, not on wall-clock slots, so its figure includes that phase (0–1 s, random per start).",
    "- processing_time = `stats.statsd.processing_time`, the ms a server reports spending on its flush math. Peak RSS = VmHWM from /proc (summed over child processes) just before SIGTERM.",
  );

  const ramps = rep.scenarios.filter((s) => s.kind === "ramp");
  if (ramps.length) {
    out.push("", "Ramp steps (rates and totals in metrics; kernel drops in datagrams):", "");
    out.push(tableLine(["scenario", "server", "rate asked", "rate sent", "sent", "counted", "loss", "kernel drops", "result"]));
    out.push(tableLine(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---"]));
    for (const s of ramps)
      for (const srv of rep.servers) {
        const cell = rep.cells.get(s.id)?.get(srv.key);
        if (cell?.kind !== "ramp") continue;
        for (const st of cell.result.steps)
          out.push(
            tableLine([
              s.id,
              srv.name,
              int(st.rate),
              int(st.achieved),
              int(st.expected),
              int(st.counted),
              `${(st.loss * 100).toFixed(3)} %`,
              st.kernelDrops === null ? "?" : int(st.kernelDrops),
              [st.pass ? "pass" : "fail", st.generatorLimited ? "generator-limited" : "", st.flushed ? "" : "no 2 flushes"].filter(Boolean).join(", "),
            ]),
          );
      }
  }

  const loads = rep.scenarios.filter((s) => s.kind === "load");
  if (loads.length) {
    out.push("", "Fixed loads (one sample per datagram):", "");
    out.push(tableLine(["scenario", "server", "sent", "send time (s)", "counted", "kernel drops", "flushes after load"]));
    out.push(tableLine(["---", "---", "---:", "---:", "---:", "---:", "---"]));
    for (const s of loads)
      for (const srv of rep.servers) {
        const cell = rep.cells.get(s.id)?.get(srv.key);
        if (cell?.kind !== "load") continue;
        const r = cell.result;
        const o = sumTallies([r.observed.counters, r.observed.timers, r.observed.gauges, r.observed.sets]);
        out.push(
          tableLine([
            s.id,
            srv.name,
            int(r.load.sent),
            r.load.seconds.toFixed(2),
            int(o.counted),
            r.kernelDrops === null ? "?" : int(r.kernelDrops),
            r.flushed ? "2 seen" : "timed out",
          ]),
        );
      }
  }
  return out.join("\n");
}
