import path from 'node:path';
import type { DeliveryEvents } from '../agent/alerts/alerter.js';
import type { GraphiteConfig } from '../agent/config/types.js';
import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import type { Log } from '../agent/log.js';
import { pathSegment, type Figures } from '../agent/meta/registry.js';
import { formatAddress } from '../agent/config/units.js';
import { CarbonDestination, type Outgoing } from './carbon/destination.js';
import { CarbonHashRing } from './carbon/hashRing.js';
import { PickleEncoder } from './carbon/pickle.js';
import { Spool } from './carbon/spool.js';
import type { Flusher } from './flusher.js';
import { forEachNamed, type GraphiteNames } from './graphiteNames.js';
import { PlaintextBatch } from './plaintext.js';

const nowSeconds = (): number => Math.round(Date.now() / 1000);

/** Renders one flush for one destination, in its protocol. */
interface Encoder {
  add(name: string, value: number): void;
  /** a datapoint with its own timestamp (the carbon input's) */
  addAt(name: string, value: number, ts: number): void;
  /** the batch's chunks and datapoints */
  end(): Outgoing;
}

/** `stream`: where each chunk also goes as soon as it is rendered (see CarbonDestination.streamer). */
function encoder(protocol: 'plaintext' | 'pickle', ts: number, stream: ((chunk: Buffer) => void) | null): Encoder {
  const chunks: Buffer[] = [];
  const keep = (chunk: Buffer): void => {
    chunks.push(chunk);
    stream?.(chunk);
  };
  let datapoints = 0;
  const done = (): Outgoing => ({ chunks, datapoints });
  if (protocol === 'pickle') {
    const pickle = new PickleEncoder(keep);
    return {
      add: (name, value) => void (pickle.add(name, ts, value) && datapoints++),
      addAt: (name, value, at) => void (pickle.add(name, at, value) && datapoints++),
      end: () => (pickle.end(), done()),
    };
  }
  const text = new PlaintextBatch(ts, keep);
  return {
    add: (name, value) => (text.add(name, value), datapoints++),
    addAt: (name, value, at) => (text.addAt(name, value, at), datapoints++),
    end: () => (text.end(), done()),
  };
}

/**
 * The carbon flusher: what etsy's graphite backend sends (graphiteStats included, values of the
 * previous flush), to one or several carbon-caches, plaintext or pickle, routed as carbon-relay's
 * consistent hashing would (or everything everywhere), and never lost while carbon is away (see
 * CarbonDestination). `last_exception` is set on every failure, asynchronous ones included.
 */
export class CarbonFlusher implements Flusher {
  readonly name = 'graphite';
  private readonly destinations: CarbonDestination[];
  private readonly ring: CarbonHashRing | null;
  private readonly stats = { last_flush: nowSeconds(), last_exception: 0, flush_time: 0, flush_length: 0 };

  constructor(
    cfg: GraphiteConfig,
    dataDir: string,
    private readonly names: GraphiteNames,
    log: Log,
    events: DeliveryEvents | null,
  ) {
    const opts = { connectTimeoutMs: cfg.connect_timeout, writeTimeoutMs: cfg.write_timeout, queueMax: cfg.queue_max };
    this.destinations = cfg.destinations.map((d) => {
      const dir = path.join(dataDir, 'spool', pathSegment(formatAddress(d) + (d.instance ? `_${d.instance}` : '')));
      return new CarbonDestination(d, Spool.open(dir, cfg.spool_max_bytes), opts, log, events);
    });
    this.ring = cfg.routing === 'consistent-hash' && cfg.destinations.length > 1 ? new CarbonHashRing(cfg.destinations) : null;
  }

  async flush(snap: FlushSnapshot): Promise<void> {
    const started = Date.now();
    const streams = this.destinations.map((d) => d.streamer());
    const encoders = this.destinations.map((d, i) => encoder(d.dest.protocol, snap.ts, streams[i]!));
    const ring = this.ring;
    const add = ring
      ? (name: string, value: number) => encoders[ring.nodeFor(name)]!.add(name, value)
      : (name: string, value: number) => {
          for (const e of encoders) e.add(name, value);
        };
    this.names.forEach(snap, add);
    forEachNamed(
      snap,
      ring
        ? (name, value, ts) => encoders[ring.nodeFor(name)]!.addAt(name, value, ts)
        : (name, value, ts) => {
            for (const e of encoders) e.addAt(name, value, ts);
          },
    );
    const n = this.names;
    add(n.stat('graphiteStats.calculationtime'), Date.now() - started);
    add(n.stat('processing_time'), snap.derived.processingTime);
    this.refreshStats();
    for (const key of ['last_exception', 'last_flush', 'flush_time', 'flush_length'] as const) add(n.stat('graphiteStats.' + key), this.stats[key]);
    let length = 0;
    encoders.forEach((e, i) => {
      const batch = e.end();
      length += batch.chunks.reduce((n, c) => n + c.length, 0);
      if (streams[i]) this.destinations[i]!.streamed(batch);
      else if (batch.datapoints > 0) this.destinations[i]!.enqueue(batch);
    });
    this.stats.flush_length = length;
  }

  /** etsy's graphiteStats from the destinations: the last delivery, the last failure, the last write's ms. */
  private refreshStats(): void {
    for (const d of this.destinations) {
      const s = d.counts;
      if (s.last_delivery > 0 && s.last_delivery >= this.stats.last_flush) {
        this.stats.last_flush = s.last_delivery;
        this.stats.flush_time = s.write_ms;
      }
      this.stats.last_exception = Math.max(this.stats.last_exception, s.last_failure);
    }
  }

  /** Delivers what it can for a few seconds, then keeps the rest in the spool for the next run. */
  async close(): Promise<void> {
    await Promise.all(this.destinations.map((d) => d.close(CLOSE_GRACE_MS)));
  }

  status(): Figures {
    this.refreshStats();
    const out: Figures = { ...this.stats };
    for (const d of this.destinations) out[pathSegment(d.where.replace(/^carbon /, ''))] = d.status();
    return out;
  }
}

/** How long a stop waits for carbon to take the last flushes (the agent must exit within 10 s). */
const CLOSE_GRACE_MS = 5000;
