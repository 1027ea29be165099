// The workspace disk with real e2fsprogs and a real QEMU microvm guest under TCG: a directory becomes a
// sparse ext4 image, the guest mounts it at /work, reads a file and writes one, and the host reads that
// back out of the image with debugfs once the VM is gone; missing files and bad paths are clear errors.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findGuestKernel, type GuestKernel } from '../guest/guest-kernel.js';
import { ensureInitramfs } from '../guest/initramfs.js';
import { qemuArgs, runInGuest, type GuestRunOptions } from '../guest/qemu-vm.js';
import { createWorkspaceDisk, readFileFromDisk, removeDisk } from './workspace-disk.js';
import { tcgGuest } from '../../../../../test/helpers/tcg-guest.js';

const run = promisify(execFile);
const DISK_BYTES = 256 * 1024 * 1024;

describe('workspace disk (e2fsprogs, QEMU microvm under TCG)', () => {
  let tmp: string;
  let kernel: GuestKernel;
  let initramfsPath: string;
  let fromDir: string;
  let imagePath: string;
  const guest = (extra: Partial<GuestRunOptions>): GuestRunOptions => tcgGuest(kernel, initramfsPath, extra);

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'vm-disk-'));
    kernel = await findGuestKernel();
    initramfsPath = await ensureInitramfs({ kernel, cacheDir: path.join(tmp, 'cache') });
    fromDir = path.join(tmp, 'workspace');
    await fs.mkdir(path.join(fromDir, 'src'), { recursive: true });
    await fs.writeFile(path.join(fromDir, 'src', 'input.txt'), 'hello from the host\n');
    imagePath = path.join(tmp, 'workspace.ext4');
    await createWorkspaceDisk({ fromDir, imagePath, sizeBytes: DISK_BYTES });
  });
  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('builds a sparse ext4 image of the given size from a directory', async () => {
    const st = await fs.stat(imagePath);
    expect(st.size).toBe(DISK_BYTES);
    // Allocated bytes: the journal and metadata mkfs wrote, far under the apparent size.
    expect(st.blocks * 512).toBeLessThan(DISK_BYTES / 4);
    const { stdout } = await run('du', ['-B1', imagePath]);
    expect(Number(stdout.split('\t')[0])).toBeLessThan(DISK_BYTES / 4);
    expect((await readFileFromDisk(imagePath, '/src/input.txt')).toString()).toBe('hello from the host\n');
  });

  it('is mounted at /work in the guest, which reads a file and writes one the host reads back', async () => {
    const command = [
      'pwd',
      'cat src/input.txt',
      'mkdir -p out',
      'printf "guest saw: %s" "$(cat /work/src/input.txt)" >/work/out/result.txt',
      'grep " /work " /proc/mounts | cut -d" " -f1-3',
    ].join('\n');
    const result = await runInGuest(guest({ command, disks: [{ path: imagePath }] }));
    expect(result).toMatchObject({ exitCode: 0, output: '/work\nhello from the host\n/dev/vda /work ext4' });
    expect((await readFileFromDisk(imagePath, '/out/result.txt')).toString()).toBe('guest saw: hello from the host');
  });

  it('mounts a read-only disk read-only', async () => {
    const result = await runInGuest(guest({ command: 'cat src/input.txt && ! touch x 2>/dev/null', disks: [{ path: imagePath, readOnly: true }] }));
    expect(result).toMatchObject({ exitCode: 0, output: 'hello from the host' });
  });

  it('attaches each disk as virtio-blk on microvm', () => {
    const args = qemuArgs(guest({ disks: [{ path: '/a,b.img' }, { path: '/c.img', readOnly: true }] }), 'x');
    expect(args.join(' ')).toContain(
      '-drive file=/a,,b.img,format=raw,if=none,id=d0 -device virtio-blk-device,drive=d0 ' +
        '-drive file=/c.img,format=raw,if=none,id=d1,readonly=on -device virtio-blk-device,drive=d1',
    );
    expect(qemuArgs(guest({}), 'x')).not.toContain('-drive');
  });

  it('fails with vm.disk_file_missing for a file or a directory path not in the disk', async () => {
    await expect(readFileFromDisk(imagePath, '/no/such/file')).rejects.toMatchObject({ code: 'vm.disk_file_missing' });
    await expect(readFileFromDisk(imagePath, '/src')).rejects.toMatchObject({ code: 'vm.disk_file_missing' });
  });

  it('refuses paths debugfs would misparse, and reports a missing image', async () => {
    for (const bad of ['relative.txt', '/a b', '/a"b', '/a\\b', '/a\nb']) {
      await expect(readFileFromDisk(imagePath, bad)).rejects.toMatchObject({ code: 'vm.disk_path_invalid' });
    }
    await expect(readFileFromDisk(path.join(tmp, 'none.ext4'), '/x')).rejects.toMatchObject({ code: 'vm.disk_read_failed' });
  });

  it('names the package when e2fsprogs is missing, and rejects a bad size', async () => {
    const target = path.join(tmp, 'other.ext4');
    await expect(createWorkspaceDisk({ fromDir, imagePath: target, sizeBytes: DISK_BYTES, mkfsBinary: 'no-such-mkfs' })).rejects.toMatchObject({
      code: 'vm.e2fsprogs_missing',
      message: expect.stringContaining('apt-get install -y e2fsprogs'),
    });
    await expect(readFileFromDisk(imagePath, '/src/input.txt', { debugfsBinary: 'no-such-debugfs' })).rejects.toMatchObject({
      code: 'vm.e2fsprogs_missing',
    });
    await expect(createWorkspaceDisk({ fromDir, imagePath: target, sizeBytes: 1024 })).rejects.toMatchObject({ code: 'vm.disk_size_invalid' });
    await expect(createWorkspaceDisk({ fromDir: path.join(tmp, 'absent'), imagePath: target, sizeBytes: DISK_BYTES })).rejects.toMatchObject({
      code: 'vm.disk_create_failed',
    });
    await removeDisk(target);
    await expect(fs.access(target)).rejects.toThrow();
  });
});
