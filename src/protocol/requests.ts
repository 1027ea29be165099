// Request and response bodies of the /.executors/queue API (reference §2.4).
import { z } from 'zod';
import { ExecutionLogEntrySchema } from './execution-log-entry.js';

/** Every request names its executor; the original's message for an empty name. */
const ExecutorNameSchema = z.string().min(1, 'worker hostname cannot be empty');

/**
 * Job IDs arrive as numbers from old executors and as strings from new ones; either way at most 2^53 - 1
 * (a string of 15 digits), so that a larger one is refused here rather than by PostgreSQL's bigint.
 */
const JobIdSchema = z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,15}$/).transform(Number)], {
  error: 'expected a job id: a non-negative integer, or a decimal string of at most 15 digits',
});

export const DequeueRequestSchema = z.object({
  /** Only on the multi-queue route. */
  queues: z.array(z.string()).optional(),
  executorName: ExecutorNameSchema,
  /** The executor's build version; decides the payload version (reference §2.7). */
  version: z.string().optional(),
  numCPUs: z.number().int().optional(),
  memory: z.string().optional(),
  diskSpace: z.string().optional(),
  /**
   * Extension: wait up to this long for a job before answering 204. Old executors never send it and
   * get the original's immediate answer.
   */
  waitMs: z.number().int().nonnegative().optional(),
});
export type DequeueRequest = z.infer<typeof DequeueRequestSchema>;

export const JobOperationRequestSchema = z.object({
  executorName: ExecutorNameSchema,
  jobId: z.number().int().nonnegative(),
});
export type JobOperationRequest = z.infer<typeof JobOperationRequestSchema>;

export const MarkErroredRequestSchema = JobOperationRequestSchema.extend({
  errorMessage: z.string().default(''),
});
export type MarkErroredRequest = z.infer<typeof MarkErroredRequestSchema>;

export const AddExecutionLogEntryRequestSchema = JobOperationRequestSchema.extend(ExecutionLogEntrySchema.shape);
export type AddExecutionLogEntryRequest = z.infer<typeof AddExecutionLogEntryRequestSchema>;

export const UpdateExecutionLogEntryRequestSchema = AddExecutionLogEntryRequestSchema.extend({
  /** 1-based; stored as a 32-bit integer. */
  entryId: z.number().int().positive().max(2147483647),
});
export type UpdateExecutionLogEntryRequest = z.infer<typeof UpdateExecutionLogEntryRequestSchema>;

/** Telemetry that every heartbeat carries (reference §2.4, §7.4). */
const TelemetrySchema = {
  os: z.string().default(''),
  architecture: z.string().default(''),
  dockerVersion: z.string().default(''),
  executorVersion: z.string().default(''),
  gitVersion: z.string().default(''),
  igniteVersion: z.string().default(''),
  srcCliVersion: z.string().default(''),
  /** Prometheus text exposition dump of the executor's own metrics. */
  prometheusMetrics: z.string().default(''),
};

/** `POST /.executors/queue/{queue}/heartbeat`; also the start-up ping (only `executorName`). */
export const HeartbeatRequestSchema = z.object({
  version: z.string().optional(),
  executorName: ExecutorNameSchema,
  jobIds: z.array(JobIdSchema).nullable().default([]).transform((ids) => ids ?? []),
  ...TelemetrySchema,
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>;

/** `POST /.executors/queue/heartbeat` (multi-queue). */
export const MultiQueueHeartbeatRequestSchema = z.object({
  executorName: ExecutorNameSchema,
  queueNames: z.array(z.string()),
  jobIdsByQueue: z
    .array(z.object({ queueName: z.string(), jobIds: z.array(JobIdSchema).nullable().default([]).transform((ids) => ids ?? []) }))
    .nullable()
    .default([])
    .transform((q) => q ?? []),
  ...TelemetrySchema,
});
export type MultiQueueHeartbeatRequest = z.infer<typeof MultiQueueHeartbeatRequestSchema>;

/** IDs are strings (`"42"`, or `"42-batches"` on the multi-queue route); V1 single-queue clients get numbers. */
export interface HeartbeatResponse {
  knownIds: Array<string | number>;
  cancelIds: Array<string | number>;
}

export type Telemetry = Omit<HeartbeatRequest, 'version' | 'executorName' | 'jobIds'>;
