// The vm runtime's step images: a step's docker image as a read-only ext4 disk for its QEMU guest, built
// once per image (keyed by the config digest, docker's image ID) from the host's docker store or a registry,
// kept in a directory bounded in allocated bytes, least recently used out, never while a step holds it.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DockerAuthConfig } from '../../../../protocol/job.js';
import { AppError } from '../../../../shared/errors.js';
import { silentLogger, type Logger } from '../../../../shared/logger.js';
import { dockerCliEnv, type DockerCliEnv } from '../../docker/docker-cli.js';
import { parseImageReference, resolveFromDockerStore, resolveFromRegistry, type ResolvedImage } from './image-sources.js';
import { createWorkspaceDisk, MIN_DISK_BYTES } from './workspace-disk.js';

export interface StepImage {
  /** As the step named it. */
  reference: string;
  /** `sha256:<hex>`: the digest of the image's config blob (docker's image ID). */
  digest: string;
  /** The ext4 disk in the cache; callers attach it read-only. */
  diskPath: string;
  /** The image config's Env (`NAME=value`); [] when it has none. */
  env: string[];
  /**
   * `cache`: converted before this acquire (by this process or an earlier one); `docker`/`registry`: where
   * it was converted from now. An acquire that waited on another's conversion of the same image reports that one.
   */
  source: 'cache' | 'docker' | 'registry';
  /** Time spent fetching and converting, in ms; 0 when from the cache. */
  convertMs: number;
}

/** A step image the cache will not evict until `release()` (idempotent) is called. */
export interface StepImageLease extends StepImage {
  release(): void;
}

export interface StepImageCacheOptions {
  /** The cache directory, created when missing. Leases live in memory: one process should own it. */
  dir: string;
  /** Bound on the disks' allocated bytes (st.blocks * 512) in `dir`; an image larger on its own stays, with a warning. */
  maxBytes: number;
  /**
   * The host's docker image store, looked at before any registry: `false` never asks docker. Default: the
   * `docker` from PATH with {@link dockerCliEnv}, when its daemon answers.
   */
  docker?: false | { cliEnv: DockerCliEnv };
  /** Default silent. */
  logger?: Logger;
  /** Default `skopeo` from PATH. */
  skopeoBinary?: string;
  /** Default `umoci` from PATH. */
  umociBinary?: string;
  /** Default `mkfs.ext4` from PATH. */
  mkfsBinary?: string;
}

/** Smallest disk built: room for the guest to find what it needs without a size that is too tight to matter. */
export const MIN_STEP_IMAGE_DISK_BYTES = 64 * 1024 * 1024;
const BLOCK_BYTES = 4096;
/**
 * mkfs.ext4 gives a file system of this size one inode per 16 KiB ("default" usage type; 4 KiB below
 * 512 MiB), and `-d` fails when they run out; the disk is sized so a tree of many small files still fits.
 */
const BYTES_PER_INODE = 16 * 1024;
const DISK_NAME = /^([a-f0-9]{64})\.ext4$/;

interface Conversion {
  promise: Promise<{ source: 'docker' | 'registry'; convertMs: number }>;
  /** The signal of the acquire that started it: when only it aborted, a waiter starts its own. */
  signal: AbortSignal;
}

export class StepImageCache {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly logger: Logger;
  private readonly dockerEnv: DockerCliEnv | undefined;
  /** hex digest → leases held now. */
  private readonly leases = new Map<string, number>();
  /** hex digest → the conversion in flight in this process. */
  private readonly conversions = new Map<string, Conversion>();
  /** Eviction and the cache-hit path (lease, then touch) run one at a time, so a disk being leased is never being removed. */
  private lock: Promise<void> = Promise.resolve();
  private dirReady: Promise<void> | undefined;

