import type Database from 'better-sqlite3';
import type { StoreSource, StoreType } from '../agent/config/types.js';
import type { BucketData } from './buckets.js';
import { bucketKey, bucketTable, keyIndex, type Db } from './db.js';
import type { SchemaSet } from './schemas.js';
import { bucketIndex, indexStart, nominalSeconds, parseStep, type Step } from './step.js';

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

interface IntervalStatements {
  span: Database.Statement;
  rows: Database.Statement;
  /** per read function, the statement SQL answers it with */
  values: Map<string, Database.Statement>;
  read: (columns: string) => Database.Statement;
}

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
  /** statements per interval table, prepared on first use */
  private readonly tables = new Map<number, IntervalStatements>();

  constructor(
    private readonly db: Db,
    private readonly schemas: SchemaSet,
  ) {
    this.stmt = {
      names: db.prepare('SELECT DISTINCT name FROM series WHERE source = ? ORDER BY name').pluck(),
      namesFrom: db.prepare('SELECT DISTINCT name FROM series WHERE source = ? AND name >= ? AND name < ? ORDER BY name').pluck(),
      byName: db.prepare('SELECT id, schema, type FROM series WHERE source = ? AND name = ? ORDER BY id DESC'),
      intervals: db.prepare('SELECT id, name, step, steps FROM intervals WHERE schema = ? AND type = ?'),
    };
  }

  private statements(interval: StoredInterval): IntervalStatements {
    let st = this.tables.get(interval.id);
    if (st === undefined) {
      const table = bucketTable(interval.id);
      // CROSS JOIN keeps the list of keys the outer loop: one primary key seek per bucket
      const read = (columns: string) => this.db.prepare(`SELECT ${columns} FROM json_each(?) b CROSS JOIN ${table} d ON d.k = b.value ORDER BY b.key`);
      st = {
        // two subqueries: SQLite answers a lone MIN or MAX from the key, but scans for both in one SELECT
        span: this.db.prepare(`SELECT (SELECT MIN(k) FROM ${table}), (SELECT MAX(k) FROM ${table})`).raw(),
        rows: read('d.*'),
        values: new Map(),
        read,
      };
      this.tables.set(interval.id, st);
    }
    return st;
  }

  /**
   * The keys of a series' buckets of [from, until) as a JSON array, clamped to the buckets the
   * interval holds anything in (so an open range costs nothing). The tables are time-major: a
   * series is read by seeking each of its buckets.
   */
  private keys(s: StoredSeries, interval: StoredInterval, from: number, until: number): string {
    const [lowest, highest] = this.statements(interval).span.get() as [number | null, number | null];
    if (lowest === null || highest === null) return '[]';
    let first = bucketIndex(interval.step, from);
    if (indexStart(interval.step, first) < from) first++;
    const last = Math.min(bucketIndex(interval.step, until - 1), keyIndex(highest));
    const keys: number[] = [];
    for (let b = Math.max(first, keyIndex(lowest)); b <= last; b++) keys.push(bucketKey(b, s.id));
    return JSON.stringify(keys);
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
    const expr = SQL_VALUE[s.type]?.[fn];
    if (expr === undefined) return undefined;
    const st = this.statements(interval);
    let statement = st.values.get(fn);
    if (statement === undefined) st.values.set(fn, (statement = st.read(`d.k, ${expr}`).raw()));
    const rows = statement.all(this.keys(s, interval, from, until)) as [number, number | null][];
    for (const row of rows) row[0] = indexStart(interval.step, keyIndex(row[0]));
    return rows;
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
    const intervals = (this.stmt.intervals.all(row.schema, row.type) as { id: number; name: string; step: string; steps: number }[])
      .map((i) => ({ id: i.id, name: i.name, step: parseStep(i.step)!, steps: i.steps }))
      .sort((a, b) => nominalSeconds(a.step) - nominalSeconds(b.step));
    return { id: row.id, source, name, schema: row.schema, type: row.type, intervals };
  }

  /** The buckets of [from, until) (bucket starts) that hold data, in time order. */
  buckets(s: StoredSeries, interval: StoredInterval, from: number, until: number): Bucket[] {
    const rows = this.statements(interval).rows.all(this.keys(s, interval, from, until)) as Record<string, number | string>[];
    for (const r of rows) r.t = indexStart(interval.step, keyIndex(r.k as number));
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
