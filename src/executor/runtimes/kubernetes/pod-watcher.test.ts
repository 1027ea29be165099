// The pod watcher against a scripted API (the end-to-end tests run it against the test API server): it
// resumes a closed watch from the last resourceVersion, lists again after 410, and gives up on 403.
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../shared/logger.js';
import { KubernetesApiError, type PodWatchEvent } from './kubernetes-api.js';
import { PodWatcher } from './pod-watcher.js';

const pod = (rv: number, phase = 'Pending'): V1Pod => ({ metadata: { name: 'p-1', resourceVersion: String(rv) }, status: { phase } });

/** An API whose list answers `lists` in turn and whose watches the test drives. */
function scriptedApi(lists: Array<{ pods: V1Pod[]; resourceVersion: string }>) {
  const watches: Array<{ from: string; emit: (e: PodWatchEvent) => void; close: (err?: KubernetesApiError) => void }> = [];
  let listCalls = 0;
  const api = {
    listPods: () => Promise.resolve(lists[Math.min(listCalls++, lists.length - 1)]!),
    watchPods: (_selector: string, from: string, onEvent: (e: PodWatchEvent) => void, onClose: (err: KubernetesApiError | undefined) => void) => {
      watches.push({ from, emit: onEvent, close: (err) => onClose(err) });
      return Promise.resolve({ stop() {} });
    },
  };
  return { api, watches, listCalls: () => listCalls };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('PodWatcher', () => {
  it('resumes a closed watch from the last resourceVersion it saw', async () => {
    const { api, watches } = scriptedApi([{ pods: [], resourceVersion: '10' }]);
    const watcher = new PodWatcher({ api, labelSelector: 'job-name=x', logger: silentLogger, retryMs: 1 });
    await watcher.start();
    expect(watches[0]!.from).toBe('10');
    watches[0]!.emit({ type: 'ADDED', pod: pod(11) });
    watches[0]!.emit({ type: 'MODIFIED', pod: pod(14, 'Running') });
    watches[0]!.close();
    await until(() => watches.length === 2);
    expect(watches[1]!.from).toBe('14');
    watches[1]!.emit({ type: 'BOOKMARK', resourceVersion: '20' });
    watches[1]!.close(new KubernetesApiError('watch pods', undefined, undefined, 'ECONNRESET'));
    await until(() => watches.length === 3);
    expect(watches[2]!.from).toBe('20');
    expect(watcher.state().pod?.status?.phase).toBe('Running');
    watcher.stop();
  });

  it('lists again after 410 Expired and watches from the new list', async () => {
    const { api, watches, listCalls } = scriptedApi([{ pods: [pod(5)], resourceVersion: '10' }, { pods: [pod(30, 'Running')], resourceVersion: '31' }]);
    const watcher = new PodWatcher({ api, labelSelector: 'job-name=x', logger: silentLogger, retryMs: 1 });
    await watcher.start();
    watches[0]!.emit({ type: 'ERROR', status: 410, reason: 'Expired', message: 'too old resource version: 10 (40)' });
    await until(() => watches.length === 2);
    expect(listCalls()).toBe(2);
    expect(watches[1]!.from).toBe('31');
    expect(watcher.state().pod?.status?.phase).toBe('Running');
    watcher.stop();
  });

  it('marks a pod deleted from its DELETED event, or when a new list no longer has it', async () => {
    const { api, watches } = scriptedApi([{ pods: [pod(5)], resourceVersion: '10' }, { pods: [], resourceVersion: '50' }]);
    const watcher = new PodWatcher({ api, labelSelector: 'job-name=x', logger: silentLogger, retryMs: 1 });
    await watcher.start();
    const seen = watcher.waitFor((s) => (s.deleted ? s.pod?.metadata?.name : undefined), new AbortController().signal);
    watches[0]!.emit({ type: 'ERROR', status: 410, reason: 'Expired', message: 'gone' });
    expect(await seen).toBe('p-1');
    watcher.stop();
  });

  it('rejects its waiters when the API refuses the watch (403): trying again cannot help', async () => {
    const { api, watches } = scriptedApi([{ pods: [], resourceVersion: '10' }]);
    const watcher = new PodWatcher({ api, labelSelector: 'job-name=x', logger: silentLogger, retryMs: 1 });
    await watcher.start();
    const waiting = watcher.waitFor(() => undefined, new AbortController().signal);
    watches[0]!.close(new KubernetesApiError('watch pods', 403, 'Forbidden', 'pods is forbidden'));
    await expect(waiting).rejects.toThrow(/forbidden/);
    watcher.stop();
  });

  it('rejects a waiter with the signal\'s reason on abort', async () => {
    const { api } = scriptedApi([{ pods: [], resourceVersion: '10' }]);
    const watcher = new PodWatcher({ api, labelSelector: 'job-name=x', logger: silentLogger, retryMs: 1 });
    await watcher.start();
    const controller = new AbortController();
    const waiting = watcher.waitFor(() => undefined, controller.signal);
    controller.abort('canceled');
    await expect(waiting).rejects.toBe('canceled');
    watcher.stop();
  });
});
