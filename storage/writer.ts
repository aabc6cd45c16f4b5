import type Database from 'better-sqlite3';
import type { StoreInterval, StoreSchema, StoreSource, StoreType } from '../agent/config/types.js';
import { roundSignificant } from './buckets.js';
import { BUCKET_COLUMNS, bucketKey, bucketTable, createBucketTable, keyIndex, MAX_SERIES, type Db } from './db.js';
import { RowBuffer } from './rowBuffer.js';
import type { SchemaSet } from './schemas.js';
import { bucketIndex, formatStep, parseStep, type Step } from './step.js';

/** One flush as the store takes it: plain arrays and typed arrays, cheap to pass to a worker. */
export interface StoreBatch {
  /** the flush's slot, unix seconds: the timestamp of flushed values, timer samples and set members */
  ts: number;
  /** what the carbon flusher sends, with the flush's timestamp */
  flushed: { names: string[]; values: Float64Array };
  /** carbon input datapoints, each with its own timestamp */
  named: { names: string[]; values: Float64Array; timestamps: Float64Array };
  /** timer i's raw samples are samples[offsets[i] .. offsets[i + 1]) */
  timers: { keys: string[]; offsets: Uint32Array; samples: Float64Array };
  sets: { keys: string[]; members: string[][] };
}

/** A batch with nothing in it, to fill in. */
export function emptyBatch(ts: number): StoreBatch {
  return {
    ts,
    flushed: { names: [], values: new Float64Array(0) },
    named: { names: [], values: new Float64Array(0), timestamps: new Float64Array(0) },
    timers: { keys: [], offsets: new Uint32Array(1), samples: new Float64Array(0) },
    sets: { keys: [], members: [] },
  };
}

export interface WriteResult {
  /** bucket rows inserted or updated */
  rows: number;
  /** writes to buckets older than their interval keeps */
  skippedOld: number;
  newSeries: number;
  /** names not stored because the store holds MAX_SERIES series */
  refusedSeries: number;
}

interface IntervalRow {
  id: number;
  step: Step;
  steps: number;
  /** the number of the oldest bucket kept, as of the batch being written */
  oldest: number;
  /** this interval's rows of the batch: buffered per interval, each statement writes one region of the table */
  rows: RowBuffer;
}

interface Target {
  id: number;
  type: StoreType;
  precision: number;
  intervals: IntervalRow[];
}

/** The number of the oldest bucket an interval keeps when `now` falls in its newest. */
const oldestKept = (step: Step, steps: number, now: number): number => bucketIndex(step, now) - (steps - 1);

/**
 * Writes batches into the store: one transaction per batch, prepared upserts, every interval of
 * the name's schema. Series and interval ids are cached so a flush only touches bucket rows.
 * Synchronous (better-sqlite3): it runs in the store's worker thread, never on the receive path.
 */
export class StoreWriter {
  private readonly targets: Record<StoreSource, Map<string, Target | null>> = { flushed: new Map(), timer_samples: new Map(), set_members: new Map() };
  private readonly intervalRows = new Map<string, IntervalRow[]>();
  private readonly stmt;
  /** per interval id: its oldest key, and the statement that deletes a range of keys */
  private readonly prunable = new Map<number, { oldest: Database.Statement; drop: Database.Statement }>();

  constructor(
    private readonly db: Db,
    private readonly schemas: SchemaSet,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.stmt = {
      findSeries: db.prepare('SELECT id FROM series WHERE source = ? AND name = ? AND schema = ? AND type = ?').pluck(),
      addSeries: db.prepare('INSERT INTO series (source, name, schema, type) VALUES (?, ?, ?, ?)'),
      findInterval: db.prepare('SELECT id FROM intervals WHERE schema = ? AND type = ? AND name = ? AND step = ?').pluck(),
      addInterval: db.prepare('INSERT INTO intervals (schema, type, name, step, steps) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET steps = excluded.steps'),
      intervals: db.prepare('SELECT id, step, steps FROM intervals'),
    };
    this.write = db.transaction(this.write.bind(this));
  }

