/**
 * A store interval's step and the bucket arithmetic on it. Buckets are epoch-aligned,
 * `floor(ts / step) * step`, all in UTC: `daily` is exactly 86400 s; `weekly` starts on Mondays
 * (ISO weeks, unlike kairos' Sunday-ish `%U`); `monthly` and `yearly` start on the first day of
 * the UTC month or year. A bucket is named by its start, in unix seconds.
 */

export type Calendar = 'daily' | 'weekly' | 'monthly' | 'yearly';
/** whole seconds, or a calendar unit */
export type Step = number | Calendar;

export const CALENDAR_STEPS: readonly Calendar[] = ['daily', 'weekly', 'monthly', 'yearly'];
export const STEP_FORMS = 'a step (10s, 1m, 1h, 1d, a number of seconds, or daily, weekly, monthly, yearly)';

const DAY = 86_400;
const WEEK = 7 * DAY;
/** 1970-01-05, the first Monday of the epoch */
const MONDAY = 4 * DAY;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: DAY, w: WEEK };

/** "10s" | "1m" | "1h" | "1d" | "1w" | 60 | "60" | "daily" ... → Step, or undefined if it is none. */
export function parseStep(value: unknown): Step | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 1 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if ((CALENDAR_STEPS as readonly string[]).includes(s)) return s as Calendar;
  const m = /^(\d+)([smhdw]?)$/.exec(s);
  if (m === null) return undefined;
  const seconds = Number(m[1]) * UNITS[m[2] || 's']!;
  return seconds >= 1 && Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** 60 → "1m", 86400 → "1d", "monthly" → "monthly" */
export function formatStep(step: Step): string {
  if (typeof step !== 'number') return step;
  for (const u of ['w', 'd', 'h', 'm'] as const) if (step % UNITS[u]! === 0) return `${step / UNITS[u]!}${u}`;
  return `${step}s`;
}

/** The length of a bucket in seconds; months and years as their longest, for retention and read choices. */
export function nominalSeconds(step: Step): number {
  switch (step) {
    case 'daily':
      return DAY;
    case 'weekly':
      return WEEK;
    case 'monthly':
      return 31 * DAY;
    case 'yearly':
      return 366 * DAY;
    default:
      return step;
  }
}

/** True when every bucket has the same length, so a Graphite series (start, step, values) can represent it. */
export function isFixed(step: Step): boolean {
  return step !== 'monthly' && step !== 'yearly';
}

/** The start of the bucket holding `ts` (unix seconds). */
export function bucketStart(step: Step, ts: number): number {
  switch (step) {
    case 'daily':
      return Math.floor(ts / DAY) * DAY;
    case 'weekly':
      return Math.floor((ts - MONDAY) / WEEK) * WEEK + MONDAY;
    case 'monthly': {
      const d = new Date(Math.floor(ts) * 1000);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
    }
    case 'yearly':
      return Date.UTC(new Date(Math.floor(ts) * 1000).getUTCFullYear(), 0, 1) / 1000;
    default:
      return Math.floor(ts / step) * step;
  }
}

/** The start of the bucket `n` buckets after (or before, n < 0) the bucket starting at `start`. */
export function addBuckets(step: Step, start: number, n: number): number {
  if (step === 'monthly' || step === 'yearly') {
    const d = new Date(start * 1000);
    const months = step === 'monthly' ? n : 12 * n;
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1) / 1000;
  }
  return start + n * nominalSeconds(step);
}

/** The number of the bucket holding `ts`, counted from the epoch's (months and years from 1970's). */
export function bucketIndex(step: Step, ts: number): number {
  switch (step) {
    case 'monthly': {
      const d = new Date(Math.floor(ts) * 1000);
      return (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth();
    }
    case 'yearly':
      return new Date(Math.floor(ts) * 1000).getUTCFullYear() - 1970;
    case 'weekly':
      return Math.floor((ts - MONDAY) / WEEK);
    default:
      return Math.floor(ts / nominalSeconds(step));
  }
}

/** The start of bucket number `index` (bucketIndex's inverse). */
export function indexStart(step: Step, index: number): number {
  switch (step) {
    case 'monthly':
      return Date.UTC(1970, index, 1) / 1000;
    case 'yearly':
      return Date.UTC(1970 + index, 0, 1) / 1000;
    case 'weekly':
      return index * WEEK + MONDAY;
    default:
      return index * nominalSeconds(step);
  }
}
