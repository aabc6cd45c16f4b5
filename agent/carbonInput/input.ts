import type { Config, ListenAddress } from '../config/types.js';
import { formatAddress } from '../config/units.js';
import type { NamedPoints } from '../flush/snapshot.js';
import { addressKey, type Listener } from '../listeners/listener.js';
import { listenTcp } from '../listeners/tcp.js';
import { listenUdp } from '../listeners/udp.js';
import { LimitedLog, type Log } from '../log.js';
import type { Figures } from '../meta/registry.js';
import { CarbonLineParser, newCounts, parsePythonFloat, takePoint, type CarbonInputCounts } from './lineParser.js';
import { NamedBuffer } from './namedBuffer.js';
import { listenPickle, PICKLE_MAX_MESSAGE } from './pickleListener.js';
import { unpickle, UnpickleError, type PickleValue } from './unpickle.js';

const LOGGED_PER_INTERVAL = 5;

const quote = (text: string): string => JSON.stringify(text.length > 200 ? text.slice(0, 200) + '...' : text);

/** A path carbon's plaintext protocol can carry: not empty, no whitespace (a pickled path with a
 * newline would otherwise inject lines into what the carbon flusher sends). */
const GOOD_PATH = /^\S+$/;

/**
 * Turns one unpickled message into datapoints, as carbon's MetricPickleReceiver: a list of
 * `(path, (timestamp, value))`; an item of another shape, or whose numbers `float()` refuses, is
 * skipped (counted as a bad line). Returns false when the message is not a list at all.
 */
export function takePickled(
  message: PickleValue,
  sink: (name: string, value: number, ts: number) => boolean,
  counts: CarbonInputCounts,
  bad: (reason: string) => void,
  now: () => number = () => Math.floor(Date.now() / 1000),
): boolean {
  if (!Array.isArray(message)) return false;
  let nowSeconds = -1;
  for (const item of message) {
    const point = Array.isArray(item) && item.length === 2 && Array.isArray(item[1]) && item[1].length === 2 ? item : null;
    if (!point) {
      counts.bad_lines++;
      bad(`not a (path, (timestamp, value)): ${quote(JSON.stringify(item) ?? String(item))}`);
      continue;
    }
    const [path, [rawTs, rawValue]] = point as [PickleValue, [PickleValue, PickleValue]];
    const ts = pythonFloat(rawTs);
    const value = pythonFloat(rawValue);
    if (typeof path !== 'string' || !GOOD_PATH.test(path) || ts === undefined || !Number.isFinite(ts) || value === undefined) {
      counts.bad_lines++;
      bad(`bad datapoint ${quote(JSON.stringify(point))}`);
      continue;
    }
    if (nowSeconds < 0 && ts > -2 && ts <= -1) nowSeconds = now();
    takePoint(sink, counts, path, value, ts, nowSeconds);
  }
  return true;
}

/** Python's float() of an unpickled value: numbers, booleans and numeric strings. */
function pythonFloat(v: PickleValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return parsePythonFloat(v.trim());
  return undefined;
}

/**
 * The carbon input: plaintext (TCP and UDP on each `carbon.listen` address) and pickle
 * (`carbon.pickle_listen`) listeners whose datapoints keep their own path and timestamp. They are
 * held for the current flush interval (at most `carbon.max_points`) and handed over with it.
 */
export class CarbonInput {
  private readonly buffer: NamedBuffer;
  private readonly badLines: LimitedLog;
  private readonly events: LimitedLog;
  private readonly totals = { dropped_max_points: 0 };
  private enabled = false;

  constructor(
    maxPoints: number,
    private readonly log: Log,
  ) {
    this.buffer = new NamedBuffer(maxPoints);
    this.badLines = new LimitedLog(log, LOGGED_PER_INTERVAL, 'carbon input bad lines');
    this.events = new LimitedLog(log, LOGGED_PER_INTERVAL, 'carbon input connection events');
  }

