// Finds the guest kernel of the vm runtime: Debian's cloud kernel (`linux-image-cloud-amd64`), installed on
// the host, and the virtio modules a bare initramfs must load to see the micro-VM's virtio-mmio disks (the
// cloud kernel builds virtio, virtio_ring, virtio_mmio, virtio_blk, virtio_console, virtio_net and overlay
// as modules; ext4, inet and packet sockets are built in).
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../../../shared/errors.js';

const INSTALL_HINT = 'apt-get install -y linux-image-cloud-amd64';

/**
 * The modules the guest loads, by path under `/lib/modules/<version>/` without the `.ko…` suffix, in
 * dependency order (virtio uses virtio_ring's symbols), so one pass usually loads them all; `/init` still
 * retries in passes should a kernel's dependencies differ.
 */
export const GUEST_MODULES = [
  'kernel/drivers/virtio/virtio_ring',
  'kernel/drivers/virtio/virtio',
  'kernel/drivers/virtio/virtio_mmio',
  'kernel/drivers/block/virtio_blk',
  // The agent's control and output channels (virtio-serial ports).
  'kernel/drivers/char/virtio_console',
  // A step's writable layer over its read-only image.
  'kernel/fs/overlayfs/overlay',
  // The uplink's network device (uplink/uplink-network.ts); virtio_net needs net_failover, which needs
  // failover (the kernel's modules.dep).
  'kernel/net/core/failover',
  'kernel/drivers/net/net_failover',
  'kernel/drivers/net/virtio_net',
] as const;

export interface GuestModule {
  /** `virtio_blk`: the file name without `.ko…`, what the guest's `/init` loads it as. */
  name: string;
  /** The host file: `.ko`, or `.ko.xz` that the initramfs builder decompresses (busybox `insmod` reads no xz). */
  path: string;
  compression: 'none' | 'xz';
}

export interface GuestKernel {
  /** `uname -r` of the guest: `6.1.0-56-cloud-amd64`. */
  version: string;
  /** `/boot/vmlinuz-<version>`. */
  kernelPath: string;
  /** In {@link GUEST_MODULES}' order. */
  modules: GuestModule[];
}

export interface FindGuestKernelOptions {
  /** Default `/boot`. */
  bootDir?: string;
  /** Default `/lib/modules`. */
  modulesDir?: string;
}

/**
 * The newest installed cloud kernel (`<bootDir>/vmlinuz-*-cloud-amd64`) with its virtio modules. Throws
 * `vm.kernel_missing` when there is none and `vm.kernel_modules_missing` when a module is not installed.
 */
export async function findGuestKernel(options: FindGuestKernelOptions = {}): Promise<GuestKernel> {
  const bootDir = options.bootDir ?? '/boot';
  const modulesDir = options.modulesDir ?? '/lib/modules';
  const names = await fs.readdir(bootDir).catch(() => [] as string[]);
  const versions = names
    .filter((n) => n.startsWith('vmlinuz-') && n.endsWith('-cloud-amd64'))
    .map((n) => n.slice('vmlinuz-'.length))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  const version = versions[0];
  if (version === undefined) {
    throw new AppError('vm.kernel_missing', `no guest kernel: ${bootDir}/vmlinuz-*-cloud-amd64 not found; install it with \`${INSTALL_HINT}\``);
  }
  const kernelPath = path.join(bootDir, `vmlinuz-${version}`);
  await fs.access(kernelPath, fs.constants.R_OK).catch((err: unknown) => {
    throw new AppError('vm.kernel_missing', `guest kernel ${kernelPath} is not readable`, { cause: err });
  });

  const modules: GuestModule[] = [];
  for (const rel of GUEST_MODULES) {
    const base = path.join(modulesDir, version, rel);
    const found = await firstReadable([
      { path: `${base}.ko`, compression: 'none' as const },
      { path: `${base}.ko.xz`, compression: 'xz' as const },
    ]);
    if (!found) {
      throw new AppError(
        'vm.kernel_modules_missing',
        `guest kernel ${version}: module ${base}.ko (or .ko.xz) not found; reinstall it with \`${INSTALL_HINT}\``,
      );
    }
    modules.push({ name: path.basename(rel), ...found });
  }
  return { version, kernelPath, modules };
}

async function firstReadable<T extends { path: string }>(candidates: T[]): Promise<T | undefined> {
  for (const c of candidates) {
    try {
      await fs.access(c.path, fs.constants.R_OK);
      return c;
    } catch {
      // Try the next form.
    }
  }
  return undefined;
}
