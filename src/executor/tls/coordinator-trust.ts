// The CA certificates the executor trusts for its coordinator: loaded once, only for an https URL (a
// plain-http coordinator needs none, and reading the system store costs a few milliseconds at start).
import type { ExecutorConfig } from '../config.js';
import { loadTrustedCertificates, type TrustedCertificates } from './trusted-certificates.js';

/** The system's (or SSL_CERT_FILE / SSL_CERT_DIR's) certificates for an https coordinator; undefined for http. */
export function trustedCertificatesFor(config: Pick<ExecutorConfig, 'frontendUrl' | 'caSearch'>): TrustedCertificates | undefined {
  if (!config.frontendUrl.startsWith('https:')) return undefined;
  return loadTrustedCertificates(config.caSearch);
}
