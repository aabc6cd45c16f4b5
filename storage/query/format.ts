/**
 * Python's number formatting, because Graphite builds series names with `%g` and `str()` and
 * clients (Grafana legends, alerting rules) match on those names.
 */

/** Python's `'%g' % x`: 6 significant digits, trailing zeros dropped, exponent form outside 1e-4..1e6. */
export function pyG(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, expText] = x.toExponential(5).split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const digits = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : String(Math.abs(exp));
    return `${stripZeros(mantissa)}e${exp < 0 ? '-' : '+'}${digits}`;
  }
  return stripZeros(x.toFixed(5 - exp));
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** Python's `str()` of an argument value, as Graphite stores it in tags and some names. */
export function pyStr(v: number | string | boolean | null): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return v;
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return String(v);
}

/** Python's `repr()` of a default value, for the signatures in /functions. */
export function pyRepr(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return pyStr(v);
  return String(v);
}

/** A Python `re` pattern as a JS RegExp: named groups `(?P<n>…)`/`(?P=n)` are the only syntax to translate. */
export function pyRegExp(pattern: string, flags = ''): RegExp {
  return new RegExp(pattern.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>'), flags);
}

/** A Python `re.sub` replacement (`\1`, `\g<name>`) in JS `String.replace` syntax. */
export function pyReplacement(replacement: string): string {
  return replacement.replace(/\$|\\(\d+)|\\g<(\w+)>|\\\\/g, (m, num?: string, name?: string) =>
    m === '$' ? '$$' : num !== undefined ? `$${num}` : name !== undefined ? (/^\d+$/.test(name) ? `$${name}` : `$<${name}>`) : '\\',
  );
}
