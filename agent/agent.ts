import type { Config } from './config/types.js';
import { loadConfig } from './config/load.js';
import { AlignedTimer } from './flush/alignedTimer.js';
import type { FlushSnapshot } from './flush/snapshot.js';
import { globMatcher } from './glob.js';
import { addressKey, type Listener } from './listeners/listener.js';
import { listenTcp } from './listeners/tcp.js';
import { listenUdp } from './listeners/udp.js';
import { LimitedLog, type Log } from './log.js';
import { Aggregator, type AggregatorOptions } from './statsd/aggregator.js';
import { debugSink } from './statsd/debugSink.js';
import { StatsdParser } from './statsd/parser.js';
import { FlushMath } from './statsd/processMetrics.js';
import { CarbonFlusher } from '../flushers/carbon.js';
import { ConsoleFlusher } from '../flushers/console.js';
import { DebugFlusher } from '../flushers/debug.js';
import type { Flusher } from '../flushers/flusher.js';
import { GraphiteNames } from '../flushers/graphiteNames.js';

export interface AgentOptions {
  /** the config files, re-read on reload; [] = embedded defaults */
  files: string[];
  log: Log;
  /** --debug GLOB: print matching samples and flushed values */
  debugGlob?: string;
  print?: (line: string) => void;
}

/** The most a stop waits for flushers to take the last interval (the process must exit within 10 s). */
const STOP_FLUSH_DEADLINE_MS = 8000;
const BAD_LINES_LOGGED_PER_INTERVAL = 5;

const aggregatorOptions = (c: Config): AggregatorOptions => ({
  prefixStats: c.statsd.prefix_stats,
  maxMetrics: c.statsd.max_metrics,
  deleteIdle: c.statsd.delete_idle,
  gaugesMaxTtl: c.statsd.gauges_max_ttl,
});

const flushMath = (c: Config): FlushMath =>
  new FlushMath({
    flushIntervalMs: c.flush_interval,
    percentiles: c.statsd.percentiles,
    histograms: c.statsd.histograms,
    calculatedTimerMetrics: c.statsd.calculated_timer_metrics,
  });

/** The parts of the config each piece is built from: a reload rebuilds a piece when its part changed. */
const flusherPart = (c: Config): string => JSON.stringify([c.graphite, c.console, c.statsd.prefix_stats, c.statsd.key_sanitize]);
const listenerOptionsPart = (c: Config): string =>
  JSON.stringify([c.statsd.recv_buffer, c.statsd.tcp_max_connections, c.statsd.tcp_max_line, c.statsd.tcp_idle_timeout]);

/**
 * The daemon: listeners feed the parser, the parser feeds the aggregator, and at each wall-clock
 * slot the aggregator's interval becomes an immutable snapshot handed to every flusher.
 */
export class Agent {
  private readonly aggregator: Aggregator;
  private parser: StatsdParser;
  private math: FlushMath;
  private flushers: Flusher[] = [];
  private readonly listeners = new Map<string, Listener>();
  private readonly timer: AlignedTimer;
  private readonly pending = new Set<Promise<void>>();
  private readonly badLines: LimitedLog;
  private readonly internalErrors: LimitedLog;
  private lastFlushSeconds = 0;
  private droppedBefore = 0;
  private stopping: Promise<void> | null = null;

  private constructor(
    private config: Config,
    private readonly opts: AgentOptions,
  ) {
    const log = opts.log;
    this.badLines = new LimitedLog(log, BAD_LINES_LOGGED_PER_INTERVAL, 'bad lines');
    this.internalErrors = new LimitedLog(log, BAD_LINES_LOGGED_PER_INTERVAL, 'errors handling input');
    this.aggregator = new Aggregator(aggregatorOptions(config), (line, reason) =>
      this.badLines.warn(`bad line (${reason}): ${JSON.stringify(line.length > 200 ? line.slice(0, 200) + '...' : line)}`),
    );
    this.parser = this.newParser();
    this.math = flushMath(config);
    this.timer = new AlignedTimer(config.flush_interval, (slot) => this.flush(slot));
  }

  static async start(config: Config, opts: AgentOptions): Promise<Agent> {
    const agent = new Agent(config, opts);
    try {
      await agent.syncListeners(true);
    } catch (err) {
      await Promise.all([...agent.listeners.values()].map((l) => l.close()));
      throw err;
    }
    agent.flushers = agent.buildFlushers();
    agent.timer.start();
    return agent;
  }

  /** "udp 127.0.0.1:8125, tcp 127.0.0.1:8125" with the ports actually bound. */
  get listening(): string[] {
    return [...this.listeners.values()].map((l) => l.description);
  }

  get flusherNames(): string[] {
    return this.flushers.map((f) => f.name);
  }

  private newParser(): StatsdParser {
    const glob = this.opts.debugGlob;
    const print = this.opts.print ?? ((line: string) => process.stderr.write(line + '\n'));
    const sink = glob === undefined ? this.aggregator : debugSink(this.aggregator, globMatcher(glob), print);
    return new StatsdParser(sink, { keySanitize: this.config.statsd.key_sanitize, maxKeyLength: this.config.statsd.max_key_length });
  }

