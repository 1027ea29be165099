// Turns a stored job into the wire Job of the payload version the executor understands (reference §3.2).
import type { Job, JobPayloadVersion, VirtualMachineFile } from '../../protocol/job.js';
import type { JobRow } from '../store/job-store.js';

/**
 * v2: file contents base64-encoded and `dockerAuthConfig` included. v1: contents as raw strings and
 * no `dockerAuthConfig`. `queue` is set only for multi-queue dequeues (reference §3.1).
 */
export function toWireJob(row: JobRow, token: string, version: JobPayloadVersion, options: { includeQueue: boolean }): Job {
  const spec = row.spec;
  const files: Record<string, VirtualMachineFile> = {};
  for (const [path, file] of Object.entries(spec.files ?? {})) {
    const out: VirtualMachineFile = { ...file };
    if (file.content !== undefined && version === 2) out.content = Buffer.from(file.content, 'utf8').toString('base64');
    files[path] = out;
  }
  const job: Job = {
    ...(version === 2 ? { version: 2 as const } : {}),
    id: row.id,
    ...(options.includeQueue ? { queue: row.queue } : {}),
    token,
    repositoryName: spec.repositoryName ?? '',
    repositoryDirectory: spec.repositoryDirectory ?? '',
    commit: spec.commit ?? '',
    fetchTags: spec.fetchTags ?? false,
    shallowClone: spec.shallowClone ?? false,
    sparseCheckout: spec.sparseCheckout ?? [],
    files,
    dockerSteps: spec.dockerSteps ?? [],
    cliSteps: spec.cliSteps ?? [],
    redactedValues: spec.redactedValues ?? {},
  };
  if (version === 2 && spec.dockerAuthConfig && Object.keys(spec.dockerAuthConfig.auths).length > 0) job.dockerAuthConfig = spec.dockerAuthConfig;
  return job;
}
