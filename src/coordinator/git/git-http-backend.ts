// Serves one bare repository read-only over git smart HTTP by running the real `git http-backend` CGI.
// Only upload-pack (clone/fetch) is reachable: push and dumb HTTP are refused before anything is spawned.

import { spawn } from 'node:child_process';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Logger } from '../../shared/logger.js';

/** The two smart-HTTP endpoints of upload-pack; the router picks one from the request path. */
export type GitHttpService = 'info/refs' | 'git-upload-pack';

export interface ServeGitUploadPackOptions {
  /** Absolute path of an existing bare repository, e.g. `<data>/repositories/github.com/foo/bar.git`. */
  repositoryDir: string;
  service: GitHttpService;
  logger: Logger;
  /** The git executable to run; default `git` from PATH. Tests substitute stand-in scripts. */
  gitBinary?: string;
}

// Passed as command-line-scope config (GIT_CONFIG_COUNT), so it wins over the repository's own config.
const UPLOAD_PACK_CONFIG: ReadonlyArray<readonly [string, string]> = [
  // Jobs fetch a bare commit sha, which need not be a ref tip (and v0 clients need this to ask for it).
  ['uploadpack.allowAnySHA1InWant', 'true'],
  // Sparse checkouts fetch with `--filter=blob:none`; without this the server silently sends every blob.
  ['uploadpack.allowFilter', 'true'],
  ['http.receivepack', 'false'],
];

/** The CGI header block is a few hundred bytes; anything this big is not one. */
const CGI_HEADER_MAX_BYTES = 64 * 1024;
/** How much of the CGI's stderr is kept for the log. */
const STDERR_MAX_BYTES = 4 * 1024;
/** `Git-Protocol: version=2`, possibly with more `:`-separated `key=value` pairs. */
const GIT_PROTOCOL_PATTERN = /^[A-Za-z0-9._=:-]{1,256}$/;

/**
 * Answers one smart-HTTP request for `repositoryDir`: `GET …/info/refs?service=git-upload-pack` or
 * `POST …/git-upload-pack`. Anything else gets a 403 with a plain-text reason. The request body is
 * streamed into `git http-backend` and its output streamed back, so packs are never held in memory.
 * A client that disconnects gets the CGI (and its upload-pack) killed. Never rejects: failures become
 * a 500 (before headers) or an aborted response (after), and are logged.
 * @returns resolves once the response is finished or aborted and the CGI has exited.
 */
export function serveGitUploadPack(
  req: IncomingMessage,
  res: ServerResponse,
  options: ServeGitUploadPackOptions,
): Promise<void> {
  const responseClosed = new Promise<void>((resolve) => res.once('close', () => resolve()));
  const refusal = refusalReason(req, options.service);
  if (refusal !== null) {
    options.logger.debug('git http request refused', { method: req.method, url: req.url, reason: refusal });
    respondText(res, 403, refusal);
    return responseClosed;
  }
  const childExited = runHttpBackend(req, res, options);
  return Promise.all([responseClosed, childExited]).then(() => undefined);
}

/** Why this request is not a read-only smart-HTTP upload-pack request, or null when it is. */
function refusalReason(req: IncomingMessage, service: GitHttpService): string | null {
  const method = req.method ?? '';
  const requested = new URLSearchParams(queryString(req)).getAll('service');
  if (service === 'info/refs') {
    if (method !== 'GET') return `info/refs accepts GET only, not ${method}\n`;
    if (requested.length !== 1 || requested[0] !== 'git-upload-pack') {
      return 'only ?service=git-upload-pack is served: this git server is read-only smart HTTP\n';
    }
    return null;
  }
  if (method !== 'POST') return `git-upload-pack accepts POST only, not ${method}\n`;
  if (requested.some((s) => s !== 'git-upload-pack')) return 'only git-upload-pack is served\n';
  return null;
}

function queryString(req: IncomingMessage): string {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}

