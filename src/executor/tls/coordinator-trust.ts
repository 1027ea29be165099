// The CA certificates the executor trusts for its coordinator: loaded once, only for an https URL (a
// plain-http coordinator needs none, and reading the system store costs a few milliseconds at start) —
// and the coordinator client that trusts them.
import type { Logger } from '../../shared/logger.js';
import { CoordinatorClient, type CoordinatorClientOptions } from '../client/coordinator-client.js';
import type { ExecutorConfig } from '../config.js';
import { EXECUTOR_VERSION } from '../worker/telemetry.js';
import { loadTrustedCertificates, type TrustedCertificates } from './trusted-certificates.js';

/** The system's (or SSL_CERT_FILE / SSL_CERT_DIR's) certificates for an https coordinator; undefined for http. */
export function trustedCertificatesFor(config: Pick<ExecutorConfig, 'frontendUrl' | 'caSearch'>): TrustedCertificates | undefined {
  if (!config.frontendUrl.startsWith('https:')) return undefined;
  return loadTrustedCertificates(config.caSearch);
}

/**
 * The coordinator client of `config`: its URL, password, name and queues, trusting the CA certificates
 * found for an https coordinator (returned too, for the caller to log or pass on to git). `options` adds
 * or overrides client options (resources, a request timeout).
 */
export function coordinatorClientFor(
  config: ExecutorConfig,
  logger: Logger,
  options: Partial<CoordinatorClientOptions> = {},
): { client: CoordinatorClient; trust: TrustedCertificates | undefined } {
  const trust = trustedCertificatesFor(config);
  const client = new CoordinatorClient({
    ca: trust?.pems,
    trustDescription: trust?.describe(),
    baseUrl: config.frontendUrl,
    password: config.frontendPassword,
    executorName: config.name,
    executorVersion: EXECUTOR_VERSION,
    queues: config.queueNames,
    logger,
    ...options,
  });
  return { client, trust };
}
