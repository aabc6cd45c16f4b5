/**
 * A small, safe unpickler for carbon's pickle protocol: what carbon-relay and Python's
 * `pickle.dumps(..., protocol=0|1|2)` emit for lists of tuples of str, unicode, int, long, float
 * (and the few protocol 4 opcodes a newer Python adds). It builds only plain data: strings,
 * numbers, booleans, null and arrays (lists and tuples alike). Every opcode that imports or calls
 * something (GLOBAL, STACK_GLOBAL, REDUCE, INST, OBJ, NEWOBJ, BUILD, EXT*, PERSID ...) and every
 * opcode not listed here is refused: carbon's SafeUnpickler allows two globals, tally none.
 */

import { parsePythonFloat } from './lineParser.js';

export type PickleValue = string | number | boolean | null | PickleValue[];

export class UnpickleError extends Error {
  /** true when the message asked for something refused (a global, a call, an unknown opcode),
   * false when it is merely malformed (truncated, stack underflow) */
  constructor(
    message: string,
    readonly refused: boolean,
  ) {
    super(message);
  }
}

const MARK = Symbol('mark');
type Item = PickleValue | typeof MARK;

/** Opcodes that would import or call code: named in the refusal. */
const REFUSED: Record<number, string> = {
  0x63: 'GLOBAL',
  0x93: 'STACK_GLOBAL',
  0x52: 'REDUCE',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x62: 'BUILD',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
};

