import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueryError } from '../storage/query/errors.js';
import { parseInterval, parseTime } from '../storage/query/time.js';

// Friday 2024-03-15 10:30:45 UTC
const NOW = Date.UTC(2024, 2, 15, 10, 30, 45) / 1000;
const utc = (y: number, m: number, d: number, h = 0, min = 0): number => Date.UTC(y, m - 1, d, h, min) / 1000;
const H = 3600;
const D = 86_400;

describe('parseTime', () => {
  test('now and epoch seconds', () => {
    assert.equal(parseTime('now', NOW), NOW);
    assert.equal(parseTime('', NOW), NOW);
    assert.equal(parseTime('1700000000', NOW), 1_700_000_000);
    // 8 digits that are not a date are epoch seconds
    assert.equal(parseTime('12345678', NOW), 12_345_678);
    // torus reads epoch seconds with float()
    assert.equal(parseTime('1700000000.75', NOW), 1_700_000_000);
  });

  test('offsets relative to now, units by prefix', () => {
    assert.equal(parseTime('-1h', NOW), NOW - H);
    assert.equal(parseTime('-5min', NOW), NOW - 300);
    assert.equal(parseTime('-10s', NOW), NOW - 10);
    assert.equal(parseTime('-3hours', NOW), NOW - 3 * H);
    assert.equal(parseTime('-1d2h', NOW), NOW - D - 2 * H);
    assert.equal(parseTime('+1h', NOW), NOW + H);
    assert.equal(parseTime('-2w', NOW), NOW - 14 * D);
    assert.equal(parseTime('-1mon', NOW), NOW - 30 * D);
    assert.equal(parseTime('-1y', NOW), NOW - 365 * D);
    assert.equal(parseTime('now-1d', NOW), NOW - D);
  });

  test('bare m and unknown units are errors', () => {
    assert.throws(() => parseTime('-1m', NOW), (e: unknown) => e instanceof QueryError && /bad time "-1m": invalid offset unit "m"/.test(e.message));
    assert.throws(() => parseTime('-1ms', NOW), QueryError);
    assert.throws(() => parseTime('-h', NOW), /expected a number/);
  });

  test('absolute dates', () => {
    assert.equal(parseTime('12:00_20240101', NOW), utc(2024, 1, 1, 12));
    assert.equal(parseTime('20240101', NOW), utc(2024, 1, 1));
    assert.equal(parseTime('03/01/24', NOW), utc(2024, 3, 1));
    assert.equal(parseTime('03/01/2024', NOW), utc(2024, 3, 1));
    assert.equal(parseTime('01/02/69', NOW), utc(2069, 1, 2));
    assert.equal(parseTime('01/02/99', NOW), utc(1999, 1, 2));
    assert.equal(parseTime('jan1', NOW), utc(2024, 1, 1));
    assert.equal(parseTime('march 5', NOW), utc(2024, 3, 5));
    assert.equal(parseTime('16:00 20110501', NOW), utc(2011, 5, 1, 16));
  });

  test('named times and days', () => {
    assert.equal(parseTime('noon', NOW), utc(2024, 3, 15, 12));
    assert.equal(parseTime('midnight', NOW), utc(2024, 3, 15));
    assert.equal(parseTime('teatime', NOW), utc(2024, 3, 15, 16));
    assert.equal(parseTime('today', NOW), utc(2024, 3, 15));
    assert.equal(parseTime('yesterday', NOW), utc(2024, 3, 14));
    assert.equal(parseTime('tomorrow', NOW), utc(2024, 3, 16));
    assert.equal(parseTime('14:30', NOW), utc(2024, 3, 15, 14, 30));
    assert.equal(parseTime('6pm', NOW), utc(2024, 3, 15, 18));
    assert.equal(parseTime('6am', NOW), utc(2024, 3, 15, 6));
    assert.equal(parseTime('2:15pm', NOW), utc(2024, 3, 15, 14, 15));
    assert.equal(parseTime('9:05am', NOW), utc(2024, 3, 15, 9, 5));
    // the most recent such weekday, today included
    assert.equal(parseTime('monday', NOW), utc(2024, 3, 11));
    assert.equal(parseTime('friday', NOW), utc(2024, 3, 15));
    assert.equal(parseTime('saturday', NOW), utc(2024, 3, 9));
  });

  test('combinations', () => {
    assert.equal(parseTime('noon yesterday', NOW), utc(2024, 3, 14, 12));
    assert.equal(parseTime('noon+yesterday'.replace('+', ' '), NOW), utc(2024, 3, 14, 12));
    assert.equal(parseTime('noonyesterday', NOW), utc(2024, 3, 14, 12));
    assert.equal(parseTime('midnight+1h', NOW), utc(2024, 3, 15, 1));
    assert.equal(parseTime('yesterday-2h', NOW), utc(2024, 3, 13, 22));
    assert.equal(parseTime('6pm tomorrow', NOW), utc(2024, 3, 16, 18));
    assert.equal(parseTime('20240101+1d12h', NOW), utc(2024, 1, 2, 12));
  });

  test("torus' human forms", () => {
    assert.equal(parseTime('5 days ago', NOW), NOW - 5 * D);
    assert.equal(parseTime('1 day ago', NOW), NOW - D);
    assert.equal(parseTime('3 hours ago', NOW), NOW - 3 * H);
    assert.equal(parseTime('10 minutes ago', NOW), NOW - 600);
    assert.equal(parseTime('2 weeks ago', NOW), NOW - 14 * D);
    assert.equal(parseTime('last week', NOW), NOW - 7 * D);
    assert.equal(parseTime('last month', NOW), NOW - 30 * D);
    assert.equal(parseTime('last year', NOW), NOW - 365 * D);
  });

  test('errors name the input', () => {
    assert.throws(() => parseTime('xyz', NOW), (e: unknown) => e instanceof QueryError && e.message.startsWith('bad time "xyz": unknown day reference'));
    assert.throws(() => parseTime('20240231', NOW), /bad time "20240231": no such date/);
    assert.throws(() => parseTime('25:00', NOW), /no such date or time/);
    assert.throws(() => parseTime('jan', NOW), /day of month required/);
    assert.throws(() => parseTime('5 m ago', NOW), /invalid unit "m"/);
  });

  test('a time zone moves calendar forms, not offsets', () => {
    // Paris is UTC+1 in March, UTC+2 in July
    assert.equal(parseTime('midnight', NOW, 'Europe/Paris'), utc(2024, 3, 14, 23));
    assert.equal(parseTime('midnight', Date.UTC(2024, 6, 1, 12) / 1000, 'Europe/Paris'), utc(2024, 6, 30, 22));
    assert.equal(parseTime('12:00_20240701', NOW, 'America/New_York'), utc(2024, 7, 1, 16));
    assert.equal(parseTime('-1h', NOW, 'Europe/Paris'), NOW - H);
    assert.throws(() => parseTime('midnight', NOW, 'Mars/Olympus'), /bad time zone "Mars\/Olympus"/);
  });
});

describe('parseInterval', () => {
  test('signed seconds', () => {
    assert.equal(parseInterval('5min'), 300);
    assert.equal(parseInterval('1h'), 3600);
    assert.equal(parseInterval('7d'), 7 * D);
    assert.equal(parseInterval('-1d'), -D);
    assert.equal(parseInterval('+1h'), 3600);
    assert.equal(parseInterval('1d2h'), D + 2 * H);
    assert.equal(parseInterval('1hour'), 3600);
    assert.equal(parseInterval('1mon'), 30 * D);
  });

  test('bad intervals', () => {
    assert.throws(() => parseInterval('1m'), (e: unknown) => e instanceof QueryError && /bad interval "1m": invalid offset unit "m"/.test(e.message));
    assert.throws(() => parseInterval('h'), /bad interval "h"/);
    assert.throws(() => parseInterval('1 hour'), QueryError);
  });
});
