// parseFileDiffs on real `git diff --binary` output (renames, binary files, added and deleted files, names
// with spaces and non-ASCII names), its counts checked against git's own `--numstat`, and the sections it
// splits checked to apply with `git apply --check`, alone and as groups.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countLines, filePathOf, filesUnderDirectory, isUnderDirectory, joinFileDiffs, parseFileDiffs, type FileDiff } from './file-diffs.js';

const run = promisify(execFile);
const GIT_ENV = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' };

let dir: string;
let repo: string;

async function git(...args: string[]): Promise<string> {
  return (await run('git', args, { cwd: repo, env: GIT_ENV, maxBuffer: 64 * 1024 * 1024 })).stdout;
}

/** git with an index of its own (the repository's index keeps the staged change the tests diff). */
async function gitWithIndex(...args: string[]): Promise<string> {
  return (await run('git', args, { cwd: repo, env: { ...GIT_ENV, GIT_INDEX_FILE: path.join(dir, 'check-index') } })).stdout;
}

async function write(file: string, content: string | Buffer): Promise<void> {
  await fs.mkdir(path.dirname(path.join(repo, file)), { recursive: true });
  await fs.writeFile(path.join(repo, file), content);
}

/** git's own counts per path: `--numstat -z` (binary files are "-\t-"). */
async function numstat(range: string[]): Promise<Map<string, { added: number; deleted: number; binary: boolean }>> {
  const out = await git('diff', '--numstat', '-z', ...range);
  const fields = out.split('\0');
  const stats = new Map<string, { added: number; deleted: number; binary: boolean }>();
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (field === '') continue;
    const [added, deleted, name] = field.split('\t');
    // A rename is "a\td\t" followed by the old and the new path as two fields.
    const file = name === '' ? (i += 2, fields[i]!) : name!;
    const binary = added === '-';
    stats.set(file, { added: binary ? 0 : Number(added), deleted: binary ? 0 : Number(deleted), binary });
  }
  return stats;
}

/** Whether `patch` applies to the base commit (git apply --check on an index holding it). */
async function applies(patch: string): Promise<void> {
  await fs.writeFile(path.join(dir, 'check.patch'), patch);
  await gitWithIndex('read-tree', base);
  await gitWithIndex('apply', '--check', '--cached', path.join(dir, 'check.patch'));
}