  private buildFlushers(): Flusher[] {
    const c = this.config;
    const names = new GraphiteNames(c.graphite, c.statsd.prefix_stats, c.statsd.key_sanitize);
    const flushers: Flusher[] = c.graphite.destinations.map((d) => new CarbonFlusher(d, names, c.graphite.connect_timeout, this.opts.log));
    if (c.console.enabled || flushers.length === 0) flushers.push(new ConsoleFlusher(names));
    const glob = this.opts.debugGlob;
    if (glob !== undefined) {
      const print = this.opts.print ?? ((line: string) => process.stderr.write(line + '\n'));
      flushers.push(new DebugFlusher(names, globMatcher(glob), print));
    }
    return flushers;
  }

  /** Text from any listener. Never throws: a bug in handling one packet must not take the agent down. */
  private readonly input = (text: string): void => {
    try {
      this.parser.packet(text);
    } catch (err) {
      this.internalErrors.warn(`error handling a packet: ${(err as Error).stack ?? err}`);
    }
  };

  /** Bind what the config lists and is not bound, close what it no longer lists. */
  private async syncListeners(failFast: boolean): Promise<void> {
    const s = this.config.statsd;
    const wanted = new Map<string, () => Promise<Listener>>();
    for (const a of s.udp) wanted.set(addressKey('udp', a), () => listenUdp(a, s.recv_buffer, this.input));
    const tcpHandlers = {
      text: this.input,
      overlong: (preview: string) => this.aggregator.badLine(preview, `TCP line longer than ${s.tcp_max_line} bytes`),
      refused: () => this.internalErrors.warn(`tcp: connection refused, ${s.tcp_max_connections} already open`),
    };
    const tcpOptions = { maxConnections: s.tcp_max_connections, maxLine: s.tcp_max_line, idleTimeoutMs: s.tcp_idle_timeout };
    for (const a of s.tcp) wanted.set(addressKey('tcp', a), () => listenTcp(a, tcpOptions, tcpHandlers));

    for (const [key, listener] of this.listeners) {
      if (!wanted.has(key)) {
        this.listeners.delete(key);
        await listener.close();
      }
    }
    for (const [key, open] of wanted) {
      if (this.listeners.has(key)) continue;
      try {
        this.listeners.set(key, await open());
      } catch (err) {
        if (failFast) throw err;
        this.opts.log.error(`reload: ${(err as Error).message}; not listening there`);
      }
    }
  }

  private flush(slotMs: number): void {
    const nowSeconds = Math.round(Date.now() / 1000);
    if (this.lastFlushSeconds > 0) this.aggregator.setTimestampLag(nowSeconds - this.lastFlushSeconds - this.config.flush_interval / 1000);
    this.lastFlushSeconds = nowSeconds;
    const raw = this.aggregator.takeInterval();
    const snap: FlushSnapshot = { ts: Math.round(slotMs / 1000), intervalMs: this.config.flush_interval, raw, derived: this.math.derive(raw) };
    for (const f of this.flushers) this.track(f.flush(snap));
    const dropped = this.aggregator.counts.dropped - this.droppedBefore;
    this.droppedBefore += dropped;
    if (dropped > 0) this.opts.log.warn(`${dropped} samples of new keys dropped in this interval: statsd.max_metrics (${this.config.statsd.max_metrics}) distinct keys held`);
    this.badLines.endInterval();
    this.internalErrors.endInterval();
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Re-read the config files (SIGHUP). An invalid config is reported and the running one kept. */
  async reload(): Promise<boolean> {
    let next: Config;
    try {
      next = loadConfig(this.opts.files);
    } catch (err) {
      this.opts.log.error(`reload refused, keeping the running config:\n${(err as Error).message}`);
      return false;
    }
    const prev = this.config;
    this.config = next;
    this.aggregator.reconfigure(aggregatorOptions(next));
    this.parser = this.newParser();
    this.math = flushMath(next);
    if (next.flush_interval !== prev.flush_interval) this.timer.setInterval(next.flush_interval);
    if (listenerOptionsPart(next) !== listenerOptionsPart(prev)) {
      for (const l of this.listeners.values()) await l.close();
      this.listeners.clear();
    }
    await this.syncListeners(false);
    if (flusherPart(next) !== flusherPart(prev)) {
      const old = this.flushers;
      this.flushers = this.buildFlushers();
      void Promise.all([...this.pending]).then(() => Promise.all(old.map((f) => f.close())));
    }
    this.opts.log.info(`config reloaded; listening on ${this.listening.join(', ') || 'nothing'}`);
    return true;
  }

  /** Stop listening (what is already in the socket buffers is taken), flush, hand the last interval to the flushers. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.timer.stop();
      await Promise.all([...this.listeners.values()].map((l) => l.close()));
      this.listeners.clear();
      // the interval being cut short belongs to the coming slot: a datapoint stamped with the
      // last slot would overwrite that slot's value in carbon
      this.flush(Math.ceil(Date.now() / this.config.flush_interval) * this.config.flush_interval);
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (deadline = setTimeout(resolve, STOP_FLUSH_DEADLINE_MS)));
      await Promise.race([Promise.all([...this.pending]), timedOut]);
      clearTimeout(deadline);
      await Promise.race([Promise.all(this.flushers.map((f) => f.close())), new Promise((r) => setTimeout(r, 500).unref())]);
    })();
    return this.stopping;
  }
}
