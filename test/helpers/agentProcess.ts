import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../agent/cli.js', import.meta.url));

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'tally-test-'));
}

/** Writes a YAML config to a temp file and returns its path. */
export function configFile(yaml: string, dir = tempDir()): string {
  const file = path.join(dir, 'tally.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** `tally agent` as a child process, as a user runs it. */
export class AgentProcess {
  stdout = '';
  stderr = '';
  udpPort = 0;
  tcpPort = 0;
  adminPort = 0;
  xmlrpcPort = 0;
  httpPort = 0;
  readonly exited: Promise<number | null>;

  private constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  }

  /** Starts the agent and waits for its ready line, which gives the ports it bound. It runs in
   * `cwd`, by default a fresh directory, so the default data_dir ./data is its own. */
  static async start(args: string[], ms = 10_000, cwd = tempDir()): Promise<AgentProcess> {
    const a = new AgentProcess(spawn(process.execPath, [CLI, 'agent', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd }));
    const deadline = Date.now() + ms;
    while (!a.stderr.includes('tally agent ready')) {
      if (a.proc.exitCode !== null || Date.now() > deadline) {
        a.proc.kill('SIGKILL');
        throw new Error(`agent did not start (exit ${a.proc.exitCode}):\n${a.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    a.udpPort = Number(/udp 127\.0\.0\.1:(\d+)/.exec(a.stderr)?.[1] ?? 0);
    a.tcpPort = Number(/tcp 127\.0\.0\.1:(\d+)/.exec(a.stderr)?.[1] ?? 0);
    a.adminPort = Number(/admin 127\.0\.0\.1:(\d+)/.exec(a.stderr)?.[1] ?? 0);
    a.xmlrpcPort = Number(/xmlrpc 127\.0\.0\.1:(\d+)/.exec(a.stderr)?.[1] ?? 0);
    a.httpPort = Number(/http 127\.0\.0\.1:(\d+)/.exec(a.stderr)?.[1] ?? 0);
    return a;
  }

  /** Sends a signal and waits for the exit code (SIGKILL after `ms`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 12_000): Promise<number | null> {
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** Runs the CLI to completion. */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tempDir() });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
