// `coordinator healthcheck` (the container image's HEALTHCHECK): asks GET /healthz of the coordinator its
// configuration describes, over HTTP or HTTPS, and says what went wrong otherwise.
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs/promises';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCoordinatorConfig } from '../../src/coordinator/config.js';
import { checkHealth } from '../../src/coordinator/health-check.js';
import { createTestCa } from '../helpers/test-ca.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

describe('coordinator healthcheck', () => {
  let plain: TestCoordinator;
  let tls: TestCoordinator;
  let work: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'healthcheck-'));
    const ca = await createTestCa(path.join(work, 'ca'));
    plain = await startTestCoordinator('pglite');
    tls = await startTestCoordinator('pglite', { COORDINATOR_TLS_CERT_FILE: ca.serverCertFile, COORDINATOR_TLS_KEY_FILE: ca.serverKeyFile });
  });
  afterAll(async () => {
    await plain?.stop();
    await tls?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  const configFor = (url: string, extra: Record<string, string> = {}) => {
    const { port } = new URL(url);
    return loadCoordinatorConfig({ COORDINATOR_ADDR: `0.0.0.0:${port}`, ...extra });
  };

  it('passes for a serving coordinator, asked on loopback when it listens on every address', async () => {
    expect(await checkHealth(configFor(plain.url))).toBeUndefined();
  });

  it('passes over HTTPS with the coordinator\'s own certificate', async () => {
    expect(await checkHealth({ ...configFor(tls.url), tls: tls.config.tls })).toBeUndefined();
  });

  it('fails naming the URL when nothing listens there', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (server.address() as net.AddressInfo).port;
        server.close(() => resolve(p));
      });
    });
    expect(await checkHealth(configFor(`http://127.0.0.1:${port}`))).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/healthz: .*ECONNREFUSED`));
  });
});
