// The one HTTP seam of the coordinator client: node:http/https over a keep-alive agent, with an abort
// signal, a deadline and a cap on the response size, so a hung or hostile server cannot hold or
// exhaust the executor.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { isTlsConfigurationError } from '../tls/tls-errors.js';
import { CoordinatorPlainHttpError, CoordinatorRequestError, CoordinatorRetryableError, CoordinatorTlsError } from './client-errors.js';

/** Error responses are read only this far: enough for a message, never a memory hazard. */
const ERROR_BODY_MAX_BYTES = 64 * 1024;

export interface HttpTransportOptions {
  /** `scheme://host[:port]`, already validated. */
  origin: URL;
  /** Extra CA certificates (PEM) trusted for https, on top of Node's bundled roots. */
  ca?: ReadonlyArray<string | Buffer>;
  /** What is trusted and where it was searched (TrustedCertificates.describe), for TLS error messages. */
  trustDescription?: string;
  /**
   * An idle keep-alive socket is closed after this long, in ms. Default 30 000: under the 60 s idle
   * timeout of common load balancers, so we close first instead of writing into a socket they reset.
   */
  idleSocketTimeoutMs?: number;
}

export interface TransportRequest {
  method: 'GET' | 'HEAD' | 'POST';
  /** Path and query, starting with `/`. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  signal: AbortSignal;
  /** A 2xx body longer than this fails the call with CoordinatorRequestError, in bytes. */
  maxResponseBytes: number;
  /** The whole exchange, response body included, must finish within this, in ms. */
  timeoutMs: number;
}

export interface TransportResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body; for non-2xx responses at most 64 KiB of it. */
  body: Buffer;
}

/** Sends requests to one origin over a keep-alive agent. `close()` releases its sockets. */
export class HttpTransport {
  private readonly origin: URL;
  private readonly trustDescription: string;
  private readonly agent: http.Agent;
  private readonly send: typeof http.request;

  constructor(options: HttpTransportOptions) {
    this.origin = options.origin;
    this.trustDescription = options.trustDescription ?? "trusted: Node's bundled roots";
    // Agent `timeout` only destroys *free* sockets (node's _http_agent onTimeout); active requests,
    // long-poll dequeues included, are bounded by our own timer below.
    const agentOptions: https.AgentOptions = { keepAlive: true, timeout: options.idleSocketTimeoutMs ?? 30_000 };
    if (options.origin.protocol === 'https:') {
      // `ca` replaces the default roots, so keep them and add the extras.
      if (options.ca && options.ca.length > 0) agentOptions.ca = [...tls.rootCertificates, ...options.ca];
      this.agent = new https.Agent(agentOptions);
      this.send = https.request;
    } else {
      this.agent = new http.Agent(agentOptions);
      this.send = http.request;
    }
  }

  /**
   * Sends one request. Rejects with `signal.reason` when aborted, CoordinatorRetryableError for a
   * network error or timeout, CoordinatorRequestError for a 2xx body over `maxResponseBytes`.
   * Any HTTP status resolves: the caller decides what it means for its route.
   */
  request(r: TransportRequest): Promise<TransportResponse> {
    const call = `${r.method} ${r.path.split('?')[0]}`;
    if (r.signal.aborted) return Promise.reject(r.signal.reason);
    return new Promise<TransportResponse>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        r.signal.removeEventListener('abort', onAbort);
        outcome();
      };
      const fail = (err: unknown) => {
        settle(() => reject(err));
        req.destroy();
      };
      const onAbort = () => fail(r.signal.reason);
      const timer = setTimeout(
        () => fail(new CoordinatorRetryableError(`${call}: no complete response from the coordinator within ${r.timeoutMs} ms`, { call })),
        r.timeoutMs,
      );
      r.signal.addEventListener('abort', onAbort, { once: true });

      const req = this.send(new URL(r.path, this.origin), {
        method: r.method,
        agent: this.agent,
        headers: { ...r.headers, 'content-length': String(r.body?.length ?? 0) },
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (this.origin.protocol === 'https:' && looksLikeNonTlsAnswer(err)) {
          // OpenSSL read something that is not TLS: most often an HTTP answer to our ClientHello. Ask
          // the port in plain HTTP, so the message can say exactly that (and never retry forever).
          void speaksPlainHttp(this.origin).then((plain) =>
            fail(plain ? new CoordinatorPlainHttpError(this.origin, { call, cause: err }) : new CoordinatorTlsError(this.origin.origin, this.trustDescription, { call, cause: err })),
          );
          return;
        }
        if (isTlsConfigurationError(err)) {
          fail(new CoordinatorTlsError(this.origin.origin, this.trustDescription, { call, cause: err }));
          return;
        }
        fail(new CoordinatorRetryableError(`${call}: cannot reach the coordinator at ${this.origin.origin}: ${err.message}`, { call, cause: err }));
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        const limitBytes = ok ? r.maxResponseBytes : ERROR_BODY_MAX_BYTES;
        const tooLarge = (what: string) =>
          new CoordinatorRequestError(`${call}: the coordinator's response ${what} the limit of ${r.maxResponseBytes} bytes`, { call, status });
        const declaredBytes = Number(res.headers['content-length']);
        if (ok && Number.isFinite(declaredBytes) && declaredBytes > limitBytes) {
          fail(tooLarge(`of ${declaredBytes} bytes is over`));
          return;
        }
        const chunks: Buffer[] = [];
        let sizeBytes = 0;
        const done = () => settle(() => resolve({ status, headers: res.headers, body: Buffer.concat(chunks, sizeBytes) }));
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          if (sizeBytes + chunk.length <= limitBytes) {
            chunks.push(chunk);
            sizeBytes += chunk.length;
            return;
          }
          if (ok) {
            fail(tooLarge('goes over'));
            return;
          }
          // An error body: keep its start for the message and drop the connection.
          chunks.push(chunk.subarray(0, limitBytes - sizeBytes));
          sizeBytes = limitBytes;
          done();
          req.destroy();
        });
        res.on('end', done);
        res.on('error', (err) => fail(new CoordinatorRetryableError(`${call}: the connection broke during the response: ${err.message}`, { call, status, cause: err })));
        res.on('close', () => {
          if (!res.complete) fail(new CoordinatorRetryableError(`${call}: the connection closed before the response was complete`, { call, status }));
        });
      });
      req.end(r.body);
    });
  }

  /** Closes the pooled sockets; requests in flight fail. */
  close(): void {
    this.agent.destroy();
  }
}

/**
 * Whether a TLS handshake failed because the server's first bytes are not TLS: OpenSSL's "wrong version
 * number" (an HTTP status line read as a record header), which Node reports as EPROTO or ERR_SSL_*.
 */
function looksLikeNonTlsAnswer(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return (code === 'EPROTO' || code.startsWith('ERR_SSL_')) && /wrong version number|packet length too long|http request/i.test(`${code} ${err.message}`);
}

/** Whether `origin`'s host and port answer a plain HTTP request with an HTTP status line (2 s at most). */
export function speaksPlainHttp(origin: URL, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const port = Number(origin.port || 443);
    const host = origin.hostname.replace(/^\[|\]$/g, '');
    const socket = net.connect({ host, port });
    let answer = '';
    const done = (plain: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(plain);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write(`HEAD / HTTP/1.0\r\nHost: ${origin.host}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.length >= 12) done(/^HTTP\/1\.[01] \d{3}/.test(answer));
    });
    socket.on('end', () => done(/^HTTP\/1\.[01] \d{3}/.test(answer)));
    socket.on('error', () => done(false));
  });
}
