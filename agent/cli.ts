#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Agent } from './agent.js';
import { nscaSender } from './alerts/alerter.js';
import { ConfigError, formatConfig, loadConfig } from './config/load.js';
import { STORE_SOURCES } from './config/schema.js';
import type { StoreSource } from './config/types.js';
import { stderrLog } from './log.js';
import { QUERY_FORMATS, queryCommand, schemaDebug, StoreUnavailable, type QueryFormat } from './queryCommand.js';
import { statsCommand } from './statsCommand.js';
import { QueryError } from '../storage/query/errors.js';

const USAGE = `Usage:
  tally agent [--config FILE]... [--debug [GLOB]]
      Run the agent in the foreground, logging to stderr. Several --config files merge, later
      ones winning key by key; with none, embedded defaults: statsd on 127.0.0.1:8125 (UDP and
      TCP), a flush every 10 s kept in the embedded store ./data/tally.db, queried over HTTP on
      127.0.0.1:8128 (Graphite's /render, torus' /series). --debug prints every incoming sample whose
      name matches GLOB (default: all) and every flushed value that matches.
      Signals: SIGHUP re-reads the config files, SIGTERM/SIGINT flush and exit.
  tally check-config [--config FILE]...
      Validate the files and print the merged effective config. Exit 0 if valid, 2 if not.
  tally stats [--config FILE]... [--json]
      Print the meta stats of the running agent, asked over XML-RPC at the config's xmlrpc.listen
      (default 127.0.0.1:8127), sorted, with flushers and collectors in error first.
  tally send-nsca [--config FILE]... --code 0|1|2|3 --message TEXT
      Send one passive check result to the config's nsca.host as the agent would (OK, WARNING,
      CRITICAL, UNKNOWN), to test a Nagios setup.
  tally query EXPR... [--interval NAME] [--start T] [--end T] [--steps N] [--collapse]
              [--format table|json|graphite] [--config FILE]...
      Read the embedded store (opened read-only; the agent may be running) as the HTTP API's
      /series does. EXPR is a name or func(name): avg, min, max, sum, count, last for flushed
      values; pNN (e.g. p99.9), mean, count, min, max for timer samples; unique for sets.
      --interval: one of the name's schema (default its finest); --start/--end: epoch seconds,
      -1h, now, "noon yesterday", "5 days ago"...; --steps: buckets (default the interval's);
      --collapse: the whole range as one value. table: a header per EXPR, then one line per
      bucket (UTC time, value; - when empty).
  tally schema-debug NAME... [--source flushed|timer_samples|set_members] [--config FILE]...
      For each name, the schema it would be stored in for each source (or only --source): its
      type, precision for histograms, and each interval's step, steps and retention.
  tally --version
  tally --help

Exit status: 0 ok, 1 runtime failure (e.g. a port already in use, a store that cannot be
read), 2 bad config, usage or query.
`;

const STOP_HARD_LIMIT_MS = 10_000;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

class UsageError extends Error {}

interface AgentArgs {
  files: string[];
  debugGlob?: string;
  json?: boolean;
  code?: string;
  message?: string;
  /** query's EXPRs, schema-debug's NAMEs */
  positional: string[];
  interval?: string;
  start?: string;
  end?: string;
  steps?: string;
  collapse?: boolean;
  format?: string;
  source?: string;
}

/** Flags taking a value, per command. */
const VALUE_FLAGS: Record<string, readonly string[]> = {
  query: ['--interval', '--start', '--end', '--steps', '--format'],
  'schema-debug': ['--source'],
};
const TAKES_NAMES = new Set(['query', 'schema-debug']);

/** Hand-parsed because `--debug` takes an optional value, which util.parseArgs cannot express. */
function parseArgs(command: string, args: string[]): AgentArgs {
  const out: AgentArgs = { files: [], positional: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--config' || flag === '-c') {
      const file = inline ?? args[++i];
      if (file === undefined) throw new UsageError('--config needs a file');
      out.files.push(file);
    } else if ((flag === '--code' || flag === '--message') && command === 'send-nsca') {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`${flag} needs a value`);
      out[flag === '--code' ? 'code' : 'message'] = value;
    } else if (flag === '--json' && command === 'stats' && inline === undefined) {
      out.json = true;
    } else if (VALUE_FLAGS[command]?.includes(flag)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`${flag} needs a value`);
      out[flag.slice(2) as 'interval' | 'start' | 'end' | 'steps' | 'format' | 'source'] = value;
    } else if (flag === '--collapse' && command === 'query' && inline === undefined) {
      out.collapse = true;
    } else if (TAKES_NAMES.has(command) && !arg.startsWith('-')) {
      out.positional.push(arg);
    } else if (flag === '--debug' && command === 'agent') {
      const next = args[i + 1];
      out.debugGlob = inline ?? (next !== undefined && !next.startsWith('-') ? args[++i]! : '*');
    } else {
      throw new UsageError(`unknown argument for ${command}: ${arg}`);
    }
  }
  return out;
}

