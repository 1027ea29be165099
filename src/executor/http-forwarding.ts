// What the executor's two forwarding proxies share (workspace/git-proxy.ts for a job's clone,
// runtimes/vm/uplink/uplink-proxy.ts for a vm guest's uploads): which headers belong to one hop and are
// not passed on (RFC 9110 §7.6.1, plus those a `Connection` header names), and relaying an upstream
// answer back to the client as it streams.
import type http from 'node:http';
import { pipeline } from 'node:stream';

export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/** The header names a `Connection` header lists (lower-cased): one hop's too. */
export function connectionListed(value: string | string[] | undefined): Set<string> {
  const names = new Set<string>();
  for (const part of (Array.isArray(value) ? value.join(',') : (value ?? '')).split(',')) {
    const name = part.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/** Writes the upstream's status and end-to-end headers to `res` and streams its body; `onStreamError` when either side ends early. */
export function relayResponse(upstreamRes: http.IncomingMessage, res: http.ServerResponse, onStreamError: (err: Error) => void): void {
  const responseHeaders: http.OutgoingHttpHeaders = {};
  const droppedBack = connectionListed(upstreamRes.headers.connection);
  for (const [name, value] of Object.entries(upstreamRes.headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || droppedBack.has(name)) continue;
    responseHeaders[name] = value;
  }
  res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, responseHeaders);
  pipeline(upstreamRes, res, (err) => {
    if (err) onStreamError(err);
  });
}
