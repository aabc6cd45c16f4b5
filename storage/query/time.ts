/**
 * Graphite's `from`/`until` syntax (graphite-web attime.py) plus torus' human forms.
 *
 * Calendar forms (midnight, today, 20240101, 6pm, monday, ...) are read in UTC unless a time zone
 * is given: the store's buckets are UTC, so a UTC "midnight" lands on a daily bucket boundary.
 */
import { QueryError } from './errors.js';

const DAY = 86_400;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const TIME_FORMS =
  'now, epoch seconds, -1h/+5min/-1d2h (units s, min, h, d, w, mon, y), HH:MM_YYYYMMDD, YYYYMMDD, MM/DD/YY, ' +
  'noon/midnight/teatime, 6pm, today/yesterday/tomorrow, a month or weekday name, "N days ago" or "last week"';

/** Graphite's unit by prefix: s…, min…, h…, d…, w…, mon… (30 days), y… (365 days); bare `m` is ambiguous. */
function unitSeconds(unit: string): number | undefined {
  if (unit.startsWith('s')) return 1;
  if (unit.startsWith('min')) return 60;
  if (unit.startsWith('h')) return 3600;
  if (unit.startsWith('d')) return DAY;
  if (unit.startsWith('w')) return 7 * DAY;
  if (unit.startsWith('mon')) return 30 * DAY;
  if (unit.startsWith('y')) return 365 * DAY;
  return undefined;
}

/** `[+|-]N unit [N unit ...]` → signed seconds (Graphite's parseTimeOffset); no sign means forward. */
function parseOffset(offset: string, fail: (why: string) => never): number {
  if (offset === '') return 0;
  let sign = 1;
  let rest = offset;
  if (rest[0] === '+' || rest[0] === '-') {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1);
  } else if (!/^\d/.test(rest)) fail(`offset must start with +, - or a number`);
  let total = 0;
  while (rest !== '') {
    const m = /^(\d*)([a-z]*)/.exec(rest)!;
    if (m[1] === '') fail(`expected a number at "${rest}"`);
    const unit = unitSeconds(m[2]!);
    if (unit === undefined) fail(`invalid offset unit "${m[2]}" (use s, min, h, d, w, mon or y)`);
    total += sign * Number(m[1]) * unit;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** "5min" | "1h" | "7d" | "-1d" | "+1h" → signed seconds, for summarize, timeShift, movingAverage. */
export function parseInterval(text: string): number {
  return parseOffset(text.trim().toLowerCase(), (why) => {
    throw new QueryError(`bad interval "${text}": ${why}`);
  });
}

interface Wall {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new QueryError(`bad time zone "${timeZone}": expected an IANA name such as UTC or Europe/Paris`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock in `timeZone` at unix second `t` (seconds dropped), as a UTC-based millisecond count. */
function wallMillis(t: number, timeZone: string): number {
  if (timeZone === 'UTC') return Math.floor(t / 60) * 60_000;
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(t * 1000))) p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!);
}

function wallOf(t: number, timeZone: string): Wall {
  const d = new Date(wallMillis(t, timeZone));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes() };
}

/** Unix seconds of a wall-clock time in `timeZone`; invalid dates (Feb 30, 25:00) are rejected. */
function epochOf(w: Wall, timeZone: string, fail: (why: string) => never): number {
  const ms = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
  const d = new Date(ms);
  if (w.hour > 23 || w.minute > 59 || d.getUTCFullYear() !== w.year || d.getUTCMonth() !== w.month - 1 || d.getUTCDate() !== w.day) {
    fail(`no such date or time`);
  }
  if (timeZone === 'UTC') return ms / 1000;
  // the zone's offset at the guessed instant, then again at the corrected one (DST edges)
  let t = ms / 1000 - (wallMillis(ms / 1000, timeZone) - ms) / 1000;
  const again = (wallMillis(t, timeZone) - ms) / 1000;
  if (again !== 0) t -= again;
  return t;
}

function int(s: string, fail: (why: string) => never): number {
  if (!/^\d+$/.test(s)) fail(`expected a number, found "${s}"`);
  return Number(s);
}

