import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Batch, Spool } from '../flushers/carbon/spool.js';

let dir: string;
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'tally-spool-')), 'carbon-a');
});
afterEach(() => {
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

/** Batch `n`: `n` as text padded to 12 bytes (a 20-byte frame), with n datapoints. */
function batch(n: number): Batch {
  return { bytes: Buffer.from(`b${String(n).padStart(11, '0')}`), datapoints: n };
}
const FRAME = 20;

function segments(): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.spool'))
    .sort();
}

/** Peeks and acks everything left, returning the batch numbers in delivery order. */
function drain(spool: Spool): number[] {
  const out: number[] = [];
  for (let b = spool.peek(); b !== undefined; b = spool.peek()) {
    out.push(Number(b.bytes.toString().slice(1)));
    spool.ack();
  }
  return out;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('Spool', () => {
  it('is empty when opened on a new directory, and creates it', () => {
    const spool = Spool.open(dir, 1 << 20);
    assert.ok(statSync(dir).isDirectory());
    assert.equal(spool.peek(), undefined);
    assert.equal(spool.bytes, 0);
    assert.equal(spool.datapoints, 0);
    assert.equal(spool.batches, 0);
    spool.ack(); // a no-op
    assert.equal(spool.append([]), 0);
    assert.equal(spool.batches, 0);
    assert.deepEqual(segments(), []);
  });

  it('delivers oldest first across several segments, with exact counters', () => {
    // 3 frames (60 B) fill a 50-byte segment: the third passes it and the next append starts a new one
    const spool = Spool.open(dir, 1 << 20, 50);
    assert.equal(spool.append([batch(1), batch(2)]), 0);
    assert.equal(spool.append([batch(3), batch(4), batch(5), batch(6), batch(7)]), 0);
    assert.equal(spool.append([batch(8)]), 0);
    assert.equal(segments().length, 3); // [1,2,3] [4,5,6] [7,8]
    assert.equal(spool.bytes, 8 * FRAME);
    assert.equal(spool.batches, 8);
    assert.equal(spool.datapoints, 36);

    const first = spool.peek()!;
    assert.deepEqual(first, batch(1));
    assert.deepEqual(spool.peek(), first, 'peeking twice gives the same batch');
    spool.ack();
    assert.equal(spool.batches, 7);
    assert.equal(spool.datapoints, 35);
    assert.equal(spool.bytes, 8 * FRAME, 'a partly acked segment stays on disk');

    assert.deepEqual(drain(spool), range(2, 8));
    assert.equal(spool.batches, 0);
    assert.equal(spool.datapoints, 0);
    assert.equal(spool.bytes, 0);
    assert.deepEqual(segments(), []);
    assert.equal(spool.peek(), undefined);
  });

  it('deletes a segment exactly when its last batch is acked', () => {
    const spool = Spool.open(dir, 1 << 20, 50);
    spool.append(range(1, 7).map(batch)); // [1,2,3] [4,5,6] [7]
    assert.equal(segments().length, 3);
    for (const n of [1, 2]) {
      assert.equal(spool.peek()!.datapoints, n);
      spool.ack();
    }
    assert.equal(segments().length, 3);
    spool.peek();
    spool.ack();
    assert.equal(segments().length, 2);
    assert.equal(spool.bytes, 4 * FRAME);
    assert.equal(spool.batches, 4);
    assert.equal(spool.datapoints, 4 + 5 + 6 + 7);
    // appends while reading, into the segment being read
    spool.append([batch(8)]);
    assert.deepEqual(drain(spool), [4, 5, 6, 7, 8]);
    // the spool works again after being emptied
    spool.append([batch(9)]);
    assert.deepEqual(drain(spool), [9]);
  });

  it('finds its unacked batches again after a restart, in order', () => {
    const a = Spool.open(dir, 1 << 20, 50);
    a.append(range(1, 8).map(batch)); // [1,2,3] [4,5,6] [7,8]
    for (let i = 0; i < 4; i++) {
      a.peek();
      a.ack(); // acks 1..4: the first segment is deleted, the second is partly acked
    }
    assert.equal(segments().length, 2);

    const b = Spool.open(dir, 1 << 20, 50);
    // the ack position is in memory only: the partly acked segment is delivered from its start again
    assert.equal(b.batches, 5);
    assert.equal(b.datapoints, 4 + 5 + 6 + 7 + 8);
    assert.equal(b.bytes, 5 * FRAME);
    b.append([batch(9)]);
    assert.deepEqual(drain(b), [4, 5, 6, 7, 8, 9]);
    assert.deepEqual(segments(), []);

    const c = Spool.open(dir, 1 << 20, 50);
    assert.equal(c.batches, 0);
    assert.equal(c.peek(), undefined);
  });

  it('continues the segment sequence after a restart', () => {
    const a = Spool.open(dir, 1 << 20, 50);
    a.append(range(1, 4).map(batch)); // [1,2,3] [4]
    const b = Spool.open(dir, 1 << 20, 50);
    b.append(range(5, 10).map(batch)); // [4,5,6] [7,8,9] [10]
    assert.equal(segments().length, 4);
    assert.deepEqual(drain(Spool.open(dir, 1 << 20, 50)), range(1, 10));
  });

  it('drops whole oldest segments at maxBytes and counts their datapoints', () => {
    // room for 10 frames; segments of 3 frames
    const spool = Spool.open(dir, 10 * FRAME, 50);
    assert.equal(spool.append(range(1, 9).map(batch)), 0); // [1,2,3] [4,5,6] [7,8,9]
    assert.equal(spool.append([batch(10)]), 0, 'exactly maxBytes fits'); // ... [10]
    assert.equal(spool.bytes, 10 * FRAME);
    assert.equal(spool.append([batch(11)]), 1 + 2 + 3);
    assert.equal(spool.bytes, 8 * FRAME);
    assert.equal(spool.batches, 8);
    assert.equal(spool.datapoints, range(4, 11).reduce((s, n) => s + n, 0));

    // acked batches of a dropped segment are not counted as dropped
    spool.peek();
    spool.ack(); // 4
    // 160 + 120 bytes: [4,5,6] (5 and 6 unacked) and [7,8,9] go, [10,11] stays
    assert.equal(spool.append(range(12, 17).map(batch)), 5 + 6 + 7 + 8 + 9);
    assert.equal(spool.bytes, 8 * FRAME);
    assert.equal(spool.batches, 8);
    assert.equal(spool.datapoints, range(10, 17).reduce((s, n) => s + n, 0));
    assert.deepEqual(drain(spool), range(10, 17));
  });

  it('drops the oldest new batches too when one append alone passes maxBytes', () => {
    const spool = Spool.open(dir, 3 * FRAME, 50);
    spool.append([batch(1)]);
    assert.equal(spool.append(range(2, 6).map(batch)), 1 + 2 + 3);
    assert.equal(spool.bytes, 3 * FRAME);
    assert.equal(spool.append([{ bytes: Buffer.alloc(3 * FRAME), datapoints: 7 }]), 7, 'a batch bigger than maxBytes is dropped');
    assert.deepEqual(drain(spool), [4, 5, 6]);
  });

  it('does not ack the wrong batch when the peeked one was dropped before the ack', () => {
    const spool = Spool.open(dir, 4 * FRAME, 50);
    spool.append(range(1, 4).map(batch)); // [1,2,3] [4]
    assert.deepEqual(spool.peek(), batch(1));
    assert.equal(spool.append([batch(5)]), 1 + 2 + 3); // [4] [5] while 1 is out for delivery
    spool.ack(); // 1 was delivered, but it is gone already: 4 must stay
    assert.deepEqual(drain(spool), [4, 5]);
  });

  it('cuts a truncated last frame away at open, and later appends stay readable', () => {
    const a = Spool.open(dir, 1 << 20, 1000);
    a.append([batch(1), batch(2)]);
    const [seg] = segments();
    const path = join(dir, seg!);
    // a crash in the middle of writing a third frame: its header and part of its bytes
    const partial = Buffer.alloc(13);
    partial.writeUInt32BE(12, 0);
    partial.writeUInt32BE(3, 4);
    appendFileSync(path, partial);
    assert.equal(statSync(path).size, 2 * FRAME + 13);

    const b = Spool.open(dir, 1 << 20, 1000);
    assert.equal(statSync(path).size, 2 * FRAME, 'truncated to the whole frames');
    assert.equal(b.batches, 2);
    assert.equal(b.datapoints, 3);
    assert.equal(b.bytes, 2 * FRAME);
    b.append([batch(4)]);
    assert.deepEqual(drain(b), [1, 2, 4]);
  });

  it('cuts a truncated header away and deletes a segment left empty', () => {
    const a = Spool.open(dir, 1 << 20, 50);
    a.append(range(1, 4).map(batch)); // [1,2,3] [4]
    const files = segments();
    truncateSync(join(dir, files[1]!), 5); // [4] keeps only part of its header
    writeFileSync(join(dir, 'notes.txt'), 'not a segment');

    const b = Spool.open(dir, 1 << 20, 50);
    assert.deepEqual(segments(), [files[0]]);
    assert.equal(b.batches, 3);
    assert.equal(b.datapoints, 6);
    b.append([batch(5)]);
    assert.deepEqual(drain(Spool.open(dir, 1 << 20, 50)), [1, 2, 3, 5]);
    assert.ok(readdirSync(dir).includes('notes.txt'), 'other files are left alone');
  });

  it('keeps batches of any size and empty batches byte for byte', () => {
    const spool = Spool.open(dir, 1 << 20, 64);
    const big = Buffer.alloc(1000, 7);
    const batches: Batch[] = [
      { bytes: Buffer.alloc(0), datapoints: 0 },
      { bytes: big, datapoints: 4294967295 },
      { bytes: Buffer.from('a.b 1 1700000000\n'), datapoints: 1 },
    ];
    spool.append(batches);
    assert.equal(spool.bytes, 3 * 8 + 1000 + 17);
    assert.equal(spool.datapoints, 4294967296);
    const again = Spool.open(dir, 1 << 20, 64);
    for (const want of batches) {
      assert.deepEqual(again.peek(), want);
      again.ack();
    }
    assert.equal(again.peek(), undefined);
    assert.throws(() => spool.append([{ bytes: Buffer.alloc(1), datapoints: -1 }]), RangeError);
  });
});
