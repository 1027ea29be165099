// The vm runtime's cost, against its own cold boot and docker measured in the same run, on this host's
// accelerator (KVM when a guest runs under it, else TCG emulation: the ≤ 150 ms restore target is for KVM):
// 1. The snapshot: one build (boot, save), its disk use.
// 2. Guest ready, three ways, alternated round by round: a cold boot (QEMU spawned → agent READY, with a
//    workspace, a scratch and an image disk), a restore from the snapshot with the job's disks (QEMU
//    spawned → state loaded → resumed → READY), and a guest from the warm pool (already restored, warmed
//    up and paused: its disks swapped for the job's → resumed → READY). Targets: restore ≤ 15 % of a boot.
// 3. Host memory per guest: two pooled (paused) guests and one booted guest at rest: RSS, and PSS (pages
//    shared with the snapshot's page cache counted once across the guests that share them).
// 4. A one-step `echo hello` job, enqueue → completed (the coordinator's clock), on bin/executor with the
//    vm runtime restoring each guest (EXECUTOR_VM_WARM_POOL_SIZE=0), with a warm pool of 1, and on docker,
//    alternated. Target: the warm pool's job ≤ 1.5 × docker's.
// 5. The same snapshot and pooled guests at EXECUTOR_JOB_MEMORY's default, 12G (BENCH_VM_LARGE=0 skips it).
// The original executor's 6–10 s per Firecracker VM (Ubuntu + systemd + dockerd, reference §5.3) is a
// documented figure, not measured here.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { currentProcessOwner } from '../src/executor/process-owner.js';
import { AgentVm, type AgentVmOptions } from '../src/executor/runtimes/vm/agent/agent-vm.js';
import { resolveGuestPlatform, type GuestPlatform } from '../src/executor/runtimes/vm/guest/guest-platform.js';
import { StepImageCache } from '../src/executor/runtimes/vm/images/step-image-cache.js';
import { createWorkspaceDisk } from '../src/executor/runtimes/vm/images/workspace-disk.js';
import { SnapshotStore, type GuestSnapshot } from '../src/executor/runtimes/vm/snapshot/guest-snapshot.js';
import { DEFAULT_IMAGE_SLOTS, GuestStarter, type PooledGuest } from '../src/executor/runtimes/vm/snapshot/guest-starter.js';
import { createVmRunDir } from '../src/executor/runtimes/vm/vm-janitor.js';
import { silentLogger } from '../src/shared/logger.js';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../test/helpers/docker.js';
import { compileProject } from './lib/compiled.js';
import { startCoordinator, type CoordinatorProcess } from './lib/coordinator-process.js';
import { AdminClient } from './lib/executor-client.js';
import { printHeader } from './lib/machine.js';
import { createScratchDatabase } from './lib/scratch-database.js';
import { sleep } from './lib/sleep.js';
import { summarize } from './lib/stats.js';
import { fmt, printTable } from './lib/table.js';

const run = promisify(execFile);
const READY_SAMPLES = Number(process.env.BENCH_VM_READY_SAMPLES ?? 10);
const JOB_SAMPLES = Number(process.env.BENCH_VM_JOB_SAMPLES ?? 10);
const LARGE = process.env.BENCH_VM_LARGE !== '0';
const MEMORY_MIB = 256;
/** EXECUTOR_FIRECRACKER_DISK_SPACE's default: each job's workspace and scratch disk (sparse). */
const DISK_BYTES = 20e9;
const TIMEOUT_MS = { kvm: 15_000, tcg: 90_000 } as const;
const never = new AbortController().signal;
const ECHO_JOB = { dockerSteps: [{ image: BUSYBOX_IMAGE, commands: ['echo hello'] }] };
const QUEUES = { restore: 'bench_vm_restore', pool: 'bench_vm_pool', docker: 'bench_vm_docker' } as const;

interface Bench {
  tmp: string;
  platform: GuestPlatform;
  starter: GuestStarter;
  snapshot: GuestSnapshot;
  imageDisk: string;
  owner: ReturnType<typeof currentProcessOwner>;
  active: Set<string>;
}

const row = (name: string, samples: number[]) => {
  const s = summarize(samples);
  return [name, String(s.n), fmt(s.p50), fmt(s.p90), fmt(s.max)];
};
const mib = (bytes: number) => fmt(bytes / 1024 / 1024);

