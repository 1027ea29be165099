// The vm uplink's proxy on a real UNIX socket in front of a real HTTP(S) upstream standing in for the
// coordinator: the upload routes pass with their query strings and streamed bodies, with the job's own
// token only and the job's id and executor name set; every other route, method, path trick and credential
// gets a 403 that never reaches the upstream; an https upstream is trusted through the given CA; closing
// it removes the socket and ends a request in flight.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../shared/logger.js';
import { createTestCa, type TestCa } from '../../../../../test/helpers/test-ca.js';
import { startUplinkProxy, UPLINK_MAX_CONNECTIONS, type UplinkProxy } from './uplink-proxy.js';

const TOKEN = 'a'.repeat(40);

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  sha256: string;
}

/** An upstream that records each request (its body hashed as it streams) and answers 202 {"id":"42"}. */
function recordingHandler(seen: Seen[], hold?: { release?: () => void }) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bytes, sha256: hash.digest('hex') });
      const answer = () => res.writeHead(req.method === 'HEAD' ? 200 : 202, { 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : '{"id":"42"}');
      if (hold) hold.release = answer;
      else answer();
    });
  };
}

/** One request over the proxy's socket; `body` chunks are written one by one (a stream, not one buffer). */
function viaSocket(socketPath: string, request: { method: string; path: string; headers?: Record<string, string>; body?: Buffer[] }): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: request.method, path: request.path, headers: { host: '10.0.2.100', ...request.headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of request.body ?? []) req.write(chunk);
    req.end();
  });
}

