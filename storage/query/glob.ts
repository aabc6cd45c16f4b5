/**
 * Graphite globs (graphite-web finders): braces `{a,b}` are expanded first (nesting allowed), then
 * each dot-separated element is matched with Python's fnmatch (`*`, `?`, `[abc]`, `[a-z]`, `[!a]`),
 * so nothing crosses a dot. Tags after `;` (`a.b;host=x`) are not part of the path.
 */
import { QueryError } from './errors.js';

/** A brace expansion this large is a mistake (or an attack), not a query. */
const MAX_VARIANTS = 10_000;

/** `a.b;host=x;dc=1` → path `a.b`, tags {host: x, dc: 1}. */
export function splitTags(name: string): { path: string; tags: Record<string, string> } {
  const [path, ...pairs] = name.split(';');
  const tags: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq > 0) tags[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return { path: path!, tags };
}

/** `a.{b,c{1,2}}.d` → [a.b.d, a.c1.d, a.c2.d]; an unclosed `{` is literal. Order kept, duplicates dropped. */
export function expandBraces(pattern: string): string[] {
  const out = new Set<string>();
  const expand = (p: string): string[] => {
    const open = p.indexOf('{');
    if (open < 0) return [p];
    const alternatives: string[] = [];
    let depth = 0;
    let from = open + 1;
    let close = -1;
    for (let i = open; i < p.length && close < 0; i++) {
      const c = p[i];
      if (c === '{') depth++;
      else if (c === '}' && --depth === 0) close = i;
      else if (c === ',' && depth === 1) {
        alternatives.push(p.slice(from, i));
        from = i + 1;
      }
    }
    if (close < 0) return expand(p.slice(open + 1)).map((rest) => p.slice(0, open + 1) + rest);
    alternatives.push(p.slice(from, close));
    const tails = expand(p.slice(close + 1));
    const result: string[] = [];
    for (const alt of alternatives) {
      for (const head of expand(alt)) {
        for (const tail of tails) {
          result.push(p.slice(0, open) + head + tail);
          if (result.length > MAX_VARIANTS) throw new QueryError(`bad glob "${pattern}": braces expand to more than ${MAX_VARIANTS} patterns`);
        }
      }
    }
    return result;
  };
  for (const v of expand(pattern)) out.add(v);
  return [...out];
}

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

