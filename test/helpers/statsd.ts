import dgram from 'node:dgram';
import { AgentProcess, configFile } from './agentProcess.js';

/** Sends each packet as one datagram to 127.0.0.1:port, in order, letting the event loop turn
 * between sends (dgram's callback comes on nextTick, which would otherwise starve the loop). */
export function sendUdp(port: number, ...packets: (string | Buffer)[]): Promise<void> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    const next = (i: number): void => {
      if (i === packets.length) {
        s.close();
        resolve();
        return;
      }
      s.send(packets[i]!, port, '127.0.0.1', (err) => (err ? reject(err) : setImmediate(next, i + 1)));
    };
    next(0);
  });
}

/** `tally agent` flushing every second, statsd and the HTTP API on ephemeral ports, admin and XML-RPC
 * off unless `yaml` (more config, e.g. a graphite section) says otherwise. */
export function startAgent(yaml: string): Promise<AgentProcess> {
  const base = 'flush_interval: 1s\nstatsd: {udp: ["127.0.0.1:0"], tcp: []}\nadmin: {listen: []}\nxmlrpc: {listen: []}\nhttp: {listen: ["127.0.0.1:0"]}\n';
  return AgentProcess.start(['--config', configFile(base), '--config', configFile(yaml)]);
}
