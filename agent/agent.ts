import { startAdmin } from './admin/server.js';
import { DeliveryAlerter, nscaSender } from './alerts/alerter.js';
import type { Config } from './config/types.js';
import { METRIC_TYPES, type AgentControl, type CurrentValues, type Health, type MetricType } from './control.js';
import { loadConfig } from './config/load.js';
import { AlignedTimer } from './flush/alignedTimer.js';
import type { FlushSnapshot } from './flush/snapshot.js';
import { globMatcher } from './glob.js';
import { addressKey, type Listener } from './listeners/listener.js';
import { listenTcp } from './listeners/tcp.js';
import { listenUdp } from './listeners/udp.js';
import { CarbonInput } from './carbonInput/input.js';
import { LimitedLog, type Log } from './log.js';
import { processSource } from './meta/process.js';
import { flatten, MetaRegistry, pathSegment, type Figures } from './meta/registry.js';
import { Aggregator, type AggregatorOptions } from './statsd/aggregator.js';
import { debugSink } from './statsd/debugSink.js';
import { StatsdParser } from './statsd/parser.js';
import { FlushMath } from './statsd/processMetrics.js';
import { startXmlRpc } from './xmlrpc/server.js';
import { startHttp } from '../storage/http/server.js';
import { CarbonFlusher } from '../flushers/carbon.js';
import { ConsoleFlusher } from '../flushers/console.js';
import { DebugFlusher } from '../flushers/debug.js';
import { StoreFlusher } from '../flushers/store.js';
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

/** The most a stop waits for flushers to deliver or keep the last interval (the process must exit within 10 s). */
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
const flusherPart = (c: Config): string =>
  JSON.stringify([c.graphite, c.console, c.statsd.prefix_stats, c.statsd.key_sanitize, c.nsca, c.store, c.data_dir, c.flush_interval]);
const listenerOptionsPart = (c: Config): string =>
  JSON.stringify([c.statsd.recv_buffer, c.statsd.tcp_max_connections, c.statsd.tcp_max_line, c.statsd.tcp_idle_timeout, c.xmlrpc]);

interface OpenListener {
  listener: Listener;
  unregister: () => void;
}

/**
 * The daemon: listeners feed the parser, the parser feeds the aggregator, and at each wall-clock
 * slot the aggregator's interval becomes an immutable snapshot handed to every flusher.
 */
export class Agent implements AgentControl {
  private readonly aggregator: Aggregator;
  private readonly registry = new MetaRegistry();
  private readonly startedAt = Date.now();
  private readonly process = processSource(this.startedAt);
  private readonly flushFigures = { flushes: 0, duration_ms: 0, lag_ms: 0, processing_time_ms: 0 };
  private unregisterFlushers: (() => void)[] = [];
  private alerter: DeliveryAlerter | null = null;
  private healthStatus: Health = 'up';
  /** etsy's last_msg_seen, noted at each flush and each read rather than per packet (the receive
   * path stays free of clock reads): accurate to a flush interval */
  private lastMsg = { packets: 0, at: Date.now() };
  private parser: StatsdParser;
  private math: FlushMath;
  private flushers: Flusher[] = [];
  private readonly listeners = new Map<string, OpenListener>();
  private readonly timer: AlignedTimer;
  private readonly pending = new Set<Promise<void>>();
  private readonly badLines: LimitedLog;
  private readonly internalErrors: LimitedLog;
  private readonly carbonInput: CarbonInput;
  private lastFlushSeconds = 0;
  private droppedBefore = 0;
  private stopping: Promise<void> | null = null;

  private constructor(
    private conf: Config,
    private readonly opts: AgentOptions,
  ) {
    const log = opts.log;
    this.badLines = new LimitedLog(log, BAD_LINES_LOGGED_PER_INTERVAL, 'bad lines');
    this.internalErrors = new LimitedLog(log, BAD_LINES_LOGGED_PER_INTERVAL, 'errors handling input');
    this.carbonInput = new CarbonInput(conf.carbon.max_points, log);
    this.aggregator = new Aggregator(aggregatorOptions(conf), (line, reason) =>
      this.badLines.warn(`bad line (${reason}): ${JSON.stringify(line.length > 200 ? line.slice(0, 200) + '...' : line)}`),
    );
    this.parser = this.newParser();
    this.math = flushMath(conf);
    this.timer = new AlignedTimer(conf.flush_interval, (slot) => void this.flushSlot(slot));
    this.registerCoreFigures();
  }

  /** ms of the last time packets were seen to have arrived */
  private noteTraffic(): number {
    const packets = this.aggregator.counts.packets;
    if (packets !== this.lastMsg.packets) this.lastMsg = { packets, at: Date.now() };
    return this.lastMsg.at;
  }

