import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import type { GraphiteNames } from './graphiteNames.js';

/** Carbon's plaintext protocol: `name value ts\n`, every line of a flush with the flush's timestamp. */
export class PlaintextBatch {
  private readonly lines: string[] = [];
  private readonly tail: string;

  constructor(ts: number) {
    this.tail = ' ' + ts + '\n';
  }

  readonly add = (name: string, value: number): void => {
    this.lines.push(name + ' ' + value + this.tail);
  };

  /** Every value of the snapshot, as etsy's graphite backend names them. */
  addSnapshot(snap: FlushSnapshot, names: GraphiteNames): this {
    names.forEach(snap, this.add);
    return this;
  }

  get length(): number {
    return this.lines.length;
  }

  text(): string {
    return this.lines.join('');
  }
}