  /** The ids of a schema's intervals, registered on first use; retention updated if it changed. */
  private intervalsOf(schema: StoreSchema): IntervalRow[] {
    let rows = this.intervalRows.get(schema.name);
    if (rows === undefined) {
      rows = schema.intervals.map((i: StoreInterval) => {
        const step = formatStep(i.step);
        this.stmt.addInterval.run(schema.name, schema.type, i.name, step, i.steps);
        const id = this.stmt.findInterval.get(schema.name, schema.type, i.name, step) as number;
        createBucketTable(this.db, id, schema.type);
        return { id, step: i.step, steps: i.steps, oldest: 0, rows: rowBuffer(this.db, id, schema.type) };
      });
      this.intervalRows.set(schema.name, rows);
    }
    return rows;
  }

  private target(name: string, source: StoreSource, result: WriteResult): Target | null {
    const cache = this.targets[source];
    let t = cache.get(name);
    if (t !== undefined) return t;
    const schema = this.schemas.match(name, source);
    if (schema.intervals.length === 0) {
      t = null; // a schema without intervals keeps nothing
    } else {
      let id = this.stmt.findSeries.get(source, name, schema.name, schema.type) as number | undefined;
      if (id === undefined) {
        id = Number(this.stmt.addSeries.run(source, name, schema.name, schema.type).lastInsertRowid);
        result.newSeries++;
      }
      if (id >= MAX_SERIES) {
        result.refusedSeries++;
        return null; // not cached: counted at each flush
      }
      t = { id, type: schema.type, precision: schema.precision, intervals: this.intervalsOf(schema) };
    }
    cache.set(name, t);
    return t;
  }

