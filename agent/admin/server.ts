/**
 * The admin interface on port 8126: etsy statsd's management console (stats.js, lib/mgmt_server.js,
 * lib/mgmt_console.js): its commands and reply formats, plus `sets` and `delsets`. Unlike etsy, which
 * takes each TCP chunk as one command, it is line framed; `config` shows tally's nested config (below).
 *
 * `stats` reads this shape from `control.stats()`:
 *   last_msg_seen   unix s of the last statsd sample  → `messages.last_msg_seen: <seconds since>`
 *   bad_lines_seen  count                             → `messages.bad_lines_seen: N`
 *   flushers.<name>.<figure>                          → `<name>.<figure>: value`, a `last_*` figure as seconds since
 *   anything else, flattened                          → `<path>: value`
 */

import net from 'node:net';
import { inspect } from 'node:util';
import { parse } from 'yaml';
import type { ListenAddress } from '../config/types.js';
import { formatConfig } from '../config/load.js';
import { METRIC_TYPES, type AgentControl, type MetricType } from '../control.js';
import { listenOn, type Listener } from '../listeners/listener.js';
import { flatten, type Figures } from '../meta/registry.js';

export interface AdminServer extends Listener {
  /** connections (accepted since start), commands (lines run), errors (unknown commands) */
  figures(): Figures;
}

export interface AdminLimits {
  maxConnections: number; // more are closed at once
  maxLine: number; // bytes; a longer line closes the connection (it is no command, and memory stays bounded)
  idleTimeoutMs: number; // so that forgotten sessions cannot hold every connection slot forever
}

const DEFAULT_LIMITS: AdminLimits = { maxConnections: 100, maxLine: 64 * 1024, idleTimeoutMs: 10 * 60_000 };

const HELP =
  'Commands: stats, counters, timers, gauges, sets, delcounters, deltimers, delgauges, delsets, health, config, quit\n\n';
// Maps, not objects: a command like `toString` must not find Object.prototype's
const DUMPS = new Map<string, MetricType>(METRIC_TYPES.map((t) => [t, t]));
const DELETES = new Map<string, MetricType>(METRIC_TYPES.map((t) => ['del' + t, t]));

export async function startAdmin(
  addr: ListenAddress,
  control: AgentControl,
  startedAt: number,
  limits: Partial<AdminLimits> = {},
): Promise<AdminServer> {
  const { maxConnections, maxLine, idleTimeoutMs } = { ...DEFAULT_LIMITS, ...limits };
  const counts = { connections: 0, commands: 0, errors: 0 };
  const sockets = new Set<net.Socket>();

  /** One command line; false when the connection is to close. */
  function run(line: string, socket: net.Socket): boolean {
    counts.commands++;
    const [cmd = '', ...args] = line.trim().split(' '); // etsy: `a  b` has an empty argument
    const dump = DUMPS.get(cmd);
    const del = DELETES.get(cmd);
    if (dump) socket.write(inspect(Object.fromEntries(control.values(dump))) + '\nEND\n\n');
    else if (del) socket.write(deleteReply(control, del, args));
    else if (cmd === 'help') socket.write(HELP);
    else if (cmd === 'config') socket.write(configReply(control));
    else if (cmd === 'stats') socket.write(statsReply(control, startedAt));
    else if (cmd === 'health') {
      const want = args[0]?.toLowerCase();
      if (want === 'up' || want === 'down') control.setHealth(want);
      socket.write(`health: ${control.health()}\n`);
    } else if (cmd === 'quit') return false;
    else {
      counts.errors++;
      socket.write('ERROR\n');
    }
    return true;
  }

  const server = net.createServer((socket) => {
    counts.connections++;
    sockets.add(socket);
    let held: Buffer = Buffer.alloc(0); // received, not yet run: complete lines while waiting for drain, then a partial one
    let closing = false;
    const close = (reply = ''): void => {
      closing = true;
      socket.end(reply); // what the client still sends is read and dropped until it closes too
    };

    /** Runs the complete lines held; stops reading while a client does not read its replies. */
    const runHeld = (): void => {
      let start = 0;
      for (let nl; !closing && !socket.writableNeedDrain && (nl = held.indexOf(10, start)) >= 0; start = nl + 1) {
        if (nl - start > maxLine) close('ERROR\n');
        else if (!run(held.toString('utf8', start, nl), socket)) close();
      }
      held = Buffer.from(held.subarray(start)); // a copy, so the chunk is not kept alive
      if (!closing && held.length > maxLine && held.indexOf(10) < 0) close('ERROR\n');
      if (!closing && socket.writableNeedDrain) {
        socket.pause();
        socket.once('drain', () => {
          socket.resume();
          runHeld();
        });
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
      runHeld();
    });
    if (idleTimeoutMs > 0) socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy()); // resets and the like: the client is gone
    socket.on('close', () => sockets.delete(socket));
  });
  server.maxConnections = maxConnections;

  const description = await listenOn(server, 'admin', addr);

  return {
    description,
    figures: () => ({ ...counts }),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy(); // an admin session has nothing to hand over
      await closed;
    },
  };
}

/** etsy's mgmt_console.delete_stats: a line per deleted key, or `not found` when a pattern matched none. */
function deleteReply(control: AgentControl, type: MetricType, patterns: string[]): string {
  let out = '';
  for (const pattern of patterns) {
    const deleted = control.delete(type, pattern);
    if (deleted.length === 0) out += `metric ${pattern} not found\n`;
    for (const name of deleted) out += `deleted: ${name}\n`;
  }
  return out + 'END\n\n';
}

/**
 * etsy's helpers.writeConfig (a blank line, then `prop: value` and `prop > sub: value`), nested as deep
 * as the config goes, over the config in the units `tally check-config` prints (10s, 8MiB, 127.0.0.1:8125);
 * lists as JSON, where etsy would print `a,b` (and nothing for an empty list).
 */
function configReply(control: AgentControl): string {
  const lines = (node: Record<string, unknown>, prefix: string): string[] =>
    Object.entries(node).flatMap(([key, value]) =>
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? lines(value as Record<string, unknown>, `${prefix}${key} > `)
        : [`${prefix}${key}: ${Array.isArray(value) ? JSON.stringify(value) : value}\n`],
    );
  return '\n' + lines(parse(formatConfig(control.config())) as Record<string, unknown>, '').join('');
}

/** etsy's `stats` reply over the shape documented at the top of this file. */
function statsReply(control: AgentControl, startedAt: number): string {
  const now = Math.round(Date.now() / 1000); // etsy's rounding
  const ago = (v: unknown): unknown => (typeof v === 'number' ? now - v : v);
  const { last_msg_seen, bad_lines_seen, flushers, ...rest } = control.stats();
  const rows: [string, unknown][] = [
    ['uptime', now - startedAt],
    ['messages.last_msg_seen', ago(last_msg_seen)],
    ['messages.bad_lines_seen', bad_lines_seen],
    ...flatten(typeof flushers === 'object' ? flushers : {}).map(
      ([name, v]): [string, unknown] => [name, /(^|\.)last_[^.]*$/.test(name) ? ago(v) : v],
    ),
    ...flatten(rest),
  ];
  return rows.map(([name, v]) => `${name}: ${v}\n`).join('') + 'END\n\n';
}
