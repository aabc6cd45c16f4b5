/**
 * carbon's plaintext protocol (`carbon/protocols.py` MetricLineReceiver, MetricDatagramReceiver):
 * `path value [timestamp]`, whitespace separated. As carbon: both numbers go through Python's
 * `float()`, a NaN value is dropped, a timestamp whose integer part is -1 means now. Unlike carbon:
 * the timestamp may be left out (now, as VictoriaMetrics and go-carbon take it), an infinite value
 * is dropped too (whisper would keep it and poison every aggregate of the series), and timestamps
 * are floored to whole seconds (what whisper does anyway).
 */

/** Where parsed datapoints go; false when the point was not kept (the interval's bound is reached). */
export type NamedSink = (name: string, value: number, ts: number) => boolean;

/** Counts of one input (one listener). */
export interface CarbonInputCounts {
  datapoints: number;
  bad_lines: number;
  dropped_nan: number;
  dropped_infinite: number;
  dropped_max_points: number;
}

export const newCounts = (): CarbonInputCounts => ({ datapoints: 0, bad_lines: 0, dropped_nan: 0, dropped_infinite: 0, dropped_max_points: 0 });

const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const UNDERSCORED = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const SPECIAL = /^([+-]?)(nan|inf|infinity)$/i;

/**
 * Python's `float(text)` for text already stripped of whitespace: `1`, `1.5`, `-2e3`, `.5`, `1_000`,
 * `nan`, `-inf`, `Infinity` (any case); undefined where Python raises ValueError (`0x10`, `1e`, ``).
 */
export function parsePythonFloat(text: string): number | undefined {
  if (PLAIN_NUMBER.test(text)) return Number(text);
  const special = SPECIAL.exec(text);
  if (special) {
    if (special[2]!.toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (UNDERSCORED.test(text)) return Number(text.replace(/_/g, ''));
  return undefined;
}

/** Python's `int()` of a float, truncating toward zero. */
const isMinusOne = (ts: number): boolean => ts > -2 && ts <= -1;

export type PointVerdict = 'ok' | 'nan' | 'infinite' | 'full';

/**
 * One datapoint whose numbers are already parsed: carbon's metricReceived rules, then the sink.
 * `nowSeconds` stands in for a timestamp of -1. The timestamp must be finite (the caller checks).
 */
export function takePoint(sink: NamedSink, counts: CarbonInputCounts, name: string, value: number, ts: number, nowSeconds: number): PointVerdict {
  if (value !== value) {
    counts.dropped_nan++;
    return 'nan';
  }
  if (value === Infinity || value === -Infinity) {
    counts.dropped_infinite++;
    return 'infinite';
  }
  const whole = isMinusOne(ts) ? nowSeconds : Math.floor(ts);
  if (!sink(name, value, whole)) {
    counts.dropped_max_points++;
    return 'full';
  }
  counts.datapoints++;
  return 'ok';
}

const WHITESPACE = /\s+/;

/**
 * Parses plaintext carbon lines (one or more, '\n'-separated: a TCP read or a UDP datagram) into
 * the sink. Never throws; a bad line is counted and handed to `bad` with the reason.
 */
export class CarbonLineParser {
  readonly counts = newCounts();

  constructor(
    private readonly sink: NamedSink,
    private readonly bad: (line: string, reason: string) => void,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  text(text: string): void {
    let nowSeconds = -1;
    let start = 0;
    const len = text.length;
    while (start <= len) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = len;
      const line = text.slice(start, end);
      start = end + 1;
      const fields = line.trim();
      if (fields === '') continue; // an empty line: skipped, not counted (carbon logs it as invalid)
      const parts = fields.split(WHITESPACE);
      if (parts.length < 2 || parts.length > 3) {
        this.badLine(line, `expected "path value [timestamp]", got ${parts.length} field${parts.length === 1 ? '' : 's'}`);
        continue;
      }
      const value = parsePythonFloat(parts[1]!);
      if (value === undefined) {
        this.badLine(line, 'value is not a number');
        continue;
      }
      let ts: number;
      if (parts.length === 3) {
        const t = parsePythonFloat(parts[2]!);
        if (t === undefined || !Number.isFinite(t)) {
          this.badLine(line, 'timestamp is not a number');
          continue;
        }
        ts = t;
      } else {
        ts = -1;
      }
      if (nowSeconds < 0 && isMinusOne(ts)) nowSeconds = this.now();
      takePoint(this.sink, this.counts, parts[0]!, value, ts, nowSeconds);
    }
  }

  /** A line that could not be taken whole (e.g. over the TCP line bound). */
  badLine(line: string, reason: string): void {
    this.counts.bad_lines++;
    this.bad(line, reason);
  }
}
