// The shell runtime on real processes: environment, working directory, output, and stopping a step's
// whole process group on abort or when background processes outlive it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../shared/logger.js';
import type { DequeuedJob } from '../../client/coordinator-client.js';
import type { RuntimeJob, StepSpec } from '../runtime.js';
import { ShellRuntime, shellStepEnv } from './shell-runtime.js';
import { recordingLogEntries } from '../../../../test/helpers/runtime-log.js';

const never = new AbortController().signal;

describe('ShellRuntime', () => {
  let ws: string;
  let job: RuntimeJob;

  beforeEach(async () => {
    ws = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'shell-runtime-')));
    const workspace = { path: ws, scriptPaths: [], remove: () => Promise.resolve() };
    job = await new ShellRuntime({ hostEnv: { PATH: '/usr/bin:/bin', HOME: '/home/x', USER: 'x' } }).setup({
      job: {} as DequeuedJob,
      workspace,
      logger: silentLogger,
      signal: never,
      openLogEntry: recordingLogEntries().openLogEntry,
    });
  });
  afterEach(() => fs.rm(ws, { recursive: true, force: true }));

  /** Writes a script and returns its step. */
  const step = async (script: string, extra: Partial<StepSpec> = {}): Promise<StepSpec> => {
    await fs.writeFile(path.join(ws, 's.sh'), script);
    return { key: 'step.docker.0', index: 0, image: 'alpine', scriptPath: 's.sh', dir: '', env: [], ...extra };
  };
  const collect = () => {
    const out = { stdout: '', stderr: '' };
    return { out, write: (stream: 'stdout' | 'stderr', chunk: Buffer) => (out[stream] += chunk.toString()) };
  };

  it('runs /bin/sh <script> in <workspace>/<dir> with the step env and only PATH, HOME, USER and TMPDIR of the host', async () => {
    const s = await step('pwd; env | sort; echo oops >&2; exit 4', { dir: 'sub/dir', env: ['FOO=bar', 'HOME=/step-home'] });
    expect(job.commandFor(s)).toEqual(['/bin/sh', path.join(ws, 's.sh')]);
    const { out, write } = collect();
    expect(await job.runStep(s, write, never)).toEqual({ exitCode: 4 });
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe(path.join(ws, 'sub/dir'));
    const names = lines.slice(1).map((line) => line.split('=')[0]);
    // sh itself adds PWD (and may add SHLVL, _); nothing else of the executor's environment.
    expect(names.filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n!))).toEqual(['FOO', 'HOME', 'PATH', 'USER']);
    expect(lines).toContain('HOME=/step-home');
    expect(out.stderr).toBe('oops\n');
  });

  it('refuses a dir that escapes the workspace, lexically or through a symlink', async () => {
    await expect(job.runStep(await step('true', { dir: '../x' }), () => {}, never)).rejects.toMatchObject({ code: 'workspace.path_outside' });
    await fs.symlink(os.tmpdir(), path.join(ws, 'link'));
    await expect(job.runStep(await step('true', { dir: 'link/y' }), () => {}, never)).rejects.toMatchObject({ code: 'workspace.path_outside' });
  });

  it('does not wait for pipes a background process holds open once the step exited, and kills it', async () => {
    const pidFile = path.join(ws, 'bg.pid');
    const started = performance.now();
    const result = await job.runStep(await step(`sleep 30 & echo $! > ${pidFile}; echo done`), () => {}, never);
    expect(result).toEqual({ exitCode: 0 });
    expect(performance.now() - started).toBeLessThan(5000);
    const bg = Number(await fs.readFile(pidFile, 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const state = await fs.readFile(`/proc/${bg}/stat`, 'utf8').catch(() => '');
    expect(state === '' || /\) [ZX] /.test(state)).toBe(true);
  });

  it('on abort sends SIGTERM, then SIGKILL after the grace to a step that ignores it, and rejects with the reason', async () => {
    const controller = new AbortController();
    const { out, write } = collect();
    const running = job.runStep(await step(`trap '' TERM; echo ready; while :; do sleep 0.05; done`), write, controller.signal);
    while (!out.stdout.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 20));
    const abortedAt = performance.now();
    controller.abort('canceled');
    await expect(running).rejects.toBe('canceled');
    const elapsedMs = performance.now() - abortedAt;
    expect(elapsedMs).toBeGreaterThanOrEqual(400);
    expect(elapsedMs).toBeLessThan(2000);
  });
});

describe('shellStepEnv', () => {
  it('lets the step env override the host variables and ignores entries without =', () => {
    expect(shellStepEnv({ PATH: '/bin', TMPDIR: '/t' }, ['PATH=/opt', 'X=a=b', 'junk'])).toEqual({ PATH: '/opt', TMPDIR: '/t', X: 'a=b' });
  });
});
