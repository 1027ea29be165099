// The coordinator's settings, read from COORDINATOR_* variables once at start-up. Every problem is
// reported together (ConfigError), before anything starts.
import fs from 'node:fs';
import path from 'node:path';
import tlsModule from 'node:tls';
import { ConfigError } from '../shared/errors.js';
import { parseGoDurationMs } from '../shared/go-duration.js';
import type { LogLevel } from '../shared/logger.js';
import { parseByteSize } from '../shared/byte-size.js';
import { loadAutoscalingConfig, type AutoscalingConfig } from './autoscaling/autoscaling-config.js';
import { parseQueueSpecs, type QueueConfig } from './queues/queue-config.js';

/** `executors.accessToken` must be at least this long (reference §2.2, site schema `^(.{20,}|REDACTED)$`). */
export const MIN_ACCESS_TOKEN_LENGTH = 20;

export interface CoordinatorConfig {
  /** `host:port` to listen on. COORDINATOR_ADDR, default `127.0.0.1:3080`. */
  listenHost: string;
  listenPort: number;
  /** Embedded database, repositories, key files. COORDINATOR_DATA_DIR, default `./.data/coordinator`. */
  dataDir: string;
  /** PostgreSQL server; unset → embedded PGlite in `<dataDir>/pglite`. COORDINATOR_DATABASE_URL. */
  databaseUrl: string | undefined;
  /** The site setting `executors.accessToken`; unset → the executor API answers 500. COORDINATOR_EXECUTORS_ACCESS_TOKEN. */
  executorsAccessToken: string | undefined;
  /** Bearer token of the admin API; unset → the admin API answers 503. COORDINATOR_ADMIN_TOKEN. */
  adminToken: string | undefined;
  /** COORDINATOR_QUEUES, default `batches:4:50,codeintel:1:250` (name:weight:limit, reference §6.6). */
  queues: QueueConfig[];
  /** A processing job without a heartbeat for this long is reset. COORDINATOR_STALLED_JOB_MAX_AGE, default 25s. */
  stalledJobMaxAgeMs: number;
  /** Resets before a job fails. COORDINATOR_MAX_NUM_RESETS, default 3. */
  maxNumResets: number;
  /** How often the resetter runs. COORDINATOR_RESETTER_INTERVAL, default 5s. */
  resetterIntervalMs: number;
  /** markErrored → errored (retried) while num_failures + 1 < this. COORDINATOR_MAX_NUM_RETRIES, default 0 (as both original queues). */
  maxNumRetries: number;
  /** Delay before an errored job is retried. COORDINATOR_RETRY_AFTER, default 1m. */
  retryAfterMs: number;
  /** How often to check whether the jobs table needs ANALYZE. COORDINATOR_STATISTICS_INTERVAL, default 10s. */
  statisticsIntervalMs: number;
  /** Executors not seen for this long are deleted. COORDINATOR_EXECUTOR_RECORD_MAX_AGE, default 168h. */
  executorRecordMaxAgeMs: number;
  /** COORDINATOR_EXECUTOR_CLEANUP_INTERVAL, default 30m. */
  executorCleanupIntervalMs: number;
  /** Window of recent dequeues for multi-queue fairness. COORDINATOR_MULTIQUEUE_DEQUEUE_TTL, default 5m. */
  multiQueueDequeueTtlMs: number;
  /** The longest `waitMs` a dequeue may ask for. COORDINATOR_MAX_DEQUEUE_WAIT, default 30s. */
  maxDequeueWaitMs: number;
  /** Request bodies above this get 413. COORDINATOR_MAX_BODY_SIZE, default 16MiB. */
  maxBodyBytes: number;
  /** COORDINATOR_LOG_LEVEL: debug | info | warn | error, default info. */
  logLevel: LogLevel;
  /**
   * Serve HTTPS with this certificate (chain, PEM) and key: COORDINATOR_TLS_CERT_FILE and
   * COORDINATOR_TLS_KEY_FILE, both or neither; read and checked at start. Unset → plain HTTP.
   */
  tls: { cert: Buffer; key: Buffer; certFile: string; keyFile: string } | undefined;
  /**
   * The key that encrypts executor secrets (32 bytes). COORDINATOR_ENCRYPTION_KEY (base64); unset → the
   * key file `<dataDir>/encryption.key`, created (mode 0600) at first start.
   */
  encryptionKey: Buffer | undefined;
  /** Keys that only decrypt, while `rotate-encryption-key` moves values to the current key. COORDINATOR_OLD_ENCRYPTION_KEYS (comma-separated base64). */
  oldEncryptionKeys: Buffer[];
  /**
   * The queue-size reporter for cloud autoscaling (autoscaling/): the original's EXECUTOR_METRIC_*
   * variables; off unless EXECUTOR_METRIC_AWS_NAMESPACE or EXECUTOR_METRIC_GCP_PROJECT_ID is set.
   */
  autoscaling: AutoscalingConfig;
}

