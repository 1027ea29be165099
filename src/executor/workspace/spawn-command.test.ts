import { describe, expect, it } from 'vitest';
import { createSpawnCommand, runCommandOrThrow, spawnCommand } from './spawn-command.js';

const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };
const never = new AbortController().signal;

describe('spawnCommand', () => {
  it('passes only the given environment', async () => {
    const result = await spawnCommand('test.env', ['env'], { env: { ...env, ONLY: 'this' }, signal: never });
    expect(result.out?.trimEnd().split('\n').sort()).toEqual([`stdout: ONLY=this`, `stdout: PATH=${env.PATH}`]);
  });

  it('says which command could not be started', async () => {
    await expect(spawnCommand('setup.git.init', ['no-such-binary-here'], { env, signal: never })).rejects.toMatchObject({
      code: 'workspace.command_not_started',
      message: expect.stringContaining('running command "setup.git.init": cannot start no-such-binary-here'),
    });
  });

  it('stops waiting for pipes held by a leftover of the group once aborted, and kills it', async () => {
    const controller = new AbortController();
    // The leader exits at once; the background sleep keeps stdout open.
    const running = createSpawnCommand({ killGraceMs: 10_000 })('test.leftover', ['sh', '-c', 'sleep 30 &'], { env, signal: controller.signal });
    const outcome = running.catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 200));
    const startedMs = Date.now();
    controller.abort(new Error('stop'));
    expect(await outcome).toMatchObject({ message: 'stop' });
    expect(Date.now() - startedMs).toBeLessThan(1_000);
  });

  it('throws workspace.command_failed with the key and exit code for a failure', async () => {
    await expect(runCommandOrThrow(spawnCommand, 'setup.git.fetch', ['sh', '-c', 'exit 128'], { env, signal: never })).rejects.toMatchObject({
      code: 'workspace.command_failed',
      message: 'running command "setup.git.fetch": exit code 128',
    });
  });
});
