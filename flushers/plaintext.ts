import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import type { GraphiteNames } from './graphiteNames.js';

/** Text is encoded every this many characters: a flush of a million lines then never holds a
 * million live strings, which the GC would copy into the old generation. */
const CHUNK_CHARS = 1 << 16;

/** Carbon's plaintext protocol: `name value ts\n`, every line of a flush with the flush's timestamp. */
export class PlaintextBatch {
  private pending = '';
  private readonly chunks: Buffer[] = [];
  private readonly tail: string;
  private count = 0;

  constructor(ts: number) {
    this.tail = ' ' + ts + '\n';
  }

  readonly add = (name: string, value: number): void => {
    this.pending += name + ' ' + value + this.tail;
    this.count++;
    if (this.pending.length >= CHUNK_CHARS) this.cut();
  };

  private cut(): void {
    this.chunks.push(Buffer.from(this.pending));
    this.pending = '';
  }

  /** Every value of the snapshot, as etsy's graphite backend names them. */
  addSnapshot(snap: FlushSnapshot, names: GraphiteNames): this {
    names.forEach(snap, this.add);
    return this;
  }

  /** Lines added so far. */
  get length(): number {
    return this.count;
  }

  /** The encoded lines, in chunks (not concatenated: that would hold the flush twice in memory). */
  bytes(): Buffer[] {
    if (this.pending !== '') this.cut();
    return this.chunks;
  }
}
