// What AgentVm refuses before QEMU starts. (Booting and running steps: vm-runtime.test.ts, on real guests.)
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentVm, MAX_IMAGE_DISKS, type AgentVmOptions } from './agent-vm.js';

const options = (extra: Partial<AgentVmOptions>): AgentVmOptions => ({
  kernel: { version: 'x', kernelPath: '/nonexistent/vmlinuz', modules: [] },
  initramfsPath: '/nonexistent/initramfs',
  accel: 'tcg',
  memoryMiB: 128,
  cpus: 1,
  name: 'refused',
  runDir: '/nonexistent',
  workspaceDisk: '/nonexistent/work.ext4',
  scratchDisk: '/nonexistent/scratch.ext4',
  imageDisks: [],
  bootTimeoutMs: 1_000,
  // A QEMU that cannot start: a refusal must come before any attempt.
  qemuBinary: '/nonexistent/qemu',
  ...extra,
});

describe('AgentVm.start refusals', () => {
  it('refuses more images than a microvm guest has device slots for, naming the limit', async () => {
    const imageDisks = Array.from({ length: MAX_IMAGE_DISKS + 1 }, (_, i) => `/nonexistent/${i}.ext4`);
    await expect(AgentVm.start(options({ imageDisks }), new AbortController().signal)).rejects.toMatchObject({
      code: 'vm.too_many_images',
      message: expect.stringContaining(`at most ${MAX_IMAGE_DISKS} different images`),
    });
  });

  it('refuses a run directory whose socket paths Linux cannot bind, saying to shorten TMPDIR', async () => {
    await expect(AgentVm.start(options({ runDir: `/tmp/${'d'.repeat(120)}` }), new AbortController().signal)).rejects.toMatchObject({
      code: 'vm.socket_path_too_long',
      message: expect.stringContaining('use a shorter TMPDIR'),
    });
  });

  it('says which QEMU binary could not start', async () => {
    const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agent-vm-'));
    try {
      await expect(AgentVm.start(options({ runDir }), new AbortController().signal)).rejects.toMatchObject({
        code: 'vm.qemu_not_started',
        message: expect.stringContaining('/nonexistent/qemu'),
      });
    } finally {
      await fs.rm(runDir, { recursive: true, force: true });
    }
  });
});
