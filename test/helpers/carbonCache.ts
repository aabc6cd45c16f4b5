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
ENABLE_TAGS = False
USER =
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
    writeFileSync(path.join(dir, 'storage-schemas.conf'), '[default]\npattern = .*\nretentions = 1s:1h\n');
    await c.run();
    return c;
  }

  /** Starts again on the same ports and whisper files, after stop(). */
  async run(): Promise<void> {
    const d = this.dir;
    const instance = this.instance;
    this.proc = spawn(CARBON_CACHE, [`--config=${d}/carbon.conf`, `--instance=${instance}`, '--nodaemon', `--pidfile=${d}/carbon.pid`, `--logdir=${d}/log`, 'start'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.setEncoding('utf8').on('data', (t: string) => (this.output += t));
    this.proc.stderr!.setEncoding('utf8').on('data', (t: string) => (this.output += t));
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
