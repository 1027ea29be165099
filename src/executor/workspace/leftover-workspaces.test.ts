// Leftover workspaces of dead executor processes are removed; live owners', unmarked and symlinked ones stay.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import type { DequeuedJob } from '../client/coordinator-client.js';
import { prepareWorkspace } from './workspace.js';
import { currentWorkspaceOwner, OWNER_MARKER_FILE, removeLeftoverWorkspaces, type WorkspaceOwner } from './leftover-workspaces.js';

const exists = (p: string) => fs.lstat(p).then(() => true, () => false);

/** The pid of a process that has exited (and been reaped), so nothing runs under it now. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
  return child.pid!;
}

describe('removeLeftoverWorkspaces', () => {
  let parent: string;
  let outside: string;

  beforeEach(async () => {
    parent = await fs.mkdtemp(path.join(os.tmpdir(), 'leftover-workspaces-test-'));
    outside = await fs.mkdtemp(path.join(os.tmpdir(), 'leftover-workspaces-outside-'));
  });
  afterEach(async () => {
    await fs.rm(parent, { recursive: true, force: true });
    await fs.rm(outside, { recursive: true, force: true });
  });

  const workspace = async (name: string, owner?: WorkspaceOwner) => {
    const dir = path.join(parent, name);
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'file.txt'), 'x');
    if (owner) await fs.writeFile(path.join(dir, OWNER_MARKER_FILE), JSON.stringify(owner));
    return dir;
  };

  it('removes a workspace whose owner process has exited', async () => {
    const dir = await workspace('workspace-1-aaaaaa', { pid: await deadPid(), startedAt: Date.now() - 60_000, executorName: 'old' });
    expect(await removeLeftoverWorkspaces(parent, silentLogger)).toBe(1);
    expect(await exists(dir)).toBe(false);
  });

  it("keeps a workspace of this process and removes one from an earlier process that had this process's pid", async () => {
    const mine = await workspace('workspace-2-bbbbbb', currentWorkspaceOwner('me'));
    // A restarted container's executor gets the same pid; its earlier run started long before this one.
    const reused = await workspace('workspace-3-cccccc', { pid: process.pid, startedAt: currentWorkspaceOwner().startedAt - 3_600_000, executorName: 'old' });
    expect(await removeLeftoverWorkspaces(parent, silentLogger)).toBe(1);
    expect(await exists(mine)).toBe(true);
    expect(await exists(reused)).toBe(false);
  });

  it('keeps a workspace whose owner is another live process that started before the marker', async () => {
    // The parent process (vitest) is alive and started before this marker's time.
    const dir = await workspace('workspace-4-dddddd', { pid: process.ppid, startedAt: Date.now(), executorName: 'other' });
    expect(await removeLeftoverWorkspaces(parent, silentLogger)).toBe(0);
    expect(await exists(dir)).toBe(true);
  });

  it('leaves a workspace without a marker, or with a malformed one, alone', async () => {
    const unmarked = await workspace('workspace-5-eeeeee');
    const malformed = await workspace('workspace-6-ffffff');
    await fs.writeFile(path.join(malformed, OWNER_MARKER_FILE), '{"pid": "x"');
    expect(await removeLeftoverWorkspaces(parent, silentLogger)).toBe(0);
    expect(await exists(path.join(unmarked, 'file.txt'))).toBe(true);
    expect(await exists(path.join(malformed, 'file.txt'))).toBe(true);
  });

  it('does not follow a symlink named workspace-* to a directory elsewhere', async () => {
    await fs.writeFile(path.join(outside, OWNER_MARKER_FILE), JSON.stringify({ pid: await deadPid(), startedAt: 0, executorName: 'old' }));
    await fs.writeFile(path.join(outside, 'keep.txt'), 'x');
    await fs.symlink(outside, path.join(parent, 'workspace-x'));
    expect(await removeLeftoverWorkspaces(parent, silentLogger)).toBe(0);
    expect(await exists(path.join(outside, 'keep.txt'))).toBe(true);
    expect(await exists(path.join(parent, 'workspace-x'))).toBe(true);
  });

  it('does not follow a marker that is a symlink', async () => {
    const target = path.join(outside, 'marker.json');
    await fs.writeFile(target, JSON.stringify({ pid: await deadPid(), startedAt: 0, executorName: 'old' }));
    const dir = await workspace('workspace-7-gggggg');
    await fs.symlink(target, path.join(dir, OWNER_MARKER_FILE));
    expect(await removeLeftoverWorkspaces(parent, silentLogger)).toBe(0);
    expect(await exists(dir)).toBe(true);
  });

  it('only looks at workspace-* directories', async () => {
    const other = await workspace('not-a-workspace', { pid: await deadPid(), startedAt: 0, executorName: 'old' });
    expect(await removeLeftoverWorkspaces(parent, silentLogger)).toBe(0);
    expect(await exists(other)).toBe(true);
  });

  it('recognises the marker prepareWorkspace writes: kept while this process runs', async () => {
    const job = { id: 42, queue: 'batches', token: 't', repositoryName: '', repositoryDirectory: '', commit: '', fetchTags: false, shallowClone: false, sparseCheckout: [], files: {}, dockerSteps: [], cliSteps: [], redactedValues: {} } satisfies DequeuedJob;
    // No repository and no files: the client is never called.
    const noCoordinator = { gitBaseUrl: () => '', gitProxyHeaders: () => ({}), getFile: () => Promise.reject(new Error('unused')), executorName: 'host-1234' };
    const ws = await prepareWorkspace({ job, client: noCoordinator, tmpDir: parent, signal: new AbortController().signal, logger: silentLogger });
    const marker = JSON.parse(await fs.readFile(path.join(ws.path, OWNER_MARKER_FILE), 'utf8')) as WorkspaceOwner;
    expect(marker).toEqual({ pid: process.pid, startedAt: expect.any(Number), executorName: 'host-1234' });
    expect(Math.abs(marker.startedAt - currentWorkspaceOwner().startedAt)).toBeLessThan(1000);
    expect(await removeLeftoverWorkspaces(parent, silentLogger)).toBe(0);
    expect(await exists(ws.path)).toBe(true);
    await ws.remove(false);
  });
});
