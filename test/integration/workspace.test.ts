// Workspace preparation end to end: jobs dequeued from a real coordinator (both databases) are cloned
// with the real git through the git proxy, get their files and step scripts; and commands die on cancel.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorClient, type DequeuedJob } from '../../src/executor/client/coordinator-client.js';
import { startGitProxy } from '../../src/executor/workspace/git-proxy.js';
import { spawnCommand, type RunCommand } from '../../src/executor/workspace/spawn-command.js';
import { SCRIPT_PREAMBLE } from '../../src/executor/workspace/step-scripts.js';
import { writeWorkspaceFiles } from '../../src/executor/workspace/workspace-files.js';
import { prepareWorkspace, type PrepareWorkspaceOptions } from '../../src/executor/workspace/workspace.js';
import { silentLogger } from '../../src/shared/logger.js';
import { AdminApi } from '../helpers/api-client.js';
import { connectExecutorClient } from '../helpers/executor-client.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

const run = promisify(execFile);
const git = async (cwd: string, ...args: string[]) => (await run('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })).stdout.trim();
const never = new AbortController().signal;
const exists = (p: string) => fs.access(p).then(() => true, () => false);
const REPO = 'github.com/acme/app';
const OTHER_REPO = 'github.com/acme/other';

/** Wraps spawnCommand to record what ran, as the worker's log streamer would see it. */
function recordingRunCommand() {
  const calls: Array<{ key: string; argv: readonly string[]; env: Record<string, string>; out: string }> = [];
  const runCommand: RunCommand = async (key, argv, options) => {
    const result = await spawnCommand(key, argv, options);
    calls.push({ key, argv, env: options.env, out: result.out ?? '' });
    return result;
  };
  return { calls, runCommand };
}

describe.each(BACKENDS)('workspace preparation against the coordinator on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let client: CoordinatorClient;
  let work: string;
  let tmpDir: string;
  const commits: string[] = [];

  /** Enqueues `spec` on batches and dequeues it with the CoordinatorClient. */
  const enqueueAndDequeue = async (spec: Record<string, unknown>): Promise<DequeuedJob> => {
    const id = await admin.enqueue('batches', spec);
    const job = await client.dequeue({ waitMs: 0 }, never);
    expect(job?.id).toBe(id);
    return job!;
  };
  const prepare = (job: DequeuedJob, extra: Partial<PrepareWorkspaceOptions> = {}) =>
    prepareWorkspace({ job, client, tmpDir, signal: never, logger: silentLogger, ...extra });

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-workspace-'));
    tmpDir = path.join(work, 'tmp');
    await fs.mkdir(tmpDir);
    const source = await createSourceRepository(
      path.join(work, 'source'),
      [
        { message: 'first', files: { 'README.md': 'one\n', 'top.txt': 'top\n' } },
        { message: 'second', files: { 'README.md': 'two\n', 'sub/a.txt': 'a\n' } },
        { message: 'third', files: { 'README.md': 'three\n', 'sub/b.txt': 'b\n' } },
      ],
      { tags: { v1: 0, v3: { commit: 2, message: 'third' } } },
    );
    commits.push(...source.commits);
    for (const name of [REPO, OTHER_REPO]) {
      const res = await admin.post('/api/v1/repositories', { name, url: source.path });
      expect(res.status, res.text).toBe(201);
    }
    ({ client } = await connectExecutorClient(c, {}, { executorName: `workspace-${backend}`, signal: never }));
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('clones the whole repository at a commit through the proxy, then points origin at the repository name', async () => {
    const job = await enqueueAndDequeue({ repositoryName: REPO, commit: commits[1] });
    const { calls, runCommand } = recordingRunCommand();
    const ws = await prepare(job, { runCommand });
    expect(path.basename(ws.path)).toMatch(new RegExp(`^workspace-${job.id}-`));
    expect(path.dirname(ws.path)).toBe(tmpDir);
    expect(calls.map((call) => call.key)).toEqual([
      'setup.git.init',
      'setup.git.add-remote',
      'setup.git.disable-gc',
      'setup.git.fetch',
      'setup.git.checkout',
      'setup.git.set-remote',
    ]);
    expect(calls[3]!.argv).toEqual(['git', '-C', ws.path, '-c', 'protocol.version=2', 'fetch', '--progress', '--no-recurse-submodules', 'origin', commits[1]]);
    expect(Object.keys(calls[3]!.env).sort()).toEqual(['GIT_LFS_SKIP_SMUDGE', 'GIT_TERMINAL_PROMPT', 'HOME', 'PATH']);
    expect(await git(ws.path, 'rev-parse', 'HEAD')).toBe(commits[1]);
    expect(await fs.readFile(path.join(ws.path, 'README.md'), 'utf8')).toBe('two\n');
    expect(await fs.readFile(path.join(ws.path, 'sub/a.txt'), 'utf8')).toBe('a\n');
    expect(await exists(path.join(ws.path, 'sub/b.txt'))).toBe(false);
    // The step scripts of the job's default docker step are the only untracked files.
    expect(await git(ws.path, 'status', '--porcelain', '--untracked-files=no')).toBe('');
    expect(await git(ws.path, 'remote', 'get-url', 'origin')).toBe(REPO);
    expect(await git(ws.path, 'rev-list', '--count', 'HEAD')).toBe('2');
    // No tags without fetchTags: v3 is not in this history and v1 is not followed for a bare sha.
    expect(await git(ws.path, 'tag', '-l')).toBe('');
    const gitConfig = await fs.readFile(path.join(ws.path, '.git/config'), 'utf8');
    expect(gitConfig).not.toContain(job.token);
    expect(gitConfig).not.toContain('127.0.0.1');
    for (const call of calls) expect(JSON.stringify(call)).not.toContain(job.token);
    await ws.remove(false);
    expect(await client.markComplete(job, never)).toBe(true);
  });

  it('fetches only the commit itself for a shallow clone', async () => {
    const job = await enqueueAndDequeue({ repositoryName: REPO, commit: commits[2], shallowClone: true });
    const { calls, runCommand } = recordingRunCommand();
    const ws = await prepare(job, { runCommand });
    expect(calls.find((call) => call.key === 'setup.git.fetch')!.argv).toContain('--depth=1');
    expect(await git(ws.path, 'rev-list', '--count', 'HEAD')).toBe('1');
    expect(await git(ws.path, 'rev-parse', 'HEAD')).toBe(commits[2]);
    expect(await fs.readFile(path.join(ws.path, 'README.md'), 'utf8')).toBe('three\n');
    expect(await git(ws.path, 'tag', '-l')).toBe('');
    await ws.remove(false);
    await client.markComplete(job, never);
  });

  it('checks out only the sparse patterns, into the repository directory', async () => {
    const job = await enqueueAndDequeue({ repositoryName: REPO, commit: commits[2], shallowClone: true, sparseCheckout: ['sub/*'], repositoryDirectory: 'repository' });
    const { calls, runCommand } = recordingRunCommand();
    const ws = await prepare(job, { runCommand });
    const repo = path.join(ws.path, 'repository');
    expect(calls.map((call) => call.key)).toContain('setup.git.sparse-checkout-set');
    expect(calls.find((call) => call.key === 'setup.git.fetch')!.argv).toContain('--filter=blob:none');
    expect(await fs.readFile(path.join(repo, 'sub/a.txt'), 'utf8')).toBe('a\n');
    expect(await fs.readFile(path.join(repo, 'sub/b.txt'), 'utf8')).toBe('b\n');
    expect(await exists(path.join(repo, 'README.md'))).toBe(false);
    expect(await exists(path.join(repo, 'top.txt'))).toBe(false);
    expect(await exists(path.join(ws.path, '.git'))).toBe(false);
    expect(await git(repo, 'remote', 'get-url', 'origin')).toBe(REPO);
    await ws.remove(false);
    await client.markComplete(job, never);
  });

  it('fetches every tag with fetchTags', async () => {
    const job = await enqueueAndDequeue({ repositoryName: REPO, commit: commits[1], fetchTags: true });
    const { calls, runCommand } = recordingRunCommand();
    const ws = await prepare(job, { runCommand });
    expect(calls.find((call) => call.key === 'setup.git.fetch')!.argv).toContain('--tags');
    expect((await git(ws.path, 'tag', '-l')).split('\n')).toEqual(['v1', 'v3']);
    expect(await git(ws.path, 'rev-parse', 'HEAD')).toBe(commits[1]);
    await ws.remove(false);
    await client.markComplete(job, never);
  });

  it('fails on a commit the repository does not have, naming the command, and removes the workspace', async () => {
    const job = await enqueueAndDequeue({ repositoryName: REPO, commit: 'f'.repeat(40) });
    const before = await fs.readdir(tmpDir);
    await expect(prepare(job)).rejects.toMatchObject({ code: 'workspace.command_failed', message: 'running command "setup.git.fetch": exit code 128' });
    expect(await fs.readdir(tmpDir)).toEqual(before);
    await client.markFailed(job, 'fetch failed', never);
  });

  it('writes files from the payload and from the files store, with mode 0777 and modifiedAt, and logs each', async () => {
    const put = await fetch(`${c.url}/api/v1/files/batch-changes/spec-ws/file-1`, { method: 'PUT', headers: { authorization: `Bearer ${c.adminToken}` }, body: 'from the store\n' });
    expect(put.status).toBeLessThan(300);
    const storedAt = '2020-01-02T03:04:05Z';
    const inlineAt = '2021-06-07T08:09:10.5+02:00';
    const job = await enqueueAndDequeue({
      files: {
        'input.json': { content: '{"héllo":"wörld"}', modifiedAt: inlineAt },
        'workspace-files/deep/b.txt': { bucket: 'batch-changes', key: 'spec-ws/file-1', modifiedAt: storedAt },
        'empty.txt': {},
      },
    });
    expect(job.version).toBe(2);
    const entries: Array<{ key: string; out: string; exitCode?: number }> = [];
    const ws = await prepare(job, {
      openLogEntry: (key) => {
        const entry: { key: string; out: string; exitCode?: number } = { key, out: '' };
        entries.push(entry);
        return { write: (text) => (entry.out += text), finalize: (code) => (entry.exitCode = code) };
      },
    });
    // stat before reading: a read moves atime (relatime) forward again.
    const stored = await fs.stat(path.join(ws.path, 'workspace-files/deep/b.txt'));
    expect(stored.mode & 0o777).toBe(0o777);
    expect(stored.mtimeMs).toBe(Date.parse(storedAt));
    expect(stored.atimeMs).toBe(Date.parse(storedAt));
    expect((await fs.stat(path.join(ws.path, 'input.json'))).mtimeMs).toBe(Date.parse(inlineAt));
    expect(await exists(path.join(ws.path, '.git'))).toBe(false);
    expect(await fs.readFile(path.join(ws.path, 'input.json'), 'utf8')).toBe('{"héllo":"wörld"}');
    expect(await fs.readFile(path.join(ws.path, 'workspace-files/deep/b.txt'), 'utf8')).toBe('from the store\n');
    expect(await fs.readFile(path.join(ws.path, 'empty.txt'), 'utf8')).toBe('');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ key: 'setup.fs.extras', exitCode: 0 });
    const lines = entries[0]!.out.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(new RegExp(`^Wrote ${ws.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\S+ in [\\d.]+(ms|s)$`));
    await ws.remove(false);
    await client.markComplete(job, never);
  });

  it('opens no setup.fs.extras entry for a job without files', async () => {
    const job = await enqueueAndDequeue({});
    const keys: string[] = [];
    const ws = await prepare(job, { openLogEntry: (key) => (keys.push(key), { write: () => {}, finalize: () => {} }) });
    expect(keys).toEqual([]);
    await ws.remove(false);
    await client.markComplete(job, never);
  });

  it('writes step scripts that bash runs, echoing commands and exiting with the last command status', async () => {
    const job = await enqueueAndDequeue({
      repositoryName: REPO,
      commit: commits[2],
      shallowClone: true,
      dockerSteps: [
        { image: 'alpine', commands: ['echo "hello from $(cat README.md)"', 'false', 'sh -c "exit 3"'] },
        { key: 'two', image: 'alpine', commands: ['echo second'] },
      ],
    });
    const ws = await prepare(job);
    const name = (i: number) => `.sourcegraph-executor/${job.id}.${i}_github.com_acme_app@${commits[2]}.sh`;
    expect(ws.scriptPaths).toEqual([name(0), name(1)]);
    const script = path.join(ws.path, ws.scriptPaths[0]!);
    expect((await fs.stat(script)).mode & 0o777).toBe(0o755);
    const text = await fs.readFile(script, 'utf8');
    expect(text.startsWith(SCRIPT_PREAMBLE + '\n\n')).toBe(true);
    expect(text.endsWith('echo "hello from $(cat README.md)"\nfalse\nsh -c "exit 3"\n')).toBe(true);
    const result = await run('sh', [script], { cwd: ws.path }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('hello from three\n');
    // set -x (under bash, which the preamble switched to) echoes each command; `false` did not stop it.
    expect(result.stderr).toContain('+ false');
    expect(result.stderr).toContain("+ sh -c 'exit 3'");
    const second = await run('sh', [path.join(ws.path, ws.scriptPaths[1]!)], { cwd: ws.path });
    expect(second.stdout).toBe('second\n');
    await ws.remove(false);
    await client.markComplete(job, never);
  });

  it('proxies only the job repository: another one gets 403, and nothing after close', async () => {
    const job = await enqueueAndDequeue({ repositoryName: REPO, commit: commits[0] });
    const proxy = await startGitProxy({ client, job, repositoryName: REPO, logger: silentLogger });
    expect(proxy.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/${REPO}$`));
    const origin = new URL(proxy.url).origin;
    const refs = await fetch(`${proxy.url}/info/refs?service=git-upload-pack`);
    expect(refs.status).toBe(200);
    expect(await refs.text()).toContain('# service=git-upload-pack');
    // Straight to the coordinator without the injected headers, the same request is refused.
    expect((await fetch(`${c.url}/.executors/git/${REPO}/info/refs?service=git-upload-pack`)).status).toBe(401);
    expect((await fetch(`${origin}/${OTHER_REPO}/info/refs?service=git-upload-pack`)).status).toBe(403);
    expect((await fetch(`${origin}/${REPO}/../other/info/refs?service=git-upload-pack`)).status).toBe(403);
    expect(await git(work, 'ls-remote', proxy.url, 'refs/tags/v1')).toContain(commits[0]);
    await expect(git(work, 'ls-remote', `${origin}/${OTHER_REPO}`)).rejects.toThrow(/403/);
    await proxy.close();
    await proxy.close();
    await expect(fetch(`${proxy.url}/info/refs?service=git-upload-pack`)).rejects.toThrow();
    await client.markComplete(job, never);
  });

  it('deletes the workspace on remove(false) and keeps it on remove(true)', async () => {
    const job = await enqueueAndDequeue({ files: { 'a.txt': { content: 'a' } } });
    const kept = await prepare(job);
    await kept.remove(true);
    expect(await exists(path.join(kept.path, 'a.txt'))).toBe(true);
    const removed = await prepare(job);
    await removed.remove(false);
    await removed.remove(false);
    expect(await exists(removed.path)).toBe(false);
    await kept.remove(false);
    expect(await exists(kept.path)).toBe(false);
    await client.markComplete(job, never);
  });
});

describe('workspace preparation without a coordinator', () => {
  let work: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-workspace-local-'));
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });
  const noFiles = { getFile: () => Promise.reject(new Error('no files store here')) };
  const fakeJob = (fields: Partial<DequeuedJob>): DequeuedJob => ({
    id: 9,
    queue: 'batches',
    token: 't'.repeat(40),
    repositoryName: '',
    repositoryDirectory: '',
    commit: '',
    fetchTags: false,
    shallowClone: false,
    sparseCheckout: [],
    files: {},
    dockerSteps: [],
    cliSteps: [],
    redactedValues: {},
    ...fields,
  });

  // The coordinator refuses to enqueue such paths, so the executor's own check is exercised directly.
  it('refuses a file path that climbs out of the workspace and writes nothing', async () => {
    const ws = path.join(work, 'ws-escape');
    await fs.mkdir(ws);
    const job = fakeJob({ files: { 'ok.txt': { content: Buffer.from('x') }, '../escape': { content: Buffer.from('x') } } });
    await expect(writeWorkspaceFiles({ workspaceDir: ws, job, client: noFiles, signal: never })).rejects.toThrow('refusing to write outside of working directory');
    expect(await exists(path.join(work, 'escape'))).toBe(false);
    expect(await fs.readdir(ws)).toEqual([]);
  });

  it('refuses a file through a symlink that points out of the workspace', async () => {
    const ws = path.join(work, 'ws-link');
    const outside = path.join(work, 'outside');
    await fs.mkdir(ws);
    await fs.mkdir(outside);
    await fs.symlink(outside, path.join(ws, 'link'));
    const job = fakeJob({ files: { 'link/x.txt': { content: Buffer.from('x') } } });
    await expect(writeWorkspaceFiles({ workspaceDir: ws, job, client: noFiles, signal: never })).rejects.toThrow('refusing to write outside of working directory');
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it('refuses a repositoryDirectory outside the workspace and removes the workspace', async () => {
    const tmpDir = path.join(work, 'tmp-repodir');
    await fs.mkdir(tmpDir);
    const client = { gitBaseUrl: () => 'http://127.0.0.1:9/.executors/git', gitProxyHeaders: () => ({}), ...noFiles };
    const job = fakeJob({ repositoryName: 'r', commit: 'c', repositoryDirectory: '../elsewhere' });
    await expect(prepareWorkspace({ job, client, tmpDir, signal: never, logger: silentLogger })).rejects.toMatchObject({ code: 'workspace.path_outside' });
    expect(await fs.readdir(tmpDir)).toEqual([]);
  });

  it('kills a command and its whole process group within 2 s of an abort', async () => {
    const pidFile = path.join(work, 'grandchild.pid');
    const controller = new AbortController();
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };
    // Settled outcomes, so the second rejection is not unhandled while the first is awaited.
    const sleeping = spawnCommand('test.sleep', ['sleep', '30'], { env, signal: controller.signal }).catch((err: unknown) => err);
    const nested = spawnCommand('test.nested', ['sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`], { env, signal: controller.signal }).catch((err: unknown) => err);
    for (let i = 0; i < 100 && !(await exists(pidFile)); i++) await new Promise((r) => setTimeout(r, 20));
    const grandchild = Number((await fs.readFile(pidFile, 'utf8')).trim());
    const startedMs = Date.now();
    const reason = new Error('job canceled');
    controller.abort(reason);
    expect(await sleeping).toBe(reason);
    expect(await nested).toBe(reason);
    let alive = true;
    while (alive && Date.now() - startedMs < 2_000) {
      alive = await isRunning(grandchild);
      if (alive) await new Promise((r) => setTimeout(r, 20));
    }
    expect(alive).toBe(false);
    expect(Date.now() - startedMs).toBeLessThan(2_000);
  });

  it('collects output with stdout and stderr prefixes and resolves with a non-zero exit code', async () => {
    const result = await spawnCommand('test.out', ['sh', '-c', 'echo out; echo err >&2; printf tail; exit 4'], { env: { PATH: '/usr/bin:/bin' }, signal: never });
    expect(result.exitCode).toBe(4);
    expect(result.out?.split('\n').sort()).toEqual(['', 'stderr: err', 'stdout: out', 'stdout: tail'].sort());
  });

  it('aborts a clone whose fetch hangs: git is killed, the proxy closed and the workspace removed', async () => {
    // Stands for a coordinator whose git endpoint stalls: it accepts the request and never answers,
    // which a real coordinator cannot be made to do on demand.
    const requests: string[] = [];
    const stalled = http.createServer((req) => requests.push(req.url ?? ''));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const upstream = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`;
      const client = { gitBaseUrl: () => `${upstream}/.executors/git`, gitProxyHeaders: () => ({ authorization: 'Bearer secret' }), ...noFiles };
      const tmpDir = path.join(work, 'tmp-cancel');
      await fs.mkdir(tmpDir);
      const controller = new AbortController();
      const { calls, runCommand } = recordingRunCommand();
      const preparing = prepareWorkspace({ job: fakeJob({ repositoryName: REPO, commit: 'a'.repeat(40) }), client, tmpDir, runCommand, signal: controller.signal, logger: silentLogger });
      for (let i = 0; i < 250 && requests.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(requests[0]).toBe(`/.executors/git/${REPO}/info/refs?service=git-upload-pack`);
      const startedMs = Date.now();
      const reason = new Error('job canceled');
      controller.abort(reason);
      await expect(preparing).rejects.toBe(reason);
      expect(Date.now() - startedMs).toBeLessThan(2_000);
      expect(calls.map((call) => call.key)).toEqual(['setup.git.init', 'setup.git.add-remote', 'setup.git.disable-gc']);
      expect(await fs.readdir(tmpDir)).toEqual([]);
    } finally {
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });
});

/** Whether `pid` runs; a zombie waiting for a reaper that never comes (PID 1 in a container) counts as dead. */
async function isRunning(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z/.test(stat);
}
