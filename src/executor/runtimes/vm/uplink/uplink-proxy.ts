// The executor's end of a vm job's uplink (uplink-network.ts): an HTTP proxy on the job's UNIX socket,
// served for the job's lifetime, that forwards the coordinator's upload routes — and nothing else — to the
// coordinator this executor talks to (EXECUTOR_FRONTEND_URL, trusting the CA certificates the executor's
// own client trusts). The guest is untrusted: a step runs as root in it and can send anything here.
// - Only POST and HEAD of /.executors/scip/upload, /.executors/lsif/upload and /.executors/batches/results
//   (with any query string) pass, compared as the raw request path: no decoding, no dot segments, no
//   absolute-form target; anything else gets a 403 with a text that says what is forwarded.
// - The request must carry the running job's own token (`Authorization: Bearer <token>`), as the upload
//   steps do (SRC_HEADER_AUTHORIZATION): the coordinator checks the token too, but the proxy makes sure one
//   job's guest cannot use the route with another credential — another job's token it learned, or the
//   executor's shared password (`token-executor`), which the coordinator also accepts on these routes.
//   The job id and executor name headers are set to this job's, whatever the guest sent, and no other
//   `X-Sourcegraph-*` header of the guest's passes (the actor header the git proxy sets, say).
// - Bodies stream both ways (an index can be gigabytes; never whole in memory); nothing bounds a request's
//   time but the job: closing the proxy at teardown ends every connection.
// - At most UPLINK_MAX_CONNECTIONS connections at a time (src uploads one request after the other): each
//   guest connection is a socat process on the host, and one over the bound is closed at once, which ends
//   its socat — so a step opening connections in a loop cannot pile up processes on the host.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream';
import tls from 'node:tls';
import { EXECUTOR_LSIF_UPLOAD_ROUTE, EXECUTOR_SCIP_UPLOAD_ROUTE } from '../../../../protocol/codeintel-upload.js';
import { BATCH_RESULTS_ROUTE } from '../../../../protocol/batch-execution.js';
import { EXECUTOR_NAME_HEADER, JOB_ID_HEADER, JOB_TOKEN_SCHEME } from '../../../../protocol/headers.js';
import { AppError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/logger.js';
import { checkSocketPath } from '../guest/qemu-vm.js';
import { connectionListed, HOP_BY_HOP_HEADERS, relayResponse } from '../../../http-forwarding.js';

/** The routes the uplink forwards, exactly (their query strings pass as they are). */
export const UPLINK_ROUTES: readonly string[] = [EXECUTOR_SCIP_UPLOAD_ROUTE, EXECUTOR_LSIF_UPLOAD_ROUTE, BATCH_RESULTS_ROUTE];
const UPLINK_METHODS = new Set(['POST', 'HEAD']);
/** The executor API's own headers (job, executor, actor): the proxy sets the ones it forwards. */
const SOURCEGRAPH_HEADER_PREFIX = 'x-sourcegraph-';
/** Connections from one guest served at a time; more are closed as they come. */
export const UPLINK_MAX_CONNECTIONS = 8;

/** Never forwarded either way (RFC 9110 §7.6.1); `host` is the upstream's own. */

/** What the uplink reaches: the executor's coordinator. */
export interface UplinkUpstream {
  /** EXECUTOR_FRONTEND_URL: `scheme://host[:port]`. Empty: every request gets a 502 saying so. */
  url: string;
  /** Extra CA certificates (PEM) trusted for an https coordinator, on top of Node's roots: the client's. */
  ca?: ReadonlyArray<string | Buffer>;
}

export interface UplinkProxyOptions {
  /** The job's `<run dir>/uplink.sock` (the run directory is private to the executor, 0700). */
  socketPath: string;
  upstream: UplinkUpstream;
  /** The running job: its token is the only credential forwarded; its id and this executor's name are set on every request. */
  job: { id: number; token: string };
  executorName: string;
  logger: Logger;
}

export interface UplinkProxy {
  readonly socketPath: string;
  /** Requests forwarded to the coordinator, and refused, so far. */
  readonly forwarded: number;
  readonly refused: number;
  /** Stops listening, ends every connection (guest and upstream), removes the socket. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the proxy on `socketPath`. Rejects with `vm.socket_path_too_long` for a path Linux cannot bind,
 * and `vm.uplink_failed` when it cannot listen there.
 */
export async function startUplinkProxy(options: UplinkProxyOptions): Promise<UplinkProxy> {
  const { job, logger } = options;
  checkSocketPath(options.socketPath);
  const upstream = options.upstream.url ? new URL(options.upstream.url) : undefined;
  const secure = upstream?.protocol === 'https:';
  const agentOptions: https.AgentOptions = { keepAlive: true };
  // `ca` replaces the default roots, so keep them and add the extras (as the coordinator client does).
  if (secure && options.upstream.ca && options.upstream.ca.length > 0) agentOptions.ca = [...tls.rootCertificates, ...options.upstream.ca];
  const agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const send = secure ? https.request : http.request;
  const expectedAuthorization = job.token ? Buffer.from(`${JOB_TOKEN_SCHEME} ${job.token}`) : undefined;
  let forwarded = 0;
  let refused = 0;

  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, why: string, text: string) => {
    refused++;
    logger.warn('vm uplink: refused a request from the guest', { jobId: job.id, method: req.method, path: (req.url ?? '').split('?')[0]!.slice(0, 200), why });
    req.resume();
    answer(res, 403, `executor uplink: ${text}\n`, { connection: 'close' });
  };

  const server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    const rawUrl = req.url ?? '';
    const query = rawUrl.indexOf('?');
    const rawPath = query < 0 ? rawUrl : rawUrl.slice(0, query);
    if (!UPLINK_METHODS.has(req.method ?? '') || !UPLINK_ROUTES.includes(rawPath)) {
      return refuse(req, res, 'route', `${req.method} ${rawPath.slice(0, 200)} is not forwarded: a vm job reaches only POST and HEAD of ${UPLINK_ROUTES.join(', ')} on the coordinator`);
    }
    if (!expectedAuthorization) return refuse(req, res, 'no job token', `job ${job.id} has no token of its own (an old coordinator); nothing is forwarded for it`);
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expectedAuthorization.length || !crypto.timingSafeEqual(given, expectedAuthorization)) {
      return refuse(req, res, 'credential', `the request's Authorization is not job ${job.id}'s own token (\`${JOB_TOKEN_SCHEME} <job token>\`, as SRC_HEADER_AUTHORIZATION sets it); only that credential is forwarded`);
    }
    if (!upstream) {
      req.resume();
      answer(res, 502, 'executor uplink: this executor has no coordinator URL (EXECUTOR_FRONTEND_URL)\n');
      return;
    }
    forwarded++;
    const headers: http.OutgoingHttpHeaders = {};
    const dropped = connectionListed(req.headers.connection);
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || dropped.has(name) || name.startsWith(SOURCEGRAPH_HEADER_PREFIX)) continue;
      headers[name] = value;
    }
    headers[JOB_ID_HEADER] = String(job.id);
    headers[EXECUTOR_NAME_HEADER] = options.executorName;
    // A chunked request stays chunked upstream (node re-frames a body without content-length).
    const upstreamReq = send({ protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, path: rawUrl, method: req.method, headers, agent });
    upstreamReq.on('response', (upstreamRes) => {
      relayResponse(upstreamRes, res, (err) => logger.debug('vm uplink: response stream ended early', { jobId: job.id, path: rawPath, error: err }));
    });
    upstreamReq.on('error', (err) => {
      logger.warn('vm uplink: the coordinator request failed', { jobId: job.id, upstream: upstream.origin, path: rawPath, error: err });
      if (!res.headersSent) answer(res, 502, `executor uplink: cannot reach the coordinator: ${err.message}\n`);
      else res.destroy(err);
    });
    // The guest went away before the response finished: drop the upstream request too.
    res.once('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    pipeline(req, upstreamReq, (err) => {
      if (err) logger.debug('vm uplink: request stream ended early', { jobId: job.id, path: rawPath, error: err });
    });
  });
  server.maxConnections = UPLINK_MAX_CONNECTIONS;
  server.on('drop', () => {
    refused++;
  });
  server.on('clientError', (_err, socket) => {
    refused++;
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nexecutor uplink: not an HTTP/1.1 request\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new AppError('vm.uplink_failed', `cannot serve the VM uplink on ${options.socketPath}: ${err.message}`, { cause: err })));
    server.listen(options.socketPath, () => resolve());
  });
  await fs.chmod(options.socketPath, 0o600).catch(() => {});
  let closing: Promise<void> | undefined;
  return {
    socketPath: options.socketPath,
    get forwarded() {
      return forwarded;
    },
    get refused() {
      return refused;
    },
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
          agent.destroy();
        });
        await fs.rm(options.socketPath, { force: true }).catch(() => {});
      })();
      return closing;
    },
  };
}

/** A plain-text answer of the proxy's own, with its length (no chunked framing for a small client to undo). */
function answer(res: http.ServerResponse, status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void {
  const body = Buffer.from(text);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, ...headers }).end(body);
}

