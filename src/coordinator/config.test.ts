import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/errors.js';
import { loadCoordinatorConfig } from './config.js';

describe('loadCoordinatorConfig', () => {
  it('has the documented defaults', () => {
    const c = loadCoordinatorConfig({}, '/srv');
    expect(c).toMatchObject({
      listenHost: '127.0.0.1',
      listenPort: 3080,
      dataDir: '/srv/.data/coordinator',
      databaseUrl: undefined,
      executorsAccessToken: undefined,
      stalledJobMaxAgeMs: 25_000,
      maxNumResets: 3,
      maxNumRetries: 0,
      executorRecordMaxAgeMs: 168 * 3_600_000,
      multiQueueDequeueTtlMs: 300_000,
      maxBodyBytes: 16 * 1024 * 1024,
      metricsToken: undefined,
      metricsListen: undefined,
      maxExecutorMetricsBytes: 4 * 1024 * 1024,
      maxForwardedMetricsBytes: 64 * 1024 * 1024,
      maxLogEntriesPerJob: 10_000,
      maxLogBytesPerJob: 100 * 1024 * 1024,
    });
    expect(c.queues.map((q) => [q.name, q.weight, q.limit])).toEqual([
      ['batches', 4, 50],
      ['codeintel', 1, 250],
    ]);
  });

  it('reads the log level from COORDINATOR_LOG_LEVEL, else SRC_LOG_LEVEL, and the format from SRC_LOG_FORMAT', () => {
    expect(loadCoordinatorConfig({})).toMatchObject({ logLevel: 'info', logFormat: 'condensed' });
    expect(loadCoordinatorConfig({ SRC_LOG_LEVEL: 'dbug', SRC_LOG_FORMAT: 'json' })).toMatchObject({ logLevel: 'debug', logFormat: 'json' });
    expect(loadCoordinatorConfig({ SRC_LOG_LEVEL: 'dbug', COORDINATOR_LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
    expect(() => loadCoordinatorConfig({ SRC_LOG_FORMAT: 'xml' })).toThrow('SRC_LOG_FORMAT="xml": expected condensed or json');
    expect(() => loadCoordinatorConfig({ SRC_LOG_LEVEL: 'loud' })).toThrow('SRC_LOG_LEVEL="loud": expected debug, info, warn or error');
  });

  it('refuses an executors access token shorter than 20 characters, saying why', () => {
    expect(() => loadCoordinatorConfig({ COORDINATOR_EXECUTORS_ACCESS_TOKEN: 'short' })).toThrow(/COORDINATOR_EXECUTORS_ACCESS_TOKEN: must be at least 20 characters long \(it is 5\)/);
  });

  it('reports every problem at once', () => {
    try {
      loadCoordinatorConfig({
        COORDINATOR_ADDR: 'nope',
        COORDINATOR_DATABASE_URL: 'mysql://x',
        COORDINATOR_STALLED_JOB_MAX_AGE: '25',
        COORDINATOR_MAX_NUM_RESETS: 'three',
        COORDINATOR_QUEUES: 'batches,Bad Name',
        COORDINATOR_MAX_BODY_SIZE: 'huge',
        COORDINATOR_LOG_LEVEL: 'loud',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const name of ['COORDINATOR_ADDR', 'COORDINATOR_DATABASE_URL', 'COORDINATOR_STALLED_JOB_MAX_AGE', 'COORDINATOR_MAX_NUM_RESETS', 'COORDINATOR_QUEUES', 'COORDINATOR_MAX_BODY_SIZE', 'COORDINATOR_LOG_LEVEL']) {
        expect(problems).toContain(name);
      }
    }
  });

  it('reads the bounds on logs and metrics and where /metrics is served, refusing each bad one by name', () => {
    const c = loadCoordinatorConfig({
      COORDINATOR_METRICS_ADDR: '0.0.0.0:9090',
      COORDINATOR_METRICS_TOKEN: 'm'.repeat(24),
      COORDINATOR_MAX_EXECUTOR_METRICS_SIZE: '1MiB',
      COORDINATOR_MAX_FORWARDED_METRICS_SIZE: '8MiB',
      COORDINATOR_MAX_LOG_ENTRIES_PER_JOB: '500',
      COORDINATOR_MAX_LOG_BYTES_PER_JOB: '10MiB',
    });
    expect(c).toMatchObject({
      metricsListen: { host: '0.0.0.0', port: 9090 },
      metricsToken: 'm'.repeat(24),
      maxExecutorMetricsBytes: 1 << 20,
      maxForwardedMetricsBytes: 8 << 20,
      maxLogEntriesPerJob: 500,
      maxLogBytesPerJob: 10 << 20,
    });
    let message = '';
    try {
      loadCoordinatorConfig({
        COORDINATOR_METRICS_ADDR: '9090',
        COORDINATOR_METRICS_TOKEN: 'short',
        COORDINATOR_MAX_EXECUTOR_METRICS_SIZE: 'big',
        COORDINATOR_MAX_LOG_ENTRIES_PER_JOB: '0',
        COORDINATOR_MAX_LOG_BYTES_PER_JOB: '10',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('COORDINATOR_METRICS_ADDR="9090": expected host:port');
    expect(message).toContain('COORDINATOR_METRICS_TOKEN: must be at least 20 characters long');
    expect(message).toContain('COORDINATOR_MAX_EXECUTOR_METRICS_SIZE="big": invalid size');
    expect(message).toContain('COORDINATOR_MAX_LOG_ENTRIES_PER_JOB="0": expected an integer >= 1');
    expect(message).toContain('COORDINATOR_MAX_LOG_BYTES_PER_JOB="10": must be at least 1024 bytes');
  });

  it('reads custom queues with weights and limits', () => {
    const c = loadCoordinatorConfig({ COORDINATOR_QUEUES: 'batches,codeintel:2,scip:3:10', COORDINATOR_ADDR: '0.0.0.0:8080' });
    expect(c.queues).toEqual([
      { name: 'batches', weight: 4, limit: 50 },
      { name: 'codeintel', weight: 2, limit: 250 },
      { name: 'scip', weight: 3, limit: 10 },
    ]);
    expect([c.listenHost, c.listenPort]).toEqual(['0.0.0.0', 8080]);
  });
});

describe('loadCoordinatorConfig: TLS', () => {
  it('reads a matching certificate and key, and refuses one without the other, an unreadable file, or a key of another certificate', async () => {
    const fs = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { createTestCa } = await import('../../test/helpers/test-ca.js');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coordinator-tls-'));
    try {
      const a = await createTestCa(path.join(dir, 'a'));
      const b = await createTestCa(path.join(dir, 'b'));
      const tls = loadCoordinatorConfig({ COORDINATOR_TLS_CERT_FILE: a.serverCertFile, COORDINATOR_TLS_KEY_FILE: a.serverKeyFile }).tls;
      expect(tls?.cert.toString()).toContain('BEGIN CERTIFICATE');
      expect(loadCoordinatorConfig({}).tls).toBeUndefined();
      const problems = (env: Record<string, string>) => {
        try {
          loadCoordinatorConfig(env);
        } catch (err) {
          return (err as ConfigError).problems;
        }
        return [];
      };
      expect(problems({ COORDINATOR_TLS_CERT_FILE: a.serverCertFile })).toEqual(['COORDINATOR_TLS_CERT_FILE and COORDINATOR_TLS_KEY_FILE: set both to serve HTTPS, or neither for plain HTTP']);
      expect(problems({ COORDINATOR_TLS_CERT_FILE: '/nonexistent.crt', COORDINATOR_TLS_KEY_FILE: a.serverKeyFile })).toEqual(['COORDINATOR_TLS_CERT_FILE="/nonexistent.crt": cannot read it: ENOENT']);
      const mismatch = problems({ COORDINATOR_TLS_CERT_FILE: a.serverCertFile, COORDINATOR_TLS_KEY_FILE: b.serverKeyFile });
      expect(mismatch).toHaveLength(1);
      expect(mismatch[0]).toMatch(/not a usable certificate and key: .*key values mismatch/);
      expect(mismatch[0]).not.toContain('PRIVATE KEY');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
  it('has the documented quotas, sign-in limits and mirror deadline, 0 turning a quota off', () => {
    const c = loadCoordinatorConfig({}, '/srv');
    expect(c.quotas).toEqual({ maxQueuedJobs: 1000, maxQueuedJobsPerQueue: 500, maxQueuedInlineFilesBytes: 256 * 1024 * 1024 });
    expect(c.jobMaxInlineFilesBytes).toBe(8 * 1024 * 1024);
    expect(c.signIn).toEqual({ maxFailuresPerUser: 10, maxFailuresPerAddress: 50, lockoutMs: 15 * 60_000 });
    expect(c.mirrorTimeoutMs).toBe(10 * 60_000);
    const off = loadCoordinatorConfig({ COORDINATOR_USER_MAX_QUEUED_JOBS: '0', COORDINATOR_USER_MAX_QUEUED_INLINE_FILES_SIZE: '0', COORDINATOR_SIGN_IN_MAX_FAILURES_PER_ADDRESS: '0' });
    expect(off.quotas.maxQueuedJobs).toBe(0);
    expect(off.quotas.maxQueuedInlineFilesBytes).toBe(0);
    expect(off.signIn.maxFailuresPerAddress).toBe(0);
  });

  it('names each bad quota, limit and deadline', () => {
    expect(() =>
      loadCoordinatorConfig({
        COORDINATOR_USER_MAX_QUEUED_JOBS: 'many',
        COORDINATOR_JOB_MAX_INLINE_FILES_SIZE: '0',
        COORDINATOR_SIGN_IN_LOCKOUT: '15',
        COORDINATOR_MIRROR_TIMEOUT: 'never',
      }),
    ).toThrow(/COORDINATOR_USER_MAX_QUEUED_JOBS="many".*\n.*COORDINATOR_JOB_MAX_INLINE_FILES_SIZE="0": must be positive.*\n.*COORDINATOR_SIGN_IN_LOCKOUT.*\n.*COORDINATOR_MIRROR_TIMEOUT/s);
  });
});
