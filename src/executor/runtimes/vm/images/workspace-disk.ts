// The job's workspace as a disk for the vm guest: a sparse raw ext4 image built from a host directory with
// `mkfs.ext4 -d` (no mount, no root), attached to the guest as virtio-blk and mounted at /work there, and
// files read back out of it on the host with `debugfs -R 'cat …'` once the guest is gone (e2fsprogs).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { AppError } from '../../../../shared/errors.js';

const execFileAsync = promisify(execFile);

const E2FSPROGS_HINT = 'apt-get install -y e2fsprogs';

/** Under this, `mkfs.ext4` cannot lay out an ext4 file system with a journal. */
export const MIN_DISK_BYTES = 8 * 1024 * 1024;

export interface CreateWorkspaceDiskOptions {
  /** Its contents (not the directory itself) become the disk's root, owned by root (uid/gid 0). */
  fromDir: string;
  /** The image file; replaced when it exists. Its directory must exist. */
  imagePath: string;
  /** The disk's size (e.g. from EXECUTOR_FIRECRACKER_DISK_SPACE), rounded down to 4 KiB; at least {@link MIN_DISK_BYTES}. */
  sizeBytes: number;
  /** Default `mkfs.ext4` from PATH (Debian puts it in /usr/sbin). */
  mkfsBinary?: string;
}

/**
 * Builds the image: the file is first sized sparse with ftruncate, so mkfs takes the file's size and only
 * the blocks it writes take space. Throws `vm.disk_size_invalid`, `vm.e2fsprogs_missing` and
 * `vm.disk_create_failed` (mkfs's message included: e.g. the directory does not fit or does not exist).
 */
export async function createWorkspaceDisk(options: CreateWorkspaceDiskOptions): Promise<void> {
  const { fromDir, imagePath } = options;
  if (!Number.isSafeInteger(options.sizeBytes) || options.sizeBytes < MIN_DISK_BYTES) {
    throw new AppError('vm.disk_size_invalid', `workspace disk size ${options.sizeBytes} bytes is not an integer of at least ${MIN_DISK_BYTES} bytes`);
  }
  const sizeBytes = options.sizeBytes - (options.sizeBytes % 4096);
  const mkfs = options.mkfsBinary ?? 'mkfs.ext4';
  const handle = await fs.open(imagePath, 'w');
  try {
    await handle.truncate(sizeBytes);
  } finally {
    await handle.close();
  }
  try {
    // -F: the target is a regular file, not a block device. No size operand: mkfs uses the file's size.
    // No journal: the disk lives for one job and is thrown away with its guest (a crash fails the job
    // anyway), and without one the guest's mount starts no jbd2 thread and a step's writes are not
    // written twice — measured ~11 ms less from a restored guest's resume to READY under TCG (bench/vm.ts).
    await execFileAsync(mkfs, ['-q', '-F', '-b', '4096', '-O', '^has_journal', '-d', fromDir, '-E', 'root_owner=0:0', imagePath]);
  } catch (err) {
    await fs.rm(imagePath, { force: true });
    throw toolError(err, mkfs, 'vm.disk_create_failed', `cannot build workspace disk ${imagePath} from ${fromDir}`);
  }
}

/** Characters debugfs's request parser takes literally: no spaces, quotes, backslashes or control characters. */
const SAFE_DISK_PATH = /^\/[A-Za-z0-9._@+=:,%~/-]*$/;

export interface ReadFileFromDiskOptions {
  /** Default `debugfs` from PATH (Debian puts it in /usr/sbin). */
  debugfsBinary?: string;
  /** Largest file read, in bytes; default 256 MiB. */
  maxBytes?: number;
}

/**
 * A regular file's bytes from an ext4 image that no running guest has mounted. `pathInDisk` is absolute
 * in the disk (`/out/result.txt`). Throws `vm.disk_path_invalid` for a path debugfs would misparse,
 * `vm.disk_file_missing` when there is no such file (or it is not a regular file), `vm.e2fsprogs_missing`
 * and `vm.disk_read_failed` (image missing or unreadable).
 */
export async function readFileFromDisk(imagePath: string, pathInDisk: string, options: ReadFileFromDiskOptions = {}): Promise<Buffer> {
  if (!SAFE_DISK_PATH.test(pathInDisk)) {
    throw new AppError('vm.disk_path_invalid', `cannot read ${JSON.stringify(pathInDisk)} from a disk: an absolute path of letters, digits and ._@+=:,%~/- only`);
  }
  const debugfs = options.debugfsBinary ?? 'debugfs';
  const maxBuffer = options.maxBytes ?? 256 * 1024 * 1024;
  await fs.access(imagePath, fs.constants.R_OK).catch((err: unknown) => {
    throw new AppError('vm.disk_read_failed', `workspace disk ${imagePath} is not readable`, { cause: err });
  });
  // debugfs exits 0 whatever happens to the request; its stderr tells. `stat` first: `cat` of a directory
  // prints its raw blocks.
  const stat = await runDebugfs(debugfs, imagePath, `stat ${pathInDisk}`, maxBuffer);
  if (/File not found by ext2_lookup/.test(stat.stderr)) {
    throw new AppError('vm.disk_file_missing', `${pathInDisk} is not in workspace disk ${imagePath}`);
  }
  const type = /Type: (\S+)/.exec(stat.stdout.toString('utf8'))?.[1];
  if (type === undefined) throw new AppError('vm.disk_read_failed', `cannot read ${pathInDisk} from workspace disk ${imagePath}: ${debugfsProblem(stat.stderr)}`);
  if (type !== 'regular') throw new AppError('vm.disk_file_missing', `${pathInDisk} in workspace disk ${imagePath} is a ${type}, not a regular file`);
  const cat = await runDebugfs(debugfs, imagePath, `cat ${pathInDisk}`, maxBuffer);
  const problem = debugfsProblem(cat.stderr);
  if (problem) throw new AppError('vm.disk_read_failed', `cannot read ${pathInDisk} from workspace disk ${imagePath}: ${problem}`);
  return cat.stdout;
}

/** Removes an image; a missing one is fine. */
export async function removeDisk(imagePath: string): Promise<void> {
  await fs.rm(imagePath, { force: true });
}

async function runDebugfs(debugfs: string, imagePath: string, request: string, maxBuffer: number): Promise<{ stdout: Buffer; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(debugfs, ['-R', request, imagePath], { encoding: 'buffer', maxBuffer });
    return { stdout, stderr: stderr.toString('utf8') };
  } catch (err) {
    throw toolError(err, debugfs, 'vm.disk_read_failed', `\`debugfs -R '${request}' ${imagePath}\` failed`);
  }
}

/** debugfs's stderr without its version banner; empty when all went well. */
function debugfsProblem(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l.trim() && !/^debugfs \d/.test(l))
    .join('; ');
}

function toolError(err: unknown, binary: string, code: string, what: string): AppError {
  const e = err as NodeJS.ErrnoException & { stderr?: string | Buffer };
  if (e.code === 'ENOENT') {
    return new AppError('vm.e2fsprogs_missing', `${binary} not found; install it with \`${E2FSPROGS_HINT}\``, { cause: err });
  }
  const stderr = e.stderr?.toString().trim();
  return new AppError(code, `${what}${stderr ? `: ${stderr}` : ''}`, { cause: err });
}
