// Turns a dequeue response body into a DequeuedJob: the shape checked field by field, v2 file
// contents decoded from base64 and v1 ones from text, so the rest of the executor sees Buffers only.
import { z } from 'zod';
import { JobSpecSchema, type Job, type VirtualMachineFile } from '../../protocol/job.js';

/** A workspace file with its content decoded; undefined content = from the files store, or empty. */
export type DequeuedFile = Omit<VirtualMachineFile, 'content'> & { content: Buffer | undefined };

/**
 * A dequeued Job as the executor works with it: `queue` always set (the configured queue on the
 * single-queue route) and file contents as bytes, whatever the payload version.
 */
export interface DequeuedJob extends Omit<Job, 'files' | 'queue'> {
  queue: string;
  files: Record<string, DequeuedFile>;
}

/** The wire Job: the creator's spec plus what the dequeue adds (reference §3.1). */
const WireJobSchema = JobSpecSchema.extend({
  version: z.number().int().optional(),
  id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  queue: z.string().optional(),
  /** Old instances send no token; the client then authenticates job routes with the shared one. */
  token: z.string().default(''),
});

/** Go's StdEncoding (what encoding/json uses for []byte), which also skips CR and LF. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `files["a.txt"].content`, `dockerSteps[0].image`: a path a reader can find in the body. */
export function formatFieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out || '(body)';
}

/**
 * Parses JSON as Go wrote it: `null` (a nil slice or map) reads as absent, so the schema's defaults
 * apply, as Go's decoder leaves a zero value.
 */
export function parseGoJson(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => (value === null ? undefined : value));
}

/**
 * Checks and decodes a parsed dequeue body. `queues` are the queues asked for: on the single-queue
 * route (one queue) the job belongs to it; on the multi-queue route the job must name one of them.
 * Returns the job, or a problem that names the field.
 */
export function decodeJob(value: unknown, options: { queues: readonly string[]; multiQueue: boolean }): { job: DequeuedJob } | { problem: string } {
  const parsed = WireJobSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { problem: `${formatFieldPath(issue.path)}: ${issue.message}` };
  }
  const wire = parsed.data;
  if (wire.version !== undefined && wire.version !== 0 && wire.version !== 1 && wire.version !== 2) {
    return { problem: `version: unsupported Job payload version ${wire.version}; this executor reads 1 and 2` };
  }
  let queue: string;
  if (options.multiQueue) {
    if (wire.queue === undefined || wire.queue === '') return { problem: 'queue: missing from a multi-queue dequeue' };
    if (!options.queues.includes(wire.queue)) return { problem: `queue: ${JSON.stringify(wire.queue)} is not one of the queues asked for (${options.queues.join(', ')})` };
    queue = wire.queue;
  } else {
    queue = options.queues[0]!;
    if (wire.queue !== undefined && wire.queue !== '' && wire.queue !== queue) return { problem: `queue: ${JSON.stringify(wire.queue)}, but it was dequeued from ${JSON.stringify(queue)}` };
  }

  const v2 = wire.version === 2;
  const files: Array<[string, DequeuedFile]> = [];
  for (const [path, file] of Object.entries(wire.files)) {
    let content: Buffer | undefined;
    if (file.content !== undefined) {
      if (v2) {
        const b64 = file.content.replace(/[\r\n]/g, '');
        if (!BASE64.test(b64)) return { problem: `${formatFieldPath(['files', path, 'content'])}: expected base64 in a version 2 payload` };
        content = Buffer.from(b64, 'base64');
      } else {
        content = Buffer.from(file.content, 'utf8');
      }
    }
    files.push([path, { ...file, content }]);
  }

  const job: DequeuedJob = {
    ...(v2 ? { version: 2 as const } : {}),
    id: wire.id,
    queue,
    token: wire.token,
    repositoryName: wire.repositoryName,
    repositoryDirectory: wire.repositoryDirectory,
    commit: wire.commit,
    fetchTags: wire.fetchTags,
    shallowClone: wire.shallowClone,
    sparseCheckout: wire.sparseCheckout,
    // fromEntries defines own properties, never a prototype (zod's record already skips a `__proto__` key).
    files: Object.fromEntries(files),
    dockerSteps: wire.dockerSteps,
    cliSteps: wire.cliSteps,
    redactedValues: wire.redactedValues,
  };
  // v1 has no dockerAuthConfig (reference §3.2); ignore one an old server sends anyway.
  if (v2 && wire.dockerAuthConfig) job.dockerAuthConfig = wire.dockerAuthConfig;
  return { job };
}
