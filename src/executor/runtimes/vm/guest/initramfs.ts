// Builds the guest's initramfs: a gzip'd newc cpio archive, written here in TypeScript (no root needed for
// the /dev/console node), holding static busybox with its applet links, the guest kernel's virtio modules
// and this project's `/init`. `/init` loads the modules, runs the command from the kernel command line,
// prints markers the host reads off the serial console, and powers the guest off. Cached per kernel.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { AppError } from '../../../../shared/errors.js';
import { AGENT_SCRIPT, CMDLINE_AGENT, CMDLINE_DISKS, CMDLINE_SNAPSHOT, GUEST_WORK_DIR, STEP_DEV_TEMPLATE_DIR } from '../agent/agent-script.js';
import { FRESH_START_HELPER, FRESH_START_HELPER_PATH } from '../snapshot/fresh-start.js';
import type { GuestKernel } from './guest-kernel.js';
import { CMDLINE_NONCE, EXIT_MARKER, INIT_ERROR_MARKER, READY_MARKER } from './guest-markers.js';

const execFileAsync = promisify(execFile);

/** Kernel command-line parameter that `/init` reads: the command (base64 of a shell script). */
export const CMDLINE_COMMAND = 'executor.cmd';
/**
 * Set (`vda`, or `vda:ro` for a read-only disk), `/init` mounts that ext4 disk at /work and runs the command
 * there, then unmounts it, so the host can read the image with debugfs (which replays no journal).
 */
export const CMDLINE_WORK = 'executor.work';

/**
 * Set (`executor.debug=1`), `/init` runs no command: it mounts the disk named by {@link CMDLINE_WORK} (if
 * any) at /work, prints `EXECUTOR-DEBUG-SHELL <nonce>` and keeps an interactive root shell on the serial
 * console, started again whenever it exits (`executor test-vm`, reference §5.3 "Debugging").
 */
export const CMDLINE_DEBUG = 'executor.debug';
/** Printed by a debug guest as `EXECUTOR-DEBUG-SHELL <nonce>` once its console shell is about to start. */
export const DEBUG_SHELL_MARKER = 'EXECUTOR-DEBUG-SHELL';

/**
 * A debug guest's console loop: a login shell with the serial console as its controlling terminal
 * (busybox `cttyhack` reopens the console's real device, so Ctrl-C and job control work), started again
 * when it exits, so `exit` in an attached session does not power the VM off.
 */
export const DEBUG_SHELL_SCRIPT = `
export PS1='[executor-test-vm \\w]# '
echo
echo "executor test VM: a root shell on the serial console; the workspace disk is at ${GUEST_WORK_DIR} (if any)."
echo "The guest has no network. 'poweroff -f' stops the VM."
echo "${DEBUG_SHELL_MARKER} $nonce"
while :; do
  setsid cttyhack sh -l
  echo "executor: the shell exited; starting a new one"
  sleep 0.2
done
`;

/**
 * The guest's `/init`. The markers carry the nonce the host put on the command line, so a line the kernel
 * or a `cat` happens to print is not taken for one. The exit marker may follow output that has no final
 * newline on the same line; the host splits it off. Modules load in passes until all did (a bare
 * initramfs has no `modprobe` to order them by dependency).
 */
