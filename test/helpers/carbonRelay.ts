import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './agentProcess.js';
import { spawnCarbon, writeCarbonConf } from './carbonCache.js';
import { freePort, waitForPort } from './freePort.js';

export const CARBON_RELAY = '/usr/bin/carbon-relay';
export const relayAvailable = existsSync(CARBON_RELAY);

/** A real carbon-relay (Debian graphite-carbon) on loopback with a private config in a temp dir,
 * relaying what it receives (plaintext or pickle) to `destinations` ("host:port") in pickle. */
export class CarbonRelay {
  private proc: ChildProcess | null = null;
  output = '';

  private constructor(
    readonly dir: string,
    readonly linePort: number,
    readonly picklePort: number,
  ) {}

  static async start(destinations: string[], method: 'rules' | 'consistent-hashing' = 'rules'): Promise<CarbonRelay> {
    const dir = tempDir();
    const r = new CarbonRelay(dir, await freePort(), await freePort());
    writeCarbonConf(
      dir,
      `
[relay]
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = ${r.linePort}
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = ${r.picklePort}
RELAY_METHOD = ${method}
REPLICATION_FACTOR = 1
DESTINATIONS = ${destinations.join(', ')}
USE_FLOW_CONTROL = False
MAX_QUEUE_SIZE = 100000
`,
    );
    writeFileSync(path.join(dir, 'relay-rules.conf'), `[default]\ndefault = true\ndestinations = ${destinations.join(', ')}\n`);
    r.proc = spawnCarbon(CARBON_RELAY, dir, [], (t) => (r.output += t));
    await waitForPort(r.linePort);
    return r;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  }
}
