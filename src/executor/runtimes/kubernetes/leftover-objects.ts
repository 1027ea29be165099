// Job objects an executor process left in the namespace (it was killed before its teardown, reference
// §4.13), removed at start and every EXECUTOR_CLEANUP_TASK_INTERVAL: the Jobs, Secrets and claims labelled
// with this host whose owner process is gone, and this process's own whose jobs it no longer runs.
// Objects of another executor pod are left alone: their owner references to that pod let Kubernetes
// delete them with it.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { Logger } from '../../../shared/logger.js';
import { processOwnerIsAlive, type ProcessOwner } from '../../process-owner.js';
import { hostSelector, KUBERNETES_LABEL } from './job-objects.js';
import type { KubernetesApi } from './kubernetes-api.js';

export interface RemoveLeftoverObjectsOptions {
  api: Pick<KubernetesApi, 'list' | 'delete'>;
  hostname: string;
  /** This process. */
  owner: ProcessOwner;
  /** The executor's own pod, when known: only objects made in it are judged. */
  ownerPodUid: string | undefined;
  /** The Jobs this process runs now. */
  active: ReadonlySet<string>;
  logger: Logger;
}

type Resource = 'batch/jobs' | 'secrets' | 'persistentvolumeclaims';

/** Deletes the leftovers; resolves with how many objects it deleted. Never throws: failures are logged. */
export async function removeLeftoverObjects(options: RemoveLeftoverObjectsOptions): Promise<number> {
  const { api, logger } = options;
  const selector = hostSelector(options.hostname);
  let removed = 0;
  // Jobs first: their deletion takes their pods, then the Secret and claim follow (also through GC).
  for (const resource of ['batch/jobs', 'secrets', 'persistentvolumeclaims'] as const satisfies readonly Resource[]) {
    let items: Array<{ metadata?: V1ObjectMeta }>;
    try {
      items = await listOf(api, resource, selector);
    } catch (err) {
      logger.warn('kubernetes runtime: cannot list leftover job objects', { resource, error: err instanceof Error ? err.message : err });
      continue;
    }
    for (const item of items) {
      const meta = item.metadata;
      if (!meta?.name || meta.deletionTimestamp) continue;
      const why = leftoverReason(meta.labels ?? {}, options);
      if (!why) continue;
      try {
        if (await api.delete(resource, meta.name)) {
          removed++;
          logger.info('kubernetes runtime: deleted a leftover job object', { resource, name: meta.name, jobId: meta.labels?.[KUBERNETES_LABEL.jobId], why });
        }
      } catch (err) {
        logger.warn('kubernetes runtime: cannot delete a leftover job object', { resource, name: meta.name, error: err instanceof Error ? err.message : err });
      }
    }
  }
  return removed;
}

/** Why an object with `labels` is a leftover, or undefined when it is not ours to delete. */
export function leftoverReason(labels: Record<string, string>, options: Pick<RemoveLeftoverObjectsOptions, 'owner' | 'ownerPodUid' | 'active'>): string | undefined {
  const owner = { pid: Number(labels[KUBERNETES_LABEL.ownerPid]), startedAt: Number(labels[KUBERNETES_LABEL.ownerStartedAt]) };
  // Labels someone altered are not ours to judge.
  if (!Number.isSafeInteger(owner.pid) || owner.pid <= 0 || !Number.isFinite(owner.startedAt)) return undefined;
  const podUid = labels[KUBERNETES_LABEL.podUid];
  // Made in another pod (which may share our hostname, with hostNetwork): that pod's business.
  if ((podUid ?? '') !== (options.ownerPodUid ?? '')) return undefined;
  const mine = owner.pid === options.owner.pid && owner.startedAt === options.owner.startedAt;
  if (mine) {
    const jobObject = labels[KUBERNETES_LABEL.jobObject];
    return jobObject !== undefined && !options.active.has(jobObject) ? 'its job is no longer running here' : undefined;
  }
  return processOwnerIsAlive(owner) ? undefined : `its executor process (pid ${owner.pid}) is gone`;
}

function listOf(api: RemoveLeftoverObjectsOptions['api'], resource: Resource, selector: string): Promise<Array<{ metadata?: V1ObjectMeta }>> {
  if (resource === 'batch/jobs') return api.list('batch/jobs', selector);
  if (resource === 'secrets') return api.list('secrets', selector);
  return api.list('persistentvolumeclaims', selector);
}
