// What every VM of this executor boots with, found once at start: the guest kernel, the initramfs built
// for it, QEMU, and the accelerator. KVM is used when a guest actually runs under it (kvm-probe.ts);
// without it the runtime refuses, unless emulation (TCG) was allowed by name — never a silent fallback.
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../../../shared/errors.js';
import { findGuestKernel, type GuestKernel } from './guest-kernel.js';
import { ensureInitramfs } from './initramfs.js';
import { kvmWorks } from './kvm-probe.js';
import type { Accelerator } from './qemu-vm.js';
import { UPLINK_SOCAT } from '../uplink/uplink-network.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
const QEMU_HINT = 'apt-get install -y qemu-system-x86';

export interface GuestPlatform {
  kernel: GuestKernel;
  initramfsPath: string;
  accel: Accelerator;
  /** The QEMU binary found on PATH. */
  qemuPath: string;
  /** Runs QEMU so it dies with the executor (`setpriv --pdeathsig KILL --`), where setpriv is installed. */
  qemuWrapper: string[];
}

export interface ResolveGuestPlatformOptions {
  /** The vm cache directory (EXECUTOR_VM_CACHE_DIR): the initramfs is built under `<dir>/initramfs`. */
  cacheDir: string;
  /** EXECUTOR_VM_ALLOW_EMULATION. */
  allowEmulation: boolean;
  /** Default process.env.PATH. */
  searchPath?: string;
  /** Skip the KVM probe and use this answer (tests, and `validate` after its own probe). */
  kvmWorks?: boolean;
}

/**
 * The platform, or an error that says what is missing: `vm.qemu_missing`, `vm.socat_missing`,
 * `vm.kernel_missing`, `vm.kernel_modules_missing`, `vm.busybox_missing`, or `vm.kvm_unavailable` when KVM
 * does not run a guest here and emulation was not allowed.
 */
export async function resolveGuestPlatform(options: ResolveGuestPlatformOptions): Promise<GuestPlatform> {
  // eslint-disable-next-line no-restricted-properties -- the PATH spawn searches, to find QEMU as spawn would
  const searchPath = options.searchPath ?? process.env.PATH ?? '';
  const qemuPath = await findOnPath(QEMU_BINARY, searchPath);
  if (!qemuPath) throw new AppError('vm.qemu_missing', `${QEMU_BINARY} not found on PATH; install it with \`${QEMU_HINT}\``);
  // QEMU runs it (from the same PATH) for each connection a guest makes to its uplink.
  if (!(await findOnPath(UPLINK_SOCAT, searchPath))) {
    throw new AppError('vm.socat_missing', `${UPLINK_SOCAT} not found on PATH: QEMU runs it to connect a guest's uplink to the executor's upload proxy; install it with \`apt-get install -y socat\``);
  }
  const kernel = await findGuestKernel();
  const initramfsPath = await ensureInitramfs({ kernel, cacheDir: path.join(options.cacheDir, 'initramfs') });
  const kvm = options.kvmWorks ?? (await kvmWorks({ kernel, initramfsPath, qemuBinary: qemuPath }));
  if (!kvm && !options.allowEmulation) {
    throw new AppError(
      'vm.kvm_unavailable',
      'KVM does not work on this host: a guest started with -accel kvm did not run (no /dev/kvm, no access to it, or broken nested virtualization). ' +
        'Run the executor on a host with KVM, set EXECUTOR_RUNTIME=docker, or set EXECUTOR_VM_ALLOW_EMULATION=true to run VMs under software emulation (TCG: many times slower; for tests)',
    );
  }
  const setpriv = await findOnPath('setpriv', searchPath);
  return { kernel, initramfsPath, accel: kvm ? 'kvm' : 'tcg', qemuPath, qemuWrapper: setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [] };
}

/** The first executable `binary` in the `:`-separated `searchPath`, or undefined. */
export async function findOnPath(binary: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(':').filter(Boolean)) {
    const candidate = path.join(dir, binary);
    try {
      await fs.access(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // Next directory.
    }
  }
  return undefined;
}
