// Snapshots of a booted guest, one per guest shape: the agent booted once with nothing of a job in it (no
// disk probed, see agent-script.ts), paused and saved with QMP `migrate` to a file, so that each job's
// guest starts from it in a fraction of a boot (AgentVm.restore). Kept in `<EXECUTOR_VM_CACHE_DIR>/
// snapshots/<digest>/`, where the digest covers everything that shaped the guest — QEMU (version and
// binary), the kernel (its bytes), the initramfs, the whole QEMU command line (accelerator, vCPUs, memory,
// disk slots, kernel parameters), the host's CPU and kernel — so a change to any of them makes a new one.
//
// Measured here (QEMU 7.2, TCG, 256 MiB): with the whole RAM in the migration stream, the state is 93 MB
// and a restore takes 180–210 ms to a paused guest; with the RAM in a file of its own (memory-backend-file,
// written shared by the guest that is saved, mapped copy-on-write by each restored guest, left out of the
// stream by the `x-ignore-shared` capability) the stream is ~60 KB, a restore takes 55–90 ms, and guests
// restored from one snapshot share its untouched pages in the page cache (Firecracker restores the same way).
// The memory file is therefore never written again once saved: a rebuild writes a new directory (a rename
// keeps the inode and mtime its fingerprint holds).
import { createReadStream, type Stats } from 'node:fs';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/logger.js';
import type { ProcessOwner } from '../../../process-owner.js';
import { AgentVm, type GuestMachine, type SavedGuest } from '../agent/agent-vm.js';
import type { GuestPlatform } from '../guest/guest-platform.js';
import { createWorkspaceDisk, MIN_DISK_BYTES } from '../images/workspace-disk.js';
import { createVmRunDir } from '../vm-janitor.js';

const execFileAsync = promisify(execFile);

/**
 * Bumped when what a snapshot holds or how it is restored changes: older ones are then never used.
 * 2: the uplink's network device (its netdev is on the command line, which the digest covers as well).
 */
const SNAPSHOT_FORMAT = 2;
const META_FILE = 'meta.json';
const MEMORY_FILE = 'memory';
const STATE_FILE = 'state';
/** Attached read-only to the image slots a job does not use; never mounted. */
const PLACEHOLDER_FILE = 'empty.img';
/** A tiny step image (static busybox) a pooled guest runs its warm-up step in. */
const WARM_UP_IMAGE_FILE = 'warm-up.ext4';
const PLACEHOLDER_BYTES = 1024 * 1024;
/** A `.build-*` directory older than this was left by a build that crashed. */
const STALE_BUILD_MS = 60 * 60_000;

/** A guest shape: the machine, how many image disks it has, and the QEMU that runs it. */
export interface SnapshotShape extends GuestMachine {
  imageSlots: number;
  qemuPath: string;
  /** Runs QEMU (`setpriv --pdeathsig KILL --`); not part of the digest. */
  qemuWrapper: readonly string[];
}

/** The shape of guests of `platform` with `memoryMiB`, `cpus` and `imageSlots` image disks. */
export function shapeOf(platform: GuestPlatform, memoryMiB: number, cpus: number, imageSlots: number): SnapshotShape {
  return {
    kernel: platform.kernel,
    initramfsPath: platform.initramfsPath,
    accel: platform.accel,
    memoryMiB,
    cpus,
    imageSlots,
    qemuPath: platform.qemuPath,
    qemuWrapper: platform.qemuWrapper,
  };
}

/** A snapshot on disk, checked: restore guests from it with `AgentVm.restore`. */
export interface GuestSnapshot extends SavedGuest {
  /** sha256 (hex) of what shaped the guest; the directory's name. */
  digest: string;
  dir: string;
  shape: SnapshotShape;
  /** For the image slots a job leaves empty. */
  placeholderDisk: string;
  /** A busybox root filesystem for a pooled guest's warm-up step. */
  warmUpImage: string;
  /** Disk space the snapshot takes (its files are sparse), in bytes. */
  allocatedBytes: number;
  /** The device state's size, in bytes. */
  stateBytes: number;
  /** ISO time of the save. */
  createdAt: string;
  /** How long the build took (boot, save, checksums), in ms. */
  buildMs: number;
}

/** What `describe` tells `executor validate` and `executor test-vm`. */
export type SnapshotStatus =
  | { state: 'ready'; snapshot: GuestSnapshot }
  | { state: 'building'; digest: string }
  | { state: 'missing'; digest: string }
  | { state: 'invalid'; digest: string; problem: string }
  | { state: 'failed'; digest: string; error: string; retryInMs: number };

