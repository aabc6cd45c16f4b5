import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { openUdpReceiver } from '../agent/udp/receiver.js';

const RECEIVER_URL = new URL('../agent/udp/receiver.js', import.meta.url).href;
const MiB = 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/** Bounds every wait of these tests: a hung test would otherwise hold the whole run. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function busyLoop(ms: number, until?: () => boolean, maxMs = 10_000): void {
  const start = Date.now();
  for (;;) {
    const t = Date.now() - start;
    if (t >= ms && (!until || until() || t >= maxMs)) return;
  }
}

/**
 * Sends one datagram at a time, waiting for each send callback: order is preserved.
 * after(i), when given, is awaited after datagram i was sent.
 */
async function sendSequential(
  payloads: Buffer[],
  port: number,
  host = '127.0.0.1',
  after?: (i: number) => Promise<void>,
): Promise<void> {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    for (let i = 0; i < payloads.length; i++) {
      await new Promise<void>((res, rej) => sock.send(payloads[i], port, host, (err) => (err ? rej(err) : res())));
      // dgram calls back through process.nextTick when the send completed at once: without this,
      // the loop would never give the event loop (and so the receiver) a turn.
      await new Promise((res) => setImmediate(res));
      if (after) await after(i);
    }
  } finally {
    sock.close();
  }
}

/** Deterministic payload of `size` bytes for datagram `i`. */
function payload(i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (i * 2654435761) >>> 0;
  for (let k = 0; k < size; k++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[k] = x >>> 24;
  }
  return b;
}

/**
 * A sender on another thread, so that datagrams arrive while this (the JS) thread is blocked.
 * Datagram i is `size` bytes: i as u32 BE, then the byte (i & 0xff) repeated.
 */
