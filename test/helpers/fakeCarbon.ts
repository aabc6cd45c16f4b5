import net from 'node:net';

export interface CarbonLine {
  name: string;
  value: number;
  ts: number;
  /** ms since epoch when the line arrived */
  at: number;
}

/** A carbon plaintext receiver on an ephemeral loopback port that keeps every line it gets. */
export class FakeCarbon {
  readonly lines: CarbonLine[] = [];
  private readonly server = net.createServer((socket) => {
    let held = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const text = held + chunk;
      const last = text.lastIndexOf('\n');
      held = text.slice(last + 1);
      const at = Date.now();
      for (const line of text.slice(0, last).split('\n')) {
        const [name, value, ts] = line.split(' ');
        this.lines.push({ name: name!, value: Number(value), ts: Number(ts), at });
      }
      this.wake();
    });
    socket.on('error', () => {});
  });
  private waiters: Array<() => void> = [];
  port = 0;

  static async start(port = 0): Promise<FakeCarbon> {
    const c = new FakeCarbon();
    await new Promise<void>((resolve) => c.server.listen(port, '127.0.0.1', resolve));
    c.port = (c.server.address() as net.AddressInfo).port;
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until `test` holds for the lines received, or fails after `ms`. */
  async until<T>(test: (lines: CarbonLine[]) => T | undefined | false, ms = 5000, what = 'carbon lines'): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = test(this.lines);
      if (r !== undefined && r !== false) return r;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.lines.length} lines: ${this.lines.slice(-30).map((l) => `${l.name} ${l.value} ${l.ts}`).join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for a line named `name` whose value passes `ok`, and returns it. */
  value(name: string, ok: (v: number) => boolean = () => true, ms = 5000): Promise<CarbonLine> {
    return this.until((lines) => lines.find((l) => l.name === name && ok(l.value)), ms, `${name}`);
  }

  /** Sum of every value received under `name`. */
  sum(name: string): number {
    return this.lines.filter((l) => l.name === name).reduce((s, l) => s + l.value, 0);
  }

  /** The lines of the flush stamped `ts`, as name -> value. */
  flush(ts: number): Map<string, number> {
    return new Map(this.lines.filter((l) => l.ts === ts).map((l) => [l.name, l.value]));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
