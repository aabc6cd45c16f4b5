import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import type { Figures } from '../agent/meta/registry.js';
import type { Flusher } from './flusher.js';
import { forEachNamed, type GraphiteNames } from './graphiteNames.js';

/** --debug: prints every flushed value whose name, or statsd key, matches the glob. */
export class DebugFlusher implements Flusher {
  readonly name = 'debug';

  constructor(
    private readonly names: GraphiteNames,
    private readonly matches: (name: string) => boolean,
    private readonly print: (line: string) => void,
  ) {}

  async flush(snap: FlushSnapshot): Promise<void> {
    this.names.forEach(snap, (name, value, key) => {
      if (this.matches(name) || (key !== undefined && this.matches(key))) this.print(`flushed ${name} ${value} ${snap.ts}`);
    });
    forEachNamed(snap, (name, value, ts) => {
      if (this.matches(name)) this.print(`flushed ${name} ${value} ${ts}`);
    });
  }

  async close(): Promise<void> {}

  status(): Figures {
    return {};
  }
}
