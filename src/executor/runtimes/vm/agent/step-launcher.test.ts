import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH, shellQuote, stepEnvironment, stepLauncherScript, stepPaths } from './step-launcher.js';

describe('stepEnvironment', () => {
  it('builds the environment as docker does: default PATH, image ENV, HOSTNAME, HOME, then the step env', () => {
    expect(stepEnvironment([], [], 'vm-1')).toEqual([`PATH=${DEFAULT_PATH}`, 'HOSTNAME=vm-1', 'HOME=/root']);
    expect(stepEnvironment(['PATH=/opt/bin:/bin', 'LANG=C.UTF-8', 'HOME=/home/app'], ['LANG=en', 'TOKEN=a=b'], 'vm-1')).toEqual([
      'PATH=/opt/bin:/bin',
      'LANG=en',
      'HOME=/home/app',
      'HOSTNAME=vm-1',
      'TOKEN=a=b',
    ]);
  });

  it('refuses an entry that is not NAME=value, or holds a NUL byte', () => {
    expect(() => stepEnvironment([], ['JUSTNAME'], 'h')).toThrow(expect.objectContaining({ code: 'runtime.invalid_step' }));
    expect(() => stepEnvironment([], ['=value'], 'h')).toThrow(/not NAME=value/);
    expect(() => stepEnvironment(['A=x\u0000y'], [], 'h')).toThrow(/the image's ENV/);
  });
});

describe('step launcher', () => {
  it('quotes any value so that sh reads it back unchanged', () => {
    for (const value of ["it's", '$(id) `id` $HOME', 'line\nbreak', '"double" \\back', '']) {
      expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(value)}`]).toString()).toBe(value);
    }
  });

  it('runs the script at /data/<dir> like docker, and refuses a dir that leaves the workspace', () => {
    expect(stepPaths({ dir: 'sub/dir', scriptPath: '.sourcegraph-executor/1.sh' })).toEqual({ workingDir: '/data/sub/dir', script: '/data/.sourcegraph-executor/1.sh' });
    expect(() => stepPaths({ dir: '../../etc', scriptPath: 'x.sh' })).toThrow(expect.objectContaining({ code: 'workspace.path_outside' }));
  });

  it('writes a script sh can parse, with the secret values only inside quotes', () => {
    const script = stepLauncherScript({
      step: { key: 'step.docker.0', index: 0, image: 'busybox', scriptPath: '.sourcegraph-executor/0.sh', dir: '', env: [] },
      imageIndex: 2,
      env: ["TOKEN=a'b $(reboot)"],
      hostname: 'vm-1',
    });
    execFileSync('sh', ['-n', '-c', script]);
    expect(script).toContain('lowerdir=/images/2');
    expect(script).toContain('unshare --mount --pid --uts --ipc --fork');
  });
});