const HIGHEST_PROTOCOL = 5;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Unpickles one message (without its length prefix). Throws UnpickleError. */
export function unpickle(buf: Uint8Array): PickleValue {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stack: Item[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;

  const malformed = (what: string): never => {
    throw new UnpickleError(`${what} at byte ${pos}`, false);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > buf.length) malformed('truncated pickle');
    const at = pos;
    pos += n;
    return at;
  };
  const bytes = (n: number): Uint8Array => buf.subarray(need(n), pos);
  /** a protocol 0 argument: up to the next '\n', as latin-1 text */
  const textLine = (): string => {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) malformed('truncated pickle');
    let s = '';
    for (let i = pos; i < nl; i++) s += String.fromCharCode(buf[i]!);
    pos = nl + 1;
    return s;
  };
  const decodeUtf8 = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return malformed('string is not UTF-8');
    }
  };
  const pop = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) malformed('stack underflow');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) malformed('empty stack');
    return stack[stack.length - 1] as PickleValue;
  };
  /** the items pushed since the last MARK, which is removed */
  const popMark = (): PickleValue[] => {
    const at = marks.pop();
    if (at === undefined) malformed('no MARK');
    return stack.splice(at!) as PickleValue[];
  };
  const intText = (s: string): number => {
    if (s === '00') return 0; // protocol 0 False / True
    if (s === '01') return 1;
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[+-]?\d+$/.test(t)) malformed(`bad integer ${JSON.stringify(s.slice(0, 40))}`);
    return Number(t);
  };
  const longBytes = (b: Uint8Array): number => {
    if (b.length === 0) return 0;
    let n = 0n;
    for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) n -= 1n << BigInt(8 * b.length);
    return Number(n);
  };
  const append = (list: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(list)) malformed('APPEND to something not a list');
    for (const item of items) (list as PickleValue[]).push(item);
  };
  const memoKey = (s: string): number => {
    if (!/^\d+$/.test(s)) malformed('bad memo key');
    return Number(s);
  };
  const get = (key: number): PickleValue => {
    const v = memo.get(key);
    if (v === undefined) malformed(`memo key ${key} not found`);
    return v!;
  };

  for (;;) {
    if (pos >= buf.length) malformed('no STOP');
    const op = buf[pos++]!;
    switch (op) {
      case 0x80: {
        // PROTO
        const p = buf[need(1)]!;
        if (p > HIGHEST_PROTOCOL) malformed(`unsupported pickle protocol ${p}`);
        break;
      }
      case 0x95: // FRAME (protocol 4): framing hint only
        need(8);
        break;
      case 0x2e: // STOP
        if (marks.length > 0 || stack.length !== 1) malformed('STOP with a stack of ' + stack.length);
        return stack[0] as PickleValue;
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length > 0 && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x5d: // EMPTY_LIST ]
        stack.push([]);
        break;
      case 0x6c: // LIST l
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND a
        const item = pop();
        append(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS e
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x29: // EMPTY_TUPLE )
        stack.push([]);
        break;
      case 0x74: // TUPLE t
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT J
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1 K
        stack.push(buf[need(1)]!);
        break;
      case 0x4d: // BININT2 M
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x49: // INT I
        stack.push(intText(textLine()));
        break;
      case 0x4c: // LONG L
        stack.push(intText(textLine()));
        break;
      case 0x8a: // LONG1
        stack.push(longBytes(bytes(buf[need(1)]!)));
        break;
      case 0x8b: {
        // LONG4
        const n = view.getInt32(need(4), true);
        stack.push(longBytes(bytes(n)));
        break;
      }
      case 0x47: // BINFLOAT G
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x46: {
        // FLOAT F
        const s = textLine();
        const v = parsePythonFloat(s.trim());
        if (v === undefined) malformed(`bad float ${JSON.stringify(s.slice(0, 40))}`);
        stack.push(v!);
        break;
      }
      case 0x58: // BINUNICODE X
        stack.push(decodeUtf8(bytes(view.getUint32(need(4), true))));
        break;
      case 0x8c: // SHORT_BINUNICODE (protocol 4)
        stack.push(decodeUtf8(bytes(buf[need(1)]!)));
        break;
      case 0x8d: {
        // BINUNICODE8 (protocol 4)
        const at = need(8);
        const n = Number(view.getBigUint64(at, true));
        stack.push(decodeUtf8(bytes(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING U: a Python 2 str, decoded as carbon does (encoding='utf-8')
        stack.push(decodeUtf8(bytes(buf[need(1)]!)));
        break;
      case 0x54: // BINSTRING T
        stack.push(decodeUtf8(bytes(view.getInt32(need(4), true))));
        break;
      case 0x53: // STRING S: a quoted Python 2 string literal
        stack.push(decodeUtf8(pythonStringLiteral(textLine(), malformed)));
        break;
      case 0x56: // UNICODE V: raw-unicode-escape
        stack.push(rawUnicodeEscape(textLine(), malformed));
        break;
      case 0x71: // BINPUT q
        memo.set(buf[need(1)]!, top());
        break;
      case 0x72: // LONG_BINPUT r
        memo.set(view.getUint32(need(4), true), top());
        break;
      case 0x70: // PUT p
        memo.set(memoKey(textLine()), top());
        break;
      case 0x94: // MEMOIZE (protocol 4)
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET h
        stack.push(get(buf[need(1)]!));
        break;
      case 0x6a: // LONG_BINGET j
        stack.push(get(view.getUint32(need(4), true)));
        break;
      case 0x67: // GET g
        stack.push(get(memoKey(textLine())));
        break;
      default: {
        const name = REFUSED[op];
        pos--;
        throw new UnpickleError(
          name ? `refused opcode ${name} at byte ${pos}: tally unpickles plain data only` : `unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos}`,
          true,
        );
      }
    }
  }
}

/** `'abc\x00'` or `"it's"`, as Python 2's repr() writes a str: the bytes it stands for. */
function pythonStringLiteral(s: string, malformed: (what: string) => never): Uint8Array {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) malformed('STRING not quoted');
  const body = s.slice(1, -1);
  const out: number[] = [];
  const simple: Record<string, number> = { '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c !== 92) {
      out.push(c & 0xff);
      continue;
    }
    const e = body[++i];
    if (e === undefined) malformed('STRING ends in a backslash');
    if (e === '\n') continue;
    if (simple[e!] !== undefined) out.push(simple[e!]!);
    else if (e === 'x') {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) malformed('bad \\x escape in STRING');
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (e! >= '0' && e! <= '7') {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      out.push(parseInt(oct, 8) & 0xff);
      i += oct.length - 1;
    } else out.push(92, e!.charCodeAt(0) & 0xff); // Python keeps an unknown escape as written
  }
  return Uint8Array.from(out);
}

/** Python's raw-unicode-escape: latin-1 bytes, with \uXXXX and \UXXXXXXXX for other characters. */
function rawUnicodeEscape(s: string, malformed: (what: string) => never): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g, (_, esc: string) => {
    const cp = parseInt(esc.slice(1), 16);
    if (cp > 0x10ffff) malformed('bad \\U escape');
    return String.fromCodePoint(cp);
  });
}
