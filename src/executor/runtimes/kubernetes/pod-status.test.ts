// Reading the kubelet's statuses: a container's phase, and the reasons Kubernetes gives when a pod cannot
// run it, in its own words.
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerBlocked, containerPhase, jobFailure, unschedulable } from './pod-status.js';
import { timestampAfter } from './kubernetes-runtime.js';

const pod = (status: V1Pod['status']): V1Pod => ({ metadata: { name: 'p' }, status });

describe('pod status', () => {
  it('finds an init container\'s phase, waiting until the kubelet reports it', () => {
    expect(containerPhase(pod({}), 'step-0')).toEqual({ state: 'waiting', reason: undefined, message: undefined });
    const running = pod({ initContainerStatuses: [{ name: 'step-0', image: 'x', imageID: '', ready: false, restartCount: 0, state: { running: { startedAt: new Date() } } }] });
    expect(containerPhase(running, 'step-0')).toEqual({ state: 'running' });
    const done = pod({ initContainerStatuses: [{ name: 'step-0', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 3, reason: 'Error' } } }] });
    expect(containerPhase(done, 'step-0')).toMatchObject({ state: 'terminated', exitCode: 3 });
  });

  it('says ErrImagePull with the image, and the kubelet\'s message', () => {
    const waiting = (reason: string, message: string) => pod({ initContainerStatuses: [{ name: 'step-0', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message } } }] });
    expect(containerBlocked(waiting('ErrImagePull', 'pull access denied'), 'step-0', 'acme/x:1')).toBe('ErrImagePull: image "acme/x:1" cannot be pulled: pull access denied');
    expect(containerBlocked(waiting('ImagePullBackOff', 'Back-off pulling image'), 'step-0', 'acme/x:1')).toMatch(/^ImagePullBackOff: image "acme\/x:1"/);
    expect(containerBlocked(waiting('CreateContainerConfigError', 'secret "s" not found'), 'step-0', 'x')).toBe('CreateContainerConfigError: container step-0: secret "s" not found');
    expect(containerBlocked(waiting('PodInitializing', ''), 'step-0', 'x')).toBeUndefined();
    expect(containerBlocked(pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' }), 'step-0', 'x')).toBe('Evicted: The node was low on resource: memory.');
  });

  it('reads the scheduler\'s refusal and the Job\'s failure condition', () => {
    const refused = pod({ conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }] });
    expect(unschedulable(refused)).toEqual({ message: '0/3 nodes are available: 3 Insufficient memory.' });
    expect(unschedulable(pod({ conditions: [{ type: 'PodScheduled', status: 'True' }] }))).toBeUndefined();
    expect(jobFailure({ status: { conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }] } })).toBe('DeadlineExceeded: Job was active longer than specified deadline');
    expect(jobFailure({ status: { conditions: [{ type: 'Complete', status: 'True' }] } })).toBeUndefined();
  });

  it('orders the kubelet\'s log timestamps, whose fractions drop trailing zeros', () => {
    expect(timestampAfter('2026-01-01T00:00:00.12345678Z', '2026-01-01T00:00:00.1234567Z')).toBe(true);
    expect(timestampAfter('2026-01-01T00:00:00.1234567Z', '2026-01-01T00:00:00.12345678Z')).toBe(false);
    expect(timestampAfter('2026-01-01T00:00:01Z', '2026-01-01T00:00:00.999999999Z')).toBe(true);
    expect(timestampAfter('2026-01-01T00:00:00.5Z', '2026-01-01T00:00:00.500Z')).toBe(false);
  });
});
