// What the job pod's setup container is told (the `job.json` of the job's Secret): the job as a v2 wire
// payload with only what preparing the workspace needs, plus where the coordinator is and who asks. The
// token travels beside it (the Secret's TOKEN); redacted values, registry credentials and step env stay out.
import { z } from 'zod';
import { AppError } from '../../../shared/errors.js';
import { decodeJob, type DequeuedJob } from '../../client/job-decoder.js';

/** The envelope's format; a setup container from another executor version refuses one it cannot read. */
export const WORKSPACE_JOB_FORMAT = 1;

const EnvelopeSchema = z.object({
  format: z.literal(WORKSPACE_JOB_FORMAT),
  /** The executor's name: the clone's X-Sourcegraph-Executor-Name. */
  executorName: z.string().min(1),
  /** EXECUTOR_FRONTEND_URL: the coordinator the clone goes through. */
  frontendUrl: z.string().min(1),
  job: z.unknown(),
});

/** The setup container's `job.json` for `job`. */
export function encodeWorkspaceJob(job: DequeuedJob, who: { executorName: string; frontendUrl: string }): string {
  const files: Record<string, { content?: string; bucket?: string; key?: string; modifiedAt?: string }> = {};
  for (const [path, file] of Object.entries(job.files)) {
    files[path] = {
      ...(file.content !== undefined ? { content: file.content.toString('base64') } : {}),
      ...(file.bucket !== undefined ? { bucket: file.bucket } : {}),
      ...(file.key !== undefined ? { key: file.key } : {}),
      ...(file.modifiedAt !== undefined ? { modifiedAt: file.modifiedAt } : {}),
    };
  }
  return JSON.stringify({
    format: WORKSPACE_JOB_FORMAT,
    executorName: who.executorName,
    frontendUrl: who.frontendUrl,
    job: {
      version: 2,
      id: job.id,
      queue: job.queue,
      repositoryName: job.repositoryName,
      repositoryDirectory: job.repositoryDirectory,
      commit: job.commit,
      fetchTags: job.fetchTags,
      shallowClone: job.shallowClone,
      sparseCheckout: job.sparseCheckout,
      files,
      // The scripts are written from the commands; images, dirs and env are the pod's business.
      dockerSteps: job.dockerSteps.map((step) => ({ image: step.image, commands: step.commands })),
    },
  });
}

/** Reads a `job.json` back; `token` is the Secret's TOKEN. Throws `workspace.invalid_job` naming what is wrong. */
export function decodeWorkspaceJob(text: string, token: string): { job: DequeuedJob; executorName: string; frontendUrl: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('workspace.invalid_job', 'job.json: not valid JSON');
  }
  const envelope = EnvelopeSchema.safeParse(value);
  if (!envelope.success) {
    const issue = envelope.error.issues[0]!;
    throw new AppError('workspace.invalid_job', `job.json: ${issue.path.join('.') || '(envelope)'}: ${issue.message} (written by another executor version?)`);
  }
  const wire = envelope.data.job as { queue?: unknown };
  const queue = typeof wire?.queue === 'string' ? wire.queue : '';
  const decoded = decodeJob({ ...(wire as object), token }, { queues: [queue], multiQueue: false });
  if ('problem' in decoded) throw new AppError('workspace.invalid_job', `job.json: job.${decoded.problem}`);
  return { job: decoded.job, executorName: envelope.data.executorName, frontendUrl: envelope.data.frontendUrl };
}
