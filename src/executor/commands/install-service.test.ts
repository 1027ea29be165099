// `executor install service`: the unit is checked by the real `systemd-analyze verify` (this machine's PID 1
// is not systemd, so nothing is started), the env file by mode and by sourcing it in a real shell, and the
// power-off command by running it with a stand-in `systemctl` that records what it was asked.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runExecutorCli } from '../main.js';
import { runInstallCommand } from './install-command.js';
import { currentExecutorPath, ENV_FILE_PATH, quoteEnvValue, renderEnvFile, UNIT_PATH } from './install-service.js';

const run = promisify(execFile);

async function install(args: string[], env: Record<string, string>, isRoot = true) {
  let out = '';
  let err = '';
  const code = await runInstallCommand(['service', ...args], env, { stdout: (t) => (out += t), stderr: (t) => (err += t) }, { isRoot });
  return { code, out, err };
}

/** `systemd-analyze verify` of a unit file: its exit status and stderr (it exits 0 on warnings). */
async function verifyUnit(unitFile: string): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run('systemd-analyze', ['verify', unitFile]);
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('these tests need systemd-analyze (Debian package systemd)');
    return { code: typeof e.code === 'number' ? e.code : 1, stderr: e.stderr ?? '' };
  }
}

describe('executor install service', () => {
  let root: string;
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'install-service-'));
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('writes a unit that systemd-analyze verify accepts without a single warning, running this executor', async () => {
    const { code, out, err } = await install(['--root', root, '--power-off-on-exit'], {});
    expect(err).toBe('');
    expect(code).toBe(0);
    const unitFile = path.join(root, UNIT_PATH);
    expect(out).toContain(`service: ${unitFile}: written (ExecStart=${await currentExecutorPath()} run; powers off after a clean exit)`);
    const verified = await verifyUnit(unitFile);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    const unit = await fs.readFile(unitFile, 'utf8');
    expect(unit).toContain(`EnvironmentFile=${ENV_FILE_PATH}\n`);
    expect(unit).toContain(`ExecStart=${await currentExecutorPath()} run\n`);
    expect(unit).toContain('Restart=on-failure\n');
    expect(unit).toContain('WantedBy=multi-user.target\n');
    expect(unit).toMatch(/^ExecStopPost=\/bin\/sh -c /m);
  });

  it('is what systemd-analyze verify would flag if the unit were wrong (the check can fail)', async () => {
    await install(['--root', root, '--binary', '/nonexistent/executor'], {});
    const unitFile = path.join(root, UNIT_PATH);
    const missingBinary = await verifyUnit(unitFile);
    expect(missingBinary.stderr).toContain('/nonexistent/executor');
    await fs.writeFile(unitFile, (await fs.readFile(unitFile, 'utf8')).replace(/^KillMode=mixed$/m, 'KillMode=sometimes').replace('/nonexistent/executor', await currentExecutorPath()));
    expect((await verifyUnit(unitFile)).stderr).toContain('kill mode');
  });

  it('writes the env file with mode 0600, the settings it was run with, and the required ones marked', async () => {
    const password = 'pa$$ "word" \\ `with` every quote';
    const { code } = await install(['--root', root], {
      EXECUTOR_FRONTEND_URL: 'https://coordinator.example.com',
      EXECUTOR_FRONTEND_PASSWORD: password,
      EXECUTOR_QUEUE_NAMES: 'batches,codeintel',
      EXECUTOR_MAXIMUM_NUM_JOBS: '3',
      EXECUTOR_SOMETHING_NEW: 'kept too',
      HOME: '/root',
    });
    expect(code).toBe(0);
    const envFile = path.join(root, ENV_FILE_PATH);
    expect((await fs.stat(envFile)).mode & 0o777).toBe(0o600);
    const text = await fs.readFile(envFile, 'utf8');
    expect(text).toContain('EXECUTOR_FRONTEND_URL="https://coordinator.example.com"\n');
    expect(text).toContain('EXECUTOR_MAXIMUM_NUM_JOBS="3"\n');
    expect(text).toContain('EXECUTOR_SOMETHING_NEW="kept too"\n');
    expect(text).not.toContain('HOME');
    // EXECUTOR_QUEUE_NAMES is set, so EXECUTOR_QUEUE_NAME is not required: only commented out.
    expect(text).toMatch(/^#EXECUTOR_QUEUE_NAME="batches"$/m);
    expect(text).toContain('EXECUTOR_QUEUE_NAMES="batches,codeintel"\n');
    expect(text).toMatch(/^#EXECUTOR_JOB_MEMORY="12G"$/m);
    // Every non-comment line is VAR=value: nothing systemd would misread.
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/^[A-Z_]+="(?:[^"\\]|\\.)*"$/);
    // A shell sourcing it gets back exactly what was set (systemd's EnvironmentFile quoting is the same).
    const { stdout } = await run('sh', ['-c', 'set -a; . "$1"; printf %s "$EXECUTOR_FRONTEND_PASSWORD"', 'sh', envFile], { env: {} });
    expect(stdout).toBe(password);
  });

  it('leaves the required settings empty, not made up, when they are not in its environment', () => {
    const text = renderEnvFile({});
    expect(text).toMatch(/^EXECUTOR_FRONTEND_URL=$/m);
    expect(text).toMatch(/^EXECUTOR_FRONTEND_PASSWORD=$/m);
    expect(text).toMatch(/^EXECUTOR_QUEUE_NAME=$/m);
    expect(text).toMatch(/\(required\), e\.g\. https:\/\/coordinator\.example\.com\nEXECUTOR_FRONTEND_URL=\n/);
  });

  it('never overwrites an existing env file, and says so; the unit itself is updated', async () => {
    const envFile = path.join(root, ENV_FILE_PATH);
    const unitFile = path.join(root, UNIT_PATH);
    await fs.mkdir(path.dirname(envFile), { recursive: true });
    await fs.writeFile(envFile, 'EXECUTOR_FRONTEND_PASSWORD="the operator\'s"\n', { mode: 0o640 });
    await fs.writeFile(unitFile, '[Unit]\nDescription=an older unit\n');
    const { code, out } = await install(['--root', root], { EXECUTOR_FRONTEND_PASSWORD: 'something else' });
    expect(code).toBe(0);
    expect(await fs.readFile(envFile, 'utf8')).toBe('EXECUTOR_FRONTEND_PASSWORD="the operator\'s"\n');
    expect((await fs.stat(envFile)).mode & 0o777).toBe(0o640);
    expect(out).toContain(`service: ${envFile}: exists, left as it is`);
    expect(out).toContain(`service: ${unitFile}: updated`);
    expect(await fs.readFile(unitFile, 'utf8')).toContain('ExecStart=');
    const again = await install(['--root', root], {});
    expect(again.out).toContain(`service: ${unitFile}: unchanged`);
  });

  it('refuses to write into / when not root, saying to run it as root or with --root', async () => {
    const { code, err } = await install([], {}, false);
    expect(code).toBe(1);
    expect(err).toBe(`service: writing ${UNIT_PATH} needs root: run it as root (sudo executor install service), or write under another directory with --root DIR\n`);
  });

  it('refuses a relative --binary and an unknown flag with its usage', async () => {
    const relative = await install(['--root', root, '--binary', 'bin/executor'], {});
    expect(relative.code).toBe(2);
    expect(relative.err).toContain('--binary must be an absolute path');
    const unknown = await install(['--root', root, '--restart-always'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unexpected argument "--restart-always"');
    expect(unknown.err).toContain('Usage: executor install service');
    await expect(fs.stat(path.join(root, UNIT_PATH))).rejects.toThrow();
  });

  it('is reachable as `executor install service` from the command line', async () => {
    let out = '';
    const code = await runExecutorCli(['install', 'service', `--root=${root}`], {}, { stdout: (t) => (out += t), stderr: (t) => (out += t) });
    expect(out).toContain('service: ');
    expect(code).toBe(0);
    await fs.stat(path.join(root, UNIT_PATH));
  });

  describe('the power-off command of --power-off-on-exit', () => {
    /** Runs the unit's ExecStopPost as systemd would, with a `systemctl` that answers `jobs` and logs its calls. */
    async function stopPost(env: Record<string, string>, jobs: string): Promise<string[]> {
      await install(['--root', root, '--power-off-on-exit'], {});
      const unit = await fs.readFile(path.join(root, UNIT_PATH), 'utf8');
      const line = /^ExecStopPost=\/bin\/sh -c '(.*)'$/m.exec(unit)?.[1];
      expect(line).toBeDefined();
      // systemd turns $$ into $ before running the command line.
      const script = line!.replaceAll('$$', '$');
      const bin = path.join(root, 'bin');
      await fs.mkdir(bin, { recursive: true });
      const calls = path.join(root, 'systemctl-calls');
      await fs.rm(calls, { force: true });
      await fs.writeFile(
        path.join(bin, 'systemctl'),
        `#!/bin/sh\necho "$*" >> ${calls}\nif [ "$1" = list-jobs ]; then printf '%s' '${jobs}'; fi\n`,
        { mode: 0o755 },
      );
      await run('/bin/sh', ['-c', script], { env: { PATH: `${bin}:/usr/bin:/bin`, ...env } });
      return (await fs.readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    }

    it('powers the machine off after the executor exited 0 by itself (no job queued for the unit)', async () => {
      const calls = await stopPost({ EXIT_CODE: 'exited', EXIT_STATUS: '0', SERVICE_RESULT: 'success' }, '');
      expect(calls).toEqual(['list-jobs --no-legend --no-pager', 'poweroff']);
    });

    it('keeps the machine up when someone stopped or restarted the service (a job is queued for it)', async () => {
      const calls = await stopPost({ EXIT_CODE: 'exited', EXIT_STATUS: '0', SERVICE_RESULT: 'success' }, '123 executor.service stop running\n');
      expect(calls).toEqual(['list-jobs --no-legend --no-pager']);
    });

    it('keeps the machine up after a failure, so Restart=on-failure starts the executor again', async () => {
      expect(await stopPost({ EXIT_CODE: 'exited', EXIT_STATUS: '2', SERVICE_RESULT: 'exit-code' }, '')).toEqual([]);
      expect(await stopPost({ EXIT_CODE: 'killed', EXIT_STATUS: 'KILL', SERVICE_RESULT: 'signal' }, '')).toEqual([]);
    });
  });

  it('quotes values so that systemd and a shell read them back unchanged, and refuses line breaks', () => {
    expect(quoteEnvValue('plain')).toBe('"plain"');
    expect(quoteEnvValue('a"b$c\\d`e')).toBe('"a\\"b\\$c\\\\d\\`e"');
    expect(() => quoteEnvValue('two\nlines')).toThrow('line break');
  });
});
