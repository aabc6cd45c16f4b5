/**
 * The one schema of the config file. Input: the merged YAML (human units, everything optional);
 * output: exactly `Config`. Defaults are written in their human form and parsed like user input
 * (`prefault`). Every issue message reads "expected <what>"; `validateConfig` appends ", got <value>".
 */

import { hostname } from "node:os";
import { z } from "zod";
import type { Config, ListenAddress, StoreInterval } from "./types.js";
import { STEP_FORMS, parseStep } from "../../storage/step.js";
import { UnitError, describeValue, formatAddress, formatDuration, formatSize, parseCarbonDestination, parseCidr, parseDuration, parseListenAddress, parseSize } from "./units.js";

export const TIMER_METRICS = [
  "count", "count_ps", "sum", "sum_squares", "mean", "median", "upper", "lower", "std",
  "count_percent", "mean_percent", "upper_percent", "lower_percent", "sum_percent", "sum_squares_percent", "histogram",
] as const;

/** Where the store's names come from: flushed values, raw timer samples, raw set members. */
export const STORE_SOURCES = ["flushed", "timer_samples", "set_members"] as const;

// ---- builders --------------------------------------------------------------------------------

const expect = (what: string) => ({ error: `expected ${what}` });

const bool = () => z.boolean(expect("true or false"));

function int(min: number) {
  const e = expect(`a whole number ≥ ${min}`);
  return z.number(e).int(e).min(min, e);
}

/** A leaf parsed by a units.ts function; its UnitError becomes the issue. */
function unit<T>(parse: (value: unknown) => T) {
  return z.unknown().transform((value, ctx): T => {
    try {
      return parse(value);
    } catch (err) {
      if (!(err instanceof UnitError)) throw err;
      ctx.issues.push({ code: "custom", message: `expected ${err.expected}`, input: value });
      return z.NEVER;
    }
  });
}

function atLeast(parse: (value: unknown) => number, min: number, kind: string, format: (n: number) => string) {
  return unit((value) => {
    const n = parse(value);
    if (n < min) throw new UnitError(`${kind} of at least ${format(min)}`, value);
    return n;
  });
}

const duration = (minMs: number) => atLeast(parseDuration, minMs, "a duration", formatDuration);
const size = (minBytes: number) => atLeast(parseSize, minBytes, "a size", formatSize);

/** Items after the first occurrence of the same key are issues at their own index. */
function distinct<T>(what: string, key: (item: T) => string | number | undefined) {
  return (items: T[], ctx: z.RefinementCtx) => {
    const seen = new Map<string | number, number>();
    items.forEach((item, i) => {
      const k = key(item);
      if (k === undefined) return;
      const first = seen.get(k);
      if (first === undefined) seen.set(k, i);
      else ctx.addIssue({ code: "custom", path: [i], message: `expected ${what} different from [${first}]`, input: k });
    });
  };
}

/** A list of addresses, each at most once (port 0 = ephemeral, so it may repeat). */
const addressList = (parse: (value: unknown) => ListenAddress) =>
  z
    .array(unit(parse), expect("a list of addresses"))
    .superRefine(distinct("an address", (a: ListenAddress) => (a.port === 0 ? undefined : formatAddress(a).toLowerCase())));

/** A metric path segment for Graphite names: [A-Za-z0-9_.-]; empty means "none" unless `nonEmpty`. */
function segment(nonEmpty: boolean) {
  const e = expect(nonEmpty ? "a non-empty name of A-Z a-z 0-9 _ . -" : "a name of A-Z a-z 0-9 _ . - (or \"\" for none)");
  return z.string(e).regex(nonEmpty ? /^[A-Za-z0-9_.-]+$/ : /^[A-Za-z0-9_.-]*$/, e);
}

/** A config section: unknown keys are errors; an absent section is all defaults. */
function section<S extends z.ZodRawShape>(shape: S) {
  const object = z.strictObject(shape, expect("a mapping"));
  return object.prefault({} as z.input<typeof object>); // every field has its own default
}

const percentile = z
  .number(expect("a percentile in [-100, 100] other than 0"))
  .refine((p) => p !== 0 && p >= -100 && p <= 100, expect("a percentile in [-100, 100] other than 0"));

