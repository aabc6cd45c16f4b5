/**
 * sendNsca against the real Debian `nsca` daemon (one per encryption setup, in a temp dir, in the
 * foreground), plus fake servers for the layout, the timeouts and the failures a daemon cannot
 * be made to show.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { sendNsca, type CheckResult } from '../agent/alerts/nsca.js';
import { freePort } from './helpers/freePort.js';
import { HAVE_NSCA, NscaDaemon, NSCA_PEER as PEER } from './helpers/nscaDaemon.js';
import { requirePeer } from './helpers/peers.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Checks `[ts] PROCESS_SERVICE_CHECK_RESULT;…` exactly, with ts (server receive time) near now. */
function assertResultLine(line: string | undefined, r: CheckResult, output = r.output): void {
  const m = /^\[(\d+)\] (.*)$/.exec(line ?? '');
  assert.ok(m, `not a command line: ${JSON.stringify(line)}`);
  assert.equal(m[2], `PROCESS_SERVICE_CHECK_RESULT;${r.hostName};${r.service};${r.code};${output}`);
  assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 5, `timestamp ${m[1]} is not now`);
}

const result = (code: CheckResult['code'], output: string): CheckResult => ({ hostName: 'web1', service: 'tally', code, output });

describe('sendNsca to a real nsca daemon', () => {
  describe('decryption_method=0 (none)', () => {
    let d: NscaDaemon | undefined;
    before(async () => {
      if (HAVE_NSCA) d = await NscaDaemon.start(0);
    });
    after(async () => d?.stop());

    it('delivers a service check result, written with the server time', async (t) => {
      if (!requirePeer(t, HAVE_NSCA, PEER)) return;
      const r = result(2, 'CRITICAL: cannot deliver to carbon 10.0.0.1:2003: connect ECONNREFUSED|failures=3;1;2');
      await sendNsca(d!.target('none'), r);
      const lines = await d!.until(1);
      assert.equal(lines.length, 1);
      assertResultLine(lines[0], r);
    });

    it('cuts over-long fields at UTF-8 character boundaries and flattens line breaks', async (t) => {
      if (!requirePeer(t, HAVE_NSCA, PEER)) return;
      const before = d!.lines().length;
      // 'é' is 2 bytes: 63, 127 and 4095 usable bytes hold 31 + 'x', 63 + 'x' and 2047 of them.
      const r: CheckResult = { hostName: 'x' + 'é'.repeat(40), service: 'x' + 'é'.repeat(100), code: 1, output: 'é'.repeat(3000) };
      await sendNsca(d!.target('none'), r);
      const lines = await d!.until(before + 1);
      assertResultLine(lines[before], { ...r, hostName: 'x' + 'é'.repeat(31), service: 'x' + 'é'.repeat(63) }, 'é'.repeat(2047));

      const multi = result(0, 'OK: line one\nline two\r\nthree\rfour back\\slash');
      await sendNsca(d!.target('none'), multi);
      // nsca 2.10 doubles the backslash for Nagios, which reads it back as one.
      assertResultLine((await d!.until(before + 2))[before + 1], multi, 'OK: line one line two three four back\\\\slash');
    });
  });

  describe('decryption_method=1 (xor) with a password', () => {
    let d: NscaDaemon | undefined;
    before(async () => {
      if (HAVE_NSCA) d = await NscaDaemon.start(1, 'Sesame-ß-42');
    });
    after(async () => d?.stop());

    it('delivers with the right password', async (t) => {
      if (!requirePeer(t, HAVE_NSCA, PEER)) return;
      const r = result(0, 'OK: delivering to every carbon destination');
      await sendNsca(d!.target('xor', 'Sesame-ß-42'), r);
      const lines = await d!.until(1);
      assert.equal(lines.length, 1);
      assertResultLine(lines[0], r);
    });

    it('a wrong password writes nothing (NSCA sends no answer, so sendNsca cannot tell)', async (t) => {
      if (!requirePeer(t, HAVE_NSCA, PEER)) return;
      const before = d!.lines().length;
      await sendNsca(d!.target('xor', 'Sesame'), result(2, 'wrong password'));
      await sendNsca(d!.target('none'), result(2, 'no encryption'));
      await sleep(1000);
      assert.deepEqual(d!.lines().slice(before), []);
      // the daemon is still there and still takes the right password
      const r = result(1, 'WARNING: after the rejected ones');
      await sendNsca(d!.target('xor', 'Sesame-ß-42'), r);
      const lines = await d!.until(before + 1);
      assert.equal(lines.length, before + 1);
      assertResultLine(lines[before], r);
    });
  });

  describe('decryption_method=1 (xor) without a password, as Debian ships it', () => {
    let d: NscaDaemon | undefined;
    before(async () => {
      if (HAVE_NSCA) d = await NscaDaemon.start(1);
    });
    after(async () => d?.stop());

    it('delivers with an empty password', async (t) => {
      if (!requirePeer(t, HAVE_NSCA, PEER)) return;
      const r = result(3, 'UNKNOWN: first words');
      await sendNsca(d!.target('xor', ''), r);
      assertResultLine((await d!.until(1))[0], r);
    });
  });
});

