import net from 'node:net';
import type { DeliveryEvents } from '../../agent/alerts/alerter.js';
import type { Destination } from '../../agent/config/types.js';
import { formatAddress } from '../../agent/config/units.js';
import type { Log } from '../../agent/log.js';
import type { Figures } from '../../agent/meta/registry.js';
import type { Spool } from './spool.js';

/** A flush's data for one destination, as the chunks it was rendered in (not concatenated: a
 * large flush would be held twice in memory); concatenated only when it goes to the spool. */
export interface Outgoing {
  chunks: Buffer[];
  datapoints: number;
}

export interface DestinationOptions {
  connectTimeoutMs: number;
  writeTimeoutMs: number;
  /** datapoints held in memory; older batches beyond go to the spool */
  queueMax: number;
}

/** carbon never acknowledges: a batch the kernel took this recently may still be unread by a
 * carbon that dies now, so it is sent again if the connection breaks (carbon overwrites a
 * datapoint with the same timestamp with the same value: a resend is harmless). */
const UNCONFIRMED_MS = 2000;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5000;

/**
 * One carbon-cache: one persistent connection, reconnecting with backoff capped at 5 s, and
 * nothing lost while it is away. Undelivered batches wait in memory up to `queueMax` datapoints;
 * beyond, the oldest go to the spool on disk. Delivery is oldest first: the spool (older), then
 * memory. A batch counts as delivered when the kernel has taken all of it; one that fails or
 * times out stays at the head and is sent again after reconnecting. A slow or dead destination
 * only ever delays itself: flushes enqueue and return.
 */
export class CarbonDestination {
  readonly where: string;
  private readonly queue: Outgoing[] = [];
  private queued = 0; // datapoints in `queue`
  private socket: net.Socket | null = null;
  private busy = false; // connecting or writing
  private retry: NodeJS.Timeout | null = null;
  private backoffMs = 0;
  private failing = false;
  private closed = false;
  /** read by the flusher for etsy's graphiteStats; all of it is in status() */
  readonly counts = { delivered_datapoints: 0, dropped: 0, failures: 0, last_delivery: 0, last_failure: 0, write_ms: 0 };
  private lastError = '';
  /** batches written on the current connection within UNCONFIRMED_MS */
  private recent: { batch: Outgoing; at: number }[] = [];
  private droppedSinceIdle = 0;
  private degradedWhat: string | null = null;

  constructor(
    readonly dest: Destination,
    private readonly spool: Spool,
    private readonly opts: DestinationOptions,
    private readonly log: Log,
    private readonly events: DeliveryEvents | null,
  ) {
    this.where = `carbon ${formatAddress(dest)}${dest.instance ? ` (${dest.instance})` : ''}`;
    if (spool.batches > 0) this.log.info(`${this.where}: ${spool.datapoints} datapoints spooled by an earlier run, delivering them first`);
  }

  /** Takes a flush's batch for this destination; returns at once. */
  enqueue(batch: Outgoing): void {
    this.queue.push(batch);
    this.queued += batch.datapoints;
    // keep the newest in memory; the oldest beyond the bound go to disk, behind what is there
    let spill = 0;
    while (this.queued > this.opts.queueMax && spill < this.queue.length - 1) this.queued -= this.queue[spill++]!.datapoints;
    if (spill > 0) this.spill(this.queue.splice(0, spill));
    this.pump();
  }

  private spill(batches: Outgoing[]): void {
    const dropped = this.spool.append(batches.map((b) => ({ bytes: Buffer.concat(b.chunks), datapoints: b.datapoints })));
    if (dropped > 0) {
      this.counts.dropped += dropped;
      this.droppedSinceIdle += dropped;
      this.log.error(`${this.where}: spool full (${this.spool.bytes} bytes): ${dropped} oldest datapoints dropped`);
    }
    this.checkDegraded();
  }

  /** WARNING-worthy: a big spool, or data dropped since the destination was last caught up. */
  private checkDegraded(): void {
    if (!this.events) return;
    const what =
      this.droppedSinceIdle > 0
        ? `${this.droppedSinceIdle} datapoints dropped (spool full)`
        : this.spool.bytes >= this.events.spoolWarningBytes
          ? `spool holds ${this.spool.bytes} bytes`
          : null;
    if (what !== this.degradedWhat) this.events.degraded(this.where, what);
    this.degradedWhat = what;
  }

  /** Sends the oldest batch when connected and idle; connects when needed. */
  private pump(): void {
    if (this.busy || this.retry || this.closed) return;
    const spooled = this.spool.peek();
    const fromSpool = spooled !== undefined;
    const batch = spooled ? { chunks: [spooled.bytes], datapoints: spooled.datapoints } : this.queue[0];
    if (!batch) return;
    if (!this.socket) return this.connect();
    const socket = this.socket;
    socket.cork();
    for (const chunk of batch.chunks.slice(0, -1)) socket.write(chunk);
    this.complete(socket, batch, fromSpool, batch.chunks.at(-1));
    socket.uncork();
  }

