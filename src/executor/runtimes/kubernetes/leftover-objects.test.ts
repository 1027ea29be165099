// Which labelled objects the janitor deletes: those of a dead executor process on this host, and this
// process's own whose job it no longer runs; never another live process's, another pod's, or unlabelled ones.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { currentProcessOwner } from '../../process-owner.js';
import { KUBERNETES_LABEL } from './job-objects.js';
import { leftoverReason } from './leftover-objects.js';

const me = currentProcessOwner('me');
const labels = (owner: { pid: number; startedAt: number }, extra: Record<string, string> = {}) => ({
  [KUBERNETES_LABEL.ownerPid]: String(owner.pid),
  [KUBERNETES_LABEL.ownerStartedAt]: String(owner.startedAt),
  [KUBERNETES_LABEL.jobObject]: 'sg-executor-job-batches-1-abcde',
  ...extra,
});

describe('leftoverReason', () => {
  it('deletes this process\'s objects of a job it no longer runs, and keeps those of one it runs', () => {
    expect(leftoverReason(labels(me), { owner: me, ownerPodUid: undefined, active: new Set() })).toBe('its job is no longer running here');
    expect(leftoverReason(labels(me), { owner: me, ownerPodUid: undefined, active: new Set(['sg-executor-job-batches-1-abcde']) })).toBeUndefined();
  });

  it('deletes the objects of a process that is gone, and keeps a live one\'s', async () => {
    const child = spawn('sleep', ['30']);
    const alive = { pid: child.pid!, startedAt: Date.now() };
    expect(leftoverReason(labels(alive), { owner: me, ownerPodUid: undefined, active: new Set() })).toBeUndefined();
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    expect(leftoverReason(labels(alive), { owner: me, ownerPodUid: undefined, active: new Set() })).toBe(`its executor process (pid ${alive.pid}) is gone`);
    // A pid reused by a later process (pid 1 of a restarted container) is not the owner.
    expect(leftoverReason(labels({ pid: me.pid, startedAt: me.startedAt - 60_000 }), { owner: me, ownerPodUid: undefined, active: new Set() })).toMatch(/is gone/);
  });

  it('leaves another pod\'s objects and objects whose labels were altered', () => {
    const dead = { pid: 999_999_999, startedAt: 1 };
    expect(leftoverReason(labels(dead, { [KUBERNETES_LABEL.podUid]: 'other-pod' }), { owner: me, ownerPodUid: 'my-pod', active: new Set() })).toBeUndefined();
    expect(leftoverReason(labels(dead, { [KUBERNETES_LABEL.podUid]: 'my-pod' }), { owner: me, ownerPodUid: 'my-pod', active: new Set() })).toMatch(/is gone/);
    expect(leftoverReason({ [KUBERNETES_LABEL.ownerPid]: 'x' }, { owner: me, ownerPodUid: undefined, active: new Set() })).toBeUndefined();
    expect(leftoverReason({}, { owner: me, ownerPodUid: undefined, active: new Set() })).toBeUndefined();
  });
});
