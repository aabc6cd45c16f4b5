import type { SampleSink } from './sink.js';
import type { DeleteIdle } from '../config/types.js';
import type { CurrentValues, MetricType } from '../control.js';

export interface AggregatorOptions {
  prefixStats: string;
  maxMetrics: number;
  deleteIdle: DeleteIdle;
  gaugesMaxTtl: number;
}

interface CounterState { v: number }
interface TimerState { values: number[]; count: number }
interface GaugeState { v: number; ttl: number }

/** What one interval held, handed over at flush. Arrays are parallel (keys[i] <-> values[i]). */
export interface RawInterval {
  counters: { keys: string[]; values: Float64Array };
  /** samples are unsorted, as received; count is scaled by sample rates (etsy's timer_counters). */
  timers: { keys: string[]; samples: number[][]; counts: Float64Array };
  gauges: { keys: string[]; values: Float64Array };
  sets: { keys: string[]; members: Set<string>[] };
}

/** Totals since start, for meta stats. */
export interface AggregatorCounts {
  /** samples dropped because max_metrics distinct keys were already held */
  dropped: number;
  badLines: number;
  packets: number;
  lines: number;
  samples: Record<MetricType, number>;
}

export type BadLineListener = (line: string, reason: string) => void;

/**
 * Holds one flush interval of statsd state with etsy's semantics: idle counters, timers and sets
 * are kept (and flushed as 0) unless deleted, gauges persist (with a TTL when deleted), and the
 * three internal counters live in the counter table like any other key, as in etsy.
 */
export class Aggregator implements SampleSink {
  private counters = new Map<string, CounterState>();
  private timers = new Map<string, TimerState>();
  private gauges = new Map<string, GaugeState>();
  private sets = new Map<string, Set<string>>();
  private packets!: CounterState;
  private lines!: CounterState;
  private bad!: CounterState;
  private lagKey = '';
  readonly counts: AggregatorCounts = { dropped: 0, badLines: 0, packets: 0, lines: 0, samples: { counters: 0, timers: 0, gauges: 0, sets: 0 } };

  constructor(
    private opts: AggregatorOptions,
    private readonly onBadLine: BadLineListener = () => {},
  ) {
    this.bindInternalCounters();
  }

  /** Reload: new options apply from now on; everything held is kept. */
  reconfigure(opts: AggregatorOptions): void {
    const prefixChanged = opts.prefixStats !== this.opts.prefixStats;
    this.opts = opts;
    if (prefixChanged) this.bindInternalCounters();
  }

  private bindInternalCounters(): void {
    const p = this.opts.prefixStats;
    this.bad = this.internalCounter(`${p}.bad_lines_seen`);
    this.packets = this.internalCounter(`${p}.packets_received`);
    this.lines = this.internalCounter(`${p}.metrics_received`);
    this.lagKey = `${p}.timestamp_lag`;
  }

  private internalCounter(key: string): CounterState {
    let c = this.counters.get(key);
    if (!c) this.counters.set(key, (c = { v: 0 }));
    return c;
  }

  /** Distinct keys held; internal ones included. */
  get size(): number {
    return this.counters.size + this.timers.size + this.gauges.size + this.sets.size;
  }

  private full(): boolean {
    if (this.size < this.opts.maxMetrics) return false;
    this.counts.dropped++;
    return true;
  }

  packet(): void {
    this.packets.v++;
    this.counts.packets++;
  }

  line(): void {
    this.lines.v++;
    this.counts.lines++;
  }

  badLine(line: string, reason: string): void {
    this.bad.v++;
    this.counts.badLines++;
    this.onBadLine(line, reason);
  }

  counter(key: string, value: number, rate: number): void {
    let c = this.counters.get(key);
    if (c === undefined) {
      if (this.full()) return;
      this.counters.set(key, (c = { v: 0 }));
    }
    c.v += value * (1 / rate); // etsy's exact expression: v / rate rounds differently
    this.counts.samples.counters++;
  }

  timer(key: string, value: number, rate: number): void {
    let t = this.timers.get(key);
    if (t === undefined) {
      if (this.full()) return;
      this.timers.set(key, (t = { values: [], count: 0 }));
    }
    t.values.push(value);
    t.count += 1 / rate;
    this.counts.samples.timers++;
  }

