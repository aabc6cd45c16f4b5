import { emptyBatch, type StoreBatch } from '../../storage/writer.js';

export interface BatchParts {
  flushed?: Record<string, number>;
  timers?: Record<string, number[]>;
  sets?: Record<string, string[]>;
  /** carbon input: [name, value, timestamp] */
  named?: [string, number, number][];
}

/** A store batch at `ts` from plain records. */
export function storeBatch(ts: number, parts: BatchParts): StoreBatch {
  const b = emptyBatch(ts);
  const flushed = Object.entries(parts.flushed ?? {});
  b.flushed = { names: flushed.map(([n]) => n), values: Float64Array.from(flushed, ([, v]) => v) };
  const timers = Object.entries(parts.timers ?? {});
  const offsets = new Uint32Array(timers.length + 1);
  timers.forEach(([, s], i) => (offsets[i + 1] = offsets[i]! + s.length));
  b.timers = { keys: timers.map(([k]) => k), offsets, samples: Float64Array.from(timers.flatMap(([, s]) => s)) };
  b.sets = { keys: Object.keys(parts.sets ?? {}), members: Object.values(parts.sets ?? {}) };
  const named = parts.named ?? [];
  b.named = { names: named.map((p) => p[0]), values: Float64Array.from(named, (p) => p[1]), timestamps: Float64Array.from(named, (p) => p[2]) };
  return b;
}
