/** Wrapper around bench/loadgen.c: compiled once per run, executed pinned to core 1. */
import { join } from "node:path";
import { runCommand } from "./proc.js";

export async function buildLoadgen(root: string, dir: string): Promise<string> {
  const bin = join(dir, "loadgen");
  await runCommand("cc", ["-O2", "-o", bin, join(root, "bench/loadgen.c")], 60_000);
  return bin;
}

export interface LoadResult {
  sent: number; // datagrams
  seconds: number;
}

/** Sends `count` datagrams from `file` at `rate` datagrams/s. */
export async function runLoad(bin: string, file: string, port: number, rate: number, count: number): Promise<LoadResult> {
  const nominal = count / rate;
  // Generous bound: a slow generator is reported as such, a stuck one must not hang the bench.
  const out = await runCommand("taskset", ["-c", "1", bin, file, "127.0.0.1", String(port), String(rate), String(count)], nominal * 3000 + 10_000);
  const m = /sent=(\d+) seconds=([\d.]+)/.exec(out);
  if (!m) throw new Error(`unexpected loadgen output: ${out}`);
  return { sent: Number(m[1]), seconds: Number(m[2]) };
}
