import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirectoryInside, prepareFileInside, resolveWorkspacePath } from './workspace-path.js';

describe('workspace paths', () => {
  let root: string;
  let outside: string;
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'ws-path-'));
    outside = await fs.mkdtemp(path.join(os.tmpdir(), 'ws-path-outside-'));
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(outside, { recursive: true, force: true });
  });

  it('resolves relative paths inside and refuses absolute, climbing and empty ones', () => {
    expect(resolveWorkspacePath(root, 'a/b.txt')).toBe(path.join(root, 'a/b.txt'));
    expect(resolveWorkspacePath(root, 'a/../b.txt')).toBe(path.join(root, 'b.txt'));
    for (const bad of ['../escape', 'a/../../escape', '/etc/passwd', '', '.', 'a/..', 'nul\0byte']) {
      expect(() => resolveWorkspacePath(root, bad), bad).toThrow('refusing to write outside of working directory');
    }
  });

  it('creates directories inside, but not through a symlink that leads out', async () => {
    await fs.symlink(outside, path.join(root, 'link'));
    await expect(makeDirectoryInside(root, path.join(root, 'link', 'sub'), 'link/sub/x')).rejects.toMatchObject({ code: 'workspace.path_outside' });
    expect(await fs.readdir(outside)).toEqual([]);
    await fs.mkdir(path.join(root, 'real'));
    await fs.symlink(path.join(root, 'real'), path.join(root, 'inner'));
    expect(await makeDirectoryInside(root, path.join(root, 'inner', 'sub'), 'inner/sub')).toBe(path.join(await fs.realpath(root), 'real', 'sub'));
  });

  it('refuses a file that is a symlink out of the workspace, or a dangling one', async () => {
    await fs.symlink(path.join(outside, 'target'), path.join(root, 'file'));
    await expect(prepareFileInside(root, path.join(root, 'file'), 'file')).rejects.toMatchObject({ code: 'workspace.path_outside' });
    await fs.writeFile(path.join(outside, 'target'), 'x');
    await expect(prepareFileInside(root, path.join(root, 'file'), 'file')).rejects.toMatchObject({ code: 'workspace.path_outside' });
  });
});