interface Meta {
  format: number;
  digest: string;
  nonce: string;
  createdAt: string;
  buildMs: number;
  memoryMiB: number;
  stateSha256: string;
  /** The memory file as saved: size, mtime (ms), inode. */
  memoryFingerprint: string;
}

export interface SnapshotStoreOptions {
  /** `<EXECUTOR_VM_CACHE_DIR>/snapshots`, created when missing. */
  dir: string;
  /** Where the QEMU of a guest being built gets its run directory (sockets need a short path): TMPDIR. */
  runParentDir: string;
  /** This process, for the run directory's owner marker (the janitor's). */
  owner: ProcessOwner;
  /** Run directories in use by this process: the janitor skips them. */
  activeRunDirs: Set<string>;
  logger: Logger;
  /** Boot-to-ready bound of the guest being built, in ms. */
  bootTimeoutMs: number;
  /** Snapshot directories kept, the most recently used first. Default 4. */
  keep?: number;
  /** After a failed build, wait this long before the next, doubling up to 30 min. Default 60 000 ms. */
  retryAfterMs?: number;
}

/** Builds, checks, finds and discards snapshots; one build per digest at a time in this process. */
export class SnapshotStore {
  private readonly digests = new Map<string, Promise<string>>();
  private readonly builds = new Map<string, Promise<GuestSnapshot>>();
  /** digest → the checked snapshot, valid while its files are unchanged. */
  private readonly checked = new Map<string, { snapshot: GuestSnapshot; stamp: string }>();
  private readonly failures = new Map<string, { error: string; at: number; delayMs: number }>();
  /** digest → a check in flight, so concurrent jobs read the files once. */
  private readonly loading = new Map<string, Promise<{ snapshot?: GuestSnapshot; problem?: string }>>();
  private readonly controller = new AbortController();

  constructor(private readonly options: SnapshotStoreOptions) {}

  /** The digest of `shape` (hex sha256). */
  digest(shape: SnapshotShape): Promise<string> {
    const key = shapeKey(shape);
    let digest = this.digests.get(key);
    if (!digest) {
      digest = shapeDigest(shape);
      this.digests.set(key, digest);
      digest.catch(() => this.digests.delete(key));
    }
    return digest;
  }

  /**
   * The snapshot of `shape` when it is built and intact; otherwise undefined with why, and a build is
   * started in the background (unless one is running, or failed recently). Never throws.
   */
  async find(shape: SnapshotShape): Promise<{ snapshot: GuestSnapshot } | { snapshot?: undefined; why: string }> {
    try {
      const digest = await this.digest(shape);
      const found = await this.load(digest, shape);
      if (found.snapshot) return { snapshot: found.snapshot };
      const failure = this.failures.get(digest);
      if (failure && Date.now() - failure.at < failure.delayMs) {
        return { why: `building the snapshot failed ${formatAgo(Date.now() - failure.at)} ago (${failure.error}); the next attempt is in ${formatAgo(failure.at + failure.delayMs - Date.now())}` };
      }
      this.ensure(shape).catch(() => {});
      const reason = found.problem ? `the snapshot ${short(digest)} was unusable (${found.problem})` : `no snapshot yet for this guest shape (${short(digest)})`;
      return { why: `${reason}; it is being built in the background` };
    } catch (err) {
      return { why: `cannot look for a snapshot: ${(err as Error).message}` };
    }
  }

  /**
   * The snapshot of `shape`, built now if there is none (one build per digest; after a failed build, not
   * again before its retry delay). Rejects with `vm.snapshot_failed`.
   */
  async ensure(shape: SnapshotShape): Promise<GuestSnapshot> {
    const digest = await this.digest(shape);
    const found = await this.load(digest, shape);
    if (found.snapshot) return found.snapshot;
    const failure = this.failures.get(digest);
    if (failure && Date.now() - failure.at < failure.delayMs && !this.builds.has(digest)) {
      throw new AppError('vm.snapshot_failed', `building the snapshot failed ${formatAgo(Date.now() - failure.at)} ago (${failure.error}); the next attempt is in ${formatAgo(failure.at + failure.delayMs - Date.now())}`);
    }
    let build = this.builds.get(digest);
    if (!build) {
      build = this.build(digest, shape).finally(() => this.builds.delete(digest));
      this.builds.set(digest, build);
    }
    return build;
  }

