import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import { forEachNamed, type GraphiteNames } from './graphiteNames.js';

/** Text is encoded and handed on every this many characters: the first bytes of a large flush
 * leave while the rest is rendered, and a million-line flush never holds a million live strings,
 * which the GC would copy into the old generation. */
const CHUNK_CHARS = 1 << 16;

/** Carbon's plaintext protocol: `name value ts\n`, every line of a flush with the flush's timestamp
 * (but the named points of the carbon input, which keep their own: addAt). */
export class PlaintextBatch {
  private pending = '';
  private readonly tail: string;

  constructor(
    ts: number,
    private readonly write: (chunk: Buffer) => void,
  ) {
    this.tail = ' ' + ts + '\n';
  }

  readonly add = (name: string, value: number): void => {
    this.pending += name + ' ' + value + this.tail;
    if (this.pending.length >= CHUNK_CHARS) this.cut();
  };

  /** A datapoint with its own timestamp (the carbon input's named points). */
  readonly addAt = (name: string, value: number, ts: number): void => {
    this.pending += name + ' ' + value + ' ' + ts + '\n';
    if (this.pending.length >= CHUNK_CHARS) this.cut();
  };

  private cut(): void {
    const chunk = Buffer.from(this.pending);
    this.pending = '';
    this.write(chunk);
  }

  /** Every value of the snapshot, as etsy's graphite backend names them. */
  addSnapshot(snap: FlushSnapshot, names: GraphiteNames): this {
    names.forEach(snap, this.add);
    forEachNamed(snap, this.addAt);
    return this;
  }

  /** Hands on what is left. */
  end(): void {
    if (this.pending !== '') this.cut();
  }
}