  gauge(key: string, value: number, signed: boolean): void {
    this.counts.samples.gauges++;
    let g = this.gauges.get(key);
    if (g === undefined) {
      if (this.full()) return;
      this.gauges.set(key, (g = { v: value, ttl: this.opts.gaugesMaxTtl }));
      return;
    }
    // etsy: a signed value is a delta only on a gauge that exists and is non-zero
    g.v = signed && g.v !== 0 ? g.v + value : value;
    g.ttl = this.opts.gaugesMaxTtl;
  }

  set(key: string, member: string): void {
    let s = this.sets.get(key);
    if (s === undefined) {
      if (this.full()) return;
      this.sets.set(key, (s = new Set()));
    }
    s.add(member);
    this.counts.samples.sets++;
  }

  /** etsy's timestamp_lag gauge: it is not a received gauge, so it never expires. */
  setTimestampLag(seconds: number): void {
    this.gauges.set(this.lagKey, { v: seconds, ttl: Infinity });
  }

  /** Take the interval's data and reset for the next one, the way etsy's clear_metrics does. */
  takeInterval(): RawInterval {
    const del = this.opts.deleteIdle;
    return {
      counters: this.takeCounters(del.counters),
      timers: this.takeTimers(del.timers),
      gauges: this.takeGauges(del.gauges),
      sets: this.takeSets(del.sets),
    };
  }

  private takeCounters(deleteIdle: boolean): RawInterval['counters'] {
    const keys = [...this.counters.keys()];
    const values = new Float64Array(keys.length);
    let i = 0;
    for (const c of this.counters.values()) {
      values[i++] = c.v;
      c.v = 0;
    }
    if (deleteIdle) {
      for (const [key, c] of this.counters) {
        if (c !== this.bad && c !== this.packets && c !== this.lines) this.counters.delete(key); // internal ones are only reset
      }
    }
    return { keys, values };
  }

  private takeTimers(deleteIdle: boolean): RawInterval['timers'] {
    const keys = [...this.timers.keys()];
    const samples: number[][] = new Array(keys.length);
    const counts = new Float64Array(keys.length);
    let i = 0;
    for (const t of this.timers.values()) {
      samples[i] = t.values;
      counts[i++] = t.count;
      t.values = [];
      t.count = 0;
    }
    if (deleteIdle) this.timers = new Map();
    return { keys, samples, counts };
  }

  private takeGauges(deleteIdle: boolean): RawInterval['gauges'] {
    const keys = [...this.gauges.keys()];
    const values = new Float64Array(keys.length);
    let i = 0;
    for (const [key, g] of this.gauges) {
      values[i++] = g.v;
      if (deleteIdle && --g.ttl < 1) this.gauges.delete(key);
    }
    return { keys, values };
  }

  private takeSets(deleteIdle: boolean): RawInterval['sets'] {
    const keys = [...this.sets.keys()];
    const members = [...this.sets.values()];
    if (deleteIdle) this.sets = new Map();
    else for (const key of keys) this.sets.set(key, new Set());
    return { keys, members };
  }

  /** The current interval's values of one type, for the operator interfaces. */
  values(type: MetricType, matches: (key: string) => boolean = () => true): CurrentValues {
    const out: CurrentValues = new Map();
    const pick = <T>(table: Map<string, T>, value: (t: T) => number | number[] | string[]): void => {
      for (const [key, t] of table) if (matches(key)) out.set(key, value(t));
    };
    if (type === 'counters') pick(this.counters, (c) => c.v);
    else if (type === 'timers') pick(this.timers, (t) => t.values.slice());
    else if (type === 'gauges') pick(this.gauges, (g) => g.v);
    else pick(this.sets, (s) => [...s]);
    return out;
  }

  /** Deletes the keys of one type that match (the internal counters are only reset); returns their names. */
  delete(type: MetricType, matches: (key: string) => boolean): string[] {
    const table: Map<string, unknown> = type === 'counters' ? this.counters : type === 'timers' ? this.timers : type === 'gauges' ? this.gauges : this.sets;
    const deleted: string[] = [];
    for (const key of table.keys()) {
      if (!matches(key)) continue;
      const internal = type === 'counters' && [this.bad, this.packets, this.lines].includes(table.get(key) as CounterState);
      if (internal) (table.get(key) as CounterState).v = 0;
      else table.delete(key);
      deleted.push(key);
    }
    return deleted;
  }
}
