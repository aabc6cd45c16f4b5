/**
 * JSON as graphite-web writes it: NaN → null and ±Infinity → ±1e9999 (which JSON.stringify would
 * turn into null), so clients can tell an infinite value from a missing one.
 */
export function graphiteJson(value: unknown): string {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'null';
    if (!Number.isFinite(value)) return value > 0 ? '1e9999' : '-1e9999';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(graphiteJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${graphiteJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
