/**
 * Loading the config: read each YAML file, deep-merge them in order (later files win key by key;
 * mappings merge, lists and scalars are replaced), remember which file supplied each key, then
 * validate with the schema. Every problem names its file and key path.
 */

import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, stringify } from "yaml";
import { formatKeyPath, validateConfig, type KeyPath } from "./schema.js";
import type { Config } from "./types.js";
import { describeValue, formatAddress, formatCarbonDestination, formatCidr, formatDuration, formatSize } from "./units.js";
import { formatStep } from "../../storage/step.js";

/** Every problem found, one per line: "<file>: <key path>: expected <what>, got <value>". */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

type Mapping = Record<string, unknown>;

/** The effective config of `files` merged in order; `[]` gives the embedded defaults. Throws ConfigError. */
export function loadConfig(files: string[]): Config {
  const problems: string[] = [];
  const origin = new Map<string, string>(); // dotted key path → the file that supplied it
  let merged: Mapping = {};
  for (const file of files) {
    const content = readConfigFile(file, problems);
    if (content !== undefined) merged = merge(merged, content, file, [], origin) as Mapping;
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const result = validateConfig(merged);
  if (result.ok) return result.config;
  throw new ConfigError(result.issues.map((i) => `${originOf(i.path, origin) ?? files.join(", ")}: ${formatKeyPath(i.path)}: ${i.message}`));
}

/** The effective config as YAML in human units; `loadConfig` reads it back to the same Config. */
export function formatConfig(config: Config): string {
  const { statsd, graphite } = config;
  return stringify({
    ...config,
    flush_interval: formatDuration(config.flush_interval),
    statsd: {
      ...statsd,
      udp: statsd.udp.map(formatAddress),
      tcp: statsd.tcp.map(formatAddress),
      recv_buffer: formatSize(statsd.recv_buffer),
      tcp_max_line: formatSize(statsd.tcp_max_line),
      tcp_idle_timeout: formatDuration(statsd.tcp_idle_timeout),
      histograms: statsd.histograms.map((h) => ({ match: h.match, bins: h.bins.map((b) => (b === Infinity ? "inf" : b)) })),
    },
    graphite: {
      ...graphite,
      destinations: graphite.destinations.map(formatCarbonDestination),
      connect_timeout: formatDuration(graphite.connect_timeout),
      write_timeout: formatDuration(graphite.write_timeout),
      spool_max_bytes: formatSize(graphite.spool_max_bytes),
    },
    admin: { listen: config.admin.listen.map(formatAddress) },
    xmlrpc: {
      ...config.xmlrpc,
      listen: config.xmlrpc.listen.map(formatAddress),
      allow: config.xmlrpc.allow.map(formatCidr),
      request_timeout: formatDuration(config.xmlrpc.request_timeout),
    },
    nsca: {
      ...config.nsca,
      timeout: formatDuration(config.nsca.timeout),
      min_interval: formatDuration(config.nsca.min_interval),
      heartbeat: formatDuration(config.nsca.heartbeat),
      spool_warning_bytes: formatSize(config.nsca.spool_warning_bytes),
    },
    store: {
      ...config.store,
      schemas: config.store.schemas.map((s) => ({
        ...s,
        intervals: Object.fromEntries(s.intervals.map((i) => [i.name, { step: formatStep(i.step), steps: i.steps }])),
      })),
    },
    http: { listen: config.http.listen.map(formatAddress) },
    carbon: { ...config.carbon, listen: config.carbon.listen.map(formatAddress), pickle_listen: config.carbon.pickle_listen.map(formatAddress) },
  });
}

/** One file's top-level mapping, or undefined after pushing its problems. An empty file is `{}`. */
function readConfigFile(file: string, problems: string[]): Mapping | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    // "ENOENT: no such file or directory, open '/x.yaml'" → drop the syscall and the repeated path
    problems.push(`${file}: cannot read: ${(err as Error).message.replace(/, \w+ '.*'$/, "")}`);
    return undefined;
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      const message = e.code === "MULTIPLE_DOCS" ? "expected one YAML document, found several" : e.message;
      problems.push(`${file}:${line}:${col}: invalid YAML: ${message}`);
    }
    return undefined;
  }
  const content: unknown = doc.toJS();
  if (content === null || content === undefined) return {};
  if (isMapping(content)) return content;
  problems.push(`${file}: expected a mapping of settings at the top level, got ${describeValue(content)}`);
  return undefined;
}

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/** Deep-merge `over` onto `base`, recording in `origin` the file of every key path that `over` sets. */
function merge(base: unknown, over: unknown, file: string, path: KeyPath, origin: Map<string, string>): unknown {
  const at = formatKeyPath(path);
  origin.set(at, file);
  if (!isMapping(base) || !isMapping(over)) {
    // replaced wholesale: forget where the old contents came from
    for (const key of origin.keys()) if (key.startsWith(`${at}.`) || key.startsWith(`${at}[`)) origin.delete(key);
  }
  if (!isMapping(over)) return over;
  const out: Mapping = isMapping(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(over)) {
    // defineProperty: a "__proto__" key stays a plain (unknown) key
    Object.defineProperty(out, key, { value: merge(Object.hasOwn(out, key) ? out[key] : undefined, value, file, [...path, key], origin), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The file that supplied `path` or its nearest recorded ancestor (a list is supplied whole). */
function originOf(path: KeyPath, origin: Map<string, string>): string | undefined {
  for (let n = path.length; n > 0; n--) {
    const file = origin.get(formatKeyPath(path.slice(0, n)));
    if (file !== undefined) return file;
  }
  return undefined;
}
