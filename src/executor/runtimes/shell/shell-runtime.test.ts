// The shell runtime on real processes: environment, working directory, output, and stopping a step's
// whole process group on abort or when background processes outlive it; as the executor's own user,
// and as another user (EXECUTOR_SHELL_USER) where this runs as root and that user exists.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../shared/logger.js';
import type { DequeuedJob } from '../../client/coordinator-client.js';
import type { RuntimeJob, StepSpec } from '../runtime.js';
import { ShellRuntime, shellStepEnv, STEP_PATH } from './shell-runtime.js';
import { processesOf, resolveShellUsers, type ShellUser } from './shell-users.js';
import { recordingLogEntries } from '../../../../test/helpers/runtime-log.js';

const never = new AbortController().signal;

/** The user .ci/run creates for the shell runtime's steps, if this machine has it and runs tests as root. */
const STEP_USER = 'executors-step';
const stepUserExists = (() => {
  try {
    execFileSync('id', ['-u', STEP_USER], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const asOtherUser = process.getuid?.() === 0 && stepUserExists;
if (!asOtherUser && process.env.CI === 'true') throw new Error(`CI runs these tests as root with the user ${STEP_USER} (.ci/run creates it)`);

/** A temporary workspace with a step-writing helper, set up on `runtime`. */
async function workspaceFor(runtime: ShellRuntime) {
  const ws = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'shell-runtime-')));
  const workspace = { path: ws, scriptPaths: [], remove: () => Promise.resolve() };
  const job = await runtime.setup({ job: { id: 7 } as DequeuedJob, workspace, logger: silentLogger, signal: never, openLogEntry: recordingLogEntries().openLogEntry });
  const step = async (script: string, extra: Partial<StepSpec> = {}): Promise<StepSpec> => {
    await fs.writeFile(path.join(ws, 's.sh'), script, { mode: 0o755 });
    if (asOtherUser && extra.env?.includes('AS_USER=1')) await fs.chown(path.join(ws, 's.sh'), (await fs.stat(ws)).uid, (await fs.stat(ws)).gid);
    return { key: 'step.docker.0', index: 0, image: 'alpine', scriptPath: 's.sh', dir: '', env: [], ...extra };
  };
  return { ws, job, step };
}

const collect = () => {
  const out = { stdout: '', stderr: '' };
  return { out, write: (stream: 'stdout' | 'stderr', chunk: Buffer) => (out[stream] += chunk.toString()) };
};

describe('ShellRuntime', () => {
  let ws: string;
  let job: RuntimeJob;
  let writeStep: (script: string, extra?: Partial<StepSpec>) => Promise<StepSpec>;

  beforeEach(async () => {
    ({ ws, job, step: writeStep } = await workspaceFor(new ShellRuntime()));
  });
  afterEach(async () => {
    await job.teardown();
    await fs.rm(ws, { recursive: true, force: true });
  });

  /** Writes a script and returns its step. */
  const step = (script: string, extra: Partial<StepSpec> = {}) => writeStep(script, extra);

  it('runs /bin/sh <script> in <workspace>/<dir> with the step env and only a minimal PATH and its own HOME and TMPDIR', async () => {
    const s = await step('pwd; env | sort; echo oops >&2; exit 4', { dir: 'sub/dir', env: ['FOO=bar', 'HOME=/step-home'] });
    expect(job.commandFor(s)).toEqual(['/bin/sh', path.join(ws, 's.sh')]);
    const { out, write } = collect();
    expect(await job.runStep(s, write, never)).toEqual({ exitCode: 4 });
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe(path.join(ws, 'sub/dir'));
    const names = lines.slice(1).map((line) => line.split('=')[0]);
    // sh itself adds PWD (and may add SHLVL, _); nothing else of the executor's environment.
    expect(names.filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n!))).toEqual(['FOO', 'HOME', 'PATH', 'TMPDIR']);
    expect(lines).toContain('HOME=/step-home');
    expect(lines).toContain(`PATH=${STEP_PATH}`);
    expect(out.stderr).toBe('oops\n');
  });

  it('gives the job a HOME and TMPDIR of its own beside the workspace, and removes them at teardown', async () => {
    const { out, write } = collect();
    await job.runStep(await step('echo "$HOME"; echo "$TMPDIR"; touch "$HOME/h" "$TMPDIR/t" && echo made'), write, never);
    const [home, tmp, made] = out.stdout.trim().split('\n');
    expect(made).toBe('made');
    expect(path.dirname(path.dirname(home!))).toBe(path.dirname(ws));
    expect(path.basename(path.dirname(home!))).toMatch(/^executor-shell-7-/);
    expect(path.dirname(tmp!)).toBe(path.dirname(home!));
    expect(home).not.toBe(os.homedir());
    await job.teardown();
    await expect(fs.stat(path.dirname(home!))).rejects.toMatchObject({ code: 'ENOENT' });
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
  it('lets the step env override PATH, HOME and TMPDIR and ignores entries without =', () => {
    expect(shellStepEnv({ HOME: '/h', TMPDIR: '/t' }, ['PATH=/opt', 'X=a=b', 'junk'])).toEqual({ PATH: '/opt', HOME: '/h', TMPDIR: '/t', X: 'a=b' });
  });
});

describe.skipIf(!asOtherUser)(`ShellRuntime as EXECUTOR_SHELL_USER${asOtherUser ? '' : ` (skipped: needs root and a user ${STEP_USER})`}`, () => {
  let user: ShellUser;
  let runtime: ShellRuntime;

  beforeEach(async () => {
    user = (await resolveShellUsers([STEP_USER]))[0]!;
    runtime = new ShellRuntime({ users: [user!] });
  });

  it("runs steps as the user, who owns the workspace but not what a symlink in it points at", async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'shell-outside-'));
    await fs.writeFile(path.join(outside, 'secret'), 'root only\n', { mode: 0o600 });
    const { ws, job, step } = await workspaceFor(new ShellRuntime({ users: [user] }));
    try {
      await fs.mkdir(path.join(ws, 'repo'));
      await fs.writeFile(path.join(ws, 'repo', 'README.md'), 'hello\n');
      await fs.symlink(path.join(outside, 'secret'), path.join(ws, 'repo', 'link'));
      // Set up again: the hand-over happens in setup, after the workspace is prepared.
      await job.teardown();
      const again = await new ShellRuntime({ users: [user] }).setup({
        job: { id: 8 } as DequeuedJob,
        workspace: { path: ws, scriptPaths: [], remove: () => Promise.resolve() },
        logger: silentLogger,
        signal: never,
        openLogEntry: recordingLogEntries().openLogEntry,
      });
      const { out, write } = collect();
      const result = await again.runStep(await step('id -u; cat ../README.md; echo new > ../new.txt && cat ../new.txt; cat ../link', { dir: 'repo/sub' }), write, never);
      await again.teardown();
      expect(out.stdout).toBe(`${user.uid}\nhello\nnew\n`);
      expect(out.stderr).toMatch(/Permission denied/);
      expect(result.exitCode).not.toBe(0);
      expect((await fs.stat(path.join(outside, 'secret'))).uid).toBe(0);
      expect((await fs.lstat(path.join(ws, 'repo', 'link'))).uid).toBe(user.uid);
      expect((await fs.stat(path.join(ws, 'repo', 'sub'))).uid).toBe(user.uid);
    } finally {
      await fs.rm(ws, { recursive: true, force: true });
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('kills at teardown what a step left running in a session of its own, and frees the user for the next job', async () => {
    const { ws, job, step } = await workspaceFor(runtime);
    try {
      const marker = `1000.${process.pid}`;
      // Waits until the detached process is in its own session, so the step's group kill cannot catch it.
      const script = `setsid sh -c 'echo $$ > "$HOME/detached"; exec sleep ${marker}' >/dev/null 2>&1 < /dev/null &\nwhile [ ! -s "$HOME/detached" ]; do sleep 0.01; done`;
      await job.runStep(await step(script), () => {}, never);
      expect((await processesOf(user.uid)).length).toBeGreaterThan(0);
      await job.teardown();
      expect(await processesOf(user.uid)).toEqual([]);
      // The pool had one user: a second job can start only because the first gave it back.
      const next = await workspaceFor(runtime);
      await next.job.teardown();
      await fs.rm(next.ws, { recursive: true, force: true });
    } finally {
      await fs.rm(ws, { recursive: true, force: true });
    }
  });

  it('refuses a second job at once while the only user runs one', async () => {
    const first = await workspaceFor(runtime);
    try {
      await expect(workspaceFor(runtime)).rejects.toMatchObject({ code: 'shell.no_free_user' });
    } finally {
      await first.job.teardown();
      await fs.rm(first.ws, { recursive: true, force: true });
    }
  });

  it('removes leftovers: processes of users no job has', async () => {
    execFileSync('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', '/bin/sh', '-c', 'setsid sleep 1001 >/dev/null 2>&1 < /dev/null &']);
    expect((await processesOf(user.uid)).length).toBeGreaterThan(0);
    expect(await runtime.removeLeftovers(silentLogger)).toBeGreaterThan(0);
    expect(await processesOf(user.uid)).toEqual([]);
  });
});
