/**
 * The embedded store's figures: one flush of 100,000 metrics written into the 4 default intervals
 * (what the writer thread does each flush), and database bytes per series-day after a day of 10 s
 * flushes with pruning. Uses the writer the agent's worker runs, on a real SQLite file.
 */
import { statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { loadConfig } from '../agent/config/load.js';
import type { Config } from '../agent/config/types.js';
import { bucketTable, MAX_SERIES, openForWriting } from '../storage/db.js';
import { SchemaSet } from '../storage/schemas.js';
import { startHttp } from '../storage/http/server.js';
import { emptyBatch, StoreWriter, type StoreBatch } from '../storage/writer.js';

export const DAY = 86_400;
/** A whole day, so that every interval starts on a bucket boundary. */
export const T0 = 1_780_000_000 - (1_780_000_000 % DAY);

export function defaultConfig(dir: string): Config {
  const c = loadConfig([]);
  return { ...c, data_dir: dir };
}

/** `n` flushed names as a statsd flush has them: a fifth counters' counts, the rest values. */
function flushedBatch(ts: number, n: number): StoreBatch {
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push(i % 5 === 0 ? `stats_counts.app${i % 97}.k${i}` : `stats.timers.app${i % 97}.k${i}.mean`);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = Math.random() * 1000;
  return { ...emptyBatch(ts), flushed: { names, values } };
}

/** `timers` timers with `each` samples apiece, kept as histograms. */
function samplesBatch(ts: number, timers: number, each: number): StoreBatch {
  const keys = Array.from({ length: timers }, (_, i) => `app.t${i}`);
  const offsets = Uint32Array.from({ length: timers + 1 }, (_, i) => i * each);
  const samples = Float64Array.from({ length: timers * each }, () => Math.round(Math.random() * 500 * 100) / 100);
  return { ...emptyBatch(ts), timers: { keys, offsets, samples } };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeWrites(dir: string, name: string, make: (ts: number) => StoreBatch, warm: number, measured: number): { median: number; max: number; rows: number } {
  const c = defaultConfig(dir);
  const db = openForWriting(join(dir, name));
  let now = T0;
  const w = new StoreWriter(db, new SchemaSet(c), () => now);
  const times: number[] = [];
  let rows = 0;
  for (let f = 0; f < warm + measured; f++) {
    now = T0 + 10 * f;
    const batch = make(now);
    const started = performance.now();
    const r = w.write(batch);
    if (f >= warm) {
      times.push(performance.now() - started);
      rows = r.rows;
    }
  }
  db.close();
  return { median: median(times), max: Math.max(...times), rows };
}

/** Bytes of the database file once its WAL is folded in. */
export function fileBytes(file: string): number {
  return statSync(file).size;
}

function bytesPerSeriesDay(dir: string): { perSeries: Record<string, number>; total: number } {
  const c = defaultConfig(dir);
  const file = join(dir, 'day.db');
  const db = openForWriting(file);
  let now = T0;
  const w = new StoreWriter(db, new SchemaSet(c), () => now);
  const S = 50;
  const counts = Array.from({ length: S }, (_, i) => `stats_counts.day.c${i}`);
  const values = Array.from({ length: S }, (_, i) => `stats.timers.day.v${i}.mean`);
  for (let f = 0; f < DAY / 10; f++) {
    now = T0 + 10 * f;
    const b = emptyBatch(now);
    const names = [...counts, ...values];
    b.flushed = { names, values: Float64Array.from(names, () => Math.random() * 1000) };
    const sampled = samplesBatch(now, S, 10);
    b.timers = sampled.timers;
    w.write(b);
    if (f % 360 === 359) while (!w.prune(10_000).done);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  const per = (type: string) =>
    (db.prepare("SELECT SUM(pgsize) FROM dbstat WHERE name IN (SELECT 'buckets_' || id FROM intervals WHERE type = ?)").pluck().get(type) as number) / S;
  const perSeries = { count: per('count'), series: per('series'), histogram: per('histogram') };
  db.close();
  return { perSeries, total: fileBytes(file) };
}

export function storeWriteFigures(dir: string, log: (m: string) => void): string[] {
  log('store: one flush of 100,000 metrics into 4 intervals');
  const flushed = timeWrites(dir, 'flushed.db', (ts) => flushedBatch(ts, 100_000), 6, 12);
  log('store: 5,000 timers x 20 samples as histograms');
  const hist = timeWrites(dir, 'samples.db', (ts) => samplesBatch(ts, 5000, 20), 6, 12);
  log('store: a day of 10 s flushes, 150 series');
  const day = bytesPerSeriesDay(dir);
  const kb = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  return [
    `| store one flush of 100,000 metrics into 4 intervals (${flushed.rows.toLocaleString('en')} bucket rows) | median ${flushed.median.toFixed(0)} ms, max ${flushed.max.toFixed(0)} ms |`,
    `| store 5,000 timers × 20 samples as histograms (${hist.rows.toLocaleString('en')} value rows) | median ${hist.median.toFixed(0)} ms, max ${hist.max.toFixed(0)} ms |`,
    `| database bytes per series-day (day 1 of the default intervals) | series ${kb(day.perSeries.series)}, count ${kb(day.perSeries.count)}, histogram of 10 samples/flush ${kb(day.perSeries.histogram)} |`,
  ];
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode}: ${body}`))));
    })
      .on('error', reject)
      .end();
  });
}

/** Other series in the week's store, so that reading one of them seeks through a realistic table. */
const NEIGHBOURS = 999;

/**
 * GET /render of one series over 7 days through the real HTTP server: the series written by the
 * writer with a week of 10 s flushes, among NEIGHBOURS other series whose week of 1-minute buckets
 * (the interval a 7-day render reads) is filled by one bulk INSERT, which is much quicker.
 */
export async function renderFigure(dir: string, log: (m: string) => void): Promise<string> {
  log(`store: writing a week of 10 s flushes of one series, and a week of 1 min buckets of ${NEIGHBOURS} others`);
  const c = { ...defaultConfig(dir), store: { ...defaultConfig(dir).store, path: 'week.db' } };
  const db = openForWriting(join(dir, 'week.db'));
  const end = T0 + 7 * DAY;
  let now = T0;
  const w = new StoreWriter(db, new SchemaSet(c), () => now);
  for (now = T0; now < end; now += 10) {
    const b = emptyBatch(now);
    b.flushed = { names: ['stats.timers.api.latency.mean'], values: Float64Array.of(50 + 10 * Math.sin(now / 3600)) };
    w.write(b);
  }
  const others = emptyBatch(end - 10);
  others.flushed = { names: Array.from({ length: NEIGHBOURS }, (_, i) => `stats.timers.app${i}.latency.mean`), values: new Float64Array(NEIGHBOURS) };
  w.write(others);
  const minute = db.prepare("SELECT id FROM intervals WHERE schema = 'values' AND name = '1m'").pluck().get() as number;
  db.exec(`WITH RECURSIVE ts(t) AS (SELECT ${T0} UNION ALL SELECT t + 60 FROM ts WHERE t + 60 < ${end})
    INSERT OR IGNORE INTO ${bucketTable(minute)} (k, n, sum, min, max, last)
    SELECT (ts.t / 60) * ${MAX_SERIES} + s.id, 6, 300, 40, 60, 50 FROM ts, series s WHERE s.name LIKE 'stats.timers.app%' ORDER BY 1`);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const dbBytes = fileBytes(join(dir, 'week.db'));
  db.close();
  const http = await startHttp({ host: '127.0.0.1', port: 0, family: 4 }, { config: () => c, log: { info() {}, warn() {}, error: log }, now: () => end });
  try {
    const port = Number(/:(\d+)$/.exec(http.description)![1]);
    const path = `/render?target=stats.timers.api.latency.mean&from=${end - 7 * DAY}&until=${end}&format=json`;
    const points = (JSON.parse(await get(port, path)) as { datapoints: unknown[] }[])[0]!.datapoints.length;
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await get(port, path);
      times.push(performance.now() - started);
    }
    const maxDp = `${path}&maxDataPoints=1000`;
    const consolidated: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await get(port, maxDp);
      consolidated.push(performance.now() - started);
    }
    const mib = (dbBytes / 1024 ** 2).toFixed(0);
    return `| /render of one series over 7 days (${points.toLocaleString('en')} points of the 1m interval, in a ${NEIGHBOURS + 1}-series ${mib} MiB store; then with maxDataPoints=1000) | median ${median(times).toFixed(1)} ms; ${median(consolidated).toFixed(1)} ms |`;
  } finally {
    await http.close();
  }
}
