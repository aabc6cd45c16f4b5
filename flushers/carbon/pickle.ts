/**
 * carbon's pickle protocol (`carbon/protocols.py` MetricPickleReceiver, port 2004 by default): each
 * message is a 4-byte big-endian length, then a pickled list of `(path, (timestamp, value))`.
 * Pure: no I/O; frames are handed to a `write` callback.
 *
 * What carbon's receiver accepts, and why the encoding below:
 * - It unpickles with `carbon.util.SafeUnpickler`, which refuses every global but
 *   `copy_reg._reconstructor` and `__builtin__.object`: we emit none, only lists, tuples, strings
 *   and numbers, with protocol 2 opcodes (understood by Python 2's cPickle and every Python 3).
 * - Paths are BINUNICODE (UTF-8, as carbon's plaintext receiver decodes lines).
 * - It converts both numbers with `float()` and drops NaN values, so the value is always a BINFLOAT
 *   (exact: a JS number is a double) and the timestamp a BININT when it is a whole number that fits
 *   32 bits, else a BINFLOAT. Non-finite values are not sent (NaN would be dropped, an infinity would
 *   be stored and poison every aggregate of the series).
 * - A message longer than PICKLE_RECEIVER_MAX_LENGTH (2**20 bytes, not counting the length prefix)
 *   makes Twisted's Int32StringReceiver drop the connection, so frames are cut before that, and also
 *   after MAX_DATAPOINTS_PER_MESSAGE (500) datapoints, the size carbon's own relay sends.
 */

/** carbon's default `PICKLE_RECEIVER_MAX_LENGTH`: the largest message body it takes. */
export const PICKLE_RECEIVER_MAX_LENGTH = 2 ** 20;
/** carbon's default `MAX_DATAPOINTS_PER_MESSAGE`: what its relay puts in one pickle message. */
export const MAX_DATAPOINTS_PER_MESSAGE = 500;

export interface PickleLimits {
  /** datapoints per message (default 500) */
  maxDatapoints?: number;
  /** bytes of one message body, length prefix not counted (default 2**20) */
  maxBytes?: number;
}

export interface Datapoint {
  path: string;
  ts: number;
  value: number;
}

// protocol 2 opcodes (Python's Lib/pickle.py)
const PROTO = 0x80;
const EMPTY_LIST = 0x5d; // ]
const MARK = 0x28; // (
const APPENDS = 0x65; // e: append everything since MARK to the list below it
const BINUNICODE = 0x58; // X + uint32 LE length + UTF-8
const BININT = 0x4a; // J + int32 LE
const BINFLOAT = 0x47; // G + float64 BE
const TUPLE2 = 0x86;
const STOP = 0x2e; // .

/** length prefix + PROTO 2 + EMPTY_LIST + MARK */
const HEAD = 4 + 2 + 1 + 1;
/** APPENDS + STOP */
const TAIL = 2;

/** Builds framed pickle messages datapoint by datapoint and hands each full one to `write`. */
export class PickleEncoder {
  private readonly maxDatapoints: number;
  private readonly maxBytes: number;
  private buf = Buffer.allocUnsafe(1 << 16);
  /** bytes written in `buf`, the length prefix and header included */
  private used = HEAD;
  private count = 0;
  private total = 0;

  constructor(
    private readonly write: (frame: Buffer) => void,
    limits: PickleLimits = {},
  ) {
    this.maxDatapoints = limits.maxDatapoints ?? MAX_DATAPOINTS_PER_MESSAGE;
    this.maxBytes = limits.maxBytes ?? PICKLE_RECEIVER_MAX_LENGTH;
    if (!(this.maxDatapoints >= 1)) throw new RangeError('maxDatapoints must be at least 1');
  }

  /**
   * Adds one datapoint; false when it is not sent: a value that is not finite, or a path too long to
   * fit in a message at all.
   */
  add(path: string, ts: number, value: number): boolean {
    if (!Number.isFinite(value)) return false;
    if (!Number.isFinite(ts)) throw new RangeError(`timestamp ${ts} is not a number`);
    const pathBytes = Buffer.byteLength(path, 'utf8');
    const tsInt = Number.isInteger(ts) && ts >= -(2 ** 31) && ts < 2 ** 31;
    // X len path, J/G ts, G value, TUPLE2, TUPLE2
    const size = 5 + pathBytes + (tsInt ? 5 : 9) + 9 + 2;
    if (HEAD - 4 + size + TAIL > this.maxBytes) return false;
    if (this.count === this.maxDatapoints || this.used - 4 + size + TAIL > this.maxBytes) this.cut();
    if (this.used + size + TAIL > this.buf.length) this.grow(this.used + size + TAIL);

    const b = this.buf;
    let o = this.used;
    b[o++] = BINUNICODE;
    b.writeUInt32LE(pathBytes, o);
    o += 4;
    o += b.write(path, o, 'utf8');
    if (tsInt) {
      b[o++] = BININT;
      o = b.writeInt32LE(ts, o);
    } else {
      b[o++] = BINFLOAT;
      o = b.writeDoubleBE(ts, o);
    }
    b[o++] = BINFLOAT;
    o = b.writeDoubleBE(value, o);
    b[o++] = TUPLE2; // (ts, value)
    b[o++] = TUPLE2; // (path, (ts, value))
    this.used = o;
    this.count++;
    return true;
  }

  /** Hands on the last, partial message; returns the bytes of every message, prefixes included. */
  end(): number {
    if (this.count > 0) this.cut();
    return this.total;
  }

  private cut(): void {
    const b = this.buf;
    b[this.used++] = APPENDS;
    b[this.used++] = STOP;
    b.writeUInt32BE(this.used - 4, 0);
    b[4] = PROTO;
    b[5] = 2;
    b[6] = EMPTY_LIST;
    b[7] = MARK;
    // a copy: the working buffer is reused for the next message while this one waits in a socket
    const frame = Buffer.from(b.subarray(0, this.used));
    this.total += frame.length;
    this.used = HEAD;
    this.count = 0;
    this.write(frame);
  }

  private grow(atLeast: number): void {
    let size = this.buf.length * 2;
    while (size < atLeast) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}

/** The framed messages for a whole batch, each within carbon's limits. */
export function encodePickle(datapoints: Iterable<Datapoint>, limits?: PickleLimits): Buffer[] {
  const frames: Buffer[] = [];
  const encoder = new PickleEncoder((frame) => frames.push(frame), limits);
  for (const d of datapoints) encoder.add(d.path, d.ts, d.value);
  encoder.end();
  return frames;
}
