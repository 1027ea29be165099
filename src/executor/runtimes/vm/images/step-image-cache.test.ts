// The step image cache against a real dockerd, a real registry (docker-registry with htpasswd), real skopeo,
// umoci and e2fsprogs: images become ext4 disks holding their files, are found again by digest, refused
// logins and bad references are clear errors, least recently used disks go first and leased ones stay.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../../shared/errors.js';
import { createLogger } from '../../../../shared/logger.js';
import { dockerCliEnv } from '../../docker/docker-cli.js';
import { parseImageReference } from './image-sources.js';
import { StepImageCache, type StepImageCacheOptions } from './step-image-cache.js';
import { readFileFromDisk } from './workspace-disk.js';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage, requireDockerDaemon } from '../../../../../test/helpers/docker.js';
import { startRegistry, type TestRegistry } from '../../../../../test/helpers/registry.js';

const run = promisify(execFile);
const ENV_IMAGE = 'executors-test/busybox-env:1';
const ENV_IMAGE_2 = 'executors-test/busybox-env:2';

const never = () => new AbortController().signal;

async function imageId(image: string): Promise<string> {
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', image]);
  return stdout.trim();
}

async function expectBusyboxDisk(diskPath: string): Promise<void> {
  const busybox = await readFileFromDisk(diskPath, '/bin/busybox');
  expect(busybox.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  expect(busybox.length).toBeGreaterThan(500_000);
  expect((await readFileFromDisk(diskPath, '/etc/passwd')).toString()).toMatch(/^root:x:0:0:/);
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('image references', () => {
  it('takes docker-style references and finds their registry host', () => {
    expect(parseImageReference('alpine').registryHost).toBe('docker.io');
    expect(parseImageReference('sourcegraph/src-cli:5.0').registryHost).toBe('docker.io');
    expect(parseImageReference('127.0.0.1:5000/private/busybox:ab12').registryHost).toBe('127.0.0.1:5000');
    expect(parseImageReference('localhost/x').registryHost).toBe('localhost');
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseImageReference(`registry.example.com/team/tool:1.2@${digest}`).pullReference).toBe(`registry.example.com/team/tool@${digest}`);
  });

  it('refuses options, spaces, upper-case paths and bad digests', () => {
    for (const bad of ['--privileged', '-v', 'alpine --rm', 'Alpine', 'alpine@sha256:abc', 'a/../b', '', 'alpine:', 'host:99999999/x']) {
      expect(() => parseImageReference(bad), bad).toThrow(expect.objectContaining({ code: 'vm.image_reference_invalid' }) as Error);
    }
  });
});

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker, never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('step image cache (dockerd, docker-registry, skopeo, umoci, e2fsprogs)', () => {
  let tmp: string;
  let registry: TestRegistry;
  let privateImage: string;
  const dir = (name: string) => path.join(tmp, name);

  beforeAll(async () => {
    await requireDockerDaemon();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'step-image-cache-'));
    await ensureBusyboxImage(BUSYBOX_IMAGE);
    await ensureBusyboxImage(ENV_IMAGE, ['FOO=bar']);
    await ensureBusyboxImage(ENV_IMAGE_2, ['BAR=baz']);
    registry = await startRegistry();
    privateImage = await registry.pushPrivateBusybox();
  });
  afterAll(async () => {
    await registry?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('converts an image from the host docker store once, then finds it by digest', async () => {
    const cache = new StepImageCache({ dir: dir('docker'), maxBytes: 1024 ** 3, docker: { cliEnv: dockerCliEnv() } });
    const first = await cache.acquire(ENV_IMAGE, undefined, never());
    expect(first.source).toBe('docker');
    expect(first.digest).toBe(await imageId(ENV_IMAGE));
    expect(first.env).toContain('FOO=bar');
    expect(first.convertMs).toBeGreaterThan(0);
    expect(first.diskPath).toBe(path.join(dir('docker'), `${first.digest.slice(7)}.ext4`));
    await expectBusyboxDisk(first.diskPath);
    const meta = JSON.parse(await fs.readFile(first.diskPath.replace(/\.ext4$/, '.json'), 'utf8')) as unknown;
    expect(meta).toEqual({ reference: ENV_IMAGE, digest: first.digest, env: first.env });
    first.release();

    const second = await cache.acquire(ENV_IMAGE, undefined, never());
    expect(second).toMatchObject({ source: 'cache', diskPath: first.diskPath, digest: first.digest, convertMs: 0 });
    expect(second.env).toContain('FOO=bar');
    second.release();
    // Only the disk and its metadata are left: no temp dirs or half-written disks.
    expect((await fs.readdir(dir('docker'))).sort()).toEqual([`${first.digest.slice(7)}.ext4`, `${first.digest.slice(7)}.json`]);
    const st = await fs.stat(first.diskPath);
    expect(await cache.sizeBytes()).toBe(st.blocks * 512);
    expect(st.blocks * 512).toBeLessThan(st.size); // sparse
  });

  it('converts concurrent acquires of one image once', async () => {
    const cache = new StepImageCache({ dir: dir('concurrent'), maxBytes: 1024 ** 3, docker: { cliEnv: dockerCliEnv() } });
    const leases = await Promise.all([1, 2, 3].map(() => cache.acquire(BUSYBOX_IMAGE, undefined, never())));
    expect(new Set(leases.map((l) => l.diskPath)).size).toBe(1);
    expect(leases.every((l) => l.source === 'docker' && l.convertMs === leases[0]!.convertMs)).toBe(true);
    for (const l of leases) l.release();
  });

  it('pulls from a registry with the job credentials, to the digest docker reports', async () => {
    const cache = new StepImageCache({ dir: dir('registry'), maxBytes: 1024 ** 3, docker: false });
    const lease = await cache.acquire(privateImage, registry.authConfig(), never());
    expect(lease.source).toBe('registry');
    // The pushed image is a tag of BUSYBOX_IMAGE: skopeo's config digest is docker's image ID.
    expect(lease.digest).toBe(await imageId(BUSYBOX_IMAGE));
    expect(lease.env).toEqual(['PATH=/bin']);
    await expectBusyboxDisk(lease.diskPath);
    lease.release();

    const again = await cache.acquire(privateImage, registry.authConfig(), never());
    expect(again).toMatchObject({ source: 'cache', diskPath: lease.diskPath, convertMs: 0 });
    again.release();
    expect((await fs.readdir(dir('registry'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('says authentication failed for a refused password, without the password', async () => {
    const cache = new StepImageCache({ dir: dir('auth'), maxBytes: 1024 ** 3, docker: false });
    const wrong = registry.authConfig('not-the-password-123');
    const err = await rejection(cache.acquire(privateImage, wrong, never()));
    expect(err.code).toBe('vm.image_pull_failed');
    expect(err.message).toMatch(/authentication failed/);
    expect(err.message).toContain(privateImage);
    expect(err.message).not.toContain('not-the-password-123');
    expect(err.message).not.toContain(registry.password);
    expect(err.message).not.toContain(wrong.auths[registry.host]!.auth);
    expect(await fs.readdir(dir('auth'))).toEqual([]);
  });

  it('fails without credentials for a private registry, and names a missing image', async () => {
    const cache = new StepImageCache({ dir: dir('nocreds'), maxBytes: 1024 ** 3, docker: false });
    const noCreds = await rejection(cache.acquire(privateImage, undefined, never()));
    expect(noCreds.code).toBe('vm.image_pull_failed');
    expect(noCreds.message).toMatch(/authentication failed.*no credentials/);

    const missing = `${registry.host}/private/nothere:1`;
    const notFound = await rejection(cache.acquire(missing, registry.authConfig(), never()));
    expect(notFound.code).toBe('vm.image_not_found');
    expect(notFound.message).toContain(missing);
  });

  it('evicts the least recently used disk once a conversion takes the cache over its bound', async () => {
    const probe = new StepImageCache({ dir: dir('lru-probe'), maxBytes: 1024 ** 3, docker: { cliEnv: dockerCliEnv() } });
    (await probe.acquire(BUSYBOX_IMAGE, undefined, never())).release();
    const oneDiskBytes = await probe.sizeBytes();

    // Room for two disks, not three.
    const cache = new StepImageCache({ dir: dir('lru'), maxBytes: Math.floor(oneDiskBytes * 2.5), docker: { cliEnv: dockerCliEnv() } });
    const a = await cache.acquire(BUSYBOX_IMAGE, undefined, never());
    a.release();
    const b = await cache.acquire(ENV_IMAGE, undefined, never());
    b.release();
    await new Promise((r) => setTimeout(r, 20));
    const aAgain = await cache.acquire(BUSYBOX_IMAGE, undefined, never()); // A is now more recent than B
    expect(aAgain.source).toBe('cache');
    aAgain.release();
    const c = await cache.acquire(ENV_IMAGE_2, undefined, never());
    c.release();
    expect(c.source).toBe('docker');
    await expect(fs.stat(b.diskPath)).rejects.toThrow(/ENOENT/);
    await expect(fs.stat(b.diskPath.replace(/\.ext4$/, '.json'))).rejects.toThrow(/ENOENT/);
    await fs.stat(a.diskPath);
    await fs.stat(c.diskPath);
    expect(await cache.sizeBytes()).toBeLessThanOrEqual(Math.floor(oneDiskBytes * 2.5));

    const bAgain = await cache.acquire(ENV_IMAGE, undefined, never());
    expect(bAgain.source).toBe('docker'); // converted again
    bAgain.release();
  });

  it('keeps a leased disk even when the cache is over its bound, and warns', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    const cache = new StepImageCache({ dir: dir('leased'), maxBytes: 1, docker: { cliEnv: dockerCliEnv() }, logger });
    const held = await cache.acquire(BUSYBOX_IMAGE, undefined, never());
    const other = await cache.acquire(ENV_IMAGE, undefined, never());
    await fs.stat(held.diskPath);
    await fs.stat(other.diskPath); // bigger than maxBytes on its own: kept for its step
    expect(lines.join('\n')).toMatch(/over its bound/);
    other.release();
    held.release();

    // Released, the older goes with the next conversion.
    const third = await cache.acquire(ENV_IMAGE_2, undefined, never());
    await expect(fs.stat(held.diskPath)).rejects.toThrow(/ENOENT/);
    await expect(fs.stat(other.diskPath)).rejects.toThrow(/ENOENT/);
    third.release();
  });

  it('refuses an invalid reference before running any process', async () => {
    const marker = path.join(tmp, 'skopeo-ran');
    const fakeSkopeo = path.join(tmp, 'fake-skopeo');
    await fs.writeFile(fakeSkopeo, `#!/bin/sh\ntouch ${marker}\nexit 1\n`, { mode: 0o755 });
    const options: StepImageCacheOptions = { dir: dir('invalid'), maxBytes: 1024 ** 3, docker: false, skopeoBinary: fakeSkopeo };
    const cache = new StepImageCache(options);
    for (const bad of ['--privileged', 'busybox --rm', '$(id)']) {
      const err = await rejection(cache.acquire(bad, undefined, never()));
      expect(err.code).toBe('vm.image_reference_invalid');
      expect(err.message).toContain(JSON.stringify(bad));
    }
    await expect(fs.stat(marker)).rejects.toThrow(/ENOENT/);
    await expect(fs.stat(dir('invalid'))).rejects.toThrow(/ENOENT/);
    // The probe works: a valid reference does run skopeo.
    await rejection(cache.acquire('busybox:1', undefined, never()));
    await fs.stat(marker);
  });

  it('on abort kills the pull, removes its temp dirs and rejects with the reason', async () => {
    const pidFile = path.join(tmp, 'copy-pid');
    const slowSkopeo = path.join(tmp, 'slow-skopeo');
    // Real `skopeo inspect`, a `copy` that hangs: the abort has to kill it.
    await fs.writeFile(slowSkopeo, `#!/bin/sh\nif [ "$1" = copy ]; then echo $$ > ${pidFile}; exec sleep 60; fi\nexec skopeo "$@"\n`, { mode: 0o755 });
    const cache = new StepImageCache({ dir: dir('abort'), maxBytes: 1024 ** 3, docker: false, skopeoBinary: slowSkopeo });
    const controller = new AbortController();
    const reason = new Error('step canceled');
    const acquired = cache.acquire(privateImage, registry.authConfig(), controller.signal);
    for (let i = 0; i < 100 && !(await fs.stat(pidFile).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 50));
    const pid = Number(await fs.readFile(pidFile, 'utf8'));
    controller.abort(reason);
    await expect(acquired).rejects.toBe(reason);
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    expect(await fs.readdir(dir('abort'))).toEqual([]);
    const tmpAuthDirs = (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith('executor-image-auth-'));
    expect(tmpAuthDirs).toEqual([]);
  });
});
