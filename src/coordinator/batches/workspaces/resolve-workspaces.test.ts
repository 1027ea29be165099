// The resolver over real bare git repositories (`git clone --mirror`, as the coordinator keeps them). The
// registry of repositories is a small in-memory stand-in for RepositoryStore here (its SQL is exercised
// by test/integration/batch-changes-api.test.ts): these tests are about what git is asked.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RepositoryRow } from '../../store/repository-store.js';
import { parseBatchSpec } from '../spec/parse-batch-spec.js';
import { WorkspaceResolver, WorkspaceResolutionError } from './resolve-workspaces.js';

const run = promisify(execFile);

const specOf = (body: string) => {
  const parsed = parseBatchSpec(`name: t\n${body}\nsteps:\n  - run: x\n    container: y\nchangesetTemplate:\n  title: t\n  body: b\n  branch: b\n  commit:\n    message: m\n`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
};

describe('WorkspaceResolver', () => {
  let dir: string;
  let resolver: WorkspaceResolver;
  const rows: RepositoryRow[] = [];
  const hidden = new Set<string>();

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'resolve-workspaces-'));
    const add = async (name: string, files: Record<string, string>, options: { hidden?: boolean; branch?: string } = {}) => {
      const src = path.join(dir, 'src', name);
      await fs.mkdir(src, { recursive: true });
      const git = (...args: string[]) => run('git', args, { cwd: src });
      await git('init', '-q', '-b', 'main');
      for (const [file, content] of Object.entries(files)) {
        await fs.mkdir(path.dirname(path.join(src, file)), { recursive: true });
        await fs.writeFile(path.join(src, file), content);
      }
      if (Object.keys(files).length > 0) {
        await git('add', '-A');
        await git('-c', 'user.email=t@example.com', '-c', 'user.name=T', 'commit', '-qm', 'initial');
        if (options.branch) await git('branch', options.branch);
      }
      await run('git', ['clone', '-q', '--mirror', src, path.join(dir, 'repos', `${name}.git`)]);
      rows.push({ name, sourceUrl: src, hasCredential: false, visibility: options.hidden ? 'restricted' : 'public', createdAt: new Date(), updatedAt: new Date() });
      if (options.hidden) hidden.add(name);
    };
    await add('github.com/acme/go-app', { 'go.mod': 'module a\n', 'cmd/main.go': 'fmt.Println("Hello")\n', 'lib/go.mod': 'module b\n', 'README.md': 'hello world\n' }, { branch: 'release' });
    await add('github.com/acme/js-app', { 'package.json': '{}\n', 'src/index.js': 'console.log("hello")\n' });
    await add('github.com/acme/empty', {});
    await add('github.com/acme/private', { 'README.md': 'hello world\n' }, { hidden: true });
    resolver = new WorkspaceResolver({
      repositoriesDir: path.join(dir, 'repos'),
      repositories: {
        get: async (name) => rows.find((r) => r.name === name) ?? null,
        list: async (options = {}) => rows.filter((r) => options.readableBy === undefined || !hidden.has(r.name)),
        readableBy: async (_userId, names) => new Set(names.filter((n) => rows.some((r) => r.name === n) && !hidden.has(n))),
      },
    });
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const user = { id: 7, siteAdmin: false };
  const summary = (ws: Awaited<ReturnType<WorkspaceResolver['resolve']>>) => ws.map((w) => `${w.repositoryName}@${w.branch}:${w.path}${w.skipped ? ` (skipped: ${w.skippedReason})` : ''} [${w.searchResultPaths.join(',')}]`);

  it('matches content case-insensitively by default and case:yes exactly, keeping the matching paths', async () => {
    expect(summary(await resolver.resolve(specOf('on:\n  - repositoriesMatchingQuery: hello'), user))).toEqual([
      'github.com/acme/go-app@main: [README.md,cmd/main.go]',
      'github.com/acme/js-app@main: [src/index.js]',
    ]);
    expect(summary(await resolver.resolve(specOf('on:\n  - repositoriesMatchingQuery: Hello case:yes'), user))).toEqual(['github.com/acme/go-app@main: [cmd/main.go]']);
    // A site admin's search also reaches the restricted repository; the empty one matches nothing.
    expect(summary(await resolver.resolve(specOf('on:\n  - repositoriesMatchingQuery: "hello world"'), { id: 1, siteAdmin: true }))).toEqual([
      'github.com/acme/go-app@main: [README.md]',
      'github.com/acme/private@main: [README.md]',
    ]);
  });

  it('puts a workspace in each directory holding rootAtLocationOf, with the search results under it', async () => {
    const ws = await resolver.resolve(specOf('on:\n  - repositoriesMatchingQuery: file:go\\.mod$\nworkspaces:\n  - rootAtLocationOf: go.mod\n    in: "github.com/acme/*"'), user);
    // As the original: a workspace's search results are those under its directory (the root's: all of them).
    expect(summary(ws)).toEqual(['github.com/acme/go-app@main: [go.mod,lib/go.mod]', 'github.com/acme/go-app@main:lib [lib/go.mod]']);
  });

  it('reads branches of on.repository and merges a repository named twice', async () => {
    const ws = await resolver.resolve(specOf('on:\n  - repository: github.com/acme/go-app\n    branches: [release, main]\n  - repositoriesMatchingQuery: repo:go-app$ file:main'), user);
    expect(summary(ws)).toEqual(['github.com/acme/go-app@main: [cmd/main.go]', 'github.com/acme/go-app@release: []']);
    expect(summary(await resolver.resolve(specOf('on:\n  - repository: github.com/acme/empty'), user))).toEqual(['github.com/acme/empty@main: (skipped: the repository is empty: its default branch main has no commits) []']);
  });

  it('refuses two workspaces rules for one repository, naming both', async () => {
    const spec = specOf('on:\n  - repository: github.com/acme/js-app\nworkspaces:\n  - rootAtLocationOf: package.json\n  - rootAtLocationOf: index.js\n    in: "*js*"');
    const err = await resolver.resolve(spec, user).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkspaceResolutionError);
    expect((err as WorkspaceResolutionError).field).toBe('workspaces');
    expect((err as Error).message).toContain('workspaces[0].in "*", workspaces[1].in "*js*"');
  });
});
