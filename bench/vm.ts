// The vm runtime's cost, against docker measured in the same run, on this host's accelerator (KVM when a
// guest runs under it, else TCG emulation: the target of guest ready ≤ 300 ms at p50 is for KVM):
// 1. VM start: QEMU spawned → the guest's agent READY (AgentVm.start with a workspace, a scratch and one
//    image disk, 1 vCPU, 256 MiB), then power-off. Same-run baselines, alternated with it: a bare guest
//    (runInGuest `true`: no agent, no disks) and `docker run --rm` of `true`. The original executor's
//    6–10 s (Ubuntu + systemd + dockerd per job, reference §5.3) is a documented figure, not measured.
// 2. A whole one-step `echo hello` job, image already cached: VmRuntime setup → runStep → teardown, with
//    setup split into images / disks / boot, against the same job on DockerRuntime, alternated.
// 3. Once, as information: the first job's image conversion (cache miss), and the platform's start-up
//    (initramfs build and KVM probe).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DequeuedJob } from '../src/executor/client/coordinator-client.js';
import { DockerRuntime } from '../src/executor/runtimes/docker/docker-runtime.js';
import type { Runtime, StepSpec } from '../src/executor/runtimes/runtime.js';
import { AgentVm } from '../src/executor/runtimes/vm/agent/agent-vm.js';
import { resolveGuestPlatform, type GuestPlatform } from '../src/executor/runtimes/vm/guest/guest-platform.js';
import { runInGuest } from '../src/executor/runtimes/vm/guest/qemu-vm.js';
import { StepImageCache, type StepImageLease } from '../src/executor/runtimes/vm/images/step-image-cache.js';
import { VmRuntime, type VmRuntimeConfig } from '../src/executor/runtimes/vm/vm-runtime.js';
import { createWorkspaceDisk } from '../src/executor/runtimes/vm/images/workspace-disk.js';
import { silentLogger } from '../src/shared/logger.js';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../test/helpers/docker.js';
import { recordingLogEntries } from '../test/helpers/runtime-log.js';
import { printHeader } from './lib/machine.js';
import { summarize } from './lib/stats.js';
import { fmt, printTable } from './lib/table.js';

const run = promisify(execFile);
const START_SAMPLES = Number(process.env.BENCH_VM_START_SAMPLES ?? 10);
const JOB_SAMPLES = Number(process.env.BENCH_VM_JOB_SAMPLES ?? 8);
const MEMORY_MIB = 256;
/** EXECUTOR_FIRECRACKER_DISK_SPACE's default: each job's workspace and scratch disk (sparse). */
const DISK_BYTES = 20e9;
const TARGET_READY_MS = 300;
const BOOT_TIMEOUT_MS = { kvm: 15_000, tcg: 90_000 } as const;
const POWER_OFF_TIMEOUT_MS = { kvm: 5_000, tcg: 15_000 } as const;
const never = new AbortController().signal;

interface Bench {
  tmp: string;
  platform: GuestPlatform;
  images: StepImageCache;
  vm: VmRuntime;
  docker: DockerRuntime;
  nextJobId: number;
}

const row = (name: string, samples: number[]) => {
  const s = summarize(samples);
  return [name, String(s.n), fmt(s.p50), fmt(s.p90), fmt(s.max)];
};

