import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import xmlrpc from 'xmlrpc';
import type { ListenAddress, XmlRpcConfig } from '../config/types.js';
import { METRIC_TYPES, type AgentControl, type Health, type MetricType } from '../control.js';
import { boundedHttpServer, closeHttpServer, readBody } from '../listeners/httpServer.js';
import { listenOn, type Listener } from '../listeners/listener.js';
import type { Figures } from '../meta/registry.js';

/**
 * The XML-RPC interface of a running agent: deviantART statsd's `istats`, and the rest of what
 * AgentControl offers. Our own node:http server (not xmlrpc's) so that body size, time and access
 * are ours to limit; the xmlrpc package only reads and writes the XML. Its sax parser runs in
 * loose mode: a DOCTYPE is skipped and an entity it does not know stays literal text, so neither
 * entity expansion nor external entities can happen.
 */

export interface XmlRpcServer extends Listener {
  figures(): Figures;
}

/** Fault codes, as in the XML-RPC "specification for fault code interoperability". */
export const FAULT = {
  PARSE_ERROR: -32700, // the body is not a well-formed XML-RPC call
  INVALID_REQUEST: -32600, // a system.multicall entry is not {methodName, params}, or is itself a multicall
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602, // wrong count, wrong types, or a value outside its set
  INTERNAL_ERROR: -32603, // the result could not be written as XML
  APPLICATION_ERROR: -32500, // the agent failed doing it (a flush or reload that threw)
} as const;

const MAX_BODY = 1024 * 1024;
const PATHS = new Set(['/RPC2', '/']);
const I4_MIN = -(2 ** 31);
const I4_MAX = 2 ** 31 - 1;

const require = createRequire(import.meta.url);
const Deserializer = require('xmlrpc/lib/deserializer.js') as new () => {
  deserializeMethodCall(stream: Readable, cb: (err: Error | undefined, method: string, params: unknown[]) => void): void;
};
const Serializer = require('xmlrpc/lib/serializer.js') as {
  serializeMethodResponse(value: unknown): string;
  serializeFault(fault: FaultStruct): string;
};

// The serializer writes every integral number as <int>, which is i4 (32 bits) in XML-RPC: byte
// counts and ms timestamps would overflow in strict clients, so they go out as <double>. Strings
// go out through txt() (escaped), because the serializer's CDATA path breaks on a second "]]>".
class XmlDouble extends xmlrpc.CustomType {
  override tagName = 'double';
}
class XmlString extends xmlrpc.CustomType {
  override tagName = 'string';
}
/** Characters XML 1.0 cannot carry at all (a set member may hold anything): shown as U+FFFD. */
const XML_ILLEGAL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;
const xmlText = (s: string): string => s.replace(XML_ILLEGAL, '\uFFFD');

function toXmlRpc(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) && v >= I4_MIN && v <= I4_MAX ? v : new XmlDouble(String(v));
  if (typeof v === 'string') return new XmlString(xmlText(v));
  if (Array.isArray(v)) return v.map(toXmlRpc);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [xmlText(k), toXmlRpc(x)]));
  return v;
}

type FaultStruct = { faultCode: number; faultString: string };

class Fault extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

type XmlRpcType = 'int' | 'double' | 'boolean' | 'string' | 'array' | 'struct' | 'base64' | 'dateTime.iso8601' | 'nil';

function typeOf(v: unknown): XmlRpcType {
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'double';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'array';
  if (Buffer.isBuffer(v)) return 'base64';
  if (v instanceof Date) return 'dateTime.iso8601';
  return 'struct';
}

interface Method {
  /** As system.methodSignature answers: [return type, ...param types], one per accepted form. */
  signatures: XmlRpcType[][];
  help: string;
  /** Called with params that fit a signature. */
  run(params: unknown[]): unknown;
}

