import type Database from 'better-sqlite3';
import type { StoreSource, StoreType } from '../agent/config/types.js';
import type { BucketData } from './buckets.js';
import { DATA_TABLE, type Db } from './db.js';
import type { SchemaSet } from './schemas.js';
import { bucketRange, nominalSeconds, parseStep, type Step } from './step.js';

export interface StoredInterval {
  id: number;
  name: string;
  step: Step;
  steps: number;
}

/** A name of one source as it is stored: its schema, type and intervals (finest first). */
export interface StoredSeries {
  id: number;
  source: StoreSource;
  name: string;
  schema: string;
  type: StoreType;
  intervals: StoredInterval[];
}

/** Per type, the functions a bucket's row answers directly (as readBucket would). */
const SQL_VALUE: Partial<Record<StoreType, Record<string, string>>> = {
  count: { value: 'v', sum: 'v', count: 'v' },
  gauge: { value: 'v', last: 'v' },
  series: { value: 'sum / n', avg: 'sum / n', min: 'min', max: 'max', sum: 'sum', count: 'n', last: 'last' },
};

export interface Bucket {
  t: number;
  data: BucketData;
}

/**
 * Reads the store (a read-only connection: WAL lets it read while the agent writes). Synchronous
 * and quick: one index walk per series and interval.
 */
export class StoreReader {
  private readonly stmt;
  private readonly rangeOf: Record<StoreType, Database.Statement>;

  constructor(
    private readonly db: Db,
    private readonly schemas: SchemaSet,
  ) {
    this.stmt = {
      names: db.prepare('SELECT DISTINCT name FROM series WHERE source = ? ORDER BY name').pluck(),
      namesFrom: db.prepare('SELECT DISTINCT name FROM series WHERE source = ? AND name >= ? AND name < ? ORDER BY name').pluck(),
      byName: db.prepare('SELECT id, schema, type FROM series WHERE source = ? AND name = ? ORDER BY id DESC'),
      intervals: db.prepare('SELECT id, name, step, steps FROM intervals WHERE schema = ?'),
    };
    this.rangeOf = Object.fromEntries(
      Object.entries(DATA_TABLE).map(([type, table]) => [
        type,
        db.prepare(`SELECT d.* FROM json_each(?) b CROSS JOIN ${table} d ON d.interval = ? AND d.t = b.value AND d.series = ? ORDER BY b.key`),
      ]),
    ) as Record<StoreType, Database.Statement>;
    this.spanOf = Object.fromEntries(
      Object.entries(DATA_TABLE).map(([type, table]) => [type, db.prepare(`SELECT (SELECT MIN(t) FROM ${table} WHERE interval = ?), (SELECT MAX(t) FROM ${table} WHERE interval = ?)`).raw()]),
    ) as Record<StoreType, Database.Statement>;
    this.valueOf = {};
    for (const [type, fns] of Object.entries(SQL_VALUE)) {
      for (const [fn, expr] of Object.entries(fns)) {
        this.valueOf[`${type} ${fn}`] = db
          .prepare(`SELECT d.t, ${expr} FROM json_each(?) b CROSS JOIN ${DATA_TABLE[type as StoreType]} d ON d.interval = ? AND d.t = b.value AND d.series = ? ORDER BY b.key`)
          .raw();
      }
    }
  }

  private readonly valueOf: Record<string, Database.Statement>;
  private readonly spanOf: Record<StoreType, Database.Statement>;

  /**
   * The bucket starts of [from, until) that the interval holds anything in, as a JSON array: the
   * tables are time-major, so a series is read by seeking each of its buckets (inside SQLite:
   * CROSS JOIN keeps the bucket list the outer loop, one primary key seek per bucket).
   * Clamped to the buckets any series of the interval has, so an open range costs nothing (two
   * subqueries: SQLite answers a lone MIN or MAX from the key, but scans for both in one SELECT).
   */
  private starts(s: StoredSeries, interval: StoredInterval, from: number, until: number): string {
    const [first, last] = this.spanOf[s.type].get(interval.id, interval.id) as [number | null, number | null];
    if (first === null || last === null) return '[]';
    const ts = bucketRange(interval.step, Math.max(from, first), Math.min(until - 1, last)).filter((t) => t >= from);
    return JSON.stringify(ts);
  }

