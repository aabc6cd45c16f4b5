#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Agent } from './agent.js';
import { nscaSender } from './alerts/alerter.js';
import { ConfigError, formatConfig, loadConfig } from './config/load.js';
import { stderrLog } from './log.js';
import { statsCommand } from './statsCommand.js';

const USAGE = `Usage:
  tally agent [--config FILE]... [--debug [GLOB]]
      Run the agent in the foreground, logging to stderr. Several --config files merge, later
      ones winning key by key; with none, embedded defaults: statsd on 127.0.0.1:8125 (UDP and
      TCP), a flush every 10 s, printed to stdout. --debug prints every incoming sample whose
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
  tally --version
  tally --help

Exit status: 0 ok, 1 runtime failure (e.g. a port already in use), 2 bad config or usage.
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
}

/** Hand-parsed because `--debug` takes an optional value, which util.parseArgs cannot express. */
function parseArgs(command: string, args: string[]): AgentArgs {
  const out: AgentArgs = { files: [] };
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
    process.stderr.write(`tally: ${(err as Error).message}\n`);
    return 1;
  }
}

// exit explicitly: a stopped agent must not linger on a half-closed client connection
process.exit(await main(process.argv.slice(2)));