/** A run directory with the job's two sparse 20 GB ext4 disks, as the runtime makes them. */
async function jobDisks(bench: Bench): Promise<{ runDir: string; workspaceDisk: string; scratchDisk: string }> {
  const runDir = await createVmRunDir(bench.tmp, 'bench', bench.owner, bench.active);
  const empty = await fs.mkdtemp(path.join(runDir, 'empty-'));
  const workspaceDisk = path.join(runDir, 'workspace.ext4');
  const scratchDisk = path.join(runDir, 'scratch.ext4');
  await Promise.all([workspaceDisk, scratchDisk].map((imagePath) => createWorkspaceDisk({ fromDir: empty, imagePath, sizeBytes: DISK_BYTES })));
  return { runDir, workspaceDisk, scratchDisk };
}

function vmOptions(bench: Bench, name: string, disks: { runDir: string; workspaceDisk: string; scratchDisk: string }, restored: boolean): AgentVmOptions {
  const { platform } = bench;
  return {
    kernel: platform.kernel,
    initramfsPath: platform.initramfsPath,
    accel: platform.accel,
    memoryMiB: MEMORY_MIB,
    cpus: 1,
    name,
    ...disks,
    imageDisks: [bench.imageDisk],
    ...(restored ? { imageSlots: DEFAULT_IMAGE_SLOTS, placeholderDisk: bench.snapshot.placeholderDisk } : {}),
    bootTimeoutMs: TIMEOUT_MS[platform.accel],
    qemuBinary: platform.qemuPath,
    wrapper: platform.qemuWrapper,
  };
}

/** 2. Guest ready: cold boot, restore, warm pool, alternated; the first round warms the page cache and is dropped. */
async function guestReady(bench: Bench): Promise<{ rows: string[][]; cold: number; restore: number; pool: number }> {
  const cold: number[] = [];
  const restore: number[] = [];
  const loaded: number[] = [];
  const resumed: number[] = [];
  const pool: number[] = [];
  const poolPrepare: number[] = [];
  const accel = bench.platform.accel;
  for (let i = 0; i < READY_SAMPLES + 1; i++) {
    const a = await jobDisks(bench);
    const booted = await AgentVm.start(vmOptions(bench, `bench-cold-${i}`, a, false), never);
    await booted.kill();
    await fs.rm(a.runDir, { recursive: true, force: true });

    const b = await jobDisks(bench);
    const startedAt = performance.now();
    const restored = await AgentVm.restore(vmOptions(bench, `bench-restore-${i}`, b, true), bench.snapshot, never);
    await restored.resume(`bench-restore-${i}`, never, TIMEOUT_MS[accel]);
    const restoreMs = performance.now() - startedAt;
    await restored.kill();
    await fs.rm(b.runDir, { recursive: true, force: true });

    const prepareStartedAt = performance.now();
    const guest: PooledGuest = await bench.starter.createPooledGuest(never);
    const prepareMs = performance.now() - prepareStartedAt;
    // As the runtime takes it: the job's workspace disk is made then (the scratch disk came with the guest).
    const takenAt = performance.now();
    const empty = await fs.mkdtemp(path.join(guest.runDir, 'empty-'));
    const workspaceDisk = path.join(guest.runDir, 'workspace.ext4');
    await createWorkspaceDisk({ fromDir: empty, imagePath: workspaceDisk, sizeBytes: DISK_BYTES });
    await guest.vm.replaceDisks({ workspaceDisk, scratchDisk: guest.scratchDisk, imageDisks: [bench.imageDisk] });
    await guest.vm.resume(`bench-pool-${i}`, never, TIMEOUT_MS[accel]);
    const poolMs = performance.now() - takenAt;
    await bench.starter.destroyPooledGuest(guest);

    if (i === 0) continue;
    cold.push(booted.bootToReadyMs);
    restore.push(restoreMs);
    loaded.push(restored.bootToReadyMs);
    resumed.push(restored.resumeToReadyMs);
    pool.push(poolMs);
    poolPrepare.push(prepareMs);
  }
  const p50 = (list: number[]) => summarize(list).p50;
  return {
    rows: [
      row('baseline: cold boot, QEMU spawned → agent READY', cold),
      row('restore from the snapshot, QEMU spawned → agent READY', restore),
      row('  QEMU spawned → saved state loaded (guest paused)', loaded),
      row('  resumed (clock, seed, hostname) → disks probed, mounted → READY', resumed),
      row('warm pool: taken → workspace disk made, disks swapped → resumed → READY', pool),
      row('  (ahead of the job: restore + warm-up of the pooled guest)', poolPrepare),
    ],
    cold: p50(cold),
    restore: p50(restore),
    pool: p50(pool),
  };
}

