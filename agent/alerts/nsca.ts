/**
 * A native NSCA 2.x client (protocol packet_version 3), so tally can page Nagios with passive
 * check results without shelling out to send_nsca.
 *
 * One call = one TCP connection = one check result:
 *   1. connect;
 *   2. read the server's 132-byte init packet: a 128-byte IV, then its clock as a 4-byte
 *      big-endian unsigned timestamp;
 *   3. send one 4304-byte data packet (layout below), encrypted with method 0 (none) or 1 (XOR);
 *   4. half-close and wait for the server to close its side.
 *
 * NSCA never acknowledges. The server reads until EOF and then closes, so "the server closed
 * after reading our packet" is the best delivery signal there is: a packet it rejects (wrong
 * password, bad CRC) is dropped just as silently, and only its log says so.
 *
 * Data packet, all integers big-endian, C struct layout with natural alignment (4304 bytes):
 *
 *   offset  size  field
 *        0     2  packet_version (int16) = 3
 *        2     2  alignment padding (random, covered by the CRC)
 *        4     4  crc32 (uint32), computed over the whole plaintext packet with this field 0
 *        8     4  timestamp (uint32): echoed from the init packet, as send_nsca does
 *       12     2  return_code (int16): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
 *       14    64  host_name, NUL-terminated (≤ 63 bytes)
 *       78   128  svc_description, NUL-terminated (≤ 127 bytes); "" would make it a host check
 *      206  4096  plugin_output, NUL-terminated (≤ 4095 bytes)
 *     4302     2  trailing struct padding (random)
 *
 * 4096 bytes of output is what nsca ≥ 2.9 (Debian's 2.10.2 included) reads; such a server still
 * takes the old 720-byte packet (512-byte output) but only as the last one on a connection, and a
 * server older than 2.9 cannot read this packet at all.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { crc32 } from 'node:zlib'; // zlib.crc32 exists since Node 20.15.0; tally needs ≥ 20.18

export type NscaEncryption = 'none' | 'xor';

export interface NscaTarget {
  host: string;
  port: number;
  encryption: NscaEncryption;
  /** used by 'xor'; '' is allowed (then only the IV is XORed, as the server does too) */
  password: string;
  /** bounds the whole exchange: connect, init packet, send, close */
  timeoutMs: number;
}

export interface CheckResult {
  hostName: string;
  service: string;
  code: 0 | 1 | 2 | 3;
  output: string;
}

const IV_SIZE = 128;
const INIT_PACKET_SIZE = IV_SIZE + 4;
const PACKET_VERSION = 3;
const PACKET_SIZE = 4304;
const OFF = { version: 0, crc: 4, timestamp: 8, code: 12, host: 14, service: 78, output: 206 } as const;
const FIELD = { host: 64, service: 128, output: 4096 } as const;

/**
 * Sends one passive service check result. Resolves once the server has read the packet and closed
 * the connection; rejects with `nsca HOST:PORT: why` on any failure or after `timeoutMs`.
 * Never throws synchronously.
 */
