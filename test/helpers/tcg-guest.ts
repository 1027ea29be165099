// The options of a small test guest: one vCPU, 256 MiB, emulated (TCG: KVM guests hang on these machines),
// with a boot timeout generous enough for 2 busy cores shared with the rest of the suite (boot to ready is
// 2–4 s here).
import type { GuestKernel } from '../../src/executor/runtimes/vm/guest/guest-kernel.js';
import type { GuestRunOptions } from '../../src/executor/runtimes/vm/guest/qemu-vm.js';

export function tcgGuest(kernel: GuestKernel, initramfsPath: string, extra: Partial<GuestRunOptions> = {}): GuestRunOptions {
  return {
    kernel,
    initramfsPath,
    accel: 'tcg',
    memoryMiB: 256,
    cpus: 1,
    command: 'true',
    bootTimeoutMs: 30_000,
    signal: new AbortController().signal,
    ...extra,
  };
}