  /** Writes a whole batch in one transaction (wrapped in the constructor); all or nothing. */
  write(batch: StoreBatch): WriteResult {
    try {
      return this.writePart(batch);
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /**
   * Writes a batch inside the caller's transaction (a large flush comes in several parts, one
   * transaction for them all). After a failure, call discard() and roll the transaction back.
   */
  writePart(batch: StoreBatch): WriteResult {
    const result = this.writeAll(batch);
    for (const rows of this.intervalRows.values()) for (const r of rows) r.rows.finish();
    return result;
  }

  /** Forgets rows buffered for a transaction that is rolled back. */
  discard(): void {
    for (const rows of this.intervalRows.values()) for (const r of rows) r.rows.discard();
  }

  private writeAll(batch: StoreBatch): WriteResult {
    const result: WriteResult = { rows: 0, skippedOld: 0, newSeries: 0, refusedSeries: 0 };
    const now = this.now();
    for (const rows of this.intervalRows.values()) for (const r of rows) r.oldest = oldestKept(r.step, r.steps, now);
    const fresh = (t: Target): void => {
      for (const r of t.intervals) if (r.oldest === 0) r.oldest = oldestKept(r.step, r.steps, now);
    };

    const { flushed, named, timers, sets } = batch;
    for (let i = 0; i < flushed.names.length; i++) {
      const t = this.target(flushed.names[i]!, 'flushed', result);
      if (t !== null) (fresh(t), this.writeValue(t, batch.ts, flushed.values[i]!, result));
    }
    for (let i = 0; i < named.names.length; i++) {
      const t = this.target(named.names[i]!, 'flushed', result);
      if (t !== null) (fresh(t), this.writeValue(t, named.timestamps[i]!, named.values[i]!, result));
    }
    for (let i = 0; i < timers.keys.length; i++) {
      const t = this.target(timers.keys[i]!, 'timer_samples', result);
      if (t !== null) (fresh(t), this.writeSamples(t, batch.ts, timers.samples.subarray(timers.offsets[i]!, timers.offsets[i + 1]!), result));
    }
    for (let i = 0; i < sets.keys.length; i++) {
      const t = this.target(sets.keys[i]!, 'set_members', result);
      if (t === null) continue;
      fresh(t);
      for (const r of t.intervals) {
        const b = this.bucket(r, batch.ts, result);
        if (b === undefined) continue;
        const k = bucketKey(b, t.id);
        for (const m of sets.members[i]!) r.rows.add(k, m);
        result.rows += sets.members[i]!.length;
      }
    }
    return result;
  }

  /** The number of the bucket of `ts` in interval r, or undefined (counted) when r no longer keeps it. */
  private bucket(r: IntervalRow, ts: number, result: WriteResult): number | undefined {
    const b = bucketIndex(r.step, ts);
    if (b >= r.oldest) return b;
    result.skippedOld++;
    return undefined;
  }

  private writeValue(t: Target, ts: number, v: number, result: WriteResult): void {
    for (const r of t.intervals) {
      const b = this.bucket(r, ts, result);
      if (b === undefined) continue;
      const k = bucketKey(b, t.id);
      switch (t.type) {
        case 'count':
        case 'gauge':
          r.rows.add(k, v);
          break;
        case 'series':
          r.rows.add(k, 1, v, v, v, v);
          break;
        case 'histogram':
          r.rows.add(k, roundSignificant(v, t.precision), 1);
          break;
        case 'set':
          r.rows.add(k, String(v));
          break;
      }
      result.rows++;
    }
  }

  /** One timer's samples of a flush, folded first so each bucket gets one write per distinct value. */
  private writeSamples(t: Target, ts: number, samples: Float64Array, result: WriteResult): void {
    if (samples.length === 0) return;
    if (t.type === 'histogram') {
      const h = new Map<number, number>();
      for (const v of samples) {
        const k = roundSignificant(v, t.precision);
        h.set(k, (h.get(k) ?? 0) + 1);
      }
      for (const r of t.intervals) {
        const b = this.bucket(r, ts, result);
        if (b === undefined) continue;
        const k = bucketKey(b, t.id);
        for (const [value, n] of h) r.rows.add(k, value, n);
        result.rows += h.size;
      }
      return;
    }
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const v of samples) {
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    for (const r of t.intervals) {
      const b = this.bucket(r, ts, result);
      if (b === undefined) continue;
      const k = bucketKey(b, t.id);
      if (t.type === 'series') r.rows.add(k, samples.length, sum, min, max, samples[samples.length - 1]!);
      else r.rows.add(k, sum);
      result.rows++;
    }
  }

  /**
   * Deletes whole buckets older than their interval keeps, oldest first, until about `budget` rows
   * are gone (a bucket holds one row per series, or per value for histograms and sets). Returns the
   * rows deleted and whether nothing is left to prune.
   */
  prune(budget: number): { deleted: number; done: boolean } {
    const now = this.now();
    let deleted = 0;
    for (const iv of this.stmt.intervals.all() as { id: number; step: string; steps: number }[]) {
      const cutoff = oldestKept(parseStep(iv.step)!, iv.steps, now);
      const table = this.prunableOf(iv.id);
      for (let k = table.oldest.get() as number | null; k !== null && keyIndex(k) < cutoff; k = table.oldest.get() as number | null) {
        if (deleted >= budget) return { deleted, done: false };
        const b = keyIndex(k);
        deleted += table.drop.run(bucketKey(b, 0), bucketKey(b + 1, 0)).changes;
      }
    }
    return { deleted, done: true };
  }

  private prunableOf(interval: number): { oldest: Database.Statement; drop: Database.Statement } {
    let p = this.prunable.get(interval);
    if (p === undefined) {
      const table = bucketTable(interval);
      p = { oldest: this.db.prepare(`SELECT MIN(k) FROM ${table}`).pluck(), drop: this.db.prepare(`DELETE FROM ${table} WHERE k >= ? AND k < ?`) };
      this.prunable.set(interval, p);
    }
    return p;
  }
}

/** How each type's row is written into an interval's table; a conflict is the same bucket written again. */
function rowBuffer(db: Db, interval: number, type: StoreType): RowBuffer {
  const onConflict: Record<StoreType, string> = {
    count: 'DO UPDATE SET v = v + excluded.v',
    gauge: 'DO UPDATE SET v = excluded.v',
    series: 'DO UPDATE SET n = n + excluded.n, sum = sum + excluded.sum, min = min(min, excluded.min), max = max(max, excluded.max), last = excluded.last',
    histogram: 'DO UPDATE SET n = n + excluded.n',
    set: 'DO NOTHING',
  };
  return new RowBuffer(db, bucketTable(interval), ['k', ...BUCKET_COLUMNS[type]], onConflict[type]);
}
