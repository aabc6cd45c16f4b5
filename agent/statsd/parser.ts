import { sanitizeKey } from './sanitize.js';
import type { SampleSink } from './sink.js';

export interface ParserOptions {
  keySanitize: boolean;
  maxKeyLength: number;
}

const TAG_CACHE_MAX = 10_000;

/**
 * The etsy statsd line grammar: `key:value|type[|@rate][|#tag,k:v]`, several `:`-separated samples per
 * line, several `\n`-separated lines per packet. Works on the decoded string with indexOf/slice,
 * which V8 does natively; nothing here allocates per sample but the key and value strings.
 *
 * Deliberate differences from etsy (documented in the README): `h` and `d` are timers (etsy counts
 * them); unknown types are bad lines (etsy counts them); the rate is the whole number after '@'
 * (etsy reads `@2e-1` as 2) and must be in (0, 1]; NaN and ±Infinity values, empty names and names
 * over `maxKeyLength` are bad lines; a trailing '\r' is dropped; DogStatsD fields after the tags
 * (`|c:container`, `|T123`) are ignored instead of being glued to the last tag.
 */
export class StatsdParser {
  private readonly tagCache = new Map<string, string>();

  constructor(
    private readonly sink: SampleSink,
    private readonly opts: ParserOptions,
  ) {}

  /** One UDP datagram, or one chunk of complete TCP lines. */
  packet(text: string): void {
    this.sink.packet();
    const len = text.length;
    let pos = 0;
    while (pos < len) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0) nl = len;
      let end = nl;
      if (end > pos && text.charCodeAt(end - 1) === 13) end--;
      if (end > pos) this.line(pos === 0 && end === len ? text : text.slice(pos, end));
      pos = nl + 1;
    }
  }

  private line(line: string): void {
    const sink = this.sink;
    sink.line();
    let bodyEnd = line.length;
    let tags = '';
    const hash = line.indexOf('|#');
    if (hash >= 0) {
      bodyEnd = hash;
      let tagEnd = line.indexOf('|', hash + 2);
      if (tagEnd < 0) tagEnd = line.length;
      if (tagEnd > hash + 2) tags = this.tagSuffix(line.slice(hash + 2, tagEnd));
    }
    const colon = line.indexOf(':');
    if (colon < 0 || colon >= bodyEnd) return sink.badLine(line, 'no ":" between name and value');
    let key = line.slice(0, colon);
    if (tags !== '') key += tags;
    if (this.opts.keySanitize) key = sanitizeKey(key);
    if (key.length === 0) return sink.badLine(line, 'empty name');
    if (key.length > this.opts.maxKeyLength) return sink.badLine(line, `name longer than ${this.opts.maxKeyLength}`);

    let p = colon + 1;
    for (;;) {
      let next = line.indexOf(':', p);
      if (next < 0 || next > bodyEnd) next = bodyEnd;
      this.sample(key, line, p, next);
      if (next >= bodyEnd) return;
      p = next + 1;
    }
  }

  /** One `value|type[|@rate]` field group in line[p, q). */
  private sample(key: string, line: string, p: number, q: number): void {
    const sink = this.sink;
    const bar = line.indexOf('|', p);
    if (bar < 0 || bar >= q) return sink.badLine(line, 'no type');
    let t0 = bar + 1;
    let t1 = line.indexOf('|', t0);
    const rateAt = t1 >= 0 && t1 < q ? t1 + 1 : -1;
    if (rateAt < 0) t1 = q;
    while (t0 < t1 && line.charCodeAt(t0) <= 32) t0++; // etsy trims the type
    while (t1 > t0 && line.charCodeAt(t1 - 1) <= 32) t1--;

    let rate = 1;
    if (rateAt >= 0) {
      let rateEnd = line.indexOf('|', rateAt);
      if (rateEnd < 0 || rateEnd > q) rateEnd = q;
      if (line.charCodeAt(rateAt) !== 64 /* @ */ || rateEnd - rateAt < 2) return sink.badLine(line, 'bad sample rate');
      rate = Number(line.slice(rateAt + 1, rateEnd));
      if (!(rate > 0 && rate <= 1)) return sink.badLine(line, 'sample rate not in (0, 1]');
    }

    const valueStr = line.slice(p, bar);
    const c0 = line.charCodeAt(t0);
    const tlen = t1 - t0;
    if (tlen === 1 && c0 === 115 /* s */) return sink.set(key, valueStr === '' ? '0' : valueStr);

    const kind =
      tlen === 1
        ? c0 === 99 /* c */ ? COUNTER : c0 === 103 /* g */ ? GAUGE : c0 === 104 /* h */ || c0 === 100 /* d */ ? TIMER : 0
        : tlen === 2 && c0 === 109 /* m */ && line.charCodeAt(t0 + 1) === 115 /* s */ ? TIMER : 0;
    if (kind === 0) return sink.badLine(line, 'unknown type');
    if (valueStr.length === 0) return sink.badLine(line, 'empty value');
    const value = Number(valueStr);
    if (!Number.isFinite(value)) return sink.badLine(line, 'value is not a finite number');
    if (kind === COUNTER) return sink.counter(key, value, rate);
    if (kind === TIMER) {
      if (value < 0) return sink.badLine(line, 'negative timer value');
      return sink.timer(key, value, rate);
    }
    const first = valueStr.charCodeAt(0);
    sink.gauge(key, value, first === 43 /* + */ || first === 45 /* - */);
  }

  /** `a:b,c;d` -> `;a=b;c_d`: etsy's Graphite tagged form (first ';' -> '_', first ':' -> '='). */
  private tagSuffix(raw: string): string {
    let suffix = this.tagCache.get(raw);
    if (suffix !== undefined) return suffix;
    suffix = '';
    for (const tag of raw.split(',')) {
      if (tag !== '') suffix += ';' + tag.replace(';', '_').replace(':', '=');
    }
    if (this.tagCache.size >= TAG_CACHE_MAX) this.tagCache.clear();
    this.tagCache.set(raw, suffix);
    return suffix;
  }
}

const COUNTER = 1;
const TIMER = 2;
const GAUGE = 3;
