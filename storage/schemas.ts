import type { Config, StoreInterval, StoreSchema, StoreSource } from '../agent/config/types.js';

const HOUR = 3600;
const DAY = 86_400;

/**
 * The schemas tried after the user's, so that every name of every source is kept somewhere:
 * counters' counts as `count` (summable over any range), timer samples as histograms and set
 * members as sets (percentiles and unique counts over any range), every other flushed value as
 * `series`. Intervals: the flush interval (at least 10 s) for 6 hours, 1 min for 7 days, 1 h for a
 * year, daily for 5 years. The finest step follows the flush interval because a step finer than
 * the flushes would leave every other bucket empty.
 */
export function defaultSchemas(c: Config): StoreSchema[] {
  const fine = Math.max(10, Math.ceil(c.flush_interval / 1000));
  const intervals: StoreInterval[] = [
    { name: fine % 60 === 0 ? `${fine / 60}m` : `${fine}s`, step: fine, steps: Math.max(1, Math.round((6 * HOUR) / fine)) },
    { name: '1m', step: 60, steps: (7 * DAY) / 60 },
    { name: '1h', step: HOUR, steps: (365 * DAY) / HOUR },
    { name: '1d', step: 'daily' as const, steps: 5 * 365 + 1 },
  ].filter((i, n, all) => n === 0 || i.step !== all[0]!.step);
  const base = { precision: 3, intervals };
  return [
    { ...base, name: 'counts', match: [countsPattern(c)], source: 'flushed', type: 'count' },
    { ...base, name: 'values', match: ['.*'], source: 'flushed', type: 'series' },
    { ...base, name: 'timer_samples', match: ['.*'], source: 'timer_samples', type: 'histogram' },
    { ...base, name: 'set_members', match: ['.*'], source: 'set_members', type: 'set' },
  ];
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The names etsy's graphite backend gives counters' per-interval counts (see GraphiteNames). */
function countsPattern(c: Config): string {
  const g = c.graphite;
  if (g.legacy_namespace) return '^stats_counts\\.';
  const ns = [g.global_prefix, g.prefix_counter].filter((p) => p !== '').map(escape).join('\\.');
  const suffix = g.global_suffix === '' ? '' : '\\.' + escape(g.global_suffix);
  return `^${ns === '' ? '' : ns + '\\.'}.*\\.count${suffix}(;|$)`;
}

/** The user's schemas then the defaults; first match of the name's source wins (carbon's storage-schemas rule). */
export class SchemaSet {
  readonly all: readonly StoreSchema[];
  private readonly compiled: { schema: StoreSchema; res: RegExp[] }[];

  constructor(c: Config) {
    this.all = [...c.store.schemas, ...defaultSchemas(c)];
    this.compiled = this.all.map((schema) => ({ schema, res: schema.match.map((m) => new RegExp(m)) }));
  }

  match(name: string, source: StoreSource): StoreSchema {
    for (const { schema, res } of this.compiled) {
      if (schema.source === source && res.some((re) => re.test(name))) return schema;
    }
    throw new Error(`no schema for ${source} ${name}`); // unreachable: the defaults match everything
  }

  byName(name: string): StoreSchema | undefined {
    return this.all.find((s) => s.name === name);
  }
}
