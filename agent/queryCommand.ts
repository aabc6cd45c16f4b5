/**
 * `tally query` (torus' /series from the command line, over the store opened read-only) and
 * `tally schema-debug` (torus' schema_debug: where a name would be kept, and for how long).
 */
import { existsSync } from 'node:fs';
import { STORE_SOURCES } from './config/schema.js';
import type { Config, StoreSchema, StoreSource } from './config/types.js';
import { openForReading, storeFile } from '../storage/db.js';
import { StoreReader } from '../storage/reader.js';
import { SchemaSet } from '../storage/schemas.js';
import { asGraphite, querySeries, type SeriesQuery, type SeriesResult } from '../storage/seriesQuery.js';
import { formatStep, type Step } from '../storage/step.js';

export type QueryFormat = 'table' | 'json' | 'graphite';
export const QUERY_FORMATS: readonly QueryFormat[] = ['table', 'json', 'graphite'];

/** The store could not be read (none yet, or unreadable): exit 1. */
export class StoreUnavailable extends Error {}

/** Runs a /series query against the store of `config`; QueryErrors pass through. */
export function queryCommand(config: Config, query: SeriesQuery, format: QueryFormat, now = Math.floor(Date.now() / 1000)): string {
  const file = storeFile(config);
  if (!existsSync(file)) throw new StoreUnavailable(`no store at ${file} yet: the agent writes it at its first flush (store.enabled, data_dir, store.path)`);
  let reader: StoreReader;
  try {
    reader = new StoreReader(openForReading(file), new SchemaSet(config));
  } catch (err) {
    throw new StoreUnavailable(`cannot read the store ${file}: ${(err as Error).message}`);
  }
  try {
    const results = querySeries(reader, query, now);
    if (format === 'json') return JSON.stringify(results) + '\n';
    if (format === 'graphite') return JSON.stringify(asGraphite(results)) + '\n';
    return results.map(table).join('\n');
  } finally {
    reader.close();
  }
}

/** A header naming stat, schema and interval, then one line per bucket: ISO UTC time, value (`-` = empty). */
function table(r: SeriesResult): string {
  if (r.schema === null) return `# ${r.stat}: not stored\n`;
  const lines = [`# ${r.stat}  schema ${r.schema}  interval ${r.interval}  function ${r.function}`];
  for (const [v, t] of r.datapoints) lines.push(`${new Date(t * 1000).toISOString().replace('.000Z', 'Z')}  ${v === null ? '-' : String(v)}`);
  return lines.join('\n') + '\n';
}

/** How long `steps` buckets of `step` reach back: "6h", "7d", "12 months". */
export function retention(step: Step, steps: number): string {
  switch (step) {
    case 'daily':
      return `${steps}d`;
    case 'weekly':
      return `${steps}w`;
    case 'monthly':
      return `${steps} month${steps === 1 ? '' : 's'}`;
    case 'yearly':
      return `${steps} year${steps === 1 ? '' : 's'}`;
    default:
      return formatStep(step * steps);
  }
}

function describeSchema(name: string, source: StoreSource, s: StoreSchema): string[] {
  const matched = s.match.find((m) => new RegExp(m).test(name)) ?? s.match[0] ?? '';
  const lines = [`  ${source}: schema ${s.name} (match ${JSON.stringify(matched)}), type ${s.type}${s.type === 'histogram' ? `, precision ${s.precision} significant digits` : ''}`];
  if (s.intervals.length === 0) return [...lines, '    not stored: the schema has no intervals'];
  const width = Math.max(...s.intervals.map((i) => i.name.length));
  for (const i of s.intervals) {
    lines.push(`    ${i.name.padEnd(width)}  step ${formatStep(i.step).padEnd(7)}  steps ${String(i.steps).padEnd(6)}  keeps ${retention(i.step, i.steps)}`);
  }
  return lines;
}

/** For each name, the schema each source (or only `source`) would keep it in: type, precision, intervals and retention. */
export function schemaDebug(config: Config, names: string[], source?: StoreSource): string {
  const schemas = new SchemaSet(config);
  const out: string[] = [];
  for (const name of names) {
    out.push(name);
    for (const src of source === undefined ? STORE_SOURCES : [source]) out.push(...describeSchema(name, src, schemas.match(name, src)));
  }
  return out.join('\n') + '\n';
}
