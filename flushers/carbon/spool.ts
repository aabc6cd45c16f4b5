import * as fs from 'node:fs';
import { join } from 'node:path';

/**
 * The on-disk spool of one carbon destination: batches that carbon did not take (after the flusher's
 * in-memory queue filled up, or at shutdown) wait here, oldest first, until carbon is back.
 *
 * Layout: `<dir>/<16-digit zero-padded sequence>.spool` segment files, each a run of frames
 * `[u32 BE byte length][u32 BE datapoints][bytes]`. The tail segment takes appends until it reaches
 * `segmentBytes` (4 MiB by default), then a new one is started, so dropping (at `maxBytes`) and
 * deleting (once acked) are by whole files, and reading needs only the current frame in memory.
 * Every append is fsynced before `append` returns, so what was spooled survives a power cut.
 *
 * The ack position is kept in memory only. After a restart the first remaining segment is delivered
 * from its start again, so the batches acked in it before the restart are sent twice. That is
 * harmless: carbon stores one value per timestamp and a resent datapoint has the same timestamp and
 * the same value, so it overwrites itself.
 *
 * Synchronous by design: `open` runs at start-up, `append` once per flush, `peek`/`ack` at the pace
 * of delivery.
 */

export interface Batch {
  bytes: Buffer;
  datapoints: number;
}

const HEADER = 8;
const MAX_U32 = 0xffffffff;
const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;
const SEGMENT_RE = /^(\d+)\.spool$/;

interface Segment {
  seq: number;
  path: string;
  /** Bytes on disk (whole frames only). */
  size: number;
  /** Frames in the file, acked or not. */
  frames: number;
  /** Datapoints in the file, acked or not. */
  datapoints: number;
}

export class Spool {
  /** Oldest first; the last one is the tail that takes appends. */
  private readonly segments: Segment[] = [];
  private nextSeq = 0;
  /** Read cursor in segments[0]: frames acked, their byte length and datapoints. */
  private ackedFrames = 0;
  private ackedOffset = 0;
  private ackedDatapoints = 0;
  /** The batch returned by peek() (so a second peek does not read again), or undefined. */
  private peeked: Batch | undefined;
  /** The segment that held the peeked batch was dropped by append() before ack(). */
  private peekedDropped = false;
  private totalBytes = 0;
  private totalFrames = 0;
  private totalDatapoints = 0;

