// The vm runtime's guests from a snapshot and from the warm pool, on real QEMU microvm guests under TCG
// (KVM guests hang on these machines; ARCHITECTURE.md), with step images from the real docker daemon: a
// two-step job in two images from the pool and from the snapshot, two restored guests that must not share
// random numbers, a snapshot that does not restore (cold boot, then rebuilt), the pool destroyed on stop,
// a canceled or timed-out pooled guest's QEMU gone, and restored and pooled guests uploading through
// their uplinks (a guest restored ahead of its job reaches its job's proxy).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DequeuedJob } from '../../client/coordinator-client.js';
import { currentProcessOwner } from '../../process-owner.js';
import { silentLogger } from '../../../shared/logger.js';
import type { RuntimeJob, StepSpec } from '../runtime.js';
import { resolveGuestPlatform, type GuestPlatform } from './guest/guest-platform.js';
import { MAX_IMAGE_DISKS } from './agent/agent-vm.js';
import { StepImageCache } from './images/step-image-cache.js';
import { shapeOf, SnapshotStore, type GuestSnapshot } from './snapshot/guest-snapshot.js';
import { DEFAULT_IMAGE_SLOTS } from './snapshot/guest-starter.js';
import { VM_RUN_DIR_PREFIX } from './vm-janitor.js';
import { VmRuntime, type VmRuntimeConfig } from './vm-runtime.js';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage } from '../../../../test/helpers/docker.js';
import { recordingLogEntries } from '../../../../test/helpers/runtime-log.js';
import { qemuProcessesWith } from '../../../../test/helpers/qemu-processes.js';

const never = new AbortController().signal;
const ENV_IMAGE = 'executors-test/busybox-vm-env:1';

