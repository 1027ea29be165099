// The runtime an executor uses when EXECUTOR_RUNTIME (and its legacy alias EXECUTOR_USE_FIRECRACKER) is
// unset: `vm` where KVM runs a guest on this host, as the original defaults to Firecracker on Linux, else
// `docker`. Whether KVM works is found by booting a guest briefly (kvm-probe.ts), not by /dev/kvm being
// there; a host without the guest kernel or QEMU gets `docker` without a probe.
import { loadExecutorConfig, type ExecutorConfig } from './config.js';
import { findGuestKernel } from './runtimes/vm/guest/guest-kernel.js';
import { ensureInitramfs } from './runtimes/vm/guest/initramfs.js';
import { kvmWorks } from './runtimes/vm/guest/kvm-probe.js';
import path from 'node:path';

type Env = Record<string, string | undefined>;

/** Whether the environment names the runtime itself. */
export function runtimeIsExplicit(env: Env): boolean {
  return [env.EXECUTOR_RUNTIME, env.EXECUTOR_USE_FIRECRACKER].some((v) => (v?.trim() ?? '') !== '');
}

/** Whether a guest boots under KVM here; false when the guest kernel, busybox or QEMU is missing. */
export async function kvmRunsGuests(vmCacheDir: string): Promise<boolean> {
  try {
    const kernel = await findGuestKernel();
    const initramfsPath = await ensureInitramfs({ kernel, cacheDir: path.join(vmCacheDir, 'initramfs') });
    return await kvmWorks({ kernel, initramfsPath });
  } catch {
    return false;
  }
}

/**
 * `loadExecutorConfig(env)`, with the runtime chosen by probing KVM when the environment does not name
 * one. Throws ConfigError as loadExecutorConfig does.
 */
export async function loadExecutorConfigWithDefaultRuntime(env: Env, probe: (vmCacheDir: string) => Promise<boolean> = kvmRunsGuests): Promise<ExecutorConfig> {
  const config = loadExecutorConfig(env);
  if (runtimeIsExplicit(env)) return config;
  return (await probe(config.vmCacheDir)) ? loadExecutorConfig(env, { kvmWorks: true }) : config;
}
