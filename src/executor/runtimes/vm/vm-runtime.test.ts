// The vm runtime on real QEMU microvm guests under TCG (KVM guests hang on these machines; ARCHITECTURE.md),
// with step images converted from the real docker daemon's store: two steps in two images sharing /work,
// the images' ENV, a file read back out of the workspace disk, exit codes, output streamed while a step
// runs, the memory limit, no network and no host files, cancel within 2 s, and nothing left behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DequeuedJob } from '../../client/coordinator-client.js';
import { silentLogger } from '../../../shared/logger.js';
import type { StepSpec } from '../runtime.js';
import { resolveGuestPlatform, type GuestPlatform } from './guest/guest-platform.js';
import { StepImageCache } from './images/step-image-cache.js';
import { VM_RUN_DIR_PREFIX } from './vm-janitor.js';
import { VmRuntime, type VmRuntimeConfig } from './vm-runtime.js';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage } from '../../../../test/helpers/docker.js';
import { recordingLogEntries } from '../../../../test/helpers/runtime-log.js';
import { qemuProcessesWith } from '../../../../test/helpers/qemu-processes.js';

const never = new AbortController().signal;
/** A second image: the same busybox with its own ENV, so a step can tell which image it runs in. */
const ENV_IMAGE = 'executors-test/busybox-vm-env:1';

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker (the images come from it), never in CI.
describe.skipIf(!dockerTestsEnabled())('vm runtime (QEMU microvm, TCG)', () => {
  let parent: string;
  let cacheDir: string;
  let platform: GuestPlatform;
  let images: StepImageCache;
  let nextJobId = 7000;

  beforeAll(async () => {
    await ensureBusyboxImage();
    await ensureBusyboxImage(ENV_IMAGE, ['PATH=/opt/tools:/bin', 'GREETING=from-the-image']);
    parent = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'vm-runtime-')));
    cacheDir = path.join(parent, 'cache');
    platform = await resolveGuestPlatform({ cacheDir, allowEmulation: true, kvmWorks: false });
    images = new StepImageCache({ dir: path.join(cacheDir, 'images'), maxBytes: 1024 ** 3, logger: silentLogger });
  }, 120_000);
  afterAll(async () => {
    if (parent) await fs.rm(parent, { recursive: true, force: true });
  });

  const config = (extra: Partial<VmRuntimeConfig> = {}): VmRuntimeConfig => ({
    name: 'vm-test-executor',
    vmPrefix: 'executor-test',
    jobNumCpus: 1,
    jobMemoryText: '256m',
    vmDiskSpaceBytes: 1024 ** 3,
    workspaceParentDir: parent,
    dockerAuthConfig: undefined,
    vmStartupScriptPath: undefined,
    keepWorkspaces: false,
    vmCacheDir: cacheDir,
    vmSnapshots: false,
    vmWarmPoolSize: 0,
    vmWarmPoolIdleTimeoutMs: 0,
    ...extra,
  });

  /** A workspace with one script per step, and the job's VM booted. */
  const setUp = async (scripts: string[], stepImages: string[], options: { config?: Partial<VmRuntimeConfig>; signal?: AbortSignal } = {}) => {
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
      env: [`STEP=${index}`],
    }));
    for (const [i, script] of scripts.entries()) await fs.writeFile(path.join(ws, steps[i]!.scriptPath), script, { mode: 0o755 });
    const log = recordingLogEntries();
    const runtime = new VmRuntime({ config: config(options.config), platform, images });
    const job = { id, queue: 'batches', dockerSteps: steps.map((s) => ({ image: s.image, commands: [] })) } as unknown as DequeuedJob;
    const runtimeJob = await runtime.setup({
      job,
      workspace: { path: ws, scriptPaths: steps.map((s) => s.scriptPath), remove: () => Promise.resolve() },
      logger: silentLogger,
      signal: options.signal ?? never,
      openLogEntry: log.openLogEntry,
    });
    return { id, ws, steps, runtime, runtimeJob, log };
  };

  const collect = () => {
    const out = { stdout: '', stderr: '', arrivals: [] as Array<{ at: number; text: string }> };
    const startedAt = performance.now();
    return {
      out,
      write: (stream: 'stdout' | 'stderr', chunk: Buffer) => {
        out[stream] += chunk.toString();
        out.arrivals.push({ at: performance.now() - startedAt, text: chunk.toString() });
      },
    };
  };

  const runDirs = async () => (await fs.readdir(parent)).filter((n) => n.startsWith(VM_RUN_DIR_PREFIX));

  it('runs two steps in two images in one VM: /work shared, ENV applied, output streamed, a file read back', async () => {
    const { steps, runtimeJob, log } = await setUp(
      [
        'cat /work/from-host.txt; echo "$GREETING" >&2; echo "written by step 0" > /work/result.txt; mkdir -p /work/out; echo index > /data/out/index.scip; exit 0\n',
        'cat /work/result.txt; echo "PATH=$PATH GREETING=$GREETING STEP=$STEP HOME=$HOME"; for i in 1 2 3; do echo tick$i; sleep 0.4; done; touch /etc/in-image-layer; exit 7\n',
      ],
      [ENV_IMAGE, BUSYBOX_IMAGE],
    );
    try {
      expect(log.find('setup.vm.images')?.out).toMatch(new RegExp(`${ENV_IMAGE}: sha256:[0-9a-f]{64}`));
      const start = log.find('setup.vm.start');
      expect(start?.exitCode).toBe(0);
      expect(start?.out).toMatch(/cold boot in \d+ ms \(QEMU started → agent ready\): snapshots are off \(EXECUTOR_VM_SNAPSHOTS=false\)/);
      expect(start?.command).toEqual(expect.arrayContaining(['-M', 'microvm', '-accel', 'tcg']));
      // No network device of any kind is given to the guest.
      expect(start?.command.join(' ')).not.toMatch(/-netdev|-nic|virtio-net/);

      const first = collect();
      expect((await runtimeJob.runStep(steps[0]!, first.write, never)).exitCode).toBe(0);
      expect(first.out.stdout).toBe('cloned on the host\n');
      expect(first.out.stderr).toBe('from-the-image\n');

      const second = collect();
      expect((await runtimeJob.runStep(steps[1]!, second.write, never)).exitCode).toBe(7);
      expect(second.out.stdout).toContain('written by step 0\n');
      // The image's PATH replaces docker's default; the step's env comes on top; HOME as docker sets it.
      expect(second.out.stdout).toContain('PATH=/bin GREETING= STEP=1 HOME=/root');
      expect(second.out.stdout).toContain('tick1\ntick2\ntick3\n');
      // Streamed while the step ran: tick1 arrived well before tick3.
      const tick = (n: number) => second.out.arrivals.find((a) => a.text.includes(`tick${n}`))!.at;
      expect(tick(3) - tick(1)).toBeGreaterThan(500);

      expect((await runtimeJob.readWorkspaceFile!('out/index.scip')).toString()).toBe('index\n');
      expect((await runtimeJob.readWorkspaceFile!('result.txt')).toString()).toBe('written by step 0\n');
    } finally {
      await runtimeJob.teardown();
    }
    expect(log.find('teardown.vm')?.out).toContain('VM powered off');
    expect(await runDirs()).toEqual([]);
  }, 120_000);

  it('fails a step that allocates more than the job memory, and the VM runs the next step', async () => {
    const { steps, runtimeJob } = await setUp(
      // A string doubled until it is 1 GiB: the guest's 192 MiB run out around 128 MiB.
      ["awk 'BEGIN { s = \"x\"; for (i = 0; i < 30; i++) s = s s; print \"allocated\", length(s) }'\n", 'echo still-alive\n'],
      [BUSYBOX_IMAGE, BUSYBOX_IMAGE],
      { config: { jobMemoryText: '192m' } },
    );
    try {
      const oom = collect();
      const { exitCode } = await runtimeJob.runStep(steps[0]!, oom.write, never);
      expect(exitCode).not.toBe(0);
      expect(oom.out.stdout).not.toContain('allocated');
      const next = collect();
      expect((await runtimeJob.runStep(steps[1]!, next.write, never)).exitCode).toBe(0);
      expect(next.out.stdout).toBe('still-alive\n');
    } finally {
      await runtimeJob.teardown();
    }
  }, 120_000);

  it('runs the startup script first, and gives a step no network and none of the host files', async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.end('host says hi\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const hostAddress = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address ?? '10.0.2.2';
    const secret = path.join(parent, `host-only-${process.pid}.txt`);
    await fs.writeFile(secret, 'host secret\n');
    // EXECUTOR_VM_STARTUP_SCRIPT_PATH runs in the guest before the steps.
    const startupScript = path.join(parent, 'startup.sh');
    await fs.writeFile(startupScript, 'echo hello-from-startup; echo ran > /work/startup.txt\n');
    const { steps, runtimeJob, log } = await setUp(
      [
        [
          'cat /work/startup.txt',
          'ls /sys/class/net',
          `for h in ${hostAddress} 10.0.2.2 127.0.0.1 169.254.169.254; do wget -q -T 2 -O - "http://$h:${port}/" && echo "REACHED $h"; done`,
          `cat ${secret} || echo "no host file"`,
          // A container's /dev: none of the guest's disks, and null a character device anyone may write.
          'echo "dev: $(ls -A /dev | tr "\\n" " ")"; [ -c /dev/null ] && echo written >/dev/null && ls -l /dev/null | cut -c1-10',
          'exit 0',
        ].join('\n') + '\n',
      ],
      [BUSYBOX_IMAGE],
      { config: { vmStartupScriptPath: startupScript } },
    );
    try {
      expect(log.find('setup.startup-script')).toMatchObject({ exitCode: 0, out: 'stdout: hello-from-startup\n' });
      const out = collect();
      expect((await runtimeJob.runStep(steps[0]!, out.write, never)).exitCode).toBe(0);
      expect(out.out.stdout.split('\n')[0]).toBe('ran');
      // Only the loopback interface exists in the guest.
      expect(out.out.stdout.split('\n')[1]).toBe('lo');
      expect(out.out.stdout).not.toContain('REACHED');
      expect(out.out.stdout).toContain('no host file');
      expect(out.out.stdout).toContain('dev: fd full null pts random shm stderr stdin stdout tty urandom zero \ncrw-rw-rw-\n');
      expect(connections).toBe(0);
    } finally {
      await runtimeJob.teardown();
      server.close();
    }
  }, 120_000);

  it('stops the VM within 2 s of a cancel during a step, and teardown leaves no QEMU and no disks', async () => {
    const { id, steps, runtimeJob } = await setUp(['echo started; sleep 600\n'], [BUSYBOX_IMAGE]);
    const controller = new AbortController();
    const out = collect();
    const running = runtimeJob.runStep(steps[0]!, (stream, chunk) => {
      out.write(stream, chunk);
      if (chunk.toString().includes('started')) controller.abort('canceled');
    }, controller.signal);
    const abortedAt = await new Promise<number>((resolve) => controller.signal.addEventListener('abort', () => resolve(performance.now())));
    await expect(running).rejects.toBe('canceled');
    expect(performance.now() - abortedAt).toBeLessThan(2_000);
    expect(await qemuProcessesWith(`${parent}/${VM_RUN_DIR_PREFIX}${id}-`)).toEqual([]);
    await runtimeJob.teardown();
    expect(await runDirs()).toEqual([]);
  }, 120_000);

  it('removes the VM and disks of a dead executor process, and leaves a live job alone', async () => {
    // A run directory as a killed executor leaves it: an owner that is gone, a QEMU-like process still running.
    const orphanDir = await fs.mkdtemp(path.join(parent, `${VM_RUN_DIR_PREFIX}9-`));
    await fs.writeFile(path.join(orphanDir, '.executor-owner'), JSON.stringify({ pid: 2 ** 22 - 1, startedAt: 1, executorName: 'gone' }));
    await fs.writeFile(path.join(orphanDir, 'workspace.ext4'), '');
    // Stands in for its QEMU: the janitor knows a VM's process by the run directory in its command line.
    const orphan = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300000)', path.join(orphanDir, 'workspace.ext4')], { stdio: 'ignore' });
    await fs.writeFile(path.join(orphanDir, 'qemu.pid'), `${orphan.pid}\n`);
    const orphanExited = new Promise((resolve) => orphan.once('exit', resolve));

    const { runtime, runtimeJob } = await setUp(['true\n'], [BUSYBOX_IMAGE]);
    try {
      expect(await runtime.removeLeftovers(silentLogger)).toBe(1);
      expect(await runDirs()).toHaveLength(1); // the live job's
      await expect(fs.access(orphanDir)).rejects.toThrow();
      await orphanExited;
    } finally {
      orphan.kill('SIGKILL');
      await runtimeJob.teardown();
    }
    expect(await runDirs()).toEqual([]);
  }, 120_000);
});