export function sendNsca(target: NscaTarget, result: CheckResult): Promise<void> {
  const where = `nsca ${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const fail = (why: string) => new Error(`${where}: ${why}`);

  const bad = checkInput(target, result);
  if (bad) return Promise.reject(fail(bad));

  return new Promise<void>((resolve, reject) => {
    let phase = 'connecting';
    let settled = false;
    const socket = net.connect({ host: target.host, port: target.port });
    // One deadline for the whole exchange, so every wait below is bounded by timeoutMs.
    const timer = setTimeout(() => finish(fail(`timed out after ${target.timeoutMs}ms ${phase}`)), target.timeoutMs);
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };

    let init = Buffer.alloc(0);
    let sent = false;
    socket.on('connect', () => {
      phase = 'waiting for the init packet';
    });
    socket.on('data', (chunk: Buffer) => {
      if (sent) return; // the server sends nothing after the init packet
      init = Buffer.concat([init, chunk]);
      if (init.length < INIT_PACKET_SIZE) return;
      sent = true;
      const iv = init.subarray(0, IV_SIZE);
      const timestamp = init.readUInt32BE(IV_SIZE);
      const packet = encrypt(buildPacket(result, timestamp), iv, target);
      phase = 'waiting for the server to close after the data packet';
      socket.end(packet); // FIN after the packet: the server reads it, then EOF, then closes
    });
    socket.on('end', () => {
      if (!sent) finish(fail(`connection closed by the server after ${init.length} of ${INIT_PACKET_SIZE} bytes of the init packet`));
    });
    socket.on('close', () => {
      if (sent) finish();
      else finish(fail(`connection closed ${phase}`));
    });
    socket.on('error', (err) => finish(fail(phase === 'connecting' ? err.message : `${err.message} while ${phase}`)));
  });
}

/** Why the input cannot be sent, or undefined. Checked at run time since it comes from config. */
function checkInput(target: NscaTarget, r: CheckResult): string | undefined {
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) return `bad port ${target.port}`;
  if (!(target.timeoutMs > 0 && target.timeoutMs <= 2 ** 31 - 1)) return `bad timeout ${target.timeoutMs}ms`; // setTimeout's range
  if (target.encryption !== 'none' && target.encryption !== 'xor') return `unsupported encryption ${String(target.encryption)}`;
  if (![0, 1, 2, 3].includes(r.code)) return `bad return code ${r.code} (expected 0-3)`;
  if (r.hostName === '') return 'empty host name';
  if (r.service === '') return 'empty service (NSCA would take it as a host check)';
  // Nagios splits the external command on ';' and on lines: such a name could not be addressed,
  // and a line break would let the rest of the name act as a second command.
  for (const [what, v] of [['host name', r.hostName], ['service', r.service]] as const) {
    if (/[;\r\n\0]/.test(v)) return `${what} ${JSON.stringify(v)} contains ';', a line break or NUL`;
  }
  return undefined;
}

/** The plaintext packet with its CRC filled in. */
function buildPacket(r: CheckResult, timestamp: number): Buffer {
  // Unused bytes are random, as send_nsca fills them (it uses printable noise): with XOR a
  // zero-filled packet would show IV ⊕ password in clear over its ~4 KB of padding, i.e. the
  // password to anyone who sees the IV go by. XOR stays obfuscation, not encryption, either way.
  const p = randomBytes(PACKET_SIZE);
  p.writeInt16BE(PACKET_VERSION, OFF.version);
  p.writeUInt32BE(0, OFF.crc);
  p.writeUInt32BE(timestamp, OFF.timestamp);
  p.writeInt16BE(r.code, OFF.code);
  putString(p, OFF.host, FIELD.host, r.hostName);
  putString(p, OFF.service, FIELD.service, r.service);
  putString(p, OFF.output, FIELD.output, flattenOutput(r.output));
  p.writeUInt32BE(crc32(p), OFF.crc);
  return p;
}

/**
 * Plugin output on one line: each line break (CR LF, CR or LF) becomes a space, and NUL (which
 * would end the C string early) too. Not every nsca 2.x escapes a line break: Debian's 2.10.2
 * writes it as `\n` (and `\` as `\\`), but others write it raw into the command pipe, where the
 * rest of the output would be read as a second external command. So tally sends no Nagios long
 * output; and a literal `\n` of ours would reach Nagios from 2.10.2 as `\\n`, a visible "\n".
 */
function flattenOutput(s: string): string {
  return s.replace(/\r\n|\r|\n|\0/g, ' ');
}

/** Writes `s` as UTF-8 NUL-terminated into `size` bytes, cut at a character boundary to fit. */
function putString(p: Buffer, offset: number, size: number, s: string): void {
  const bytes = truncateUtf8(Buffer.from(s, 'utf8'), size - 1);
  bytes.copy(p, offset);
  p[offset + bytes.length] = 0;
}

/** At most `max` bytes, never ending inside a multi-byte UTF-8 sequence. */
function truncateUtf8(b: Buffer, max: number): Buffer {
  if (b.length <= max) return b;
  let cut = max;
  while (cut > 0 && (b[cut]! & 0xc0) === 0x80) cut--; // b[cut] a continuation byte: back up to its lead
  return b.subarray(0, cut);
}

/**
 * Method 1 as nsca's encrypt_buffer: XOR every byte with the IV cycling, then with the password
 * cycling (both from index 0 for each packet). An empty password is a no-op second pass.
 */
function encrypt(p: Buffer, iv: Buffer, target: NscaTarget): Buffer {
  if (target.encryption === 'none') return p;
  const pw = Buffer.from(target.password, 'utf8');
  for (let i = 0; i < p.length; i++) {
    p[i] = p[i]! ^ iv[i % IV_SIZE]! ^ (pw.length > 0 ? pw[i % pw.length]! : 0);
  }
  return p;
}
