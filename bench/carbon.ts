/** Fake carbon: a plaintext-protocol TCP sink recording everything servers flush, with arrival
 * times. Received bytes are only stored while load runs and parsed afterwards (scan), so the
 * bench process does not compete for CPU during a measurement. */
import net from "node:net";
import { pollUntil } from "./proc.js";

interface Chunk {
  at: number; // arrival, wall-clock epoch ms (sub-ms precision)
  conn: number;
  data: Buffer;
}

/** A flush as seen at carbon: chunks with no gap longer than BURST_GAP_MS between them. */
export interface Burst {
  first: number; // chunk index range [first, last]
  last: number;
  start: number; // arrival of the first chunk, epoch ms
  end: number;
}

export interface Line {
  path: string;
  value: number;
  ts: number;
  chunk: number; // index of the chunk that completed the line (compare with mark())
}

/** Flushes are 1 s apart; a 250 ms silence reliably separates two of them, while one flush of
 * even tens of MB streams without such gaps. */
const BURST_GAP_MS = 250;

export const wallClock = (): number => performance.timeOrigin + performance.now();

export class FakeCarbon {
  private readonly chunks: Chunk[] = [];
  private readonly sockets = new Set<net.Socket>();
  private nextConn = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeCarbon> {
    let carbon: FakeCarbon | undefined;
    const server = net.createServer((sock) => carbon?.accept(sock));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    carbon = new FakeCarbon(server, (server.address() as net.AddressInfo).port);
    return carbon;
  }

  private accept(sock: net.Socket): void {
    const conn = this.nextConn++;
    this.sockets.add(sock);
    sock.on("data", (data: Buffer) => this.chunks.push({ at: wallClock(), conn, data }));
    sock.on("error", () => sock.destroy());
    sock.on("close", () => this.sockets.delete(sock));
  }

  /** A position in the recording; scan/bursts results carry chunk indexes comparable to it. */
  mark(): number {
    return this.chunks.length;
  }

  /** Drops everything recorded (between scenarios, to bound memory). */
  reset(): void {
    this.chunks.length = 0;
  }

  bursts(): Burst[] {
    const out: Burst[] = [];
    this.chunks.forEach((c, i) => {
      const cur = out[out.length - 1];
      if (cur && c.at - cur.end <= BURST_GAP_MS) {
        cur.last = i;
        cur.end = c.at;
      } else {
        out.push({ first: i, last: i, start: c.at, end: c.at });
      }
    });
    return out;
  }

  /** Waits until n flush bursts that started after `after` (epoch ms) are complete (followed by
   * a quiet gap). Returns false on timeout. */
  waitForBursts(n: number, after: number, timeoutMs: number): Promise<boolean> {
    return pollUntil(() => {
      const later = this.bursts().filter((b) => b.start > after);
      const last = later[n - 1];
      return last !== undefined && (later.length > n || wallClock() - last.end > BURST_GAP_MS);
    }, timeoutMs);
  }

  /** Parses every recorded `path value ts` line, in arrival order. Lines split across chunks of
   * one connection are reassembled; malformed lines are skipped. */
  scan(visit: (line: Line) => void): void {
    const partial = new Map<number, string>();
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      const text = (partial.get(c.conn) ?? "") + c.data.toString("latin1");
      let start = 0;
      for (let nl = text.indexOf("\n"); nl !== -1; start = nl + 1, nl = text.indexOf("\n", start)) {
        const sp1 = text.indexOf(" ", start);
        const sp2 = sp1 === -1 ? -1 : text.indexOf(" ", sp1 + 1);
        if (sp2 === -1 || sp2 > nl) continue;
        const value = Number(text.slice(sp1 + 1, sp2));
        const ts = Number(text.slice(sp2 + 1, nl));
        visit({ path: text.slice(start, sp1), value, ts, chunk: i });
      }
      partial.set(c.conn, text.slice(start));
    }
  }

  /** Waits until some flushed line satisfies pred. */
  waitForLine(pred: (l: Line) => boolean, timeoutMs: number): Promise<boolean> {
    let scanned = -1;
    return pollUntil(() => {
      if (this.chunks.length === scanned) return false;
      scanned = this.chunks.length;
      let found = false;
      this.scan((l) => (found ||= pred(l)));
      return found;
    }, timeoutMs, 100);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