  /**
   * When this destination is connected and has nothing waiting, a flush can go out while it is
   * rendered (its first lines reach carbon at once, not after the whole flush is built): returns
   * where to write the chunks, then `streamed()` must be called with the whole batch. Else null.
   */
  streamer(): ((chunk: Buffer) => void) | null {
    const socket = this.socket;
    if (!socket || !this.idle || this.retry || this.closed) return null;
    this.busy = true; // nothing else may write until streamed()
    return (chunk) => socket.write(chunk);
  }

  /** The batch whose chunks went out through streamer(): it is delivered once the kernel took it all. */
  streamed(batch: Outgoing): void {
    this.queue.push(batch);
    this.queued += batch.datapoints;
    if (this.socket) this.complete(this.socket, batch, false, undefined);
    else {
      this.busy = false; // the connection broke while rendering: the batch waits at the head
      this.pump();
    }
  }

  /** Writes the last chunk (if any) and, once the kernel has taken the batch, moves past it. */
  private complete(socket: net.Socket, batch: Outgoing, fromSpool: boolean, last: Buffer | undefined): void {
    this.busy = true;
    const started = Date.now();
    const timer = setTimeout(() => socket.destroy(new Error(`write timed out after ${this.opts.writeTimeoutMs} ms`)), this.opts.writeTimeoutMs);
    socket.write(last ?? Buffer.alloc(0), (err) => {
      clearTimeout(timer);
      this.busy = false;
      if (err) return this.fail(err);
      if (fromSpool) this.spool.ack();
      else {
        this.queue.shift();
        this.queued -= batch.datapoints;
      }
      const now = Date.now();
      this.recent = this.recent.filter((r) => now - r.at < UNCONFIRMED_MS);
      this.recent.push({ batch, at: now });
      this.counts.delivered_datapoints += batch.datapoints;
      this.counts.last_delivery = Math.round(now / 1000);
      this.counts.write_ms = now - started;
      this.recovered();
      if (this.idle) this.droppedSinceIdle = 0;
      if (fromSpool || this.degradedWhat !== null) this.checkDegraded();
      this.pump();
    });
  }

  private connect(): void {
    this.busy = true;
    const socket = net.connect({ host: this.dest.host, port: this.dest.port });
    const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      this.socket = socket;
      this.busy = false;
      this.pump();
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (this.socket === socket || this.socket === null) {
        this.busy = false;
        this.fail(err);
      }
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null; // carbon went away: the next batch reconnects
      this.resendRecent();
    });
    socket.on('data', () => {}); // carbon never answers; keep the stream flowing
  }

  /** The connection broke: what it took lately may be lost with it. */
  private resendRecent(): void {
    const now = Date.now();
    const again = this.recent.filter((r) => now - r.at < UNCONFIRMED_MS).map((r) => r.batch);
    this.recent = [];
    if (again.length === 0) return;
    this.queue.unshift(...again);
    for (const b of again) this.queued += b.datapoints;
  }

  private fail(err: Error): void {
    this.socket?.destroy();
    this.socket = null;
    this.resendRecent();
    this.counts.failures++;
    this.counts.last_failure = Math.round(Date.now() / 1000);
    this.lastError = err.message;
    const held = `${this.queued + this.spool.datapoints} datapoints queued`;
    if (!this.failing) {
      // once per outage, not per attempt
      this.log.error(`${this.where}: ${err.message}; ${held}, retrying`);
      this.events?.failed(this.where, err.message, held);
      this.failing = true;
    }
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs === 0 ? BACKOFF_FIRST_MS : this.backoffMs * 2);
    if (!this.closed) {
      this.retry = setTimeout(() => {
        this.retry = null;
        this.pump();
      }, this.backoffMs);
    }
  }

  private recovered(): void {
    this.backoffMs = 0;
    if (!this.failing) return;
    this.failing = false;
    this.log.info(`${this.where}: delivering again`);
    this.events?.recovered(this.where);
  }

  /** Stops: delivers what it can within `graceMs` while carbon is reachable, then what is still
   * in memory goes to the spool, for the next run. */
  async close(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (!this.idle && !this.failing && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    if (this.queue.length > 0) this.spill(this.queue.splice(0));
    this.queued = 0;
    const socket = this.socket;
    this.socket = null;
    if (socket) await new Promise<void>((resolve) => socket.end(resolve));
  }

  /** Nothing waiting: every batch taken so far was delivered. */
  get idle(): boolean {
    return this.queue.length === 0 && this.spool.batches === 0 && !this.busy;
  }

  status(): Figures {
    return {
      ...this.counts,
      queue_length: this.queued,
      spooled_bytes: this.spool.bytes,
      spooled_datapoints: this.spool.datapoints,
      last_error_message: this.lastError,
    };
  }
}
