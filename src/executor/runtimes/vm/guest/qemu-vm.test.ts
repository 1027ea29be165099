// Real QEMU microvm guests under TCG (emulation; KVM guests hang on this kind of machine): a command's
// output and exit code come back over the serial console, the boot-to-ready time is measured, an abort
// leaves no QEMU process behind, the virtio modules load (also from .ko.xz), and the KVM probe answers no here.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findGuestKernel, GUEST_MODULES, type GuestKernel } from './guest-kernel.js';
import { ensureInitramfs } from './initramfs.js';
import { kvmWorks } from './kvm-probe.js';
import { runInGuest, type GuestRunOptions } from './qemu-vm.js';
import { tcgGuest } from '../../../../../test/helpers/tcg-guest.js';

const run = promisify(execFile);

/** PIDs of live processes whose command line holds `needle` (QEMU's `-name`). */
async function processesNamed(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

describe('QEMU microvm guest (TCG)', () => {
  let cacheDir: string;
  let kernel: GuestKernel;
  let initramfsPath: string;
  const guest = (extra: Partial<GuestRunOptions>): GuestRunOptions => tcgGuest(kernel, initramfsPath, extra);

  beforeAll(async () => {
    cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vm-initramfs-'));
    kernel = await findGuestKernel();
    initramfsPath = await ensureInitramfs({ kernel, cacheDir });
  });
  afterAll(async () => {
    await fs.rm(cacheDir, { recursive: true, force: true });
  });

  it('caches the initramfs per kernel', async () => {
    expect(await ensureInitramfs({ kernel, cacheDir })).toBe(initramfsPath);
    expect(path.basename(initramfsPath)).toContain(kernel.version);
  });

  it("runs a command and returns its output, its exit code and the boot-to-ready time", async () => {
    const lines: string[] = [];
    let readyMs: number | undefined;
    const result = await runInGuest(
      guest({ command: 'echo hello-from-guest; printf no-newline; exit 3', onOutput: (l) => lines.push(l), onReady: (ms) => (readyMs = ms) }),
    );
    expect(result.exitCode).toBe(3);
    expect(result.output).toContain('hello-from-guest');
    expect(lines).toEqual(expect.arrayContaining(['hello-from-guest', 'no-newline']));
    expect(result.bootToReadyMs).toBeGreaterThan(0);
    expect(readyMs).toBe(result.bootToReadyMs);
    expect(result.totalMs).toBeGreaterThanOrEqual(result.bootToReadyMs);
  });

  it('loads the virtio modules, also from .ko.xz files (decompressed into the initramfs)', async () => {
    // A copy of the installed kernel whose modules are xz-compressed, as some kernel packages ship them.
    const root = path.join(cacheDir, 'xz-kernel');
    const bootDir = path.join(root, 'boot');
    await fs.mkdir(bootDir, { recursive: true });
    await fs.symlink(kernel.kernelPath, path.join(bootDir, path.basename(kernel.kernelPath)));
    for (const rel of GUEST_MODULES) {
      const target = path.join(root, 'modules', kernel.version, `${rel}.ko`);
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.copyFile(`/lib/modules/${kernel.version}/${rel}.ko`, target);
      await run('xz', ['-z', target]);
    }
    const xzKernel = await findGuestKernel({ bootDir, modulesDir: path.join(root, 'modules') });
    expect(xzKernel.modules.map((m) => m.compression)).toEqual(GUEST_MODULES.map(() => 'xz'));
    const xzInitramfs = await ensureInitramfs({ kernel: xzKernel, cacheDir });
    expect(xzInitramfs).not.toBe(initramfsPath);
    const command = 'for m in virtio_ring virtio virtio_mmio virtio_blk; do [ -d /sys/module/$m ] && echo loaded-$m; done';
    const result = await runInGuest(guest({ kernel: xzKernel, initramfsPath: xzInitramfs, command }));
    expect(result).toMatchObject({ exitCode: 0, output: 'loaded-virtio_ring\nloaded-virtio\nloaded-virtio_mmio\nloaded-virtio_blk' });
  });

  it('fails with vm.kernel_missing, naming the package, where no cloud kernel is installed', async () => {
    await expect(findGuestKernel({ bootDir: cacheDir })).rejects.toMatchObject({
      code: 'vm.kernel_missing',
      message: expect.stringContaining('apt-get install -y linux-image-cloud-amd64'),
    });
  });

  it('kills QEMU on abort', async () => {
    const name = `executor-test-abort-${process.pid}-${Date.now()}`;
    const controller = new AbortController();
    const reason = new Error('job canceled');
    const run = runInGuest(
      guest({ name, command: 'echo sleeping; sleep 600', signal: controller.signal, onOutput: (l) => l === 'sleeping' && controller.abort(reason) }),
    );
    await expect(run).rejects.toBe(reason);
    expect(await processesNamed(name)).toEqual([]);
  });

  it('fails with vm.boot_timeout and kills QEMU when the guest is not ready in time', async () => {
    const name = `executor-test-timeout-${process.pid}-${Date.now()}`;
    await expect(runInGuest(guest({ name, bootTimeoutMs: 300 }))).rejects.toMatchObject({ code: 'vm.boot_timeout' });
    expect(await processesNamed(name)).toEqual([]);
  });

  // This asserts this machine's known state (ARCHITECTURE.md, "Facts about this machine"): /dev/kvm is
  // there, but nested KVM is broken and a KVM guest never boots. On a host with working KVM it fails.
  it('kvmWorks() is false on this machine', async () => {
    expect(await kvmWorks({ kernel, initramfsPath, timeoutMs: 4_000 })).toBe(false);
    expect(await processesNamed('executor-kvm-probe')).toEqual([]);
  });
});
