// The debug server's probes over real HTTP on loopback: liveness always, readiness as the worker says,
// the executor's metrics, and a clear refusal of a busy port.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/logger.js';
import { parseAddress, startHealthServer, type HealthServer } from './health-server.js';

describe('the health server', () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('answers /healthz, /ready as the worker loop says, and /metrics', async () => {
    let ready = false;
    server = await startHealthServer({ address: '127.0.0.1:0', ready: () => ready, metrics: () => Promise.resolve('src_executor_processor_handlers{queue="batches"} 0\n'), logger: silentLogger });
    const get = async (path: string) => {
      const res = await fetch(`${server!.url}${path}`);
      return { status: res.status, text: await res.text() };
    };
    expect(await get('/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect((await get('/ready')).status).toBe(503);
    ready = true;
    expect(await get('/ready')).toEqual({ status: 200, text: 'ready\n' });
    expect(await get('/metrics')).toEqual({ status: 200, text: 'src_executor_processor_handlers{queue="batches"} 0\n' });
    expect((await get('/other')).status).toBe(404);
  });

  it('refuses a busy port, naming SRC_PROF_HTTP', async () => {
    server = await startHealthServer({ address: '127.0.0.1:0', ready: () => true, metrics: () => Promise.resolve(''), logger: silentLogger });
    const port = new URL(server.url).port;
    await expect(startHealthServer({ address: `127.0.0.1:${port}`, ready: () => true, metrics: () => Promise.resolve(''), logger: silentLogger })).rejects.toThrow(`SRC_PROF_HTTP="127.0.0.1:${port}": cannot listen: listen EADDRINUSE`);
  });

  it('reads host:port, :port and [v6]:port', () => {
    expect(parseAddress(':6060')).toEqual({ host: undefined, port: 6060 });
    expect(parseAddress('127.0.0.1:6060')).toEqual({ host: '127.0.0.1', port: 6060 });
    expect(parseAddress('[::1]:6060')).toEqual({ host: '::1', port: 6060 });
    expect(() => parseAddress('6060')).toThrow('expected host:port or :port');
    expect(() => parseAddress(':70000')).toThrow('expected host:port or :port');
  });
});
