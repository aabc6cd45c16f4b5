/**
 * The store's writer thread. better-sqlite3 is synchronous: writing a large flush here keeps the
 * main thread, which parses statsd, free. Messages are handled in order, so `close` comes after
 * every batch sent before it.
 */
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

export type ToWriter = { type: 'batch'; batch: StoreBatch } | { type: 'close' };
export type FromWriter =
  | { type: 'written'; result: WriteResult; ms: number }
  | { type: 'failed'; message: string }
  | { type: 'pruned'; deleted: number }
  | { type: 'closed' };

/** Rows deleted per slice: a slice is short, so a flush arriving meanwhile waits little. */
const PRUNE_SLICE = 20_000;

const init = workerData as WriterInit;
const port = parentPort!;
const db = openForWriting(init.file);
const writer = new StoreWriter(db, new SchemaSet(init.config));
const send = (m: FromWriter): void => port.postMessage(m);

let pruneTimer: NodeJS.Timeout | undefined;
let prunedThisPass = 0;
function pruneSlice(): void {
  try {
    const { deleted, done } = writer.prune(PRUNE_SLICE);
    prunedThisPass += deleted;
    if (done) {
      send({ type: 'pruned', deleted: prunedThisPass });
      prunedThisPass = 0;
    }
    pruneTimer = setTimeout(pruneSlice, done ? init.pruneEveryMs : 0);
  } catch (err) {
    send({ type: 'failed', message: `pruning: ${(err as Error).message}` });
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
  const started = performance.now();
  try {
    const result = writer.write(m.batch);
    send({ type: 'written', result, ms: performance.now() - started });
  } catch (err) {
    send({ type: 'failed', message: (err as Error).message });
  }
});