function oneOf<T extends string>(what: string, allowed: readonly T[], v: unknown): T {
  if (!allowed.includes(v as T)) throw new Fault(FAULT.INVALID_PARAMS, `${what} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** The methods, as one function that runs a call: checks the name and the params against the signatures first. */
function methodTable(control: AgentControl, faultOf: (err: unknown) => FaultStruct): (name: string, params: unknown[]) => Promise<unknown> {
  const methods = new Map<string, Method>();
  const lookup = (name: unknown): Method => {
    const m = methods.get(name as string);
    if (!m) throw new Fault(FAULT.METHOD_NOT_FOUND, `no such method: ${String(name)}`);
    return m;
  };
  const invoke = async (name: string, params: unknown[]): Promise<unknown> => {
    const m = lookup(name);
    const types = params.map(typeOf);
    if (!m.signatures.some(([, ...want]) => want.length === types.length && want.every((t, i) => t === types[i]))) {
      const forms = m.signatures.map(([, ...p]) => `(${p.join(', ')})`).join(' or ');
      throw new Fault(FAULT.INVALID_PARAMS, `${name} takes ${forms}, got (${types.join(', ')})`);
    }
    return m.run(params);
  };

  methods.set('system.listMethods', { signatures: [['array']], help: 'The names of every method.', run: () => [...methods.keys()].sort() });
  methods.set('system.methodHelp', { signatures: [['string', 'string']], help: 'What a method does.', run: ([name]) => lookup(name).help });
  methods.set('system.methodSignature', {
    signatures: [['array', 'string']],
    help: "A method's signatures: each one a list, the return type first, then the parameter types.",
    run: ([name]) => lookup(name).signatures,
  });
  methods.set('system.multicall', {
    signatures: [['array', 'array']],
    help: 'Runs [{methodName, params}, ...] in order; each result comes back wrapped in a one-element array, each failure as a {faultCode, faultString} struct.',
    run: async ([calls]) => {
      const results: unknown[] = [];
      for (const c of calls as unknown[]) {
        try {
          const { methodName, params } = (typeOf(c) === 'struct' ? c : {}) as { methodName?: unknown; params?: unknown };
          if (typeof methodName !== 'string' || !Array.isArray(params)) throw new Fault(FAULT.INVALID_REQUEST, 'each call must be a struct {methodName: string, params: array}');
          // no recursion: a nested multicall could nest as deep as the body allows
          if (methodName === 'system.multicall') throw new Fault(FAULT.INVALID_REQUEST, 'system.multicall cannot be nested');
          results.push([await invoke(methodName, params)]);
        } catch (err) {
          results.push(faultOf(err));
        }
      }
      return results;
    },
  });
  methods.set('tally.stats', {
    signatures: [['struct']],
    help: "Every figure of the agent, nested: the statsd figures under etsy's names at the top, then listeners, flushers, process.",
    run: () => control.stats(),
  });
  methods.set('istats', { signatures: [['string']], help: 'tally.stats as a JSON string (deviantART statsd).', run: () => JSON.stringify(control.stats()) });
  const shapes: Record<MetricType, string> = { counters: 'a number', timers: 'an array of samples', gauges: 'a number', sets: 'an array of members' };
  for (const type of METRIC_TYPES) {
    methods.set(`tally.${type}`, {
      signatures: [['struct'], ['struct', 'string']],
      help: `The ${type} of the current interval, name → ${shapes[type]}; with a glob, only the names it matches (* and ? cross dots).`,
      run: ([glob]) => Object.fromEntries(control.values(type, glob as string | undefined)),
    });
  }
  methods.set('tally.health', { signatures: [['string']], help: 'The health the agent reports: "up" or "down".', run: () => control.health() });
  methods.set('tally.set_health', {
    signatures: [['string', 'string']],
    help: 'Sets the health the agent reports ("up" or "down", e.g. "down" to leave a load balancer); returns it.',
    run: ([h]) => {
      control.setHealth(oneOf<Health>('health', ['up', 'down'], h));
      return control.health();
    },
  });
  methods.set('tally.flush', {
    signatures: [['boolean']],
    help: 'Flushes now, cutting the interval short; returns true once the flushers have the snapshot.',
    run: async () => {
      await control.flush();
      return true;
    },
  });
  methods.set('tally.reload', {
    signatures: [['boolean']],
    help: 'Re-reads the config files, as SIGHUP does; false when the new config was refused (the running one is kept).',
    run: () => control.reload(),
  });
  methods.set('tally.delete', {
    signatures: [['array', 'string', 'string']],
    help: 'delete(type, glob): deletes the keys of one type (counters, timers, gauges, sets) matching the glob: an exact name, "prefix.*" for a whole folder, or any glob (* and ? cross dots); returns the names deleted.',
    run: ([type, pattern]) => control.delete(oneOf('type', METRIC_TYPES, type), pattern as string),
  });
  return invoke;
}

function parseCall(body: Buffer): Promise<[string, unknown[]]> {
  return new Promise((resolve, reject) => {
    const stream = new PassThrough();
    // a promise settles once, whatever else the deserializer reports after its first answer
    new Deserializer().deserializeMethodCall(stream, (err, method, params) =>
      err ? reject(new Fault(FAULT.PARSE_ERROR, `parse error: ${err.message}`)) : resolve([method, params]),
    );
    stream.end(body);
  });
}

/** The password of `auth.password_file`, without its trailing newline. */
export function readPassword(file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`xmlrpc: cannot read auth.password_file ${file}: ${(err as Error).message}`);
  }
}

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

export async function startXmlRpc(addr: ListenAddress, cfg: XmlRpcConfig, control: AgentControl): Promise<XmlRpcServer> {
  const figures = { requests: 0, faults: 0, refused: 0, unauthorized: 0, too_large: 0, timeouts: 0 };
  const faultOf = (err: unknown): FaultStruct => {
    figures.faults++;
    if (err instanceof Fault) return { faultCode: err.code, faultString: err.message };
    return { faultCode: FAULT.APPLICATION_ERROR, faultString: `application error: ${err instanceof Error ? err.message : String(err)}` };
  };
  const invoke = methodTable(control, faultOf);

  const allow = new net.BlockList();
  for (const c of cfg.allow) allow.addSubnet(c.address, c.prefix, c.family === 4 ? 'ipv4' : 'ipv6');
  const allowed = (ip: string | undefined): boolean => {
    if (ip === undefined) return false;
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1]; // IPv4-mapped: a v4 client of a dual-stack socket
    return v4 ? allow.check(v4, 'ipv4') : allow.check(ip, net.isIPv4(ip) ? 'ipv4' : 'ipv6');
  };

  // hashed so that timingSafeEqual compares equal lengths whatever the client sends
  const credentials = cfg.auth.user === '' ? null : sha256(Buffer.from(`${cfg.auth.user}:${readPassword(cfg.auth.password_file)}`));
  const authorized = (header: string | undefined): boolean => {
    if (credentials === null) return true;
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
    return m !== null && timingSafeEqual(sha256(Buffer.from(m[1]!, 'base64')), credentials);
  };

  /** Status and headers of a request we do not run, or undefined. Access first: a refused client learns nothing. */
  const refusal = (req: http.IncomingMessage): [number, http.OutgoingHttpHeaders] | undefined => {
    if (!allowed(req.socket.remoteAddress)) {
      figures.refused++;
      return [403, { connection: 'close' }];
    }
    if (!authorized(req.headers.authorization)) {
      figures.unauthorized++;
      return [401, { 'www-authenticate': 'Basic realm="tally", charset="UTF-8"' }];
    }
    if (!PATHS.has(req.url ?? '')) return [404, {}];
    if (req.method !== 'POST') return [405, { allow: 'POST' }];
    return undefined;
  };

  /** The XML answer to a call: its result, or a fault. */
  const answer = async (body: Buffer): Promise<string> => {
    try {
      const [method, params] = await parseCall(body);
      const result = toXmlRpc(await invoke(method, params));
      try {
        return Serializer.serializeMethodResponse(result);
      } catch (err) {
        throw new Fault(FAULT.INTERNAL_ERROR, `the result cannot be written as XML: ${(err as Error).message}`);
      }
    } catch (err) {
      return Serializer.serializeFault(toXmlRpc(faultOf(err)) as FaultStruct);
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    figures.requests++;
    const send = (status: number, headers: http.OutgoingHttpHeaders, text = `${http.STATUS_CODES[status]}\n`, type = 'text/plain'): void => {
      res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const refused = refusal(req);
    const body = await readBody(req, refused ? 0 : MAX_BODY);
    if (refused) return send(...refused);
    if (body === null) {
      figures.too_large++;
      return send(413, { connection: 'close' }, `request body over ${MAX_BODY} bytes\n`);
    }
    send(200, {}, await answer(body), 'text/xml; charset=utf-8');
  };

  const server = boundedHttpServer(cfg.request_timeout, () => figures.timeouts++, handle);

  const description = await listenOn(server, 'xmlrpc', addr);

  return {
    description,
    figures: () => ({ ...figures }),
    async close() {
      await closeHttpServer(server);
    },
  };
}
