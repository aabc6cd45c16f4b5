import net from 'node:net';
import type { ListenAddress } from '../config/types.js';
import { listenOn, type Listener } from './listener.js';

/** What a framed TCP listener bounds of its connections. */
export interface ConnectionLimits {
  maxConnections: number;
  idleTimeoutMs: number; // 0 = never
}

export interface TcpOptions extends ConnectionLimits {
  maxLine: number; // bytes
}

export interface TcpHandlers {
  /** complete lines (one or more, '\n'-separated), decoded */
  text(text: string): void;
  /** a line went over maxLine: it is skipped up to its newline */
  overlong(preview: string): void;
  /** a connection was refused because maxConnections were open */
  refused(): void;
}

/** How long close() waits for clients to finish sending after it half-closes their connections. */
const CLOSE_GRACE_MS = 1000;

/**
 * What every framed TCP listener shares: at most `maxConnections` (refusals counted and told),
 * idle connections closed, errors ending only their connection, and a close that half-closes
 * every connection so clients see the end, still reading what they send for a moment. `frame`
 * sets up one connection's framing; `counts` are the listener's own figures.
 */
export async function serveTcp(
  proto: string,
  addr: ListenAddress,
  opts: ConnectionLimits,
  counts: Record<string, number>,
  refused: () => void,
  frame: (socket: net.Socket) => void,
): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const connections = { connections_total: 0, connections_refused: 0 };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    connections.connections_total++;
    if (opts.idleTimeoutMs > 0) socket.setTimeout(opts.idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    frame(socket);
  });
  server.maxConnections = opts.maxConnections;
  server.on('drop', () => {
    connections.connections_refused++;
    refused();
  });

  const description = await listenOn(server, proto, addr);

  return {
    description,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.end();
      const grace = setTimeout(() => sockets.forEach((s) => s.destroy()), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
    figures: () => ({ connections_open: sockets.size, ...connections, ...counts }),
  };
}

/**
 * Line-framed statsd over TCP: a line split over several segments is one line, a partial last line
 * waits for its newline (or for the end of the connection, when it is taken as a line too). Only
 * complete lines are decoded, so a UTF-8 character split between segments survives.
 */
export function listenTcp(addr: ListenAddress, opts: TcpOptions, on: TcpHandlers): Promise<Listener> {
  const counts = { bytes: 0, overlong_lines: 0 };
  return serveTcp('tcp', addr, opts, counts, on.refused, (socket) => {
    let held: Buffer | null = null;
    let discarding = false;
    socket.on('data', (chunk: Buffer) => {
      counts.bytes += chunk.length;
      let start = 0;
      if (discarding) {
        const nl = chunk.indexOf(10);
        if (nl < 0) return;
        discarding = false;
        start = nl + 1;
      }
      const last = chunk.lastIndexOf(10);
      if (last >= start) {
        on.text(held ? Buffer.concat([held, chunk.subarray(start, last)]).toString() : chunk.toString('utf8', start, last));
        held = null;
        start = last + 1;
      }
      if (start < chunk.length) {
        // copy: the chunk's memory is reused by the stream
        held = held ? Buffer.concat([held, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start));
        if (held.length > opts.maxLine) {
          counts.overlong_lines++;
          on.overlong(held.subarray(0, 80).toString());
          held = null;
          discarding = true;
        }
      }
    });
    socket.on('end', () => {
      if (held && !discarding) on.text(held.toString());
      held = null;
      socket.end();
    });
  });
}
