import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildStepScript, SCRIPT_PREAMBLE, stepScriptName, writeStepScripts } from './step-scripts.js';

describe('step scripts', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'step-scripts-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('names a script after the job, step, repository and commit', () => {
    expect(stepScriptName({ id: 42, repositoryName: 'github.com/acme/app', commit: 'deadbeef' }, 3)).toBe('42.3_github.com_acme_app@deadbeef.sh');
    expect(stepScriptName({ id: 7, repositoryName: '', commit: '' }, 0)).toBe('7.0_@.sh');
    expect(stepScriptName({ id: 7, repositoryName: 'r', commit: 'refs/heads/main' }, 0)).toBe('7.0_r@refs_heads_main.sh');
  });

  it('lays a script out as the reference does: preamble, empty line, commands, trailing newline', () => {
    expect(buildStepScript(['echo a', 'echo b'])).toBe(`${SCRIPT_PREAMBLE}\n\necho a\necho b\n`);
    expect(SCRIPT_PREAMBLE).toContain('bash_path=$(command -p -v bash)');
    expect(SCRIPT_PREAMBLE).toContain('exec "${bash_path}" "$0" skip-check');
    expect(SCRIPT_PREAMBLE.trimEnd().endsWith('set +e\n# From the actual script, log all commands.\nset -x')).toBe(true);
  });

  it('writes one executable script per docker step and returns their workspace-relative paths', async () => {
    const paths = await writeStepScripts(dir, {
      id: 5,
      repositoryName: 'a/b',
      commit: 'c',
      dockerSteps: [
        { image: 'alpine', commands: ['echo one'] },
        { image: 'alpine', commands: ['echo two'] },
      ],
    });
    expect(paths).toEqual(['.sourcegraph-executor/5.0_a_b@c.sh', '.sourcegraph-executor/5.1_a_b@c.sh']);
    const stat = await fs.stat(path.join(dir, paths[1]!));
    expect(stat.mode & 0o777).toBe(0o755);
    expect(await fs.readFile(path.join(dir, paths[1]!), 'utf8')).toBe(buildStepScript(['echo two']));
  });

  it('refuses a .sourcegraph-executor symlink that leads out of the workspace', async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'step-scripts-outside-'));
    try {
      await fs.symlink(outside, path.join(dir, '.sourcegraph-executor'));
      const writing = writeStepScripts(dir, { id: 1, repositoryName: 'r', commit: 'c', dockerSteps: [{ image: 'x', commands: ['true'] }] });
      await expect(writing).rejects.toMatchObject({ code: 'workspace.path_outside' });
      expect(await fs.readdir(outside)).toEqual([]);
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });
});
