import type { StoreSource } from '../agent/config/types.js';
import { readBucket } from './buckets.js';
import type { StoreReader, StoredInterval, StoredSeries } from './reader.js';
import { bucketStart, isFixed, nominalSeconds } from './step.js';
import { splitTags } from './query/glob.js';
import type { SeriesFetcher, TimeSeries, ValueReader } from './query/timeSeries.js';

const SOURCE_OF: Record<ValueReader['kind'], StoreSource> = { value: 'flushed', percentile: 'timer_samples', unique: 'set_members' };

/**
 * Whisper's rule: the finest interval whose retention reaches back to `from`, else the one that
 * reaches furthest. Monthly and yearly buckets have no fixed step, so Graphite series cannot carry
 * them: /render reads the other intervals (torus' /series reads them all).
 */
export function intervalFor(s: StoredSeries, from: number, now: number): StoredInterval | undefined {
  const fixed = s.intervals.filter((i) => isFixed(i.step));
  const retention = (i: StoredInterval): number => nominalSeconds(i.step) * i.steps;
  return fixed.find((i) => retention(i) >= now - from) ?? fixed.reduce<StoredInterval | undefined>((best, i) => (best === undefined || retention(i) > retention(best) ? i : best), undefined);
}

/** Graphite tags of a stored name: `a.b;host=x` → {name: "a.b", host: "x"}. */
export function tagsOf(name: string): Record<string, string> {
  const { path, tags } = splitTags(name);
  return { name: path, ...tags };
}

/** The store as the render functions see it: named series at a fixed step, null where a bucket is empty. */
export class StoreFetcher implements SeriesFetcher {
  constructor(
    private readonly reader: StoreReader,
    private readonly glob: (pattern: string) => (name: string) => boolean,
    private readonly now: number,
  ) {}

  fetch(pattern: string, how: ValueReader, from: number, until: number): TimeSeries[] {
    const source = SOURCE_OF[how.kind];
    const matches = this.glob(pattern);
    const fn = how.kind === 'percentile' ? `p${how.n}` : how.kind;
    const out: TimeSeries[] = [];
    const literal = /^[^*?[{]*/.exec(pattern)![0];
    for (const name of this.reader.namesStartingWith(source, literal)) {
      if (!matches(name)) continue;
      const s = this.reader.lookup(name, source);
      const interval = s && intervalFor(s, from, this.now);
      if (s === undefined || interval === undefined) continue;
      const step = nominalSeconds(interval.step);
      // whisper's bounds: `from` is exclusive, `until` inclusive, both floored to the step
      const start = bucketStart(interval.step, from) + step;
      const end = bucketStart(interval.step, until) + step;
      const values: (number | null)[] = new Array(Math.max(0, (end - start) / step)).fill(null);
      const direct = this.reader.values(s, interval, start, end, fn);
      if (direct !== undefined) for (const [t, v] of direct) values[(t - start) / step] = v;
      else for (const b of this.reader.buckets(s, interval, start, end)) values[(b.t - start) / step] = readBucket(b.data, fn) ?? null;
      out.push({ name, pathExpression: pattern, tags: tagsOf(name), start, end, step, values, consolidationFunc: 'average', xFilesFactor: 0 });
    }
    return out;
  }
}
