import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, hostname } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError, formatConfig, loadConfig } from "../agent/config/load.js";
import { TIMER_METRICS } from "../agent/config/schema.js";
import type { Config } from "../agent/config/types.js";
import {
  formatAddress,
  formatDuration,
  formatSize,
  parseDestination,
  parseDuration,
  parseListenAddress,
  parseSize,
  UnitError,
} from "../agent/config/units.js";

const dir = mkdtempSync(join(tmpdir(), "tally-config-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Write `text` to a fresh temp file and return its path. */
function file(text: string): string {
  const path = join(dir, `c${++fileCount}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError message of loading `files`. */
function problems(...files: string[]): string {
  try {
    loadConfig(files);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail("expected loadConfig to throw");
}

/** Load one file of `text`; its single problem (with the file name replaced by "F"). */
function problemOf(text: string): string {
  const path = file(text);
  return problems(path).split(path).join("F");
}

const load = (text: string): Config => loadConfig([file(text)]);

const DEFAULTS: Config = {
  data_dir: "./data",
  flush_interval: 10_000,
  statsd: {
    udp: [{ host: "127.0.0.1", port: 8125, family: 4 }],
    tcp: [{ host: "127.0.0.1", port: 8125, family: 4 }],
    recv_buffer: 8 * 1024 * 1024,
    max_metrics: 1_000_000,
    max_key_length: 1024,
    tcp_max_connections: 1024,
    tcp_max_line: 64 * 1024,
    tcp_idle_timeout: 300_000,
    percentiles: [90],
    histograms: [],
    calculated_timer_metrics: [],
    delete_idle: { counters: false, timers: false, gauges: false, sets: false },
    gauges_max_ttl: 1,
    key_sanitize: true,
    prefix_stats: "statsd",
  },
  graphite: {
    destinations: [],
    routing: "consistent-hash",
    legacy_namespace: true,
    global_prefix: "stats",
    prefix_counter: "counters",
    prefix_timer: "timers",
    prefix_gauge: "gauges",
    prefix_set: "sets",
    global_suffix: "",
    flush_counts: true,
    connect_timeout: 5_000,
    write_timeout: 10_000,
    queue_max: 1_000_000,
    spool_max_bytes: 1024 ** 3,
  },
  console: { enabled: false },
  admin: { listen: [{ host: "127.0.0.1", port: 8126, family: 4 }] },
  xmlrpc: {
    listen: [{ host: "127.0.0.1", port: 8127, family: 4 }],
    allow: [
      { address: "127.0.0.0", prefix: 8, family: 4 },
      { address: "::1", prefix: 128, family: 6 },
    ],
    auth: { user: "", password_file: "" },
    request_timeout: 10_000,
  },
  nsca: {
    host: "",
    port: 5667,
    encryption: "xor",
    password: "",
    host_name: hostname(),
    service: "tally",
    timeout: 5000,
    min_interval: 300_000,
    heartbeat: 0,
    spool_warning_bytes: 100 * 1024 ** 2,
  },
  store: { enabled: true, path: "tally.db", schemas: [] },
  http: { listen: [{ host: "127.0.0.1", port: 8128, family: 4 }] },
  carbon: { listen: [], pickle_listen: [], max_points: 1_000_000 },
};

describe("defaults", () => {
  test("no files gives the embedded defaults", () => {
    assert.deepEqual(loadConfig([]), DEFAULTS);
  });
  test("an empty file, a comment-only file and empty sections give the defaults", () => {
    assert.deepEqual(load(""), DEFAULTS);
    assert.deepEqual(load("# nothing here\n"), DEFAULTS);
    assert.deepEqual(load("statsd: {}\ngraphite: {}\nconsole: {}\n"), DEFAULTS);
  });
  test("one key overrides only itself", () => {
    assert.deepEqual(load("statsd:\n  max_metrics: 5\n"), { ...DEFAULTS, statsd: { ...DEFAULTS.statsd, max_metrics: 5 } });
  });
});

describe("units", () => {
  test("durations", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("10s"), 10_000);
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("1d"), 86_400_000);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("1.005s"), 1005);
    assert.equal(parseSize("8 MiB"), 8 * 1024 ** 2);
    assert.equal(parseDuration(250), 250);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration("750"), 750);
    for (const bad of ["10x", "-1s", "s", "", "10 S", "0.5ms", 1.5, -1, true, null]) {
      assert.throws(() => parseDuration(bad), UnitError, String(bad));
    }
    assert.throws(() => parseDuration("10x"), {
      message: 'expected a duration (500ms, 10s, 5m, 1h, 1d, or a number of milliseconds), got "10x"',
    });
  });
  test("duration formatting picks the largest exact unit", () => {
    assert.equal(formatDuration(10_000), "10s");
    assert.equal(formatDuration(1500), "1500ms");
    assert.equal(formatDuration(90_000), "90s");
    assert.equal(formatDuration(300_000), "5m");
    assert.equal(formatDuration(7_200_000), "2h");
    assert.equal(formatDuration(86_400_000), "1d");
    assert.equal(formatDuration(0), "0ms");
  });
  test("sizes", () => {
    assert.equal(parseSize("8MiB"), 8 * 1024 ** 2);
    assert.equal(parseSize("512KiB"), 512 * 1024);
    assert.equal(parseSize("1GiB"), 1024 ** 3);
    assert.equal(parseSize("64KB"), 64_000);
    assert.equal(parseSize("8MB"), 8_000_000);
    assert.equal(parseSize("100B"), 100);
    assert.equal(parseSize(4096), 4096);
    for (const bad of ["8mib", "8 MiBs", "1.5B", "1.1KiB", "-1B", "B", 2.5, [8]]) {
      assert.throws(() => parseSize(bad), UnitError, String(bad));
    }
    assert.throws(() => parseSize("8mib"), {
      message: 'expected a size (100B, 512KiB, 8MiB, 1GiB, 64KB, 8MB, or a number of bytes), got "8mib"',
    });
  });
  test("size formatting picks the exact form with the smallest number", () => {
    assert.equal(formatSize(8 * 1024 ** 2), "8MiB");
    assert.equal(formatSize(64 * 1024), "64KiB");
    assert.equal(formatSize(1024 ** 3), "1GiB");
    assert.equal(formatSize(64_000), "64KB");
    assert.equal(formatSize(8_000_000), "8MB");
    assert.equal(formatSize(1_024_000), "1000KiB");
    assert.equal(formatSize(100), "100B");
    assert.equal(formatSize(0), "0B");
  });
  test("listen addresses", () => {
    assert.deepEqual(parseListenAddress("127.0.0.1:8125"), { host: "127.0.0.1", port: 8125, family: 4 });
    assert.deepEqual(parseListenAddress("[::1]:8125"), { host: "::1", port: 8125, family: 6 });
    assert.deepEqual(parseListenAddress("0.0.0.0:8125"), { host: "0.0.0.0", port: 8125, family: 4 });
    assert.deepEqual(parseListenAddress("localhost:8125"), { host: "127.0.0.1", port: 8125, family: 4 });
    assert.deepEqual(parseListenAddress("[::]:0"), { host: "::", port: 0, family: 6 });
    assert.deepEqual(parseListenAddress("10.1.2.3:65535"), { host: "10.1.2.3", port: 65535, family: 4 });
    for (const bad of ["127.0.0.1:65536", "example.com:8125", "::1:8125", "[127.0.0.1]:8125", "127.0.0.1", "127.0.0.1:", ":8125", "256.0.0.1:1", 8125]) {
      assert.throws(() => parseListenAddress(bad), UnitError, String(bad));
    }
    assert.throws(() => parseListenAddress("example.com:8125"), {
      message: 'expected an IP address and port (127.0.0.1:8125, [::1]:8125, 0.0.0.0:8125, localhost:8125), got "example.com:8125"',
    });
  });
  test("carbon destinations keep hostnames as written", () => {
    assert.deepEqual(parseDestination("carbon.example.com:2003"), { host: "carbon.example.com", port: 2003, family: 4 });
    assert.deepEqual(parseDestination("localhost:2003"), { host: "localhost", port: 2003, family: 4 });
    assert.deepEqual(parseDestination("10.0.0.5:2004"), { host: "10.0.0.5", port: 2004, family: 4 });
    assert.deepEqual(parseDestination("[2001:db8::5]:2003"), { host: "2001:db8::5", port: 2003, family: 6 });
    for (const bad of ["carbon:0", "carbon:70000", "bad_host:2003", "999.1.1.1:2003", "carbon", "-carbon:2003"]) {
      assert.throws(() => parseDestination(bad), UnitError, bad);
    }
  });
  test("address formatting", () => {
    assert.equal(formatAddress({ host: "127.0.0.1", port: 8125, family: 4 }), "127.0.0.1:8125");
    assert.equal(formatAddress({ host: "::1", port: 8125, family: 6 }), "[::1]:8125");
    assert.equal(formatAddress({ host: "carbon.example.com", port: 2003, family: 4 }), "carbon.example.com:2003");
  });
  test("unit forms in a config file", () => {
    const c = load(
      "flush_interval: 1500\nstatsd:\n  recv_buffer: 4096\n  tcp_max_line: 8MB\n  tcp_idle_timeout: 1h\n  udp: ['[::1]:9000']\ngraphite:\n  connect_timeout: 500ms\n",
    );
    assert.equal(c.flush_interval, 1500);
    assert.equal(c.statsd.recv_buffer, 4096);
    assert.equal(c.statsd.tcp_max_line, 8_000_000);
    assert.equal(c.statsd.tcp_idle_timeout, 3_600_000);
    assert.deepEqual(c.statsd.udp, [{ host: "::1", port: 9000, family: 6 }]);
    assert.equal(c.graphite.connect_timeout, 500);
  });
});

describe("merging files", () => {
  test("later files win key by key; mappings merge, lists are replaced", () => {
    const a = file(
      "flush_interval: 5s\nstatsd:\n  percentiles: [50, 99]\n  max_metrics: 10\n  udp: ['127.0.0.1:9001', '127.0.0.1:9002']\n  delete_idle: {counters: true}\ngraphite:\n  global_prefix: a\n",
    );
    const b = file("statsd:\n  percentiles: [95]\n  udp: ['0.0.0.0:9125']\n  delete_idle: {sets: true}\ngraphite:\n  global_suffix: x\n");
    const c = loadConfig([a, b]);
    assert.equal(c.flush_interval, 5000);
    assert.deepEqual(c.statsd.percentiles, [95]);
    assert.equal(c.statsd.max_metrics, 10);
    assert.deepEqual(c.statsd.udp, [{ host: "0.0.0.0", port: 9125, family: 4 }]);
    assert.deepEqual(c.statsd.tcp, DEFAULTS.statsd.tcp);
    assert.deepEqual(c.statsd.delete_idle, { counters: true, timers: false, gauges: false, sets: true });
    assert.equal(c.graphite.global_prefix, "a");
    assert.equal(c.graphite.global_suffix, "x");
  });
  test("a later scalar replaces an earlier mapping and vice versa", () => {
    const mapping = file("statsd:\n  delete_idle: {counters: true}\n");
    const flag = file("statsd:\n  delete_idle: true\n");
    assert.deepEqual(loadConfig([mapping, flag]).statsd.delete_idle, { counters: true, timers: true, gauges: true, sets: true });
    assert.deepEqual(loadConfig([flag, mapping]).statsd.delete_idle, { counters: true, timers: false, gauges: false, sets: false });
  });
  test("a bad value overridden by a later file is no problem", () => {
    const a = file("statsd:\n  max_metrics: 0\n  udp: [nowhere]\n");
    const b = file("statsd:\n  max_metrics: 7\n  udp: ['127.0.0.1:1']\n");
    assert.equal(loadConfig([a, b]).statsd.max_metrics, 7);
  });
});

describe("provenance", () => {
  test("the bad key in the second file names the second file", () => {
    const a = file("statsd:\n  percentiles: [90]\n");
    const b = file("statsd:\n  percentiles: [90, 0]\n");
    assert.equal(problems(a, b), `${b}: statsd.percentiles[1]: expected a percentile in [-100, 100] other than 0, got 0`);
  });
  test("each problem names the file that supplied its key", () => {
    const a = file("statsd:\n  max_metrics: 0\n  percentiles: [90]\ngraphite:\n  global_prefix: ok\n");
    const b = file("statsd:\n  percentiles: [200]\ngraphite:\n  colour: blue\n");
    assert.equal(
      problems(a, b),
      [
        `${a}: statsd.max_metrics: expected a whole number ≥ 1, got 0`,
        `${b}: statsd.percentiles[0]: expected a percentile in [-100, 100] other than 0, got 200`,
        `${b}: graphite.colour: unknown key`,
      ].join("\n"),
    );
  });
  test("a section replaced by a scalar names the replacing file", () => {
    const a = file("statsd:\n  max_metrics: 0\n");
    const b = file("statsd: 5\n");
    assert.equal(problems(a, b), `${b}: statsd: expected a mapping, got 5`);
  });
  test("a mapping merged under an earlier scalar names the later file", () => {
    const a = file("graphite: off\n");
    const b = file("graphite:\n  flush_counts: maybe\n");
    assert.equal(problems(a, b), `${b}: graphite.flush_counts: expected true or false, got "maybe"`);
  });
});

describe("unknown keys", () => {
  test("at the top level, with a suggestion", () => {
    assert.equal(problemOf("flush_intervall: 10s\n"), "F: flush_intervall: unknown key (did you mean flush_interval?)");
    assert.equal(problemOf("Flush-Interval: 10s\n"), "F: Flush-Interval: unknown key (did you mean flush_interval?)");
    assert.equal(problemOf("collectors: {}\n"), "F: collectors: unknown key");
  });
  test("in a section, pointing at the right section", () => {
    assert.equal(problemOf("statsd:\n  flush_interval: 10s\n"), "F: statsd.flush_interval: unknown key (did you mean flush_interval at the top level?)");
    assert.equal(problemOf("graphite:\n  prefix_stats: s\n"), "F: graphite.prefix_stats: unknown key (did you mean statsd.prefix_stats?)");
    assert.equal(problemOf("console:\n  colour: true\n"), "F: console.colour: unknown key");
  });
  test("deeper: delete_idle and histogram rules", () => {
    assert.equal(problemOf("statsd:\n  delete_idle: {timer: true}\n"), "F: statsd.delete_idle.timer: unknown key (did you mean timers?)");
    assert.equal(
      problemOf("statsd:\n  histograms: [{match: '', bins: [1], bin: [2]}]\n"),
      "F: statsd.histograms[0].bin: unknown key (did you mean bins?)",
    );
  });
  test("several unknown keys are each reported", () => {
    assert.equal(problemOf("statsd:\n  a: 1\n  b: 2\n"), "F: statsd.a: unknown key\nF: statsd.b: unknown key");
  });
  test("__proto__ is just an unknown key", () => {
    assert.equal(problemOf("statsd:\n  __proto__: {max_metrics: 0}\n"), "F: statsd.__proto__: unknown key");
    assert.deepEqual(loadConfig([]), DEFAULTS);
  });
});

describe("wrong types", () => {
  const cases: [string, string][] = [
    ["data_dir: 5\n", "F: data_dir: expected a directory path, got 5"],
    ["data_dir: ''\n", 'F: data_dir: expected a directory path, got ""'],
    ["statsd: []\n", "F: statsd: expected a mapping, got a list"],
    ["statsd:\n", "F: statsd: expected a mapping, got an empty value"],
    ["statsd:\n  key_sanitize: 'yes'\n", 'F: statsd.key_sanitize: expected true or false, got "yes"'],
    ["statsd:\n  percentiles: 90\n", "F: statsd.percentiles: expected a list of percentiles, got 90"],
    ["statsd:\n  percentiles: ['90']\n", 'F: statsd.percentiles[0]: expected a percentile in [-100, 100] other than 0, got "90"'],
    ["statsd:\n  max_metrics: many\n", 'F: statsd.max_metrics: expected a whole number ≥ 1, got "many"'],
    ["statsd:\n  udp: '127.0.0.1:8125'\n", 'F: statsd.udp: expected a list of addresses, got "127.0.0.1:8125"'],
    ["statsd:\n  histograms: {match: a}\n", "F: statsd.histograms: expected a list of {match, bins}, got a mapping"],
    ["statsd:\n  histograms: [5]\n", "F: statsd.histograms[0]: expected a mapping with match and bins, got 5"],
    ["statsd:\n  histograms: [{bins: [1]}]\n", "F: statsd.histograms[0].match: expected a string, got nothing"],
    ["statsd:\n  recv_buffer: [1]\n", "F: statsd.recv_buffer: expected a size (100B, 512KiB, 8MiB, 1GiB, 64KB, 8MB, or a number of bytes), got a list"],
    ["flush_interval: true\n", "F: flush_interval: expected a duration (500ms, 10s, 5m, 1h, 1d, or a number of milliseconds), got true"],
    ["console:\n  enabled: 1\n", "F: console.enabled: expected true or false, got 1"],
    ["graphite:\n  destinations: [2003]\n", "F: graphite.destinations[0]: expected a host and port (carbon.example.com:2003, 10.0.0.5:2003, [::1]:2003), or {host, port, protocol: plaintext|pickle, instance}, got 2003"],
  ];
  for (const [text, expected] of cases) {
    test(expected, () => assert.equal(problemOf(text), expected));
  }
});

describe("rules", () => {
  test("flush_interval is at least 100ms", () => {
    assert.equal(load("flush_interval: 100ms\n").flush_interval, 100);
    assert.equal(problemOf("flush_interval: 50ms\n"), 'F: flush_interval: expected a duration of at least 100ms, got "50ms"');
    assert.equal(problemOf("flush_interval: 99\n"), "F: flush_interval: expected a duration of at least 100ms, got 99");
  });
  test("tcp_idle_timeout may be 0 (never); connect_timeout may not", () => {
    assert.equal(load("statsd:\n  tcp_idle_timeout: 0\n").statsd.tcp_idle_timeout, 0);
    assert.equal(problemOf("graphite:\n  connect_timeout: 0s\n"), 'F: graphite.connect_timeout: expected a duration of at least 1ms, got "0s"');
  });
  test("sizes are at least one byte", () => {
    assert.equal(problemOf("statsd:\n  recv_buffer: 0\n"), "F: statsd.recv_buffer: expected a size of at least 1B, got 0");
    assert.equal(problemOf("statsd:\n  tcp_max_line: 0B\n"), 'F: statsd.tcp_max_line: expected a size of at least 1B, got "0B"');
  });
  test("percentiles: [-100, 100], not 0, no duplicates", () => {
    assert.deepEqual(load("statsd:\n  percentiles: [-10, 50, 99.9, 100, -100]\n").statsd.percentiles, [-10, 50, 99.9, 100, -100]);
    assert.deepEqual(load("statsd:\n  percentiles: []\n").statsd.percentiles, []);
    const what = "expected a percentile in [-100, 100] other than 0";
    assert.equal(problemOf("statsd:\n  percentiles: [0]\n"), `F: statsd.percentiles[0]: ${what}, got 0`);
    assert.equal(problemOf("statsd:\n  percentiles: [90, 100.5]\n"), `F: statsd.percentiles[1]: ${what}, got 100.5`);
    assert.equal(problemOf("statsd:\n  percentiles: [-101]\n"), `F: statsd.percentiles[0]: ${what}, got -101`);
    assert.equal(problemOf("statsd:\n  percentiles: [90, 95, 90]\n"), "F: statsd.percentiles[2]: expected a percentile different from [0], got 90");
    assert.equal(problemOf("statsd:\n  percentiles: [0, 0]\n"), `F: statsd.percentiles[0]: ${what}, got 0\nF: statsd.percentiles[1]: ${what}, got 0`);
  });
  test("histograms: ascending bins, \"inf\" last", () => {
    assert.deepEqual(load("statsd:\n  histograms:\n    - {match: api, bins: [0.5, 1, 10, inf]}\n    - {match: '', bins: []}\n").statsd.histograms, [
      { match: "api", bins: [0.5, 1, 10, Infinity] },
      { match: "", bins: [] },
    ]);
    assert.equal(problemOf("statsd:\n  histograms: [{match: a, bins: [1, 5, 5]}]\n"), "F: statsd.histograms[0].bins[2]: expected a bin above 5, got 5");
    assert.equal(problemOf("statsd:\n  histograms: [{match: a, bins: [10, 2]}]\n"), "F: statsd.histograms[0].bins[1]: expected a bin above 10, got 2");
    assert.equal(
      problemOf("statsd:\n  histograms: [{match: a, bins: [inf, 5]}]\n"),
      'F: statsd.histograms[0].bins[0]: expected "inf" only as the last bin, got "inf"',
    );
    assert.equal(problemOf("statsd:\n  histograms: [{match: a, bins: [1, big]}]\n"), 'F: statsd.histograms[0].bins[1]: expected a number or "inf", got "big"');
  });
  test("calculated_timer_metrics are etsy's names", () => {
    assert.deepEqual(load(`statsd:\n  calculated_timer_metrics: [${TIMER_METRICS.join(", ")}]\n`).statsd.calculated_timer_metrics, [...TIMER_METRICS]);
    assert.equal(TIMER_METRICS.length, 16);
    assert.equal(
      problemOf("statsd:\n  calculated_timer_metrics: [count, avg]\n"),
      `F: statsd.calculated_timer_metrics[1]: expected one of ${TIMER_METRICS.join(", ")}, got "avg"`,
    );
  });
  test("integers ≥ 1: gauges_max_ttl, max_metrics, tcp_max_connections, max_key_length", () => {
    assert.equal(load("statsd:\n  gauges_max_ttl: 3\n").statsd.gauges_max_ttl, 3);
    assert.equal(problemOf("statsd:\n  gauges_max_ttl: 0\n"), "F: statsd.gauges_max_ttl: expected a whole number ≥ 1, got 0");
    assert.equal(problemOf("statsd:\n  gauges_max_ttl: 1.5\n"), "F: statsd.gauges_max_ttl: expected a whole number ≥ 1, got 1.5");
    assert.equal(problemOf("statsd:\n  max_metrics: -1\n"), "F: statsd.max_metrics: expected a whole number ≥ 1, got -1");
    assert.equal(problemOf("statsd:\n  tcp_max_connections: 0\n"), "F: statsd.tcp_max_connections: expected a whole number ≥ 1, got 0");
    assert.equal(problemOf("statsd:\n  max_key_length: 0\n"), "F: statsd.max_key_length: expected a whole number ≥ 1, got 0");
  });
  test("prefix_stats is a non-empty metric path segment; graphite prefixes may be empty", () => {
    assert.equal(load("statsd:\n  prefix_stats: tally.self-stats_1\n").statsd.prefix_stats, "tally.self-stats_1");
    assert.equal(problemOf("statsd:\n  prefix_stats: ''\n"), 'F: statsd.prefix_stats: expected a non-empty name of A-Z a-z 0-9 _ . -, got ""');
    assert.equal(problemOf("statsd:\n  prefix_stats: my stats\n"), 'F: statsd.prefix_stats: expected a non-empty name of A-Z a-z 0-9 _ . -, got "my stats"');
    const g = load("graphite:\n  global_prefix: ''\n  prefix_counter: ''\n  global_suffix: host1\n").graphite;
    assert.deepEqual([g.global_prefix, g.prefix_counter, g.global_suffix], ["", "", "host1"]);
    assert.equal(
      problemOf("graphite:\n  global_suffix: a/b\n"),
      'F: graphite.global_suffix: expected a name of A-Z a-z 0-9 _ . - (or "" for none), got "a/b"',
    );
  });
  test("carbon destinations: protocol and instance, as carbon's DESTINATIONS", () => {
    const c = load("graphite:\n  routing: all\n  destinations: ['127.0.0.1:2003', {host: '127.0.0.1', port: 2004, protocol: pickle, instance: a}]\n").graphite;
    assert.equal(c.routing, "all");
    assert.deepEqual(c.destinations[1], { host: "127.0.0.1", port: 2004, family: 4, protocol: "pickle", instance: "a" });
    assert.equal(
      problemOf("graphite:\n  destinations: [{host: h, port: 1, protocol: udp}]\n"),
      "F: graphite.destinations[0]: expected a host and port (carbon.example.com:2003, 10.0.0.5:2003, [::1]:2003), or {host, port, protocol: plaintext|pickle, instance}, got a mapping",
    );
    assert.deepEqual(loadConfig([file(formatConfig(loadConfig([file("graphite:\n  destinations: [{host: '::1', port: 2004, protocol: pickle}]\n")])))]).graphite.destinations, [
      { host: "::1", port: 2004, family: 6, protocol: "pickle", instance: null },
    ]);
  });
  test("consistent hashing needs distinct instances on one host, as carbon-relay does", () => {
    assert.equal(
      problemOf("graphite:\n  destinations: ['127.0.0.1:2003', '127.0.0.1:2103']\n"),
      'F: graphite.destinations[1]: expected an instance name distinct from the other destinations on this host (consistent hashing keys on host and instance), got "127.0.0.1:2103"',
    );
    assert.equal(load("graphite:\n  routing: all\n  destinations: ['127.0.0.1:2003', '127.0.0.1:2103']\n").graphite.destinations.length, 2);
  });
  test("graphite destinations keep hostnames; the flusher is off by default", () => {
    const plain = { protocol: "plaintext", instance: null };
    assert.deepEqual(load("graphite:\n  destinations: ['carbon.example.com:2003', '[::1]:2004', 'localhost:2005']\n").graphite.destinations, [
      { host: "carbon.example.com", port: 2003, family: 4, ...plain },
      { host: "::1", port: 2004, family: 6, ...plain },
      { host: "localhost", port: 2005, family: 4, ...plain },
    ]);
    assert.deepEqual(loadConfig([]).graphite.destinations, []);
  });
  test("statsd listeners bind IPs: hostnames other than localhost are an error", () => {
    assert.equal(
      problemOf("statsd:\n  tcp: ['example.com:8125']\n"),
      'F: statsd.tcp[0]: expected an IP address and port (127.0.0.1:8125, [::1]:8125, 0.0.0.0:8125, localhost:8125), got "example.com:8125"',
    );
  });
  test("the same address twice in udp or tcp is an error; udp and tcp may share one", () => {
    assert.equal(problemOf("statsd:\n  udp: ['localhost:8125', '127.0.0.1:8125']\n"), 'F: statsd.udp[1]: expected an address different from [0], got "127.0.0.1:8125"');
    assert.equal(problemOf("statsd:\n  tcp: ['[::1]:1', '0.0.0.0:1', '[::1]:1']\n"), 'F: statsd.tcp[2]: expected an address different from [0], got "[::1]:1"');
    const c = load("statsd:\n  udp: ['127.0.0.1:8125', '127.0.0.1:0', '127.0.0.1:0']\n  tcp: ['127.0.0.1:8125']\n");
    assert.equal(c.statsd.udp.length, 3); // port 0 is a fresh ephemeral port each time
  });
  test("delete_idle: a boolean sets all four (etsy's deleteIdleStats)", () => {
    assert.deepEqual(load("statsd:\n  delete_idle: true\n").statsd.delete_idle, { counters: true, timers: true, gauges: true, sets: true });
    assert.deepEqual(load("statsd:\n  delete_idle: false\n").statsd.delete_idle, DEFAULTS.statsd.delete_idle);
    assert.deepEqual(load("statsd:\n  delete_idle: {gauges: true}\n").statsd.delete_idle, { counters: false, timers: false, gauges: true, sets: false });
    assert.equal(
      problemOf("statsd:\n  delete_idle: 'yes'\n"),
      'F: statsd.delete_idle: expected true, false, or a mapping of counters, timers, gauges, sets, got "yes"',
    );
    assert.equal(problemOf("statsd:\n  delete_idle: {sets: 1}\n"), "F: statsd.delete_idle.sets: expected true or false, got 1");
  });
  test("all problems are reported, one per line", () => {
    const err = (() => {
      try {
        load("flush_interval: 1\nstatsd:\n  max_metrics: 0\n  nope: 1\n");
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ConfigError);
    assert.equal(err.name, "ConfigError");
    assert.equal(err.problems.length, 3);
    assert.equal(err.message.split("\n").length, 3);
  });
});

describe("files", () => {
  test("a YAML syntax error names the file, line and column", () => {
    assert.equal(
      problemOf("statsd:\n  percentiles: [90, 95\n  max_metrics: 5\n"),
      "F:3:3: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
    );
    assert.equal(problemOf("a: 1\nstatsd: {}\nstatsd: {}\n"), "F:3:1: invalid YAML: Map keys must be unique");
    assert.equal(problemOf("console:\n  enabled: true\n\tstatsd: {}\n"), "F:3:1: invalid YAML: Tabs are not allowed as indentation");
  });
  test("one document per file", () => {
    assert.equal(problemOf("console: {}\n---\nstatsd: {}\n"), "F:2:1: invalid YAML: expected one YAML document, found several");
  });
  test("the top level must be a mapping", () => {
    assert.equal(problemOf("- statsd\n"), "F: expected a mapping of settings at the top level, got a list");
    assert.equal(problemOf("hello\n"), 'F: expected a mapping of settings at the top level, got "hello"');
  });
  test("an unreadable file", () => {
    const missing = join(dir, "missing.yaml");
    assert.equal(problems(missing), `${missing}: cannot read: ENOENT: no such file or directory`);
    assert.equal(problems(dir), `${dir}: cannot read: EISDIR: illegal operation on a directory, read`);
  });
  test("read and syntax problems of every file are reported before validation", () => {
    const bad = file("a: [\n");
    const missing = join(dir, "missing.yaml");
    const invalid = file("statsd: 5\n");
    const lines = problems(bad, missing, invalid).split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, new RegExp(`^${bad.replace(/[.\\]/g, "\\$&")}:2:1: invalid YAML: `));
    assert.equal(lines[1], `${missing}: cannot read: ENOENT: no such file or directory`);
  });
});

describe("store schemas", () => {
  test("each wrong part is named: the regex and why, the step forms, steps, the type the source allows", () => {
    const text = `store:
  schemas:
    - {name: x, match: "a(", type: count, intervals: {m: {step: 1mon, steps: 0}}}
    - {name: y, match: "a", source: set_members, type: count, intervals: {}}
    - {name: x, match: [], type: gauge, intervals: {}}
`;
    const path = file(text);
    const lines = problems(path).split(path).join("F").split("\n");
    assert.deepEqual(lines, [
      'F: store.schemas[0].match[0]: expected a valid regular expression (/a(/: Unterminated group), got "a("',
      'F: store.schemas[0].intervals.m.step: expected a step (10s, 1m, 1h, 1d, a number of seconds, or daily, weekly, monthly, yearly), got "1mon"',
      "F: store.schemas[0].intervals.m.steps: expected a whole number ≥ 1, got 0",
      'F: store.schemas[1].type: expected set for source set_members, got "count"',
      "F: store.schemas[2].match: expected at least one regular expression, got a list",
    ]);
  });
  test("names are unique", () => {
    assert.equal(
      problemOf("store:\n  schemas:\n    - {name: x, match: a, type: count, intervals: {}}\n    - {name: x, match: b, type: gauge, intervals: {}}\n"),
      'F: store.schemas[1]: expected a schema name different from [0], got "x"',
    );
  });
});

describe("formatConfig", () => {
  test("the defaults print in human units and load back unchanged", () => {
    const text = formatConfig(loadConfig([]));
    for (const line of ["flush_interval: 10s", "  recv_buffer: 8MiB", "  tcp_max_line: 64KiB", "  tcp_idle_timeout: 5m", "  connect_timeout: 5s", "    - 127.0.0.1:8125", '  global_suffix: ""']) {
      assert.ok(text.split("\n").includes(line), `missing ${JSON.stringify(line)} in:\n${text}`);
    }
    assert.deepEqual(load(text), DEFAULTS);
  });
  test("a config with every section changed round-trips", () => {
    const config = load(`
data_dir: /var/lib/tally
flush_interval: 1500
statsd:
  udp: ['[::1]:8125', '0.0.0.0:0']
  tcp: []
  recv_buffer: 1000000
  max_metrics: 50
  max_key_length: 200
  tcp_max_connections: 3
  tcp_max_line: 1GiB
  tcp_idle_timeout: 0
  percentiles: [-10, 99.9]
  histograms: [{match: api., bins: [0.1, 1, inf]}, {match: '', bins: []}]
  calculated_timer_metrics: [count, histogram]
  delete_idle: {gauges: true, sets: true}
  gauges_max_ttl: 4
  key_sanitize: false
  prefix_stats: tally
graphite:
  destinations: ['carbon.example.com:2003', '[2001:db8::1]:2004']
  legacy_namespace: false
  global_prefix: ''
  prefix_counter: c
  prefix_timer: t
  prefix_gauge: g
  prefix_set: s
  global_suffix: host1
  flush_counts: false
  connect_timeout: 2d
console:
  enabled: true
store:
  path: /var/lib/tally/store.db
  schemas:
    - {name: lat, match: '^api\\.', source: timer_samples, type: histogram, precision: 2, intervals: {m: {step: 60, steps: 10}, mon: {step: monthly, steps: 12}}}
    - {name: drop, match: [a, b], type: count, intervals: {}}
http: {listen: ['127.0.0.1:0']}
carbon: {listen: ['127.0.0.1:2003'], pickle_listen: ['127.0.0.1:2004'], max_points: 10}
`);
    assert.deepEqual(config.store.schemas[0]!.intervals, [{ name: "m", step: 60, steps: 10 }, { name: "mon", step: "monthly", steps: 12 }]);
    assert.deepEqual(config.store.schemas[1]!.match, ["a", "b"]);
    const text = formatConfig(config);
    assert.match(text, /^ {10}step: 1m$/m);
    assert.match(text, /^flush_interval: 1500ms$/m);
    assert.match(text, /^  recv_buffer: 1MB$/m);
    assert.match(text, /^  tcp_idle_timeout: 0ms$/m);
    assert.match(text, /^  connect_timeout: 2d$/m);
    assert.match(text, /- inf\b|, inf\b/);
    assert.match(text, /"?\[::1\]:8125"?/);
    assert.deepEqual(load(text), config);
    assert.equal(formatConfig(load(text)), text);
  });
});
