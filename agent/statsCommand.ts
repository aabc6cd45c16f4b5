/**
 * `tally stats [--config FILE]... [--json]`: asks a running agent for tally.stats() over XML-RPC
 * (the first `xmlrpc.listen` address, with basic auth when `xmlrpc.auth.user` is set) and prints
 * the figures: as JSON, or one sorted `name: value` line each.
 *
 * Parts in error come first, under "# in error", the rest under "# ok". A group of figures (the
 * struct that holds them directly: `graphiteStats`, `flushers.graphite`, `collectors.cpu`) is in
 * error when:
 *   - it has a `last_error` or `last_exception` timestamp: that timestamp is newer than its
 *     `last_flush` / `last_success` (a later success clears the error);
 *   - it has neither: its `errors` or `timeouts` count is above 0.
 * Groups under `listeners` are never in error: their counts are what clients did wrong.
 */
import xmlrpc from 'xmlrpc';
import type { Config, ListenAddress } from './config/types.js';
import { formatAddress } from './config/units.js';
import { flatten, type Figures } from './meta/registry.js';
import { readPassword } from './xmlrpc/server.js';

const CALL_TIMEOUT_MS = 10_000;

export async function statsCommand(config: Config, json: boolean): Promise<string> {
  const listen = config.xmlrpc.listen[0];
  if (listen === undefined) throw new Error('XML-RPC is off in the config (xmlrpc.listen is empty): tally stats needs it');
  const stats = await fetchStats(listen, config.xmlrpc.auth);
  return json ? JSON.stringify(stats, null, 2) + '\n' : listing(stats);
}

async function fetchStats(listen: ListenAddress, auth: Config['xmlrpc']['auth']): Promise<Figures> {
  // a wildcard address is reached on the loopback of the same family
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  const where = formatAddress({ ...listen, host });
  const client = xmlrpc.createClient({
    host,
    port: listen.port,
    path: '/RPC2',
    ...(auth.user !== '' ? { basic_auth: { user: auth.user, pass: readPassword(auth.password_file) } } : {}),
    // passed through to http.request: an agent that accepts and never answers must not hang us
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  } as Parameters<typeof xmlrpc.createClient>[0]);
  return new Promise((resolve, reject) => {
    client.methodCall('tally.stats', [], (err, value) => {
      if (!err) return resolve(value as Figures);
      const e = err as Error & { res?: { statusCode?: number; statusMessage?: string }; faultCode?: number; faultString?: string };
      const status = e.res?.statusCode;
      if (status !== undefined && status !== 200) return reject(new Error(`the agent's XML-RPC interface at ${where} answered HTTP ${status} ${e.res?.statusMessage ?? ''}`.trim()));
      if (e.faultString !== undefined) return reject(new Error(`the agent's XML-RPC interface at ${where} answered fault ${e.faultCode}: ${e.faultString}`));
      const why = e.name === 'AbortError' ? `no answer within ${CALL_TIMEOUT_MS} ms` : e.message;
      reject(new Error(`cannot reach the agent's XML-RPC interface at ${where}: ${why}`));
    });
  });
}

function listing(stats: Figures): string {
  const failing = new Set(groupsInError(stats));
  const group = (name: string): string => name.slice(0, name.lastIndexOf('.') + 1);
  const lines = (rows: [string, number | string][]): string => rows.map(([n, v]) => `${n}: ${v}\n`).join('');
  const all = flatten(stats);
  if (failing.size === 0) return lines(all);
  const bad = all.filter(([n]) => failing.has(group(n)));
  const good = all.filter(([n]) => !failing.has(group(n)));
  return `# in error\n${lines(bad)}\n# ok\n${lines(good)}`;
}

/** Path prefixes ("graphiteStats.", "flushers.graphite.") of the groups in error, as the rule at the top says. */
function groupsInError(figures: Figures, prefix = ''): string[] {
  const num = (k: string): number => (typeof figures[k] === 'number' ? (figures[k] as number) : 0);
  const out: string[] = [];
  const hasErrorTime = 'last_error' in figures || 'last_exception' in figures;
  const inError = hasErrorTime
    ? Math.max(num('last_error'), num('last_exception')) > Math.max(num('last_flush'), num('last_success'))
    : num('errors') > 0 || num('timeouts') > 0;
  if (inError && !prefix.startsWith('listeners.')) out.push(prefix);
  for (const [name, v] of Object.entries(figures)) if (typeof v === 'object') out.push(...groupsInError(v, `${prefix}${name}.`));
  return out;
}
