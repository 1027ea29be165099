// The executor's debug server, as the original's (SRC_PROF_HTTP): `/healthz` answers while the process
// runs (a liveness probe), `/ready` once the coordinator has answered and until a fatal error stops the
// worker (a readiness probe), `/metrics` the executor's own metrics in Prometheus text. Off unless
// SRC_PROF_HTTP names an address: unlike the original's default `:6060`, a host gets no open port unasked.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../shared/logger.js';

export interface HealthServerOptions {
  /** `host:port` or `:port` (every interface); SRC_PROF_HTTP. */
  address: string;
  /** Whether the executor is ready (WorkerLoop.ready). */
  ready: () => boolean;
  /** The Prometheus text of the executor's metrics. */
  metrics: () => Promise<string>;
  logger: Logger;
}

export interface HealthServer {
  /** `http://host:port`, the port resolved when it was 0. */
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on `address`; rejects naming it and SRC_PROF_HTTP when it cannot (a busy port). */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { host, port } = parseAddress(options.address);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/ready') {
      const ready = options.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready: the coordinator has not answered yet, or refused this executor\n');
    } else if (path === '/metrics') {
      options.metrics().then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read the metrics: ${err instanceof Error ? err.message : String(err)}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /healthz, /ready and /metrics are served here\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`SRC_PROF_HTTP=${JSON.stringify(options.address)}: cannot listen: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  options.logger.info('serving /healthz, /ready and /metrics', { url });
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `host:port`, `:port` or `[v6]:port`; throws naming the expected form. */
export function parseAddress(address: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`expected host:port or :port, e.g. :6060 or 127.0.0.1:6060`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}
