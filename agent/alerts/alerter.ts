import type { NscaConfig } from '../config/types.js';
import type { Log } from '../log.js';
import type { Figures } from '../meta/registry.js';
import { sendNsca, type CheckResult } from './nsca.js';

export type CheckCode = CheckResult['code'];
const OK = 0;
const WARNING = 1;
const CRITICAL = 2;
const STATE_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

/** What the flushers report about delivery. */
export interface DeliveryEvents {
  /** a connect or write to `where` failed; `detail` says what became of the data */
  failed(where: string, cause: string, detail: string): void;
  /** `where` takes data again */
  recovered(where: string): void;
  /** `where` delivers, but not well: its spool is large, or data had to be dropped (null: no longer) */
  degraded(where: string, detail: string | null): void;
  /** bytes of spool past which a destination counts as degraded */
  readonly spoolWarningBytes: number;
}

export type Send = (code: CheckCode, output: string) => Promise<void>;

/** Sends through NSCA as the config says. */
export function nscaSender(cfg: NscaConfig): Send {
  const target = { host: cfg.host, port: cfg.port, encryption: cfg.encryption, password: cfg.password, timeoutMs: cfg.timeout };
  return (code, output) => sendNsca(target, { hostName: cfg.host_name, service: cfg.service, code, output });
}

/**
 * Turns delivery events into Nagios passive check results: CRITICAL at the first failure of a
 * destination (with the cause), WARNING while a destination's spool is past the threshold or it
 * had to drop data, OK when every destination delivers well again. A state change is sent
 * at once; the same state is sent again at most every `min_interval` (a reminder while an outage
 * lasts), and OK every `heartbeat` while all is well, if set. Failing to reach NSCA is logged once
 * per outage of NSCA and counted, never fatal.
 */
export class DeliveryAlerter implements DeliveryEvents {
  private readonly failing = new Map<string, string>(); // where -> why
  private readonly degradedAt = new Map<string, string>(); // where -> what
  private lastCode: CheckCode | null = null;
  private lastSentAt = 0;
  private readonly timer: NodeJS.Timeout | null;
  private nscaDown = false;
  private readonly counts = { sent: 0, send_errors: 0 };

  constructor(
    private readonly cfg: NscaConfig,
    private readonly send: Send,
    private readonly log: Log,
  ) {
    const tick = Math.min(cfg.heartbeat || Infinity, cfg.min_interval || Infinity);
    this.timer = Number.isFinite(tick) ? setInterval(() => this.remind(), tick) : null;
    this.timer?.unref();
  }

  failed(where: string, cause: string, detail: string): void {
    const fresh = !this.failing.has(where);
    this.failing.set(where, `${where}: ${cause}; ${detail}`);
    if (fresh) this.report(true);
  }

  recovered(where: string): void {
    if (this.failing.delete(where)) this.report(true);
  }

  degraded(where: string, detail: string | null): void {
    const changed = detail === null ? this.degradedAt.delete(where) : this.degradedAt.get(where) === undefined;
    if (detail !== null) this.degradedAt.set(where, `${where}: ${detail}`);
    if (changed) this.report(true);
  }

  get spoolWarningBytes(): number {
    return this.cfg.spool_warning_bytes;
  }

  private state(): [CheckCode, string] {
    if (this.failing.size > 0) return [CRITICAL, `delivery failing: ${[...this.failing.values()].join('; ')}`];
    if (this.degradedAt.size > 0) return [WARNING, `delivery degraded: ${[...this.degradedAt.values()].join('; ')}`];
    return [OK, 'delivering to every carbon destination'];
  }

  /** Periodic: a reminder of a non-OK state after min_interval, a heartbeat OK after heartbeat. */
  private remind(): void {
    const [code] = this.state();
    const every = code === OK ? this.cfg.heartbeat : this.cfg.min_interval;
    if (every > 0 && Date.now() - this.lastSentAt >= every) this.report(false);
  }

  private report(change: boolean): void {
    const [code, output] = this.state();
    if (change && code === this.lastCode && Date.now() - this.lastSentAt < this.cfg.min_interval) return;
    this.lastCode = code;
    this.lastSentAt = Date.now();
    this.send(code, `${STATE_NAMES[code]}: ${output}`).then(
      () => {
        this.counts.sent++;
        if (this.nscaDown) this.log.info(`nsca ${this.cfg.host}:${this.cfg.port}: reachable again`);
        this.nscaDown = false;
      },
      (err: Error) => {
        this.counts.send_errors++;
        if (!this.nscaDown) this.log.error(`${err.message}; alert not delivered`);
        this.nscaDown = true;
      },
    );
  }

  figures(): Figures {
    return { ...this.counts, state: this.lastCode ?? OK, last_sent: Math.round(this.lastSentAt / 1000) };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