/** RSS, anonymous and file-backed resident memory, and PSS of a process, in MiB. */
async function memoryOf(pid: number): Promise<{ rss: number; anon: number; file: number; pss: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const rollup = await fs.readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
  return { rss: kb(status, 'VmRSS'), anon: kb(status, 'RssAnon'), file: kb(status, 'RssFile'), pss: kb(rollup, 'Pss') };
}

/** 3. Two pooled guests (paused) and one booted guest at rest. */
async function guestMemory(bench: Bench, label: string): Promise<string[][]> {
  const guests = [await bench.starter.createPooledGuest(never), await bench.starter.createPooledGuest(never)];
  const rows: string[][] = [];
  try {
    await sleep(1_000);
    for (const [i, guest] of guests.entries()) {
      const m = await memoryOf(guest.vm.pid!);
      rows.push([`${label}: pooled guest ${i + 1} (paused)`, fmt(m.rss), fmt(m.anon), fmt(m.file), fmt(m.pss)]);
    }
  } finally {
    for (const guest of guests) await bench.starter.destroyPooledGuest(guest);
  }
  return rows;
}

async function bootedMemory(bench: Bench, memoryMiB: number, label: string): Promise<string[]> {
  const disks = await jobDisks(bench);
  const vm = await AgentVm.start({ ...vmOptions(bench, 'bench-booted', disks, false), memoryMiB }, never);
  try {
    await sleep(1_000);
    const m = await memoryOf(vm.pid!);
    return [`${label}: booted guest at rest (baseline)`, fmt(m.rss), fmt(m.anon), fmt(m.file), fmt(m.pss)];
  } finally {
    await vm.kill();
    await fs.rm(disks.runDir, { recursive: true, force: true });
  }
}

interface ExecutorHandle {
  child: ChildProcess;
  log: () => string;
}

