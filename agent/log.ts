/** Logging to stderr, one line per event, timestamped. */
export interface Log {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function stderrLog(): Log {
  const write = (level: string, msg: string): void => {
    process.stderr.write(`${new Date().toISOString()} tally ${level}: ${msg}\n`);
  };
  return {
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
  };
}

/** At most `max` messages per interval, then one line saying how many were held back: a scanner
 * sending garbage must not fill the disk with logs. */
export class LimitedLog {
  private shown = 0;
  private held = 0;

  constructor(
    private readonly log: Log,
    private readonly max: number,
    private readonly what: string,
  ) {}

  warn(msg: string): void {
    if (this.shown < this.max) {
      this.shown++;
      this.log.warn(msg);
    } else {
      this.held++;
    }
  }

  /** Called at each flush. */
  endInterval(): void {
    if (this.held > 0) this.log.warn(`${this.held} more ${this.what} in this interval not logged`);
    this.shown = 0;
    this.held = 0;
  }
}
