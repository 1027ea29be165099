// The coordinator's HTTP server: routing, the one error handler, request metrics, /metrics and /healthz.
// Errors answer in the shape of the part of the site they happen in: the executor API keeps the bodies
// the original protocol fixes, the admin API answers JSON `{"error", "field"?}`, the web UI HTML pages.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { addAdminRoutes } from './admin-routes.js';
import { addBatchChangeRoutes } from './batch-change-routes.js';
import { addBatchResultRoutes } from './batch-result-routes.js';
import { addChangesetRoutes } from './changeset-routes.js';
import { addCodeIntelRoutes } from './codeintel-routes.js';
import { addCodeIntelUploadRoutes } from './codeintel-upload-routes.js';
import { addExecutorRoutes } from './executor-routes.js';
import { AppError } from '../../shared/errors.js';
import { constantTimeEquals } from './constant-time.js';
import { clientErrorStatus, fieldError, HttpError } from './http-error.js';
import { addJobResourceRoutes } from './job-resource-routes.js';
import { addSecretRoutes } from './secret-routes.js';
import { addUserRoutes } from './user-routes.js';
import { errorPage } from '../ui/error-page.js';
import { addUiRoutes } from '../ui/ui-routes.js';
import { currentSession } from '../ui/ui-session.js';
import { RequestBodyError } from './request-body.js';
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
    addCodeIntelUploadRoutes(router, s);
    addCodeIntelRoutes(router, s);
    addBatchResultRoutes(router, s);
    addBatchChangeRoutes(router, s);
    if (s.changesets) addChangesetRoutes(router, s, s.changesets);
    addUiRoutes(router, s);
  }
  if (which === 'metrics' || s.config.metricsListen === undefined) addMetricsRoute(router, s);
  router.add('GET', '/healthz', 'healthz', async () => {
    await s.jobs.queuesWithQueuedJobs([]);
    return { status: 200, body: 'ok' };
  });
  return router;
}

/**
 * A NUL in a path or query parameter (`%00`) would reach PostgreSQL, which cannot store it in text and
 * answers an error: refuse it here, naming the parameter.
 */
function refuseNul(url: URL, params: Record<string, string>): void {
  for (const [name, value] of [...Object.entries(params), ...url.searchParams.entries()]) {
    if (value.includes('\u0000')) throw fieldError(400, name, `${name} must not contain NUL (%00)`);
  }
}

/** Which part of the site a path is in: it decides how errors are answered. */
export type RouteFamily = 'executor' | 'api' | 'ui';

export function routeFamily(pathname: string): RouteFamily {
  // `/.api/` is the original's upload API for src (code intelligence): its bodies are the protocol's, as for executors.
  if (pathname.startsWith('/.executors/') || pathname.startsWith('/.api/')) return 'executor';
  if (pathname.startsWith('/api/') || pathname === '/api' || pathname === '/metrics' || pathname === '/healthz') return 'api';
  return 'ui';
}

/** The message of an error body: a text body, or the `error` of a JSON one; the status's name for none. */
function messageOf(err: HttpError): string {
  if (typeof err.body === 'string') return err.body || (http.STATUS_CODES[err.status] ?? `HTTP ${err.status}`);
  const error = (err.body as { error?: unknown }).error;
  return typeof error === 'string' ? error : (http.STATUS_CODES[err.status] ?? `HTTP ${err.status}`);
}

/**
 * The reply for an HttpError on a route of `family`. Executor routes: the body as thrown (the protocol's
 * text, `{"error": …}`, or none), and a body error's text (`Failed to unmarshal payload: …`). Admin API:
 * always JSON, a text body becoming `{"error": text}`. Web UI: an HTML page, redirects kept.
 */
async function errorReply(err: HttpError, family: RouteFamily, ctx: Pick<RequestContext, 'req' | 'res' | 'url' | 'params' | 'signal'>, s: HttpServices): Promise<NonNullable<Reply>> {
  if (family === 'executor') {
    return { status: err.status, body: err instanceof RequestBodyError ? err.text : err.body, headers: err.headers };
  }
  if (family === 'api' || (err.status >= 300 && err.status < 400)) {
    const body = typeof err.body === 'string' ? (err.status >= 400 ? { error: messageOf(err) } : err.body) : err.body;
    return { status: err.status, body, headers: err.headers };
  }
  const session = await currentSession(ctx as RequestContext, s).catch(() => undefined);
  const reply = errorPage(err.status, messageOf(err), session)!;
  return { ...reply, headers: { ...reply.headers, ...err.headers } };
}

export interface CoordinatorHttpServer {
  server: http.Server;
  /** `http://host:port` as actually bound (port 0 picks a free one). */
  url: string;
  /** Stops accepting, waits for in-flight requests, then closes idle keep-alive sockets. Idempotent. */
  close(): Promise<void>;
}

/** A bound listener that answers 503 until `serve` gives it the routes. */
export interface ListeningHttpServer extends CoordinatorHttpServer {
  /** Starts answering with the coordinator's routes over `s`. */
  serve(s: HttpServices): void;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Which routes `serve` answers: the main address's, or COORDINATOR_METRICS_ADDR's (/metrics, /healthz). Default `main`. */
  routes?: 'main' | 'metrics';
}