/** 1. AgentVm.start → READY, then powerOff; alternated with a bare guest and `docker run --rm … true`. */
async function vmStart(bench: Bench): Promise<{ rows: string[][]; readyP50: number }> {
  const { platform } = bench;
  const lease = await bench.images.acquire(BUSYBOX_IMAGE, undefined, never);
  const ready: number[] = [];
  const powerOff: number[] = [];
  const spawnToOff: number[] = [];
  const bareReady: number[] = [];
  const bareTotal: number[] = [];
  const dockerTrue: number[] = [];
  try {
    for (let i = 0; i < START_SAMPLES + 1; i++) {
      const runDir = await fs.mkdtemp(path.join(bench.tmp, 'start-'));
      await fs.chmod(runDir, 0o700);
      const emptyDir = path.join(runDir, 'empty');
      await fs.mkdir(emptyDir);
      const workspaceDisk = path.join(runDir, 'workspace.ext4');
      const scratchDisk = path.join(runDir, 'scratch.ext4');
      await Promise.all([
        createWorkspaceDisk({ fromDir: emptyDir, imagePath: workspaceDisk, sizeBytes: DISK_BYTES }),
        createWorkspaceDisk({ fromDir: emptyDir, imagePath: scratchDisk, sizeBytes: DISK_BYTES }),
      ]);
      const startedAt = performance.now();
      const vm = await AgentVm.start(
        {
          kernel: platform.kernel,
          initramfsPath: platform.initramfsPath,
          accel: platform.accel,
          memoryMiB: MEMORY_MIB,
          cpus: 1,
          name: `bench-vm-start-${i}`,
          runDir,
          workspaceDisk,
          scratchDisk,
          imageDisks: [lease.diskPath],
          bootTimeoutMs: BOOT_TIMEOUT_MS[platform.accel],
          qemuBinary: platform.qemuPath,
          wrapper: platform.qemuWrapper,
        },
        never,
      );
      const offAt = performance.now();
      const clean = await vm.powerOff(POWER_OFF_TIMEOUT_MS[platform.accel]);
      if (!clean) throw new Error(`VM ${i} did not power off cleanly`);
      const doneAt = performance.now();
      await fs.rm(runDir, { recursive: true, force: true });

      const bare = await runInGuest({
        kernel: platform.kernel,
        initramfsPath: platform.initramfsPath,
        accel: platform.accel,
        memoryMiB: MEMORY_MIB,
        cpus: 1,
        command: 'true',
        bootTimeoutMs: BOOT_TIMEOUT_MS[platform.accel],
        signal: never,
        name: `bench-bare-guest-${i}`,
        qemuBinary: platform.qemuPath,
      });
      if (bare.exitCode !== 0) throw new Error(`bare guest exited ${bare.exitCode}`);

      const dockerStartedAt = performance.now();
      await run('docker', ['run', '--rm', '--cpus', '1', '--memory', `${MEMORY_MIB}m`, '--entrypoint', '/bin/true', BUSYBOX_IMAGE]);
      const dockerMs = performance.now() - dockerStartedAt;

      // The first round warms the page cache (kernel, initramfs, image disk) for all three.
      if (i === 0) continue;
      ready.push(vm.bootToReadyMs);
      powerOff.push(doneAt - offAt);
      spawnToOff.push(doneAt - startedAt);
      bareReady.push(bare.bootToReadyMs);
      bareTotal.push(bare.totalMs);
      dockerTrue.push(dockerMs);
    }
  } finally {
    lease.release();
  }
  return {
    rows: [
      row('vm: QEMU spawned → agent READY (3 disks, agent)', ready),
      row('vm: POWEROFF sent → QEMU exited', powerOff),
      row('vm: AgentVm.start called → powered off, no step', spawnToOff),
      row('baseline: bare guest, QEMU spawned → ready (no agent, no disks)', bareReady),
      row('baseline: bare guest running `true`, spawned → exited', bareTotal),
      row('baseline: `docker run --rm` of `true`', dockerTrue),
      ['reference: the original executor (Ubuntu VM + dockerd), not measured', '-', '6000–10000', '-', '-'],
    ],
    readyP50: summarize(ready).p50,
  };
}

interface JobTimes {
  setupMs: number;
  imagesMs: number;
  disksMs: number;
  bootMs: number;
  stepMs: number;
  teardownMs: number;
  totalMs: number;
  imagesLog: string;
}

