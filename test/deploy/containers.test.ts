// The container images and the Docker Compose deployment, on the real docker daemon: the images built as
// `npm run images -- --local-base` builds them (under a tag of this run's own), the executor image's
// entry point and its custom-certificate handling (git inside it against an HTTPS server of a test CA),
// the coordinator image's user, volume, health check and labels, then deploy/docker-compose as a user runs
// it with Debian's docker-compose (1.29): up, the executor active, a job on a local step image, down -v.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageVersion, sourceCommit } from '../../scripts/build/bundle.js';
import { AdminApi } from '../helpers/api-client.js';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage } from '../helpers/docker.js';
import { waitFor } from '../helpers/executor-process.js';
import { buildTestImages, type TestImages } from '../helpers/images.js';
import { createTestCa, type TestCa } from '../helpers/test-ca.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE_FILE = path.join(ROOT, 'deploy/docker-compose/docker-compose.yaml');

/** stdout and stderr of a command that may fail, with its exit status. */
async function attempt(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  try {
    const { stdout, stderr } = await run(command, args, { maxBuffer: 32 * 1024 * 1024, timeout: options.timeout ?? 300_000, env: options.env ?? process.env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error(`${command} is not installed${command === 'docker-compose' ? ': apt-get install -y docker-compose' : ''}`);
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe.runIf(dockerTestsEnabled())('the container images and Docker Compose', () => {
  let images: TestImages;
  let work: string;
  let ca: TestCa;

  beforeAll(async () => {
    work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'executors-containers-')));
    [images, ca] = await Promise.all([buildTestImages(), createTestCa(path.join(work, 'ca'))]);
    await ensureBusyboxImage();
  }, 600_000);
  afterAll(async () => {
    await images?.remove();
    // Files the containers made as root in the scratch directories.
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  describe('the executor image', () => {
    it('runs the executor for its commands and flags, and any other program named', async () => {
      const version = await attempt('docker', ['run', '--rm', images.executor, '--version']);
      expect(version.stdout).toBe(`executor ${await packageVersion()} (commit ${sourceCommit()}, release build)\n`);
      const help = await attempt('docker', ['run', '--rm', images.executor, 'help']);
      expect(help.stdout).toContain('Usage: executor');
      const tools = await attempt('docker', ['run', '--rm', images.executor, 'sh', '-c', 'git --version && docker --version && id -u']);
      expect(tools.stdout).toMatch(/^git version 2\.\d+/m);
      expect(tools.stdout).toMatch(/^Docker version \d+/m);
      expect(tools.stdout).toMatch(/^0$/m);
      // Without settings `run` (the default command) lists what is missing and exits 2.
      const bare = await attempt('docker', ['run', '--rm', images.executor]);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toContain('EXECUTOR_FRONTEND_URL: required');
    });

    describe('with custom CA certificates mounted', () => {
      let server: https.Server;
      let url: string;
      beforeAll(async () => {
        server = https.createServer({ cert: await fs.readFile(ca.serverCertFile), key: await fs.readFile(ca.serverKeyFile) }, (_req, res) => {
          res.writeHead(404);
          res.end('no repository here');
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/acme/app.git`;
      });
      afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

      /** git ls-remote in the image: its stderr apart from the entry point's own line, and that line. */
      const gitLsRemote = async (mounts: string[]) => {
        const result = await attempt('docker', ['run', '--rm', '--network', 'host', ...mounts.flatMap((m) => ['-v', m]), images.executor, 'git', 'ls-remote', url]);
        const lines = result.stderr.split('\n');
        return { code: result.code, git: lines.filter((l) => !l.startsWith('executor-entrypoint:')).join('\n'), entrypoint: lines.filter((l) => l.startsWith('executor-entrypoint:')).join('\n') };
      };

      it('git in the image refuses the server of a private CA when no certificate is mounted', async () => {
        const result = await gitLsRemote([]);
        expect(result.code).not.toBe(0);
        expect(result.git).toMatch(/certificate|SSL/i);
        expect(result.entrypoint).toBe('');
      });

      it('trusts a directory mounted over /etc/ssl/certs, read-only, as the seed documents, and writes nothing into it', async () => {
        const certs = path.join(work, 'certs-etc');
        await fs.mkdir(certs);
        await fs.copyFile(ca.caCertFile, path.join(certs, 'customcert.crt'));
        const result = await gitLsRemote([`${certs}:/etc/ssl/certs:ro`]);
        // Past TLS: the server's 404 is what git reports now.
        expect(result.git).not.toMatch(/certificate|SSL/i);
        expect(result.git).toMatch(/not found|404/i);
        expect(result.entrypoint).toContain('executor-entrypoint: trusting 1 mounted CA certificate file(s): customcert.crt');
        expect(await fs.readdir(certs)).toEqual(['customcert.crt']);
      });

      it('trusts *.crt files mounted into /usr/local/share/ca-certificates, and still Debian\'s own roots', async () => {
        const certs = path.join(work, 'certs-local');
        await fs.mkdir(certs);
        await fs.copyFile(ca.caCertFile, path.join(certs, 'acme-ca.crt'));
        const result = await gitLsRemote([`${certs}:/usr/local/share/ca-certificates:ro`]);
        expect(result.git).not.toMatch(/certificate|SSL/i);
        expect(result.git).toMatch(/not found|404/i);
        expect(result.entrypoint).toContain('acme-ca.crt');
        const bundle = await attempt('docker', ['run', '--rm', '-v', `${certs}:/usr/local/share/ca-certificates:ro`, images.executor, 'sh', '-c', 'grep -c "BEGIN CERTIFICATE" "$SSL_CERT_FILE"']);
        // Debian's roots (well over 100) plus the one mounted.
        expect(Number(bundle.stdout.trim())).toBeGreaterThan(100);
      });
    });
  });

  describe('the coordinator image', () => {
    it('runs as an unprivileged user with its data directory as a volume, a health check and OCI labels', async () => {
      const { stdout } = await attempt('docker', ['image', 'inspect', images.coordinator, '--format', '{{json .Config}}']);
      const config = JSON.parse(stdout) as { User: string; Volumes: Record<string, unknown>; Healthcheck: { Test: string[] }; Labels: Record<string, string>; ExposedPorts: Record<string, unknown>; Env: string[] };
      expect(config.User).toBe('10001:10001');
      expect(Object.keys(config.Volumes)).toEqual(['/var/lib/coordinator']);
      expect(config.Healthcheck.Test).toEqual(['CMD', 'coordinator', 'healthcheck']);
      expect(Object.keys(config.ExposedPorts)).toEqual(['3080/tcp']);
      expect(config.Env).toEqual(expect.arrayContaining(['COORDINATOR_ADDR=0.0.0.0:3080', 'COORDINATOR_DATA_DIR=/var/lib/coordinator']));
      expect(config.Labels).toMatchObject({
        'org.opencontainers.image.title': 'coordinator',
        'org.opencontainers.image.version': await packageVersion(),
        'org.opencontainers.image.revision': sourceCommit(),
        'org.opencontainers.image.licenses': 'Apache-2.0',
      });
    });
  });

  describe('deploy/docker-compose', () => {
    const project = `executors-test-${randomBytes(4).toString('hex')}`;
    let envFile: string;
    let port: number;
    const executorToken = randomBytes(20).toString('hex');
    const adminToken = randomBytes(20).toString('hex');
    const compose = (args: string[], file = envFile, name = project) => attempt('docker-compose', ['-p', name, '-f', COMPOSE_FILE, '--env-file', file, ...args]);
    const containersOf = async (name: string) => (await attempt('docker', ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${name}`])).stdout.trim();

    beforeAll(async () => {
      port = await freePort();
      envFile = path.join(work, 'compose.env');
      await fs.writeFile(
        envFile,
        [
          `COORDINATOR_EXECUTORS_ACCESS_TOKEN=${executorToken}`,
          `COORDINATOR_ADMIN_TOKEN=${adminToken}`,
          `COORDINATOR_PORT=${port}`,
          `EXECUTOR_SCRATCH_DIR=${path.join(work, 'scratch')}`,
          `EXECUTORS_IMAGE_TAG=${images.tag}`,
          '',
        ].join('\n'),
      );
    });
    afterAll(async () => {
      if (await containersOf(project)) await compose(['down', '-v', '--timeout', '5']);
    });

    it('passes docker-compose config with the tokens from the env file', async () => {
      const result = await compose(['config']);
      expect(result.stderr).not.toMatch(/error|invalid/i);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`image: executors/executor:${images.tag}`);
      expect(result.stdout).toContain(`EXECUTOR_FRONTEND_PASSWORD: ${executorToken}`);
      expect(result.stdout).toContain(`- 127.0.0.1:${port}:3080/tcp`);
      // The PostgreSQL service is there for its profile (it is not started without it: see the next test).
      expect((await compose(['--profile', 'postgres', 'config', '--services'])).stdout.split('\n')).toContain('postgres');
    });

    it('comes up, the executor shows as active, runs a job on a local step image, and down -v leaves nothing', async () => {
      const up = await compose(['up', '-d']);
      expect(up.code, up.stderr).toBe(0);
      const services = (await attempt('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Label "com.docker.compose.service"}}'])).stdout.trim().split('\n').sort();
      expect(services).toEqual(['coordinator', 'executor']);
      const admin = new AdminApi(`http://127.0.0.1:${port}`, adminToken);
      const executor = await waitFor(
        'the executor to show as active',
        async () => ((await admin.get('/api/v1/executors?active=true').catch(() => undefined))?.json?.executors as Array<{ hostname: string; active: boolean; queueName: string }> | undefined)?.[0],
        120_000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${(await compose(['logs', '--no-color'])).stdout}`);
      });
      expect(executor).toMatchObject({ active: true, queueName: 'batches' });

      const marker = `from-compose-${randomBytes(4).toString('hex')}`;
      const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'hello', image: BUSYBOX_IMAGE, commands: [`echo ${marker} > out.txt`, 'cat out.txt'] }] });
      const job = await waitFor(
        'the job to finish',
        async () => {
          const j = (await admin.job('batches', id)).json as { state: string; failureMessage?: string; executionLogs: Array<{ key: string; out: string | null; exitCode: number | null }> };
          return ['completed', 'errored', 'failed'].includes(j.state) ? j : undefined;
        },
        120_000,
      );
      expect(job.state, JSON.stringify(job)).toBe('completed');
      const step = job.executionLogs.find((e) => e.key === 'step.docker.hello');
      expect(step?.exitCode).toBe(0);
      expect(step?.out).toContain(`stdout: ${marker}`);

      const down = await compose(['down', '-v', '--timeout', '10']);
      expect(down.code, down.stderr).toBe(0);
      expect(await containersOf(project)).toBe('');
      expect((await attempt('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`])).stdout.trim()).toBe('');
      expect((await attempt('docker', ['ps', '-a', '-q', '--filter', `label=executors.job-id=${id}`])).stdout.trim()).toBe('');
    }, 400_000);

    it('without the access token the executor exits with the validation message, in docker-compose logs', async () => {
      const name = `${project}-notoken`;
      const file = path.join(work, 'compose-notoken.env');
      await fs.writeFile(file, [`COORDINATOR_PORT=${await freePort()}`, `EXECUTOR_SCRATCH_DIR=${path.join(work, 'scratch-notoken')}`, `EXECUTORS_IMAGE_TAG=${images.tag}`, ''].join('\n'));
      try {
        const up = await compose(['up', '-d'], file, name);
        expect(up.code, up.stderr).toBe(0);
        const logs = await waitFor(
          'the executor to exit with its validation message',
          async () => {
            const out = (await compose(['logs', '--no-color', 'executor'], file, name)).stdout;
            return out.includes('EXECUTOR_FRONTEND_PASSWORD: required') ? out : undefined;
          },
          120_000,
        );
        expect(logs).toContain('executor: invalid configuration:');
        // It exits 2 each time (restart: unless-stopped starts it again after a growing delay).
        await waitFor(
          'the executor container to have exited with status 2',
          async () => /^(exited|restarting) 2$/.test((await attempt('docker', ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', `${name}_executor_1`])).stdout.trim()),
          60_000,
        );
      } finally {
        await compose(['down', '-v', '--timeout', '5'], file, name);
      }
      expect(await containersOf(name)).toBe('');
    }, 300_000);
  });
});
