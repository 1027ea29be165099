// Which VM run directories the janitor removes: the owner marker decides, and live work is never touched.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../shared/logger.js';
import { currentProcessOwner } from '../../process-owner.js';
import { removeLeftoverVms, VM_RUN_DIR_PREFIX } from './vm-janitor.js';

describe('removeLeftoverVms', () => {
  let parent: string;
  beforeEach(async () => {
    parent = await fs.mkdtemp(path.join(os.tmpdir(), 'vm-janitor-'));
  });
  afterEach(async () => {
    await fs.rm(parent, { recursive: true, force: true });
  });

  const runDir = async (name: string, owner?: object) => {
    const dir = path.join(parent, `${VM_RUN_DIR_PREFIX}${name}`);
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'workspace.ext4'), 'disk');
    if (owner) await fs.writeFile(path.join(dir, '.executor-owner'), JSON.stringify(owner));
    return dir;
  };

  it('removes leaked and dead owners\' directories, keeps live work and unmarked directories', async () => {
    const me = currentProcessOwner('me');
    const active = await runDir('1-active', me);
    const leaked = await runDir('2-leaked', me);
    // Our pid, but started long before us: a previous process that had the same pid (PID 1 of a restarted container).
    const previous = await runDir('3-previous', { ...me, startedAt: me.startedAt - 3_600_000 });
    const dead = await runDir('4-dead', { pid: 2 ** 22 - 1, startedAt: 1, executorName: 'gone' });
    // PID 1 runs and started before any marker written now: another live owner.
    const otherLive = await runDir('5-other', { pid: 1, startedAt: Date.now(), executorName: 'other' });
    const unmarked = await runDir('6-unmarked');
    const unrelated = path.join(parent, 'workspace-7-x');
    await fs.mkdir(unrelated);

    expect(await removeLeftoverVms({ parentDir: parent, active: new Set([active]), logger: silentLogger })).toBe(3);
    const left = await fs.readdir(parent);
    expect(left.sort()).toEqual([active, otherLive, unmarked, unrelated].map((d) => path.basename(d)).sort());
    for (const gone of [leaked, previous, dead]) expect(left).not.toContain(path.basename(gone));
  });
});
