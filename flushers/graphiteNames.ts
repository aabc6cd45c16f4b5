import type { GraphiteConfig } from '../agent/config/types.js';
import type { FlushSnapshot } from '../agent/flush/snapshot.js';
import { sanitizeKey } from '../agent/statsd/sanitize.js';

/** Every named datapoint of the flush (the carbon input's), path and timestamp as received, in arrival order. */
export function forEachNamed(snap: FlushSnapshot, emit: (name: string, value: number, ts: number) => void): void {
  const { names, values, timestamps } = snap.named;
  for (let i = 0; i < names.length; i++) emit(names[i]!, values[i]!, timestamps[i]!);
}

/** `key` is the statsd key the value was derived from (none for numStats). */
export type EmitValue = (name: string, value: number, key?: string) => void;

/**
 * etsy statsd's graphite backend naming. Legacy: `stats.<key>` (rate), `stats_counts.<key>`,
 * `stats.timers.<key>.<sub>`, `stats.gauges.<key>`, `stats.sets.<key>.count`, `<prefixStats>.numStats`.
 * Otherwise global_prefix + per-type prefix, each left out when empty. The suffix goes after the
 * whole path and Graphite tags (`;a=b`) after the suffix. Unlike etsy, an empty global_suffix means none
 * (etsy appends a lone '.').
 */
export class GraphiteNames {
  private readonly counterNs: string;
  private readonly countNs: string;
  private readonly timerNs: string;
  private readonly gaugeNs: string;
  private readonly setNs: string;
  private readonly globalNs: string;
  private readonly suffix: string;
  private readonly rateSub: string;
  private readonly countSub: string;

  constructor(
    private readonly g: GraphiteConfig,
    private readonly prefixStats: string,
    /** keys were sanitized on ingress; otherwise the names are sanitized here, as etsy does */
    private readonly keysSanitized: boolean,
  ) {
    const ns = (...parts: string[]): string => parts.filter((p) => p !== '').map((p) => p + '.').join('');
    if (g.legacy_namespace) {
      this.globalNs = 'stats.';
      this.counterNs = 'stats.';
      this.countNs = 'stats_counts.';
      this.timerNs = 'stats.timers.';
      this.gaugeNs = 'stats.gauges.';
      this.setNs = 'stats.sets.';
      this.rateSub = '';
      this.countSub = '';
    } else {
      this.globalNs = ns(g.global_prefix);
      this.counterNs = ns(g.global_prefix, g.prefix_counter);
      this.countNs = this.counterNs;
      this.timerNs = ns(g.global_prefix, g.prefix_timer);
      this.gaugeNs = ns(g.global_prefix, g.prefix_gauge);
      this.setNs = ns(g.global_prefix, g.prefix_set);
      this.rateSub = '.rate';
      this.countSub = '.count';
    }
    this.suffix = g.global_suffix === '' ? '' : '.' + g.global_suffix;
  }

  /** Splits `name;tag=v` so the suffix can go between name and tags. */
  private split(key: string): [string, string] {
    const semi = key.indexOf(';');
    const name = semi < 0 ? key : key.slice(0, semi);
    return [this.keysSanitized ? name : sanitizeKey(name), semi < 0 ? '' : key.slice(semi)];
  }

  /** An internal figure of this agent: `stats.statsd.<path>` (legacy) or `<global_prefix>.statsd.<path>`. */
  stat(path: string): string {
    return this.globalNs + this.prefixStats + '.' + path + this.suffix;
  }

  /** Every value of the flush, in etsy's order: counters, timers, gauges, sets, numStats; then tally's meta stats. */
  forEach(snap: FlushSnapshot, emit: EmitValue): void {
    const { raw, derived } = snap;
    const sfx = this.suffix;
    const counts = this.g.flush_counts;
    for (let i = 0; i < raw.counters.keys.length; i++) {
      const key = raw.counters.keys[i]!;
      const [name, tags] = this.split(key);
      emit(this.counterNs + name + this.rateSub + sfx + tags, derived.counterRates[i]!, key);
      if (counts) emit(this.countNs + name + this.countSub + sfx + tags, raw.counters.values[i]!, key);
    }
    const { layout, offset, values } = derived.timers;
    for (let i = 0; i < raw.timers.keys.length; i++) {
      const key = raw.timers.keys[i]!;
      const [name, tags] = this.split(key);
      const base = this.timerNs + name + '.';
      const names = layout[i]!;
      const at = offset[i]!;
      for (let j = 0; j < names.length; j++) {
        const v = values[at + j]!;
        if (v === v) emit(base + names[j] + sfx + tags, v, key); // NaN: a percentile with no sample
      }
    }
    for (let i = 0; i < raw.gauges.keys.length; i++) {
      const key = raw.gauges.keys[i]!;
      const [name, tags] = this.split(key);
      emit(this.gaugeNs + name + sfx + tags, raw.gauges.values[i]!, key);
    }
    for (let i = 0; i < raw.sets.keys.length; i++) {
      const key = raw.sets.keys[i]!;
      const [name, tags] = this.split(key);
      emit(this.setNs + name + '.count' + sfx + tags, raw.sets.members[i]!.size, key);
    }
    emit(this.g.legacy_namespace ? this.prefixStats + '.numStats' + sfx : this.stat('numStats'), derived.numStats);
    for (const [path, value] of snap.meta) emit(this.stat(path), value);
  }
}
