// `executor validate` against the real coordinator (PGlite) over HTTP, with the real git on PATH.
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../../test/helpers/test-coordinator.js';
import { runExecutorCli } from './main.js';
import { findGuestKernel } from './runtimes/vm/guest/guest-kernel.js';
import { ensureInitramfs } from './runtimes/vm/guest/initramfs.js';
import { kvmWorks } from './runtimes/vm/guest/kvm-probe.js';
import { resolveGuestPlatform } from './runtimes/vm/guest/guest-platform.js';
import { shapeOf, SnapshotStore } from './runtimes/vm/snapshot/guest-snapshot.js';
import { DEFAULT_IMAGE_SLOTS } from './runtimes/vm/snapshot/guest-starter.js';
import { currentProcessOwner } from './process-owner.js';
import { silentLogger } from '../shared/logger.js';
import { versionAtLeast } from './validate.js';

/** Runs `executor validate` and collects what it printed. */
async function validate(env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runExecutorCli(['validate'], env, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('executor validate', () => {
  let c: TestCoordinator;
  let unconfigured: TestCoordinator;

  beforeAll(async () => {
    c = await startTestCoordinator('pglite');
    // '' counts as unset for the coordinator (config.ts), so its executor API answers 500.
    unconfigured = await startTestCoordinator('pglite', { COORDINATOR_EXECUTORS_ACCESS_TOKEN: '' });
  });
  afterAll(async () => {
    await c?.stop();
    await unconfigured?.stop();
  });

  const env = (extra: Record<string, string> = {}) => ({
    EXECUTOR_FRONTEND_URL: c.url,
    EXECUTOR_FRONTEND_PASSWORD: c.executorToken,
    EXECUTOR_QUEUE_NAME: 'batches',
    EXECUTOR_RUNTIME: 'shell',
    EXECUTOR_SHELL_ALLOW_SAME_USER: 'true',
    ...extra,
  });

  it('passes every check with the right password on the shell runtime', async () => {
    const { code, out, err } = await validate(env());
    expect(err).toBe('');
    expect(out).toMatch(/^ok {4}config: /m);
    expect(out).toMatch(/^ok {4}git: git \d+\.\d+/m);
    expect(out).toMatch(/^ok {4}runtime shell: /m);
    expect(out).toContain(`ok    coordinator: ${c.url} accepted EXECUTOR_FRONTEND_PASSWORD`);
    expect(out.trimEnd().split('\n').at(-1)).toBe('All checks passed!');
    expect(code).toBe(0);
  });

  it('fails with a wrong password and says it must equal executors.accessToken', async () => {
    const { code, out, err } = await validate(env({ EXECUTOR_FRONTEND_PASSWORD: 'not-the-token-' + 'x'.repeat(20) }));
    expect(code).toBe(1);
    expect(out).not.toContain('All checks passed!');
    expect(out).toMatch(/^FAIL {2}coordinator: .*HTTP 401/m);
    expect(err).toContain(
      "the coordinator refused EXECUTOR_FRONTEND_PASSWORD: check that it equals executors.accessToken in the coordinator's site settings (COORDINATOR_EXECUTORS_ACCESS_TOKEN)",
    );
  });

  it('says the coordinator has no executors.accessToken when its executor API is not configured', async () => {
    const { code, err } = await validate(env({ EXECUTOR_FRONTEND_URL: unconfigured.url }));
    expect(code).toBe(1);
    expect(err).toContain('Executors are not configured on this instance');
    expect(err).toContain('the coordinator has no executors.accessToken set');
  });

  it('names the URL and the network error when the coordinator cannot be reached', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const { code, err } = await validate(env({ EXECUTOR_FRONTEND_URL: url }));
    expect(code).toBe(1);
    expect(err).toContain(`cannot reach the coordinator at ${url}`);
    expect(err).toContain('ECONNREFUSED');
  });

  it('says "use http://" when EXECUTOR_FRONTEND_URL says https:// to a plain-HTTP coordinator', async () => {
    const https = c.url.replace(/^http:/, 'https:');
    const { code, out, err } = await validate(env({ EXECUTOR_FRONTEND_URL: https }));
    expect(code).toBe(1);
    expect(out).toContain(`FAIL  coordinator: the server at ${https} speaks plain HTTP: use http://`);
    expect(err).toContain(`set EXECUTOR_FRONTEND_URL=${c.url}`);
  });

  it('refuses the kubernetes runtime without credentials, naming EXECUTOR_KUBERNETES_CONFIG_PATH', async () => {
    const { code, out, err } = await validate(env({ EXECUTOR_RUNTIME: 'kubernetes', HOME: '/nonexistent' }));
    expect(code).toBe(2);
    expect(out).toBe('FAIL  config\n');
    expect(err).toContain('EXECUTOR_KUBERNETES_CONFIG_PATH: no kubeconfig at /nonexistent/.kube/config and not running in a cluster');
  });

  describe('on the vm runtime (real QEMU, the guest kernel, e2fsprogs, skopeo and umoci)', () => {
    let cacheDir: string;
    /** Whether KVM runs a guest here; on these machines it does not (nested virtualization is broken). */
    let kvmHere: boolean;
    const vmEnv = (extra: Record<string, string> = {}) => env({ EXECUTOR_RUNTIME: 'vm', EXECUTOR_VM_CACHE_DIR: cacheDir, ...extra });

    beforeAll(async () => {
      cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'validate-vm-'));
      const kernel = await findGuestKernel();
      kvmHere = await kvmWorks({ kernel, initramfsPath: await ensureInitramfs({ kernel, cacheDir: path.join(cacheDir, 'initramfs') }) });
    });
    afterAll(async () => {
      if (cacheDir) await fs.rm(cacheDir, { recursive: true, force: true });
    });

    it('fails the KVM check where KVM does not run a guest, naming KVM and EXECUTOR_VM_ALLOW_EMULATION', async (t) => {
      if (kvmHere) t.skip('KVM works on this host');
      const { code, out, err } = await validate(vmEnv());
      expect(out).toMatch(/^ok {4}qemu: qemu-system-x86_64 \d+\.\d+/m);
      expect(out).toMatch(/^ok {4}guest kernel: \S+-cloud-amd64 /m);
      expect(out).toMatch(new RegExp(`^ok {4}initramfs: ${cacheDir}/initramfs/initramfs-`, 'm'));
      expect(out).toMatch(/^ok {4}e2fsprogs: mkfs\.ext4 and debugfs/m);
      expect(out).toMatch(/^ok {4}skopeo, umoci: /m);
      expect(out).toMatch(/^ok {4}socat: socat connects each guest's uplink to the executor's proxy for the coordinator's upload routes$/m);
      expect(out).toMatch(/^FAIL {2}kvm: KVM does not work here/m);
      expect(out).not.toMatch(/not built yet/);
      expect(err).toContain('- kvm: KVM does not work here');
      expect(err).toContain('EXECUTOR_VM_ALLOW_EMULATION=true');
      expect(out).toContain('ok    coordinator:');
      expect(code).toBe(1);
    });

    it('passes with EXECUTOR_VM_ALLOW_EMULATION=true, saying whether KVM or emulation will run the VMs', async () => {
      const { code, out, err } = await validate(vmEnv({ EXECUTOR_VM_ALLOW_EMULATION: 'true' }));
      expect(err).toBe('');
      expect(out).toMatch(kvmHere ? /^ok {4}kvm: KVM works/m : /^ok {4}kvm: KVM does not work here; emulation allowed \(TCG/m);
      // Nothing has built this configuration's snapshot yet: not a failure, jobs boot meanwhile.
      expect(out).toMatch(/^ok {4}snapshot: none yet for this configuration \([0-9a-f]{16}\): `executor run` builds it in the background at start/m);
      expect(out.trimEnd().split('\n').at(-1)).toBe('All checks passed!');
      expect(code).toBe(0);
    });

    it('reports a built snapshot, and how fast a guest restored from it came up', async () => {
      const small = { EXECUTOR_VM_ALLOW_EMULATION: 'true', EXECUTOR_JOB_MEMORY: '256m', EXECUTOR_JOB_NUM_CPUS: '1' };
      // What `executor run` builds at start for this configuration, built here directly.
      const platform = await resolveGuestPlatform({ cacheDir, allowEmulation: true, kvmWorks: kvmHere });
      const owner = currentProcessOwner();
      const store = new SnapshotStore({ dir: path.join(cacheDir, 'snapshots'), runParentDir: os.tmpdir(), owner, activeRunDirs: new Set(), logger: silentLogger, bootTimeoutMs: 90_000 });
      const snapshot = await store.ensure(shapeOf(platform, 256, 1, DEFAULT_IMAGE_SLOTS));
      const { code, out } = await validate(vmEnv(small));
      expect(out).toMatch(new RegExp(`^ok {4}snapshot: ready: ${snapshot.digest.slice(0, 16)}, saved ${snapshot.createdAt} in [\\d.]+ s, [\\d.]+ MiB on disk .*; a guest restored from it was ready in \\d+ ms; guests start from it, and 1 of them is kept warm \\(EXECUTOR_VM_WARM_POOL_SIZE\\)$`, 'm'));
      expect(code).toBe(0);
      // Another memory size is another guest shape, with no snapshot yet.
      expect((await validate(vmEnv({ ...small, EXECUTOR_JOB_MEMORY: '320m' }))).out).toMatch(/^ok {4}snapshot: none yet/m);
    }, 240_000);
  });

  it('lists the configuration problems and exits 2 as run does', async () => {
    const { code, err } = await validate({ EXECUTOR_FRONTEND_URL: 'ftp://example.com', EXECUTOR_RUNTIME: 'shell' });
    expect(code).toBe(2);
    expect(err).toContain('EXECUTOR_FRONTEND_URL');
    expect(err).toContain('EXECUTOR_QUEUE_NAME');
  });
});

describe('versionAtLeast', () => {
  it('compares versions part by part, numerically', () => {
    expect(versionAtLeast('2.26.0', [2, 26])).toBe(true);
    expect(versionAtLeast('2.39.5', [2, 26])).toBe(true);
    expect(versionAtLeast('3.0', [2, 26])).toBe(true);
    expect(versionAtLeast('2.25.9', [2, 26])).toBe(false);
    expect(versionAtLeast('2.3', [2, 26])).toBe(false);
    expect(versionAtLeast('1.99', [2, 26])).toBe(false);
  });
});