export const INIT_SCRIPT = `#!/bin/busybox sh
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1

cmd=''
nonce=''
work=''
agent=''
snapshot=''
debug=''
disks=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    ${CMDLINE_WORK}=*) work="\${arg#${CMDLINE_WORK}=}" ;;
    ${CMDLINE_COMMAND}=*) cmd="\${arg#${CMDLINE_COMMAND}=}" ;;
    ${CMDLINE_NONCE}=*) nonce="\${arg#${CMDLINE_NONCE}=}" ;;
    ${CMDLINE_AGENT}=*) agent="\${arg#${CMDLINE_AGENT}=}" ;;
    ${CMDLINE_SNAPSHOT}=*) snapshot="\${arg#${CMDLINE_SNAPSHOT}=}" ;;
    ${CMDLINE_DEBUG}=*) debug="\${arg#${CMDLINE_DEBUG}=}" ;;
    ${CMDLINE_DISKS}=*) disks="\${arg#${CMDLINE_DISKS}=}" ;;
  esac
done

fail() {
  echo "${INIT_ERROR_MARKER} $nonce $*"
  poweroff -f
  exit 1
}

pending="$(cat /lib/modules/load-order)"
pass=0
while [ -n "$pending" ] && [ $pass -lt 50 ]; do
  left=''
  for m in $pending; do
    insmod "/lib/modules/$m.ko" 2>/dev/null || left="$left $m"
  done
  pending="$left"
  pass=$((pass + 1))
  [ -n "$pending" ] && sleep 0.05
done
[ -z "$pending" ] || fail "kernel modules did not load:$pending"

if [ -z "$agent" ] && [ -z "$debug" ]; then
  echo "$cmd" | base64 -d >/tmp/command.sh 2>/dev/null || fail "cannot decode ${CMDLINE_COMMAND}"
fi
cd /
if [ -n "$work" ]; then
  dev="\${work%%:*}"
  mode=rw
  [ "$dev" = "$work" ] || mode="\${work#*:}"
  waited=0
  while [ ! -b "/dev/$dev" ] && [ $waited -lt 100 ]; do sleep 0.05; waited=$((waited + 1)); done
  [ -b "/dev/$dev" ] || fail "disk /dev/$dev did not appear"
  mkdir -p ${GUEST_WORK_DIR}
  mount -t ext4 -o "$mode" "/dev/$dev" ${GUEST_WORK_DIR} || fail "cannot mount /dev/$dev at ${GUEST_WORK_DIR}"
  cd ${GUEST_WORK_DIR}
fi
if [ -n "$agent" ]; then
${AGENT_SCRIPT}
fi
if [ -n "$debug" ]; then
${DEBUG_SHELL_SCRIPT}
fi
echo "${READY_MARKER} $nonce"
sh /tmp/command.sh </dev/null
code=$?
cd /
if [ -n "$work" ]; then
  sync
  umount ${GUEST_WORK_DIR} 2>/dev/null || mount -o remount,ro ${GUEST_WORK_DIR} 2>/dev/null || echo "executor: ${GUEST_WORK_DIR} is busy; not cleanly unmounted"
fi
echo "${EXIT_MARKER} $nonce $code"
sync
poweroff -f
`;

const BUSYBOX_HINT = 'apt-get install -y busybox-static';
/** Bumped when the archive's layout (not its scripts) changes, so a cached initramfs is rebuilt. */
const INITRAMFS_LAYOUT = 'layout 2: the step /dev template';

export interface EnsureInitramfsOptions {
  kernel: GuestKernel;
  /** Where built images are kept, one per kernel version and build input. Created when missing. */
  cacheDir: string;
  /** Default `/bin/busybox` (Debian's busybox-static). It must be statically linked. */
  busyboxPath?: string;
}

/**
 * The path of the initramfs for `kernel`, built into `cacheDir` on first use. The file name holds the
 * kernel version and a hash of what went in (init script, busybox, modules), so a change rebuilds it.
 * Throws `vm.busybox_missing` / `vm.busybox_not_static` / `vm.module_decompress_failed`.
 */