/** One `echo hello` job on `runtime`: a fresh workspace, setup → runStep → teardown, timed. */
async function oneJob(bench: Bench, runtime: Runtime): Promise<JobTimes> {
  const id = ++bench.nextJobId;
  const ws = await fs.mkdtemp(path.join(bench.tmp, `workspace-${id}-`));
  await fs.mkdir(path.join(ws, '.sourcegraph-executor'));
  const step: StepSpec = { key: 'step.docker.0', index: 0, image: BUSYBOX_IMAGE, scriptPath: '.sourcegraph-executor/0.sh', dir: '', env: [] };
  await fs.writeFile(path.join(ws, step.scriptPath), 'echo hello\n', { mode: 0o755 });
  const log = recordingLogEntries();
  // When each runtime log entry opened and was finalized, on this clock.
  const spans = new Map<string, { openedAt: number; finalizedAt?: number }>();
  const openLogEntry = (key: string, command: string[]) => {
    const span: { openedAt: number; finalizedAt?: number } = { openedAt: performance.now() };
    spans.set(key, span);
    const entry = log.openLogEntry(key, command);
    return {
      write: entry.write,
      finalize: (exitCode: number) => {
        span.finalizedAt ??= performance.now();
        entry.finalize(exitCode);
      },
      get finalized() {
        return entry.finalized;
      },
    };
  };
  const job = { id, queue: 'batches', dockerSteps: [{ image: BUSYBOX_IMAGE, commands: ['echo hello'] }] } as unknown as DequeuedJob;
  const startedAt = performance.now();
  const runtimeJob = await runtime.setup({ job, workspace: { path: ws, scriptPaths: [step.scriptPath], remove: () => Promise.resolve() }, logger: silentLogger, signal: never, openLogEntry });
  const setupDoneAt = performance.now();
  let stdout = '';
  const { exitCode } = await runtimeJob.runStep(step, (stream, chunk) => {
    if (stream === 'stdout') stdout += chunk.toString();
  }, never);
  const stepDoneAt = performance.now();
  await runtimeJob.teardown();
  const doneAt = performance.now();
  await fs.rm(ws, { recursive: true, force: true });
  if (exitCode !== 0 || stdout !== 'hello\n') throw new Error(`${runtime.name} job ${id}: exit ${exitCode}, stdout ${JSON.stringify(stdout)}`);

  const duration = (key: string) => {
    const span = spans.get(key);
    return span?.finalizedAt === undefined ? NaN : span.finalizedAt - span.openedAt;
  };
  const start = log.find('setup.vm.start')?.out ?? '';
  return {
    setupMs: setupDoneAt - startedAt,
    imagesMs: duration('setup.vm.images'),
    disksMs: Number(/built in (\d+) ms/.exec(start)?.[1] ?? NaN),
    bootMs: Number(/guest ready in (\d+) ms/.exec(start)?.[1] ?? NaN),
    stepMs: stepDoneAt - setupDoneAt,
    teardownMs: doneAt - stepDoneAt,
    totalMs: doneAt - startedAt,
    imagesLog: log.find('setup.vm.images')?.out.trim() ?? '',
  };
}

/** 2. The same one-step job on vm and on docker, alternated. */
async function wholeJob(bench: Bench): Promise<{ rows: string[][]; vmP50: number; dockerP50: number }> {
  const vm: JobTimes[] = [];
  const docker: JobTimes[] = [];
  for (let i = 0; i < JOB_SAMPLES + 1; i++) {
    const v = await oneJob(bench, bench.vm);
    const d = await oneJob(bench, bench.docker);
    if (i === 0) continue;
    vm.push(v);
    docker.push(d);
  }
  const pick = (list: JobTimes[], field: keyof Omit<JobTimes, 'imagesLog'>) => list.map((t) => t[field]);
  return {
    rows: [
      row('vm: whole job (setup → step → teardown)', pick(vm, 'totalMs')),
      row('  setup', pick(vm, 'setupMs')),
      row('    images (cached)', pick(vm, 'imagesMs')),
      row('    workspace + scratch disks (mkfs.ext4 -d, 20 GB sparse)', pick(vm, 'disksMs')),
      row('    QEMU spawned → agent READY', pick(vm, 'bootMs')),
      row('  step `echo hello`', pick(vm, 'stepMs')),
      row('  teardown (power off, remove disks)', pick(vm, 'teardownMs')),
      row('baseline: docker, whole job', pick(docker, 'totalMs')),
      row('  setup', pick(docker, 'setupMs')),
      row('  step `echo hello` (docker run --rm)', pick(docker, 'stepMs')),
      row('  teardown', pick(docker, 'teardownMs')),
    ],
    vmP50: summarize(pick(vm, 'totalMs')).p50,
    dockerP50: summarize(pick(docker, 'totalMs')).p50,
  };
}

