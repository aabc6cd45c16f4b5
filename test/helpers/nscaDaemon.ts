import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NscaTarget } from '../../agent/alerts/nsca.js';
import { freePort } from './freePort.js';

const NSCA = '/usr/sbin/nsca';
export const HAVE_NSCA = existsSync(NSCA);
export const NSCA_PEER = `Debian's nsca daemon (${NSCA}, package nsca)`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once something accepts on the port, false if `child` exits first (e.g. the port got taken) or after 5 s. */
async function accepting(port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

/** A real nsca daemon in the foreground (`-f --single`), writing to a regular file. */
export class NscaDaemon {
  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly commandFile: string,
    private readonly child: ChildProcess,
  ) {}

  /** `password` undefined = no password line (an empty value is a config error for nsca). */
  static async start(method: 0 | 1, password?: string): Promise<NscaDaemon> {
    const dir = mkdtempSync(join(tmpdir(), 'tally-nsca-'));
    const commandFile = join(dir, 'nagios.cmd');
    // A regular file in place of Nagios' FIFO: nsca fopen()s an existing command_file with "a"
    // when append_to_file=1 (with 0 it would be "w", truncating it on every result).
    writeFileSync(commandFile, '');
    for (let attempt = 0; ; attempt++) {
      const port = await freePort(); // nsca cannot be told port 0; retry if the port got taken
      const cfg = join(dir, 'nsca.cfg');
      writeFileSync(
        cfg,
        [
          'server_address=127.0.0.1',
          `server_port=${port}`,
          `command_file=${commandFile}`,
          `alternate_dump_file=${join(dir, 'dump')}`, // used only if command_file were missing
          'append_to_file=1',
          'aggregate_writes=0',
          'debug=1', // goes to syslog
          'max_packet_age=30',
          `decryption_method=${method}`,
          ...(password === undefined ? [] : [`password=${password}`]),
          '',
        ].join('\n'),
      );
      // -f: no fork, so the child is the daemon and killing it ends it.
      const child = spawn(NSCA, ['-f', '-c', cfg, '--single'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      if (await accepting(port, child)) return new NscaDaemon(port, dir, commandFile, child);
      child.kill('SIGKILL');
      if (attempt === 2) throw new Error(`nsca did not start on 127.0.0.1:${port} (exit ${child.exitCode}): ${stderr}`);
    }
  }

  target(encryption: NscaTarget['encryption'], password = ''): NscaTarget {
    return { host: '127.0.0.1', port: this.port, encryption, password, timeoutMs: 3000 };
  }

  lines(): string[] {
    return readFileSync(this.commandFile, 'utf8').split('\n').filter((l) => l !== '');
  }

  /** Waits until the command file holds `n` lines (nsca writes after our connection closed). */
  async until(n: number, ms = 3000): Promise<string[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const lines = this.lines();
      if (lines.length >= n) return lines;
      if (Date.now() > deadline) throw new Error(`expected ${n} lines in the command file, got ${JSON.stringify(lines)}`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      await once(this.child, 'exit');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

