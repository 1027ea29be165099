// Reading a job pod's status: where one container is (waiting, running, terminated), and why the pod cannot
// get to run it — in the words Kubernetes uses (`Unschedulable`, `ErrImagePull`, `DeadlineExceeded`), so
// a job's failure message says what an operator would see in `kubectl describe`.
import type { V1ContainerStatus, V1Job, V1Pod } from '@kubernetes/client-node';

/** One container as the kubelet last reported it. */
export type ContainerPhase =
  | { state: 'waiting'; reason: string | undefined; message: string | undefined }
  | { state: 'running' }
  | { state: 'terminated'; exitCode: number; reason: string | undefined; message: string | undefined };

/** Waiting reasons after which the kubelet will not start the container on its own soon (or ever). */
const IMAGE_PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'ErrImageInspect', 'RegistryUnavailable']);
const CONTAINER_CONFIG_FAILURES = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/** The status of container `name` (init or regular), if the kubelet reported one. */
export function containerStatus(pod: V1Pod | undefined, name: string): V1ContainerStatus | undefined {
  return [...(pod?.status?.initContainerStatuses ?? []), ...(pod?.status?.containerStatuses ?? [])].find((s) => s.name === name);
}

/** Where container `name` is; `waiting` with no reason when the kubelet has not reported it yet. */
export function containerPhase(pod: V1Pod | undefined, name: string): ContainerPhase {
  const state = containerStatus(pod, name)?.state;
  if (state?.terminated) return { state: 'terminated', exitCode: state.terminated.exitCode, reason: state.terminated.reason, message: state.terminated.message };
  if (state?.running) return { state: 'running' };
  return { state: 'waiting', reason: state?.waiting?.reason, message: state?.waiting?.message };
}

/** The scheduler's refusal (`PodScheduled=False`, reason `Unschedulable`), with its message; undefined once scheduled. */
export function unschedulable(pod: V1Pod | undefined): { message: string } | undefined {
  const condition = pod?.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (!condition || condition.status !== 'False' || condition.reason !== 'Unschedulable') return undefined;
  return { message: condition.message ?? 'no node can run the pod' };
}

/**
 * Why container `name` (whose image is `image`) will not run, or undefined while it still may: its image
 * cannot be pulled, its configuration is refused, or the pod itself failed without running it.
 */
export function containerBlocked(pod: V1Pod | undefined, name: string, image: string): string | undefined {
  const phase = containerPhase(pod, name);
  if (phase.state === 'waiting' && phase.reason !== undefined) {
    if (IMAGE_PULL_FAILURES.has(phase.reason)) return `${phase.reason}: image ${JSON.stringify(image)} cannot be pulled${phase.message ? `: ${phase.message}` : ''}`;
    if (CONTAINER_CONFIG_FAILURES.has(phase.reason)) return `${phase.reason}: container ${name}${phase.message ? `: ${phase.message}` : ''}`;
  }
  if (pod?.status?.phase === 'Failed' && phase.state !== 'terminated') {
    const reason = pod.status.reason;
    return reason ? `${reason}: ${pod.status.message ?? 'the job pod failed'}` : `the job pod failed before ${name} ran`;
  }
  return undefined;
}

/** Why the Job failed (`DeadlineExceeded: Job was active longer than specified deadline`), if it did. */
export function jobFailure(job: V1Job | undefined): string | undefined {
  const failed = job?.status?.conditions?.find((c) => (c.type === 'Failed' || c.type === 'FailureTarget') && c.status === 'True');
  if (!failed) return undefined;
  return `${failed.reason ?? 'Failed'}: ${failed.message ?? 'the Job failed'}`;
}
