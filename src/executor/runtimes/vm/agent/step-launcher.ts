// The shell script the VM's agent runs for one step (busybox sh, as root in the guest's initramfs): it
// gives the step a root of its own — an overlay with the step image's read-only root filesystem below and
// a fresh writable layer on the scratch disk above, as a container gets — with the workspace at /data
// (where the docker runtime and the original put it) and at /work, a small /dev, /proc of its own PID
// namespace, and the environment docker would give it; then runs the step's script there. The PID
// namespace ends every process of the step when its script ends, as a container's do.
import path from 'node:path';
import { AppError } from '../../../../shared/errors.js';
import { CONTAINER_WORKSPACE, containerWorkingDir } from '../../docker/docker-run-command.js';
import type { StepSpec } from '../../runtime.js';
import { GUEST_IMAGES_DIR, GUEST_SCRATCH_DIR, GUEST_WORK_DIR, STEP_DEV_TEMPLATE_DIR } from './agent-script.js';

/** Docker's PATH for a container whose image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A shell word holding `value` literally. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * A step's environment as docker builds a container's: PATH (the default when the image sets none), the
 * image's ENV, HOSTNAME, HOME=/root unless set, then the step's `env` (`-e`), a later name replacing an
 * earlier one. Throws `runtime.invalid_step` for an entry without `NAME=` or with a NUL byte.
 */
export function stepEnvironment(imageEnv: readonly string[], stepEnv: readonly string[], hostname: string): string[] {
  const merged = new Map<string, string>();
  const add = (pair: string, from: string) => {
    const eq = pair.indexOf('=');
    if (eq <= 0 || pair.includes('\0')) {
      throw new AppError('runtime.invalid_step', `${from}: ${JSON.stringify(pair.slice(0, 40))} is not NAME=value`);
    }
    merged.set(pair.slice(0, eq), pair.slice(eq + 1));
  };
  merged.set('PATH', DEFAULT_PATH);
  for (const pair of imageEnv) add(pair, "the image's ENV");
  merged.set('HOSTNAME', hostname);
  if (!merged.has('HOME')) merged.set('HOME', '/root');
  for (const pair of stepEnv) add(pair, "the step's env");
  return [...merged].map(([name, value]) => `${name}=${value}`);
}

export interface StepLauncherOptions {
  step: StepSpec;
  /** Which attached image disk holds the step's image (`/images/<index>` in the guest). */
  imageIndex: number;
  /** From {@link stepEnvironment}. */
  env: readonly string[];
  /** The step's hostname (its UTS namespace's). */
  hostname: string;
}

/**
 * The step's working directory and script inside its root, as the docker runtime has them. Like
 * `docker run -w`, the working directory is created when the workspace does not have it.
 */
export function stepPaths(step: Pick<StepSpec, 'dir' | 'scriptPath'>): { workingDir: string; script: string } {
  const workingDir = containerWorkingDir(step.dir);
  if (workingDir === undefined) throw new AppError('workspace.path_outside', `step dir: ${JSON.stringify(step.dir)} leaves the workspace`);
  return { workingDir, script: path.posix.join(CONTAINER_WORKSPACE, step.scriptPath) };
}

/** The launcher script. */
export function stepLauncherScript(options: StepLauncherOptions): string {
  const { step, imageIndex, env, hostname } = options;
  const { workingDir, script } = stepPaths(step);
  const layer = `${GUEST_SCRATCH_DIR}/steps/${step.index}`;
  const lower = `${GUEST_IMAGES_DIR}/${imageIndex}`;
  const root = `${layer}/root`;
  // Runs in the step's new mount, PID, UTS and IPC namespaces: every mount here goes away with the step.
  // Builtins where a command would do (each process costs ~10 ms under emulation).
  const inner = [
    'set -e',
    `echo ${shellQuote(hostname)} >/proc/sys/kernel/hostname`,
    `mount -t overlay overlay -o lowerdir=${lower},upperdir=${layer}/upper,workdir=${layer}/work ${root}`,
    `mkdir -p ${root}${CONTAINER_WORKSPACE} ${root}${GUEST_WORK_DIR} ${root}/proc ${root}/dev ${root}/sys ${root}/tmp`,
    `mount --bind ${GUEST_WORK_DIR} ${root}${CONTAINER_WORKSPACE}`,
    `mount --bind ${GUEST_WORK_DIR} ${root}${GUEST_WORK_DIR}`,
    `mount -t proc proc ${root}/proc`,
    `mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${root}/sys`,
    // A /dev like a container's: not the guest's, which holds the disks.
    `mount -t tmpfs -o nosuid,mode=755,size=65536k tmpfs ${root}/dev`,
    `cp -a ${STEP_DEV_TEMPLATE_DIR}/. ${root}/dev/`,
    `mount -t tmpfs -o nosuid,nodev,mode=1777 shm ${root}/dev/shm`,
    // The agent is exempt from the OOM killer; the step is not.
    'echo 0 >/proc/self/oom_score_adj',
    'set +e',
    `exec env -i ${env.map(shellQuote).join(' ')} chroot ${root} /bin/sh -c '{ cd "$1" 2>/dev/null || { mkdir -p "$1" && cd "$1"; }; } && exec /bin/sh "$2"' sh ${shellQuote(workingDir)} ${shellQuote(script)}`,
  ].join('\n');
  return [
    `if ! [ -d ${lower}/bin ] && ! [ -L ${lower}/bin ]; then echo "executor: the step's image has no /bin" >&2; exit 126; fi`,
    `mkdir -p ${layer}/upper ${layer}/work ${root} || exit 125`,
    `exec unshare --mount --pid --uts --ipc --fork --propagation private sh -c ${shellQuote(inner)}`,
    '',
  ].join('\n');
}