class WorkerSender {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(8)); // [0] go, [1] done
  private readonly worker: Worker;
  private readonly ready: Promise<unknown>;
  private readonly exited: Promise<unknown>;

  constructor(port: number, count: number, size: number, host = '127.0.0.1') {
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const dgram = require('node:dgram');
      const { port, host, count, size, ctl } = workerData;
      const flags = new Int32Array(ctl);
      const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      const bufs = [];
      for (let i = 0; i < count; i++) {
        const b = Buffer.alloc(size, i & 0xff);
        b.writeUInt32BE(i, 0);
        bufs.push(b);
      }
      parentPort.postMessage('ready');
      Atomics.wait(flags, 0, 0);
      let i = 0;
      const burst = () => {
        if (i >= count) {
          Atomics.store(flags, 1, 1);
          sock.close();
          return;
        }
        const end = Math.min(i + 256, count);
        let pending = end - i;
        for (; i < end; i++) {
          sock.send(bufs[i], port, host, (err) => {
            if (err) throw err;
            if (--pending === 0) setImmediate(burst);
          });
        }
      };
      burst();
    `;
    this.worker = new Worker(code, { eval: true, workerData: { port, host, count, size, ctl: this.ctl.buffer } });
    this.ready = once(this.worker, 'message');
    this.exited = once(this.worker, 'exit');
  }

  async start(): Promise<void> {
    await within(this.ready, 10_000, 'sender worker start');
    Atomics.store(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
  }

  get done(): boolean {
    return Atomics.load(this.ctl, 1) === 1;
  }

  async finish(): Promise<void> {
    await within(this.exited, 10_000, 'sender worker exit');
  }
}

test('delivers contents and order exactly, including empty and 65507-byte datagrams', async () => {
  const sizes: number[] = [0, 1, 2, 3, 4, 5, 7, 8, 17, 65507, 0, 1500, 9000, 0];
  for (let i = 0; sizes.length < 300; i++) sizes.push((i * 7919) % (i % 10 === 0 ? 20000 : 700));
  const payloads = sizes.map((s, i) => payload(i, s));
  // The default 64 MiB ring; and a 150 KB one that the 477 KB sent wrap around several times (for
  // that one, each datagram is waited for: a burst of them would not fit in such a small ring).
  for (const ringBytes of [undefined, 150_000]) {
    const got: Buffer[] = [];
    let emptyViews = 0;
    const r = await openUdpReceiver(
      { host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 4 * MiB, ringBytes },
      (buf, start, end) => {
        if (start === end) emptyViews++;
        got.push(Buffer.from(buf.subarray(start, end)));
      },
    );
    try {
      const oneByOne = ringBytes === undefined ? undefined : (i: number) => waitFor(() => got.length > i, 5000, `datagram ${i}`);
      await sendSequential(payloads, r.port, '127.0.0.1', oneByOne);
      await waitFor(() => got.length >= payloads.length, 10_000, `all datagrams (ring ${ringBytes}: ${got.length}, ${JSON.stringify(r.stats())})`);
      assert.equal(got.length, payloads.length);
      for (let i = 0; i < payloads.length; i++) {
        assert.ok(got[i].equals(payloads[i]), `datagram ${i} (${payloads[i].length} bytes) differs`);
      }
      assert.equal(emptyViews, sizes.filter((s) => s === 0).length);
      const total = sizes.reduce((a, b) => a + b, 0);
      assert.deepEqual(r.stats(), { datagrams: payloads.length, bytes: total, ringDrops: 0 });
    } finally {
      await within(r.close(), 10_000, 'close()');
    }
  }
});

test('the handler gets one Buffer over the ring and offsets into it', async () => {
  const seen: Array<{ buf: Buffer; start: number; end: number }> = [];
  const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 1 * MiB, ringBytes: 4096 }, (buf, start, end) =>
    seen.push({ buf, start, end }),
  );
  try {
    await sendSequential([Buffer.from('abc'), Buffer.from('defgh')], r.port);
    await waitFor(() => seen.length === 2, 5000, 'two datagrams');
    assert.ok(Buffer.isBuffer(seen[0].buf));
    assert.equal(seen[0].buf, seen[1].buf, 'the same view object is passed every time');
    assert.equal(seen[0].buf.length, 4096);
    assert.equal(seen[0].end - seen[0].start, 3);
    assert.equal(seen[1].end - seen[1].start, 5);
  } finally {
    await within(r.close(), 10_000, 'close()');
  }
});

test('stats() counts datagrams and bytes', async () => {
  const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 1 * MiB }, () => {});
  try {
    assert.deepEqual(r.stats(), { datagrams: 0, bytes: 0, ringDrops: 0 });
    await sendSequential([Buffer.from('a:1|c'), Buffer.alloc(0), Buffer.from('bb:2|ms')], r.port);
    await waitFor(() => r.stats().datagrams === 3, 5000, 'three datagrams');
    assert.deepEqual(r.stats(), { datagrams: 3, bytes: 12, ringDrops: 0 });
  } finally {
    await within(r.close(), 10_000, 'close()');
  }
  assert.deepEqual(r.stats(), { datagrams: 3, bytes: 12, ringDrops: 0 }, 'stats stay readable after close');
});

test('IPv6 on ::1', async (t) => {
  const probe = dgram.createSocket('udp6');
  const bindError = await new Promise<Error | undefined>((res) => {
    probe.once('error', (err) => res(err));
    probe.bind(0, '::1', () => res(undefined));
  });
  probe.close();
  if (bindError) {
    t.skip(`::1 cannot be bound here: ${bindError.message}`);
    return;
  }
  const got: string[] = [];
  const r = await openUdpReceiver({ host: '::1', port: 0, family: 6, recvBufferBytes: 1 * MiB }, (buf, s, e) =>
    got.push(buf.toString('latin1', s, e)),
  );
  try {
    assert.ok(r.port > 0);
    await sendSequential([Buffer.from('v6:1|c'), Buffer.alloc(0), Buffer.from('v6:2|c')], r.port, '::1');
    await waitFor(() => got.length === 3, 5000, 'three datagrams over IPv6');
    assert.deepEqual(got, ['v6:1|c', '', 'v6:2|c']);
    await assert.rejects(openUdpReceiver({ host: '::1', port: r.port, family: 6, recvBufferBytes: 0 }, () => {}), {
      code: 'EADDRINUSE',
      message: `udp [::1]:${r.port}: address already in use`,
    });
  } finally {
    await within(r.close(), 10_000, 'close()');
  }
});

test('port 0 binds an ephemeral port and reports it; a fixed port is kept', async () => {
  const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 1 * MiB }, () => {});
  const port = r.port;
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `port ${port}`);
  assert.ok(r.recvBufferBytes > 0);
  await within(r.close(), 10_000, 'close()');
  // The port is free again after close(): bind it explicitly.
  const r2 = await openUdpReceiver({ host: '127.0.0.1', port, family: 4, recvBufferBytes: 1 * MiB }, () => {});
  try {
    assert.equal(r2.port, port);
  } finally {
    await within(r2.close(), 10_000, 'close()');
  }
});

test('a bind error rejects with the address in the message and the errno name in code', async () => {
  const holder = dgram.createSocket('udp4');
  await new Promise<void>((res) => holder.bind(0, '127.0.0.1', res));
  const { port } = holder.address();
  try {
    await assert.rejects(openUdpReceiver({ host: '127.0.0.1', port, family: 4, recvBufferBytes: 1 * MiB }, () => {}), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.equal(err.message, `udp 127.0.0.1:${port}: address already in use`);
      assert.equal((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
      return true;
    });
  } finally {
    holder.close();
  }
  await assert.rejects(openUdpReceiver({ host: 'localhost', port: 0, family: 4, recvBufferBytes: 0 }, () => {}), { code: 'EINVAL' });
});

test('recvBufferBytes reports what getsockopt says', async () => {
  const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 64 * 1024 }, () => {});
  try {
    // Linux doubles the requested value for bookkeeping overhead (and caps it at net.core.rmem_max).
    assert.equal(r.recvBufferBytes, 128 * 1024);
  } finally {
    await within(r.close(), 10_000, 'close()');
  }
});

test('close() delivers datagrams sent just before it', async () => {
  // From this thread: all sends completed, then close() at once.
  {
    const got: number[] = [];
    const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 8 * MiB }, (buf, s) =>
      got.push(buf.readUInt32BE(s)),
    );
    const sock = dgram.createSocket('udp4');
    const n = 2000;
    await new Promise<void>((res, rej) => {
      let pending = n;
      for (let i = 0; i < n; i++) {
        const b = Buffer.alloc(8);
        b.writeUInt32BE(i, 0);
        sock.send(b, r.port, '127.0.0.1', (err) => (err ? rej(err) : --pending === 0 && res()));
      }
    });
    sock.close();
    await within(r.close(), 10_000, 'close()');
    assert.equal(got.length, n);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
    await within(r.close(), 10_000, 'close()'); // idempotent
  }
  // From another thread while this one is blocked: close() is called before a single delivery.
  {
    let count = 0;
    const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 8 * MiB }, () => {
      count++;
    });
    try {
      const sender = new WorkerSender(r.port, 20_000, 16);
      await sender.start();
      busyLoop(100, () => sender.done);
      assert.ok(sender.done, 'the sender finished while this thread was blocked');
      assert.equal(count, 0);
      const closing = r.close();
      assert.equal(r.close(), closing, 'close() returns the same promise');
      await within(closing, 10_000, 'close()');
      assert.equal(count, 20_000);
      assert.deepEqual(r.stats(), { datagrams: 20_000, bytes: 20_000 * 16, ringDrops: 0 });
      await sender.finish();
    } finally {
      await within(r.close(), 10_000, 'close()');
    }
  }
});

test('no loss while the JS thread is blocked for 500 ms: the ring absorbs 50,000 datagrams', async () => {
  const n = 50_000;
  const size = 24;
  let count = 0;
  let bad = 0;
  let next = 0;
  const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 8 * MiB }, (buf, s, e) => {
    const i = buf.readUInt32BE(s);
    if (i !== next || e - s !== size || buf[e - 1] !== (i & 0xff)) bad++;
    next = i + 1;
    count++;
  });
  try {
    const sender = new WorkerSender(r.port, n, size);
    await sender.start();
    busyLoop(500, () => sender.done);
    assert.ok(sender.done, 'all datagrams were sent while this thread was blocked');
    assert.equal(count, 0, 'nothing can be delivered while the thread is blocked');
    await waitFor(() => count >= n, 10_000, `${n} datagrams (got ${count})`);
    await sleep(50);
    assert.equal(count, n);
    assert.equal(bad, 0, 'every datagram intact and in order');
    assert.deepEqual(r.stats(), { datagrams: n, bytes: n * size, ringDrops: 0 });
    await sender.finish();
  } finally {
    await within(r.close(), 10_000, 'close()');
  }
});

test('a full ring drops datagrams and counts them in ringDrops, without corrupting the rest', async () => {
  const n = 1000;
  const size = 100; // 104-byte records: a 1 KiB ring holds 9
  let count = 0;
  let bad = 0;
  let last = -1;
  const r = await openUdpReceiver(
    { host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 8 * MiB, ringBytes: 1024 },
    (buf, s, e) => {
      const i = buf.readUInt32BE(s);
      if (i <= last || e - s !== size || buf[s + 4] !== (i & 0xff) || buf[e - 1] !== (i & 0xff)) bad++;
      last = i;
      count++;
    },
  );
  try {
    const sender = new WorkerSender(r.port, n, size);
    await sender.start();
    busyLoop(100, () => sender.done);
    busyLoop(100); // let the receiver thread empty the socket into the (full) ring
    await sleep(200);
    const st = r.stats();
    assert.ok(st.ringDrops > 0, `ringDrops ${st.ringDrops}`);
    assert.equal(st.datagrams + st.ringDrops, n);
    assert.equal(st.bytes, st.datagrams * size);
    assert.equal(count, st.datagrams);
    assert.equal(bad, 0);
    await sender.finish();
    // The receiver still works normally afterwards.
    await sendSequential([Buffer.alloc(size, 7)], r.port);
    await waitFor(() => count === st.datagrams + 1, 5000, 'one more datagram');
  } finally {
    await within(r.close(), 10_000, 'close()');
  }
});

function runChild(script: string, onStdout?: (line: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tally-udp-'));
  const file = join(dir, 'child.mjs');
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (onStdout) for (const line of d.split('\n')) if (line) onStdout(line);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((res) => {
    child.on('exit', (code) => {
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
      res({ code, stdout, stderr });
    });
  });
}

test('an open receiver keeps the process alive; after close() it exits on its own', async () => {
  const script = `
    import { openUdpReceiver } from ${JSON.stringify(RECEIVER_URL)};
    const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 1 << 20 }, (buf, s, e) => {
      console.log('got ' + buf.toString('latin1', s, e));
      r.close().then(() => console.log('closed'));
    });
    console.log('port ' + r.port);
  `;
  const result = await runChild(script, (line) => {
    const m = /^port (\d+)$/.exec(line);
    // Send only after a while: the child has nothing else keeping it alive meanwhile.
    if (m) setTimeout(() => void sendSequential([Buffer.from('hello')], Number(m[1])), 300);
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /got hello\nclosed\n/);
});

test('a throwing handler: the exception surfaces as uncaught, delivery goes on in order', async () => {
  const script = `
    import { openUdpReceiver } from ${JSON.stringify(RECEIVER_URL)};
    const got = [], errors = [];
    process.on('uncaughtException', (err) => errors.push(err.message));
    const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 1 << 20 }, (buf, s, e) => {
      const m = buf.toString('latin1', s, e);
      got.push(m);
      if (m.startsWith('boom')) throw new Error(m);
      if (m === 'end') r.close().then(() => console.log(JSON.stringify({ got, errors })));
    });
    console.log('port ' + r.port);
  `;
  const msgs = ['a', 'boom1', 'b', 'c', 'boom2', 'boom3', 'd', 'end'];
  const result = await runChild(script, (line) => {
    const m = /^port (\d+)$/.exec(line);
    if (m) void sendSequential(msgs.map((s) => Buffer.from(s)), Number(m[1]));
  });
  assert.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout.split('\n').filter(Boolean).pop() ?? '{}');
  assert.deepEqual(out, { got: msgs, errors: ['boom1', 'boom2', 'boom3'] });

  // Without an uncaughtException listener it is fatal, like a throwing dgram 'message' listener.
  const fatal = await runChild(
    `
    import { openUdpReceiver } from ${JSON.stringify(RECEIVER_URL)};
    const r = await openUdpReceiver({ host: '127.0.0.1', port: 0, family: 4, recvBufferBytes: 1 << 20 }, () => {
      throw new Error('handler failed');
    });
    console.log('port ' + r.port);
  `,
    (line) => {
      const m = /^port (\d+)$/.exec(line);
      if (m) void sendSequential([Buffer.from('x')], Number(m[1]));
    },
  );
  assert.equal(fatal.code, 1);
  assert.match(fatal.stderr, /handler failed/);
});
