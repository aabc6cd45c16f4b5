/** The validated, effective configuration: every default applied, every unit converted. */

import type { Step } from '../../storage/step.js';

export interface ListenAddress {
  host: string; // "127.0.0.1" or "::1" (no brackets)
  port: number; // 0 = ephemeral (tests)
  family: 4 | 6;
}

export interface HistogramRule {
  match: string; // substring of the timer key; "" matches every timer
  bins: number[]; // ascending upper limits; Infinity for "inf"; [] disables
}

export interface DeleteIdle {
  counters: boolean;
  timers: boolean;
  gauges: boolean;
  sets: boolean;
}

export interface StatsdConfig {
  udp: ListenAddress[];
  tcp: ListenAddress[];
  recv_buffer: number; // bytes (SO_RCVBUF asked of the kernel)
  max_metrics: number; // distinct keys held per interval
  max_key_length: number; // bytes; longer names are bad lines
  tcp_max_connections: number;
  tcp_max_line: number; // bytes; a longer TCP line is a bad line and is skipped
  tcp_idle_timeout: number; // ms; 0 = never
  percentiles: number[];
  histograms: HistogramRule[];
  calculated_timer_metrics: string[];
  delete_idle: DeleteIdle;
  gauges_max_ttl: number;
  key_sanitize: boolean;
  prefix_stats: string;
}

/** A carbon-cache: carbon's DESTINATIONS entry host:port:instance, with the protocol it listens to. */
export interface Destination extends ListenAddress {
  protocol: 'plaintext' | 'pickle';
  instance: string | null;
}

export interface GraphiteConfig {
  destinations: Destination[]; // [] = carbon flusher off
  /** consistent-hash: each metric to the cache carbon-relay would pick; all: every metric everywhere */
  routing: 'consistent-hash' | 'all';
  legacy_namespace: boolean;
  global_prefix: string;
  prefix_counter: string;
  prefix_timer: string;
  prefix_gauge: string;
  prefix_set: string;
  global_suffix: string;
  flush_counts: boolean;
  connect_timeout: number; // ms
  write_timeout: number; // ms for one batch to be taken by the kernel; then the connection is dropped and retried
  queue_max: number; // datapoints held in memory per destination while carbon is away; older ones go to the spool
  spool_max_bytes: number; // per destination, under <data_dir>/spool; past it the oldest are dropped and counted
}

export interface ConsoleConfig {
  enabled: boolean;
}

/** An IP network: "127.0.0.0/8", "::1/128"; a bare address is a /32 or /128. */
export interface Cidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

export interface AdminConfig {
  listen: ListenAddress[]; // [] = off
}

export interface XmlRpcConfig {
  listen: ListenAddress[]; // [] = off
  allow: Cidr[]; // clients outside are answered 403
  auth: { user: string; password_file: string }; // user "" = no authentication
  request_timeout: number; // ms for a whole request, slow clients included
}

export interface NscaConfig {
  host: string; // "" = no alerts
  port: number;
  encryption: 'none' | 'xor';
  password: string;
  host_name: string; // the Nagios host the results are for; default: this machine's name
  service: string;
  timeout: number; // ms
  min_interval: number; // ms between two alerts of the same state
  heartbeat: number; // ms between OK results while all is well; 0 = none
  spool_warning_bytes: number; // WARNING once a destination's spool holds this much
}

export type StoreSource = 'flushed' | 'timer_samples' | 'set_members';
export type StoreType = 'count' | 'gauge' | 'series' | 'histogram' | 'set';

export interface StoreInterval {
  name: string;
  step: Step;
  steps: number; // buckets kept
}

/** kairos/torus' schema: the names it matches (of one source), how they are kept, for how long. */
export interface StoreSchema {
  name: string;
  match: string[]; // regexes, unanchored (re.search, as carbon's storage-schemas)
  source: StoreSource;
  type: StoreType;
  precision: number; // significant digits a histogram keeps of each value
  intervals: StoreInterval[]; // [] = matching names are not stored
}

export interface StoreConfig {
  enabled: boolean;
  path: string; // relative to data_dir unless absolute
  schemas: StoreSchema[]; // the user's; the built-in defaults are tried after them
}

export interface HttpConfig {
  listen: ListenAddress[]; // [] = off
}

/** Datapoints already aggregated elsewhere, `path value [timestamp]`, passed on with their own timestamps. */
export interface CarbonInputConfig {
  listen: ListenAddress[]; // TCP and UDP plaintext; [] = off
  pickle_listen: ListenAddress[]; // TCP pickle; [] = off
  max_points: number; // datapoints held per flush interval; more are dropped and counted
}

export interface Config {
  data_dir: string;
  flush_interval: number; // ms
  statsd: StatsdConfig;
  graphite: GraphiteConfig;
  console: ConsoleConfig;
  admin: AdminConfig;
  xmlrpc: XmlRpcConfig;
  nsca: NscaConfig;
  store: StoreConfig;
  http: HttpConfig;
  carbon: CarbonInputConfig;
}
