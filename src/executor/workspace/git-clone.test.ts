import { describe, expect, it } from 'vitest';
import { cloneRepository, gitCloneCommands, gitEnv, type CloneSpec } from './git-clone.js';
import type { RunCommand } from './spawn-command.js';

const base: CloneSpec = { repositoryName: 'github.com/acme/app', commit: 'abc123', fetchTags: false, shallowClone: false, sparseCheckout: [] };
const never = new AbortController().signal;
const fetchArgs = (spec: Partial<CloneSpec>) => gitCloneCommands('/ws', 'http://127.0.0.1:1/github.com/acme/app', { ...base, ...spec }).find((c) => c.key === 'setup.git.fetch')!.argv;

describe('gitCloneCommands', () => {
  it('runs init, add-remote, disable-gc, fetch, checkout and set-remote for a full clone', () => {
    expect(gitCloneCommands('/ws', 'http://127.0.0.1:1/github.com/acme/app', base)).toEqual([
      { key: 'setup.git.init', argv: ['git', '-C', '/ws', 'init'] },
      { key: 'setup.git.add-remote', argv: ['git', '-C', '/ws', 'remote', 'add', 'origin', 'http://127.0.0.1:1/github.com/acme/app'] },
      { key: 'setup.git.disable-gc', argv: ['git', '-C', '/ws', 'config', '--local', 'gc.auto', '0'] },
      { key: 'setup.git.fetch', argv: ['git', '-C', '/ws', '-c', 'protocol.version=2', 'fetch', '--progress', '--no-recurse-submodules', 'origin', 'abc123'] },
      { key: 'setup.git.checkout', argv: ['git', '-C', '/ws', 'checkout', '--progress', '--force', 'abc123'] },
      { key: 'setup.git.set-remote', argv: ['git', '-C', '/ws', 'remote', 'set-url', 'origin', 'github.com/acme/app'] },
    ]);
  });

  it('adds the fetch flags in the reference order: tags, then shallow, then the blob filter', () => {
    const flags = (spec: Partial<CloneSpec>) => fetchArgs(spec).slice(8, -2);
    expect(flags({ fetchTags: true })).toEqual(['--tags']);
    expect(flags({ shallowClone: true })).toEqual(['--no-tags', '--depth=1']);
    expect(flags({ shallowClone: true, fetchTags: true })).toEqual(['--tags', '--depth=1']);
    expect(flags({ sparseCheckout: ['a/*'] })).toEqual(['--filter=blob:none']);
    expect(flags({ shallowClone: true, fetchTags: true, sparseCheckout: ['a/*'] })).toEqual(['--tags', '--depth=1', '--filter=blob:none']);
  });

  it('configures a non-cone sparse checkout and checks out with protocol v2', () => {
    const commands = gitCloneCommands('/ws', 'u', { ...base, sparseCheckout: ['sub/*', '-odd'] });
    expect(commands.map((c) => c.key)).toEqual([
      'setup.git.init',
      'setup.git.add-remote',
      'setup.git.disable-gc',
      'setup.git.fetch',
      'setup.git.sparse-checkout-config',
      'setup.git.sparse-checkout-set',
      'setup.git.checkout',
      'setup.git.set-remote',
    ]);
    expect(commands[4]!.argv).toEqual(['git', '-C', '/ws', 'config', '--local', 'core.sparseCheckout', '1']);
    expect(commands[5]!.argv).toEqual(['git', '-C', '/ws', 'sparse-checkout', 'set', '--no-cone', '--', 'sub/*', '-odd']);
    expect(commands[6]!.argv).toEqual(['git', '-C', '/ws', '-c', 'protocol.version=2', 'checkout', '--progress', '--force', 'abc123']);
  });
});

describe('cloneRepository', () => {
  it('gives git only PATH, HOME and the two git variables', () => {
    expect(gitEnv({ PATH: '/bin', HOME: '/home/x' })).toEqual({ PATH: '/bin', HOME: '/home/x', GIT_TERMINAL_PROMPT: '0', GIT_LFS_SKIP_SMUDGE: '1' });
    expect(gitEnv({})).toEqual({ GIT_TERMINAL_PROMPT: '0', GIT_LFS_SKIP_SMUDGE: '1' });
  });

  it('stops at the first failing command and names it with its exit code', async () => {
    const ran: string[] = [];
    const envs: Array<Record<string, string>> = [];
    const runCommand: RunCommand = async (key, _argv, options) => {
      ran.push(key);
      envs.push(options.env);
      return { exitCode: key === 'setup.git.fetch' ? 128 : 0 };
    };
    const clone = cloneRepository({ dir: '/ws', remoteUrl: 'u', spec: base, runCommand, signal: never, hostEnv: { PATH: '/p' } });
    await expect(clone).rejects.toMatchObject({ code: 'workspace.command_failed', message: 'running command "setup.git.fetch": exit code 128' });
    expect(ran).toEqual(['setup.git.init', 'setup.git.add-remote', 'setup.git.disable-gc', 'setup.git.fetch']);
    expect(envs[0]).toEqual({ PATH: '/p', GIT_TERMINAL_PROMPT: '0', GIT_LFS_SKIP_SMUDGE: '1' });
  });

  it('refuses a commit that git would read as an option, before running anything', async () => {
    let ran = 0;
    const runCommand: RunCommand = async () => {
      ran++;
      return { exitCode: 0 };
    };
    await expect(cloneRepository({ dir: '/ws', remoteUrl: 'u', spec: { ...base, commit: '--upload-pack=touch /tmp/x' }, runCommand, signal: never })).rejects.toMatchObject({
      code: 'workspace.invalid_job',
    });
    expect(ran).toBe(0);
  });
});