function respondText(res: ServerResponse, status: number, body: string): void {
  if (res.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function cgiEnvironment(req: IncomingMessage, options: ServeGitUploadPackOptions): NodeJS.ProcessEnv {
  // The CGI needs PATH to find git's helpers and HOME for the operator's global config; nothing else of
  // ours leaks into it. These two are the only variables this module reads, and it only passes them on.
  // eslint-disable-next-line no-restricted-properties
  const { PATH = '/usr/local/bin:/usr/bin:/bin', HOME = '/' } = process.env;
  const env: NodeJS.ProcessEnv = {
    PATH,
    HOME,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_PROJECT_ROOT: path.dirname(options.repositoryDir),
    PATH_INFO: `/${path.basename(options.repositoryDir)}/${options.service}`,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method ?? 'GET',
    QUERY_STRING: queryString(req),
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    GIT_CONFIG_COUNT: String(UPLOAD_PACK_CONFIG.length),
  };
  UPLOAD_PACK_CONFIG.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  const contentType = req.headers['content-type'];
  if (contentType !== undefined) env.CONTENT_TYPE = contentType;
  // Absent for chunked bodies (git sends large requests chunked); http-backend then reads to EOF.
  const contentLength = req.headers['content-length'];
  if (contentLength !== undefined) env.CONTENT_LENGTH = contentLength;
  // git gzips request bodies over 1 KiB; http-backend inflates them itself when told.
  const contentEncoding = req.headers['content-encoding'];
  if (contentEncoding !== undefined) env.HTTP_CONTENT_ENCODING = contentEncoding;
  // Protocol v2 is negotiated by this header; upload-pack reads it from GIT_PROTOCOL.
  const gitProtocol = req.headers['git-protocol'];
  if (typeof gitProtocol === 'string' && GIT_PROTOCOL_PATTERN.test(gitProtocol)) {
    env.GIT_PROTOCOL = gitProtocol;
    env.HTTP_GIT_PROTOCOL = gitProtocol;
  }
  return env;
}

function runHttpBackend(req: IncomingMessage, res: ServerResponse, options: ServeGitUploadPackOptions): Promise<void> {
  const logger = options.logger.with({ repository: options.repositoryDir, service: options.service });
  const started = Date.now();
  // Its own process group, so a disconnect also kills upload-pack and pack-objects beneath it.
  const child = spawn(options.gitBinary ?? 'git', ['http-backend'], {
    env: cgiEnvironment(req, options),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });

  let exited = false;
  let resolveExited!: () => void;
  const childExited = new Promise<void>((resolve) => (resolveExited = resolve));
  const markExited = () => {
    exited = true;
    resolveExited();
  };
  child.once('exit', markExited);

  const killChild = () => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < STDERR_MAX_BYTES) stderr = (stderr + text).slice(0, STDERR_MAX_BYTES);
  });

  // http-backend may exit before reading the whole body (a refused or malformed request): EPIPE is expected.
  child.stdin.on('error', (err) => logger.debug('git http-backend stdin closed early', { error: err }));
  if (req.method === 'POST') {
    req.pipe(child.stdin);
    req.once('error', (err) => {
      logger.debug('git http request body failed', { error: err });
      killChild();
    });
  } else {
    child.stdin.end();
  }

  res.once('close', () => {
    if (!res.writableFinished) {
      logger.debug('git http client disconnected; killing http-backend');
      killChild();
    }
  });

  let status = 0;
  let pending: Buffer = Buffer.alloc(0);
  const onHeaderData = (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const parsed = parseCgiHeaders(pending);
    if (parsed === null) {
      if (pending.length > CGI_HEADER_MAX_BYTES) {
        logger.error('git http-backend sent no end of headers', { bytes: pending.length });
        child.stdout.off('data', onHeaderData);
        child.stdout.resume();
        killChild();
      }
      return;
    }
    child.stdout.off('data', onHeaderData);
    child.stdout.pause();
    pending = Buffer.alloc(0);
    if (res.destroyed) return;
    status = parsed.status;
    res.writeHead(parsed.status, parsed.statusMessage, parsed.headers);
    if (parsed.body.length > 0) res.write(parsed.body);
    // The response is ended on the child's 'close', once its exit code says whether the body is whole.
    child.stdout.pipe(res, { end: false });
  };
  child.stdout.on('data', onHeaderData);

  let settled = false;
  const settle = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
    if (settled) return;
    settled = true;
    const fields = { exitCode: code, signal, status, durationMs: Date.now() - started, stderr: stderr || undefined };
    if (error !== undefined || status === 0) {
      logger.error('git http-backend failed before sending headers', { ...fields, error });
      respondText(res, 500, 'git http-backend failed\n');
    } else if (code !== 0) {
      // Headers (likely 200) are out: cut the connection so the client cannot take a short body for whole.
      if (!res.destroyed) logger.warn('git http-backend failed mid-response', fields);
      res.destroy();
    } else {
      if (status >= 500) logger.warn('git http-backend answered with an error', fields);
      else logger.debug('git http request served', fields);
      res.end();
    }
  };
  child.once('error', (err) => {
    markExited();
    settle(null, null, err);
  });
  child.once('close', (code, signal) => settle(code, signal));

  return childExited;
}

interface CgiHeaders {
  status: number;
  /** Undefined when the CGI gave none: Node then uses the standard reason phrase. */
  statusMessage: string | undefined;
  headers: OutgoingHttpHeaders;
  /** Bytes after the header block: the start of the body. */
  body: Buffer;
}

/**
 * Parses a CGI header block (RFC 3875 §6.2): `Name: value` lines, an optional `Status: 200 OK`, then a
 * blank line. http-backend ends lines with CRLF, but CGI allows bare LF too. Null while incomplete.
 */
export function parseCgiHeaders(buffer: Buffer): CgiHeaders | null {
  const headers: OutgoingHttpHeaders = {};
  let status = 200;
  let statusMessage: string | undefined;
  let start = 0;
  for (;;) {
    const newline = buffer.indexOf(0x0a, start);
    if (newline < 0) return null;
    let line = buffer.toString('latin1', start, newline);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    start = newline + 1;
    if (line === '') return { status, statusMessage, headers, body: buffer.subarray(start) };
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) continue;
    const lower = name.toLowerCase();
    if (lower === 'status') {
      const match = /^(\d{3})(?:\s+(.*))?$/.exec(value);
      if (match?.[1] !== undefined) {
        status = Number(match[1]);
        statusMessage = match[2] || undefined;
      }
      continue;
    }
    const previous = headers[lower];
    if (previous === undefined) headers[lower] = value;
    else headers[lower] = [...(Array.isArray(previous) ? previous : [String(previous)]), value];
  }
}
