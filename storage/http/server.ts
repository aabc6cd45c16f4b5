/**
 * The store's HTTP API: Graphite's render API as Grafana uses it (`/render`, `/metrics/find`,
 * `/metrics/expand`, `/metrics/index.json`, `/functions`) and torus' `/series`. JSON only, CORS
 * open (Grafana's browser "direct" mode). Queries run synchronously on the agent's main thread
 * over one read-only SQLite connection: statsd UDP is received by a native thread into a ring,
 * so a short query loses no datagrams.
 */

import http from 'node:http';
import type { Config, ListenAddress } from '../../agent/config/types.js';
import { boundedHttpServer, closeHttpServer, readBody } from '../../agent/listeners/httpServer.js';
import { listenOn, type Listener } from '../../agent/listeners/listener.js';
import type { Log } from '../../agent/log.js';
import { QueryError } from '../query/errors.js';
import { graphiteJson } from '../query/json.js';
import { MethodError, route, type Answer } from './routes.js';
import { StoreAccess } from './storeAccess.js';

export interface HttpDeps {
  /** the running config, read at each request: a reload's store.path and store.schemas are seen */
  config: () => Config;
  log: Log;
  /** unix seconds; tests fix it */
  now?: () => number;
  /** ms for a whole request, slow clients included (Node answers 408) */
  requestTimeoutMs?: number;
  /** bytes of a POST body; more is answered 413 */
  maxBodyBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BODY = 1024 * 1024;
const FORM = 'application/x-www-form-urlencoded';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Authorization',
};

export async function startHttp(addr: ListenAddress, deps: HttpDeps): Promise<Listener> {
  const figures = { requests: 0, bad_requests: 0, not_found: 0, errors: 0, too_large: 0, timeouts: 0, query_ms: 0 };
  const store = new StoreAccess(deps.config, deps.log);
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const maxBody = deps.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const timeout = deps.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;

  /** The answer to a request whose body is read; never throws. */
  const answer = (req: http.IncomingMessage, body: Buffer): Answer & { headers?: http.OutgoingHttpHeaders } => {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') return { status: 204, body: undefined };
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return { status: 405, body: { error: `method ${method} not allowed: use GET or POST` }, headers: { allow: 'GET, HEAD, POST, OPTIONS' } };
    const url = new URL(req.url ?? '/', 'http://localhost');
    const params = new URLSearchParams(url.search);
    if (body.length > 0) {
      const type = (req.headers['content-type'] ?? FORM).split(';')[0]!.trim().toLowerCase();
      if (type !== FORM) return { status: 415, body: { error: `a request body must be ${FORM}, got ${type}` } };
      for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
    }
    const started = performance.now();
    try {
      return route(method, url.pathname, params, (fn) => store.read(fn), now());
    } catch (err) {
      if (err instanceof QueryError) return { status: 400, body: { error: err.message } };
      if (err instanceof MethodError) return { status: 405, body: { error: err.message }, headers: { allow: err.allow.join(', ') } };
      deps.log.error(`http: ${method} ${req.url}: ${(err as Error).stack ?? err}`);
      return { status: 500, body: { error: `internal error: ${(err as Error).message}` } };
    } finally {
      figures.query_ms += performance.now() - started;
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    figures.requests++;
    const body = await readBody(req, maxBody);
    const a: Answer & { headers?: http.OutgoingHttpHeaders } = body === null ? { status: 413, body: { error: `request body over ${maxBody} bytes` }, headers: { connection: 'close' } } : answer(req, body);
    if (a.status === 413) figures.too_large++;
    else if (a.status === 404) figures.not_found++;
    else if (a.status >= 500) figures.errors++;
    else if (a.status >= 400) figures.bad_requests++;
    let text: string;
    try {
      text = a.json !== undefined ? a.json + '\n' : a.body === undefined ? '' : graphiteJson(a.body) + '\n';
    } catch (err) {
      figures.errors++;
      deps.log.error(`http: ${req.method} ${req.url}: the answer cannot be written as JSON: ${(err as Error).message}`);
      text = graphiteJson({ error: 'internal error: the answer cannot be written as JSON' }) + '\n';
      a.status = 500;
    }
    res.writeHead(a.status, { ...CORS, ...a.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server = boundedHttpServer(timeout, () => figures.timeouts++, handle);

  const description = await listenOn(server, 'http', addr);

  return {
    description,
    figures: () => ({ ...figures, query_ms: Math.round(figures.query_ms) }),
    async close() {
      await closeHttpServer(server);
      store.close();
    },
  };
}
