// One command's log entry as the executor reports it (reference §3.3).
import { z } from 'zod';

/** Both PostgreSQL and the executor's Go side use 32-bit integers for these. */
const int32 = () => z.number().int().min(-2147483648).max(2147483647);

/** RFC 3339, as Go's time.Time marshals: `2006-01-02T15:04:05.999999999Z07:00`. */
const Rfc3339Schema = z.string().regex(/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/, 'expected an RFC 3339 time such as 2024-01-02T15:04:05Z');

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
