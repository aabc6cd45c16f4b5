import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import type { Figures } from '../agent/meta/registry.js';

/** A destination of flushes. One file per destination under flushers/ implements it. */
export interface Flusher {
  readonly name: string;
  /** Resolves once the snapshot is this flusher's: sent, queued or printed. Never rejects: failures are kept in status(). */
  flush(snapshot: FlushSnapshot): Promise<void>;
  close(): Promise<void>;
  /** Figures for meta stats, under `flushers.<name>` (etsy's graphite.last_flush ...); strings are shown, not published. */
  status(): Figures;
}