async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker (the images come from it), never in CI.
describe.skipIf(!dockerTestsEnabled())('vm runtime from a snapshot and a warm pool (QEMU microvm, TCG)', () => {
  let parent: string;
  let cacheDir: string;
  let platform: GuestPlatform;
  let images: StepImageCache;
  let pooled: VmRuntime;
  let snapshot: GuestSnapshot;
  let nextJobId = 8000;
  const runtimes: VmRuntime[] = [];
  /** Stands in for the coordinator behind every runtime's uplink: records what reaches it. */
  let coordinator: http.Server;
  let coordinatorUrl: string;
  const uploads: Array<{ url: string; authorization?: string; jobId?: string; body: string }> = [];

  const config = (extra: Partial<VmRuntimeConfig> = {}): VmRuntimeConfig => ({
    name: 'vm-snapshot-test-executor',
    vmPrefix: 'executor-test',
    jobNumCpus: 1,
    jobMemoryText: '256m',
    vmDiskSpaceBytes: 1024 ** 3,
    workspaceParentDir: parent,
    dockerAuthConfig: undefined,
    vmStartupScriptPath: undefined,
    keepWorkspaces: false,
    vmCacheDir: cacheDir,
    vmSnapshots: true,
    vmWarmPoolSize: 0,
    vmWarmPoolIdleTimeoutMs: 0,
    ...extra,
  });
  const newRuntime = (extra: Partial<VmRuntimeConfig> = {}) => {
    const runtime = new VmRuntime({ config: config(extra), platform, images, coordinator: { url: coordinatorUrl } });
    runtimes.push(runtime);
    return runtime;
  };
  /** A second look at the cache directory, as another process would have. */
  const store = () =>
    new SnapshotStore({ dir: path.join(cacheDir, 'snapshots'), runParentDir: parent, owner: currentProcessOwner(), activeRunDirs: new Set(), logger: silentLogger, bootTimeoutMs: 90_000 });
  const shape = () => shapeOf(platform, 256, 1, DEFAULT_IMAGE_SLOTS);

  beforeAll(async () => {
    await ensureBusyboxImage();
    await ensureBusyboxImage(ENV_IMAGE, ['PATH=/opt/tools:/bin', 'GREETING=from-the-image']);
    parent = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'vm-snapshots-')));
    cacheDir = path.join(parent, 'cache');
    platform = await resolveGuestPlatform({ cacheDir, allowEmulation: true, kvmWorks: false });
    images = new StepImageCache({ dir: path.join(cacheDir, 'images'), maxBytes: 1024 ** 3, logger: silentLogger });
    coordinator = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        uploads.push({ url: req.url!, authorization: req.headers.authorization, jobId: req.headers['x-sourcegraph-job-id'] as string, body });
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"7"}');
      });
    });
    await new Promise<void>((resolve) => coordinator.listen(0, '127.0.0.1', resolve));
    coordinatorUrl = `http://127.0.0.1:${(coordinator.address() as AddressInfo).port}`;
    pooled = newRuntime({ vmWarmPoolSize: 1 });
    pooled.start();
    snapshot = await eventually('the snapshot', async () => {
      const status = await store().describe(shape());
      return status.state === 'ready' && status.snapshot;
    });
  }, 300_000);
  afterAll(async () => {
    await Promise.all(runtimes.map((r) => r.stop()));
    coordinator?.close();
    if (parent) await fs.rm(parent, { recursive: true, force: true });
  });

  /** A workspace with one script per step, and the job's guest set up. */
  const setUp = async (runtime: VmRuntime, scripts: string[], stepImages: string[], signal = never, extra: { env?: string[]; token?: string } = {}) => {
    const id = ++nextJobId;
    const ws = await fs.mkdtemp(path.join(parent, `workspace-${id}-`));
    await fs.mkdir(path.join(ws, '.sourcegraph-executor'));
    await fs.writeFile(path.join(ws, 'from-host.txt'), 'cloned on the host\n');
    const steps: StepSpec[] = scripts.map((script, index) => ({
      key: `step.docker.${index}`,
      index,
      image: stepImages[index]!,
      scriptPath: `.sourcegraph-executor/${index}.sh`,
      dir: '',
      env: [`STEP=${index}`, ...(extra.env ?? [])],
    }));
    for (const [i, script] of scripts.entries()) await fs.writeFile(path.join(ws, steps[i]!.scriptPath), script, { mode: 0o755 });
    const log = recordingLogEntries();
    const job = { id, queue: 'batches', token: extra.token ?? '', dockerSteps: steps.map((s) => ({ image: s.image, commands: [], env: s.env })) } as unknown as DequeuedJob;
    const runtimeJob = await runtime.setup({
      job,
      workspace: { path: ws, scriptPaths: steps.map((s) => s.scriptPath), remove: () => Promise.resolve() },
      logger: silentLogger,
      signal,
      openLogEntry: log.openLogEntry,
    });
    return { id, steps, runtimeJob, log };
  };

  const run = async (runtimeJob: RuntimeJob, step: StepSpec, signal = never) => {
    const out = { stdout: '', stderr: '' };
    const { exitCode } = await runtimeJob.runStep(step, (stream, chunk) => (out[stream] += chunk.toString()), signal);
    return { exitCode, ...out };
  };

  /** The two-step, two-image job of vm-runtime.test.ts: /work shared, image ENV, exit codes, a file read back. */
  const twoStepJob = async (runtime: VmRuntime) => {
    const job = await setUp(
      runtime,
      [
        'cat /work/from-host.txt; echo "$GREETING" >&2; echo "written by step 0" > /work/result.txt; exit 0\n',
        'cat /work/result.txt; echo "PATH=$PATH GREETING=$GREETING STEP=$STEP"; exit 7\n',
      ],
      [ENV_IMAGE, BUSYBOX_IMAGE],
    );
    try {
      expect(await run(job.runtimeJob, job.steps[0]!)).toEqual({ exitCode: 0, stdout: 'cloned on the host\n', stderr: 'from-the-image\n' });
      const second = await run(job.runtimeJob, job.steps[1]!);
      expect(second.exitCode).toBe(7);
      expect(second.stdout).toBe('written by step 0\nPATH=/bin GREETING= STEP=1\n');
      expect((await job.runtimeJob.readWorkspaceFile!('result.txt')).toString()).toBe('written by step 0\n');
    } finally {
      await job.runtimeJob.teardown();
    }
    return job.log;
  };

  it('runs a two-step job in two images on a guest from the warm pool', async () => {
    await eventually('a pooled guest', async () => pooled.warmPoolReady > 0);
    const log = await twoStepJob(pooled);
    const start = log.find('setup.vm.start')!;
    expect(start.exitCode).toBe(0);
    expect(start.out).toMatch(new RegExp(`from the warm pool: guest executor-test-pool-[0-9a-f]{8}, restored from snapshot ${snapshot.digest.slice(0, 16)} [\\d.]+ s ago; ready in \\d+ ms`));
    expect(start.command).toEqual(expect.arrayContaining(['-incoming', 'defer']));
    expect(log.find('teardown.vm')?.out).toContain('VM powered off');
  }, 240_000);

  it('runs the same job on a guest restored from the snapshot with the job\'s disks when there is no pool', async () => {
    const log = await twoStepJob(newRuntime());
    const start = log.find('setup.vm.start')!;
    expect(start.out).toMatch(new RegExp(`restored from snapshot ${snapshot.digest.slice(0, 16)} in \\d+ ms \\(state loaded in \\d+ ms, resumed in \\d+ ms\\)`));
    expect(start.out).not.toContain('cold boot');
    // QEMU opened the job's own disks at restore: its workspace disk is in the job's run directory.
    expect(start.command.join(' ')).toMatch(new RegExp(`${parent}/${VM_RUN_DIR_PREFIX}\\d+-[^/]+/workspace\\.ext4`));
  }, 240_000);

  it("uploads through the uplink from a guest of the warm pool and from one restored from the snapshot, each with its job's token", async () => {
    /** A one-step job that POSTs to the upload route through the uplink; resolves with its start log and output. */
    const uploadJob = async (runtime: VmRuntime) => {
      const token = randomBytes(20).toString('hex');
      const job = await setUp(
        runtime,
        ['wget -q -O - --header "Authorization: $SRC_HEADER_AUTHORIZATION" --post-data "index of $STEP" "$SRC_ENDPOINT/.executors/lsif/upload?commit=abc"; echo " upload=$?"\n'],
        [BUSYBOX_IMAGE],
        never,
        { token, env: ['SRC_ENDPOINT=http://unreachable.example.com', `SRC_HEADER_AUTHORIZATION=Bearer ${token}`] },
      );
      try {
        return { id: job.id, token, start: job.log.find('setup.vm.start')?.out ?? '', output: await run(job.runtimeJob, job.steps[0]!) };
      } finally {
        await job.runtimeJob.teardown();
      }
    };
    uploads.length = 0;
    await eventually('a pooled guest', async () => pooled.warmPoolReady > 0);
    const fromPool = await uploadJob(pooled);
    expect(fromPool.start).toContain('from the warm pool: guest executor-test-pool-');
    const restored = await uploadJob(newRuntime());
    expect(restored.start).toContain(`restored from snapshot ${snapshot.digest.slice(0, 16)}`);
    for (const job of [fromPool, restored]) {
      expect(job.start).toContain("uplink: SRC_ENDPOINT → executor proxy to the coordinator's upload routes");
      expect(job.output).toEqual({ exitCode: 0, stdout: '{"id":"7"} upload=0\n', stderr: '' });
    }
    expect(uploads).toEqual([fromPool, restored].map((job) => ({ url: '/.executors/lsif/upload?commit=abc', authorization: `Bearer ${job.token}`, jobId: String(job.id), body: 'index of 0' })));
  }, 240_000);

  it('gives two guests restored from one snapshot their own random numbers and boot id, the host\'s clock and their own hostname', async () => {
    // A guest that kept the snapshot's clock would be this far behind.
    await eventually('the snapshot to be 15 s old', async () => Date.now() - Date.parse(snapshot.createdAt) > 15_000, 30_000);
    const runtime = newRuntime();
    const probe = 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"; echo; cat /proc/sys/kernel/random/uuid /proc/sys/kernel/random/boot_id; date +%s; hostname\n';
    const a = await setUp(runtime, [probe], [BUSYBOX_IMAGE]);
    const b = await setUp(runtime, [probe], [BUSYBOX_IMAGE]);
    try {
      for (const job of [a, b]) expect(job.log.find('setup.vm.start')?.out).toContain(`restored from snapshot ${snapshot.digest.slice(0, 16)}`);
      const [outA, outB] = [await run(a.runtimeJob, a.steps[0]!), await run(b.runtimeJob, b.steps[0]!)];
      const [randomA, uuidA, bootA, dateA, hostA] = outA.stdout.trim().split('\n');
      const [randomB, uuidB, bootB, dateB, hostB] = outB.stdout.trim().split('\n');
      expect(randomA).toMatch(/^[0-9a-f]{64}$/);
      expect(randomA).not.toBe(randomB);
      expect(uuidA).not.toBe(uuidB);
      expect(bootA).not.toBe(bootB);
      for (const date of [dateA, dateB]) expect(Math.abs(Number(date) - Date.now() / 1000)).toBeLessThan(5);
      expect(hostA).toBe(a.runtimeJob.commandFor(a.steps[0]!)[1]);
      expect(hostB).toBe(b.runtimeJob.commandFor(b.steps[0]!)[1]);
    } finally {
      await Promise.all([a.runtimeJob.teardown(), b.runtimeJob.teardown()]);
    }
  }, 240_000);

  it('leaves no QEMU behind when a pooled guest\'s job is canceled, or times out, during a step', async () => {
    for (const reason of ['canceled', 'timeout']) {
      await eventually('a pooled guest', async () => pooled.warmPoolReady > 0);
      const job = await setUp(pooled, ['echo started; sleep 600\n'], [BUSYBOX_IMAGE]);
      const guest = /from the warm pool: guest (executor-test-pool-[0-9a-f]{8})/.exec(job.log.find('setup.vm.start')?.out ?? '')?.[1];
      expect(guest).toBeDefined();
      expect(await qemuProcessesWith(guest!)).toHaveLength(1);
      const controller = new AbortController();
      const running = job.runtimeJob.runStep(job.steps[0]!, (_stream, chunk) => {
        if (chunk.toString().includes('started')) controller.abort(reason);
      }, controller.signal);
      await expect(running).rejects.toBe(reason);
      expect(await qemuProcessesWith(guest!)).toEqual([]);
      await job.runtimeJob.teardown();
      expect(await qemuProcessesWith(guest!)).toEqual([]);
    }
  }, 240_000);

  it('boots the guest when the snapshot does not restore, says why, and rebuilds the snapshot', async () => {
    // A state file QEMU cannot load, whose checksum matches (as a snapshot left by a different QEMU build would be).
    const garbage = Buffer.from('not a migration stream\n'.repeat(100));
    await fs.writeFile(snapshot.statePath, garbage);
    const metaPath = path.join(snapshot.dir, 'meta.json');
    const meta = JSON.parse(await fs.readFile(metaPath, 'utf8')) as { stateSha256: string; createdAt: string };
    const { createHash } = await import('node:crypto');
    meta.stateSha256 = createHash('sha256').update(garbage).digest('hex');
    await fs.writeFile(metaPath, JSON.stringify(meta));

    const runtime = newRuntime();
    const job = await setUp(runtime, ['echo still runs\n'], [BUSYBOX_IMAGE]);
    try {
      const start = job.log.find('setup.vm.start')!;
      expect(start.exitCode).toBe(0);
      expect(start.out).toContain(`stderr: the snapshot ${snapshot.digest.slice(0, 16)} failed to restore (`);
      expect(start.out).toMatch(/stdout: cold boot in \d+ ms \(QEMU started → agent ready\): the snapshot [0-9a-f]{16} failed to restore/);
      expect(await run(job.runtimeJob, job.steps[0]!)).toEqual({ exitCode: 0, stdout: 'still runs\n', stderr: '' });
    } finally {
      await job.runtimeJob.teardown();
    }
    const rebuilt = await eventually('the snapshot to be rebuilt', async () => {
      const status = await store().describe(shape());
      return status.state === 'ready' && status.snapshot.createdAt !== meta.createdAt && status.snapshot;
    });
    expect(rebuilt.digest).toBe(snapshot.digest);
    snapshot = rebuilt;
    // And the next job restores from it again.
    const next = await setUp(runtime, ['true\n'], [BUSYBOX_IMAGE]);
    await next.runtimeJob.teardown();
    expect(next.log.find('setup.vm.start')?.out).toContain(`restored from snapshot ${snapshot.digest.slice(0, 16)}`);
  }, 300_000);

  it(`starts a job with more images than a pooled guest has slots from a snapshot with ${MAX_IMAGE_DISKS} image slots, built for it meanwhile`, async () => {
    const slotImages = await Promise.all([0, 1, 2, 3, 4].map((i) => ensureBusyboxImage(`executors-test/busybox-vm-slot-${i}:1`, [`SLOT=${i}`])));
    const scripts = slotImages.map(() => 'echo "slot $SLOT"\n');
    const runSteps = async (job: Awaited<ReturnType<typeof setUp>>) => {
      try {
        for (const [i, step] of job.steps.entries()) expect(await run(job.runtimeJob, step)).toEqual({ exitCode: 0, stdout: `slot ${i}\n`, stderr: '' });
      } finally {
        await job.runtimeJob.teardown();
      }
    };
    const first = await setUp(pooled, scripts, slotImages);
    await runSteps(first);
    const wide = shapeOf(platform, 256, 1, MAX_IMAGE_DISKS);
    expect(first.log.find('setup.vm.start')?.out).toMatch(/cold boot in \d+ ms \(QEMU started → agent ready\): no snapshot yet for this guest shape \([0-9a-f]{16}\); it is being built/);
    const snapshotWide = await eventually('the wide snapshot', async () => {
      const status = await store().describe(wide);
      return status.state === 'ready' && status.snapshot;
    });
    expect(snapshotWide.digest).not.toBe(snapshot.digest);
    const second = await setUp(pooled, scripts, slotImages);
    expect(second.log.find('setup.vm.start')?.out).toContain(`restored from snapshot ${snapshotWide.digest.slice(0, 16)}`);
    expect(second.log.find('setup.vm.start')?.out).toContain("the job uses 5 images, more than a pooled guest's 4 image slots");
    await runSteps(second);
  }, 300_000);

  it('destroys its pooled guests, their QEMU and their run directories, when it stops', async () => {
    const runtime = newRuntime({ vmWarmPoolSize: 2, vmPrefix: 'executor-stop-test' });
    runtime.start();
    await eventually('two pooled guests', async () => runtime.warmPoolReady === 2);
    const pids = await qemuProcessesWith('executor-stop-test-pool-');
    expect(pids).toHaveLength(2);
    // Each QEMU's run directory, from its -pidfile argument.
    const dirs = await Promise.all(pids.map(async (pid) => path.dirname((await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').find((a) => a.endsWith('/qemu.pid'))!)));
    for (const dir of dirs) expect(path.basename(dir)).toMatch(new RegExp(`^${VM_RUN_DIR_PREFIX}pool-`));
    await runtime.stop();
    for (const pid of pids) expect(await isAlive(pid)).toBe(false);
    for (const dir of dirs) await expect(fs.access(dir)).rejects.toThrow();
    expect(runtime.warmPoolReady).toBe(0);
    // A stopped pool hands out nothing: a job now restores its own guest.
    const job = await setUp(runtime, ['true\n'], [BUSYBOX_IMAGE]);
    await job.runtimeJob.teardown();
    expect(job.log.find('setup.vm.start')?.out).toContain('restored from snapshot');
  }, 240_000);
});

/** A zombie (exited, not yet reaped) counts as gone. */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
