// One command's log entry as the executor reports it (reference §3.3).
import { z } from 'zod';
import { Rfc3339Schema } from './rfc3339.js';

/** Both PostgreSQL and the executor's Go side use 32-bit integers for these. */
const int32 = () => z.number().int().min(-2147483648).max(2147483647);

export const ExecutionLogEntrySchema = z.object({
  key: z.string(),
  command: z.array(z.string()).nullable().default([]).transform((c) => c ?? []),
  /** RFC 3339. */
  startTime: Rfc3339Schema,
  /** Null until the entry is finalized. */
  exitCode: int32().nullable().optional(),
  /** Combined output; each line prefixed `stdout: ` or `stderr: `. */
  out: z.string().nullable().optional(),
  durationMs: int32().nullable().optional(),
});
export type ExecutionLogEntry = z.infer<typeof ExecutionLogEntrySchema>;
