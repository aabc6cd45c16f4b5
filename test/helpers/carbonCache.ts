import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './agentProcess.js';
import { freePort, waitForPort } from './freePort.js';

const exec = promisify(execFile);
export const CARBON_CACHE = '/usr/bin/carbon-cache';
export const carbonAvailable = existsSync(CARBON_CACHE) && existsSync('/usr/bin/whisper-fetch');

/** A real carbon-cache (Debian graphite-carbon) on loopback, its own config and whisper files in a temp dir, 1 s resolution. */
export class CarbonCache {
  private proc: ChildProcess | null = null;
  output = '';

  private constructor(
    readonly dir: string,
    readonly linePort: number,
    readonly picklePort: number,
    readonly instance: string,
  ) {}

  static async start(instance = 'a'): Promise<CarbonCache> {
    const dir = tempDir();
    const c = new CarbonCache(dir, await freePort(), await freePort(), instance);
    const queryPort = await freePort();
    writeCarbonConf(
      dir,
      `ENABLE_TAGS = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
ENABLE_UDP_LISTENER = False
WHISPER_AUTOFLUSH = True

[cache:${instance}]
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = ${c.linePort}
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = ${c.picklePort}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = ${queryPort}
`,
    );
    await c.run();
    return c;
  }

  /** Starts again on the same ports and whisper files, after stop(). */
  async run(): Promise<void> {
    const d = this.dir;
    const instance = this.instance;
    this.proc = spawnCarbon(CARBON_CACHE, d, [`--instance=${instance}`], (t) => (this.output += t));
    await waitForPort(this.linePort);
  }

  /** The datapoints whisper holds for `metric` in (from, until] (whisper's own bounds): [ts, value], nulls left out. */
  async fetch(metric: string, from: number, until: number): Promise<[number, number][]> {
    const file = path.join(this.dir, 'storage/whisper', ...metric.split('.')) + '.wsp';
    if (!existsSync(file)) return [];
    const { stdout } = await exec('/usr/bin/whisper-fetch', ['--json', `--from=${from}`, `--until=${until}`, file]);
    const { start, step, values } = JSON.parse(stdout) as { start: number; step: number; values: (number | null)[] };
    return values.flatMap((v, i): [number, number][] => (v === null ? [] : [[start + i * step, v]]));
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  }
}

/** A private carbon config in `dir` (storage, logs and pid there; 1 s points kept an hour): the
 * [cache] paths, then `more`, settings and sections. */
export function writeCarbonConf(dir: string, more: string): void {
  for (const d of ['storage/whisper', 'log', 'lists']) mkdirSync(path.join(dir, d), { recursive: true });
  writeFileSync(
    path.join(dir, 'carbon.conf'),
    `[cache]
STORAGE_DIR = ${dir}/storage
LOCAL_DATA_DIR = ${dir}/storage/whisper
WHITELISTS_DIR = ${dir}/lists
CONF_DIR = ${dir}
LOG_DIR = ${dir}/log
PID_DIR = ${dir}
ENABLE_LOGROTATION = False
USER =
${more}`,
  );
  writeFileSync(path.join(dir, 'storage-schemas.conf'), '[default]\npattern = .*\nretentions = 1s:1h\n');
}

/** A carbon daemon (cache or relay) of `dir`'s config in the foreground, its output given to `output`. */
export function spawnCarbon(bin: string, dir: string, args: string[], output: (text: string) => void): ChildProcess {
  const proc = spawn(bin, [`--config=${dir}/carbon.conf`, ...args, '--nodaemon', `--pidfile=${dir}/${path.basename(bin)}.pid`, `--logdir=${dir}/log`, 'start'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.setEncoding('utf8').on('data', output);
  proc.stderr!.setEncoding('utf8').on('data', output);
  return proc;
}