const bin = unit((value) => {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (value === "inf") return Infinity;
  throw new UnitError('a number or "inf"', value);
});

const bins = z.array(bin, expect('a list of ascending numbers, optionally ending with "inf"')).superRefine((list, ctx) => {
  for (let i = 1; i < list.length; i++) {
    const [prev, cur] = [list[i - 1]!, list[i]!];
    if (prev === Infinity) ctx.addIssue({ code: "custom", path: [i - 1], message: 'expected "inf" only as the last bin', input: "inf" });
    else if (cur <= prev) ctx.addIssue({ code: "custom", path: [i], message: `expected a bin above ${prev}`, input: cur });
  }
});

const timerMetric = z
  .string(expect(`one of ${TIMER_METRICS.join(", ")}`))
  .refine((s) => (TIMER_METRICS as readonly string[]).includes(s), expect(`one of ${TIMER_METRICS.join(", ")}`));

/** etsy's deleteIdleStats master switch: `true`/`false` sets all four. */
const deleteIdle = z.preprocess(
  (v) => (typeof v === "boolean" ? { counters: v, timers: v, gauges: v, sets: v } : v),
  z.strictObject(
    { counters: bool().prefault(false), timers: bool().prefault(false), gauges: bool().prefault(false), sets: bool().prefault(false) },
    expect("true, false, or a mapping of counters, timers, gauges, sets"),
  ),
);

const regex = unit((value) => {
  if (typeof value !== "string") throw new UnitError("a regular expression", value);
  try {
    new RegExp(value);
  } catch (err) {
    throw new UnitError(`a valid regular expression (${(err as Error).message.replace(/^Invalid regular expression: /, "")})`, value);
  }
  return value;
});

/** kairos' interval map, `{minute: {step: 1m, steps: 10080}}`: a bare number of a step is seconds. */
const intervals = z
  .record(
    z.string(),
    z.strictObject(
      {
        step: unit((value) => {
          const step = parseStep(value);
          if (step === undefined) throw new UnitError(STEP_FORMS, value);
          return step;
        }),
        steps: int(1),
      },
      expect("a mapping of step and steps"),
    ),
    expect("a mapping of interval names to {step, steps}"),
  )
  .transform((map): StoreInterval[] => Object.entries(map).map(([name, i]) => ({ name, step: i.step, steps: i.steps })));

const TYPES_OF_SOURCE: Record<(typeof STORE_SOURCES)[number], readonly string[]> = { flushed: ["count", "gauge", "series", "histogram"], timer_samples: ["histogram", "series", "count"], set_members: ["set"] };

const storeSchema = z
  .strictObject(
    {
      name: z.string(expect("a schema name")).min(1, expect("a schema name")),
      // one regex is a list of one, so that a bad one is reported with what is wrong with it
      match: z.preprocess((v) => (typeof v === "string" ? [v] : v), z.array(regex, expect("a regular expression or a list of them")).min(1, expect("at least one regular expression"))),
      source: z.enum(STORE_SOURCES, expect("flushed, timer_samples or set_members")).prefault("flushed"),
      type: z.enum(["count", "gauge", "series", "histogram", "set"], expect("count, gauge, series, histogram or set")),
      precision: int(1).max(17, expect("a number of significant digits, 1-17")).prefault(3),
      intervals,
    },
    expect("a mapping with name, match, source, type, intervals"),
  )
  .superRefine((s, ctx) => {
    const allowed: readonly string[] = TYPES_OF_SOURCE[s.source];
    if (!allowed.includes(s.type)) ctx.addIssue({ code: "custom", path: ["type"], message: `expected ${allowed.join(" or ")} for source ${s.source}`, input: s.type });
  });

// ---- the schema ------------------------------------------------------------------------------