function spawnExecutor(coordinator: CoordinatorProcess, entry: string, tmp: string, queue: string, env: Record<string, string>): ExecutorHandle {
  let log = '';
  const child = spawn(process.execPath, [entry, 'run'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      EXECUTOR_FRONTEND_URL: coordinator.url,
      EXECUTOR_FRONTEND_PASSWORD: coordinator.executorToken,
      EXECUTOR_QUEUE_NAME: queue,
      EXECUTOR_JOB_NUM_CPUS: '1',
      EXECUTOR_JOB_MEMORY: `${MEMORY_MIB}m`,
      SRC_LOG_LEVEL: 'info',
      TMPDIR: tmp,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (log = (log + chunk).slice(-200_000)));
  process.once('exit', () => child.kill('SIGKILL'));
  return { child, log: () => log };
}

async function stopExecutor(executor: ExecutorHandle): Promise<void> {
  if (executor.child.exitCode !== null) return;
  const exited = new Promise((resolve) => executor.child.once('exit', resolve));
  executor.child.kill('SIGTERM');
  const timer = setTimeout(() => executor.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

interface JobView {
  state: string;
  queuedAt: string;
  finishedAt: string | null;
  executionLogs: Array<{ entryId: number; key: string; startTime: string; durationMs?: number | null }>;
}

/** 4. The one-step job on three executors, alternated; the pool is refilled before the next job starts. */
async function wholeJob(bench: Bench): Promise<{ rows: string[][]; restore: number; pool: number; docker: number }> {
  const compiled = await compileProject('bin/executor.js');
  if (!compiled) throw new Error('tsc emitted no bin/executor.js');
  const database = await createScratchDatabase('vm');
  const coordinator = await startCoordinator({
    databaseUrl: database.url,
    command: [process.execPath, path.join(compiled.dir, 'bin/coordinator.js'), 'serve'],
    // One queue per executor, so each job goes to the executor under test.
    env: { COORDINATOR_QUEUES: Object.values(QUEUES).map((q) => `${q}:1:50`).join(',') },
  });
  const admin = new AdminClient(coordinator.url, coordinator.adminToken);
  const entry = path.join(compiled.dir, 'bin/executor.js');
  const vmEnv = { EXECUTOR_RUNTIME: 'vm', EXECUTOR_VM_ALLOW_EMULATION: 'true', EXECUTOR_VM_CACHE_DIR: path.join(bench.tmp, 'cache') };
  const executors = {
    restore: spawnExecutor(coordinator, entry, bench.tmp, QUEUES.restore, { ...vmEnv, EXECUTOR_VM_WARM_POOL_SIZE: '0' }),
    pool: spawnExecutor(coordinator, entry, bench.tmp, QUEUES.pool, { ...vmEnv, EXECUTOR_VM_WARM_POOL_SIZE: '1' }),
    docker: spawnExecutor(coordinator, entry, bench.tmp, QUEUES.docker, { EXECUTOR_RUNTIME: 'docker' }),
  };
  const poolReady = () => executors.pool.log().split('\n').filter((l) => l.includes('vm warm pool: a guest is ready')).length;
  const waitFor = async (what: string, check: () => boolean) => {
    for (let waited = 0; !check(); waited += 100) {
      if (waited > 180_000) throw new Error(`bench: timed out waiting for ${what}\n${executors.pool.log().slice(-2000)}`);
      await sleep(100);
    }
  };
  const view = async (queue: string, id: number): Promise<JobView> => {
    const res = await admin.http.request('GET', `/api/v1/queues/${queue}/jobs/${id}`, undefined, { authorization: `Bearer ${coordinator.adminToken}` });
    return JSON.parse(res.body) as JobView;
  };
  const entryOut = async (queue: string, id: number, entryId: number): Promise<string> => {
    const res = await admin.http.request('GET', `/api/v1/queues/${queue}/jobs/${id}/logs/${entryId}`, undefined, { authorization: `Bearer ${coordinator.adminToken}` });
    return (JSON.parse(res.body) as { out: string }).out;
  };
  const oneJob = async (kind: keyof typeof QUEUES): Promise<{ ms: number; path: string }> => {
    const id = await admin.enqueue(QUEUES[kind], ECHO_JOB);
    for (;;) {
      const job = await view(QUEUES[kind], id);
      if (job.finishedAt) {
        if (job.state !== 'completed') throw new Error(`${kind} job ${id} ended ${job.state}: ${JSON.stringify(job).slice(0, 2000)}`);
        // The job view leaves outputs out: read setup.vm.start's (its first page is all of it) by its id.
        const startEntry = job.executionLogs.find((e) => e.key === 'setup.vm.start');
        const start = startEntry ? await entryOut(QUEUES[kind], id, startEntry.entryId) : '';
        const path = /from the warm pool/.test(start) ? 'pool' : /restored from snapshot/.test(start) ? 'snapshot' : /cold boot/.test(start) ? 'cold' : 'docker';
        if (process.env.BENCH_VM_DEBUG) process.stdout.write(`${kind} job ${id}: ${job.executionLogs.map((e) => `${e.key} +${Date.parse(e.startTime) - Date.parse(job.queuedAt)} ${e.durationMs}`).join(', ')} → ${Date.parse(job.finishedAt) - Date.parse(job.queuedAt)}\n`);
        return { ms: Date.parse(job.finishedAt) - Date.parse(job.queuedAt), path };
      }
      // Polled slowly: a tight loop would load the coordinator and PostgreSQL on the two cores the job uses.
      await sleep(25);
    }
  };
  const samples = { restore: [] as number[], pool: [] as number[], docker: [] as number[] };
  const paths = { restore: new Set<string>(), pool: new Set<string>(), docker: new Set<string>() };
  try {
    await waitFor('the pooled guest', () => poolReady() >= 1);
    for (let i = 0; i < JOB_SAMPLES + 1; i++) {
      for (const kind of ['restore', 'pool', 'docker'] as const) {
        const before = poolReady();
        const result = await oneJob(kind);
        // The pool refills behind its job; the next job does not share the cores with that.
        if (kind === 'pool') await waitFor('the pool to refill', () => poolReady() > before);
        if (i === 0) continue;
        samples[kind].push(result.ms);
        paths[kind].add(result.path);
      }
    }
  } finally {
    await Promise.all(Object.values(executors).map(stopExecutor));
    admin.close();
    await coordinator.stop();
    await database.drop();
    await compiled.remove();
  }
  for (const [kind, expected] of [['restore', 'snapshot'], ['pool', 'pool']] as const) {
    if ([...paths[kind]].join() !== expected) throw new Error(`bench: the ${kind} executor's guests came ${[...paths[kind]].join(', ')}, not all ${expected}`);
  }
  const p50 = (list: number[]) => summarize(list).p50;
  return {
    rows: [
      row('vm, each guest restored from the snapshot (EXECUTOR_VM_WARM_POOL_SIZE=0)', samples.restore),
      row('vm, guests from the warm pool (EXECUTOR_VM_WARM_POOL_SIZE=1)', samples.pool),
      row('baseline: docker', samples.docker),
    ],
    restore: p50(samples.restore),
    pool: p50(samples.pool),
    docker: p50(samples.docker),
  };
}

function snapshotRow(label: string, snapshot: GuestSnapshot): string[] {
  return [label, fmt(snapshot.buildMs), mib(snapshot.allocatedBytes), fmt(snapshot.stateBytes / 1024)];
}

async function main(): Promise<void> {
  const dockerVersion = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).stdout.trim();
  const qemuVersion = (await run('qemu-system-x86_64', ['--version'])).stdout.split('\n')[0]!;
  printHeader('vm runtime: cold boot, snapshot restore and warm pool, against docker', [`docker ${dockerVersion}; ${qemuVersion}`]);
  await ensureBusyboxImage();
  const tmp = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'executors-bench-vm-')));
  const owner = currentProcessOwner('bench-vm');
  const active = new Set<string>();
  try {
    const cacheDir = path.join(tmp, 'cache');
    // No kvmWorks override: the platform probes KVM as the executor does, and falls back to TCG only
    // because emulation is allowed here by name.
    const platform = await resolveGuestPlatform({ cacheDir, allowEmulation: true });
    process.stdout.write(`accelerator: ${platform.accel === 'kvm' ? 'KVM' : 'TCG (software emulation: KVM does not run a guest here); the ≤ 150 ms restore target is for KVM'}\n`);
    const images = new StepImageCache({ dir: path.join(cacheDir, 'images'), maxBytes: 1024 ** 3, logger: silentLogger });
    const lease = await images.acquire(BUSYBOX_IMAGE, undefined, never);
    const newStarter = (memoryMiB: number) => {
      const store = new SnapshotStore({ dir: path.join(cacheDir, 'snapshots'), runParentDir: tmp, owner, activeRunDirs: active, logger: silentLogger, bootTimeoutMs: TIMEOUT_MS[platform.accel] });
      return { store, starter: new GuestStarter({ platform, memoryMiB, cpus: 1, vmPrefix: 'bench', diskBytes: DISK_BYTES, snapshots: store, runParentDir: tmp, owner, activeRunDirs: active, logger: silentLogger }) };
    };
    const small = newStarter(MEMORY_MIB);
    const snapshot = await small.store.ensure(small.starter.shape(DEFAULT_IMAGE_SLOTS));
    const bench: Bench = { tmp, platform, starter: small.starter, snapshot, imageDisk: lease.diskPath, owner, active };
    const snapshots = [snapshotRow(`${MEMORY_MIB} MiB, 1 vCPU, ${DEFAULT_IMAGE_SLOTS} image slots`, snapshot)];

    const ready = await guestReady(bench);
    printTable(`2. guest ready, ${platform.accel.toUpperCase()}, 1 vCPU, ${MEMORY_MIB} MiB, 20 GB sparse disks, ms; ${READY_SAMPLES} rounds alternated after 1 warm-up`, ['run', 'n', 'p50', 'p90', 'max'], ready.rows);
    process.stdout.write(`restore / cold boot at p50: ${fmt((ready.restore / ready.cold) * 100)} % (target ≤ 15 %); warm pool / cold boot: ${fmt((ready.pool / ready.cold) * 100)} %\n`);

    const memoryRows = [...(await guestMemory(bench, `${MEMORY_MIB} MiB`)), await bootedMemory(bench, MEMORY_MIB, `${MEMORY_MIB} MiB`)];

    const job = await wholeJob(bench);
    lease.release();

    if (LARGE) {
      const large = newStarter(12 * 1024);
      const bigSnapshot = await large.store.ensure(large.starter.shape(DEFAULT_IMAGE_SLOTS));
      snapshots.push(snapshotRow('12 GiB (EXECUTOR_JOB_MEMORY default), 1 vCPU', bigSnapshot));
      memoryRows.push(...(await guestMemory({ ...bench, starter: large.starter, snapshot: bigSnapshot }, '12 GiB')));
      memoryRows.push(await bootedMemory(bench, 12 * 1024, '12 GiB'));
    }
    printTable('1. snapshot: one build (boot, save, checksums) and its disk use', ['guest', 'build ms', 'on disk MiB', 'device state KiB'], snapshots);
    printTable('3. host memory per guest, MiB (PSS counts pages shared with other guests once across them)', ['guest', 'RSS', 'anon', 'file', 'PSS'], memoryRows);
    printTable(`4. one-step \`echo hello\` job, enqueue → completed (coordinator clock), alternated after 1 warm-up round, ms`, ['run', 'n', 'p50', 'p90', 'max'], job.rows);
    process.stdout.write(`at p50: warm pool / docker ${fmt(job.pool / job.docker, 2)}× (target ≤ 1.5×); restore / docker ${fmt(job.restore / job.docker, 2)}×\n`);
    process.stdout.write(`${new Date().toISOString()}  load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end\n`);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