  /** The statsd figures under etsy's names (already flushed as etsy's counters, so not published again) and the rest. */
  private registerCoreFigures(): void {
    const counts = this.aggregator.counts;
    this.registry.add({
      path: '',
      publish: false,
      read: () => ({
        uptime: Math.round((Date.now() - this.startedAt) / 1000),
        health: this.healthStatus,
        last_msg_seen: Math.round(this.noteTraffic() / 1000),
        packets_received: counts.packets,
        metrics_received: counts.lines,
        bad_lines_seen: counts.badLines,
      }),
    });
    this.registry.add({
      path: 'samples',
      read: () => ({ ...counts.samples, dropped_max_metrics: counts.dropped, keys_held: this.aggregator.size }),
    });
    this.registry.add({ path: 'flush', read: () => ({ ...this.flushFigures }) });
    this.registry.add(this.process);
    this.registry.add({ path: 'carbon_input', read: () => this.carbonInput.figures() });
  }

  static async start(config: Config, opts: AgentOptions): Promise<Agent> {
    const agent = new Agent(config, opts);
    try {
      await agent.syncListeners(true);
      agent.setFlushers(agent.buildFlushers());
    } catch (err) {
      await agent.closeListeners();
      throw err;
    }
    agent.timer.start();
    return agent;
  }

  private setFlushers(flushers: Flusher[]): void {
    for (const off of this.unregisterFlushers) off();
    this.flushers = flushers;
    this.unregisterFlushers = flushers.map((f) => this.registry.add({ path: `flushers.${f.name}`, read: () => f.status() }));
    const alerter = this.alerter;
    if (alerter) this.unregisterFlushers.push(this.registry.add({ path: 'alerts.nsca', read: () => alerter.figures() }));
  }

  /** "udp 127.0.0.1:8125, tcp 127.0.0.1:8125" with the ports actually bound. */
  get listening(): string[] {
    return [...this.listeners.values()].map((l) => l.listener.description);
  }

  get flusherNames(): string[] {
    return this.flushers.map((f) => f.name);
  }

  private newParser(): StatsdParser {
    const glob = this.opts.debugGlob;
    const print = this.opts.print ?? ((line: string) => process.stderr.write(line + '\n'));
    const sink = glob === undefined ? this.aggregator : debugSink(this.aggregator, globMatcher(glob), print);
    return new StatsdParser(sink, { keySanitize: this.conf.statsd.key_sanitize, maxKeyLength: this.conf.statsd.max_key_length });
  }

  /** The flushers, and the NSCA alerter their delivery events go to. */
  private buildFlushers(): Flusher[] {
    const c = this.conf;
    this.alerter?.close();
    this.alerter = c.nsca.host === '' ? null : new DeliveryAlerter(c.nsca, nscaSender(c.nsca), this.opts.log);
    const names = new GraphiteNames(c.graphite, c.statsd.prefix_stats, c.statsd.key_sanitize);
    const flushers: Flusher[] = c.graphite.destinations.length > 0 ? [new CarbonFlusher(c.graphite, c.data_dir, names, this.opts.log, this.alerter)] : [];
    if (c.store.enabled) flushers.push(new StoreFlusher(c, names, this.opts.log));
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
    const c = this.conf;
    const s = c.statsd;
    const wanted = new Map<string, () => Promise<Listener>>();
    for (const a of s.udp) wanted.set(addressKey('udp', a), () => listenUdp(a, s.recv_buffer, this.input));
    const tcpHandlers = {
      text: this.input,
      overlong: (preview: string) => this.aggregator.badLine(preview, `TCP line longer than ${s.tcp_max_line} bytes`),
      refused: () => this.internalErrors.warn(`tcp: connection refused, ${s.tcp_max_connections} already open`),
    };
    const tcpOptions = { maxConnections: s.tcp_max_connections, maxLine: s.tcp_max_line, idleTimeoutMs: s.tcp_idle_timeout };
    for (const a of s.tcp) wanted.set(addressKey('tcp', a), () => listenTcp(a, tcpOptions, tcpHandlers));
    for (const a of c.admin.listen) wanted.set(addressKey('admin', a), () => startAdmin(a, this, Math.round(this.startedAt / 1000)));
    for (const a of c.xmlrpc.listen) wanted.set(addressKey('xmlrpc', a), () => startXmlRpc(a, this.conf.xmlrpc, this));
    for (const [key, start] of this.carbonInput.listeners(c)) wanted.set(key, start);
    // the store's HTTP API reads the config at each request: a reload of store.schemas is seen
    if (c.store.enabled) for (const a of c.http.listen) wanted.set(addressKey('http', a), () => startHttp(a, { config: () => this.conf, log: this.opts.log }));

    for (const [key, open] of this.listeners) {
      if (!wanted.has(key)) await this.closeListener(key, open);
    }
    for (const [key, start] of wanted) {
      if (this.listeners.has(key)) continue;
      try {
        const listener = await start();
        const unregister = this.registry.add({ path: `listeners.${pathSegment(listener.description)}`, read: () => listener.figures() });
        this.listeners.set(key, { listener, unregister });
      } catch (err) {
        if (failFast) throw err;
        this.opts.log.error(`reload: ${(err as Error).message}; not listening there`);
      }
    }
  }

