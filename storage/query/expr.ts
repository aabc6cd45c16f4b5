/**
 * Render targets → syntax trees (graphite-web's grammar): path expressions with glob characters,
 * braces (commas allowed inside) and tags; function calls with positional and keyword arguments;
 * numbers, quoted strings, true/false, None, inf; and pipes, `a.b|scale(2)` = `scale(a.b,2)`.
 */
import { QueryError } from './errors.js';

export interface PathExpr {
  type: 'path';
  path: string;
  pos: number;
}

export interface CallExpr {
  type: 'call';
  name: string;
  args: Arg[];
  kwargs: Record<string, Arg>;
  pos: number;
}

export type Expr = PathExpr | CallExpr;

export type Literal =
  | { type: 'number'; value: number; pos: number }
  | { type: 'string'; value: string; pos: number }
  | { type: 'boolean'; value: boolean; pos: number }
  | { type: 'none'; pos: number };

export type Arg = Expr | Literal;

/** Characters that end a path (outside braces): Graphite's grammar symbols, quotes and space. */
const PATH_STOP = new Set(['(', ')', ',', '|', '"', "'", '{', '}', '=']);
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?(?:\d+\.\d+|\d+)(?:[eE][-+]?\d+)?/y;
const KEYWORD = /(?:true|false|none|inf)\b/iy;

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parseTarget(): Expr {
    const e = this.expression();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('end of target (a missing "(" or an extra ")"?)');
    return e;
  }

  private fail(expected: string): never {
    const found = this.pos < this.text.length ? `"${this.text[this.pos]}"` : 'the end';
    throw new QueryError(`bad target "${this.text}": expected ${expected} at position ${this.pos}, found ${found}`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private peekRegex(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    return re.exec(this.text)?.[0];
  }

  /** The position after whitespace from `at`: used to look past a token without consuming it. */
  private nextNonSpace(at: number): number {
    while (at < this.text.length && /\s/.test(this.text[at]!)) at++;
    return at;
  }

  /** A literal only counts when the argument ends right after it (`1min.x` and `true.x` are paths). */
  private endsArgument(at: number): boolean {
    const c = this.text[this.nextNonSpace(at)];
    return c === undefined || c === ',' || c === ')';
  }

  /** call-or-path, then `|call` any number of times, each taking what is left of it as first argument. */
  private expression(): Expr {
    this.skipSpace();
    let e = this.callOrPath();
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '|') return e;
      this.pos++;
      this.skipSpace();
      const start = this.pos;
      const next = this.callOrPath();
      if (next.type !== 'call') {
        this.pos = start;
        this.fail('a function call after "|"');
      }
      next.args.unshift(e);
      e = next;
    }
  }

  private callOrPath(): Expr {
    const start = this.pos;
    const ident = this.peekRegex(IDENT);
    if (ident !== undefined && this.text[this.nextNonSpace(start + ident.length)] === '(') {
      this.pos = this.nextNonSpace(start + ident.length) + 1;
      return this.callArgs(ident, start);
    }
    return this.path();
  }

  private callArgs(name: string, pos: number): CallExpr {
    const call: CallExpr = { type: 'call', name, args: [], kwargs: {}, pos };
    this.skipSpace();
    if (this.text[this.pos] === ')') {
      this.pos++;
      return call;
    }
    for (;;) {
      this.skipSpace();
      const argStart = this.pos;
      const ident = this.peekRegex(IDENT);
      const afterIdent = ident === undefined ? -1 : this.nextNonSpace(argStart + ident.length);
      if (ident !== undefined && this.text[afterIdent] === '=') {
        if (ident in call.kwargs) this.fail(`no repeated keyword argument "${ident}"`);
        this.pos = afterIdent + 1;
        call.kwargs[ident] = this.value();
      } else {
        if (Object.keys(call.kwargs).length > 0) this.fail(`a keyword argument (positional arguments come first)`);
        call.args.push(this.value());
      }
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ')') {
        this.pos++;
        return call;
      }
      if (c !== ',') this.fail(`"," or ")" in the arguments of ${name}()`);
      this.pos++;
    }
  }

  private value(): Arg {
    this.skipSpace();
    const pos = this.pos;
    const c = this.text[pos];
    if (c === '"' || c === "'") return this.string(c);
    const num = this.peekRegex(NUMBER);
    if (num !== undefined && this.endsArgument(pos + num.length)) {
      this.pos += num.length;
      return { type: 'number', value: Number(num), pos };
    }
    const word = this.peekRegex(KEYWORD);
    if (word !== undefined && this.endsArgument(pos + word.length)) {
      this.pos += word.length;
      const w = word.toLowerCase();
      if (w === 'none') return { type: 'none', pos };
      if (w === 'inf') return { type: 'number', value: Infinity, pos };
      return { type: 'boolean', value: w === 'true', pos };
    }
    return this.expression();
  }

  /** Quoted text as written between the quotes: backslash escapes the quote but is kept (Graphite's quotedString). */
  private string(quote: string): Literal {
    const pos = this.pos;
    let i = pos + 1;
    while (i < this.text.length && this.text[i] !== quote) i += this.text[i] === '\\' ? 2 : 1;
    if (i >= this.text.length) {
      this.pos = this.text.length;
      this.fail(`a closing ${quote} for the string at position ${pos}`);
    }
    this.pos = i + 1;
    return { type: 'string', value: this.text.slice(pos + 1, i), pos };
  }

  /** A metric pattern: anything up to a grammar symbol or space, `{...}` groups (commas inside) and, after a `;`, tag `=`s. */
  private path(): PathExpr {
    const pos = this.pos;
    let inTags = false;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (c === '{') {
        const open = this.pos;
        let depth = 0;
        let i = this.pos;
        for (; i < this.text.length; i++) {
          const d = this.text[i]!;
          if (d === '{') depth++;
          else if (d === '}') {
            if (--depth === 0) break;
          } else if (PATH_STOP.has(d) && d !== ',') break;
        }
        if (this.text[i] !== '}') {
          this.pos = i;
          this.fail(`"}" to close the "{" at position ${open}`);
        }
        this.pos = i + 1;
        continue;
      }
      if (c === ';') inTags = true;
      if (/\s/.test(c) || (PATH_STOP.has(c) && !(inTags && c === '='))) break;
      this.pos++;
    }
    if (this.pos === pos) this.fail('a metric path or a function call');
    return { type: 'path', path: this.text.slice(pos, this.pos), pos };
  }
}

/** A render target → its syntax tree; a QueryError names the position and what was expected. */
export function parseTarget(target: string): Expr {
  return new Parser(target).parseTarget();
}

/**
 * The first path expression inside a series name such as `sumSeries(a.b,c.d)` (→ `a.b`), for
 * aliasByNode and node grouping; undefined when the name is not an expression (e.g. an alias).
 */
export function firstPathExpression(name: string): string | undefined {
  let e: Arg;
  try {
    e = parseTarget(name);
  } catch {
    return undefined;
  }
  while (e.type === 'call' && e.args.length > 0) e = e.args[0]!;
  return e.type === 'path' ? e.path : undefined;
}
