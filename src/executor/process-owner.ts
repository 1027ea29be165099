// Which executor process owns something it left on this host (a workspace, a container): its pid and
// start time. Whether that owner still runs tells leftovers of a crashed or killed executor (reference
// §4.13) from the live work of another executor process on the same host.
import { readFileSync } from 'node:fs';

/**
 * Slack, in ms, when comparing a live process's start time with an owner's `startedAt`: /proc gives the
 * boot time in whole seconds and the start in clock ticks, and `process.uptime()` starts a little
 * after exec. A pid reused within this long of the old process's start is not plausible.
 */
const START_TIME_SLACK_MS = 5_000;

/** An executor process, as recorded in a workspace marker or a container's labels. */
export interface ProcessOwner {
  /** The executor process. */
  pid: number;
  /** When that process started, in ms since the epoch. */
  startedAt: number;
  /** Its executor name (`<hostname>-<uuid>`), for people reading the record; empty when unknown. */
  executorName: string;
}

/** This process as an owner. */
export function currentProcessOwner(executorName = ''): ProcessOwner {
  return { pid: process.pid, startedAt: processStartedAt(), executorName };
}

/** This process's start, in ms since the epoch. */
function processStartedAt(): number {
  return Math.round(Date.now() - process.uptime() * 1000);
}

/**
 * Whether the process that recorded `owner` still runs: its pid is alive and did not start after
 * `startedAt` (a reused pid, as for an executor that is pid 1 of a restarted container, is not it).
 */
export function processOwnerIsAlive(owner: Pick<ProcessOwner, 'pid' | 'startedAt'>): boolean {
  if (owner.pid === process.pid) return Math.abs(processStartedAt() - owner.startedAt) <= START_TIME_SLACK_MS;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: alive, owned by another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const startedAt = linuxProcessStartedAt(owner.pid);
  // Without /proc, an alive pid counts as the owner: keeping a leftover is safer than deleting live work.
  return startedAt === undefined || startedAt <= owner.startedAt + START_TIME_SLACK_MS;
}

/** Linux's USER_HZ: /proc reports start times in these ticks; 100 on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
let bootTimeMs: number | undefined | null = null;

/** When `pid` started, in ms since the epoch, from /proc; undefined where /proc cannot tell. */
function linuxProcessStartedAt(pid: number): number | undefined {
  try {
    if (bootTimeMs === null) {
      const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
      bootTimeMs = btime === undefined ? undefined : Number(btime) * 1000;
    }
    if (bootTimeMs === undefined) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]); // field 22, starttime
    return Number.isFinite(startTicks) ? bootTimeMs + (startTicks / CLOCK_TICKS_PER_SECOND) * 1000 : undefined;
  } catch {
    return undefined;
  }
}
