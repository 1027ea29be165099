// The vm runtime's choice of accelerator: KVM when a guest runs under it, emulation only when allowed by
// name, and a refusal that says what to do otherwise. (The probe itself boots a guest: qemu-vm.test.ts.)
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveGuestPlatform } from './guest-platform.js';

describe('resolveGuestPlatform', () => {
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'guest-platform-'));
  });
  afterAll(async () => {
    await fs.rm(cacheDir, { recursive: true, force: true });
  });

  it('refuses without working KVM unless emulation is allowed, and never falls back silently', async () => {
    await expect(resolveGuestPlatform({ cacheDir, allowEmulation: false, kvmWorks: false })).rejects.toMatchObject({
      code: 'vm.kvm_unavailable',
      message: expect.stringContaining('EXECUTOR_VM_ALLOW_EMULATION=true'),
    });
    const emulated = await resolveGuestPlatform({ cacheDir, allowEmulation: true, kvmWorks: false });
    expect(emulated.accel).toBe('tcg');
    expect(emulated.initramfsPath.startsWith(path.join(cacheDir, 'initramfs'))).toBe(true);
    expect((await resolveGuestPlatform({ cacheDir, allowEmulation: true, kvmWorks: true })).accel).toBe('kvm');
  });

  it('names the package when socat, which connects the guests\' uplinks, is not installed', async () => {
    // A PATH with QEMU but no socat.
    const bin = path.join(cacheDir, 'bin-without-socat');
    await fs.mkdir(bin, { recursive: true });
    await fs.symlink('/usr/bin/qemu-system-x86_64', path.join(bin, 'qemu-system-x86_64'));
    await expect(resolveGuestPlatform({ cacheDir, allowEmulation: true, kvmWorks: false, searchPath: bin })).rejects.toMatchObject({
      code: 'vm.socat_missing',
      message: expect.stringContaining('apt-get install -y socat'),
    });
  });

  it('names the package when QEMU is not installed', async () => {
    await expect(resolveGuestPlatform({ cacheDir, allowEmulation: true, kvmWorks: false, searchPath: '/nonexistent' })).rejects.toMatchObject({
      code: 'vm.qemu_missing',
      message: expect.stringContaining('apt-get install -y qemu-system-x86'),
    });
  });
});
