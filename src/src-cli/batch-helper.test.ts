// `src batch-helper pre|post` in a real workspace: a git repository in `repository/`, the input in
// `.batches/input.json`, and each step's script run with the real sh, the way the job's `run` step does.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchExecutionInput, BatchStepInput } from '../protocol/batch-execution.js';
import { runBatchHelper } from './batch-helper.js';
import { renderStepFiles } from './batch-step-render.js';
import { WorkspaceGit } from './batch-workspace-git.js';

const run = promisify(execFile);

describe('src batch-helper', () => {
  let workspace: string;
  let repo: string;

  beforeEach(async () => {
    workspace = await fs.mkdtemp(path.join(os.tmpdir(), 'batch-helper-test-'));
    repo = path.join(workspace, 'repository');
    await fs.mkdir(path.join(repo, 'svc'), { recursive: true });
    await fs.writeFile(path.join(repo, 'svc', 'config.txt'), 'mode=foo\n');
    await fs.writeFile(path.join(repo, 'README.md'), 'readme\n');
    const git = (...args: string[]) => run('git', args, { cwd: repo });
    await git('init', '-q', '-b', 'main');
    await git('-c', 'user.email=t@example.com', '-c', 'user.name=T', 'commit', '-q', '--allow-empty', '-m', 'empty');
    await git('add', '-A');
    await git('-c', 'user.email=t@example.com', '-c', 'user.name=T', 'commit', '-q', '-m', 'initial');
  });
  afterEach(async () => {
    await fs.rm(workspace, { recursive: true, force: true });
  });

  const writeInput = async (steps: Array<Partial<BatchStepInput> & { run: string }>, path_ = 'svc') => {
    const commit = (await run('git', ['rev-parse', 'HEAD'], { cwd: repo })).stdout.trim();
    const input: BatchExecutionInput = {
      version: 1,
      batchChange: { name: 'hello', description: 'say hello' },
      repository: { name: 'github.com/acme/app', branch: 'main', commit, searchResultPaths: ['svc/config.txt'] },
      path: path_,
      steps: steps.map((s) => ({ container: 'alpine', env: {}, secretEnv: [], files: {}, outputs: {}, ...s })),
    };
    await fs.mkdir(path.join(workspace, '.batches'), { recursive: true });
    await fs.writeFile(path.join(workspace, '.batches', 'input.json'), JSON.stringify(input));
    return input;
  };
  const helper = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await runBatchHelper(args, { PATH: process.env.PATH, HOME: process.env.HOME }, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), cwd: workspace });
    return { code, stdout, stderr };
  };
  /** What the job's `run` step does: `sh <root>/.batches/step<i>.sh` in the workspace's directory. */
  const runStep = async (i: number, env: Record<string, string> = {}) => {
    try {
      const out = await run('sh', [`../../.batches/step${i}.sh`], { cwd: path.join(repo, 'svc'), env: { PATH: process.env.PATH ?? '', ...env } });
      return { code: 0, stdout: out.stdout, stderr: out.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('renders each step from the steps before it: an output of a sed step feeds the next step, which sees its changes', async () => {
    await writeInput([
      {
        run: "sed -i 's/foo/bar/' config.txt && printf 'changed %s' ${{ repository.name }} && echo to-stderr >&2",
        env: { GREETING: 'hi from ${{ batch_change.name }}' },
        outputs: { mode: { value: '${{ index (split step.stdout " ") 1 }}', format: 'text' }, meta: { value: '{"files": ${{ len step.modified_files }}}', format: 'json' } },
      },
      { run: 'echo "${{ outputs.mode }} ${{ outputs.meta.files }} ${{ join previous_step.modified_files "," }} $GREETING $SECRET" > result.txt', env: { GREETING: '${{ steps.path }}' } },
    ]);
    expect(await helper('pre', '0')).toMatchObject({ code: 0 });
    const first = await runStep(0, { SECRET: 'unused' });
    expect(first).toMatchObject({ code: 0, stdout: 'changed github.com/acme/app', stderr: 'to-stderr\n' });
    // As the job's helper step between two steps: post 0, then pre 1, in one process.
    expect(await helper('post', '0', 'pre', '1')).toMatchObject({ code: 0, stdout: expect.stringContaining('step 0 changed 1 files; outputs: mode, meta') });
    // The secret is the step's own environment (as the executor sets it at dequeue), never in the script.
    expect(await runStep(1, { SECRET: 's3cr3t' })).toMatchObject({ code: 0 });
    expect(await fs.readFile(path.join(workspace, '.batches', 'step1.sh'), 'utf8')).not.toContain('s3cr3t');
    expect(await helper('post', '1')).toMatchObject({ code: 0 });
    expect(await fs.readFile(path.join(repo, 'svc', 'result.txt'), 'utf8')).toBe('github.com/acme/app 1 svc/config.txt svc s3cr3t\n');

    const state = JSON.parse(await fs.readFile(path.join(workspace, '.batches', 'state.json'), 'utf8'));
    expect(state.outputs).toEqual({ mode: 'github.com/acme/app', meta: { files: 1 } });
    expect(state.results[0]).toMatchObject({ index: 0, skipped: false, exitCode: 0, modifiedFiles: ['svc/config.txt'], addedFiles: [], stdout: 'changed github.com/acme/app', stderr: 'to-stderr\n' });
    expect(state.results[1]).toMatchObject({ index: 1, modifiedFiles: [], addedFiles: ['svc/result.txt'] });
    const git = new WorkspaceGit(repo, process.env);
    const diff = await git.diffAgainst(await git.headCommit());
    expect(diff).toContain('-mode=foo\n+mode=bar');
    expect(diff).toContain('+++ b/svc/result.txt');
  });

  it('skips a step whose if: is not true: its script runs nothing and its result says skipped', async () => {
    await writeInput([{ run: 'touch should-not-exist', if: '${{ eq repository.name "github.com/acme/other" }}' }]);
    expect(await helper('pre', '0')).toMatchObject({ code: 0, stdout: expect.stringContaining('step 0 is skipped') });
    expect((await runStep(0)).code).toBe(0);
    await expect(fs.access(path.join(repo, 'svc', 'should-not-exist'))).rejects.toThrow();
    expect(await helper('post', '0')).toMatchObject({ code: 0 });
    const state = JSON.parse(await fs.readFile(path.join(workspace, '.batches', 'state.json'), 'utf8'));
    expect(state.results[0]).toMatchObject({ skipped: true, exitCode: null });
  });

  it('writes a step\'s files where it asks, and passes on the exit status of a failing run', async () => {
    const target = path.join(workspace, 'extra', 'in.txt');
    await writeInput([{ run: 'cat "$TARGET" && cat notes/relative.txt; exit 7', files: { [target]: 'for ${{ repository.branch }}\n', 'notes/relative.txt': 'relative\n' } }]);
    expect(await helper('pre', '0')).toMatchObject({ code: 0 });
    const failed = await runStep(0, { TARGET: target });
    expect(failed).toMatchObject({ code: 7, stdout: 'for main\nrelative\n' });
    // A relative path is in the step's working directory (the workspace's directory in the repository).
    expect(await fs.readFile(path.join(repo, 'svc', 'notes', 'relative.txt'), 'utf8')).toBe('relative\n');
  });

  it('runs step 0 from the files the coordinator rendered (no pre 0): post counts its changes from the base commit', async () => {
    const input = await writeInput([{ run: "sed -i 's/foo/bar/' config.txt && echo new > added.txt", outputs: { files: { value: '${{ len step.modified_files }}+${{ len step.added_files }}', format: 'text' } } }, { run: 'rm added.txt' }]);
    // What the job builder ships as job files: the helper's directory-relative names.
    const rendered = renderStepFiles(0, input.steps[0]!, { repository: { ...input.repository }, batchChange: input.batchChange, outputs: {} });
    for (const [name, content] of Object.entries(rendered.files)) await fs.writeFile(path.join(workspace, '.batches', name), content);
    expect((await runStep(0)).code).toBe(0);
    expect(await helper('post', '0', 'pre', '1')).toMatchObject({ code: 0, stdout: expect.stringContaining('step 0 changed 2 files; outputs: files') });
    expect((await runStep(1)).code).toBe(0);
    expect(await helper('post', '1')).toMatchObject({ code: 0 });
    const state = JSON.parse(await fs.readFile(path.join(workspace, '.batches', 'state.json'), 'utf8'));
    expect(state.outputs).toEqual({ files: '1+1' });
    expect(state.results[0]).toMatchObject({ modifiedFiles: ['svc/config.txt'], addedFiles: ['svc/added.txt'] });
    expect(state.results[1]).toMatchObject({ modifiedFiles: [], deletedFiles: ['svc/added.txt'] });
    expect(state.changes).toMatchObject({ modifiedFiles: ['svc/config.txt'], addedFiles: [], deletedFiles: [] });
  });

  it('names what is wrong with an input that is not an execution input', async () => {
    await fs.mkdir(path.join(workspace, '.batches'), { recursive: true });
    await fs.writeFile(path.join(workspace, '.batches', 'input.json'), JSON.stringify({ version: 1, batchChange: { name: 'x', description: '' }, repository: { name: 'r', branch: 'main', commit: 'abc', searchResultPaths: [] }, path: '', steps: [{ run: 'true', container: 'alpine', env: { A: 1 }, secretEnv: [], files: {}, outputs: {} }] }));
    const res = await helper('post', '0');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\.batches\/input\.json is not an execution input: steps\.0\.env\.A: /);
  });

  it('names the field and the variable of a template that does not render', async () => {
    await writeInput([{ run: 'echo ${{ outputs.missing }}' }]);
    const res = await helper('pre', '0');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/steps\[0\]\.run: .*outputs\.missing: no output named "missing"/);
    expect(await helper('pre', '3')).toMatchObject({ code: 1, stderr: expect.stringContaining('step index "3": expected 0 to 0') });
    expect((await helper('sideways')).code).toBe(2);
    expect((await helper('post', '0', 'pre')).code).toBe(2);
  });
});
