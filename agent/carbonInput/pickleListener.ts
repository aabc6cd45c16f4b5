import type { ListenAddress } from '../config/types.js';
import type { Listener } from '../listeners/listener.js';
import { serveTcp, type ConnectionLimits } from '../listeners/tcp.js';

/** carbon's default PICKLE_RECEIVER_MAX_LENGTH: a longer message drops the connection (as Twisted's Int32StringReceiver). */
export const PICKLE_MAX_MESSAGE = 2 ** 20;

export interface PickleHandlers {
  /** one whole message body, length prefix removed; false drops the connection */
  message(body: Buffer): boolean;
  /** a length prefix over the bound: the connection is dropped */
  oversized(length: number): void;
  /** a connection was refused because maxConnections were open */
  refused(): void;
}

/**
 * carbon's pickle receiver framing over TCP: each message is a 4-byte big-endian length and that
 * many bytes. Connections, idle time and the message size are bounded; `proto` names it
 * ("carbon-pickle 127.0.0.1:2004").
 */
export function listenPickle(proto: string, addr: ListenAddress, opts: ConnectionLimits & { maxMessage: number }, on: PickleHandlers): Promise<Listener> {
  const counts = { bytes: 0, messages: 0, oversized_messages: 0, truncated_messages: 0 };
  return serveTcp(proto, addr, opts, counts, on.refused, (socket) => {
    let chunks: Buffer[] = [];
    let have = 0;
    let want = -1; // body length, once its prefix is read
    let dropped = false;
    /** the first n held bytes, removed */
    const take = (n: number): Buffer => {
      const first = chunks[0]!;
      let out: Buffer;
      if (first.length >= n) {
        out = first.subarray(0, n);
        if (first.length === n) chunks.shift();
        else chunks[0] = first.subarray(n);
      } else {
        const all = Buffer.concat(chunks, have);
        out = all.subarray(0, n);
        chunks = n < all.length ? [all.subarray(n)] : [];
      }
      have -= n;
      return out;
    };
    const drop = (): void => {
      dropped = true;
      chunks = [];
      have = 0;
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      if (dropped) return;
      counts.bytes += chunk.length;
      chunks.push(chunk);
      have += chunk.length;
      frames();
      // what waits for the next segment is copied: the chunk's memory may be reused by the stream
      if (have > 0) chunks = chunks.map((c) => (c.buffer === chunk.buffer ? Buffer.from(c) : c));
    });
    const frames = (): void => {
      for (;;) {
        if (want < 0) {
          if (have < 4) return;
          want = take(4).readUInt32BE(0);
          if (want > opts.maxMessage) {
            counts.oversized_messages++;
            on.oversized(want);
            drop();
            return;
          }
        }
        if (have < want) return;
        const body = take(want);
        want = -1;
        counts.messages++;
        if (!on.message(body)) {
          drop();
          return;
        }
      }
    };
    socket.on('end', () => {
      if (!dropped && (have > 0 || want >= 0)) counts.truncated_messages++;
      chunks = [];
      socket.end();
    });
  });
}
