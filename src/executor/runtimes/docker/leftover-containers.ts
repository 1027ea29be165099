// Step containers an earlier executor process on this host left running (it was killed before it could
// stop them, reference §4.13): on start, those labelled with this host whose owner process is gone are
// removed. Containers of a live executor on the same daemon, and unlabelled ones, are left alone.
import type { Logger } from '../../../shared/logger.js';
import { processOwnerIsAlive } from '../../process-owner.js';
import { CONTAINER_LABEL } from './container-labels.js';
import { runDockerCli, type DockerCliEnv } from './docker-cli.js';

/**
 * Removes (`docker rm -f`) every container labelled `executors.host=<hostname>` whose owner process is
 * not alive, and resolves with how many it removed. Never throws: a daemon that cannot be asked is logged.
 */
export async function removeLeftoverContainers(hostname: string, env: DockerCliEnv, logger: Logger): Promise<number> {
  const format = `{{.ID}}\t{{.Label "${CONTAINER_LABEL.ownerPid}"}}\t{{.Label "${CONTAINER_LABEL.ownerStartedAt}"}}\t{{.Label "${CONTAINER_LABEL.executor}"}}\t{{.Label "${CONTAINER_LABEL.jobId}"}}`;
  try {
    const listed = await runDockerCli(['ps', '--all', '--no-trunc', '--filter', `label=${CONTAINER_LABEL.host}=${hostname}`, '--format', format], env);
    if (listed.exitCode !== 0) {
      logger.warn('cannot list leftover step containers', { stderr: listed.stderr.trim() });
      return 0;
    }
    const leftovers: string[] = [];
    for (const line of listed.stdout.split('\n')) {
      const [id, pid, startedAt, executorName, jobId] = line.split('\t');
      if (!id) continue;
      const owner = { pid: Number(pid), startedAt: Number(startedAt) };
      // A container whose owner labels were altered is not ours to judge.
      if (!Number.isSafeInteger(owner.pid) || owner.pid <= 0 || !Number.isFinite(owner.startedAt)) continue;
      if (processOwnerIsAlive(owner)) continue;
      leftovers.push(id);
      logger.info('removing a leftover step container', { container: id.slice(0, 12), ownerPid: owner.pid, ownerExecutor: executorName, jobId });
    }
    if (leftovers.length === 0) return 0;
    const removed = await runDockerCli(['rm', '--force', ...leftovers], env);
    if (removed.exitCode !== 0) logger.warn('cannot remove some leftover step containers', { stderr: removed.stderr.trim() });
    return removed.stdout.split('\n').filter(Boolean).length;
  } catch (err) {
    logger.warn('cannot remove leftover step containers', { error: err });
    return 0;
  }
}
