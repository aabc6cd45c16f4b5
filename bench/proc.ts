/** Child-process and timing helpers: every child the bench starts is tracked so it can be killed
 * on any exit path, and every wait is bounded. */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

const live = new Set<ChildProcess>();

/** Spawns in its own process group (detached) so cleanup can signal the child and anything it
 * forked, by the child's id. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts, detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  return child;
}

/** Signals the child's process group. While any member is alive the group id cannot be reused,
 * so this reaches only the child and what it forked, even after the child itself has exited. */
function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    /* group already gone */
  }
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
}

/** SIGTERM to the child itself (servers flush/exit on it), SIGKILL to its group after graceMs. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  }
  const done = await withTimeout(exited(child), graceMs);
  if (!done) {
    signalGroup(child, "SIGKILL");
    await withTimeout(exited(child), 2000);
  }
  signalGroup(child, "SIGKILL"); // leftovers the child may have forked
}

/** Synchronous last resort for exit/signal handlers. */
export function killAllChildren(): void {
  for (const child of live) signalGroup(child, "SIGKILL");
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves true if p settles within ms, false otherwise (p keeps running). */
export async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls cond every stepMs until it holds or ms elapse; returns whether it held. */
export async function pollUntil(cond: () => boolean, ms: number, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}

/** Runs a command to completion with a hard timeout; rejects on non-zero exit or timeout. */
export async function runCommand(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  const child = spawnTracked(cmd, args);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const ok = await withTimeout(exited(child), timeoutMs);
  if (!ok) {
    await stopChild(child, 500);
    throw new Error(`${cmd} timed out after ${timeoutMs} ms`);
  }
  if (child.exitCode !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${child.exitCode ?? child.signalCode}): ${err.trim()}`);
  return out;
}

/** Returns a getter for the last `max` characters a stream produced (for error messages). */
export function tail(stream: NodeJS.ReadableStream | null | undefined, max = 4000): () => string {
  let buf = "";
  stream?.on("data", (d: Buffer) => {
    buf = (buf + d.toString()).slice(-max);
  });
  return () => buf;
}
