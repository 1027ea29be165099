// A private docker registry for tests: Debian's `docker-registry` (distribution 2.x) on 127.0.0.1 with
// htpasswd (bcrypt) auth and storage in a temp dir. No registry is reachable from these machines, and the
// docker daemon treats 127.0.0.0/8 as insecure, so plain HTTP works without daemon config.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DockerAuthConfig } from '../../src/protocol/job.js';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from './docker.js';
import { waitFor } from './executor-process.js';

const run = promisify(execFile);

/** base64 of `user:password`: the `auth` of a docker config's `auths` entry. */
export function basicAuth(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString('base64');
}

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the image references' host and the `auths` key. */
  host: string;
  user: string;
  /** Random per registry, so that a test can look for it in a log. */
  password: string;
  /** `{"auths": {host: {auth: base64(user:password)}}}` with this registry's password, or `password`. */
  authConfig(password?: string): DockerAuthConfig;
  /**
   * Pushes a copy of BUSYBOX_IMAGE as `<host>/private/busybox:<unique tag>`, with the right credentials
   * from a temporary docker config dir, then removes the local tag so that a job must pull it.
   */
  pushPrivateBusybox(): Promise<string>;
  /** Kills the registry and removes its storage. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a command that tests need from a Debian package, with a message naming the package when it is missing. */
async function runTool(file: string, args: string[], debianPackage: string): Promise<string> {
  try {
    return (await run(file, args, { timeout: 60_000 })).stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`registry tests need ${file}: apt-get install -y ${debianPackage}`);
    throw err;
  }
}

/** Starts a registry that accepts `user` with a random password and nothing else; resolves when GET /v2/ answers 401. */
export async function startRegistry(user = 'executor-test'): Promise<TestRegistry> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-test-registry-'));
  const password = `pw-${randomBytes(9).toString('hex')}`;
  let child: ChildProcess | undefined;
  let output = '';
  try {
    const htpasswd = await runTool('htpasswd', ['-Bbn', user, password], 'apache2-utils');
    await fs.writeFile(path.join(dir, 'htpasswd'), htpasswd);
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    await fs.writeFile(
      path.join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${path.join(dir, 'storage')}`,
        'http:',
        `  addr: ${host}`,
        'auth:',
        '  htpasswd:',
        '    realm: executors-test',
        `    path: ${path.join(dir, 'htpasswd')}`,
        '',
      ].join('\n'),
    );
    const started = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    started.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const failedToStart = new Promise<never>((_, reject) => {
      started.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new Error('registry tests need docker-registry: apt-get install -y docker-registry') : err),
      );
      started.once('exit', (code) => reject(new Error(`docker-registry exited with ${code}: ${output}`)));
    });
    await Promise.race([
      failedToStart,
      waitFor(`docker-registry on ${host} to answer GET /v2/ with 401`, async () => {
        const res = await fetch(`http://${host}/v2/`).catch(() => undefined);
        return res?.status === 401;
      }, 20_000),
    ]);
    failedToStart.catch(() => {}); // its exit at stop() is no error

    const authConfig = (pw = password): DockerAuthConfig => ({ auths: { [host]: { auth: basicAuth(user, pw) } } });
    return {
      host,
      user,
      password,
      authConfig,
      async pushPrivateBusybox() {
        await ensureBusyboxImage();
        const image = `${host}/private/busybox:${randomBytes(4).toString('hex')}`;
        const config = await fs.mkdtemp(path.join(dir, 'push-config-'));
        try {
          await fs.writeFile(path.join(config, 'config.json'), JSON.stringify(authConfig()), { mode: 0o600 });
          await run('docker', ['tag', BUSYBOX_IMAGE, image]);
          await run('docker', ['--config', config, 'push', image], { timeout: 120_000 });
        } finally {
          await removeImage(image);
          await fs.rm(config, { recursive: true, force: true });
        }
        return image;
      },
      async stop() {
        if (started.exitCode === null && started.signalCode === null) {
          const exited = new Promise((resolve) => started.once('exit', resolve));
          started.kill('SIGKILL');
          await exited;
        }
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child?.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Removes `image` (a tag) from the docker daemon, so that the next `docker run` of it pulls again; an
 * image that is not there is no error. Only the tag goes when another tag shares its layers.
 */
export async function removeImage(image: string): Promise<void> {
  try {
    await run('docker', ['rmi', image]);
  } catch (err) {
    if (!/No such image/i.test((err as { stderr?: string }).stderr ?? '')) throw err;
  }
}
