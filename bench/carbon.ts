/** Fake carbon: a plaintext-protocol TCP sink recording everything servers flush, with arrival
 * times. Received bytes are only stored while load runs and parsed afterwards (scan), so the
 * bench process does not compete for CPU during a measurement. */
import net from "node:net";

interface Chunk {
  at: number; // arrival, wall-clock epoch ms (sub-ms precision)
  conn: number;
  data: Buffer;
}

/** A flush as seen at carbon (see bursts()). */
export interface Burst {
  first: number; // chunk index range [first, last]
  last: number;
  start: number; // arrival of the first chunk, epoch ms
  end: number;
  maxTs: number; // newest graphite timestamp (s) among its lines; NaN if none
}

export interface Line {
  path: string;
  value: number;
  ts: number;
  chunk: number; // index of the chunk that completed the line (compare with mark())
  conn: number;
}

/** How a server's flushes are told apart at carbon:
 * - "connection": it connects once per flush (etsy); a closed connection is one flush, even if
 *   its stream paused while the server computed the next one;
 * - "timestamp": every line of a flush carries the flush's own timestamp (tally), so a new
 *   timestamp on a connection starts a new flush even when flushes stream back to back;
 * - "silence": neither holds (collectd's write_graphite mixes values of consecutive reads in
 *   one buffer); more than BURST_GAP_MS without data on a connection separates two flushes. */
export type FlushSplit = "connection" | "timestamp" | "silence";

/** Flushes are 1 s apart; a 250 ms silence reliably separates two of them. */
const BURST_GAP_MS = 250;

export const wallClock = (): number => performance.timeOrigin + performance.now();

export class FakeCarbon {
  private readonly chunks: Chunk[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly closed = new Set<number>(); // connections ended by their sender
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
    sock.on("close", () => {
      this.sockets.delete(sock);
      this.closed.add(conn);
    });
  }

  /** A position in the recording; scan/bursts results carry chunk indexes comparable to it. */
  mark(): number {
    return this.chunks.length;
  }

  /** Drops everything recorded (between scenarios, to bound memory). */
  reset(): void {
    this.chunks.length = 0;
    this.closed.clear();
  }

  /** Splits the recording into flushes, the way `split` says this server's flushes can be told
   * apart; sorted by start. */
  bursts(split: FlushSplit): Burst[] {
    const all: Burst[] = [];
    const current = new Map<number, { burst: Burst; ts: number }>();
    const burstOf: Burst[] = []; // by chunk index
    const visit = (i: number, conn: number, ts: number): void => {
      const at = this.chunks[i]!.at;
      const cur = current.get(conn);
      const same =
        cur !== undefined &&
        (split === "timestamp" ? cur.ts === ts : (split === "connection" && this.closed.has(conn)) || at - cur.burst.end <= BURST_GAP_MS);
      if (same) {
        cur.burst.last = i;
        cur.burst.end = at;
        burstOf[i] ??= cur.burst;
      } else {
        const burst = { first: i, last: i, start: at, end: at, maxTs: NaN };
        all.push(burst);
        current.set(conn, { burst, ts });
        burstOf[i] = burst;
      }
    };
    if (split === "timestamp") this.scan((l) => visit(l.chunk, l.conn, l.ts));
    else this.chunks.forEach((c, i) => visit(i, c.conn, NaN));
    this.scan((l) => {
      const b = burstOf[l.chunk];
      if (b && !(b.maxTs >= l.ts)) b.maxTs = l.ts;
    });
    return all.sort((a, b) => a.start - b.start);
  }

  /** Returns a poll function telling whether a line `path value ts` with value > 0 has arrived
   * at or after chunk `from`. Searches raw bytes (cheap even behind a 100 MB flush) and keeps a
   * little of each connection's previous chunk so a line split across chunks is still found. */
  watchFor(path: string, from: number): () => Line | null {
    const needle = Buffer.from(`\n${path} `, "latin1");
    const tails = new Map<number, Buffer>();
    let next = from;
    let found: Line | null = null;
    return () => {
      for (; !found && next < this.chunks.length; next++) {
        const c = this.chunks[next]!;
        // A connection's first bytes start a line: pretend a newline precedes them.
        const head = tails.get(c.conn) ?? (this.firstChunkOf(c.conn) === next ? Buffer.from("\n") : Buffer.alloc(0));
        const buf = Buffer.concat([head, c.data]);
        tails.set(c.conn, buf.subarray(Math.max(0, buf.length - needle.length - 64)));
        for (let at = buf.indexOf(needle); at !== -1; at = buf.indexOf(needle, at + 1)) {
          const rest = buf.toString("latin1", at + needle.length, Math.min(buf.length, at + needle.length + 64));
          const [value, ts] = rest.split(/[ \n]/);
          if (Number(value) > 0 && rest.includes("\n")) {
            found = { path, value: Number(value), ts: Number(ts), chunk: next, conn: c.conn };
            break;
          }
        }
      }
      return found;
    };
  }

  private firstChunkOf(conn: number): number {
    return this.chunks.findIndex((c) => c.conn === conn);
  }

  /** Whether every connection that delivered data before chunk `before`, except `conn`, has
   * been closed by its sender (etsy ends each flush's connection once all of it is written). */
  earlierConnectionsClosed(before: number, conn: number): boolean {
    for (let i = 0; i < before; i++) {
      const c = this.chunks[i]!.conn;
      if (c !== conn && !this.closed.has(c)) return false;
    }
    return true;
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
        visit({ path: text.slice(start, sp1), value, ts, chunk: i, conn: c.conn });
      }
      partial.set(c.conn, text.slice(start));
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
