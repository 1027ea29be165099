// ForwardedMetrics on a real (PGlite) executors table: families merged across executors without parsing,
// the total cap, and reading a dump's text only when its version changed.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { ExecutorStore, type ExecutorHeartbeat } from '../store/executor-store.js';
import { openTestDatabase, type TestDatabase } from '../../../test/helpers/test-database.js';
import { labelExecutorMetrics, MAX_METRICS_DUMP_BYTES, type ForwardingRules } from './executor-metrics.js';
import { ForwardedMetrics, splitFamilies } from './forwarded-metrics.js';

const ANY: ForwardingRules = { allowedPrefixes: [''], reservedNames: new Set(), maxInputBytes: MAX_METRICS_DUMP_BYTES };
const JOB = 'sg_job="sourcegraph-executors"';

const histogramDump = (bucketCount: number) =>
  [
    '# HELP src_executor_run_seconds Time spent running a job.',
    '# TYPE src_executor_run_seconds histogram',
    `src_executor_run_seconds_bucket{le="1"} ${bucketCount}`,
    'src_executor_run_seconds_bucket{le="+Inf"} 5',
    'src_executor_run_seconds_sum 12.5',
    'src_executor_run_seconds_count 5',
    '# HELP src_executor_jobs_total Jobs handled.',
    '# TYPE src_executor_jobs_total counter',
    'src_executor_jobs_total{queue="batches"} 7',
    '',
  ].join('\n');

const page = async (f: ForwardedMetrics) => Buffer.concat((await f.exposition()).chunks).toString();

describe('splitFamilies', () => {
  it('splits a labelled text into header and sample blocks that join back to it', () => {
    const text = labelExecutorMetrics(histogramDump(2) + 'untyped_one 1\n', 'e', ANY);
    const families = splitFamilies(Buffer.from(text));
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['src_executor_run_seconds', 'histogram'],
      ['src_executor_jobs_total', 'counter'],
      ['untyped_one', 'untyped'],
    ]);
    expect(families[0]!.header.toString()).toBe('# HELP src_executor_run_seconds Time spent running a job.\n# TYPE src_executor_run_seconds histogram\n');
    expect(families[2]!.samples.toString()).toBe(`untyped_one{sg_instance="e",${JOB}} 1\n`);
    expect(Buffer.concat(families.flatMap((f) => [f.header, f.samples])).toString()).toBe(text);
    expect(splitFamilies(Buffer.alloc(0))).toEqual([]);
  });
});

