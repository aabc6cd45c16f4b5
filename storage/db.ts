import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Config, StoreType } from '../agent/config/types.js';

export type Db = Database.Database;

/** Bumped when the tables change shape; an older file is refused rather than misread. */
const FORMAT = 2;

/**
 * One table of names (a series is a name of one source, kept under one schema and type), one of
 * intervals as they were configured (so pruning follows the retention the data was written with),
 * and one table of buckets per interval, created with it.
 *
 * A bucket row's key is one integer, `bucket number × 2^22 + series id` (bucketKey): time first.
 * A flush writes the current bucket of every series, and time-major those rows are adjacent, so a
 * flush dirties a few thousand pages however long the history; series-major, it would dirty one
 * page per series and interval (a flush of 50,000 series took 4 times longer after 60 flushes, and
 * kept growing). An integer key is SQLite's fastest b-tree: writing 400,000 rows took half the
 * time of a (interval, t, series) key (measured). A series is read by seeking each of its buckets;
 * pruning deletes whole buckets off the front.
 */
const TABLES = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
  id INTEGER PRIMARY KEY, source TEXT NOT NULL, name TEXT NOT NULL, schema TEXT NOT NULL, type TEXT NOT NULL,
  UNIQUE (source, name, schema, type));
CREATE TABLE IF NOT EXISTS intervals (
  id INTEGER PRIMARY KEY, schema TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL, step TEXT NOT NULL, steps INTEGER NOT NULL,
  UNIQUE (schema, type, name, step));
`;

/** Series ids take the low 22 bits of a bucket key: a store holds at most 4,194,304 series. */
export const MAX_SERIES = 2 ** 22;

/** The key of a series' bucket number `index`; exact below 2^53, i.e. bucket numbers below 2^31. */
export function bucketKey(index: number, series: number): number {
  return index * MAX_SERIES + series;
}

/** The bucket number of a key. */
export function keyIndex(key: number): number {
  return Math.floor(key / MAX_SERIES);
}

/** The columns of a bucket row of each type, after its key `k`. */
export const BUCKET_COLUMNS: Record<StoreType, string[]> = {
  count: ['v'],
  gauge: ['v'],
  series: ['n', 'sum', 'min', 'max', 'last'],
  histogram: ['value', 'n'],
  set: ['member'],
};

export const bucketTable = (interval: number): string => `buckets_${interval}`;

/** Histograms and sets keep a row per value or member of a bucket; the others one row per bucket. */
export function createBucketTable(db: Db, interval: number, type: StoreType): void {
  const table = bucketTable(interval);
  const sql: Record<StoreType, string> = {
    count: `(k INTEGER PRIMARY KEY, v REAL NOT NULL)`,
    gauge: `(k INTEGER PRIMARY KEY, v REAL NOT NULL)`,
    series: `(k INTEGER PRIMARY KEY, n INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, last REAL NOT NULL)`,
    histogram: `(k INTEGER NOT NULL, value REAL NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (k, value)) WITHOUT ROWID`,
    set: `(k INTEGER NOT NULL, member TEXT NOT NULL, PRIMARY KEY (k, member)) WITHOUT ROWID`,
  };
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} ${sql[type]}`);
}

/** The store's file: `store.path`, relative to `data_dir` unless absolute. */
export function storeFile(c: Config): string {
  return path.resolve(c.data_dir, c.store.path);
}

/** Opens (creating if needed) the store for writing: WAL, so that readers never wait for the writer. */
export function openForWriting(file: string): Db {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a commit is durable once checkpointed, and a crash never corrupts the file
    db.pragma('synchronous = NORMAL');
    db.pragma('cache_size = -65536'); // 64 MiB: the rows a flush touches stay in memory
    db.exec(TABLES);
    checkFormat(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** Opens the store for reading (the CLI, the HTTP API); fails if it does not exist yet. */
export function openForReading(file: string): Db {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  // a read seeks once per bucket (time-major tables): with 64 MiB of pages held, a week of one
  // series in a 1000-series store reads in ~27 ms instead of ~45 ms (measured)
  db.pragma('cache_size = -65536');
  checkFormat(db, file);
  return db;
}

function checkFormat(db: Db, file: string): void {
  if (!db.readonly) db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('format', String(FORMAT));
  const row = db.prepare("SELECT value FROM meta WHERE key = 'format'").get() as { value: string } | undefined;
  if (row !== undefined && Number(row.value) !== FORMAT) throw new Error(`${file}: store format ${row.value}, this tally reads format ${FORMAT}`);
}