async function main(): Promise<void> {
  const dockerVersion = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).stdout.trim();
  const qemuVersion = (await run('qemu-system-x86_64', ['--version'])).stdout.split('\n')[0]!;
  printHeader('vm runtime: VM start and a one-step job, against docker', [`docker ${dockerVersion}; ${qemuVersion}`]);
  await ensureBusyboxImage();
  const tmp = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'executors-bench-vm-')));
  try {
    const cacheDir = path.join(tmp, 'cache');
    const platformStartedAt = performance.now();
    // No kvmWorks override: the platform probes KVM as the executor does, and falls back to TCG only
    // because emulation is allowed here by name.
    const platform = await resolveGuestPlatform({ cacheDir, allowEmulation: true });
    const platformMs = performance.now() - platformStartedAt;
    process.stdout.write(
      `accelerator: ${platform.accel === 'kvm' ? 'KVM' : `TCG (software emulation: KVM does not run a guest here); the ≤ ${TARGET_READY_MS} ms target is for KVM`}\n` +
        `guest platform resolved in ${fmt(platformMs, 0)} ms (initramfs built, KVM probed), kernel ${platform.kernel.kernelPath}\n`,
    );
    const config: VmRuntimeConfig = {
      name: 'bench-vm',
      vmPrefix: 'executor-bench',
      jobNumCpus: 1,
      jobMemoryText: `${MEMORY_MIB}m`,
      vmDiskSpaceBytes: DISK_BYTES,
      workspaceParentDir: tmp,
      dockerAuthConfig: undefined,
      vmStartupScriptPath: undefined,
      keepWorkspaces: false,
      vmCacheDir: cacheDir,
      vmSnapshots: false,
      vmWarmPoolSize: 0,
      vmWarmPoolIdleTimeoutMs: 0,
    };
    const images = new StepImageCache({ dir: path.join(cacheDir, 'images'), maxBytes: 1024 ** 3, logger: silentLogger });
    const bench: Bench = {
      tmp,
      platform,
      images,
      vm: new VmRuntime({ config, platform, images }),
      docker: new DockerRuntime({ config: { ...config, dockerAdditionalMounts: [], dockerHostMountPath: undefined, dockerAddHostGateway: false } }),
      nextJobId: 9000,
    };

    // 3 first: the cache is empty, so this job converts the image; every later one finds it cached.
    const first = await oneJob(bench, bench.vm);
    const probe: StepImageLease = await images.acquire(BUSYBOX_IMAGE, undefined, never);
    probe.release();
    if (probe.source !== 'cache') throw new Error(`expected ${BUSYBOX_IMAGE} cached after the first job, got ${probe.source}`);

    const start = await vmStart(bench);
    printTable(
      `1. VM start, ${platform.accel.toUpperCase()}, 1 vCPU, ${MEMORY_MIB} MiB, ms; ${START_SAMPLES} rounds alternated after 1 warm-up; target with KVM: ready ≤ ${TARGET_READY_MS} at p50`,
      ['run', 'n', 'p50', 'p90', 'max'],
      start.rows,
    );
    const job = await wholeJob(bench);
    printTable(`2. one-step \`echo hello\` job, image cached, alternated vm/docker after 1 warm-up pair, ms`, ['run', 'n', 'p50', 'p90', 'max'], job.rows);
    process.stdout.write(`vm job / docker job at p50: ${fmt(job.vmP50 / job.dockerP50, 2)}×\n`);
    printTable('3. first vm job on an empty image cache (once), ms', ['part', 'ms'], [
      ['whole job', fmt(first.totalMs)],
      ['  images: convert from the host docker store', fmt(first.imagesMs)],
      ['  disks', fmt(first.disksMs)],
      ['  QEMU spawned → agent READY', fmt(first.bootMs)],
      ['  step', fmt(first.stepMs)],
      ['  teardown', fmt(first.teardownMs)],
    ]);
    process.stdout.write(`setup.vm.images said: ${first.imagesLog}\n`);
    process.stdout.write(
      `${platform.accel === 'kvm' ? (start.readyP50 <= TARGET_READY_MS ? 'target met' : 'target missed') : 'target not measurable here (TCG)'}: guest ready p50 ${fmt(start.readyP50, 0)} ms, target ≤ ${TARGET_READY_MS} ms with KVM\n`,
    );
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