  constructor(private readonly options: StepImageCacheOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) {
      throw new AppError('vm.image_cache_invalid', `step image cache maxBytes ${options.maxBytes} is not a positive integer number of bytes`);
    }
    this.dir = path.resolve(options.dir);
    this.maxBytes = options.maxBytes;
    this.logger = options.logger ?? silentLogger;
    this.dockerEnv = options.docker === false ? undefined : (options.docker?.cliEnv ?? dockerCliEnv());
  }

  /**
   * The disk for `reference`, converted when it is not cached yet, leased until `release()`. The host's
   * docker store is asked first (never pulled through), then the registry with `credentials` (a docker
   * config: `{auths: {host: {auth}}}`). Throws `vm.image_reference_invalid` before running anything for a
   * reference outside docker's grammar, `vm.image_pull_failed` (also: authentication failed),
   * `vm.image_not_found`, `vm.image_export_failed`, `vm.image_unpack_failed`, `vm.image_tool_missing`,
   * `vm.disk_create_failed`; rejects with `signal.reason` on abort, its processes killed and temp dirs gone.
   */
  async acquire(reference: string, credentials: DockerAuthConfig | undefined, signal: AbortSignal): Promise<StepImageLease> {
    const ref = parseImageReference(reference);
    signal.throwIfAborted();
    await this.ensureDir();
    const resolved = await this.resolve(ref, credentials, signal);
    const hex = resolved.image.digest.slice('sha256:'.length);
    const diskPath = this.diskPath(hex);
    const base = { reference, digest: resolved.image.digest, diskPath, env: resolved.image.env };

    for (;;) {
      signal.throwIfAborted();
      const release = this.lease(hex);
      const cached = await this.withLock(() => touch(diskPath)).catch((err: unknown) => {
        release();
        throw err;
      });
      if (cached) return { ...base, source: 'cache', convertMs: 0, release };
      let conversion = this.conversions.get(hex);
      if (!conversion) {
        const promise = this.convert(hex, ref.reference, resolved, signal).finally(() => this.conversions.delete(hex));
        conversion = { promise, signal };
        this.conversions.set(hex, conversion);
      }
      try {
        // The acquire that converts waits for its processes to be gone and its temp dirs removed; the others
        // stop waiting as soon as their own step is canceled.
        const converted = await (conversion.signal === signal ? conversion.promise : abortable(conversion.promise, signal));
        await this.evict(hex);
        await touch(diskPath);
        return { ...base, ...converted, release };
      } catch (err) {
        release();
        // Another acquire's conversion that its own step canceled: start ours.
        if (conversion.signal !== signal && conversion.signal.aborted && !signal.aborted) continue;
        throw err;
      }
    }
  }

  /** Bytes allocated by the cached disks now (st.blocks * 512: the disks are sparse). */
  async sizeBytes(): Promise<number> {
    const disks = await this.listDisks();
    return disks.reduce((sum, d) => sum + d.allocatedBytes, 0);
  }

  private diskPath(hex: string): string {
    return path.join(this.dir, `${hex}.ext4`);
  }

  private ensureDir(): Promise<void> {
    this.dirReady ??= fs.mkdir(this.dir, { recursive: true }).then(
      () => undefined,
      (err: unknown) => {
        this.dirReady = undefined;
        throw new AppError('vm.image_cache_invalid', `cannot create the step image cache directory ${this.dir}: ${(err as Error).message}`, { cause: err });
      },
    );
    return this.dirReady;
  }

  private async resolve(
    ref: ReturnType<typeof parseImageReference>,
    credentials: DockerAuthConfig | undefined,
    signal: AbortSignal,
  ): Promise<{ image: ResolvedImage; source: 'docker' | 'registry' }> {
    if (this.dockerEnv) {
      const found = await resolveFromDockerStore(ref, { cliEnv: this.dockerEnv }, signal);
      if (!('miss' in found)) return { image: found, source: 'docker' };
      this.logger.debug('step image not from the docker store', { reference: ref.reference, reason: found.miss, detail: found.detail });
    }
    const image = await resolveFromRegistry(ref, credentials, this.options, signal);
    return { image, source: 'registry' };
  }

  private lease(hex: string): () => void {
    this.leases.set(hex, (this.leases.get(hex) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.leases.get(hex) ?? 1) - 1;
      if (left > 0) this.leases.set(hex, left);
      else this.leases.delete(hex);
    };
  }

  private async convert(
    hex: string,
    reference: string,
    resolved: { image: ResolvedImage; source: 'docker' | 'registry' },
    signal: AbortSignal,
  ): Promise<{ source: 'docker' | 'registry'; convertMs: number }> {
    const startedAt = performance.now();
    const log = this.logger.with({ reference, digest: resolved.image.digest, source: resolved.source });
    log.info('converting step image to a disk');
    // Scratch space in the cache dir, not /tmp (often a small tmpfs): an image's tree is as large as its disk.
    const workDir = await fs.mkdtemp(path.join(this.dir, `.convert-${hex.slice(0, 12)}-`));
    const tmpDisk = path.join(this.dir, `.${hex}.${crypto.randomBytes(6).toString('hex')}.ext4.tmp`);
    const tmpMeta = `${tmpDisk}.json`;
    try {
      const rootfsDir = path.join(workDir, 'rootfs');
      await fs.mkdir(rootfsDir);
      await resolved.image.unpack(rootfsDir, workDir, signal);
      signal.throwIfAborted();
      const tree = await measureTree(rootfsDir);
      const sizeBytes = diskBytesFor(tree);
      await createWorkspaceDisk({ fromDir: rootfsDir, imagePath: tmpDisk, sizeBytes, mkfsBinary: this.options.mkfsBinary });
      signal.throwIfAborted();
      await fs.writeFile(tmpMeta, JSON.stringify({ reference, digest: resolved.image.digest, env: resolved.image.env }, null, 2) + '\n');
      // Metadata first, the disk last: a `<hex>.ext4` is always complete. Another process converting the same
      // image at once renames an identical disk over this one, which is harmless.
      await fs.rename(tmpMeta, path.join(this.dir, `${hex}.json`));
      await fs.rename(tmpDisk, this.diskPath(hex));
      const convertMs = Math.round(performance.now() - startedAt);
      log.info('step image converted', { convertMs, files: tree.inodes, treeBytes: tree.bytes, diskBytes: sizeBytes });
      return { source: resolved.source, convertMs };
    } finally {
      await Promise.all([
        fs.rm(workDir, { recursive: true, force: true }),
        fs.rm(tmpDisk, { force: true }),
        fs.rm(tmpMeta, { force: true }),
      ]);
    }
  }

  /** Removes the least recently used disks, not leased and not `keepHex`, until the cache fits in maxBytes. */
  private evict(keepHex: string): Promise<void> {
    return this.withLock(async () => {
      const disks = (await this.listDisks()).sort((a, b) => a.mtimeMs - b.mtimeMs);
      let total = disks.reduce((sum, d) => sum + d.allocatedBytes, 0);
      for (const disk of disks) {
        if (total <= this.maxBytes) return;
        if (disk.hex === keepHex || this.leases.has(disk.hex)) continue;
        await fs.rm(this.diskPath(disk.hex), { force: true });
        await fs.rm(path.join(this.dir, `${disk.hex}.json`), { force: true });
        total -= disk.allocatedBytes;
        this.logger.info('step image evicted', { digest: `sha256:${disk.hex}`, allocatedBytes: disk.allocatedBytes });
      }
      if (total > this.maxBytes) {
        this.logger.warn('step image cache is over its bound: the disks left are leased or just converted', { sizeBytes: total, maxBytes: this.maxBytes });
      }
    });
  }

  private async listDisks(): Promise<{ hex: string; allocatedBytes: number; mtimeMs: number }[]> {
    const names = await fs.readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const disks = await Promise.all(
      names.map(async (name) => {
        const hex = DISK_NAME.exec(name)?.[1];
        if (!hex) return undefined;
        const st = await fs.stat(path.join(this.dir, name)).catch(() => undefined); // gone meanwhile
        return st && { hex, allocatedBytes: st.blocks * 512, mtimeMs: st.mtimeMs };
      }),
    );
    return disks.filter((d) => d !== undefined);
  }

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.lock.then(fn);
    this.lock = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** Sets the disk's mtime (its recency) to now; false when there is no such disk. */
