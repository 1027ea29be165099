// The code-intelligence settings of the coordinator, from COORDINATOR_CODEINTEL_* variables (read by
// loadCoordinatorConfig, which reports every problem at once).
import { parseByteSize } from '../../shared/byte-size.js';
import { parseGoDurationMs } from '../../shared/go-duration.js';
import { DEFAULT_SRC_CLI_IMAGE, parseIndexerMap } from './indexer-map.js';

export interface CodeIntelConfig {
  /** How often auto-indexing policies are evaluated. COORDINATOR_CODEINTEL_SCHEDULER_INTERVAL, default 1m. */
  schedulerIntervalMs: number;
  /** Queued or processing index jobs one repository may have; more are not scheduled. COORDINATOR_CODEINTEL_MAX_QUEUED_JOBS_PER_REPOSITORY, default 10. */
  maxQueuedJobsPerRepository: number;
  /** A (repository, root, indexer) whose last N jobs failed with one configuration is not scheduled again until it changes. COORDINATOR_CODEINTEL_MAX_CONSECUTIVE_FAILURES, default 3. */
  maxConsecutiveFailures: number;
  /** The largest upload accepted (all parts), compressed. COORDINATOR_CODEINTEL_MAX_UPLOAD_SIZE, default 2GiB. */
  maxUploadBytes: number;
  /** The upload step's image. COORDINATOR_CODEINTEL_SRC_CLI_IMAGE, default executors-src-cli:<version>. */
  srcCliImage: string;
  /** The URL the upload step sends to (SRC_ENDPOINT). COORDINATOR_CODEINTEL_FRONTEND_URL; default the site's frontend URL, else this coordinator's address. */
  frontendUrl: string | undefined;
  /** SRC_PROXY of the upload step: a UNIX socket the step reaches the coordinator through (e.g. one mounted into its container). COORDINATOR_CODEINTEL_SRC_PROXY. */
  srcProxy: string | undefined;
  /** Fixes the site setting codeIntelAutoIndexing.indexerMap (JSON). COORDINATOR_CODEINTEL_INDEXER_MAP. */
  indexerMap: string | undefined;
}

export function loadCodeIntelConfig(get: (name: string) => string | undefined, problems: string[]): CodeIntelConfig {
  const duration = (name: string, fallback: string) => {
    const raw = get(name) ?? fallback;
    try {
      const ms = parseGoDurationMs(raw);
      if (ms <= 0) throw new Error('must be positive');
      return ms;
    } catch (err) {
      problems.push(`${name}=${JSON.stringify(raw)}: ${(err as Error).message}`);
      return 60_000;
    }
  };
  const integer = (name: string, fallback: number, min: number) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer >= ${min}`);
      return fallback;
    }
    return Number(raw);
  };
  let maxUploadBytes = 2 * 1024 ** 3;
  const rawMax = get('COORDINATOR_CODEINTEL_MAX_UPLOAD_SIZE');
  if (rawMax !== undefined) {
    try {
      maxUploadBytes = parseByteSize(rawMax);
    } catch (err) {
      problems.push(`COORDINATOR_CODEINTEL_MAX_UPLOAD_SIZE=${JSON.stringify(rawMax)}: ${(err as Error).message}`);
    }
  }
  const frontendUrl = get('COORDINATOR_CODEINTEL_FRONTEND_URL');
  if (frontendUrl !== undefined && !/^https?:\/\/[^/]+\/?$/.test(frontendUrl)) {
    problems.push(`COORDINATOR_CODEINTEL_FRONTEND_URL=${JSON.stringify(frontendUrl)}: expected scheme://host[:port] (no path), the address index jobs reach this coordinator at`);
  }
  const indexerMap = get('COORDINATOR_CODEINTEL_INDEXER_MAP');
  const parsedMap = parseIndexerMap(indexerMap);
  if (!parsedMap.ok) problems.push(`COORDINATOR_CODEINTEL_INDEXER_MAP: ${parsedMap.error}`);
  return {
    schedulerIntervalMs: duration('COORDINATOR_CODEINTEL_SCHEDULER_INTERVAL', '1m'),
    maxQueuedJobsPerRepository: integer('COORDINATOR_CODEINTEL_MAX_QUEUED_JOBS_PER_REPOSITORY', 10, 1),
    maxConsecutiveFailures: integer('COORDINATOR_CODEINTEL_MAX_CONSECUTIVE_FAILURES', 3, 1),
    maxUploadBytes,
    srcCliImage: get('COORDINATOR_CODEINTEL_SRC_CLI_IMAGE') ?? DEFAULT_SRC_CLI_IMAGE,
    frontendUrl: frontendUrl?.replace(/\/$/, ''),
    srcProxy: get('COORDINATOR_CODEINTEL_SRC_PROXY'),
    indexerMap,
  };
}
