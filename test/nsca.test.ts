/**
 * sendNsca against the real Debian `nsca` daemon (one per encryption setup, in a temp dir, in the
 * foreground), plus fake servers for the layout, the timeouts and the failures a daemon cannot
 * be made to show.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { sendNsca, type CheckResult, type NscaTarget } from '../agent/alerts/nsca.js';
import { freePort } from './helpers/freePort.js';
import { requirePeer } from './helpers/peers.js';

const NSCA = '/usr/sbin/nsca';
const HAVE_NSCA = existsSync(NSCA);
const PEER = `Debian's nsca daemon (${NSCA}, package nsca)`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once something accepts on the port, false if `child` exits first (e.g. the port got taken) or after 5 s. */
async function accepting(port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

/** A real nsca daemon in the foreground (`-f --single`), writing to a regular file. */
class NscaDaemon {
  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly commandFile: string,
    private readonly child: ChildProcess,
  ) {}

  /** `password` undefined = no password line (an empty value is a config error for nsca). */
  static async start(method: 0 | 1, password?: string): Promise<NscaDaemon> {
    const dir = mkdtempSync(join(tmpdir(), 'tally-nsca-'));
    const commandFile = join(dir, 'nagios.cmd');
    // A regular file in place of Nagios' FIFO: nsca fopen()s an existing command_file with "a"
    // when append_to_file=1 (with 0 it would be "w", truncating it on every result).
    writeFileSync(commandFile, '');
    for (let attempt = 0; ; attempt++) {
      const port = await freePort(); // nsca cannot be told port 0; retry if the port got taken
      const cfg = join(dir, 'nsca.cfg');
      writeFileSync(
        cfg,
        [
          'server_address=127.0.0.1',
          `server_port=${port}`,
          `command_file=${commandFile}`,
          `alternate_dump_file=${join(dir, 'dump')}`, // used only if command_file were missing
          'append_to_file=1',
          'aggregate_writes=0',
          'debug=1', // goes to syslog
          'max_packet_age=30',
          `decryption_method=${method}`,
          ...(password === undefined ? [] : [`password=${password}`]),
          '',
        ].join('\n'),
      );
      // -f: no fork, so the child is the daemon and killing it ends it.
      const child = spawn(NSCA, ['-f', '-c', cfg, '--single'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      if (await accepting(port, child)) return new NscaDaemon(port, dir, commandFile, child);
      child.kill('SIGKILL');
      if (attempt === 2) throw new Error(`nsca did not start on 127.0.0.1:${port} (exit ${child.exitCode}): ${stderr}`);
    }
  }

  target(encryption: NscaTarget['encryption'], password = ''): NscaTarget {
    return { host: '127.0.0.1', port: this.port, encryption, password, timeoutMs: 3000 };
  }

  lines(): string[] {
    return readFileSync(this.commandFile, 'utf8').split('\n').filter((l) => l !== '');
  }

  /** Waits until the command file holds `n` lines (nsca writes after our connection closed). */
  async until(n: number): Promise<string[]> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const lines = this.lines();
      if (lines.length >= n) return lines;
      if (Date.now() > deadline) throw new Error(`expected ${n} lines in the command file, got ${JSON.stringify(lines)}`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      await once(this.child, 'exit');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

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