async function touch(diskPath: string): Promise<boolean> {
  const now = new Date();
  try {
    await fs.utimes(diskPath, now, now);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** `promise`, or `signal.reason` as soon as `signal` aborts (the promise goes on for whoever else waits). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

interface TreeSize {
  /** File contents rounded up to whole blocks, plus a block per directory and long symlink. */
  bytes: number;
  /** Files, directories, links and other nodes: one inode each (hard links counted once per name). */
  inodes: number;
}

async function measureTree(dir: string): Promise<TreeSize> {
  const total: TreeSize = { bytes: 0, inodes: 1 };
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const entries = await fs.readdir(current, { withFileTypes: true });
    total.bytes += BLOCK_BYTES * Math.max(1, Math.ceil(entries.length / 64)); // ~64 dirents per directory block
    for (const entry of entries) {
      total.inodes += 1;
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (entry.isFile() || entry.isSymbolicLink()) {
        const st = await fs.lstat(full);
        // Symlinks up to 60 bytes live in the inode itself.
        if (entry.isFile() || st.size > 60) total.bytes += Math.ceil(st.size / BLOCK_BYTES) * BLOCK_BYTES;
      }
    }
  }
  return total;
}

/**
 * The disk's size: the tree plus a quarter for ext4's metadata and indirect blocks, 16 MiB for the journal
 * and group descriptors, and enough size for mkfs to give every file an inode. Sparse, so an overestimate
 * costs little allocated space.
 */
export function diskBytesFor(tree: TreeSize): number {
  const forData = Math.ceil(tree.bytes * 1.25) + 16 * 1024 * 1024;
  const forInodes = Math.ceil(tree.inodes * 1.25) * BYTES_PER_INODE;
  const bytes = Math.max(MIN_STEP_IMAGE_DISK_BYTES, MIN_DISK_BYTES, forData, forInodes);
  return Math.ceil(bytes / (1024 * 1024)) * 1024 * 1024;
}
