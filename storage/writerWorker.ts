/**
 * The store's writer thread. better-sqlite3 is synchronous: writing a large flush here keeps the
 * main thread, which parses statsd, free. Messages are handled in order, so `close` comes after
 * every batch sent before it.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../agent/config/types.js';
import { openForWriting } from './db.js';
import { SchemaSet } from './schemas.js';
import { StoreWriter, type StoreBatch, type WriteResult } from './writer.js';

export interface WriterInit {
  file: string;
  config: Config;
  /** ms between two pruning passes over every series */
  pruneEveryMs: number;
}

/** A flush comes as one or more batches, the last one marked: one transaction for them all. */
export type ToWriter = { type: 'batch'; batch: StoreBatch; last: boolean } | { type: 'close' };
export type FromWriter =
  | { type: 'written'; result: WriteResult; ms: number }
  | { type: 'failed'; during: 'flush' | 'pruning'; message: string }
  | { type: 'pruned'; deleted: number }
  | { type: 'closed' };

/** Rows deleted per slice: a slice is short, so a flush arriving meanwhile waits little. */
const PRUNE_SLICE = 20_000;

/** The writer's niceness: under CPU pressure the receive path wins, and a store that falls behind
 * drops whole flushes (counted) rather than the agent dropping datagrams. */
const WRITER_NICE = 10;

/** Linux lets a thread set its own niceness through its thread id (/proc/thread-self → "<pid>/task/<tid>"). */
function lowerPriority(): void {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), WRITER_NICE);
  } catch {
    // not Linux: the writer runs at the agent's priority
  }
}

lowerPriority();
const init = workerData as WriterInit;
const port = parentPort!;
const db = openForWriting(init.file);
const writer = new StoreWriter(db, new SchemaSet(init.config));
const send = (m: FromWriter): void => port.postMessage(m);

/** The flush whose parts are being written, in one open transaction. */
let flush: { started: number; failed: boolean; result: WriteResult } | null = null;

let pruneTimer: NodeJS.Timeout | undefined;
let prunedThisPass = 0;
function pruneSlice(): void {
  if (flush !== null) {
    pruneTimer = setTimeout(pruneSlice, 100); // not inside a flush's transaction
    return;
  }
  try {
    const { deleted, done } = writer.prune(PRUNE_SLICE);
    prunedThisPass += deleted;
    if (done) {
      send({ type: 'pruned', deleted: prunedThisPass });
      prunedThisPass = 0;
    }
    pruneTimer = setTimeout(pruneSlice, done ? init.pruneEveryMs : 0);
  } catch (err) {
    send({ type: 'failed', during: 'pruning', message: `pruning: ${(err as Error).message}` });
    pruneTimer = setTimeout(pruneSlice, init.pruneEveryMs);
  }
}
pruneTimer = setTimeout(pruneSlice, init.pruneEveryMs);

port.on('message', (m: ToWriter) => {
  if (m.type === 'close') {
    clearTimeout(pruneTimer);
    db.close();
    send({ type: 'closed' });
    port.close();
    return;
  }
  if (flush === null) {
    flush = { started: performance.now(), failed: false, result: { rows: 0, skippedOld: 0, newSeries: 0, refusedSeries: 0 } };
    db.exec('BEGIN');
  }
  const f = flush;
  try {
    if (!f.failed) {
      const r = writer.writePart(m.batch);
      f.result.rows += r.rows;
      f.result.skippedOld += r.skippedOld;
      f.result.newSeries += r.newSeries;
      f.result.refusedSeries += r.refusedSeries;
    }
    if (m.last) {
      flush = null;
      if (f.failed) return;
      db.exec('COMMIT');
      send({ type: 'written', result: f.result, ms: performance.now() - f.started });
    }
  } catch (err) {
    writer.discard();
    if (db.inTransaction) db.exec('ROLLBACK');
    f.failed = true; // the flush's other parts are skipped
    if (m.last) flush = null;
    send({ type: 'failed', during: 'flush', message: (err as Error).message });
  }
});
