// Resident memory of a process from /proc/<pid>/status (VmRSS now, VmHWM its peak), in MiB.
import fs from 'node:fs';

export type MemoryField = 'VmRSS' | 'VmHWM';

/** The field in MiB, or NaN when the process is gone. */
export function readMemoryMib(pid: number, field: MemoryField): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
