/**
 * Human units of the config file: durations, byte sizes and addresses, parsed into the numbers and
 * records of `Config` and formatted back for printing. Each parser throws a `UnitError` whose
 * `expected` says what form was wanted; its message reads "expected <what>, got <value>".
 */

import { isIPv4, isIPv6 } from "node:net";
import type { Cidr, Destination, ListenAddress } from "./types.js";

export class UnitError extends Error {
  constructor(
    readonly expected: string,
    readonly value: unknown,
  ) {
    super(`expected ${expected}, got ${describeValue(value)}`);
    this.name = "UnitError";
  }
}

/** A config value as an error message shows it: strings quoted, containers by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing"; // a required key that is missing
  if (value === null) return "an empty value";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return Number.isNaN(value) ? ".nan" : value === Infinity ? ".inf" : value === -Infinity ? "-.inf" : String(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

// ---- durations -------------------------------------------------------------------------------

const DURATION_UNITS: ReadonlyArray<readonly [string, number]> = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
  ["ms", 1],
];

export const DURATION_FORMS = "a duration (500ms, 10s, 5m, 1h, 1d, or a number of milliseconds)";

/** "500ms" | "10s" | "5m" | "1h" | "1d" | "1.5s" | a whole number of milliseconds → milliseconds. */
export function parseDuration(value: unknown): number {
  return parseScaled(value, DURATION_UNITS, DURATION_FORMS);
}

/** Milliseconds → the largest unit that divides them exactly: 10000 → "10s", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  return formatScaled(ms, DURATION_UNITS);
}

// ---- byte sizes ------------------------------------------------------------------------------

const SIZE_UNITS: ReadonlyArray<readonly [string, number]> = [
  ["TiB", 1024 ** 4],
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
  ["TB", 1000 ** 4],
  ["GB", 1000 ** 3],
  ["MB", 1000 ** 2],
  ["KB", 1000],
  ["B", 1],
];

export const SIZE_FORMS = "a size (100B, 512KiB, 8MiB, 1GiB, 64KB, 8MB, or a number of bytes)";

/** "8MiB" | "512KiB" | "1GiB" (powers of 1024) | "64KB" | "8MB" (powers of 1000) | "100B" | bytes → bytes. */
export function parseSize(value: unknown): number {
  return parseScaled(value, SIZE_UNITS, SIZE_FORMS);
}

/** Bytes → the exact form with the smallest number, binary units first: 8388608 → "8MiB", 64000 → "64KB". */
export function formatSize(bytes: number): string {
  return formatScaled(bytes, SIZE_UNITS);
}

/** Shared by durations and sizes: "<number><unit>" or a bare number; the result must be a whole number ≥ 0. */
function parseScaled(value: unknown, units: ReadonlyArray<readonly [string, number]>, forms: string): number {
  let result: number | undefined;
  if (typeof value === "number") {
    result = value;
  } else if (typeof value === "string") {
    const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(value.trim());
    const scale = m === null ? undefined : m[2] === "" ? 1 : units.find(([name]) => name === m[2])?.[1];
    // rounded to 1e-6 so that binary fractions land on whole numbers: "1.005s" → 1005, not 1004.999…
    if (m !== null && scale !== undefined) result = Math.round(Number(m[1]) * scale * 1e6) / 1e6;
  }
  if (result === undefined || !Number.isSafeInteger(result) || result < 0) throw new UnitError(forms, value);
  return result;
}

function formatScaled(n: number, units: ReadonlyArray<readonly [string, number]>): string {
  let best: readonly [string, number] = units[units.length - 1]!; // the unit of 1
  for (const unit of units) if (n % unit[1] === 0 && n / unit[1] < n / best[1]) best = unit;
  return `${n / best[1]}${best[0]}`;
}

// ---- addresses -------------------------------------------------------------------------------

