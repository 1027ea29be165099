// The coordinator's HTTP server: routing, the one error handler, request metrics, /metrics and /healthz.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { addAdminRoutes } from './admin-routes.js';
import { addExecutorRoutes } from './executor-routes.js';
import { AppError } from '../../shared/errors.js';
import { constantTimeEquals } from './constant-time.js';
import { clientErrorStatus, HttpError } from './http-error.js';
import { addJobResourceRoutes } from './job-resource-routes.js';
import { addSecretRoutes } from './secret-routes.js';
import { addUserRoutes } from './user-routes.js';
import { addUiRoutes } from '../ui/ui-routes.js';
import { Router, type Reply, type RequestContext } from './router.js';
import type { HttpServices } from './services.js';

function send(res: http.ServerResponse, reply: NonNullable<Reply>): void {
  if (res.headersSent) return;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.headers ?? {})) if (v !== undefined) headers[k] = v;
  let payload: string | Buffer | undefined;
  if (reply.body === undefined || reply.body === '' || reply.status === 204) {
    payload = undefined;
  } else if (typeof reply.body === 'number') {
    // addExecutionLogEntry answers a bare JSON integer (reference §2.4).
    payload = String(reply.body);
    headers['content-type'] ??= 'application/json';
  } else if (typeof reply.body === 'string') {
    payload = reply.body;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (Buffer.isBuffer(reply.body)) {
    payload = reply.body;
  } else {
    payload = JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json';
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/**
 * Writes `chunks` as the body, waiting for the socket to drain between them: a slow scraper holds a few
 * of the cached buffers, never a copy of the whole page. Stops when the client goes away.
 */
async function writeChunks(res: http.ServerResponse, status: number, headers: Record<string, string>, chunks: ReadonlyArray<string | Buffer>): Promise<void> {
  const bytes = chunks.reduce((sum, chunk) => sum + (typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length), 0);
  res.writeHead(status, { ...headers, 'content-length': String(bytes) });
  for (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  res.end();
}

/** `GET /metrics`: behind COORDINATOR_METRICS_TOKEN when it is set; the forwarded families from their cache. */
function addMetricsRoute(router: Router, s: HttpServices): void {
  const token = s.config.metricsToken;
  router.add('GET', '/metrics', 'metrics', async (ctx) => {
    if (token !== undefined) {
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(ctx.req.headers.authorization ?? '')?.[1] ?? '';
      if (!constantTimeEquals(presented, token)) {
        throw new HttpError(401, 'unauthorized: /metrics needs Authorization: Bearer <COORDINATOR_METRICS_TOKEN>', { 'www-authenticate': 'Bearer realm="metrics"' });
      }
    }
    const page = await s.metrics.render();
    await writeChunks(ctx.res, 200, { 'content-type': s.metrics.contentType }, [page.own, ...page.forwarded.chunks]);
    return undefined;
  });
}

/**
 * The routes of the main address (`main`), or of COORDINATOR_METRICS_ADDR (`metrics`: /metrics and
 * /healthz only). With a metrics address, the main one does not serve /metrics.
 */
export function createRouter(s: HttpServices, which: 'main' | 'metrics' = 'main'): Router {
  const router = new Router();
  if (which === 'main') {
    addExecutorRoutes(router, s);
    addJobResourceRoutes(router, s);
    addAdminRoutes(router, s);
    addUserRoutes(router, s);
    addSecretRoutes(router, s);
    addUiRoutes(router, s);
  }
  if (which === 'metrics' || s.config.metricsListen === undefined) addMetricsRoute(router, s);
  router.add('GET', '/healthz', 'healthz', async () => {
    await s.jobs.queuesWithQueuedJobs([]);
    return { status: 200, body: 'ok' };
  });
  return router;
}

export interface CoordinatorHttpServer {
  server: http.Server;
  /** `http://host:port` as actually bound (port 0 picks a free one). */
  url: string;
  /** Stops accepting, waits for in-flight requests, then closes idle keep-alive sockets. Idempotent. */
  close(): Promise<void>;
}

export async function startHttpServer(
  s: HttpServices,
  options: { host: string; port: number; tls?: { cert: Buffer; key: Buffer }; routes?: 'main' | 'metrics' },
): Promise<CoordinatorHttpServer> {
  const router = createRouter(s, options.routes);
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = performance.now();
    let routeName = 'unknown';
    // Most requests never look at the signal; making one (and its AbortError) per request shows in profiles.
    let abort: AbortController | undefined;
    const signalOf = () => {
      if (!abort) {
        const controller = (abort = new AbortController());
        if (res.closed) controller.abort();
        else res.once('close', () => res.writableFinished || controller.abort());
      }
      return abort.signal;
    };
    try {
      const url = new URL(req.url ?? '/', 'http://coordinator');
      const match = router.match(req.method ?? 'GET', url.pathname);
      if (!match) throw new HttpError(404, { error: `no route for ${req.method} ${url.pathname}` });
      if ('methodNotAllowed' in match) throw new HttpError(405, { error: `${req.method} is not allowed here; use ${match.methodNotAllowed.join(', ')}` }, { allow: match.methodNotAllowed.join(', ') });
      routeName = match.route.name;
      const ctx: RequestContext = {
        req,
        res,
        url,
        params: match.params,
        get signal() {
          return signalOf();
        },
      };
      const reply = await match.route.handler(ctx);
      if (reply) send(res, reply);
    } catch (err) {
      const clientStatus = err instanceof AppError ? clientErrorStatus(err.code) : undefined;
      if (err instanceof HttpError) {
        send(res, { status: err.status, body: err.body, headers: err.headers });
      } else if (clientStatus !== undefined) {
        // The caller's mistake, said in the store's words (they name fields, never secret values).
        send(res, { status: clientStatus, body: { error: (err as AppError).message, code: (err as AppError).code } });
      } else {
        // Unexpected: log it whole, send nothing of it.
        s.logger.error('request failed', { method: req.method, path: req.url?.split('?')[0], route: routeName, err: (err as Error)?.stack ?? String(err) });
        if (res.headersSent) res.destroy();
        else send(res, { status: 500, body: { error: 'internal error; see the coordinator log' } });
      }
    } finally {
      const observe = () =>
        s.metrics.requestDurationSeconds.observe({ route: routeName, method: req.method ?? '', status: String(res.statusCode) }, (performance.now() - started) / 1000);
      if (res.writableFinished) observe();
      else res.once('close', observe);
    }
  };

  const server = options.tls
    ? (await import('node:https')).createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => void handle(req, res))
    : http.createServer((req, res) => void handle(req, res));
  // requestTimeout bounds receiving a request (a body trickled forever), not the long-poll wait that
  // follows it, so Node's 300 s default stays. Idle keep-alive sockets live a little longer than the
  // usual 60 s of a load balancer in front, so it closes them first.
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