/** One path element in fnmatch syntax → a matcher; a literal element is compared as a string. */
function compileElement(element: string): (part: string) => boolean {
  if (!/[*?[]/.test(element)) return (part) => part === element;
  let re = '';
  for (let i = 0; i < element.length; i++) {
    const c = element[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      // fnmatch: `!` negates, a `]` right after `[` or `[!` is literal, an unclosed `[` is literal
      let j = i + 1;
      if (element[j] === '!') j++;
      if (element[j] === ']') j++;
      while (j < element.length && element[j] !== ']') j++;
      if (j >= element.length) {
        re += '\\[';
        continue;
      }
      let set = element.slice(i + 1, j);
      const negate = set.startsWith('!');
      if (negate) set = set.slice(1);
      re += `[${negate ? '^' : ''}${set.replace(/[\\\]^[]/g, '\\$&')}]`;
      i = j;
    } else re += c.replace(REGEX_SPECIAL, '\\$&');
  }
  let compiled: RegExp;
  try {
    compiled = new RegExp(`^${re}$`);
  } catch {
    throw new QueryError(`bad glob element "${element}": invalid character set`);
  }
  return (part) => compiled.test(part);
}

/** One brace-free variant of a path pattern: an element matcher per dot-separated element. */
type Variant = ((part: string) => boolean)[];

function compilePath(pathPattern: string): Variant[] {
  return expandBraces(pathPattern).map((v) => v.split('.').map(compileElement));
}

function matchesPrefix(variant: Variant, parts: string[]): boolean {
  if (parts.length < variant.length) return false;
  for (let i = 0; i < variant.length; i++) if (!variant[i]!(parts[i]!)) return false;
  return true;
}

/**
 * A Graphite glob → a matcher of whole series names: the element counts must agree, and tags given
 * in the pattern (`a.*;host=x`) must be present with that exact value.
 */
export function compileGlob(pattern: string): (name: string) => boolean {
  const { path, tags } = splitTags(pattern);
  const variants = compilePath(path);
  const wanted = Object.entries(tags);
  return (name) => {
    const split = splitTags(name);
    const parts = split.path.split('.');
    if (!variants.some((v) => v.length === parts.length && matchesPrefix(v, parts))) return false;
    return wanted.every(([k, v]) => split.tags[k] === v);
  };
}

/** A node one level under a find query: `path` = its full dotted path, `name` = its last element. */
export interface MatchedNode {
  path: string;
  name: string;
  isLeaf: boolean;
}

/**
 * The nodes a `/metrics/find` query names: each name whose first N path elements match the query's
 * N elements gives the node made of those elements, a leaf if the name ends there, a branch if it
 * goes on (both if both happen: then it is listed twice, branch first, like Graphite's store).
 * Sorted by node name, as graphite-web sorts find results.
 */
export function matchNodes(query: string, names: Iterable<string>, leavesOnly = false): MatchedNode[] {
  const variants = compilePath(splitTags(query).path);
  const found = new Map<string, { leaf: boolean; branch: boolean }>();
  for (const name of names) {
    const parts = splitTags(name).path.split('.');
    for (const v of variants) {
      if (!matchesPrefix(v, parts)) continue;
      const path = parts.slice(0, v.length).join('.');
      const seen = found.get(path) ?? { leaf: false, branch: false };
      if (parts.length === v.length) seen.leaf = true;
      else seen.branch = true;
      found.set(path, seen);
    }
  }
  const nodes: MatchedNode[] = [];
  for (const [path, kind] of found) {
    const name = path.slice(path.lastIndexOf('.') + 1);
    if (kind.branch && !leavesOnly) nodes.push({ path, name, isLeaf: false });
    if (kind.leaf) nodes.push({ path, name, isLeaf: true });
  }
  return nodes.sort((a, b) => cmp(a.name, b.name) || cmp(a.path, b.path) || Number(a.isLeaf) - Number(b.isLeaf));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One entry of Graphite's treejson find format. */
export interface FindNode {
  text: string;
  id: string;
  leaf: 0 | 1;
  expandable: 0 | 1;
  allowChildren: 0 | 1;
}

export interface FindOptions {
  leavesOnly?: boolean;
  /** prepend a `*` node when more than one node matched (Graphite's `wildcards=1`) */
  wildcards?: boolean;
}

function treeNode(text: string, id: string, leaf: boolean): FindNode {
  return leaf ? { text, id, leaf: 1, expandable: 0, allowChildren: 0 } : { text, id, leaf: 0, expandable: 1, allowChildren: 1 };
}

/** Graphite shows node names URL-unquoted (`unquote_plus`). */
function unquotePlus(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s.replace(/\+/g, ' ');
  }
}

/**
 * `/metrics/find?format=treejson`: distinct child names, branches first then leaves, each sorted;
 * a name that is both a branch and a leaf is listed once, as a branch (it can be expanded);
 * `id` = the query up to its last dot + the name.
 */
export function findNodes(query: string, names: Iterable<string>, options: FindOptions = {}): FindNode[] {
  const base = query.includes('.') ? query.slice(0, query.lastIndexOf('.') + 1) : '';
  const matched = matchNodes(query, names, options.leavesOnly);
  const branches: FindNode[] = [];
  const leaves: FindNode[] = [];
  const seen = new Set<string>();
  for (const n of matched) {
    if (seen.has(n.name)) continue;
    seen.add(n.name);
    (n.isLeaf ? leaves : branches).push(treeNode(unquotePlus(n.name), base + n.name, n.isLeaf));
  }
  const wildcard = options.wildcards && matched.length > 1 ? [treeNode('*', `${base}*`, matched.every((n) => n.isLeaf))] : [];
  return [...wildcard, ...branches, ...leaves];
}

/** One entry of Graphite's completer find format; branch paths end with a dot. */
export interface CompleterNode {
  path?: string;
  name: string;
  is_leaf?: '0' | '1';
}

/** `/metrics/find?format=completer`: the query completed with `*`, `..` read as `*.`. */
export function findCompleter(query: string, names: Iterable<string>, options: FindOptions = {}): { metrics: CompleterNode[] } {
  let q = query.replace(/\.\./g, '*.');
  if (!q.endsWith('*')) q += '*';
  const matched = matchNodes(q, names, options.leavesOnly);
  const metrics: CompleterNode[] = matched.map((n) => ({ path: n.isLeaf ? n.path : `${n.path}.`, name: n.name, is_leaf: n.isLeaf ? '1' : '0' }));
  if (options.wildcards && metrics.length > 1) metrics.push({ name: '*' });
  return { metrics };
}

export interface ExpandOptions {
  /** answer {query: [paths]} instead of one merged list */
  groupByExpr?: boolean;
  leavesOnly?: boolean;
}

/** `/metrics/expand`: the paths each query names, sorted and de-duplicated. */
export function expandPaths(queries: string[], names: Iterable<string>, options: ExpandOptions = {}): { results: string[] | Record<string, string[]> } {
  const all = [...names];
  const grouped: Record<string, string[]> = {};
  for (const q of queries) {
    const paths = new Set(matchNodes(q, all, options.leavesOnly).map((n) => n.path));
    grouped[q] = [...paths].sort();
  }
  if (options.groupByExpr) return { results: grouped };
  return { results: [...new Set(Object.values(grouped).flat())].sort() };
}