export const configSchema = z.strictObject(
  {
    data_dir: z.string(expect("a directory path")).min(1, expect("a directory path")).prefault("./data"),
    flush_interval: duration(100).prefault("10s"),
    statsd: section({
      udp: addressList(parseListenAddress).prefault(["127.0.0.1:8125"]),
      tcp: addressList(parseListenAddress).prefault(["127.0.0.1:8125"]),
      recv_buffer: size(1).prefault("8MiB"),
      max_metrics: int(1).prefault(1_000_000),
      max_key_length: int(1).prefault(1024),
      tcp_max_connections: int(1).prefault(1024),
      tcp_max_line: size(1).prefault("64KiB"),
      tcp_idle_timeout: duration(0).prefault("5m"),
      percentiles: z
        .array(percentile, expect("a list of percentiles"))
        .superRefine(distinct("a percentile", (p: number) => p))
        .prefault([90]),
      histograms: z
        .array(z.strictObject({ match: z.string(expect("a string")), bins }, expect("a mapping with match and bins")), expect("a list of {match, bins}"))
        .prefault([]),
      calculated_timer_metrics: z.array(timerMetric, expect("a list of timer metric names")).prefault([]),
      delete_idle: deleteIdle.prefault(false),
      gauges_max_ttl: int(1).prefault(1),
      key_sanitize: bool().prefault(true),
      prefix_stats: segment(true).prefault("statsd"),
    }),
    graphite: section({
      destinations: z
        .array(unit(parseCarbonDestination), expect("a list of destinations"))
        .superRefine(distinct("a destination", (d: ListenAddress) => formatAddress(d).toLowerCase()))
        .prefault([]),
      routing: z.enum(["consistent-hash", "all"], expect("consistent-hash or all")).prefault("consistent-hash"),
      legacy_namespace: bool().prefault(true),
      global_prefix: segment(false).prefault("stats"),
      prefix_counter: segment(false).prefault("counters"),
      prefix_timer: segment(false).prefault("timers"),
      prefix_gauge: segment(false).prefault("gauges"),
      prefix_set: segment(false).prefault("sets"),
      global_suffix: segment(false).prefault(""),
      flush_counts: bool().prefault(true),
      connect_timeout: duration(1).prefault("5s"),
      write_timeout: duration(1).prefault("10s"),
      queue_max: int(1).prefault(1_000_000),
      spool_max_bytes: size(0).prefault("1GiB"),
    }).superRefine((g, ctx) => {
      // carbon's ring keys a node on (host, instance), not the port: carbon-relay refuses the same twice
      if (g.routing !== "consistent-hash") return;
      const seen = new Set<string>();
      g.destinations.forEach((d, i) => {
        const key = `${d.host} ${d.instance ?? ""}`;
        if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["destinations", i], message: "expected an instance name distinct from the other destinations on this host (consistent hashing keys on host and instance)", input: formatAddress(d) });
        seen.add(key);
      });
    }),
    console: section({ enabled: bool().prefault(false) }),
    admin: section({ listen: addressList(parseListenAddress).prefault(["127.0.0.1:8126"]) }),
    xmlrpc: section({
      listen: addressList(parseListenAddress).prefault(["127.0.0.1:8127"]),
      allow: z.array(unit(parseCidr), expect("a list of IP networks")).prefault(["127.0.0.0/8", "::1/128"]),
      auth: section({
        user: z.string(expect("a user name")).prefault(""),
        password_file: z.string(expect("a file path")).prefault(""),
      }).refine((a) => a.user === "" || a.password_file !== "", expect("a password_file when a user is set")),
      request_timeout: duration(100).prefault("10s"),
    }),
    nsca: section({
      host: z.string(expect("a host name or address")).prefault(""),
      port: int(1).max(65535, expect("a port 1-65535")).prefault(5667),
      encryption: z.enum(["none", "xor"], expect("none or xor")).prefault("xor"),
      password: z.string(expect("a string")).prefault(""),
      host_name: z.string(expect("a host name")).min(1, expect("a host name")).prefault(hostname()),
      service: z.string(expect("a service name")).min(1, expect("a service name")).prefault("tally"),
      timeout: duration(100).prefault("5s"),
      min_interval: duration(0).prefault("5m"),
      heartbeat: duration(0).prefault("0ms"),
      spool_warning_bytes: size(1).prefault("100MiB"),
    }),
    store: section({
      enabled: bool().prefault(true),
      path: z.string(expect("a file path")).min(1, expect("a file path")).prefault("tally.db"),
      schemas: z
        .array(storeSchema, expect("a list of schemas"))
        .superRefine(distinct("a schema name", (s: { name: string }) => s.name))
        .prefault([]),
    }),
    http: section({ listen: addressList(parseListenAddress).prefault(["127.0.0.1:8128"]) }),
    carbon: section({
      listen: addressList(parseListenAddress).prefault([]),
      pickle_listen: addressList(parseListenAddress).prefault([]),
      max_points: int(1).prefault(1_000_000),
    }),
  },
  expect("a mapping"),
);

