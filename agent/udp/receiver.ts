/**
 * Native UDP receiver: a dedicated OS thread per socket (agent/udp/native/udp_ring.c) reads the
 * socket with recvmmsg() and copies datagrams into a large userspace ring, so datagrams keep being
 * taken off the kernel socket buffer while the JS thread is busy (flushes, GC). This module walks
 * the ring on the JS thread and calls the handler once per datagram with a zero-copy view.
 *
 * Threading and memory:
 * - The handler always runs on the JS thread that called openUdpReceiver(), never concurrently
 *   with itself. `buf` is one Buffer spanning the whole ring; the bytes of buf[start, end) are only
 *   valid during the call (the space is handed back to the receiver thread afterwards): copy
 *   what must outlive the call. Never write into `buf`.
 * - Memory per receiver: the ring (ringBytes, default 64 MiB, anonymous mmap: resident memory
 *   grows up to ringBytes as the ring is cycled through, and is given back at close()) + 64 x 64
 *   KiB recvmmsg buffers (4 MiB of address space, mostly untouched with small datagrams; freed at
 *   close()) + the kernel socket buffer. The ring absorbs ringBytes / (4 + size rounded up to 4)
 *   datagrams while the JS thread is busy: ~3 million statsd lines of ~20 bytes with the default.
 * - When the ring is full the datagram is dropped and counted in stats().ringDrops.
 * - While datagrams keep coming, the receiver thread reads the socket every ~100 us rather than
 *   being woken per datagram; when traffic stops it blocks in poll() and costs nothing.
 * - An open receiver keeps the event loop alive; after close() it does not.
 * - close() delivers what the kernel had queued (up to what SO_RCVBUF can hold, even when the ring
 *   is full: the final drain waits for the handler instead of dropping), then resolves.
 *
 * Handler exceptions: the datagram whose handler threw counts as consumed, delivery goes on with
 * the next datagram, and the exception is rethrown asynchronously (process.nextTick), so it
 * surfaces as an uncaught exception, like a throwing 'message' listener on a dgram socket: fatal
 * unless process.on('uncaughtException') handles it. The ring is never corrupted.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isIPv4, isIPv6 } from 'node:net';

export interface UdpReceiverOptions {
  host: string; // IP literal, "127.0.0.1" or "::1" (no brackets)
  port: number; // 0 = ephemeral
  family: 4 | 6;
  recvBufferBytes: number; // SO_RCVBUF requested with setsockopt (plain SO_RCVBUF, not FORCE; the kernel caps it at net.core.rmem_max)
  /** Each datagram takes 4 + its size rounded up to 4 bytes, contiguously: one larger than half
   * the ring can be dropped even when the ring is empty, so keep it well above 128 KiB. */
  ringBytes?: number; // userspace ring, default 64 MiB
}
export interface UdpReceiverStats {
  /** Datagrams read from the socket and stored in the ring (delivered, or about to be). */
  datagrams: number;
  /** Payload bytes of those datagrams. */
  bytes: number;
  /** Datagrams read from the socket but dropped because the ring was full. */
  ringDrops: number;
}
export type DatagramHandler = (buf: Buffer, start: number, end: number) => void; // the datagram is buf[start, end); the view is only valid during the call
export interface UdpReceiver {
  readonly port: number; // actual bound port
  readonly recvBufferBytes: number; // SO_RCVBUF as reported back by getsockopt
  stats(): UdpReceiverStats;
  /** Stop receiving: first read everything already waiting in the kernel socket buffer and deliver it through the handler, then close the socket and join the thread. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_RING_BYTES = 64 * 1024 * 1024;
const MIN_RING_BYTES = 64;
const MAX_RING_BYTES = 0x7ffffffc;
const WRAP_MARK = 0xffffffff;
/** Datagrams handled per turn of the event loop (~10 ms of parsing at most). */
const DRAIN_BATCH = 16_384;

interface Handle {
  readonly __udpRingHandle: unique symbol;
}
interface NativeBinding {
  open(
    host: string,
    port: number,
    family: number,
    recvBufferBytes: number,
    ringBytes: number,
    onNotify: () => void,
  ): { handle: Handle; port: number; recvBufferBytes: number; ring: ArrayBuffer };
  /** Write position; -1 - position once the thread has exited after stop(). Re-arms the wake-up. */
  acquire(h: Handle): number;
  release(h: Handle, pos: number): void;
  stats(h: Handle): [number, number, number];
  stop(h: Handle): void;
  join(h: Handle): void;
}

let binding: NativeBinding | undefined;

function loadBinding(): NativeBinding {
  if (binding) return binding;
  // Compiled: <repo>/dist/agent/udp/receiver.js; run from source (ts loaders): <repo>/agent/udp/receiver.ts.
  const here = dirname(fileURLToPath(import.meta.url));
  const roots = [resolve(here, '..', '..', '..'), resolve(here, '..', '..')];
  const addon = (root: string): string => join(root, 'build', 'Release', 'udp_ring.node');
  const found = roots.find((root) => existsSync(addon(root)));
  if (found === undefined) {
    const root = roots.find((r) => existsSync(join(r, 'binding.gyp'))) ?? roots[0];
    throw new Error(
      `native UDP receiver not built: ${addon(root)} is missing; run \`npm install\` (it builds the addon with node-gyp)`,
    );
  }
  binding = createRequire(import.meta.url)(addon(found)) as NativeBinding;
  return binding;
}

function rethrow(err: unknown): never {
  throw err;
}

class NativeUdpReceiver implements UdpReceiver {
  readonly port: number;
  readonly recvBufferBytes: number;
  private readonly native: NativeBinding;
  private readonly handle: Handle;
  private readonly buf: Buffer;
  private readonly u32: Uint32Array;
  private readonly size: number;
  private readonly onDatagram: DatagramHandler;
  private rpos = 0;
  private closing: Promise<void> | undefined;
  private resolveClose: (() => void) | undefined;
  private done = false;

