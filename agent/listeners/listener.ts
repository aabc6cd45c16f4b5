import type net from 'node:net';
import type { ListenAddress } from '../config/types.js';
import { formatAddress } from '../config/units.js';
import type { Figures } from '../meta/registry.js';

export interface Listener {
  /** "udp 127.0.0.1:8125", with the port actually bound */
  readonly description: string;
  /** Stop taking input; what already arrived is handed over first. */
  close(): Promise<void>;
  /** Meta stats of this listener. */
  figures(): Figures;
}

/** Key of an address in a listener table, to see what a reload changed. */
export function addressKey(proto: string, a: ListenAddress): string {
  return `${proto} ${formatAddress(a)}`;
}

const ERRNO_TEXT: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied',
};

/** "tcp 127.0.0.1:8125: address already in use", keeping the errno code. */
function bindError(proto: string, a: ListenAddress, err: NodeJS.ErrnoException): Error {
  const why = (err.code && ERRNO_TEXT[err.code]) ?? err.message;
  return Object.assign(new Error(`${proto} ${formatAddress(a)}: ${why}`), { code: err.code });
}

/** Binds a TCP or HTTP server; resolves to its description with the port actually bound ("admin 127.0.0.1:8126"). */
export async function listenOn(server: net.Server, proto: string, addr: ListenAddress): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: addr.host, port: addr.port, ipv6Only: addr.family === 6 }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    throw bindError(proto, addr, err);
  });
  return `${proto} ${formatAddress({ ...addr, port: (server.address() as net.AddressInfo).port })}`;
}
