import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import type { Figures } from '../agent/meta/registry.js';
import type { Flusher } from './flusher.js';
import type { GraphiteNames } from './graphiteNames.js';
import { PlaintextBatch } from './plaintext.js';

/** Prints each flush to stdout as the lines carbon would receive. */
export class ConsoleFlusher implements Flusher {
  readonly name = 'console';
  private flushes = 0;

  constructor(
    private readonly names: GraphiteNames,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  async flush(snap: FlushSnapshot): Promise<void> {
    const batch = new PlaintextBatch(snap.ts, (chunk) => this.out.write(chunk)).addSnapshot(snap, this.names);
    batch.add(this.names.stat('processing_time'), snap.derived.processingTime);
    batch.end();
    this.flushes++;
  }

  async close(): Promise<void> {}

  status(): Figures {
    return { flushes: this.flushes };
  }
}
