// The `docker run` of one step (reference §4.7), argument for argument as the original builds it, plus
// a container name and labels so a canceled step's container can be found and killed.
import path from 'node:path';
import type { StepSpec } from '../runtime.js';

/** Where the workspace is mounted in every step container. */
export const CONTAINER_WORKSPACE = '/data';

export interface DockerRunOptions {
  /** `docker --config <dir>` with the job's registry credentials; none → the executor user's docker config. */
  dockerConfigDir?: string;
  /** `--add-host=host.docker.internal:host-gateway` (EXECUTOR_DOCKER_ADD_HOST_GATEWAY). */
  addHostGateway: boolean;
  /** `--cpus`; 0 leaves it out (EXECUTOR_JOB_NUM_CPUS). */
  numCpus: number;
  /**
   * `--memory`, as the operator wrote it (EXECUTOR_JOB_MEMORY): docker reads `12G` as 12 GiB, and the
   * text passes through so docker's reading, not ours, applies. `''` or `'0'` leaves it out.
   */
  memory: string;
  /** `--mount <spec>` each (EXECUTOR_DOCKER_ADDITIONAL_MOUNTS, validated by the config). */
  additionalMounts: readonly string[];
  /** The workspace as the docker daemon's host sees it (hostWorkspacePath). */
  hostWorkspaceDir: string;
  /** `--name`: unique per job and step (the runtime removes it by this name on cancel). */
  containerName: string;
  /** `--label k=v` each (container-labels.ts). */
  labels: Readonly<Record<string, string>>;
}

/**
 * The workspace directory as the docker daemon sees it: the executor's own path, or with
 * EXECUTOR_DOCKER_HOST_MOUNT_PATH (the executor itself in a container, its TMPDIR a host directory
 * mounted there) `<hostMountPath>/<basename of the workspace>`.
 */
export function hostWorkspacePath(workspaceDir: string, hostMountPath: string | undefined): string {
  return hostMountPath ? path.posix.join(hostMountPath, path.basename(workspaceDir)) : workspaceDir;
}

/**
 * `-w`: `/data/<dir>`, or undefined when `dir` leaves the workspace (`../..`): the container's own
 * files are not the workspace, and a step asking for them gets a clear error instead.
 */
export function containerWorkingDir(dir: string): string | undefined {
  // As Go's filepath.Join: cleaned, no trailing slash.
  const resolved = path.posix.join(CONTAINER_WORKSPACE, dir).replace(/(.)\/+$/, '$1');
  return resolved === CONTAINER_WORKSPACE || resolved.startsWith(`${CONTAINER_WORKSPACE}/`) ? resolved : undefined;
}

/** The whole argv, `docker` first. */
export function dockerRunArgv(step: StepSpec, options: DockerRunOptions): string[] {
  const argv = ['docker'];
  if (options.dockerConfigDir) argv.push('--config', options.dockerConfigDir);
  argv.push('run', '--rm', '--name', options.containerName);
  for (const [key, value] of Object.entries(options.labels)) argv.push('--label', `${key}=${value}`);
  if (options.addHostGateway) argv.push('--add-host=host.docker.internal:host-gateway');
  if (options.numCpus !== 0) argv.push('--cpus', String(options.numCpus));
  if (options.memory !== '' && options.memory !== '0') argv.push('--memory', options.memory);
  for (const spec of options.additionalMounts) argv.push('--mount', spec);
  argv.push('-v', `${options.hostWorkspaceDir}:${CONTAINER_WORKSPACE}`);
  // An escaping dir gets the workspace here; runStep refuses the step before this argv runs.
  argv.push('-w', containerWorkingDir(step.dir) ?? CONTAINER_WORKSPACE);
  for (const pair of step.env) argv.push('-e', pair);
  argv.push('--entrypoint', '/bin/sh', step.image, path.posix.join(CONTAINER_WORKSPACE, step.scriptPath));
  return argv;
}
