import net from 'node:net';
import type { ListenAddress } from '../agent/config/types.js';
import { formatAddress } from '../agent/config/units.js';
import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import type { DeliveryEvents } from '../agent/alerts/alerter.js';
import type { Log } from '../agent/log.js';
import type { Figures } from '../agent/meta/registry.js';
import type { Flusher } from './flusher.js';
import type { GraphiteNames } from './graphiteNames.js';
import { PlaintextBatch } from './plaintext.js';

const nowSeconds = (): number => Math.round(Date.now() / 1000);

/**
 * Plaintext carbon, one destination, one persistent connection opened on demand. Sends what etsy's
 * graphite backend sends, graphiteStats included (values of the previous flush, as etsy), but
 * `last_exception` is set on every failure, asynchronous ones included, and `flush_time` is the ms
 * from the first line rendered to the last handed to the kernel (etsy times only its write() call).
 */
export class CarbonFlusher implements Flusher {
  private socket: net.Socket | null = null;
  private failing = false;
  /** what went wrong last, for the operator (a string: shown, not published) */
  private lastErrorMessage = '';
  private readonly stats = { last_flush: nowSeconds(), last_exception: 0, flush_time: 0, flush_length: 0 };

  constructor(
    readonly name: string,
    private readonly dest: ListenAddress,
    private readonly names: GraphiteNames,
    private readonly connectTimeoutMs: number,
    private readonly log: Log,
    private readonly events: DeliveryEvents | null,
  ) {}

  private get where(): string {
    return formatAddress(this.dest);
  }

  async flush(snap: FlushSnapshot): Promise<void> {
    let lines = 0;
    try {
      const socket = await this.connection();
      const started = Date.now();
      // rendered straight into the socket: the first lines leave while the rest is rendered
      const batch = new PlaintextBatch(snap.ts, (chunk) => socket.write(chunk)).addSnapshot(snap, this.names);
      const n = this.names;
      batch.add(n.stat('graphiteStats.calculationtime'), Date.now() - started);
      batch.add(n.stat('processing_time'), snap.derived.processingTime);
      for (const key of ['last_exception', 'last_flush', 'flush_time', 'flush_length'] as const) {
        batch.add(n.stat('graphiteStats.' + key), this.stats[key]);
      }
      const length = batch.end();
      lines = batch.length;
      await new Promise<void>((resolve, reject) => socket.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
      this.stats.flush_time = Date.now() - started;
      this.stats.flush_length = length;
      this.stats.last_flush = nowSeconds();
      if (this.failing) {
        this.log.info(`carbon ${this.where}: delivering again`);
        this.events?.recovered(`carbon ${this.where}`);
      }
      this.failing = false;
    } catch (err) {
      this.stats.last_exception = nowSeconds();
      this.lastErrorMessage = (err as Error).message;
      this.socket?.destroy();
      this.socket = null;
      // once per outage, not once per flush
      if (!this.failing) {
        const lost = `this flush${lines ? ` (${lines} lines)` : ''} is lost`;
        this.log.error(`carbon ${this.where}: ${this.lastErrorMessage}; ${lost}`);
        this.events?.failed(`carbon ${this.where}`, this.lastErrorMessage, lost);
      }
      this.failing = true;
    }
  }

  private connection(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.dest.host, port: this.dest.port });
      const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve(socket);
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        if (this.socket === socket) this.socket = null;
        reject(err);
      });
      socket.on('close', () => {
        if (this.socket === socket) this.socket = null;
      });
      socket.on('data', () => {}); // carbon never answers; keep the stream flowing
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    await new Promise<void>((resolve) => socket.end(resolve));
  }

  status(): Figures {
    return { ...this.stats, last_error_message: this.lastErrorMessage };
  }
}
