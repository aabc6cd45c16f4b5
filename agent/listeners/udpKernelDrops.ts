import { readFileSync } from 'node:fs';

/**
 * Datagrams the kernel dropped for our socket (its receive buffer was full), from the `drops`
 * column of /proc/net/udp or udp6, found by local port. undefined where /proc says nothing.
 */
export function udpKernelDrops(port: number, family: 4 | 6): number | undefined {
  let table: string;
  try {
    table = readFileSync(family === 4 ? '/proc/net/udp' : '/proc/net/udp6', 'utf8');
  } catch {
    return undefined;
  }
  const hexPort = ':' + port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1]?.endsWith(hexPort)) return Number(cols[cols.length - 1]);
  }
  return undefined;
}
