import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Config } from '../agent/config/types.js';
import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import type { Log } from '../agent/log.js';
import type { Figures } from '../agent/meta/registry.js';
import { openForWriting, storeFile } from '../storage/db.js';
import { emptyBatch, type StoreBatch } from '../storage/writer.js';
import type { FromWriter, ToWriter, WriterInit } from '../storage/writerWorker.js';
import type { Flusher } from './flusher.js';
import type { GraphiteNames } from './graphiteNames.js';

/** Flushes waiting for the writer past which a new one is dropped (and counted): 3 intervals behind. */
const MAX_PENDING = 3;
const PRUNE_EVERY_MS = 60_000;
/** How long close() waits for the writer to finish what it was given. */
const CLOSE_GRACE_MS = 5000;

/** Flushed values per message to the writer: a flush of a million names is never one clone of a
 * million strings (the peak memory of both threads stays bounded), and it leaves while it renders. */
const PART_NAMES = 50_000;

/**
 * One flush as the store's writer takes it, in parts of at most PART_NAMES flushed values: the
 * values carbon would get, then the carbon input's datapoints, timer samples and set members in
 * the last part.
 */
export function storeBatches(snap: FlushSnapshot, names: GraphiteNames, send: (batch: StoreBatch, last: boolean) => void): void {
  let partNames: string[] = [];
  let partValues: number[] = [];
  const cut = (): StoreBatch => {
    const b = emptyBatch(snap.ts);
    b.flushed = { names: partNames, values: Float64Array.from(partValues) };
    partNames = [];
    partValues = [];
    return b;
  };
  const add = (name: string, value: number): void => {
    partNames.push(name);
    partValues.push(value);
    if (partNames.length === PART_NAMES) send(cut(), false);
  };
  names.forEach(snap, add);
  add(names.stat('processing_time'), snap.derived.processingTime);
  const last = cut();
  const { timers, sets } = snap.raw;
  const offsets = new Uint32Array(timers.keys.length + 1);
  for (let i = 0; i < timers.keys.length; i++) offsets[i + 1] = offsets[i]! + timers.samples[i]!.length;
  const samples = new Float64Array(offsets[timers.keys.length]!);
  timers.samples.forEach((s, i) => samples.set(s, offsets[i]!));
  last.timers = { keys: timers.keys, offsets, samples };
  last.sets = { keys: sets.keys, members: sets.members.map((m) => [...m]) };
  last.named = { names: [...snap.named.names], values: Float64Array.from(snap.named.values), timestamps: Float64Array.from(snap.named.timestamps) };
  send(last, true);
}

/**
 * The embedded store: each flush goes to a writer thread that keeps it in SQLite (see
 * storage/writer.ts). flush() resolves once the batch is posted to the writer.
 */
export class StoreFlusher implements Flusher {
  readonly name = 'store';
  private readonly worker: Worker;
  private readonly file: string;
  private pending = 0;
  private closed: Promise<void> | null = null;
  private readonly figures = { flushes: 0, rows_written: 0, series_created: 0, series_refused: 0, skipped_too_old: 0, rows_pruned: 0, last_write_ms: 0, flushes_dropped: 0, errors: 0 };
  private lastError = '';

  constructor(
    config: Config,
    private readonly names: GraphiteNames,
    private readonly log: Log,
  ) {
    this.file = storeFile(config);
    // opened here first so that a path tally cannot write stops the start with a clear message
    openForWriting(this.file).close();
    const init: WriterInit = { file: this.file, config, pruneEveryMs: PRUNE_EVERY_MS };
    this.worker = new Worker(new URL('../storage/writerWorker.js', import.meta.url), { workerData: init });
    this.worker.on('message', (m: FromWriter) => this.received(m));
    this.worker.on('error', (err) => this.failed(`writer thread: ${err.message}`));
  }

  private received(m: FromWriter): void {
    const f = this.figures;
    switch (m.type) {
      case 'written':
        this.pending--;
        f.flushes++;
        f.rows_written += m.result.rows;
        f.series_created += m.result.newSeries;
        f.series_refused += m.result.refusedSeries;
        f.skipped_too_old += m.result.skippedOld;
        f.last_write_ms = Math.round(m.ms);
        break;
      case 'failed':
        if (m.during === 'flush') this.pending--;
        this.failed(m.message);
        break;
      case 'pruned':
        f.rows_pruned += m.deleted;
        break;
      case 'closed':
        break;
    }
  }

  private failed(message: string): void {
    this.figures.errors++;
    this.lastError = message;
    this.log.error(`store ${this.file}: ${message}`);
  }

  async flush(snap: FlushSnapshot): Promise<void> {
    if (this.closed) return;
    if (this.pending >= MAX_PENDING) {
      this.figures.flushes_dropped++;
      this.log.warn(`store: the writer is ${this.pending} flushes behind; this flush is not stored`);
      return;
    }
    this.pending++;
    storeBatches(snap, this.names, (batch, last) => {
      const msg: ToWriter = { type: 'batch', batch, last };
      const arrays = [batch.flushed.values, batch.named.values, batch.named.timestamps, batch.timers.offsets, batch.timers.samples];
      this.worker.postMessage(msg, arrays.map((a) => a.buffer as ArrayBuffer));
    });
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        void this.worker.terminate().then(() => resolve());
      };
      const timer = setTimeout(done, CLOSE_GRACE_MS);
      this.worker.on('message', (m: FromWriter) => m.type === 'closed' && done());
      this.worker.on('exit', done);
      this.worker.postMessage({ type: 'close' } satisfies ToWriter);
    });
    return this.closed;
  }

  status(): Figures {
    let bytes = 0;
    for (const suffix of ['', '-wal']) {
      try {
        bytes += statSync(this.file + suffix).size;
      } catch {
        // no WAL yet
      }
    }
    return { ...this.figures, pending: this.pending, db_bytes: bytes, ...(this.lastError ? { last_error: this.lastError } : {}) };
  }
}
