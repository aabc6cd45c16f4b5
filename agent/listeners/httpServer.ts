import http from 'node:http';
import type net from 'node:net';

/** How long close() lets requests under way finish before it cuts their connections. */
const CLOSE_GRACE_MS = 1000;

/**
 * An HTTP server for the agent's interfaces (XML-RPC, the store's API) whose whole requests,
 * headers and body, slow clients included, are bounded by `timeoutMs`: Node answers 408 and
 * closes. `onTimeout` counts them. A rejection of `handle` is the client gone mid-body: nobody is
 * left to answer, so the socket is dropped.
 */
export function boundedHttpServer(timeoutMs: number, onTimeout: () => void, handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): http.Server {
  const server = http.createServer(
    {
      requestTimeout: timeoutMs,
      headersTimeout: timeoutMs,
      // how often Node looks for requests over time: the default 30 s would let them run far over
      connectionsCheckingInterval: Math.min(1000, Math.max(50, timeoutMs / 10)),
    },
    (req, res) => void handle(req, res).catch(() => res.destroy()),
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (timedOut) onTimeout();
    // as Node's default handler: answer only when no response of ours is under way on the socket
    const busy = (socket as net.Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage?.headersSent;
    if (socket.writable && !busy) socket.end(`HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
    socket.destroy();
  });
  return server;
}

/** The body, or null when it goes over `limit`: the rest is still read and dropped, so that the
 * client gets our answer instead of a reset. Throws when the client goes away. */
export async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
    else chunks.length = 0;
  }
  return size <= limit ? Buffer.concat(chunks) : null;
}

/** Stops taking connections; requests under way get a moment to finish. */
export async function closeHttpServer(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const grace = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
  await closed;
  clearTimeout(grace);
}