export async function ensureInitramfs(options: EnsureInitramfsOptions): Promise<string> {
  const { kernel, cacheDir } = options;
  const busyboxPath = options.busyboxPath ?? '/bin/busybox';
  const busybox = await fs.readFile(busyboxPath).catch((err: unknown) => {
    throw new AppError('vm.busybox_missing', `static busybox ${busyboxPath} not found; install it with \`${BUSYBOX_HINT}\``, { cause: err });
  });
  if (!isStaticElf(busybox)) {
    throw new AppError('vm.busybox_not_static', `${busyboxPath} is dynamically linked; the guest needs a static one: \`${BUSYBOX_HINT}\``);
  }

  const hash = crypto.createHash('sha256').update(INITRAMFS_LAYOUT).update(INIT_SCRIPT).update(FRESH_START_HELPER).update(busybox);
  for (const m of kernel.modules) {
    const st = await fs.stat(m.path);
    hash.update(`\0${m.path}\0${st.size}\0${st.mtimeMs}`);
  }
  const target = path.join(cacheDir, `initramfs-${kernel.version}-${hash.digest('hex').slice(0, 16)}.cpio.gz`);
  if (await fs.access(target).then(() => true, () => false)) return target;

  const archive = new NewcArchive();
  for (const dir of ['bin', 'dev', 'proc', 'sys', 'tmp', 'root', 'lib', 'lib/modules']) archive.directory(dir);
  // busybox `poweroff`/`mount` read these when present; /etc/mtab as in any Linux root.
  archive.directory('etc');
  archive.symlink('etc/mtab', '/proc/mounts');
  archive.characterDevice('dev/console', 5, 1);
  // A step's /dev (step-launcher.ts copies it), with the nodes and modes a container gets.
  const dev = STEP_DEV_TEMPLATE_DIR.slice(1);
  archive.directory(dev);
  for (const [name, major, minor] of [['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]] as const) {
    archive.characterDevice(`${dev}/${name}`, major, minor, 0o666);
  }
  for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']] as const) archive.symlink(`${dev}/${name}`, target);
  archive.directory(`${dev}/shm`, 0o1777);
  archive.directory(`${dev}/pts`);
  archive.file('bin/busybox', busybox, 0o755);
  for (const applet of await busyboxApplets(busyboxPath)) {
    if (applet !== 'busybox') archive.symlink(`bin/${applet}`, 'busybox');
  }
  for (const m of kernel.modules) archive.file(`lib/modules/${m.name}.ko`, await moduleBytes(m.path, m.compression), 0o644);
  archive.file('lib/modules/load-order', Buffer.from(kernel.modules.map((m) => m.name).join(' ') + '\n'), 0o644);
  archive.file(FRESH_START_HELPER_PATH.slice(1), FRESH_START_HELPER, 0o755);
  archive.file('init', Buffer.from(INIT_SCRIPT), 0o755);

  await fs.mkdir(cacheDir, { recursive: true });
  const tmp = `${target}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, zlib.gzipSync(archive.finish()));
  await fs.rename(tmp, target);
  return target;
}

async function busyboxApplets(busyboxPath: string): Promise<string[]> {
  const { stdout } = await execFileAsync(busyboxPath, ['--list']);
  return stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/i.test(a));
}

async function moduleBytes(file: string, compression: 'none' | 'xz'): Promise<Buffer> {
  if (compression === 'none') return fs.readFile(file);
  try {
    const { stdout } = await execFileAsync('xz', ['-dc', file], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    throw new AppError('vm.module_decompress_failed', `cannot decompress ${file} with \`xz -dc\` (install it with \`apt-get install -y xz-utils\`)`, {
      cause: err,
    });
  }
}

/** True for a 64-bit little-endian ELF with no PT_INTERP program header (no dynamic loader). */
export function isStaticElf(bytes: Buffer): boolean {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) return false;
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > bytes.length) return false;
    if (bytes.readUInt32LE(at) === 3) return false; // PT_INTERP
  }
  return true;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** A cpio archive in the "new ASCII" (newc, magic 070701) format the kernel unpacks into its rootfs. */
export class NewcArchive {
  private readonly parts: Buffer[] = [];
  private nextIno = 1;

  directory(name: string, perm = 0o755): void {
    this.entry(name, S_IFDIR | perm, Buffer.alloc(0), 2);
  }

  file(name: string, data: Buffer, perm: number): void {
    this.entry(name, S_IFREG | perm, data);
  }

  symlink(name: string, target: string): void {
    this.entry(name, S_IFLNK | 0o777, Buffer.from(target));
  }

  characterDevice(name: string, major: number, minor: number, perm = 0o600): void {
    this.entry(name, S_IFCHR | perm, Buffer.alloc(0), 1, { major, minor });
  }

  /** The archive with its trailer. */
  finish(): Buffer {
    this.entry('TRAILER!!!', 0, Buffer.alloc(0), 1, undefined, 0);
    return Buffer.concat(this.parts);
  }

  private entry(name: string, mode: number, data: Buffer, nlink = 1, rdev?: { major: number; minor: number }, ino = this.nextIno++): void {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev?.major ?? 0, rdev?.minor ?? 0, nameBytes.length, 0];
    const header = Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'ascii');
    this.parts.push(header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length));
  }
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}
