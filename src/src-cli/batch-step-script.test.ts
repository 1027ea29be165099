import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildStepScript, shellQuote } from './batch-step-script.js';

const run = promisify(execFile);

describe('the step script', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'batch-step-script-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('exports quoted env, shows and keeps stdout and stderr apart, and exits with the run\'s status', async () => {
    await fs.writeFile(path.join(dir, 'run0.sh'), 'echo "out:$QUOTED"\necho err >&2\nexit 3\n');
    await fs.writeFile(path.join(dir, 'step0.sh'), buildStepScript({ index: 0, env: { QUOTED: "it's $(not run)" }, files: [] }));
    const res = await run('sh', [path.join(dir, 'step0.sh')], { cwd: dir }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect(res).toMatchObject({ code: 3, stdout: "out:it's $(not run)\n", stderr: 'err\n' });
    expect(await fs.readFile(path.join(dir, 'stdout0.log'), 'utf8')).toBe("out:it's $(not run)\n");
    expect(await fs.readFile(path.join(dir, 'stderr0.log'), 'utf8')).toBe('err\n');
  });

  it('refuses an env name the shell cannot export', () => {
    expect(() => buildStepScript({ index: 2, env: { 'BAD-NAME': 'x' }, files: [] })).toThrow(/steps\[2\]\.env: "BAD-NAME" is not an environment variable name/);
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });
});