  constructor(native: NativeBinding, opts: UdpReceiverOptions, ringBytes: number, onDatagram: DatagramHandler) {
    this.native = native;
    this.onDatagram = onDatagram;
    const r = native.open(opts.host, opts.port, opts.family, opts.recvBufferBytes, ringBytes, this.drain);
    this.handle = r.handle;
    this.port = r.port;
    this.recvBufferBytes = r.recvBufferBytes;
    this.size = r.ring.byteLength;
    this.buf = Buffer.from(r.ring, 0, r.ring.byteLength);
    this.u32 = new Uint32Array(r.ring, 0, r.ring.byteLength >>> 2);
  }

  /** Called on the JS thread when the receiver thread has stored new records (or exited), and
   * again from setImmediate while a backlog remains: one call handles at most DRAIN_BATCH
   * datagrams, so a backlog never holds the event loop long enough to delay a flush timer. */
  private readonly drain = (): void => {
    const a = this.native.acquire(this.handle);
    const w = a < 0 ? -1 - a : a;
    let pos = this.rpos;
    if (pos !== w) {
      const u32 = this.u32;
      const buf = this.buf;
      const size = this.size;
      const fn = this.onDatagram;
      let budget = DRAIN_BATCH;
      while (pos !== w && budget > 0) {
        try {
          while (pos !== w && budget-- > 0) {
            const len = u32[pos >>> 2];
            if (len === WRAP_MARK) {
              pos = 0;
              budget++;
              continue;
            }
            const start = pos + 4;
            pos = start + ((len + 3) & ~3); // past this record before the call: a throw consumes it
            if (pos === size) pos = 0;
            fn(buf, start, start + len);
          }
        } catch (err) {
          process.nextTick(rethrow, err);
        }
      }
      this.rpos = pos;
      this.native.release(this.handle, pos);
      if (pos !== w) {
        setImmediate(this.drain);
        return;
      }
    }
    if (a < 0) this.finish();
  };

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.native.join(this.handle);
    this.resolveClose?.();
  }

  stats(): UdpReceiverStats {
    const [datagrams, bytes, ringDrops] = this.native.stats(this.handle);
    return { datagrams, bytes, ringDrops };
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = new Promise<void>((res) => {
        this.resolveClose = res;
      });
      if (this.done) this.resolveClose!();
      else this.native.stop(this.handle);
    }
    return this.closing;
  }
}

function invalid(opts: UdpReceiverOptions, what: string): Error {
  const host = opts.family === 6 ? `[${String(opts.host)}]` : String(opts.host);
  const err = new Error(`udp ${host}:${String(opts.port)}: ${what}`) as NodeJS.ErrnoException;
  err.code = 'EINVAL';
  return err;
}

/** Binds a UDP socket and starts its receiver thread. Rejects with an errno-coded Error (code
 * 'EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES'...) whose message names the address. */
export async function openUdpReceiver(opts: UdpReceiverOptions, onDatagram: DatagramHandler): Promise<UdpReceiver> {
  if (typeof onDatagram !== 'function') throw new TypeError('openUdpReceiver: onDatagram must be a function');
  if (opts.family !== 4 && opts.family !== 6) throw invalid(opts, 'family must be 4 or 6');
  if (opts.family === 4 ? !isIPv4(opts.host) : !isIPv6(opts.host)) {
    throw invalid(opts, `not an IPv${opts.family} address literal`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw invalid(opts, 'bad port');
  if (!Number.isInteger(opts.recvBufferBytes) || opts.recvBufferBytes < 0 || opts.recvBufferBytes > 0x7fffffff) {
    throw invalid(opts, `bad recvBufferBytes ${opts.recvBufferBytes}`);
  }
  const ringBytes = opts.ringBytes ?? DEFAULT_RING_BYTES;
  if (!Number.isInteger(ringBytes) || ringBytes < MIN_RING_BYTES || ringBytes > MAX_RING_BYTES) {
    throw invalid(opts, `ringBytes must be an integer in [${MIN_RING_BYTES}, ${MAX_RING_BYTES}]`);
  }
  return new NativeUdpReceiver(loadBinding(), opts, ringBytes, onDatagram);
}
