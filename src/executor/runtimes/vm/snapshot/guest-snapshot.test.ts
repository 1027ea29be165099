// The snapshot store on real QEMU guests under TCG: what the digest covers (a changed initramfs, memory,
// vCPUs or image slots is another snapshot), what a built snapshot holds, and that a snapshot whose files
// do not match their checksums is removed and reported instead of restored. (Restoring from one, and the
// fallbacks: vm-runtime-snapshots.test.ts.)
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../shared/logger.js';
import { currentProcessOwner } from '../../../process-owner.js';
import { resolveGuestPlatform, type GuestPlatform } from '../guest/guest-platform.js';
import { NewcArchive } from '../guest/initramfs.js';
import { SnapshotStore, type SnapshotShape } from './guest-snapshot.js';

describe('SnapshotStore (QEMU microvm, TCG)', () => {
  let parent: string;
  let platform: GuestPlatform;
  let base: SnapshotShape;
  const stores: SnapshotStore[] = [];

  const store = () => {
    const s = new SnapshotStore({ dir: path.join(parent, 'snapshots'), runParentDir: parent, owner: currentProcessOwner(), activeRunDirs: new Set(), logger: silentLogger, bootTimeoutMs: 90_000 });
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    parent = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'guest-snapshot-')));
    platform = await resolveGuestPlatform({ cacheDir: path.join(parent, 'cache'), allowEmulation: true, kvmWorks: false });
    base = {
      kernel: platform.kernel,
      initramfsPath: platform.initramfsPath,
      accel: platform.accel,
      memoryMiB: 256,
      cpus: 1,
      imageSlots: 4,
      qemuPath: platform.qemuPath,
      qemuWrapper: platform.qemuWrapper,
    };
  }, 120_000);
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.stop()));
    if (parent) await fs.rm(parent, { recursive: true, force: true });
  });

  it('gives another digest to another memory size, vCPU count or number of image slots, and the same to the same shape', async () => {
    const s = store();
    const digest = await s.digest(base);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(await store().digest({ ...base })).toBe(digest);
    const others = await Promise.all([{ ...base, memoryMiB: 512 }, { ...base, cpus: 2 }, { ...base, imageSlots: 20 }].map((shape) => s.digest(shape)));
    expect(new Set([digest, ...others]).size).toBe(4);
  });

  it('builds a snapshot of a booted guest, and a changed initramfs makes a new one', async () => {
    const s = store();
    expect(await s.describe(base)).toMatchObject({ state: 'missing' });
    const first = await s.ensure(base);
    expect(first.dir).toBe(path.join(parent, 'snapshots', first.digest));
    // The RAM is a sparse file of the guest's size; the device state alone is small.
    expect((await fs.stat(first.memoryPath)).size).toBe(256 * 1024 * 1024);
    expect(first.stateBytes).toBeGreaterThan(1000);
    expect(first.stateBytes).toBeLessThan(1024 * 1024);
    expect(first.allocatedBytes).toBeLessThan(256 * 1024 * 1024);
    expect(first.nonce).toMatch(/^[0-9a-f]{16}$/);
    expect(await store().describe(base)).toMatchObject({ state: 'ready', snapshot: { digest: first.digest } });

    // The same initramfs with one more file in it (the kernel unpacks concatenated archives).
    const extra = new NewcArchive();
    extra.file('etc/changed', Buffer.from('yes\n'), 0o644);
    const changedPath = path.join(parent, 'initramfs-changed.cpio.gz');
    await fs.writeFile(changedPath, Buffer.concat([await fs.readFile(platform.initramfsPath), zlib.gzipSync(extra.finish())]));
    const changed = { ...base, initramfsPath: changedPath };
    const found = await s.find(changed);
    expect(found.snapshot).toBeUndefined();
    expect('why' in found && found.why).toMatch(/^no snapshot yet for this guest shape \([0-9a-f]{16}\); it is being built in the background$/);
    const second = await s.ensure(changed);
    expect(second.digest).not.toBe(first.digest);
    // Both stay: each is its shape's.
    expect(await store().describe(base)).toMatchObject({ state: 'ready', snapshot: { digest: first.digest } });
    expect(await store().describe(changed)).toMatchObject({ state: 'ready', snapshot: { digest: second.digest } });
  }, 300_000);

  it('says why after a failed build, and does not build again before its retry delay', async () => {
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
    const s = new SnapshotStore({ dir: path.join(parent, 'snapshots'), runParentDir: parent, owner: currentProcessOwner(), activeRunDirs: new Set(), logger, bootTimeoutMs: 90_000 });
    stores.push(s);
    // An initramfs the kernel cannot unpack: the guest panics (no init) and QEMU exits.
    const broken = path.join(parent, 'initramfs-broken.cpio.gz');
    await fs.writeFile(broken, 'not an archive\n'.repeat(64));
    const shape = { ...base, initramfsPath: broken };
    await expect(s.ensure(shape)).rejects.toMatchObject({ code: expect.stringMatching(/^vm\./) });
    expect(warnings.filter((w) => w.includes('build failed'))).toHaveLength(1);
    const found = await s.find(shape);
    expect('why' in found && found.why).toMatch(/^building the snapshot failed \d+ s ago \(.+\); the next attempt is in \d+ (s|min)$/);
    await expect(s.ensure(shape)).rejects.toMatchObject({ code: 'vm.snapshot_failed', message: expect.stringContaining('the next attempt is in') });
    expect(warnings.filter((w) => w.includes('build failed'))).toHaveLength(1);
    expect(await s.describe(shape)).toMatchObject({ state: 'failed' });
  }, 180_000);

  it('removes and reports a snapshot whose memory file changed after it was saved, instead of using it', async () => {
    const s = store();
    const snapshot = await s.ensure(base);
    const handle = await fs.open(snapshot.memoryPath, 'r+');
    try {
      await handle.write(Buffer.from('corrupt'), 0, 7, 4096);
    } finally {
      await handle.close();
    }
    // A new process's first look checks the files.
    expect(await store().describe(base)).toEqual({ state: 'invalid', digest: snapshot.digest, problem: 'its memory file changed after it was saved' });
    await expect(fs.access(snapshot.dir)).rejects.toThrow();
    expect(await store().describe(base)).toMatchObject({ state: 'missing' });
  }, 300_000);
});