/** The part before the offset: now, a time of day, a day, or both (Graphite's parseTimeReference). */
function parseReference(ref: string, now: number, timeZone: string, fail: (why: string) => never): number {
  if (ref === '' || ref === 'now') return now;
  let rest = ref;
  let hour = 0;
  let minute = 0;
  let i = rest.indexOf(':');
  if (i > 0 && i < 3) {
    hour = int(rest.slice(0, i), fail);
    minute = int(rest.slice(i + 1, i + 3), fail);
    rest = rest.slice(i + 3);
    if (rest.startsWith('am')) rest = rest.slice(2);
    else if (rest.startsWith('pm')) {
      hour = (hour + 12) % 24;
      rest = rest.slice(2);
    }
  }
  i = rest.indexOf('am');
  if (i > 0 && i < 3) {
    hour = int(rest.slice(0, i), fail);
    rest = rest.slice(i + 2);
  }
  i = rest.indexOf('pm');
  if (i > 0 && i < 3) {
    hour = (int(rest.slice(0, i), fail) + 12) % 24;
    rest = rest.slice(i + 2);
  }
  for (const [word, h] of [['noon', 12], ['midnight', 0], ['teatime', 16]] as const) {
    if (rest.startsWith(word)) {
      hour = h;
      minute = 0;
      rest = rest.slice(word.length);
      break;
    }
  }
  const today = wallOf(now, timeZone);
  let w: Wall = { year: today.year, month: today.month, day: today.day, hour, minute };
  let shiftDays = 0;
  if (rest === 'yesterday') shiftDays = -1;
  else if (rest === 'tomorrow') shiftDays = 1;
  else if (rest === 'today' || rest === '') {
    // the time of day alone means today
  } else if (rest.split('/').length === 3) {
    const [m, d, y] = rest.split('/').map((x) => int(x, fail)) as [number, number, number];
    let year = y < 1900 ? y + 1900 : y;
    if (year < 1970) year += 100;
    w = { year, month: m, day: d, hour, minute };
  } else if (/^\d{8}$/.test(rest)) {
    w = { year: Number(rest.slice(0, 4)), month: Number(rest.slice(4, 6)), day: Number(rest.slice(6)), hour, minute };
  } else if (MONTHS.includes(rest.slice(0, 3))) {
    const day = /\d{1,2}$/.exec(rest);
    if (day === null) fail(`day of month required after month name`);
    w = { year: today.year, month: MONTHS.indexOf(rest.slice(0, 3)) + 1, day: Number(day[0].slice(-2)), hour, minute };
  } else if (WEEKDAYS.includes(rest.slice(0, 3))) {
    // the most recent such day, today included
    const todayIndex = new Date(Date.UTC(today.year, today.month - 1, today.day)).getUTCDay();
    shiftDays = -((todayIndex - WEEKDAYS.indexOf(rest.slice(0, 3)) + 7) % 7);
  } else {
    fail(`unknown day reference "${ref}"`);
  }
  if (shiftDays !== 0) {
    const d = new Date(Date.UTC(w.year, w.month - 1, w.day + shiftDays));
    w = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour, minute };
  }
  return epochOf(w, timeZone, fail);
}

/**
 * A Graphite `from`/`until`/`now` value → unix seconds, relative to `now` (unix seconds).
 * Like Graphite, spaces, `_` and `,` are ignored, so `noon yesterday` = `noon+yesterday` (a URL `+`)
 * = `noonyesterday`, and `HH:MM_YYYYMMDD` = `HH:MMYYYYMMDD`.
 */
export function parseTime(text: string, now: number, timeZone = 'UTC'): number {
  const fail = (why: string): never => {
    throw new QueryError(`bad time "${text}": ${why}; expected ${TIME_FORMS}`);
  };
  const s = text.trim().toLowerCase().replace(/[\s_,]/g, '');
  // torus' human forms (parsedatetime), spaces already squeezed out: "5 days ago", "last week"
  const ago = /^(\d+)([a-z]+)ago$/.exec(s);
  if (ago !== null) {
    const unit = unitSeconds(ago[2]!);
    if (unit === undefined) fail(`invalid unit "${ago[2]}"`);
    return now - Number(ago[1]) * unit!;
  }
  const last = /^last(minute|hour|day|week|month|year)$/.exec(s);
  if (last !== null) return now - unitSeconds(last[1]!)!;
  if (/^\d+$/.test(s)) {
    // 8 digits that read as a date are YYYYMMDD, anything else is epoch seconds
    const looksLikeDate = s.length === 8 && Number(s.slice(0, 4)) > 1900 && Number(s.slice(4, 6)) < 13 && Number(s.slice(6)) < 32;
    if (!looksLikeDate) return Number(s);
  }
  // torus reads epoch seconds with float()
  if (/^\d+\.\d*$/.test(s)) return Math.floor(Number(s));
  // split at the first + (else the first -): reference, then offset
  const cut = s.includes('+') ? s.indexOf('+') : s.indexOf('-');
  const ref = cut < 0 ? s : s.slice(0, cut);
  const offset = cut < 0 ? '' : s.slice(cut);
  return parseReference(ref, now, timeZone, fail) + parseOffset(offset, fail);
}
