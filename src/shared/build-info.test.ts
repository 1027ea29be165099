import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runExecutorCli } from '../executor/main.js';
import { buildInfo, bundledBuild, versionLine } from './build-info.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('the build info of a source checkout', () => {
  it('is the package version and the commit git reports, -dirty when tracked files changed', () => {
    expect(bundledBuild).toBeUndefined();
    const info = buildInfo();
    expect(info.kind).toBe('source');
    expect(info.version).toBe((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    expect(info.commit).toBe(dirty ? `${head}-dirty` : head);
  });

  it('is what executor --version prints', async () => {
    let out = '';
    expect(await runExecutorCli(['--version'], {}, { stdout: (t) => (out += t) })).toBe(0);
    expect(out).toBe(`${versionLine('executor')}\n`);
    expect(out).toMatch(/^executor \d+\.\d+\.\d+\S* \(commit ([0-9a-f]{40}(-dirty)?|dev), source checkout\)\n$/);
  });
});
