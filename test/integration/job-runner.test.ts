// The JobRunner end to end with the shell runtime: jobs enqueued on a real coordinator (PGlite), cloned
// with the real git, run as host processes, logged, redacted, canceled and cleaned up, then marked.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorClient, type DequeuedJob } from '../../src/executor/client/coordinator-client.js';
import type { ExecutorConfig } from '../../src/executor/config.js';
import { ShellRuntime } from '../../src/executor/runtimes/shell/shell-runtime.js';
import type { JobOutcome } from '../../src/executor/worker/job-handler.js';
import { JobRunner } from '../../src/executor/worker/job-runner.js';
import { silentLogger } from '../../src/shared/logger.js';
import { AdminApi } from '../helpers/api-client.js';
import { connectExecutorClient } from '../helpers/executor-client.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

const never = new AbortController().signal;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const QUEUE = 'batches';
const REPO = 'github.com/acme/runner';

interface StoredEntry {
  key: string;
  command: string[];
  out: string;
  exitCode: number | null;
}

/**
 * Whether any process of the group `pgid` still runs, from /proc (Linux). Zombies do not count: they are
 * dead, only not reaped yet; an orphan's is reaped by PID 1, which here takes up to ~1.5 s.
 */
async function groupAlive(pgid: number): Promise<boolean> {
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fs.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses, so split after the last `)`.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

describe('JobRunner with the shell runtime against the coordinator on pglite', () => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let client: CoordinatorClient;
  let config: ExecutorConfig;
  let work: string;
  let tmpDir: string;
  let commit: string;

  beforeAll(async () => {
    c = await startTestCoordinator('pglite');
    admin = new AdminApi(c.url, c.adminToken);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-job-runner-'));
    tmpDir = path.join(work, 'tmp');
    await fs.mkdir(tmpDir);
    const source = await createSourceRepository(path.join(work, 'source'), [{ message: 'first', files: { 'README.md': 'hello from the readme\n' } }]);
    commit = source.commits[0]!;
    const res = await admin.post('/api/v1/repositories', { name: REPO, url: source.path });
    expect(res.status, res.text).toBe(201);

    ({ config, client } = await connectExecutorClient(
      c,
      { EXECUTOR_QUEUE_NAME: QUEUE, EXECUTOR_RUNTIME: 'shell', EXECUTOR_SHELL_ALLOW_SAME_USER: 'true', EXECUTOR_MAXIMUM_RUNTIME_PER_JOB: '90s', TMPDIR: tmpDir },
      { signal: never },
    ));
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  /** Enqueues a job on the repository with these steps' commands and dequeues exactly it. */
  const takeJob = async (steps: string[][], extra: Record<string, unknown> = {}): Promise<DequeuedJob> => {
    const id = await admin.enqueue(QUEUE, {
      repositoryName: REPO,
      commit,
      dockerSteps: steps.map((commands) => ({ image: 'alpine', commands })),
      ...extra,
    });
    const job = await client.dequeue({ waitMs: 0 }, never);
    expect(job?.id).toBe(id);
    return job!;
  };
  const runner = (overrides: Partial<ExecutorConfig> = {}) =>
    new JobRunner({ config: { ...config, ...overrides }, client, runtime: new ShellRuntime(), logger: silentLogger });
  /** Marks the job as the worker loop would, by its outcome. */
  const mark = (job: DequeuedJob, outcome: JobOutcome) =>
    outcome.state === 'completed'
      ? client.markComplete(job, never)
      : outcome.state === 'errored'
        ? client.markErrored(job, outcome.message, never)
        : client.markFailed(job, outcome.message, never);
  const stored = async (id: number) => {
    const res = await admin.jobWithOutput(QUEUE, id);
    return { state: res.json.state as string, failureMessage: res.json.failureMessage as string | null, logs: res.json.executionLogs as StoredEntry[] };
  };
  const workspacesOf = async (id: number) => (await fs.readdir(tmpDir)).filter((name) => name.startsWith(`workspace-${id}-`));

  it('clones, runs the steps in order in one workspace, logs each command, removes the workspace and completes', async () => {
    const job = await takeJob([['echo step-one > made-by-step-1.txt'], ['cat made-by-step-1.txt', 'cat README.md', 'echo "to stderr" >&2']]);
    const outcome = await runner().handle(job, never);
    expect(outcome).toEqual({ state: 'completed' });
    expect(await mark(job, outcome)).toBe(true);

    const { state, logs } = await stored(job.id);
    expect(state).toBe('completed');
    expect(logs.map((entry) => entry.key)).toEqual([
      'setup.git.init',
      'setup.git.add-remote',
      'setup.git.disable-gc',
      'setup.git.fetch',
      'setup.git.checkout',
      'setup.git.set-remote',
      'step.docker.0',
      'step.docker.1',
      'teardown.fs',
    ]);
    for (const entry of logs) expect(entry.exitCode, entry.key).toBe(0);
    expect(logs[0]!.command.slice(0, 2)).toEqual(['git', '-C']);
    const [step0, step1, teardown] = logs.slice(-3) as [StoredEntry, StoredEntry, StoredEntry];
    expect(step0.command[0]).toBe('/bin/sh');
    expect(step0.command[1]).toMatch(new RegExp(`/workspace-${job.id}-[^/]+/\\.sourcegraph-executor/${job.id}\\.0_[^/]+\\.sh$`));
    // set -x traces each command on stderr.
    expect(step0.out).toContain('stderr: + echo step-one');
    expect(step1.out).toContain('stdout: step-one\n');
    expect(step1.out).toContain('stdout: hello from the readme\n');
    expect(step1.out).toContain('stderr: to stderr\n');
    expect(teardown.out).toMatch(/^stdout: Removing .*workspace-/);
    expect(await workspacesOf(job.id)).toEqual([]);
  });

  it('stops at the first step that exits non-zero and errors with its key and exit code', async () => {
    const marker = path.join(work, 'third-step-ran');
    const job = await takeJob([['echo first'], ['echo failing', 'exit 3'], [`touch ${marker}`]]);
    const outcome = await runner().handle(job, never);
    expect(outcome).toEqual({ state: 'errored', message: 'running command "step.docker.1": command failed with exit code 3' });
    await mark(job, outcome);

    const { state, failureMessage, logs } = await stored(job.id);
    // COORDINATOR_MAX_NUM_RETRIES is 0, so an errored job fails at once (reference §4.12).
    expect(state).toBe('failed');
    expect(failureMessage).toBe('running command "step.docker.1": command failed with exit code 3');
    const steps = logs.filter((entry) => entry.key.startsWith('step.'));
    expect(steps.map((entry) => [entry.key, entry.exitCode])).toEqual([
      ['step.docker.0', 0],
      ['step.docker.1', 3],
    ]);
    expect(logs.at(-1)!.key).toBe('teardown.fs');
    await expect(fs.access(marker)).rejects.toThrow();
    expect(await workspacesOf(job.id)).toEqual([]);
  });

  it('never stores a secret from redactedValues, even printed one character at a time', async () => {
    const job = await takeJob([['for c in s e c r e t; do printf %s $c; sleep 0.01; done', 'echo', 'echo done']], {
      redactedValues: { secret: '[REDACTED]' },
    });
    const outcome = await runner().handle(job, never);
    expect(outcome).toEqual({ state: 'completed' });
    await mark(job, outcome);
    const { logs } = await stored(job.id);
    const step = logs.find((entry) => entry.key === 'step.docker.0')!;
    expect(step.out).toContain('stdout: [REDACTED]\n');
    expect(step.out).toContain('stdout: done\n');
    for (const entry of logs) expect(JSON.stringify(entry)).not.toContain('secret');
  });

  it('stops a canceled step and its whole process group within 2 s and fails the job', async () => {
    const pidFile = path.join(work, `pgid-${Date.now()}`);
    // $$ is the step's group leader: /bin/sh, which exec()s bash in place (reference §4.6 preamble).
    const job = await takeJob([[`echo $$ > ${pidFile}`, 'sleep 30 &', 'sleep 30'], ['echo never']]);
    const controller = new AbortController();
    const handled = runner().handle(job, controller.signal);
    let pgid = 0;
    for (let i = 0; i < 200 && !pgid; i++) {
      await delay(50);
      pgid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
    }
    expect(pgid).toBeGreaterThan(0);
    await delay(200);
    expect(await groupAlive(pgid)).toBe(true);

    const abortedAt = performance.now();
    controller.abort('canceled');
    const outcome = await handled;
    expect(performance.now() - abortedAt).toBeLessThan(2000);
    // SIGKILL is sent by then; give the kernel a moment to deliver it to the background sleep.
    while ((await groupAlive(pgid)) && performance.now() - abortedAt < 2000) await delay(10);
    expect(await groupAlive(pgid)).toBe(false);
    expect(outcome).toEqual({ state: 'failed', message: 'job was canceled' });
    await mark(job, outcome);

    const { state, logs } = await stored(job.id);
    expect(state).toBe('failed');
    expect(logs.map((entry) => entry.key).filter((key) => key.startsWith('step.'))).toEqual(['step.docker.0']);
    expect(logs.find((entry) => entry.key === 'step.docker.0')!.exitCode).toBe(-1);
    expect(logs.at(-1)).toMatchObject({ key: 'teardown.fs', exitCode: 0 });
    expect(await workspacesOf(job.id)).toEqual([]);
  });

  it('errors a timed-out job with the maximum runtime as a Go duration', async () => {
    const job = await takeJob([['echo started', 'sleep 30']]);
    const controller = new AbortController();
    const handled = runner().handle(job, controller.signal);
    // Wait until the step runs (its log entry exists), so the abort stops a step, not the clone.
    for (let i = 0; i < 200; i++) {
      await delay(50);
      if ((await stored(job.id)).logs.some((entry) => entry.key === 'step.docker.0')) break;
    }
    controller.abort('timeout');
    const outcome = await handled;
    expect(outcome).toEqual({ state: 'errored', message: 'job exceeded maximum execution time of 1m30s' });
    await mark(job, outcome);
    expect((await stored(job.id)).failureMessage).toBe('job exceeded maximum execution time of 1m30s');
  });

  it('keeps the workspace with keepWorkspaces', async () => {
    const job = await takeJob([['echo kept > kept.txt']]);
    const outcome = await runner({ keepWorkspaces: true }).handle(job, never);
    expect(outcome).toEqual({ state: 'completed' });
    await mark(job, outcome);
    const kept = await workspacesOf(job.id);
    expect(kept).toHaveLength(1);
    expect(await fs.readFile(path.join(tmpDir, kept[0]!, 'kept.txt'), 'utf8')).toBe('kept\n');
    const { logs } = await stored(job.id);
    expect(logs.at(-1)).toMatchObject({ key: 'teardown.fs', exitCode: 0 });
    expect(logs.at(-1)!.out).toContain('Preserving workspace files');
    await fs.rm(path.join(tmpDir, kept[0]!), { recursive: true, force: true });
  });

  it('fails a job with src-cli steps, which this executor does not run', async () => {
    const job = await takeJob([], { cliSteps: [{ command: ['batch', 'exec'] }] });
    const outcome = await runner().handle(job, never);
    expect(outcome.state).toBe('failed');
    expect(outcome.state !== 'completed' && outcome.message).toContain('src-cli steps');
    await mark(job, outcome);
  });
});