let base: string;
let diff: string;
let files: FileDiff[];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-file-diffs-'));
  repo = path.join(dir, 'repo');
  await fs.mkdir(repo);
  await git('init', '-q', '-b', 'main');
  await write('README.md', 'one\ntwo\nthree\n');
  await write('old name.txt', Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') + '\n');
  await write('logo.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 0, 4, 5]));
  await write('pkg/a/gone.go', 'package a\n\nfunc Gone() {}\n');
  await write('pkg/ab/keep.go', 'package ab\n');
  await write('docs/with space.md', 'first\nsecond\n');
  await write('no-newline.txt', 'end');
  await git('add', '-A');
  await git('commit', '-qm', 'base');
  base = (await git('rev-parse', 'HEAD')).trim();

  await write('README.md', 'one\n2\nthree\nfour\n');
  // A rename with a small edit (similarity stays above git's 50%).
  await fs.rm(path.join(repo, 'old name.txt'));
  await write('new name.txt', Array.from({ length: 20 }, (_, i) => (i === 3 ? 'line three' : `line ${i}`)).join('\n') + '\n');
  await write('logo.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 9, 9, 9, 0, 4, 5, 6]));
  await write('pkg/a/new.go', 'package a\n\nfunc New() {}\n');
  await fs.rm(path.join(repo, 'pkg/a/gone.go'));
  await write('pkg/ab/keep.go', 'package ab\n\n// kept\n');
  await write('docs/with space.md', 'first\nsecond, edited\n');
  await write('tést.txt', 'accent\n');
  await write('empty.txt', '');
  await write('data.bin', Buffer.from([0, 0, 0, 1]));
  await write('no-newline.txt', 'end, still no newline');
  await git('add', '-A');
  diff = await git('diff', '--binary', '-M', '--cached', base);
  files = parseFileDiffs(diff);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('parseFileDiffs on git diff --binary', () => {
  it('finds every file with its paths and what happened to it', () => {
    const byPath = new Map(files.map((f) => [filePathOf(f), f]));
    expect([...byPath.keys()].sort()).toEqual(
      ['README.md', 'data.bin', 'docs/with space.md', 'empty.txt', 'logo.png', 'new name.txt', 'no-newline.txt', 'pkg/a/gone.go', 'pkg/a/new.go', 'pkg/ab/keep.go', 'tést.txt'].sort(),
    );
    expect(byPath.get('new name.txt')).toMatchObject({ status: 'renamed', oldPath: 'old name.txt', newPath: 'new name.txt', binary: false });
    expect(byPath.get('pkg/a/gone.go')).toMatchObject({ status: 'deleted', oldPath: 'pkg/a/gone.go', newPath: null });
    expect(byPath.get('pkg/a/new.go')).toMatchObject({ status: 'added', oldPath: null, newPath: 'pkg/a/new.go' });
    expect(byPath.get('empty.txt')).toMatchObject({ status: 'added', oldPath: null, newPath: 'empty.txt', addedLines: 0 });
    expect(byPath.get('data.bin')).toMatchObject({ status: 'added', binary: true, addedLines: 0, deletedLines: 0 });
    expect(byPath.get('logo.png')).toMatchObject({ status: 'modified', binary: true, addedLines: 0, deletedLines: 0 });
    expect(byPath.get('docs/with space.md')).toMatchObject({ status: 'modified', oldPath: 'docs/with space.md', newPath: 'docs/with space.md' });
    // git quotes the non-ASCII name ("t\303\251st.txt"); it reads back as the name.
    expect(diff).toContain('"b/t\\303\\251st.txt"');
    expect(byPath.get('tést.txt')).toMatchObject({ status: 'added', newPath: 'tést.txt' });
  });

  it('counts the lines each file adds and deletes as git --numstat does, binary files as 0/0', async () => {
    const stats = await numstat(['-M', '--cached', base]);
    expect(stats.size).toBe(files.length);
    for (const f of files) {
      const expected = stats.get(filePathOf(f));
      expect(expected, filePathOf(f)).toBeDefined();
      expect({ path: filePathOf(f), added: f.addedLines, deleted: f.deletedLines, binary: f.binary }).toEqual({ path: filePathOf(f), ...expected });
    }
    const total = countLines(files);
    expect(total.addedLines).toBe([...stats.values()].reduce((n, s) => n + s.added, 0));
    expect(total.deletedLines).toBe([...stats.values()].reduce((n, s) => n + s.deleted, 0));
    expect(total.addedLines).toBeGreaterThan(5);
  });

  it('keeps each section byte for byte: joined again they are the diff', () => {
    expect(joinFileDiffs(files)).toBe(diff);
  });

  it('splits into sections that apply to the base commit alone and in groups', async () => {
    for (const f of files) await applies(joinFileDiffs([f]));
    const pkgA = filesUnderDirectory(files, 'pkg/a');
    expect(pkgA.map(filePathOf).sort()).toEqual(['pkg/a/gone.go', 'pkg/a/new.go']);
    await applies(joinFileDiffs(pkgA));
    await applies(joinFileDiffs(files.filter((f) => !pkgA.includes(f))));
    // And one whose context is not the base's does not.
    const readme = files.find((f) => filePathOf(f) === 'README.md')!;
    await expect(applies(readme.text.replace('\n one\n', '\n uno\n'))).rejects.toThrow(/patch failed|does not apply/);
  });

  it('parses a diff without --binary ("Binary files … differ") and without renames', async () => {
    const plain = parseFileDiffs(await git('diff', '--no-renames', '--cached', base));
    const byPath = new Map(plain.map((f) => [filePathOf(f), f]));
    expect(byPath.get('logo.png')).toMatchObject({ binary: true, status: 'modified', addedLines: 0 });
    expect(byPath.get('old name.txt')).toMatchObject({ status: 'deleted', deletedLines: 20 });
    expect(byPath.get('new name.txt')).toMatchObject({ status: 'added', addedLines: 20 });
  });

  it('reads a pure rename of a name with spaces from its rename lines', async () => {
    await git('commit', '-qm', 'second');
    await git('mv', 'docs/with space.md', 'docs/still with space.md');
    const renamed = parseFileDiffs(await git('diff', '--binary', '-M', '--cached', 'HEAD'));
    expect(renamed).toHaveLength(1);
    expect(renamed[0]).toMatchObject({ status: 'renamed', oldPath: 'docs/with space.md', newPath: 'docs/still with space.md', addedLines: 0, deletedLines: 0 });
    await git('reset', '-q', '--hard');
  });

  it('answers an empty diff with no files, and refuses text that is not a git diff', () => {
    expect(parseFileDiffs('')).toEqual([]);
    expect(() => parseFileDiffs('hello\ndiff --git a/x b/x\n')).toThrow(/diff line 1 is not inside a file's section.*"hello"/);
  });
});

describe('isUnderDirectory', () => {
  it('matches whole path segments, and the root holds everything', () => {
    expect(isUnderDirectory('pkg/a/x.go', 'pkg/a')).toBe(true);
    expect(isUnderDirectory('pkg/a/x.go', './pkg/a/')).toBe(true);
    expect(isUnderDirectory('pkg/ab/x.go', 'pkg/a')).toBe(false);
    expect(isUnderDirectory('pkg/a', 'pkg/a')).toBe(true);
    expect(isUnderDirectory('README.md', '')).toBe(true);
    expect(isUnderDirectory('README.md', '/')).toBe(true);
  });
});
