// `coordinator healthcheck`: asks the coordinator this configuration describes for GET /healthz, so a
// container's HEALTHCHECK (or a systemd watchdog, a load balancer script) needs no curl in the image.
import http from 'node:http';
import https from 'node:https';
import type { CoordinatorConfig } from './config.js';

/** How long the check waits for an answer, in ms: a coordinator that takes longer is not healthy. */
const HEALTH_CHECK_TIMEOUT_MS = 5000;

/**
 * Resolves to undefined when `/healthz` answers 200 (the database answered too), else to what went
 * wrong. A wildcard listen address is asked on loopback. Over HTTPS the certificate is not verified:
 * this checks that the process serves, on the same host, not whom to trust.
 */
export async function checkHealth(config: Pick<CoordinatorConfig, 'listenHost' | 'listenPort' | 'tls'>): Promise<string | undefined> {
  const wildcard = config.listenHost === '0.0.0.0' || config.listenHost === '::' || config.listenHost === '';
  const host = wildcard ? (config.listenHost === '::' ? '::1' : '127.0.0.1') : config.listenHost;
  const client = config.tls ? https : http;
  const url = `${config.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${config.listenPort}/healthz`;
  return new Promise((resolve) => {
    const req = client.get(url, { timeout: HEALTH_CHECK_TIMEOUT_MS, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? undefined : `${url} answered ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve(`${url}: ${err.message}`));
  });
}
