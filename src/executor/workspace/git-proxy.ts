// A throw-away reverse proxy on 127.0.0.1 through which git clones a job's repository (reference §2.5):
// it adds the job's credentials on the way to `<frontend>/.executors/git`, so git never sees a token.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import tls from 'node:tls';
import type { CoordinatorClient, JobCredentials } from '../client/coordinator-client.js';
import type { Logger } from '../../shared/logger.js';
import { connectionListed, HOP_BY_HOP_HEADERS, relayResponse } from '../http-forwarding.js';

export interface GitProxyOptions {
  /** Supplies the upstream (`gitBaseUrl`) and the headers that authenticate the job (`gitProxyHeaders`). */
  client: Pick<CoordinatorClient, 'gitBaseUrl' | 'gitProxyHeaders'>;
  job: JobCredentials;
  /** The only repository served: request paths must start with `/<repositoryName>/`. */
  repositoryName: string;
  /** Extra CA certificates (PEM) trusted for an https upstream, on top of Node's bundled roots; the client's `ca`. */
  ca?: ReadonlyArray<string | Buffer>;
  logger: Logger;
}

/** A running proxy. */
export interface GitProxy {
  /** The remote URL for git: `http://127.0.0.1:<port>/<repositoryName>`. */
  readonly url: string;
  /** Stops listening and closes every connection, to git and upstream. Idempotent. */
  close(): Promise<void>;
}

/** Never forwarded either way (RFC 9110 §7.6.1); `host` is the upstream's own. */

/**
 * Starts the proxy on a random loopback port. Bodies stream both ways (a pack can be gigabytes); a path
 * outside the repository gets 403 without reaching the coordinator, an unreachable upstream a 502.
 */
export async function startGitProxy(options: GitProxyOptions): Promise<GitProxy> {
  const { repositoryName, logger } = options;
  if (!repositoryName) throw new Error('startGitProxy: repositoryName must not be empty');
  const upstream = new URL(options.client.gitBaseUrl());
  const upstreamPathPrefix = upstream.pathname.replace(/\/+$/, '');
  const authHeaders = options.client.gitProxyHeaders(options.job);
  const injected = new Set(Object.keys(authHeaders).map((name) => name.toLowerCase()));
  injected.add('authorization');

  const secure = upstream.protocol === 'https:';
  const agentOptions: https.AgentOptions = { keepAlive: true };
  // `ca` replaces the default roots, so keep them and add the extras (as the coordinator client does).
  if (secure && options.ca && options.ca.length > 0) agentOptions.ca = [...tls.rootCertificates, ...options.ca];
  const agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const send = secure ? https.request : http.request;

  const server = http.createServer((req, res) => {
    const rawUrl = req.url ?? '/';
    if (!isRepositoryPath(rawUrl, repositoryName)) {
      // Not a security boundary (the coordinator scopes the token to the repository); it catches our
      // own mistakes early, as the reference's proxy does.
      logger.warn('git proxy refused a path outside the job repository', { method: req.method, path: rawUrl.split('?')[0], repository: repositoryName });
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(`only ${repositoryName} is served here\n`);
      return;
    }
    const headers: http.OutgoingHttpHeaders = {};
    const dropped = connectionListed(req.headers.connection);
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || injected.has(name) || dropped.has(name)) continue;
      headers[name] = value;
    }
    Object.assign(headers, authHeaders);

    const upstreamReq = send({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      path: upstreamPathPrefix + rawUrl,
      method: req.method,
      headers,
      agent,
    });
    upstreamReq.on('response', (upstreamRes) => {
      relayResponse(upstreamRes, res, (err) => logger.debug('git proxy response stream ended early', { path: rawUrl.split('?')[0], error: err }));
    });
    upstreamReq.on('error', (err) => {
      logger.debug('git proxy upstream request failed', { upstream: upstream.origin, error: err });
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' }).end(`cannot reach the coordinator: ${err.message}\n`);
      else res.destroy(err);
    });
    // git went away (aborted fetch) before the response finished: drop the upstream request too.
    res.once('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    pipeline(req, upstreamReq, (err) => {
      if (err) logger.debug('git proxy request stream ended early', { path: rawUrl.split('?')[0], error: err });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/${repositoryName}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return closing;
    },
  };
}

/**
 * Whether a request target is inside `/<repositoryName>/`, judged on the decoded path, and holds no
 * `.`/`..` segment that could climb out of it further along.
 */
export function isRepositoryPath(rawUrl: string, repositoryName: string): boolean {
  const query = rawUrl.indexOf('?');
  const rawPath = query < 0 ? rawUrl : rawUrl.slice(0, query);
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return false;
  }
  if (!decoded.startsWith(`/${repositoryName}/`)) return false;
  return !decoded.split('/').some((segment) => segment === '.' || segment === '..');
}

