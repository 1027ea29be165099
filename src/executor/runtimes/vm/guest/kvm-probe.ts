// Decides whether KVM works on this host by booting a guest under it, not by /dev/kvm being there: on
// machines with broken nested virtualization /dev/kvm opens fine but the guest's vCPU never gets past
// early boot (ARCHITECTURE.md, "Facts about this machine"). A working KVM boots the guest in well under a
// second, so a few seconds' timeout keeps the probe cheap either way.
import fs from 'node:fs/promises';
import type { GuestKernel } from './guest-kernel.js';
import { runInGuest } from './qemu-vm.js';

export interface KvmProbeOptions {
  kernel: GuestKernel;
  /** From `ensureInitramfs`. */
  initramfsPath: string;
  /** How long the guest may take to run `true` and report back. Default 5 000 ms. */
  timeoutMs?: number;
  /** Default `/dev/kvm`. */
  kvmDevice?: string;
  qemuBinary?: string;
}

/** True when a guest booted with `-accel kvm` runs a command and reports its exit code within the timeout. */
export async function kvmWorks(options: KvmProbeOptions): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  try {
    await fs.access(options.kvmDevice ?? '/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return false;
  }
  try {
    const result = await runInGuest({
      kernel: options.kernel,
      initramfsPath: options.initramfsPath,
      accel: 'kvm',
      memoryMiB: 128,
      cpus: 1,
      command: 'true',
      bootTimeoutMs: timeoutMs,
      // The whole run, not only the boot: a guest that boots but then hangs is no working KVM either.
      signal: AbortSignal.timeout(timeoutMs),
      name: 'executor-kvm-probe',
      qemuBinary: options.qemuBinary,
    });
    return result.exitCode === 0;
  } catch {
    return false;
  }
}
