import type { Config } from './config/types.js';
import type { Figures } from './meta/registry.js';

export type MetricType = 'counters' | 'timers' | 'gauges' | 'sets';
export const METRIC_TYPES: readonly MetricType[] = ['counters', 'timers', 'gauges', 'sets'];

export type Health = 'up' | 'down';

/** The current interval's values of one type: counters and gauges a number, timers their samples, sets their members. */
export type CurrentValues = Map<string, number | number[] | string[]>;

/**
 * What the operator interfaces (XML-RPC, the admin port) may ask of a running agent. The agent
 * implements it; the interfaces hold no state of their own but their access checks.
 */
export interface AgentControl {
  /** Every meta stat, nested: the statsd figures under etsy's names at the top. */
  stats(): Figures;
  /** Values held for the current interval, optionally only the keys matching a glob. */
  values(type: MetricType, glob?: string): CurrentValues;
  health(): Health;
  setHealth(h: Health): void;
  /** Flushes now (the interval is cut short); resolves when the flushers have the snapshot. */
  flush(): Promise<void>;
  /** Re-reads the config files as SIGHUP does; false when the new config was refused. */
  reload(): Promise<boolean>;
  /** Deletes the keys matching a glob (so an exact name, and etsy's `prefix.*` for a folder, work as in etsy's admin); returns the names deleted. */
  delete(type: MetricType, pattern: string): string[];
  config(): Config;
}
