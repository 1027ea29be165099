// Batch changes from the spec to a published branch, end to end through the real coordinator (its
// changeset service, not a stand-in): a spec over two repositories whose `sed` step's output is in the
// changeset title, run by bin/executor on the shell runtime; the preview shows each diff with its counts;
// apply with `published: true` pushes the branches into the coordinator's git, with the spec's commit
// message and author; a clone of a branch over the served URL has the change, and its diff against the
// base is the preview's. A changesetTemplate that fails on a result fails that workspace, naming the field.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi } from '../helpers/api-client.js';
import { spawnBatchesShellExecutor, waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const run = promisify(execFile);

const spec = (name: string, title: string) => `name: ${name}
description: switch the mode
on:
  - repositoriesMatchingQuery: repo:^github\\.com/acme/pub- mode=foo
steps:
  - run: |
      sed -i 's/mode=foo/mode=bar/' config.txt
      printf %s "$(grep -c mode=bar config.txt)"
    container: alpine:3
    outputs:
      count:
        value: \${{ step.stdout }}
changesetTemplate:
  title: ${title}
  body: Switches \${{ repository.name }} to bar.
  branch: switch-mode
  commit:
    message: switch the mode of \${{ repository.name }}
    author:
      name: Ada Author
      email: ada@example.com
  published: true
`;

describe('batch changes published end to end (shell runtime, the coordinator\'s changeset service)', () => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: TestUser;
  let work: string;
  const bases: Record<string, string> = {};

  const runJobs = async (n: number) => {
    const executor = spawnBatchesShellExecutor(c, { tmpDir: work, totalJobs: n, slots: 2 });
    expect(await executor.exited, executor.log()).toBe(0);
  };
  const settled = (name: string) =>
    waitFor(`batch change ${name} to settle`, async () => {
      const v = (await alice.api.get(`/api/v1/batch-changes/${name}`)).json;
      return v.execution && ['COMPLETED', 'FAILED', 'CANCELED'].includes(v.execution.state) ? v : undefined;
    }, 30_000);
  const cloneBranch = async (repository: string, branch: string) => {
    const dir = await fs.mkdtemp(path.join(work, 'clone-'));
    const headers = [`Authorization: token-executor ${c.executorToken}`, 'X-Sourcegraph-Job-ID: 1', 'X-Sourcegraph-Executor-Name: publish-test'];
    await run('git', [...headers.flatMap((h) => ['-c', `http.extraHeader=${h}`]), 'clone', '-q', '--branch', branch, `${c.url}/.executors/git/${repository}`, dir]);
    return dir;
  };

  beforeAll(async () => {
    work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'batch-changes-publish-')));
    c = await startTestCoordinator('postgres');
    admin = new AdminApi(c.url, c.adminToken);
    for (const [name, files] of [
      ['github.com/acme/pub-a', { 'config.txt': 'mode=foo\nother=1\n' }],
      ['github.com/acme/pub-b', { 'config.txt': 'x=1\nmode=foo\n', 'README.md': 'b\n' }],
    ] as const) {
      const source = await createSourceRepository(path.join(work, 'sources', name.replaceAll('/', '_')), [{ message: 'initial', files }]);
      expect((await admin.post('/api/v1/repositories', { name, url: source.path })).status).toBe(201);
      bases[name] = source.commits[0]!;
    }
    alice = await createTestUser(admin, 'alice');
  });
  afterAll(async () => {
    await c?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('previews the diffs, pushes the branches on apply with the spec\'s message and author, and a clone has the change', async () => {
    expect((await alice.api.post('/api/v1/batch-changes', { spec: spec('switch-mode', 'Mode bar (${{ outputs.count }} line)') })).status).toBe(201);
    expect((await alice.api.post('/api/v1/batch-changes/switch-mode/execute', {})).status).toBe(201);
    await runJobs(2);
    const done = await settled('switch-mode');
    expect(done.execution.state, JSON.stringify(done.workspaces)).toBe('COMPLETED');

    const preview = await alice.api.get('/api/v1/batch-changes/switch-mode/preview');
    expect(preview.status, preview.text).toBe(200);
    const changesets = [...preview.json.changesets].sort((x: { repository: string }, y: { repository: string }) => x.repository.localeCompare(y.repository));
    expect(changesets.map((x: Record<string, unknown>) => [x.repository, x.branch, x.title, x.body, x.added, x.deleted, x.operation])).toEqual([
      ['github.com/acme/pub-a', 'switch-mode', 'Mode bar (1 line)', 'Switches github.com/acme/pub-a to bar.', 1, 1, 'create'],
      ['github.com/acme/pub-b', 'switch-mode', 'Mode bar (1 line)', 'Switches github.com/acme/pub-b to bar.', 1, 1, 'create'],
    ]);
    for (const x of changesets) expect(x.diff).toContain('-mode=foo\n+mode=bar\n');

    const applied = await alice.api.post('/api/v1/batch-changes/switch-mode/apply');
    expect(applied.status, applied.text).toBe(200);
    const listed = (await alice.api.get('/api/v1/batch-changes/switch-mode/changesets')).json.changesets;
    expect(listed.map((x: { state: string }) => x.state)).toEqual(['OPEN', 'OPEN']);

    for (const x of changesets) {
      const clone = await cloneBranch(x.repository, 'switch-mode');
      expect(await fs.readFile(path.join(clone, 'config.txt'), 'utf8')).toContain('mode=bar\n');
      const show = (format: string) => run('git', ['-C', clone, 'log', '-1', `--format=${format}`]).then((r) => r.stdout.trim());
      expect(await show('%an <%ae>|%cn <%ce>|%s|%P')).toBe(`Ada Author <ada@example.com>|Ada Author <ada@example.com>|switch the mode of ${x.repository}|${bases[x.repository]}`);
      // The branch's change against its base is exactly what the preview showed.
      expect((await run('git', ['-C', clone, 'diff', '--binary', bases[x.repository]!, 'HEAD'])).stdout).toBe(x.diff);
    }
  });

  it('fails a workspace whose changesetTemplate fails on its result, naming the field', async () => {
    const created = await alice.api.post('/api/v1/batch-changes', { spec: spec('bad-title', 'Mode ${{ index outputs.count 5 }}') });
    expect(created.status, created.text).toBe(201);
    expect((await alice.api.post('/api/v1/batch-changes/bad-title/execute', {})).status).toBe(201);
    await runJobs(2);
    const done = await settled('bad-title');
    expect(done.execution.state).toBe('FAILED');
    for (const w of done.workspaces) {
      expect(w.state).toBe('FAILED');
      expect(w.failureMessage).toMatch(/changesetTemplate\.title/);
    }
    expect((await alice.api.get('/api/v1/batch-changes/bad-title/preview')).json.changesets).toEqual([]);
  });
});
