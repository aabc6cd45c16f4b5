import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../agent/config/load.js';

import { openForWriting, storeFile } from '../storage/db.js';
import { SchemaSet } from '../storage/schemas.js';
import { StoreWriter, type StoreBatch } from '../storage/writer.js';
import { runCli } from './helpers/agentProcess.js';
import { storeBatch } from './helpers/storeBatch.js';

/** 2024-03-15 12:00:00 UTC: an hour boundary */
const T0 = 1710504000;
const NOW = T0 + 600;

const SCHEMAS = `
store:
  schemas:
    - name: api
      match: ^api\\.
      type: series
      intervals: {minute: {step: 1m, steps: 60}, hour: {step: 1h, steps: 48}, month: {step: monthly, steps: 12}}
`;

const batch = (ts: number, flushed: Record<string, number>, timers: Record<string, number[]> = {}, sets: Record<string, string[]> = {}): StoreBatch =>
  storeBatch(ts, { flushed, timers, sets });

const tempDir = (): string => mkdtempSync(path.join(tmpdir(), 'tally-query-cli-'));

function configFileIn(dir: string): string {
  const file = path.join(dir, 'tally.yaml');
  writeFileSync(file, `data_dir: ${dir}\n${SCHEMAS}`);
  return file;
}

describe('tally query and tally schema-debug', () => {
  let dir: string;
  let config: string;
  const dirs: string[] = [];

  before(() => {
    dir = tempDir();
    config = configFileIn(dir);
    const c = loadConfig([config]);
    const db = openForWriting(storeFile(c));
    const w = new StoreWriter(db, new SchemaSet(c), () => NOW);
    w.write(batch(T0 + 5, { 'api.req': 10 }, { 'api.latency': [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }, { users: ['a', 'b'] }));
    w.write(batch(T0 + 15, { 'api.req': 20 }, { 'api.latency': [100] }, { users: ['b', 'c'] }));
    w.write(batch(T0 + 65, { 'api.req': 30 }, { 'api.latency': [20, 30, 40] }, { users: ['c', 'd'] }));
    w.write(batch(T0 + 185, { 'api.req': 40 }, { 'api.latency': [5, 5, 5, 500] }, { users: ['a', 'e'] }));
    db.close();
  });

  after(() => {
    for (const d of [dir, ...dirs]) rmSync(d, { recursive: true, force: true });
  });

  const range = ['--start', String(T0), '--end', String(T0 + 180)];

  it('prints a table: a header naming stat, schema and interval, then one line per bucket', async () => {
    const r = await runCli(['query', 'api.req', ...range, '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        '# api.req  schema api  interval minute  function value',
        '2024-03-15T12:00:00Z  15',
        '2024-03-15T12:01:00Z  30',
        '2024-03-15T12:02:00Z  -',
        '2024-03-15T12:03:00Z  40',
        '',
      ].join('\n'),
    );
  });

  it('several EXPRs, --interval, --collapse (a percentile and a unique count of the whole range)', async () => {
    const r = await runCli(['query', 'p99(api.latency)', 'p50(api.latency)', 'unique(users)', 'nope', '--interval', '1m', '--collapse', ...range, '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        '# p99(api.latency)  schema timer_samples  interval 1m  function p99',
        '2024-03-15T12:00:00Z  500',
        '',
        '# p50(api.latency)  schema timer_samples  interval 1m  function p50',
        '2024-03-15T12:00:00Z  6',
        '',
        '# unique(users)  schema set_members  interval 1m  function unique',
        '2024-03-15T12:00:00Z  5',
        '',
        '# nope: not stored',
        '',
      ].join('\n'),
    );
  });

  it('--steps from --start, an inline --flag=value, --format json and graphite', async () => {
    const json = await runCli(['query', 'max(api.req)', `--start=${T0 + 60}`, '--steps', '2', '--format', 'json', '--config', config]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), [
      { stat: 'max(api.req)', stat_name: 'api.req', function: 'max', schema: 'api', interval: 'minute', datapoints: [[30, T0 + 60], [null, T0 + 120]] },
    ]);
    const graphite = await runCli(['query', 'api.req', '--interval', 'hour', ...range, '--format', 'graphite', '--config', config]);
    assert.equal(graphite.code, 0, graphite.stderr);
    assert.deepEqual(JSON.parse(graphite.stdout), [{ target: 'api.req', tags: { name: 'api.req' }, datapoints: [[25, T0]] }]);
  });

  it('a bad query exits 2 naming what was wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['p99(api.req)'], /^tally query: p99 applies to histograms; api\.req is a series\n$/],
      [['api.req', '--interval', 'week'], /^tally query: unknown interval "week" for api\.req: schema api has minute \(1m\), hour \(1h\) and month \(monthly\)\n$/],
      [['api.req', '--start', 'someday'], /^tally query: start: bad time "someday"/],
      [['api.req', '--steps', '0'], /bad steps "0"/],
      [['median(api.req)'], /unknown function "median"/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(['query', ...args, '--config', config]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, pattern);
      assert.equal(r.stdout, '');
    }
  });

  it('usage errors exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['query', '--config', config], /query needs at least one EXPR/],
      [['query', 'api.req', '--format', 'csv', '--config', config], /--format must be table, json or graphite, got csv/],
      [['query', 'api.req', '--steps'], /--steps needs a value/],
      [['query', 'api.req', '--collapse=yes'], /unknown argument for query: --collapse=yes/],
      [['schema-debug', '--config', config], /schema-debug needs at least one NAME/],
      [['schema-debug', 'x', '--source', 'carbon'], /--source must be flushed, timer_samples or set_members, got carbon/],
      [['schema-debug', 'x', '--interval', '1m'], /unknown argument for schema-debug: --interval/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, pattern);
    }
  });

  it('no store yet, or one that cannot be read: a clear message, exit 1', async () => {
    const empty = tempDir();
    dirs.push(empty);
    const r = await runCli(['query', 'api.req', '--config', configFileIn(empty)]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `tally query: no store at ${path.join(empty, 'tally.db')} yet: the agent writes it at its first flush (store.enabled, data_dir, store.path)\n`);

    const broken = tempDir();
    dirs.push(broken);
    writeFileSync(path.join(broken, 'tally.db'), 'this is not a database, just some text that is long enough '.repeat(20));
    const b = await runCli(['query', 'api.req', '--config', configFileIn(broken)]);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /^tally query: cannot read the store .*tally\.db: /);
  });

  it('schema-debug: the schema of each source, type, precision, intervals and retention', async () => {
    const r = await runCli(['schema-debug', 'api.req', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'api.req',
        '  flushed: schema api (match "^api\\\\."), type series',
        '    minute  step 1m       steps 60      keeps 1h',
        '    hour    step 1h       steps 48      keeps 2d',
        '    month   step monthly  steps 12      keeps 12 months',
        '  timer_samples: schema timer_samples (match ".*"), type histogram, precision 3 significant digits',
        '    10s  step 10s      steps 2160    keeps 6h',
        '    1m   step 1m       steps 10080   keeps 1w',
        '    1h   step 1h       steps 8760    keeps 365d',
        '    1d   step daily    steps 1826    keeps 1826d',
        '  set_members: schema set_members (match ".*"), type set',
        '    10s  step 10s      steps 2160    keeps 6h',
        '    1m   step 1m       steps 10080   keeps 1w',
        '    1h   step 1h       steps 8760    keeps 365d',
        '    1d   step daily    steps 1826    keeps 1826d',
        '',
      ].join('\n'),
    );
  });

  it('schema-debug --source: only that source, for each name; needs no store', async () => {
    const r = await runCli(['schema-debug', 'stats_counts.hits', 'stats.gauges.x', '--source', 'flushed']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'stats_counts.hits',
        '  flushed: schema counts (match "^stats_counts\\\\."), type count',
        '    10s  step 10s      steps 2160    keeps 6h',
        '    1m   step 1m       steps 10080   keeps 1w',
        '    1h   step 1h       steps 8760    keeps 365d',
        '    1d   step daily    steps 1826    keeps 1826d',
        'stats.gauges.x',
        '  flushed: schema values (match ".*"), type series',
        '    10s  step 10s      steps 2160    keeps 6h',
        '    1m   step 1m       steps 10080   keeps 1w',
        '    1h   step 1h       steps 8760    keeps 365d',
        '    1d   step daily    steps 1826    keeps 1826d',
        '',
      ].join('\n'),
    );
  });

  it('--help tells about both commands', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /tally query EXPR\.\.\. \[--interval NAME\] \[--start T\] \[--end T\] \[--steps N\] \[--collapse\]/);
    assert.match(r.stdout, /\[--format table\|json\|graphite\] \[--config FILE\]\.\.\./);
    assert.match(r.stdout, /tally schema-debug NAME\.\.\. \[--source flushed\|timer_samples\|set_members\] \[--config FILE\]\.\.\./);
  });
});