  /** Every stored name of a source, sorted. */
  names(source: StoreSource): string[] {
    return this.stmt.names.all(source) as string[];
  }

  /** The stored names of a source that start with `prefix`, sorted: an index range, not a scan. */
  namesStartingWith(source: StoreSource, prefix: string): string[] {
    return prefix === '' ? this.names(source) : (this.stmt.namesFrom.all(source, prefix, prefix + '\u{10ffff}') as string[]);
  }

  /**
   * [bucket start, value] of the buckets of [from, until) that hold data, for the functions SQL
   * computes itself (a /render of a week reads 10,080 rows: building objects for each would cost
   * more than the read). Undefined when `fn` needs the buckets (histograms, sets).
   */
  values(s: StoredSeries, interval: StoredInterval, from: number, until: number, fn: string): [number, number | null][] | undefined {
    return this.valueOf[`${s.type} ${fn}`]?.all(this.starts(s, interval, from, until), interval.id, s.id) as [number, number | null][] | undefined;
  }

  /**
   * The series of `name` in `source`. A name kept under several schemas (the config changed) reads
   * from the one the config now gives it, else from the newest.
   */
  lookup(name: string, source: StoreSource): StoredSeries | undefined {
    const rows = this.stmt.byName.all(source, name) as { id: number; schema: string; type: StoreType }[];
    if (rows.length === 0) return undefined;
    const current = this.schemas.match(name, source);
    const row = rows.find((r) => r.schema === current.name && r.type === current.type) ?? rows[0]!;
    const intervals = (this.stmt.intervals.all(row.schema) as { id: number; name: string; step: string; steps: number }[])
      .map((i) => ({ id: i.id, name: i.name, step: parseStep(i.step)!, steps: i.steps }))
      .sort((a, b) => nominalSeconds(a.step) - nominalSeconds(b.step));
    return { id: row.id, source, name, schema: row.schema, type: row.type, intervals };
  }

  /** The buckets of [from, until) (bucket starts) that hold data, in time order. */
  buckets(s: StoredSeries, interval: StoredInterval, from: number, until: number): Bucket[] {
    const rows = this.rangeOf[s.type].all(this.starts(s, interval, from, until), interval.id, s.id) as Record<string, number | string>[];
    switch (s.type) {
      case 'count':
      case 'gauge':
        return rows.map((r) => ({ t: r.t as number, data: { type: s.type as 'count', v: r.v as number } }));
      case 'series':
        return rows.map((r) => ({
          t: r.t as number,
          data: { type: 'series', s: { n: r.n as number, sum: r.sum as number, min: r.min as number, max: r.max as number, last: r.last as number } },
        }));
      case 'histogram':
        return group(rows, () => ({ type: 'histogram', h: new Map<number, number>() }), (d, r) => d.h.set(r.value as number, r.n as number));
      case 'set':
        return group(rows, () => ({ type: 'set', members: new Set<string>() }), (d, r) => d.members.add(r.member as string));
    }
  }

  close(): void {
    this.db.close();
  }
}

/** Rows of several per-value rows per bucket (histograms, sets), one bucket each. */
function group<D extends BucketData>(rows: Record<string, number | string>[], empty: () => D, add: (d: D, row: Record<string, number | string>) => void): Bucket[] {
  const out: Bucket[] = [];
  let current: { t: number; data: D } | undefined;
  for (const r of rows) {
    if (current === undefined || current.t !== r.t) out.push((current = { t: r.t as number, data: empty() }));
    add(current.data, r);
  }
  return out;
}