describe('ForwardedMetrics', () => {
  let database: TestDatabase;
  let store: ExecutorStore;
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (line) => lines.push(line) });

  beforeAll(async () => {
    database = await openTestDatabase('pglite');
    store = new ExecutorStore(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  const heartbeat = (hostname: string, text: string | null): ExecutorHeartbeat => ({
    hostname,
    queueName: 'batches',
    queueNames: null,
    os: 'linux',
    architecture: 'amd64',
    dockerVersion: '',
    executorVersion: '5.3.0',
    gitVersion: '',
    igniteVersion: '',
    srcCliVersion: '',
    prometheusMetrics: text,
  });
  /** Stores `dump` as the heartbeat route does; `local` also hands it to `f` (this replica got the heartbeat). */
  const store1 = async (f: ForwardedMetrics | undefined, hostname: string, dump: string) => {
    const text = labelExecutorMetrics(dump, hostname, ANY);
    const version = await store.upsert(heartbeat(hostname, text));
    f?.remember(hostname, version, text);
    return version;
  };

  it('merges each family of every executor under one HELP and TYPE, histogram parts together, first seen first', async () => {
    const f = new ForwardedMetrics(store, logger, { maxTotalBytes: 1 << 20, maxAgeMs: 60_000, refreshIntervalMs: 0 });
    await store1(f, 'merge-1', histogramDump(2));
    await store1(f, 'merge-2', histogramDump(4));
    const text = (await page(f)).split('\n').filter((l) => l.includes('merge-') || l.startsWith('#'));
    expect(text).toEqual([
      '# HELP src_executor_run_seconds Time spent running a job.',
      '# TYPE src_executor_run_seconds histogram',
      `src_executor_run_seconds_bucket{le="1",sg_instance="merge-1",${JOB}} 2`,
      `src_executor_run_seconds_bucket{le="+Inf",sg_instance="merge-1",${JOB}} 5`,
      `src_executor_run_seconds_sum{sg_instance="merge-1",${JOB}} 12.5`,
      `src_executor_run_seconds_count{sg_instance="merge-1",${JOB}} 5`,
      `src_executor_run_seconds_bucket{le="1",sg_instance="merge-2",${JOB}} 4`,
      `src_executor_run_seconds_bucket{le="+Inf",sg_instance="merge-2",${JOB}} 5`,
      `src_executor_run_seconds_sum{sg_instance="merge-2",${JOB}} 12.5`,
      `src_executor_run_seconds_count{sg_instance="merge-2",${JOB}} 5`,
      '# HELP src_executor_jobs_total Jobs handled.',
      '# TYPE src_executor_jobs_total counter',
      `src_executor_jobs_total{queue="batches",sg_instance="merge-1",${JOB}} 7`,
      `src_executor_jobs_total{queue="batches",sg_instance="merge-2",${JOB}} 7`,
    ]);
  });

  it('keeps the first TYPE of a family and leaves out a later executor\'s samples of another TYPE', async () => {
    const f = new ForwardedMetrics(store, logger, { maxTotalBytes: 1 << 20, maxAgeMs: 60_000, refreshIntervalMs: 0 });
    await store1(f, 'type-1', '# TYPE conflicted counter\nconflicted 1\n');
    await store1(f, 'type-2', '# TYPE conflicted gauge\nconflicted 2\n# TYPE fine gauge\nfine 3\n');
    const text = await page(f);
    expect(text).toContain(`conflicted{sg_instance="type-1",${JOB}} 1`);
    expect(text).not.toContain('sg_instance="type-2",sg_job="sourcegraph-executors"} 2');
    expect(text).toContain(`fine{sg_instance="type-2",${JOB}} 3`);
    expect(text.match(/^# TYPE conflicted /gm)).toEqual(['# TYPE conflicted ']);
  });

  it('reads a text from the database only when another replica stored a newer version of it', async () => {
    const ours = new ForwardedMetrics(store, logger, { maxTotalBytes: 1 << 20, maxAgeMs: 60_000, refreshIntervalMs: 0 });
    const texts = vi.spyOn(store, 'metricsTexts');
    try {
      await store1(ours, 'local-exec', 'local_metric 1\n');
      await store1(undefined, 'remote-exec', 'remote_metric 1\n'); // through another replica
      expect(await page(ours)).toContain(`remote_metric{sg_instance="remote-exec",${JOB}} 1`);
      const readFor = () => texts.mock.calls.flatMap(([hostnames]) => hostnames).filter((h) => h === 'local-exec' || h === 'remote-exec');
      expect(readFor()).toEqual(['remote-exec']);
      for (let i = 0; i < 5; i++) await page(ours);
      expect(readFor()).toEqual(['remote-exec']);
      await store1(undefined, 'remote-exec', 'remote_metric 2\n');
      expect(await page(ours)).toContain(`remote_metric{sg_instance="remote-exec",${JOB}} 2`);
      expect(readFor()).toEqual(['remote-exec', 'remote-exec']);
    } finally {
      texts.mockRestore();
    }
  });

  it('between refreshes serves the cache, and a dump cleared by its heartbeat leaves the page', async () => {
    const f = new ForwardedMetrics(store, logger, { maxTotalBytes: 1 << 20, maxAgeMs: 60_000, refreshIntervalMs: 60_000 });
    await store1(f, 'cleared-exec', 'soon_gone 1\n');
    expect(await page(f)).toContain('soon_gone{sg_instance="cleared-exec"');
    const versions = vi.spyOn(store, 'metricsVersions');
    try {
      await page(f);
      expect(versions).not.toHaveBeenCalled();
      f.remember('cleared-exec', await store.upsert(heartbeat('cleared-exec', '')), '');
      expect(await page(f)).not.toContain('soon_gone');
    } finally {
      versions.mockRestore();
    }
  });

  it('leaves out executors past the total and logs each once, until they fit again', async () => {
    const dump = (tag: string) => Array.from({ length: 20 }, (_, i) => `total_cap_metric{tag="${tag}",i="${i}"} ${i}`).join('\n') + '\n';
    const size = Buffer.byteLength(labelExecutorMetrics(dump('a'), 'cap-a', ANY));
    const f = new ForwardedMetrics(store, logger, { maxTotalBytes: 2 * size + 10, maxAgeMs: 60_000, refreshIntervalMs: 0 });
    // Only these three count: earlier tests' executors are older and would take the room first.
    await database.db.query(`DELETE FROM executors`);
    for (const tag of ['a', 'b', 'c']) await store1(f, `cap-${tag}`, dump(tag));
    lines.length = 0;
    for (let i = 0; i < 3; i++) {
      const text = await page(f);
      expect(text).toContain('sg_instance="cap-a"');
      expect(text).toContain('sg_instance="cap-b"');
      expect(text).not.toContain('sg_instance="cap-c"');
    }
    expect(lines.filter((l) => l.includes('executor=cap-c'))).toHaveLength(1);
    expect(lines[0]).toMatch(/WARN .*COORDINATOR_MAX_FORWARDED_METRICS_SIZE/);
    await database.db.query(`DELETE FROM executors WHERE hostname = 'cap-a'`);
    expect(await page(f)).toContain('sg_instance="cap-c"');
  });
});