  private async closeListener(key: string, open: OpenListener): Promise<void> {
    this.listeners.delete(key);
    open.unregister();
    await open.listener.close();
  }

  private async closeListeners(): Promise<void> {
    await Promise.all([...this.listeners].map(([key, open]) => this.closeListener(key, open)));
  }

  /** Hands the interval to every flusher; resolves when they all have it. */
  private flushSlot(slotMs: number): Promise<void> {
    const started = Date.now();
    this.noteTraffic();
    const nowSeconds = Math.round(started / 1000);
    if (this.lastFlushSeconds > 0) this.aggregator.setTimestampLag(nowSeconds - this.lastFlushSeconds - this.conf.flush_interval / 1000);
    this.lastFlushSeconds = nowSeconds;
    const raw = this.aggregator.takeInterval();
    const derived = this.math.derive(raw);
    const f = this.flushFigures;
    f.flushes++;
    f.lag_ms = Math.max(0, started - slotMs);
    f.processing_time_ms = derived.processingTime;
    const meta = flatten(this.registry.read(true)).filter((e): e is [string, number] => typeof e[1] === 'number');
    const named = this.carbonInput.take();
    const snap: FlushSnapshot = { ts: Math.round(slotMs / 1000), intervalMs: this.conf.flush_interval, raw, derived, named, meta };
    const handed = Promise.all(this.flushers.map((fl) => this.track(fl.flush(snap)))).then(() => undefined);
    f.duration_ms = Date.now() - started;
    const dropped = this.aggregator.counts.dropped - this.droppedBefore;
    this.droppedBefore += dropped;
    if (dropped > 0) this.opts.log.warn(`${dropped} samples of new keys dropped in this interval: statsd.max_metrics (${this.conf.statsd.max_metrics}) distinct keys held`);
    this.badLines.endInterval();
    this.internalErrors.endInterval();
    this.process.endInterval();
    return handed;
  }

  private track(p: Promise<void>): Promise<void> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
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
    const prev = this.conf;
    this.conf = next;
    this.aggregator.reconfigure(aggregatorOptions(next));
    this.parser = this.newParser();
    this.math = flushMath(next);
    if (next.flush_interval !== prev.flush_interval) this.timer.setInterval(next.flush_interval);
    if (listenerOptionsPart(next) !== listenerOptionsPart(prev)) await this.closeListeners();
    await this.syncListeners(false);
    if (flusherPart(next) !== flusherPart(prev)) {
      const old = this.flushers;
      let fresh: Flusher[];
      try {
        fresh = this.buildFlushers();
      } catch (err) {
        this.opts.log.error(`reload: ${(err as Error).message}; keeping the running flushers`);
        return false;
      }
      this.setFlushers(fresh);
      void Promise.all([...this.pending]).then(() => Promise.all(old.map((f) => f.close())));
    }
    this.opts.log.info(`config reloaded; listening on ${this.listening.join(', ') || 'nothing'}`);
    return true;
  }

  /** Stop listening (what is already in the socket buffers is taken), flush, hand the last interval to the flushers. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.timer.stop();
      await this.closeListeners();
      // the interval being cut short belongs to the coming slot: a datapoint stamped with the
      // last slot would overwrite that slot's value in carbon
      void this.flushSlot(Math.ceil(Date.now() / this.conf.flush_interval) * this.conf.flush_interval);
      await Promise.all([...this.pending]); // flushers only render and enqueue: this is quick
      await Promise.race([Promise.all(this.flushers.map((f) => f.close())), new Promise((r) => setTimeout(r, STOP_FLUSH_DEADLINE_MS).unref())]);
      this.alerter?.close();
    })();
    return this.stopping;
  }

  // ---- AgentControl: what XML-RPC and the admin port may ask ----

  stats(): Figures {
    return this.registry.read();
  }

  values(type: MetricType, glob?: string): CurrentValues {
    return this.aggregator.values(type, glob === undefined ? undefined : globMatcher(glob));
  }

  health(): Health {
    return this.healthStatus;
  }

  setHealth(h: Health): void {
    this.healthStatus = h;
  }

  /** A flush now, stamped with the current second; the next slot flushes as usual. */
  flush(): Promise<void> {
    return this.flushSlot(Date.now());
  }

  delete(type: MetricType, pattern: string): string[] {
    if (!METRIC_TYPES.includes(type)) return [];
    return this.aggregator.delete(type, globMatcher(pattern));
  }

  config(): Config {
    return this.conf;
  }
}
