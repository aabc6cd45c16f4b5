import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryAlerter, type CheckCode } from '../agent/alerts/alerter.js';
import type { NscaConfig } from '../agent/config/types.js';
import type { Log } from '../agent/log.js';

const cfg = (o: Partial<NscaConfig> = {}): NscaConfig => ({
  host: 'nagios',
  port: 5667,
  encryption: 'xor',
  password: '',
  host_name: 'web1',
  service: 'tally',
  timeout: 1000,
  min_interval: 300_000,
  heartbeat: 0,
  spool_warning_bytes: 1000,
  ...o,
});

function recorder(fail = false): { sent: [CheckCode, string][]; send: (c: CheckCode, o: string) => Promise<void> } {
  const sent: [CheckCode, string][] = [];
  return {
    sent,
    send: async (code, output) => {
      sent.push([code, output]);
      if (fail) throw new Error('nsca 127.0.0.1:5667: connect ECONNREFUSED');
    },
  };
}

function logs(): Log & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('delivery alerter', () => {
  it('CRITICAL once for an outage of two destinations, OK when both are back', async () => {
    const r = recorder();
    const a = new DeliveryAlerter(cfg(), r.send, logs());
    a.failed('carbon a:1', 'connect ECONNREFUSED', '10 datapoints queued');
    a.failed('carbon a:1', 'connect ECONNREFUSED', '20 datapoints queued');
    a.failed('carbon b:2', 'write timed out', '5 datapoints queued');
    a.recovered('carbon a:1');
    assert.deepEqual(r.sent, [[2, 'CRITICAL: delivery failing: carbon a:1: connect ECONNREFUSED; 10 datapoints queued']]);
    a.recovered('carbon b:2');
    assert.deepEqual(r.sent[1], [0, 'OK: delivering to every carbon destination']);
    a.close();
  });

  it('WARNING while degraded, and back to OK', async () => {
    const r = recorder();
    const a = new DeliveryAlerter(cfg(), r.send, logs());
    a.degraded('carbon a:1', 'spool holds 2000 bytes');
    a.degraded('carbon a:1', null);
    assert.deepEqual(r.sent.map(([c]) => c), [1, 0]);
    assert.equal(r.sent[0]![1], 'WARNING: delivery degraded: carbon a:1: spool holds 2000 bytes');
    a.close();
  });

  it('heartbeat OK while all is well; reminders of a lasting outage every min_interval', async () => {
    const r = recorder();
    const a = new DeliveryAlerter(cfg({ heartbeat: 50, min_interval: 120 }), r.send, logs());
    await new Promise((res) => setTimeout(res, 230));
    assert.ok(r.sent.length >= 2 && r.sent.every(([c]) => c === 0), `heartbeats: ${JSON.stringify(r.sent)}`);
    r.sent.length = 0;
    a.failed('carbon a:1', 'down', 'x');
    await new Promise((res) => setTimeout(res, 300));
    const crit = r.sent.filter(([c]) => c === 2).length;
    assert.ok(crit >= 2 && crit <= 4, `CRITICAL at once, then about every 120 ms: ${crit}`);
    a.close();
  });

  it('NSCA unreachable: logged once, counted, never thrown', async () => {
    const r = recorder(true);
    const log = logs();
    const a = new DeliveryAlerter(cfg({ min_interval: 0 }), r.send, log);
    a.failed('carbon a:1', 'down', 'x');
    a.recovered('carbon a:1');
    a.failed('carbon a:1', 'down', 'x');
    await tick();
    assert.equal(r.sent.length, 3);
    assert.deepEqual(log.lines, ['error nsca 127.0.0.1:5667: connect ECONNREFUSED; alert not delivered']);
    assert.equal(a.figures().send_errors, 3);
    a.close();
  });
});