export const LISTEN_FORMS = "an IP address and port (127.0.0.1:8125, [::1]:8125, 0.0.0.0:8125, localhost:8125)";
export const DESTINATION_FORMS = "a host and port (carbon.example.com:2003, 10.0.0.5:2003, [::1]:2003)";

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** "127.0.0.1:8125" | "[::1]:8125" | "localhost:8125" (→ 127.0.0.1); port 0–65535; other hostnames are an error. */
export function parseListenAddress(value: unknown): ListenAddress {
  const split = splitHostPort(value, 0);
  if (split === undefined) throw new UnitError(LISTEN_FORMS, value);
  const [host, port, bracketed] = split;
  if (!bracketed && host.toLowerCase() === "localhost") return { host: "127.0.0.1", port, family: 4 };
  if (bracketed ? isIPv6(host) : isIPv4(host)) return { host, port, family: bracketed ? 6 : 4 };
  throw new UnitError(LISTEN_FORMS, value);
}

/** A carbon destination "host:port" (port 1–65535): hostnames are kept as written, IPv6 literals in brackets. */
export function parseDestination(value: unknown): ListenAddress {
  const split = splitHostPort(value, 1);
  if (split === undefined) throw new UnitError(DESTINATION_FORMS, value);
  const [host, port, bracketed] = split;
  if (bracketed ? isIPv6(host) : isIPv4(host) || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) return { host, port, family: bracketed ? 6 : 4 };
  throw new UnitError(DESTINATION_FORMS, value);
}

/** { host: "::1", port: 8125, family: 6 } → "[::1]:8125"; IPv4 and hostnames → "host:port". */
export function formatAddress(address: ListenAddress): string {
  return address.family === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** "host:port" or "[v6]:port" → [host, port, bracketed], or undefined when malformed or the port is out of range. */
function splitHostPort(value: unknown, minPort: number): [string, number, boolean] | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < minPort || port > 65535) return undefined;
  return m[1] !== undefined ? [m[1], port, true] : [m[2]!, port, false];
}

export const CIDR_FORMS = "an IP network (127.0.0.0/8, ::1/128, 10.1.2.3)";

/** "10.0.0.0/8", "::1/128", or a bare address (a single host). */
export function parseCidr(value: unknown): Cidr {
  if (typeof value !== "string") throw new UnitError(CIDR_FORMS, value);
  const [address = "", bits, extra] = value.split("/");
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) throw new UnitError(CIDR_FORMS, value);
  return { address, prefix, family };
}

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

export const CARBON_FORMS = `${DESTINATION_FORMS}, or {host, port, protocol: plaintext|pickle, instance}`;

/** A carbon destination: "host:port" (plaintext), or a mapping with the protocol and carbon's instance name. */
export function parseCarbonDestination(value: unknown): Destination {
  if (typeof value === "string") return { ...parseDestination(value), protocol: "plaintext", instance: null };
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UnitError(CARBON_FORMS, value);
  const { host, port, protocol = "plaintext", instance = null, ...rest } = value as Record<string, unknown>;
  const ok =
    Object.keys(rest).length === 0 &&
    typeof host === "string" &&
    Number.isInteger(port) &&
    (protocol === "plaintext" || protocol === "pickle") &&
    (instance === null || (typeof instance === "string" && /^[A-Za-z0-9_.-]+$/.test(instance)));
  if (!ok) throw new UnitError(CARBON_FORMS, value);
  const address = parseDestination(isIPv6(host as string) ? `[${host as string}]:${port as number}` : `${host as string}:${port as number}`);
  return { ...address, protocol, instance: instance as string | null };
}

/** Back to the shortest form parseCarbonDestination reads. */
export function formatCarbonDestination(d: Destination): string | Record<string, unknown> {
  if (d.protocol === "plaintext" && d.instance === null) return formatAddress(d);
  return { host: d.host, port: d.port, protocol: d.protocol, ...(d.instance === null ? {} : { instance: d.instance }) };
}