async function runAgent(args: AgentArgs): Promise<number> {
  const log = stderrLog();
  const config = loadConfig(args.files);
  const agent = await Agent.start(config, { files: args.files, log, ...(args.debugGlob !== undefined ? { debugGlob: args.debugGlob } : {}) });
  const listening = agent.listening.join(', ') || 'nothing';
  log.info(`tally agent ready: listening on ${listening}; flushing every ${config.flush_interval} ms to ${agent.flusherNames.join(', ')}`);

  process.on('SIGHUP', () => void agent.reload());
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      log.info(`${signal}: flushing and stopping`);
      setTimeout(() => {
        log.error(`still stopping after ${STOP_HARD_LIMIT_MS} ms; exiting anyway`);
        process.exit(1);
      }, STOP_HARD_LIMIT_MS).unref();
      void agent.stop().then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-V') {
    process.stdout.write(`tally ${version()}\n`);
    return 0;
  }
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (rest.includes('--version')) {
      process.stdout.write(`tally ${version()}\n`);
      return 0;
    }
    if (command === 'agent') return await runAgent(parseArgs(command, rest));
    if (command === 'stats') {
      const args = parseArgs(command, rest);
      process.stdout.write(await statsCommand(loadConfig(args.files), args.json ?? false));
      return 0;
    }
    if (command === 'send-nsca') {
      const args = parseArgs(command, rest);
      const code = Number(args.code);
      if (!(code === 0 || code === 1 || code === 2 || code === 3)) throw new UsageError('--code must be 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN)');
      if (args.message === undefined) throw new UsageError('--message is required');
      const nsca = loadConfig(args.files).nsca;
      if (nsca.host === '') throw new Error('nsca.host is not set in the config: NSCA alerts are off');
      await nscaSender(nsca)(code, args.message);
      process.stdout.write(`sent to ${nsca.host}:${nsca.port}: ${nsca.host_name};${nsca.service};${code};${args.message}\n`);
      return 0;
    }
    if (command === 'query') {
      const args = parseArgs(command, rest);
      if (args.positional.length === 0) throw new UsageError('query needs at least one EXPR: a name or func(name)');
      const format = args.format ?? 'table';
      if (!(QUERY_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be table, json or graphite, got ${format}`);
      const query = { stats: args.positional, interval: args.interval, start: args.start, end: args.end, steps: args.steps, collapse: args.collapse ?? false };
      process.stdout.write(queryCommand(loadConfig(args.files), query, format as QueryFormat));
      return 0;
    }
    if (command === 'schema-debug') {
      const args = parseArgs(command, rest);
      if (args.positional.length === 0) throw new UsageError('schema-debug needs at least one NAME');
      if (args.source !== undefined && !(STORE_SOURCES as readonly string[]).includes(args.source)) throw new UsageError(`--source must be flushed, timer_samples or set_members, got ${args.source}`);
      process.stdout.write(schemaDebug(loadConfig(args.files), args.positional, args.source as StoreSource | undefined));
      return 0;
    }
    if (command === 'check-config') {
      process.stdout.write(formatConfig(loadConfig(parseArgs(command, rest).files)));
      return 0;
    }
    throw new UsageError(`unknown command: ${command}`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tally: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`tally: invalid config:\n${err.message}\n`);
      return 2;
    }
    if (err instanceof QueryError) {
      process.stderr.write(`tally ${command}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof StoreUnavailable) {
      process.stderr.write(`tally ${command}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`tally: ${(err as Error).message}\n`);
    return 1;
  }
}

// exit explicitly: a stopped agent must not linger on a half-closed client connection
process.exit(await main(process.argv.slice(2)));