/** A TCP server on an ephemeral loopback port; `onConn` decides what it does. */
async function fakeServer(onConn: (s: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('sendNsca without a daemon', () => {
  it('sends the packet_version 3 layout: CRC over the zeroed-CRC plaintext, the server timestamp echoed', async () => {
    const iv = Buffer.from(Array.from({ length: 128 }, (_, i) => (i * 37 + 11) & 0xff));
    const ts = 1_700_000_123;
    const password = 'pw';
    let got: Buffer | undefined;
    const srv = await fakeServer((s) => {
      const init = Buffer.alloc(132);
      iv.copy(init);
      init.writeUInt32BE(ts, 128);
      s.write(init);
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => ((got = Buffer.concat(chunks)), s.end()));
    });
    try {
      await sendNsca({ host: '127.0.0.1', port: srv.port, encryption: 'xor', password, timeoutMs: 2000 }, result(2, 'out'));
    } finally {
      await srv.close();
    }
    assert.equal(got?.length, 4304);
    const p = Buffer.from(got.map((b, i) => b ^ iv[i % 128]! ^ password.charCodeAt(i % password.length)));
    assert.equal(p.readInt16BE(0), 3);
    const crc = p.readUInt32BE(4);
    p.writeUInt32BE(0, 4);
    assert.equal(crc, crc32(p));
    assert.equal(p.readUInt32BE(8), ts);
    assert.equal(p.readInt16BE(12), 2);
    const str = (off: number, size: number) => p.subarray(off, off + size).toString('latin1').split('\0')[0];
    assert.equal(str(14, 64), 'web1');
    assert.equal(str(78, 128), 'tally');
    assert.equal(str(206, 4096), 'out');
    // the unused bytes are noise, not zeros (zeros would show IV ⊕ password on the wire)
    assert.ok(p.subarray(300, 4300).some((b) => b !== 0));
  });

  it('rejects within the timeout when the server never sends the init packet', async () => {
    const srv = await fakeServer(() => {}); // accepts, says nothing
    try {
      const t0 = Date.now();
      await assert.rejects(
        sendNsca({ host: '127.0.0.1', port: srv.port, encryption: 'xor', password: '', timeoutMs: 300 }, result(2, 'x')),
        new RegExp(`^Error: nsca 127\\.0\\.0\\.1:${srv.port}: timed out after 300ms waiting for the init packet$`),
      );
      const took = Date.now() - t0;
      assert.ok(took >= 290 && took < 1000, `took ${took} ms`);
    } finally {
      await srv.close();
    }
  });

  it('rejects when the server closes before a whole init packet', async () => {
    const srv = await fakeServer((s) => s.end(Buffer.alloc(100)));
    try {
      await assert.rejects(
        sendNsca({ host: '127.0.0.1', port: srv.port, encryption: 'none', password: '', timeoutMs: 2000 }, result(2, 'x')),
        { message: `nsca 127.0.0.1:${srv.port}: connection closed by the server after 100 of 132 bytes of the init packet` },
      );
    } finally {
      await srv.close();
    }
  });

  it('rejects with a clear message on a closed port', async () => {
    const port = await freePort();
    await assert.rejects(
      sendNsca({ host: '127.0.0.1', port, encryption: 'xor', password: '', timeoutMs: 2000 }, result(2, 'x')),
      { message: `nsca 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}` },
    );
  });

  it('rejects what NSCA cannot carry, without connecting', async () => {
    const t = { host: '127.0.0.1', port: 9, encryption: 'none', password: '', timeoutMs: 100 } as const;
    await assert.rejects(sendNsca(t, { ...result(0, ''), code: 4 as 0 }), { message: 'nsca 127.0.0.1:9: bad return code 4 (expected 0-3)' });
    await assert.rejects(sendNsca(t, { ...result(0, ''), hostName: 'a\nb' }), /host name "a\\nb" contains ';', a line break or NUL/);
    await assert.rejects(sendNsca(t, { ...result(0, ''), service: 'a;b' }), /service "a;b" contains/);
    await assert.rejects(sendNsca(t, { ...result(0, ''), service: '' }), /empty service/);
    await assert.rejects(sendNsca({ ...t, port: 0 }, result(0, '')), { message: 'nsca 127.0.0.1:0: bad port 0' });
  });
});