type Env = Record<string, string | undefined>;

export function loadCoordinatorConfig(env: Env = process.env, cwd = process.cwd()): CoordinatorConfig {
  const problems: string[] = [];
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v === '' ? undefined : v;
  };
  const duration = (name: string, fallback: string, { allowZero = false } = {}) => {
    const raw = get(name) ?? fallback;
    try {
      const ms = parseGoDurationMs(raw);
      if (ms < 0 || (!allowZero && ms === 0)) throw new Error(`must be ${allowZero ? 'zero or positive' : 'positive'}`);
      return ms;
    } catch (err) {
      problems.push(`${name}=${JSON.stringify(raw)}: ${(err as Error).message}`);
      return 0;
    }
  };
  const integer = (name: string, fallback: number, min: number) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || n < min) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer >= ${min}`);
      return fallback;
    }
    return n;
  };

  const addr = get('COORDINATOR_ADDR') ?? '127.0.0.1:3080';
  const addrMatch = /^(.*):(\d{1,5})$/.exec(addr);
  const listenPort = addrMatch ? Number(addrMatch[2]) : NaN;
  if (!addrMatch || listenPort > 65535) problems.push(`COORDINATOR_ADDR=${JSON.stringify(addr)}: expected host:port, e.g. 127.0.0.1:3080 or 0.0.0.0:3080`);
  const listenHost = (addrMatch?.[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';

  const databaseUrl = get('COORDINATOR_DATABASE_URL');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('COORDINATOR_DATABASE_URL: expected a postgres:// or postgresql:// URL (leave it unset for the embedded database)');
  }

  const tokenProblem = (name: string, value: string | undefined) => {
    if (value !== undefined && value.length < MIN_ACCESS_TOKEN_LENGTH) {
      problems.push(`${name}: must be at least ${MIN_ACCESS_TOKEN_LENGTH} characters long (it is ${value.length}); generate one with: openssl rand -hex 32`);
    }
  };
  const executorsAccessToken = get('COORDINATOR_EXECUTORS_ACCESS_TOKEN');
  tokenProblem('COORDINATOR_EXECUTORS_ACCESS_TOKEN', executorsAccessToken);
  const adminToken = get('COORDINATOR_ADMIN_TOKEN');
  tokenProblem('COORDINATOR_ADMIN_TOKEN', adminToken);

  let queues: QueueConfig[] = [];
  try {
    queues = parseQueueSpecs(get('COORDINATOR_QUEUES') ?? 'batches:4:50,codeintel:1:250');
  } catch (err) {
    problems.push(`COORDINATOR_QUEUES: ${(err as Error).message}`);
  }

  let maxBodyBytes = 16 * 1024 * 1024;
  const rawBody = get('COORDINATOR_MAX_BODY_SIZE');
  if (rawBody !== undefined) {
    try {
      maxBodyBytes = parseByteSize(rawBody);
      if (maxBodyBytes < 1024) throw new Error('must be at least 1KiB');
    } catch (err) {
      problems.push(`COORDINATOR_MAX_BODY_SIZE=${JSON.stringify(rawBody)}: ${(err as Error).message}`);
    }
  }

  const logLevel = (get('COORDINATOR_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) problems.push(`COORDINATOR_LOG_LEVEL=${JSON.stringify(logLevel)}: expected debug, info, warn or error`);

  const tlsFiles = { certFile: get('COORDINATOR_TLS_CERT_FILE'), keyFile: get('COORDINATOR_TLS_KEY_FILE') };
  let tls: CoordinatorConfig['tls'];
  if ((tlsFiles.certFile === undefined) !== (tlsFiles.keyFile === undefined)) {
    problems.push('COORDINATOR_TLS_CERT_FILE and COORDINATOR_TLS_KEY_FILE: set both to serve HTTPS, or neither for plain HTTP');
  } else if (tlsFiles.certFile !== undefined && tlsFiles.keyFile !== undefined) {
    tls = loadTlsFiles(path.resolve(cwd, tlsFiles.certFile), path.resolve(cwd, tlsFiles.keyFile), problems);
  }

  const encryptionKeyProblem = (name: string, raw: string): Buffer | undefined => {
    const key = Buffer.from(raw, 'base64');
    if (/^[A-Za-z0-9+/]+={0,2}$/.test(raw) && key.length === 32) return key;
    // Never echo the value: it is the key.
    problems.push(`${name}: expected 32 random bytes in base64 (44 characters, e.g. from \`openssl rand -base64 32\`); got ${raw.length} characters`);
    return undefined;
  };
  const rawEncryptionKey = get('COORDINATOR_ENCRYPTION_KEY');
  const encryptionKey = rawEncryptionKey === undefined ? undefined : encryptionKeyProblem('COORDINATOR_ENCRYPTION_KEY', rawEncryptionKey);
  const oldEncryptionKeys = (get('COORDINATOR_OLD_ENCRYPTION_KEYS') ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .flatMap((raw, i) => encryptionKeyProblem(`COORDINATOR_OLD_ENCRYPTION_KEYS (key ${i + 1})`, raw) ?? []);

  const config: CoordinatorConfig = {
    listenHost,
    listenPort,
    dataDir: path.resolve(cwd, get('COORDINATOR_DATA_DIR') ?? '.data/coordinator'),
    databaseUrl,
    executorsAccessToken,
    adminToken,
    queues,
    stalledJobMaxAgeMs: duration('COORDINATOR_STALLED_JOB_MAX_AGE', '25s'),
    maxNumResets: integer('COORDINATOR_MAX_NUM_RESETS', 3, 0),
    // The original resets every 1m; 5s costs one indexed statement and finds a dead executor's job
    // within ~30 s instead of up to 85 s.
    resetterIntervalMs: duration('COORDINATOR_RESETTER_INTERVAL', '5s'),
    maxNumRetries: integer('COORDINATOR_MAX_NUM_RETRIES', 0, 0),
    retryAfterMs: duration('COORDINATOR_RETRY_AFTER', '1m', { allowZero: true }),
    statisticsIntervalMs: duration('COORDINATOR_STATISTICS_INTERVAL', '10s'),
    executorRecordMaxAgeMs: duration('COORDINATOR_EXECUTOR_RECORD_MAX_AGE', '168h'),
    executorCleanupIntervalMs: duration('COORDINATOR_EXECUTOR_CLEANUP_INTERVAL', '30m'),
    multiQueueDequeueTtlMs: duration('COORDINATOR_MULTIQUEUE_DEQUEUE_TTL', '5m'),
    maxDequeueWaitMs: duration('COORDINATOR_MAX_DEQUEUE_WAIT', '30s', { allowZero: true }),
    maxBodyBytes,
    logLevel,
    tls,
    encryptionKey,
    oldEncryptionKeys,
    autoscaling: loadAutoscalingConfig(get, problems, cwd),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Reads the certificate and key and checks that they are PEM and belong together; a problem per failure. */
function loadTlsFiles(certFile: string, keyFile: string, problems: string[]): CoordinatorConfig['tls'] {
  const read = (name: string, file: string): Buffer | undefined => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      problems.push(`${name}=${JSON.stringify(file)}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  };
  const cert = read('COORDINATOR_TLS_CERT_FILE', certFile);
  const key = read('COORDINATOR_TLS_KEY_FILE', keyFile);
  if (!cert || !key) return undefined;
  try {
    // Fails for a file that is not PEM, and for a key that does not match the certificate.
    tlsModule.createSecureContext({ cert, key });
  } catch (err) {
    // OpenSSL's message names the problem (e.g. "key values mismatch"); it never quotes the key.
    problems.push(`COORDINATOR_TLS_CERT_FILE=${JSON.stringify(certFile)} and COORDINATOR_TLS_KEY_FILE=${JSON.stringify(keyFile)}: not a usable certificate and key: ${(err as Error).message}`);
    return undefined;
  }
  return { cert, key, certFile, keyFile };
}
