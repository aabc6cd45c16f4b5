import { hash } from 'node:crypto';

/**
 * carbon 1.1's consistent hashing (`carbon/hashing.py` ConsistentHashRing as used by
 * `carbon/routers.py` ConsistentHashingRouter), so that tally can feed a carbon cluster directly and
 * every metric lands on the carbon-cache that carbon-relay with `RELAY_METHOD = consistent-hashing`
 * would pick. Pure: no I/O.
 *
 * What carbon does, and this file mirrors:
 * - A node is the pair `(server, instance)`: the port is NOT part of it, so two destinations on one
 *   host need distinct instances (carbon refuses a second `(server, instance)`: "already configured").
 * - Each node gets 100 replicas. Replica `i`'s key is Python's `"%s:%d" % ((server, instance), i)`,
 *   i.e. the tuple's repr: `('127.0.0.1', 'a'):0`, `('carbon1', None):99`.
 * - A position is `int(md5(key.encode('utf-8')).hexdigest()[:4], 16)`: the first two bytes of the
 *   digest, big-endian (0..65535).
 * - Nodes are added in destination order; a replica whose position is taken moves to position + 1
 *   (repeatedly; it may pass 65535), so the order of the destinations matters when replicas collide.
 *   (With `DYNAMIC_ROUTER = True` carbon adds nodes as they come up, so its ring can differ.)
 * - A metric goes to the first ring entry whose position is >= the metric path's position
 *   (`bisect_left` on `(position, ())`, which sorts before every `(position, node)`), wrapping to the
 *   first entry past the end. With REPLICATION_FACTOR 1 the router yields exactly that node, whether
 *   DIVERSE_REPLICAS is on or not; the key is the metric path as received (TAG_RELAY_NORMALIZED off).
 * - `ROUTER_HASH_TYPE = fnv1a_ch` (carbon-c-relay's hash) instead: positions are FNV-1a 32 of the
 *   UTF-8 bytes folded to 16 bits (`(h >> 16) ^ (h & 0xffff)`), and replica keys are
 *   `"%d-%s" % (i, instance)` (the server is not in them).
 */

export interface CarbonNode {
  host: string;
  port: number;
  /** carbon's third destination field; `null` when the destination has none (Python's `None`) */
  instance: string | null;
}

export type CarbonHashType = 'carbon_ch' | 'fnv1a_ch';

const REPLICAS = 100;

export class CarbonHashRing {
  /** ascending ring positions (unique: carbon moves a colliding replica on) */
  private readonly positions: Uint32Array;
  /** the index into `nodes` of the replica at the same place in `positions` */
  private readonly owners: Uint32Array;
  private readonly position: (key: string) => number;

  constructor(
    readonly nodes: readonly CarbonNode[],
    readonly hashType: CarbonHashType = 'carbon_ch',
  ) {
    if (nodes.length === 0) throw new Error('a carbon hash ring needs at least one destination');
    this.position = hashType === 'fnv1a_ch' ? fnv1aPosition : md5Position;
    const seen = new Set<string>();
    const taken = new Set<number>();
    const entries: Array<[position: number, node: number]> = [];
    nodes.forEach((node, n) => {
      const nodeRepr = pythonTuple(node.host, node.instance);
      if (seen.has(nodeRepr)) {
        throw new Error(
          `destination instance (${node.host}, ${node.instance ?? 'None'}) already configured: ` +
            'carbon tells destinations apart by host and instance, not port',
        );
      }
      seen.add(nodeRepr);
      for (let i = 0; i < REPLICAS; i++) {
        const key = hashType === 'fnv1a_ch' ? `${i}-${node.instance ?? 'None'}` : `${nodeRepr}:${i}`;
        let p = this.position(key);
        while (taken.has(p)) p++;
        taken.add(p);
        entries.push([p, n]);
      }
    });
    entries.sort((a, b) => a[0] - b[0]);
    this.positions = Uint32Array.from(entries, (e) => e[0]);
    this.owners = Uint32Array.from(entries, (e) => e[1]);
  }

  /** The index into `nodes` of the carbon-cache that carbon-relay would send `metricPath` to. */
  nodeFor(metricPath: string): number {
    const p = this.position(metricPath);
    const positions = this.positions;
    // bisect_left: the first entry with position >= p
    let lo = 0;
    let hi = positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (positions[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === positions.length ? 0 : lo]!;
  }
}

/**
 * carbon's `util.parseDestination`: `host:port[:instance]`, or `[v6 address]:port[:instance]` (the
 * brackets are not part of the host carbon hashes).
 */
export function parseCarbonDestination(destination: string): CarbonNode {
  const s = destination.trim();
  let host: string;
  let rest: string;
  if (s.startsWith('[')) {
    const close = s.lastIndexOf(']:');
    if (close < 0) throw new Error(`invalid destination "${destination}"`);
    host = s.slice(1, close);
    rest = s.slice(close + 2);
  } else {
    const colon = s.indexOf(':');
    if (colon < 0) throw new Error(`invalid destination "${destination}"`);
    host = s.slice(0, colon);
    rest = s.slice(colon + 1);
  }
  const colon = rest.indexOf(':');
  const portText = colon < 0 ? rest : rest.slice(0, colon);
  if (!/^\d+$/.test(portText)) throw new Error(`invalid destination "${destination}": bad port`);
  return { host, port: Number(portText), instance: colon < 0 ? null : rest.slice(colon + 1) };
}

/**
 * `int(md5(key).hexdigest()[:4], 16)`: the digest's first two bytes, big-endian. The one-shot
 * `crypto.hash` with a 'binary' (latin1: one char per byte) string result is the fastest form in Node 20:
 * about half the time of a `'buffer'` result or of `createHash()`, which allocate per call.
 */
function md5Position(key: string): number {
  const d = hash('md5', key, 'binary');
  return (d.charCodeAt(0) << 8) | d.charCodeAt(1);
}

const utf8 = new TextEncoder();

/** carbon's fnv1a_ch: FNV-1a 32 of the UTF-8 bytes, folded to 16 bits. */
function fnv1aPosition(key: string): number {
  let h = 0x811c9dc5;
  for (const byte of utf8.encode(key)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return (h >>> 16) ^ (h & 0xffff);
}

/** Python 3's `str((host, instance))`, e.g. `('127.0.0.1', 'a')` or `('carbon1', None)`. */
function pythonTuple(host: string, instance: string | null): string {
  return `(${pythonRepr(host)}, ${instance === null ? 'None' : pythonRepr(instance)})`;
}

// Python's str.isprintable() is false for categories Cc Cf Cs Co Cn Zl Zp and Zs other than ' '.
const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

/** Python 3's `repr(str)`: single quotes unless the text has `'` and no `"`, escapes as Python writes them. */
function pythonRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      if (c < 0x100) out += '\\x' + c.toString(16).padStart(2, '0');
      else if (c < 0x10000) out += '\\u' + c.toString(16).padStart(4, '0');
      else out += '\\U' + c.toString(16).padStart(8, '0');
    } else out += ch;
  }
  return out + quote;
}