  /** The listeners the config asks for, by addressKey, for the agent's listener table. Also takes
   * the new bound of points per interval. */
  listeners(c: Config): [string, () => Promise<Listener>][] {
    this.buffer.maxPoints = c.carbon.max_points;
    this.enabled = c.carbon.listen.length + c.carbon.pickle_listen.length > 0;
    const s = c.statsd;
    const tcpOptions = { maxConnections: s.tcp_max_connections, maxLine: s.tcp_max_line, idleTimeoutMs: s.tcp_idle_timeout };
    const out: [string, () => Promise<Listener>][] = [];
    for (const a of c.carbon.listen) {
      const tcp = (parser: CarbonLineParser, text: (t: string) => void): Promise<Listener> =>
        listenTcp(a, tcpOptions, {
          text,
          overlong: (preview) => parser.badLine(preview, `TCP line longer than ${s.tcp_max_line} bytes`),
          refused: () => this.events.warn(`carbon-tcp ${formatAddress(a)}: connection refused, ${s.tcp_max_connections} already open`),
        });
      out.push([addressKey('carbon-tcp', a), () => this.plaintext(tcp)]);
      out.push([addressKey('carbon-udp', a), () => this.plaintext((_parser, text) => listenUdp(a, s.recv_buffer, text))]);
    }
    for (const a of c.carbon.pickle_listen) {
      out.push([addressKey('carbon-pickle', a), () => this.pickle(a, { maxConnections: s.tcp_max_connections, idleTimeoutMs: s.tcp_idle_timeout, maxMessage: PICKLE_MAX_MESSAGE })]);
    }
    return out;
  }

  private badLine(where: () => string, line: string, reason: string): void {
    this.badLines.warn(`${where()}: bad line (${reason}): ${quote(line)}`);
  }

  /** A plaintext listener ("tcp ..." or "udp ...") renamed "carbon-tcp ...", with its parser's counts in its figures. */
  private async plaintext(open: (parser: CarbonLineParser, text: (t: string) => void) => Promise<Listener>): Promise<Listener> {
    let description = 'carbon';
    const parser = new CarbonLineParser(this.buffer.add, (line, reason) => this.badLine(() => description, line, reason));
    // never throws: a bug in handling one packet must not take the agent down
    const text = (t: string): void => {
      try {
        parser.text(t);
      } catch (err) {
        this.events.warn(`${description}: error handling input: ${(err as Error).stack ?? err}`);
      }
    };
    const inner = await open(parser, text);
    description = 'carbon-' + inner.description;
    return {
      description,
      close: () => inner.close(),
      figures: (): Figures => ({ ...inner.figures(), ...parser.counts }),
    };
  }

  private async pickle(a: ListenAddress, opts: { maxConnections: number; idleTimeoutMs: number; maxMessage: number }): Promise<Listener> {
    let description = 'carbon-pickle';
    const counts = { ...newCounts(), bad_messages: 0 };
    const badMessage = (why: string): void => {
      counts.bad_messages++;
      this.badLines.warn(`${description}: bad pickle message (${why})`);
    };
    const listener = await listenPickle('carbon-pickle', a, opts, {
      message: (body) => {
        let value: PickleValue;
        try {
          value = unpickle(body);
        } catch (err) {
          // a bug must not take the agent down: the message is bad, the connection dropped
          const refused = !(err instanceof UnpickleError) || err.refused;
          badMessage(refused ? `${(err as Error).message}; connection dropped` : (err as Error).message);
          return !refused;
        }
        if (!takePickled(value, this.buffer.add, counts, (reason) => this.badLines.warn(`${description}: ${reason}`))) badMessage('not a list of datapoints');
        return true;
      },
      oversized: (length) => badMessage(`message of ${length} bytes, more than ${opts.maxMessage}; connection dropped`),
      refused: () => this.events.warn(`${description}: connection refused, ${opts.maxConnections} already open`),
    });
    description = listener.description;
    return { ...listener, figures: (): Figures => ({ ...listener.figures(), ...counts }) };
  }

  /** The interval's datapoints; warns once when the bound dropped some. Called at each flush. */
  take(): NamedPoints {
    const { points, dropped } = this.buffer.take();
    if (dropped > 0) {
      this.totals.dropped_max_points += dropped;
      this.log.warn(`${dropped} carbon input datapoints dropped in this interval: carbon.max_points (${this.buffer.maxPoints}) held`);
    }
    this.badLines.endInterval();
    this.events.endInterval();
    return points;
  }

  /** Figures of the whole input, under `carbon_input` (each listener has its own under `listeners.`). */
  figures(): Figures {
    if (!this.enabled && this.totals.dropped_max_points === 0) return {};
    return { points_held: this.buffer.size, max_points: this.buffer.maxPoints, dropped_max_points: this.totals.dropped_max_points };
  }
}
