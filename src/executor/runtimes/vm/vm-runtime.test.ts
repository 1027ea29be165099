// The vm runtime on real QEMU microvm guests under TCG (KVM guests hang on these machines; ARCHITECTURE.md),
// with step images converted from the real docker daemon's store: two steps in two images sharing /work,
// the images' ENV, a file read back out of the workspace disk, exit codes, output streamed while a step
// runs, the memory limit, no network but the uplink and no host files, an upload through the uplink (and
// the routes and credentials it refuses), cancel within 2 s, and nothing left behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
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
  const setUp = async (
    scripts: string[],
    stepImages: string[],
    options: { config?: Partial<VmRuntimeConfig>; signal?: AbortSignal; env?: string[]; token?: string; coordinatorUrl?: string } = {},
  ) => {
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
      env: [`STEP=${index}`, ...(options.env ?? [])],
    }));
    for (const [i, script] of scripts.entries()) await fs.writeFile(path.join(ws, steps[i]!.scriptPath), script, { mode: 0o755 });
    const log = recordingLogEntries();
    const runtime = new VmRuntime({ config: config(options.config), platform, images, coordinator: options.coordinatorUrl ? { url: options.coordinatorUrl } : undefined });
    const job = { id, queue: 'batches', token: options.token ?? '', dockerSteps: steps.map((s) => ({ image: s.image, commands: [], env: s.env })) } as unknown as DequeuedJob;
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
      // One network device: QEMU's restricted user network with one forward, to this job's uplink socket.
      const argv = start?.command ?? [];
      expect(argv.filter((a) => a === '-netdev' || a === '-nic')).toEqual(['-netdev']);
      expect(argv[argv.indexOf('-netdev') + 1]).toMatch(
        new RegExp(`^user,id=uplink,restrict=on,ipv6=off,net=10\\.0\\.2\\.0/24,guestfwd=tcp:10\\.0\\.2\\.100:80-cmd:socat -lf /dev/null STDIO UNIX-CONNECT:${parent}/${VM_RUN_DIR_PREFIX}\\d+-\\w+/uplink\\.sock$`),
      );
      expect(argv).toContain('virtio-net-device,netdev=uplink');
      expect(start?.out).toContain("network: only the uplink (10.0.2.100:80 in the guest → the executor's proxy for /.executors/scip/upload, /.executors/lsif/upload, /.executors/batches/results on the coordinator, with the job's token)");
      // No step sets SRC_ENDPOINT: nothing to say about it.
      expect(start?.out).not.toContain('uplink: SRC_ENDPOINT');

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

  it('runs the startup script first, and gives a step no network but the uplink and none of the host files', async () => {
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
          'echo "net: $(ls /sys/class/net | tr "\\n" " ")"',
          'echo "routes: $(ip route | tr "\\n" ";")"',
          // The host by every address the guest might know, the uplink's address on another port, slirp's
          // DNS, the metadata address, the internet: nothing answers.
          `for h in ${hostAddress}:${port} 10.0.2.2:${port} 10.0.2.100:${port} 10.0.2.3:53 127.0.0.1:${port} 169.254.169.254:80 1.1.1.1:80; do wget -q -T 2 -O - "http://$h/" && echo "REACHED $h"; done`,
          'nslookup example.com 10.0.2.3 >/dev/null 2>&1 && echo "REACHED dns"',
          // Root in the guest routing everything at slirp's gateway reaches nothing either (restrict=on).
          'ip route add default via 10.0.2.2 dev eth0 && echo "default route added"',
          `for h in ${hostAddress}:${port} 10.0.2.2:${port} 1.1.1.1:80; do wget -q -T 2 -O - "http://$h/" && echo "REACHED $h"; done`,
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
      // Loopback and the uplink's device, routed to its own /24 only.
      expect(out.out.stdout.split('\n')[1]).toBe('net: eth0 lo ');
      expect(out.out.stdout.split('\n')[2]).toBe('routes: 10.0.2.0/24 dev eth0 scope link  src 10.0.2.15 ;');
      expect(out.out.stdout).toContain('default route added');
      expect(out.out.stdout).not.toContain('REACHED');
      expect(out.out.stdout).toContain('no host file');
      expect(out.out.stdout).toContain('dev: fd full null pts random shm stderr stdin stdout tty urandom zero \ncrw-rw-rw-\n');
      expect(connections).toBe(0);
    } finally {
      await runtimeJob.teardown();
      server.close();
    }
  }, 120_000);

  it("uploads through the uplink to the coordinator's route with the job's token; refuses other routes and credentials; the socket ends with the job", async () => {
    const token = 'f'.repeat(40);
    const seen: Array<{ method: string; url: string; authorization?: string; jobId?: string; body: string }> = [];
    const coordinator = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, jobId: req.headers['x-sourcegraph-job-id'] as string, body });
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"42"}');
      });
    });
    await new Promise<void>((resolve) => coordinator.listen(0, '127.0.0.1', resolve));
    const coordinatorUrl = `http://127.0.0.1:${(coordinator.address() as net.AddressInfo).port}`;
    const request = (route: string, auth: string) =>
      `printf 'POST ${route} HTTP/1.1\\r\\nHost: 10.0.2.100\\r\\nAuthorization: %s\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' "${auth}" | nc 10.0.2.100 80 | head -n 1`;
    const { id, steps, runtimeJob, log } = await setUp(
      [
        [
          'echo "endpoint=$SRC_ENDPOINT proxy=${SRC_PROXY:-unset}"',
          'wget -q -O - --header "Authorization: $SRC_HEADER_AUTHORIZATION" --post-data "index-bytes" "$SRC_ENDPOINT/.executors/scip/upload?repository=github.com/acme/x&commit=abc"; echo " upload=$?"',
          // A route of the executor API, the git proxy's, and the upload route with other credentials.
          request('/.executors/queue/batches/dequeue', '$SRC_HEADER_AUTHORIZATION'),
          request('/.executors/git/github.com/acme/x/info/refs', '$SRC_HEADER_AUTHORIZATION'),
          request('/.executors/scip/upload', 'Bearer stolen-token'),
          request('/.executors/scip/upload', 'token-executor the-shared-password'),
          'printf "GET /.executors/queue/batches/dequeue HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n" | nc 10.0.2.100 80 | tail -n 1',
        ].join('\n') + '\n',
      ],
      [BUSYBOX_IMAGE],
      {
        token,
        coordinatorUrl,
        env: ['SRC_ENDPOINT=http://coordinator.example.com:3080', 'SRC_PROXY=/run/host-only.sock', `SRC_HEADER_AUTHORIZATION=Bearer ${token}`],
        // Kept, so that the run directory can be looked at after teardown.
        config: { keepWorkspaces: true },
      },
    );
    const [runDir] = await runDirs();
    try {
      expect(log.find('setup.vm.start')?.out).toContain(
        "stdout: uplink: SRC_ENDPOINT → executor proxy to the coordinator's upload routes (http://10.0.2.100 in the guest, SRC_PROXY dropped) for step 0\n",
      );
      expect((await fs.stat(path.join(parent, runDir!, 'uplink.sock'))).isSocket()).toBe(true);
      const out = collect();
      expect((await runtimeJob.runStep(steps[0]!, out.write, never)).exitCode).toBe(0);
      const lines = out.out.stdout.split('\n');
      expect(lines[0]).toBe('endpoint=http://10.0.2.100 proxy=unset');
      expect(lines[1]).toBe('{"id":"42"} upload=0');
      expect(lines.slice(2, 6)).toEqual(Array(4).fill('HTTP/1.1 403 Forbidden\r'));
      expect(lines[6]).toBe('executor uplink: GET /.executors/queue/batches/dequeue is not forwarded: a vm job reaches only POST and HEAD of /.executors/scip/upload, /.executors/lsif/upload, /.executors/batches/results on the coordinator');
      // Only the upload, with the job's token and id, reached the coordinator.
      expect(seen).toEqual([{ method: 'POST', url: '/.executors/scip/upload?repository=github.com/acme/x&commit=abc', authorization: `Bearer ${token}`, jobId: String(id), body: 'index-bytes' }]);
    } finally {
      await runtimeJob.teardown();
      coordinator.close();
    }
    expect(log.find('teardown.vm')?.out).toContain('uplink closed (1 request forwarded to the coordinator, 5 refused)');
    // The disks are kept (EXECUTOR_KEEP_WORKSPACES); the uplink's socket is gone, and no socat of it is left.
    await expect(fs.stat(path.join(parent, runDir!, 'uplink.sock'))).rejects.toMatchObject({ code: 'ENOENT' });
    await fs.access(path.join(parent, runDir!, 'workspace.ext4'));
    const socatOf = async () => {
      const found: string[] = [];
      for (const pid of (await fs.readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
        const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.startsWith('socat\0') && cmdline.includes(runDir!)) found.push(pid);
      }
      return found;
    };
    for (let i = 0; i < 50 && (await socatOf()).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await socatOf()).toEqual([]);
    await fs.rm(path.join(parent, runDir!), { recursive: true, force: true });
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