  /**
   * A snapshot that failed to restore or to resume: its directory is removed (guests restored from it
   * keep their mapping), so the next `find` builds it anew.
   */
  async discard(snapshot: GuestSnapshot, why: string): Promise<void> {
    this.checked.delete(snapshot.digest);
    this.options.logger.warn('vm snapshot: discarded, it will be rebuilt', { digest: snapshot.digest, why });
    await removeDir(snapshot.dir);
  }

  /** Where `shape`'s snapshot stands, without building anything. */
  async describe(shape: SnapshotShape): Promise<SnapshotStatus> {
    const digest = await this.digest(shape);
    const found = await this.load(digest, shape);
    if (found.snapshot) return { state: 'ready', snapshot: found.snapshot };
    if (this.builds.has(digest)) return { state: 'building', digest };
    const failure = this.failures.get(digest);
    if (failure) return { state: 'failed', digest, error: failure.error, retryInMs: Math.max(0, failure.at + failure.delayMs - Date.now()) };
    if (found.problem) return { state: 'invalid', digest, problem: found.problem };
    return { state: 'missing', digest };
  }

  /** Stops builds in flight (their guests are killed and their files removed). */
  async stop(): Promise<void> {
    this.controller.abort(new AppError('vm.snapshot_stopped', 'the executor is stopping'));
    await Promise.allSettled([...this.builds.values()]);
  }

  /** The snapshot in `<dir>/<digest>` if it is complete and intact (checked once per process while its files are unchanged). */
  private load(digest: string, shape: SnapshotShape): Promise<{ snapshot?: GuestSnapshot; problem?: string }> {
    let loading = this.loading.get(digest);
    if (!loading) {
      loading = this.check(digest, shape).finally(() => this.loading.delete(digest));
      this.loading.set(digest, loading);
    }
    return loading;
  }

  private async check(digest: string, shape: SnapshotShape): Promise<{ snapshot?: GuestSnapshot; problem?: string }> {
    const dir = path.join(this.options.dir, digest);
    const memoryPath = path.join(dir, MEMORY_FILE);
    const statePath = path.join(dir, STATE_FILE);
    let meta: Meta;
    let stamp: string;
    try {
      meta = JSON.parse(await fs.readFile(path.join(dir, META_FILE), 'utf8')) as Meta;
      const [memory, state] = await Promise.all([fs.stat(memoryPath), fs.stat(statePath)]);
      stamp = [memory.ino, memory.size, memory.mtimeMs, state.ino, state.size, state.mtimeMs].join(':');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      return this.unusable(dir, `cannot read it: ${(err as Error).message}`);
    }
    const cached = this.checked.get(digest);
    if (cached?.stamp === stamp) {
      await touch(dir);
      return { snapshot: cached.snapshot };
    }
    if (meta.format !== SNAPSHOT_FORMAT || meta.digest !== digest) return this.unusable(dir, `made for another format or shape (format ${meta.format})`);
    const memory = await fs.stat(memoryPath);
    if (memory.size !== shape.memoryMiB * 1024 * 1024) return this.unusable(dir, `its memory file is ${memory.size} bytes, not ${shape.memoryMiB} MiB`);
    // The state is checked by its checksum; the memory file by what it was when saved (written, truncated
    // or replaced since, it is another file): a checksum would read it whole, 12 GiB of mostly holes for
    // the default 12G guest. A memory file damaged in place shows when a guest restored from it does not
    // come up (AgentVm.resume), and the snapshot is discarded then.
    if ((await sha256File(statePath)) !== meta.stateSha256) return this.unusable(dir, 'its state file does not match its checksum');
    if (memoryFingerprint(memory) !== meta.memoryFingerprint) return this.unusable(dir, 'its memory file changed after it was saved');
    const state = await fs.stat(statePath);
    const snapshot: GuestSnapshot = {
      digest,
      dir,
      shape,
      memoryPath,
      statePath,
      nonce: meta.nonce,
      placeholderDisk: path.join(dir, PLACEHOLDER_FILE),
      warmUpImage: path.join(dir, WARM_UP_IMAGE_FILE),
      allocatedBytes: await allocatedBytes(dir),
      stateBytes: state.size,
      createdAt: meta.createdAt,
      buildMs: meta.buildMs,
    };
    this.checked.set(digest, { snapshot, stamp });
    await touch(dir);
    return { snapshot };
  }

  private async unusable(dir: string, problem: string): Promise<{ problem: string }> {
    this.options.logger.warn('vm snapshot: unusable, removed', { path: dir, problem });
    await removeDir(dir);
    return { problem };
  }

