// The argv of a docker step against reference §4.7, flag for flag and in order.
import { describe, expect, it } from 'vitest';
import type { StepSpec } from '../runtime.js';
import { containerWorkingDir, dockerRunArgv, hostWorkspacePath, type DockerRunOptions } from './docker-run-command.js';

const step: StepSpec = { key: 'step.docker.0', index: 0, image: 'alpine:3@sha256:abc', scriptPath: '.sourcegraph-executor/1.0_r@c.sh', dir: 'sub', env: ['A=1', 'B=two words'] };
const bare: DockerRunOptions = {
  addHostGateway: false,
  numCpus: 0,
  memory: '0',
  additionalMounts: [],
  hostWorkspaceDir: '/tmp/workspace-1-abc',
  containerName: 'executor-job-1-0-x',
  labels: {},
};

describe('dockerRunArgv', () => {
  it('builds the §4.7 argv with every option, in the original order', () => {
    const argv = dockerRunArgv(step, {
      ...bare,
      dockerConfigDir: '/tmp/executor-docker-1-x',
      addHostGateway: true,
      numCpus: 4,
      memory: '12G',
      additionalMounts: ['type=bind,source=/a,target=/b', 'type=volume,source=v,target=/c'],
      labels: { 'executors.job-id': '1' },
    });
    expect(argv).toEqual([
      'docker', '--config', '/tmp/executor-docker-1-x',
      'run', '--rm', '--name', 'executor-job-1-0-x', '--label', 'executors.job-id=1',
      '--add-host=host.docker.internal:host-gateway',
      '--cpus', '4',
      '--memory', '12G',
      '--mount', 'type=bind,source=/a,target=/b', '--mount', 'type=volume,source=v,target=/c',
      '-v', '/tmp/workspace-1-abc:/data',
      '-w', '/data/sub',
      '-e', 'A=1', '-e', 'B=two words',
      '--entrypoint', '/bin/sh', 'alpine:3@sha256:abc', '/data/.sourcegraph-executor/1.0_r@c.sh',
    ]);
  });

  it('leaves out --config, --add-host, --cpus 0 and --memory 0 or empty', () => {
    for (const memory of ['0', '']) {
      const argv = dockerRunArgv({ ...step, dir: '', env: [] }, { ...bare, memory });
      expect(argv).toEqual(['docker', 'run', '--rm', '--name', 'executor-job-1-0-x', '-v', '/tmp/workspace-1-abc:/data', '-w', '/data', '--entrypoint', '/bin/sh', 'alpine:3@sha256:abc', '/data/.sourcegraph-executor/1.0_r@c.sh']);
    }
  });
});

describe('hostWorkspacePath', () => {
  it('is the workspace itself, or <EXECUTOR_DOCKER_HOST_MOUNT_PATH>/<basename> for Docker-in-Docker', () => {
    expect(hostWorkspacePath('/tmp/workspace-1-abc', undefined)).toBe('/tmp/workspace-1-abc');
    expect(hostWorkspacePath('/tmp/workspace-1-abc', '/var/lib/executor')).toBe('/var/lib/executor/workspace-1-abc');
  });
});

describe('containerWorkingDir', () => {
  it('joins dir under /data and refuses one that leaves it', () => {
    expect(containerWorkingDir('')).toBe('/data');
    expect(containerWorkingDir('a/../b/')).toBe('/data/b');
    expect(containerWorkingDir('../etc')).toBeUndefined();
    expect(containerWorkingDir('/etc')).toBe('/data/etc');
    expect(containerWorkingDir('a/../../data2')).toBeUndefined();
  });
});
