// Resident memory (VmRSS) of an idle coordinator process ~5 s after /healthz answers: on PostgreSQL, and
// on embedded PGlite while it initialises a new data directory (peak) and after a restart that reopens
// it. Same-run baselines: an idle bare `node`, an idle `node --import tsx`, and the coordinator compiled.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, startCoordinator, type StartCoordinatorOptions } from './lib/coordinator-process.js';
import { printHeader } from './lib/machine.js';
import { readMemoryMib } from './lib/proc-status.js';
import { compileProject } from './lib/compiled.js';
import { createScratchDatabase, describeServer } from './lib/scratch-database.js';
import { sleep } from './lib/sleep.js';
import { fmt, printTable } from './lib/table.js';

const SETTLE_MS = Number(process.env.BENCH_MEMORY_SETTLE_MS ?? 5_000);
const TARGET_MIB = 150;

interface Row {
  name: string;
  startupMs: number | undefined;
  /** Highest VmRSS seen while starting (sampled every 50 ms) and the kernel's VmHWM once healthy. */
  startPeakMib: number | undefined;
  hwmMib: number | undefined;
  idleMib: number;
}

/** Starts a coordinator, tracks its peak RSS while it starts, and reads VmRSS SETTLE_MS after /healthz. */
async function measureCoordinator(name: string, options: StartCoordinatorOptions & { keepDataDir?: boolean }): Promise<Row> {
  let sampledPeak = 0;
  const coordinator = await startCoordinator({
    ...options,
    onWaitTick: (pid) => {
      sampledPeak = Math.max(sampledPeak, readMemoryMib(pid, 'VmRSS') || 0);
    },
  });
  try {
    const hwmMib = readMemoryMib(coordinator.pid, 'VmHWM');
    await sleep(SETTLE_MS);
    return { name, startupMs: coordinator.startupMs, startPeakMib: sampledPeak, hwmMib, idleMib: readMemoryMib(coordinator.pid, 'VmRSS') };
  } finally {
    await coordinator.stop({ keepDataDir: options.keepDataDir ?? false });
  }
}

/** VmRSS of an idle process that does nothing but wait, SETTLE_MS after it started. */
async function measureIdle(name: string, args: readonly string[]): Promise<Row> {
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: 'ignore' });
  try {
    await sleep(SETTLE_MS);
    return { name, startupMs: undefined, startPeakMib: undefined, hwmMib: undefined, idleMib: readMemoryMib(child.pid!, 'VmRSS') };
  } finally {
    child.kill('SIGKILL');
  }
}

/** The coordinator compiled (bench/lib/compiled.ts); null when it does not build. */
async function compileCoordinator(): Promise<{ entry: string; dir: string } | null> {
  const tree = await compileProject('bin/coordinator.js');
  return tree ? { entry: path.join(tree.dir, 'bin/coordinator.js'), dir: tree.dir } : null;
}

async function main(): Promise<void> {
  printHeader('coordinator memory (VmRSS)', [await describeServer()]);
  const rows: Row[] = [];

  rows.push(await measureIdle('baseline: idle `node`', ['-e', 'setInterval(() => {}, 1 << 30)']));
  rows.push(await measureIdle('baseline: idle `node --import tsx`', ['--import', 'tsx', '-e', 'setInterval(() => {}, 1 << 30)']));

  const compiled = await compileCoordinator();
  const runners: Array<{ label: string; command?: readonly string[] }> = [
    { label: 'tsx' },
    ...(compiled ? [{ label: 'compiled JS, no tsx', command: [process.execPath, compiled.entry, 'serve'] }] : []),
  ];
  try {
    const database = await createScratchDatabase('memory');
    try {
      for (const r of runners) rows.push(await measureCoordinator(`PostgreSQL server (${r.label})`, { databaseUrl: database.url, command: r.command }));
    } finally {
      await database.drop();
    }
    for (const r of runners) {
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-bench-pglite-'));
      try {
        rows.push(await measureCoordinator(`PGlite, new data directory (${r.label})`, { databaseUrl: undefined, dataDir, keepDataDir: true, command: r.command }));
        rows.push(await measureCoordinator(`PGlite, restart on that directory (${r.label})`, { databaseUrl: undefined, dataDir, keepDataDir: true, command: r.command }));
      } finally {
        await fs.rm(dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    if (compiled) await fs.rm(compiled.dir, { recursive: true, force: true });
  }
  if (!compiled) process.stdout.write('(the compiled rows are missing: tsc emitted no dist/bin/coordinator.js)\n');

  printTable(
    `RSS, MiB (idle = VmRSS ${SETTLE_MS / 1000} s after /healthz answered; target on PostgreSQL < ${TARGET_MIB})`,
    ['process', 'start-up ms', 'peak while starting (50 ms samples)', 'VmHWM at healthz', 'idle RSS'],
    rows.map((r) => [
      r.name,
      r.startupMs === undefined ? '-' : fmt(r.startupMs, 0),
      r.startPeakMib === undefined ? '-' : fmt(r.startPeakMib, 0),
      r.hwmMib === undefined ? '-' : fmt(r.hwmMib, 0),
      fmt(r.idleMib, 0),
    ]),
  );
}

await main();