  /** Boots a guest for `shape`, saves it into a new directory, and moves that into place. */
  private async build(digest: string, shape: SnapshotShape): Promise<GuestSnapshot> {
    const { logger } = this.options;
    const signal = this.controller.signal;
    const startedAt = performance.now();
    await fs.mkdir(this.options.dir, { recursive: true });
    const buildDir = await fs.mkdtemp(path.join(this.options.dir, `.build-${digest.slice(0, 12)}-`));
    let runDir: string | undefined;
    logger.info('vm snapshot: building', { digest, cpus: shape.cpus, memoryMiB: shape.memoryMiB, imageSlots: shape.imageSlots, accel: shape.accel });
    try {
      await writePlaceholder(path.join(buildDir, PLACEHOLDER_FILE), false);
      await buildWarmUpImage(buildDir);
      runDir = await createVmRunDir(this.options.runParentDir, 'snapshot', this.options.owner, this.options.activeRunDirs);
      const workspaceDisk = path.join(runDir, 'work.img');
      const scratchDisk = path.join(runDir, 'scratch.img');
      await Promise.all([writePlaceholder(workspaceDisk, true), writePlaceholder(scratchDisk, true)]);
      const memoryPath = path.join(buildDir, MEMORY_FILE);
      const vm = await AgentVm.startForSnapshot(
        {
          ...shape,
          name: `executor-snapshot-${digest.slice(0, 12)}`,
          runDir,
          workspaceDisk,
          scratchDisk,
          imageDisks: [],
          placeholderDisk: path.join(buildDir, PLACEHOLDER_FILE),
          bootTimeoutMs: this.options.bootTimeoutMs,
          qemuBinary: shape.qemuPath,
          wrapper: shape.qemuWrapper,
        },
        memoryPath,
        signal,
      );
      const nonce = /executor\.nonce=([0-9a-f]+)/.exec(vm.argv.join(' '))![1]!;
      const onAbort = () => void vm.kill();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await vm.saveSnapshot(path.join(buildDir, STATE_FILE), this.options.bootTimeoutMs);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      signal.throwIfAborted();
      const stateSha256 = await sha256File(path.join(buildDir, STATE_FILE));
      const buildMs = Math.round(performance.now() - startedAt);
      const meta: Meta = {
        format: SNAPSHOT_FORMAT,
        digest,
        nonce,
        createdAt: new Date().toISOString(),
        buildMs,
        memoryMiB: shape.memoryMiB,
        stateSha256,
        memoryFingerprint: memoryFingerprint(await fs.stat(memoryPath)),
      };
      await fs.writeFile(path.join(buildDir, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
      const target = path.join(this.options.dir, digest);
      await removeDir(target);
      try {
        await fs.rename(buildDir, target);
      } catch (err) {
        // Another executor process sharing the cache finished the same snapshot first: use that one.
        if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
      this.failures.delete(digest);
      const found = await this.load(digest, shape);
      if (!found.snapshot) throw new AppError('vm.snapshot_failed', `the snapshot just built is unusable: ${found.problem ?? 'missing'}`);
      logger.info('vm snapshot: built', { digest, buildMs, allocatedBytes: found.snapshot.allocatedBytes, stateBytes: found.snapshot.stateBytes });
      await this.prune(digest);
      return found.snapshot;
    } catch (err) {
      if (!signal.aborted) {
        const previous = this.failures.get(digest);
        const delayMs = previous ? Math.min(previous.delayMs * 2, 30 * 60_000) : (this.options.retryAfterMs ?? 60_000);
        this.failures.set(digest, { error: (err as Error).message.split('\n')[0]!, at: Date.now(), delayMs });
        logger.warn('vm snapshot: build failed; jobs boot their guests meanwhile', { digest, error: err, retryInMs: delayMs });
      }
      throw err instanceof AppError ? err : new AppError('vm.snapshot_failed', `cannot build the snapshot: ${(err as Error).message}`, { cause: err });
    } finally {
      await removeDir(buildDir);
      if (runDir) {
        await removeDir(runDir);
        this.options.activeRunDirs.delete(runDir);
      }
    }
  }

  /** Removes snapshot directories past the `keep` most recently used, and build directories a crashed build left. */
  private async prune(keepDigest: string): Promise<void> {
    const keep = this.options.keep ?? 4;
    const entries = await fs.readdir(this.options.dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.filter((e) => e.isDirectory() && e.name.startsWith('.build-'))) {
      // A build takes a minute at most; one this old is no other process's build in progress.
      const dir = path.join(this.options.dir, entry.name);
      const st = await fs.stat(dir).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > STALE_BUILD_MS) await removeDir(dir);
    }
    const dirs = await Promise.all(
      entries
        .filter((e) => e.isDirectory() && /^[0-9a-f]{64}$/.test(e.name) && e.name !== keepDigest)
        .map(async (e) => ({ dir: path.join(this.options.dir, e.name), mtimeMs: (await fs.stat(path.join(this.options.dir, e.name)).catch(() => undefined))?.mtimeMs ?? 0 })),
    );
    dirs.sort((a, b) => b.mtimeMs - a.mtimeMs);
    for (const old of dirs.slice(Math.max(0, keep - 1))) {
      this.options.logger.info('vm snapshot: removed an old one', { path: old.dir });
      await removeDir(old.dir);
    }
  }
}

/** The digest's first 16 hex digits, as logs show it. */
export function short(digest: string): string {
  return digest.slice(0, 16);
}

function shapeKey(shape: SnapshotShape): string {
  return JSON.stringify([shape.kernel.kernelPath, shape.initramfsPath, shape.accel, shape.memoryMiB, shape.cpus, shape.imageSlots, shape.qemuPath]);
}

/** sha256 over everything that decides whether a saved guest restores into a new QEMU and behaves the same. */
async function shapeDigest(shape: SnapshotShape): Promise<string> {
  const [qemuVersion, qemuStat, kernelSha, initramfsStat, cpuinfo] = await Promise.all([
    execFileAsync(shape.qemuPath, ['--version']).then((r) => r.stdout.split('\n')[0]!.trim()),
    fs.stat(await fs.realpath(shape.qemuPath)),
    sha256File(shape.kernel.kernelPath),
    fs.stat(shape.initramfsPath),
    fs.readFile('/proc/cpuinfo', 'utf8').catch(() => ''),
  ]);
  // Under KVM `-cpu max` is the host's CPU: a guest saved on one CPU model may not run on another.
  const cpu = ['vendor_id', 'model name', 'flags'].map((field) => new RegExp(`^${field}\\s*: (.*)$`, 'm').exec(cpuinfo)?.[1] ?? '').join('\n');
  const commandLine = AgentVm.commandLine(
    {
      ...shape,
      name: 'executor-snapshot',
      runDir: '/run',
      workspaceDisk: '/work.img',
      scratchDisk: '/scratch.img',
      imageDisks: [],
      placeholderDisk: '/empty.img',
      bootTimeoutMs: 0,
    },
    { kind: 'restore', saved: { memoryPath: '/memory', statePath: '/state', nonce: '<nonce>' } },
  );
  return crypto
    .createHash('sha256')
    .update(JSON.stringify({ format: SNAPSHOT_FORMAT, qemuVersion, qemuSize: qemuStat.size, qemuMtimeMs: qemuStat.mtimeMs, kernelSha, initramfs: path.basename(shape.initramfsPath), initramfsSize: initramfsStat.size, commandLine, cpu, hostKernel: os.release() }))
    .digest('hex');
}

function memoryFingerprint(st: Stats): string {
  // Not st.blocks: file systems trim preallocated blocks after the writer closed the file.
  return [st.size, st.mtimeMs, st.ino].join(':');
}

async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A sparse file of {@link PLACEHOLDER_BYTES} (mode 0600; 0400 when `writable` is false). */
async function writePlaceholder(file: string, writable: boolean): Promise<void> {
  const handle = await fs.open(file, 'w', 0o600);
  try {
    await handle.truncate(PLACEHOLDER_BYTES);
  } finally {
    await handle.close();
  }
  if (!writable) await fs.chmod(file, 0o400);
}

/** An ext4 disk holding static busybox as /bin/busybox with /bin/sh, for the warm-up step. */
async function buildWarmUpImage(dir: string): Promise<void> {
  const root = path.join(dir, 'warm-up-root');
  await fs.mkdir(path.join(root, 'bin'), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(root, 'bin', 'busybox'));
  await fs.symlink('busybox', path.join(root, 'bin', 'sh'));
  await createWorkspaceDisk({ fromDir: root, imagePath: path.join(dir, WARM_UP_IMAGE_FILE), sizeBytes: MIN_DISK_BYTES });
  await fs.rm(root, { recursive: true, force: true });
}

async function allocatedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fs.readdir(dir)) total += ((await fs.stat(path.join(dir, name)).catch(() => undefined))?.blocks ?? 0) * 512;
  return total;
}

async function touch(dir: string): Promise<void> {
  const now = new Date();
  await fs.utimes(dir, now, now).catch(() => {});
}

async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
}

function formatAgo(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.max(1, Math.round(ms / 1000))} s`;
}
