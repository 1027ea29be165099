// The diff check against a real bare repository: a diff that applies, one that does not (git's message),
// a base commit that is not there, and no temporary index left behind.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffApplyProblem } from './diff-check.js';

const run = promisify(execFile);

describe('the diff check', () => {
  let dir: string;
  let bare: string;
  let commit: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'diff-check-test-'));
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'config.txt'), 'mode=foo\n');
    const git = (...args: string[]) => run('git', args, { cwd: src });
    await git('init', '-q', '-b', 'main');
    await git('add', '-A');
    await git('-c', 'user.email=t@example.com', '-c', 'user.name=T', 'commit', '-q', '-m', 'initial');
    commit = (await git('rev-parse', 'HEAD')).stdout.trim();
    bare = path.join(dir, 'bare.git');
    await run('git', ['clone', '-q', '--bare', src, bare]);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const patch = (from: string, to: string) => `diff --git a/config.txt b/config.txt\n--- a/config.txt\n+++ b/config.txt\n@@ -1 +1 @@\n-${from}\n+${to}\n`;

  it('passes a diff that applies, names what does not, and leaves no index behind', async () => {
    const before = await fs.readdir(bare);
    expect(await diffApplyProblem(bare, commit, patch('mode=foo', 'mode=bar'))).toBeNull();
    expect(await diffApplyProblem(bare, commit, '')).toBeNull();
    expect(await diffApplyProblem(bare, commit, patch('mode=other', 'mode=bar'))).toMatch(/^error: patch failed: config\.txt:1/);
    expect(await diffApplyProblem(bare, 'f'.repeat(40), patch('mode=foo', 'mode=bar'))).toMatch(new RegExp(`^the base commit ${'f'.repeat(40)} cannot be read: .+`));
    expect(await fs.readdir(bare)).toEqual(before);
  });
});
