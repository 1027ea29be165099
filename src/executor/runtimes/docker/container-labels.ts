// The labels every step container carries: which executor process on which host runs it, for which job.
// They let the runtime find a job's containers after a cancel, and a new executor process remove the
// containers of one on this host that died (leftover-containers.ts) without touching a live one's.
import type { ProcessOwner } from '../../process-owner.js';

/** Label keys, under one prefix so `docker ps --filter label=…` and people can tell ours at a glance. */
export const CONTAINER_LABEL = {
  /** `os.hostname()` of the executor: leftovers are judged only on the host that made them. */
  host: 'executors.host',
  /** The executor's name (`<hostname>-<uuid>`), as the coordinator lists it. */
  executor: 'executors.executor-name',
  /** The executor process's pid and start time (ms since the epoch): is the owner still alive? */
  ownerPid: 'executors.owner-pid',
  ownerStartedAt: 'executors.owner-started-at',
  /** The job's id and queue. */
  jobId: 'executors.job-id',
  queue: 'executors.queue',
} as const;

/** The labels of a step container of `job`, run by `owner` on `hostname`. */
export function containerLabels(owner: ProcessOwner, hostname: string, job: { id: number; queue: string }): Record<string, string> {
  return {
    [CONTAINER_LABEL.host]: hostname,
    [CONTAINER_LABEL.executor]: owner.executorName,
    [CONTAINER_LABEL.ownerPid]: String(owner.pid),
    [CONTAINER_LABEL.ownerStartedAt]: String(owner.startedAt),
    [CONTAINER_LABEL.jobId]: String(job.id),
    [CONTAINER_LABEL.queue]: job.queue,
  };
}
