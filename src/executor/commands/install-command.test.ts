// `executor install` on this host: the real guest kernel, busybox and e2fsprogs; images from the real
// dockerd. apt-get is never run: the host seam answers in its place and the tests check what it was asked.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage } from '../../../test/helpers/docker.js';
import { runExecutorCli } from '../main.js';
import { readFileFromDisk } from '../runtimes/vm/images/workspace-disk.js';
import { runInstallCommand, type InstallHost } from './install-command.js';

interface Ran {
  code: number;
  out: string;
  err: string;
  apt: string[][];
}

/** `executor install <args>` with no coordinator settings at all (install does not need them). */
async function install(args: string[], env: Record<string, string>, host: InstallHost = {}): Promise<Ran> {
  let out = '';
  let err = '';
  const apt: string[][] = [];
  const code = await runInstallCommand(args, env, { stdout: (t) => (out += t), stderr: (t) => (err += t) }, {
    runApt: (aptArgs) => {
      apt.push(aptArgs);
      return Promise.resolve(0);
    },
    ...host,
  });
  return { code, out, err, apt };
}

describe('executor install', () => {
  let cacheDir: string;
  let emptyBin: string;
  const env = (extra: Record<string, string> = {}) => ({ EXECUTOR_VM_CACHE_DIR: cacheDir, PATH: process.env.PATH ?? '', ...extra });

  beforeAll(async () => {
    cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'install-cache-'));
    emptyBin = await fs.mkdtemp(path.join(os.tmpdir(), 'install-empty-bin-'));
  });
  afterAll(async () => {
    await fs.rm(cacheDir, { recursive: true, force: true });
    await fs.rm(emptyBin, { recursive: true, force: true });
  });

  it('builds the initramfs into <EXECUTOR_VM_CACHE_DIR>/initramfs and says where; a second run finds it', async () => {
    const first = await install(['initramfs'], env());
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const built = new RegExp(`^initramfs: built for kernel (\\S+) in \\d+ ms: (${cacheDir}/initramfs/initramfs-\\S+\\.cpio\\.gz) \\(`, 'm').exec(first.out);
    expect(built, first.out).not.toBeNull();
    expect((await fs.stat(built![2]!)).size).toBeGreaterThan(500_000);

    const second = await install(['initramfs'], env());
    expect(second.code).toBe(0);
    expect(second.out).toBe(`initramfs: already built for kernel ${built![1]}: ${built![2]}\n`);
  });

  it('says every tool is installed, with where, and runs no apt-get', async () => {
    const { code, out, err, apt } = await install(['tools'], env(), { runApt: () => Promise.reject(new Error('apt-get must not run')) });
    expect(err).toBe('');
    expect(out).toMatch(/^tools: qemu-system-x86_64: \/\S+\/qemu-system-x86_64$/m);
    expect(out).toMatch(/^tools: busybox: \/bin\/busybox$/m);
    expect(out).toMatch(/^tools: socat: /m);
    expect(out.trimEnd().split('\n').at(-1)).toBe('tools: everything the vm runtime needs is installed');
    expect(apt).toEqual([]);
    expect(code).toBe(0);
  });

  it('installs the packages whose programs are missing with one apt-get install when root', async () => {
    // Nothing on PATH but e2fsprogs (found in /usr/sbin off PATH) and the fixed /bin/busybox.
    const { code, out, apt } = await install(['tools'], env({ PATH: emptyBin }), { isRoot: true });
    expect(out).toContain('tools: qemu-system-x86_64: missing (runs the micro-VMs)');
    expect(out).toContain('tools: mkfs.ext4: installed at /usr/sbin/mkfs.ext4, but /usr/sbin is not on PATH');
    // apt-get itself is not on this PATH either: the command is printed, not run.
    expect(apt).toEqual([]);
    expect(code).toBe(1);
  });

  it('prints the exact apt-get command and fails when not root', async () => {
    const fakeBin = await fs.mkdtemp(path.join(os.tmpdir(), 'install-apt-bin-'));
    try {
      await fs.symlink('/bin/true', path.join(fakeBin, 'apt-get'));
      const { code, err, apt } = await install(['tools'], env({ PATH: `${fakeBin}:/usr/sbin` }), { isRoot: false });
      expect(err).toContain('tools: not running as root; install the missing packages with:\n  apt-get install -y qemu-system-x86 skopeo umoci xz-utils socat\n');
      expect(apt).toEqual([]);
      expect(code).toBe(1);
    } finally {
      await fs.rm(fakeBin, { recursive: true, force: true });
    }
  });

  it('runs apt-get install -y with just the missing packages when root', async () => {
    const fakeBin = await fs.mkdtemp(path.join(os.tmpdir(), 'install-apt-bin-'));
    try {
      // Only apt-get and qemu: the rest is "missing".
      for (const name of ['apt-get', 'qemu-system-x86_64']) await fs.symlink('/bin/true', path.join(fakeBin, name));
      const { code, out, err, apt } = await install(['tools'], env({ PATH: `${fakeBin}:/usr/sbin` }), { isRoot: true });
      expect(apt).toEqual([['install', '-y', 'skopeo', 'umoci', 'xz-utils', 'socat']]);
      expect(out).toContain('tools: running apt-get install -y skopeo umoci xz-utils socat');
      // The fake apt-get installed nothing, and install says so.
      expect(err).toContain('tools: skopeo is still not usable after installing skopeo');
      expect(code).toBe(1);
    } finally {
      await fs.rm(fakeBin, { recursive: true, force: true });
    }
  });

  it('finds the installed guest kernel and installs nothing', async () => {
    const { code, out, apt } = await install(['kernel'], env());
    expect(out).toMatch(/^kernel: already installed: \S+-cloud-amd64 at \/boot\/vmlinuz-\S+-cloud-amd64$/m);
    expect(apt).toEqual([]);
    expect(code).toBe(0);
  });

  it("says the original's ignite, CNI and iptables targets are not needed here", async () => {
    for (const what of ['ignite', 'cni', 'iptables-rules', 'src-cli']) {
      const { code, out } = await install([what], env());
      expect(out).toMatch(new RegExp(`^executor install ${what}: not needed: `));
      expect(code).toBe(0);
    }
    const cni = await install(['cni'], env());
    expect(cni.out).toContain("QEMU's restricted user network");
  });

  it('refuses a host that is not Linux amd64, and bad usage', async () => {
    const arm = await install(['initramfs'], env(), { arch: 'arm64' });
    expect(arm.err).toContain('only supported on Linux amd64 (this host: linux arm64)');
    expect(arm.code).toBe(1);
    expect((await install(['wat'], env())).code).toBe(2);
    expect((await install(['image'], env())).err).toContain('name at least one image');
    expect((await install([], env())).err).toContain('Usage: executor install <what>');
  });

  it('reports a bad EXECUTOR_VM_CACHE_DIR as a configuration problem through the CLI', async () => {
    let err = '';
    const code = await runExecutorCli(['install', 'initramfs'], { EXECUTOR_VM_CACHE_DIR: 'relative/dir' }, { stdout: () => {}, stderr: (t) => (err += t) });
    expect(err).toContain('EXECUTOR_VM_CACHE_DIR="relative/dir": expected an absolute path');
    expect(err).not.toContain('EXECUTOR_FRONTEND_URL');
    expect(code).toBe(2);
  });

  // Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker, never in CI (CI=true).
  describe.skipIf(!dockerTestsEnabled())('image (dockerd, e2fsprogs)', () => {
    beforeAll(async () => {
      await ensureBusyboxImage(BUSYBOX_IMAGE);
    });

    it('converts a step image into <EXECUTOR_VM_CACHE_DIR>/images, says its digest and disk, then finds it cached', async () => {
      const first = await install(['image', BUSYBOX_IMAGE], env());
      expect(first.err).toBe('');
      expect(first.code).toBe(0);
      const line = new RegExp(`^image: ${BUSYBOX_IMAGE}: (sha256:[a-f0-9]{64}) converted from the host's docker image store in \\d+ ms: (${cacheDir}/images/[a-f0-9]{64}\\.ext4) \\(`, 'm').exec(first.out);
      expect(line, first.out).not.toBeNull();
      expect((await readFileFromDisk(line![2]!, '/bin/busybox')).subarray(0, 4).toString('latin1')).toBe('\x7fELF');

      const second = await install(['image', BUSYBOX_IMAGE], env());
      expect(second.out).toContain(`image: ${BUSYBOX_IMAGE}: ${line![1]} already in the cache: ${line![2]}`);
      expect(second.code).toBe(0);
    });

    it('install all runs tools, kernel, initramfs, the EXECUTOR_VM_PRELOAD_IMAGES images, then the systemd service', async () => {
      // --root: the service files go under a scratch root, not this machine's /etc/systemd/system.
      const serviceRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'install-all-root-'));
      try {
        const { code, out, apt } = await install(['all', '--root', serviceRoot], env({ EXECUTOR_VM_PRELOAD_IMAGES: ` ${BUSYBOX_IMAGE} ,` }));
        expect(out).toContain('tools: everything the vm runtime needs is installed');
        expect(out).toMatch(/^kernel: already installed: /m);
        expect(out).toMatch(/^initramfs: already built for kernel /m);
        expect(out).toMatch(new RegExp(`^image: ${BUSYBOX_IMAGE}: sha256:[a-f0-9]{64} already in the cache: `, 'm'));
        expect(out).toContain(`service: ${serviceRoot}/etc/systemd/system/executor.service: written`);
        expect(apt).toEqual([]);
        expect(code).toBe(0);
        expect((await fs.stat(path.join(serviceRoot, 'etc/systemd/system/executor.env'))).mode & 0o777).toBe(0o600);
      } finally {
        await fs.rm(serviceRoot, { recursive: true, force: true });
      }
    });
  });
});
