// A job as the heartbeat names it: its id and queue. Job ids collide across queues, so a job is only
// identified by both; the multi-queue wire form is `"<id>-<queue>"` (reference §2.4).

/** Identifies a job: ids are unique within a queue only. */
export interface JobRef {
  id: number;
  queue: string;
}

/** How heartbeat ids are read: single-queue ids belong to the configured queue. */
export type HeartbeatIdForm = { kind: 'single'; queue: string } | { kind: 'multi' };

/** The multi-queue wire form of a job: `"42-batches"`. */
export function multiQueueJobId(job: JobRef): string {
  return `${job.id}-${job.queue}`;
}

function parseId(text: string): number | null {
  if (!/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}

/**
 * Reads one id of a heartbeat response: `"42"` or `42` on the single-queue route, `"42-batches"` on
 * the multi-queue one, split on the first `-` (queue names may contain `-`, ids may not). Null when
 * the id does not have that form.
 */
export function parseHeartbeatId(raw: unknown, form: HeartbeatIdForm): JobRef | null {
  if (form.kind === 'single') {
    if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? { id: raw, queue: form.queue } : null;
    if (typeof raw !== 'string') return null;
    const id = parseId(raw);
    return id === null ? null : { id, queue: form.queue };
  }
  if (typeof raw !== 'string') return null;
  const dash = raw.indexOf('-');
  if (dash < 0) return null;
  const id = parseId(raw.slice(0, dash));
  const queue = raw.slice(dash + 1);
  return id === null || queue === '' ? null : { id, queue };
}
