// Where the CPU went during a measured window, from /proc: the whole machine, chosen processes, every
// PostgreSQL server process, and this process, in cores (CPU-seconds per wall second). On 2 shared
// cores this says who competed.
import fs from 'node:fs';
import os from 'node:os';

/** USER_HZ: /proc reports CPU time in these ticks; 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

interface Snapshot {
  atMs: number;
  machineBusyTicks: number;
  pidTicks: Map<number, number>;
  postgresTicks: Map<number, number>;
  self: NodeJS.CpuUsage;
}

function machineBusyTicks(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal ...
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return user! + nice! + system! + irq! + softirq! + (steal ?? 0);
}

function processTicks(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  } catch {
    return NaN;
  }
}

/** CPU ticks of every process named `postgres` (the server and its backends, when it runs on this machine). */
function postgresTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const t = processTicks(Number(entry));
    if (Number.isFinite(t)) ticks.set(Number(entry), t);
  }
  return ticks;
}

export interface CpuReport {
  wallSeconds: number;
  /** Cores busy on the whole machine (out of `os.cpus().length`). */
  machineCores: number;
  /** Cores used by each watched pid. */
  pidCores: Map<number, number>;
  /** Cores used by this (load-generating) process. */
  selfCores: number;
  /** Cores used by PostgreSQL processes (0 when the server is elsewhere). */
  postgresCores: number;
}

export class CpuMeter {
  private start: Snapshot;

  constructor(private readonly pids: readonly number[] = []) {
    this.start = this.snapshot();
  }

  private snapshot(): Snapshot {
    return {
      atMs: performance.now(),
      machineBusyTicks: machineBusyTicks(),
      pidTicks: new Map(this.pids.map((pid) => [pid, processTicks(pid)])),
      postgresTicks: postgresTicks(),
      self: process.cpuUsage(),
    };
  }

  /** Restarts the window now. */
  reset(): void {
    this.start = this.snapshot();
  }

  report(): CpuReport {
    const end = this.snapshot();
    const wallSeconds = (end.atMs - this.start.atMs) / 1000;
    const cores = (ticks: number) => ticks / TICKS_PER_SECOND / wallSeconds;
    const self = process.cpuUsage(this.start.self);
    let postgres = 0;
    // A backend that started inside the window counts whole; one that ended inside it is missed.
    for (const [pid, ticks] of end.postgresTicks) postgres += ticks - (this.start.postgresTicks.get(pid) ?? 0);
    return {
      wallSeconds,
      machineCores: cores(end.machineBusyTicks - this.start.machineBusyTicks),
      pidCores: new Map(this.pids.map((pid) => [pid, cores(end.pidTicks.get(pid)! - this.start.pidTicks.get(pid)!)])),
      selfCores: (self.user + self.system) / 1e6 / wallSeconds,
      postgresCores: cores(postgres),
    };
  }
}

export const CPU_COUNT = os.cpus().length;
