import type { ListenAddress } from '../config/types.js';
import { openUdpReceiver } from '../udp/receiver.js';
import { formatAddress } from '../config/units.js';
import type { Listener } from './listener.js';
import { udpKernelDrops } from './udpKernelDrops.js';

/** statsd over UDP: each datagram is one packet. Received by the native ring receiver, so that
 * datagrams keep arriving while a flush or a GC holds the JS thread. */
export async function listenUdp(addr: ListenAddress, recvBufferBytes: number, onText: (text: string) => void): Promise<Listener> {
  const receiver = await openUdpReceiver(
    { host: addr.host, port: addr.port, family: addr.family, recvBufferBytes },
    (buf, start, end) => onText(buf.toString('utf8', start, end)),
  );
  return {
    description: `udp ${formatAddress({ ...addr, port: receiver.port })}`,
    close: () => receiver.close(),
    figures() {
      const { datagrams, bytes, ringDrops } = receiver.stats();
      const kernelDrops = udpKernelDrops(receiver.port, addr.family);
      return {
        datagrams,
        bytes,
        ring_drops: ringDrops,
        ...(kernelDrops === undefined ? {} : { kernel_drops: kernelDrops }),
        recv_buffer_bytes: receiver.recvBufferBytes,
      };
    },
  };
}
