// The host programs the vm runtime runs, each with the Debian package that provides it: what
// `executor install tools` installs and what it and `executor validate` look for.
import fs from 'node:fs/promises';
import path from 'node:path';
import { findOnPath, QEMU_BINARY } from '../runtimes/vm/guest/guest-platform.js';
import { isStaticElf } from '../runtimes/vm/guest/initramfs.js';

/** The guest's userland: ensureInitramfs reads this path, and it must be statically linked. */
export const GUEST_BUSYBOX_PATH = '/bin/busybox';

/** Used when the environment has no PATH (a bare `env -i`): Debian's default for root. */
export const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface VmHostTool {
  /** The program, looked up on PATH; for busybox the fixed {@link GUEST_BUSYBOX_PATH}. */
  binary: string;
  /** The Debian package that installs it. */
  debianPackage: string;
  /** Why the vm runtime needs it, for messages. */
  purpose: string;
}

export const VM_HOST_TOOLS: readonly VmHostTool[] = [
  { binary: QEMU_BINARY, debianPackage: 'qemu-system-x86', purpose: 'runs the micro-VMs' },
  { binary: 'mkfs.ext4', debianPackage: 'e2fsprogs', purpose: 'builds the workspace, scratch and step image disks' },
  { binary: 'debugfs', debianPackage: 'e2fsprogs', purpose: 'reads files back out of a workspace disk' },
  { binary: 'busybox', debianPackage: 'busybox-static', purpose: "the guest's shell and tools (statically linked, at /bin/busybox)" },
  { binary: 'skopeo', debianPackage: 'skopeo', purpose: "fetches step images from a registry (those not in the host's docker store)" },
  { binary: 'umoci', debianPackage: 'umoci', purpose: 'unpacks step images fetched from a registry' },
  { binary: 'xz', debianPackage: 'xz-utils', purpose: "decompresses the guest kernel's .ko.xz modules" },
  { binary: 'socat', debianPackage: 'socat', purpose: "connects each guest's uplink to the executor's upload proxy (QEMU runs it), and attaches a terminal to a test VM's console (executor test-vm)" },
];

/** Debian puts e2fsprogs in /usr/sbin, which a non-root user's PATH often lacks. */
const SBIN_DIRS = ['/usr/sbin', '/sbin'];

export type VmHostToolStatus =
  | { state: 'found'; path: string }
  /** Installed, but not where the executor looks: apt cannot fix that, PATH can. */
  | { state: 'off-path'; path: string }
  /** /bin/busybox exists but is the dynamically linked one (Debian's `busybox`, not `busybox-static`). */
  | { state: 'not-static'; path: string }
  | { state: 'missing' };

/** Where `tool` is, as the runtime would find it with `searchPath`. */
export async function findVmHostTool(tool: VmHostTool, searchPath: string): Promise<VmHostToolStatus> {
  if (tool.binary === 'busybox') {
    const bytes = await fs.readFile(GUEST_BUSYBOX_PATH).catch(() => undefined);
    if (!bytes) return { state: 'missing' };
    return isStaticElf(bytes) ? { state: 'found', path: GUEST_BUSYBOX_PATH } : { state: 'not-static', path: GUEST_BUSYBOX_PATH };
  }
  const found = await findOnPath(tool.binary, searchPath);
  if (found) return { state: 'found', path: found };
  const elsewhere = await findOnPath(tool.binary, SBIN_DIRS.join(':'));
  if (elsewhere) return { state: 'off-path', path: elsewhere };
  return { state: 'missing' };
}

/** The directory to add to PATH for an off-path tool. */
export function pathHint(status: { path: string }): string {
  return path.dirname(status.path);
}