  private constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly segmentBytes: number,
  ) {}

  /**
   * Opens (creating) the directory and finds the segments left by an earlier run, oldest first, reading
   * only the frame headers. A truncated last frame (a crash during a write) ends its file and is cut
   * away; an empty segment file is deleted.
   */
  static open(dir: string, maxBytes: number, segmentBytes = DEFAULT_SEGMENT_BYTES): Spool {
    if (!(maxBytes > 0)) throw new RangeError(`spool maxBytes must be > 0, got ${maxBytes}`);
    if (!(segmentBytes > 0)) throw new RangeError(`spool segmentBytes must be > 0, got ${segmentBytes}`);
    fs.mkdirSync(dir, { recursive: true });
    const spool = new Spool(dir, maxBytes, segmentBytes);
    const found = fs
      .readdirSync(dir)
      .map((name) => ({ name, m: SEGMENT_RE.exec(name) }))
      .filter((f): f is { name: string; m: RegExpExecArray } => f.m !== null)
      .map((f) => ({ path: join(dir, f.name), seq: Number(f.m[1]) }))
      .sort((a, b) => a.seq - b.seq);
    for (const { path, seq } of found) {
      spool.nextSeq = Math.max(spool.nextSeq, seq + 1);
      const seg = scanSegment(path, seq);
      if (seg.frames === 0) {
        fs.rmSync(path, { force: true });
        continue;
      }
      spool.segments.push(seg);
      spool.totalBytes += seg.size;
      spool.totalFrames += seg.frames;
      spool.totalDatapoints += seg.datapoints;
    }
    return spool;
  }

  /** Bytes on disk (acked frames of the first segment included until it is deleted). */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Datapoints not yet acked. */
  get datapoints(): number {
    return this.totalDatapoints - this.ackedDatapoints;
  }

  /** Batches not yet acked. */
  get batches(): number {
    return this.totalFrames - this.ackedFrames;
  }

  /**
   * Appends batches at the tail (newest) and fsyncs them. When the spool would pass maxBytes, whole
   * oldest segments are deleted first; returns the datapoints so dropped (their unacked ones), 0
   * normally. If the batches of this call alone exceed maxBytes, the oldest of them are dropped (and
   * counted) too, since everything already on disk is older still and has gone first.
   */
  append(batches: Batch[]): number {
    for (const b of batches) {
      if (!Number.isInteger(b.datapoints) || b.datapoints < 0 || b.datapoints > MAX_U32) {
        throw new RangeError(`spool batch datapoints must be a u32, got ${b.datapoints}`);
      }
      if (b.bytes.length > MAX_U32) throw new RangeError(`spool batch of ${b.bytes.length} bytes is too large`);
    }
    let dropped = 0;
    let incoming = batches.reduce((n, b) => n + HEADER + b.bytes.length, 0);
    let first = 0;
    while (first < batches.length && incoming > this.maxBytes) {
      incoming -= HEADER + batches[first]!.bytes.length;
      dropped += batches[first]!.datapoints;
      first++;
    }
    while (this.segments.length > 0 && this.totalBytes + incoming > this.maxBytes) {
      dropped += this.dropOldest();
    }

    // Group the frames by the segment they go to: one write and one fsync per segment touched.
    let i = first;
    while (i < batches.length) {
      let tail = this.segments[this.segments.length - 1];
      let fresh = false;
      if (tail === undefined || tail.size >= this.segmentBytes) {
        const seq = this.nextSeq++;
        tail = { seq, path: join(this.dir, `${String(seq).padStart(16, '0')}.spool`), size: 0, frames: 0, datapoints: 0 };
        fresh = true;
      }
      const parts: Buffer[] = [];
      let size = tail.size;
      let frames = 0;
      let datapoints = 0;
      while (i < batches.length && (frames === 0 || size < this.segmentBytes)) {
        const b = batches[i++]!;
        const header = Buffer.allocUnsafe(HEADER);
        header.writeUInt32BE(b.bytes.length, 0);
        header.writeUInt32BE(b.datapoints, 4);
        parts.push(header, b.bytes);
        size += HEADER + b.bytes.length;
        frames++;
        datapoints += b.datapoints;
      }
      writeFrames(tail.path, tail.size, Buffer.concat(parts));
      if (fresh) {
        this.segments.push(tail);
        fsyncDir(this.dir);
      }
      this.totalBytes += size - tail.size;
      tail.size = size;
      tail.frames += frames;
      tail.datapoints += datapoints;
      this.totalFrames += frames;
      this.totalDatapoints += datapoints;
    }
    return dropped;
  }

  /** The oldest batch not yet acked, or undefined when empty. Peeking twice without ack gives the same batch. */
  peek(): Batch | undefined {
    if (this.peeked !== undefined) return this.peeked;
    const head = this.segments[0];
    if (head === undefined || this.ackedFrames >= head.frames) return undefined;
    const fd = fs.openSync(head.path, 'r');
    try {
      const header = readExactly(fd, HEADER, this.ackedOffset);
      const length = header.readUInt32BE(0);
      const datapoints = header.readUInt32BE(4);
      const bytes = readExactly(fd, length, this.ackedOffset + HEADER);
      this.peeked = { bytes, datapoints };
      this.peekedDropped = false;
      return this.peeked;
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * The batch from peek() was delivered: move past it, deleting its segment once all the segment's
   * batches are acked. A no-op when that batch was dropped by append() in between (it is gone already)
   * or when the spool is empty.
   */
  ack(): void {
    if (this.peekedDropped) {
      this.peekedDropped = false;
      return;
    }
    const batch = this.peek();
    if (batch === undefined) return;
    const head = this.segments[0]!;
    this.peeked = undefined;
    this.ackedFrames++;
    this.ackedOffset += HEADER + batch.bytes.length;
    this.ackedDatapoints += batch.datapoints;
    if (this.ackedFrames >= head.frames) this.dropOldest();
  }

  /** Deletes segments[0]; returns its datapoints not yet acked. */
  private dropOldest(): number {
    const head = this.segments.shift()!;
    fs.rmSync(head.path, { force: true });
    const unacked = head.datapoints - this.ackedDatapoints;
    this.totalBytes -= head.size;
    this.totalFrames -= head.frames;
    this.totalDatapoints -= head.datapoints;
    if (this.peeked !== undefined) {
      this.peeked = undefined;
      this.peekedDropped = true;
    }
    this.ackedFrames = 0;
    this.ackedOffset = 0;
    this.ackedDatapoints = 0;
    return unacked;
  }
}

/** Counts a segment's whole frames from their headers; cuts a truncated last frame away. */
function scanSegment(path: string, seq: number): Segment {
  const fd = fs.openSync(path, 'r+');
  try {
    const fileSize = fs.fstatSync(fd).size;
    const header = Buffer.alloc(HEADER);
    let offset = 0;
    let frames = 0;
    let datapoints = 0;
    while (offset + HEADER <= fileSize) {
      if (fs.readSync(fd, header, 0, HEADER, offset) < HEADER) break;
      const end = offset + HEADER + header.readUInt32BE(0);
      if (end > fileSize) break;
      offset = end;
      frames++;
      datapoints += header.readUInt32BE(4);
    }
    if (offset < fileSize) {
      fs.ftruncateSync(fd, offset);
      fs.fsyncSync(fd);
    }
    return { seq, path, size: offset, frames, datapoints };
  } finally {
    fs.closeSync(fd);
  }
}

/** Appends `data` to the file (whose whole frames end at `size`) and fsyncs; on failure cuts the partial write away. */
function writeFrames(path: string, size: number, data: Buffer): void {
  const fd = fs.openSync(path, 'a');
  try {
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
      fs.fsyncSync(fd);
    } catch (err) {
      try {
        fs.ftruncateSync(fd, size);
      } catch {
        // the next open's scan cuts a partial frame away anyway
      }
      throw err;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a new segment's directory entry durable; best effort (not every platform fsyncs directories). */
function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // ignore
  }
}

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new Error(`spool segment ended early at ${position + done}`);
    done += n;
  }
  return buf;
}