/** The variable that sets the address a listener binds, for its error messages. */
function addressVariable(options: ListenOptions): string {
  return options.routes === 'metrics' ? 'COORDINATOR_METRICS_ADDR' : 'COORDINATOR_ADDR';
}

/** Why listening failed, in words that name the address and the variable that sets it. */
function listenError(err: NodeJS.ErrnoException, options: ListenOptions): AppError {
  const variable = addressVariable(options);
  const address = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const why =
    err.code === 'EADDRINUSE'
      ? `the address is already in use (another coordinator, or another program): stop it, or set ${variable} to a free host:port`
      : err.code === 'EACCES'
        ? `permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE): set ${variable} to a port above 1023`
        : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
          ? `this machine has no such address: set ${variable} to one of its addresses (127.0.0.1, 0.0.0.0 for all)`
          : `${err.message}: check ${variable}`;
  return new AppError('http.listen_failed', `cannot listen on ${address} (${variable}): ${why}`, { cause: err });
}

/**
 * Binds the address first, before the database is opened or anything is written: a busy port is one
 * line naming it, and nothing was created for nothing. Until `serve`, requests get 503 (executors retry).
 * Throws AppError `http.listen_failed`.
 */
export async function listenHttpServer(options: ListenOptions): Promise<ListeningHttpServer> {
  let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => {
    const body = JSON.stringify({ error: 'the coordinator is starting; try again in a moment' });
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', 'content-length': String(Buffer.byteLength(body)) }).end(body);
  };
  const server = options.tls
    ? (await import('node:https')).createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => handler(req, res))
    : http.createServer((req, res) => handler(req, res));
  // requestTimeout bounds receiving a request (a body trickled forever), not the long-poll wait that
  // follows it, so Node's 300 s default stays. Idle keep-alive sockets live a little longer than the
  // usual 60 s of a load balancer in front, so it closes them first.
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, options)));
    server.listen(options.port, options.host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
    serve(s) {
      const handle = requestHandler(s, options.routes ?? 'main');
      handler = (req, res) => void handle(req, res);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/** Listens and serves at once (tests and tools that have their services ready). */
export async function startHttpServer(s: HttpServices, options: ListenOptions): Promise<CoordinatorHttpServer> {
  const listening = await listenHttpServer(options);
  listening.serve(s);
  return listening;
}

function requestHandler(s: HttpServices, routes: 'main' | 'metrics'): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const router = createRouter(s, routes);
  return async (req: http.IncomingMessage, res: http.ServerResponse) => {
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
    // Every answer, streamed ones too: no browser guesses a type (a job's output served as text stays
    // text), and no page of this coordinator is shown in another site's frame.
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-frame-options', 'DENY');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://coordinator');
    } catch {
      url = new URL('http://coordinator/.invalid-request-target');
    }
    const family = routeFamily(url.pathname);
    const ctx: RequestContext = {
      req,
      res,
      url,
      params: {},
      get signal() {
        return signalOf();
      },
    };
    try {
      const match = router.match(req.method ?? 'GET', url.pathname);
      if (!match) {
        throw family === 'ui'
          ? new HttpError(404, `There is no page at ${url.pathname}.`)
          : new HttpError(404, { error: `no route for ${req.method} ${url.pathname}` });
      }
      if ('methodNotAllowed' in match) throw new HttpError(405, { error: `${req.method} is not allowed here; use ${match.methodNotAllowed.join(', ')}` }, { allow: match.methodNotAllowed.join(', ') });
      routeName = match.route.name;
      refuseNul(url, match.params);
      ctx.params = match.params;
      const reply = await match.route.handler(ctx);
      if (reply) send(res, reply);
    } catch (err) {
      const clientStatus = err instanceof AppError ? clientErrorStatus(err.code) : undefined;
      if (err instanceof HttpError) {
        send(res, await errorReply(err, family, ctx, s));
      } else if (clientStatus !== undefined) {
        // The caller's mistake, said in the store's words (they name fields, never secret values).
        const appError = err as AppError;
        if (family === 'ui') send(res, await errorReply(new HttpError(clientStatus, appError.message), family, ctx, s));
        else send(res, { status: clientStatus, body: { error: appError.message, code: appError.code } });
      } else {
        // Unexpected: log it whole, send nothing of it.
        s.logger.error('request failed', { method: req.method, path: req.url?.split('?')[0], route: routeName, err: (err as Error)?.stack ?? String(err) });
        if (res.headersSent) res.destroy();
        else if (family === 'ui') send(res, errorPage(500, 'Something went wrong on the coordinator; its log says what.')!);
        else send(res, { status: 500, body: { error: 'internal error; see the coordinator log' } });
      }
    } finally {
      const observe = () =>
        s.metrics.requestDurationSeconds.observe({ route: routeName, method: req.method ?? '', status: String(res.statusCode) }, (performance.now() - started) / 1000);
      if (res.writableFinished) observe();
      else res.once('close', observe);
    }
  };
}