describe('vm uplink proxy', () => {
  let dir: string;
  let ca: TestCa;
  const seen: Seen[] = [];
  let upstream: http.Server;
  let upstreamUrl: string;
  const proxies: UplinkProxy[] = [];

  const start = async (options: { url?: string; token?: string; ca?: string[]; name?: string } = {}) => {
    const proxy = await startUplinkProxy({
      socketPath: path.join(dir, options.name ?? `uplink-${proxies.length}.sock`),
      upstream: { url: options.url ?? upstreamUrl, ca: options.ca },
      job: { id: 17, token: options.token ?? TOKEN },
      executorName: 'executor-a',
      logger: silentLogger,
    });
    proxies.push(proxy);
    return proxy;
  };

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'uplink-proxy-'));
    ca = await createTestCa(path.join(dir, 'ca'));
    upstream = http.createServer(recordingHandler(seen));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    upstream?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("forwards the upload routes with their query strings and streamed bodies, with the job's token, id and executor", async () => {
    const proxy = await start();
    seen.length = 0;
    // 8 MiB in 64 KiB chunks, sent chunked (no content-length), as a large index part would be.
    const chunks = Array.from({ length: 128 }, () => crypto.randomBytes(65536));
    const expected = crypto.createHash('sha256');
    for (const c of chunks) expected.update(c);
    const post = await viaSocket(proxy.socketPath, {
      method: 'POST',
      path: '/.executors/scip/upload?repository=github.com%2Facme%2Fx&commit=' + 'c'.repeat(40) + '&multiPart=true&numParts=2',
      // The guest claims another job and executor: the proxy sets this job's.
      headers: { authorization: `Bearer ${TOKEN}`, 'x-sourcegraph-job-id': '99', 'x-sourcegraph-executor-name': 'someone-else', 'x-sourcegraph-actor-uid': 'internal', 'x-uncompressed-size': '123' },
      body: chunks,
    });
    expect(post).toEqual({ status: 202, text: '{"id":"42"}' });
    const head = await viaSocket(proxy.socketPath, { method: 'HEAD', path: '/.executors/lsif/upload', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(head.status).toBe(200);
    const results = await viaSocket(proxy.socketPath, { method: 'POST', path: '/.executors/batches/results', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: [Buffer.from('{"ok":true}')] });
    expect(results.status).toBe(202);

    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      `POST /.executors/scip/upload?repository=github.com%2Facme%2Fx&commit=${'c'.repeat(40)}&multiPart=true&numParts=2`,
      'HEAD /.executors/lsif/upload',
      'POST /.executors/batches/results',
    ]);
    expect(seen[0]).toMatchObject({ bytes: 128 * 65536, sha256: expected.digest('hex') });
    expect(seen[0]!.headers).toMatchObject({
      authorization: `Bearer ${TOKEN}`,
      'x-sourcegraph-job-id': '17',
      'x-sourcegraph-executor-name': 'executor-a',
      'x-uncompressed-size': '123',
      host: upstreamUrl.slice('http://'.length),
    });
    expect(seen[0]!.headers['x-sourcegraph-actor-uid']).toBeUndefined();
    expect(seen[2]).toMatchObject({ bytes: 11 });
    expect(proxy.forwarded).toBe(3);
  });

  it("refuses every other route, method, path spelling and credential with a 403 that names what passes, and forwards none", async () => {
    const proxy = await start();
    seen.length = 0;
    const auth = { authorization: `Bearer ${TOKEN}` };
    const refusedRoutes: Array<[string, string]> = [
      ['POST', '/.executors/queue/batches/dequeue'],
      ['GET', '/.executors/scip/upload'],
      ['PUT', '/.executors/lsif/upload'],
      ['POST', '/.executors/git/github.com/acme/x/info/refs'],
      ['POST', '/.executors/scip/upload/../../queue/batches/dequeue'],
      ['POST', '/.executors/%73cip/upload'],
      ['POST', '/.executors/scip/upload/'],
      ['POST', '//.executors/scip/upload'],
      ['POST', 'http://127.0.0.1/.executors/scip/upload'],
      ['POST', '/.api/scip/upload'],
    ];
    for (const [method, target] of refusedRoutes) {
      const res = await viaSocket(proxy.socketPath, { method, path: target, headers: auth });
      expect(res.status, `${method} ${target}`).toBe(403);
      expect(res.text).toContain('is not forwarded: a vm job reaches only POST and HEAD of /.executors/scip/upload, /.executors/lsif/upload, /.executors/batches/results on the coordinator');
    }
    for (const authorization of [`Bearer ${'b'.repeat(40)}`, `token-executor ${TOKEN}`, `Bearer ${TOKEN}x`, `bearer ${TOKEN}`, '']) {
      const res = await viaSocket(proxy.socketPath, { method: 'POST', path: '/.executors/scip/upload', headers: authorization ? { authorization } : {} });
      expect(res.status, authorization).toBe(403);
      expect(res.text).toBe("executor uplink: the request's Authorization is not job 17's own token (`Bearer <job token>`, as SRC_HEADER_AUTHORIZATION sets it); only that credential is forwarded\n");
    }
    const tokenless = await start({ token: '' });
    const res = await viaSocket(tokenless.socketPath, { method: 'POST', path: '/.executors/scip/upload', headers: { authorization: 'Bearer ' } });
    expect(res).toEqual({ status: 403, text: 'executor uplink: job 17 has no token of its own (an old coordinator); nothing is forwarded for it\n' });
    expect(seen).toEqual([]);
    expect(proxy.refused).toBe(refusedRoutes.length + 5);
  });

  it('trusts an https coordinator through the given CA, and answers 502 when it cannot reach it', async () => {
    const tlsSeen: Seen[] = [];
    const server = https.createServer({ cert: await fs.readFile(ca.serverCertFile), key: await fs.readFile(ca.serverKeyFile) }, recordingHandler(tlsSeen));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const trusted = await start({ url, ca: [await fs.readFile(ca.caCertFile, 'utf8')] });
      expect((await viaSocket(trusted.socketPath, { method: 'POST', path: '/.executors/lsif/upload?x=1', headers: { authorization: `Bearer ${TOKEN}` }, body: [Buffer.from('idx')] })).status).toBe(202);
      expect(tlsSeen.map((s) => s.url)).toEqual(['/.executors/lsif/upload?x=1']);
      const untrusting = await start({ url });
      const res = await viaSocket(untrusting.socketPath, { method: 'POST', path: '/.executors/lsif/upload', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(502);
      expect(res.text).toMatch(/^executor uplink: cannot reach the coordinator: .*certificate/);
    } finally {
      server.close();
    }
    const gone = await start({ url: 'http://127.0.0.1:1' });
    expect((await viaSocket(gone.socketPath, { method: 'POST', path: '/.executors/scip/upload', headers: { authorization: `Bearer ${TOKEN}` } })).text).toContain('executor uplink: cannot reach the coordinator: connect ECONNREFUSED');
  });

  it(`serves at most ${UPLINK_MAX_CONNECTIONS} connections at a time and closes one more at once (each is a socat process on the host)`, async () => {
    const proxy = await start();
    const connect = () =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(proxy.socketPath, () => resolve(socket));
        socket.once('error', reject);
      });
    const held = await Promise.all(Array.from({ length: UPLINK_MAX_CONNECTIONS }, connect));
    // The server takes connections in the order they came: these eight first.
    const extra = await connect();
    const closedBy = await new Promise<string>((resolve) => {
      let data = '';
      extra.on('data', (c: Buffer) => (data += c.toString()));
      extra.on('close', () => resolve(data));
      extra.write('POST /.executors/scip/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    });
    expect(closedBy).toBe('');
    expect(proxy.refused).toBe(1);
    held[0]!.destroy();
    // A slot is free again: a request is answered.
    let answered: { status: number; text: string } | undefined;
    for (let i = 0; i < 100 && !answered; i++) {
      answered = await viaSocket(proxy.socketPath, { method: 'GET', path: '/' }).catch(() => undefined);
      if (!answered) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(answered?.status).toBe(403);
    for (const socket of held) socket.destroy();
  });

  it('close ends a request in flight and removes the socket', async () => {
    const held: Seen[] = [];
    const hold: { release?: () => void } = {};
    const slow = http.createServer(recordingHandler(held, hold));
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const proxy = await start({ url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, name: 'closing.sock' });
      expect((await fs.stat(proxy.socketPath)).isSocket()).toBe(true);
      expect((await fs.stat(proxy.socketPath)).mode & 0o777).toBe(0o600);
      // Settled into a value at once: it rejects while the test still waits for the upstream.
      const inFlight = viaSocket(proxy.socketPath, { method: 'POST', path: '/.executors/scip/upload', headers: { authorization: `Bearer ${TOKEN}` }, body: [Buffer.from('x')] }).then(
        () => new Error('the request completed'),
        (err: Error) => err,
      );
      for (let i = 0; i < 200 && !hold.release; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(hold.release).toBeDefined();
      await proxy.close();
      expect((await inFlight).message).toMatch(/socket hang up|ECONNRESET/);
      await expect(fs.stat(proxy.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(viaSocket(proxy.socketPath, { method: 'POST', path: '/.executors/scip/upload' })).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      slow.closeAllConnections();
      slow.close();
    }
  });
});