// The schema produces exactly Config: a field added to one and not the other fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
true satisfies Same<z.output<typeof configSchema>, Config>;

// ---- validation ------------------------------------------------------------------------------

export type KeyPath = (string | number)[];

export interface ConfigIssue {
  path: KeyPath; // ["statsd", "percentiles", 1]
  message: string; // "expected a percentile in [-100, 100] other than 0, got 0"
}

/** "statsd.percentiles[1]" */
export function formatKeyPath(path: KeyPath): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** Validate the merged file contents: the config, or every problem (at most one per key path). */
export function validateConfig(input: unknown): { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] } {
  const result = configSchema.safeParse(input, { reportInput: true });
  if (result.success) return { ok: true, config: result.data };
  const issues: ConfigIssue[] = [];
  for (const iss of result.error.issues) {
    const path = iss.path.filter((p): p is string | number => typeof p !== "symbol");
    if (iss.code === "unrecognized_keys") {
      for (const key of iss.keys) issues.push({ path: [...path, key], message: `unknown key${suggest(path, key)}` });
    } else {
      issues.push({ path, message: `${iss.message}, got ${describeValue(iss.input)}` });
    }
  }
  // one problem per key path: [0, 0] fails both the percentile rule and the list's no-duplicates rule at [1]
  const seen = new Set<string>();
  return {
    ok: false,
    issues: issues.filter((issue) => {
      const at = formatKeyPath(issue.path);
      return seen.has(at) ? false : (seen.add(at), true);
    }),
  };
}

// ---- "did you mean" --------------------------------------------------------------------------

/** Every key path the schema knows, list items as "[]": ["statsd", "histograms", "[]", "bins"]. */
function knownPaths(schema: z.core.$ZodType, path: string[] = [], out: string[][] = []): string[][] {
  type Def = { type: string; shape?: Record<string, z.core.$ZodType>; innerType?: z.core.$ZodType; out?: z.core.$ZodType; element?: z.core.$ZodType };
  const def = schema._zod.def as Def;
  for (const [key, child] of Object.entries(def.shape ?? {})) {
    out.push([...path, key]);
    knownPaths(child, [...path, key], out);
  }
  if (def.innerType) knownPaths(def.innerType, path, out); // prefault
  if (def.type === "pipe" && def.out) knownPaths(def.out, path, out); // preprocess
  if (def.element) knownPaths(def.element, [...path, "[]"], out); // array
  return out;
}

let known: string[][] | undefined;

function suggest(parent: KeyPath, key: string): string {
  known ??= knownPaths(configSchema);
  const where = parent.map((p) => (typeof p === "number" ? "[]" : p)).join(".");
  const norm = (s: string) => s.toLowerCase().replace(/-/g, "_");
  const siblings = known.filter((p) => p.slice(0, -1).join(".") === where).map((p) => p[p.length - 1]!);
  const close = siblings
    .map((s) => [s, editDistance(norm(s), norm(key))] as const)
    .filter(([, d]) => d <= Math.min(2, Math.floor(key.length / 3)))
    .sort((a, b) => a[1] - b[1])[0];
  if (close) return ` (did you mean ${close[0]}?)`;
  const elsewhere = known.find((p) => norm(p[p.length - 1]!) === norm(key) && !p.includes("[]"));
  if (!elsewhere) return "";
  return elsewhere.length === 1 ? ` (did you mean ${elsewhere[0]} at the top level?)` : ` (did you mean ${elsewhere.join(".")}?)`;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
