// `executor validate` (reference §6.3): checks the configuration, git, what the runtime needs and the
// coordinator's answer to the password, one line per check, and says what to do about each failure.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { AppError, ConfigError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { CoordinatorNotCoordinatorError, CoordinatorPlainHttpError, CoordinatorRetryableError, CoordinatorTlsError, CoordinatorUnauthorizedError } from './client/client-errors.js';
import { coordinatorClientFor } from './tls/coordinator-trust.js';
import type { ExecutorConfig } from './config.js';
import { loadExecutorConfigWithDefaultRuntime } from './default-runtime.js';
import { kubernetesChecks } from './runtimes/kubernetes/kubernetes-checks.js';
import { findGuestKernel, type GuestKernel } from './runtimes/vm/guest/guest-kernel.js';
import { findOnPath, QEMU_BINARY } from './runtimes/vm/guest/guest-platform.js';
import { ensureInitramfs } from './runtimes/vm/guest/initramfs.js';
import { kvmWorks } from './runtimes/vm/guest/kvm-probe.js';
import type { Accelerator } from './runtimes/vm/guest/qemu-vm.js';
import { reportSnapshot } from './runtimes/vm/snapshot/snapshot-report.js';
import { UPLINK_SOCAT } from './runtimes/vm/uplink/uplink-network.js';
import { parseToolVersion } from './worker/telemetry.js';
import { resolveShellUsers, shellUserProblems } from './runtimes/shell/shell-users.js';
import { findVmHostTool, GUEST_BUSYBOX_PATH, VM_HOST_TOOLS } from './commands/vm-host-tools.js';

/** The oldest git the workspace clone supports (reference §6.3, §6.4). */
export const MINIMUM_GIT_VERSION = [2, 26] as const;

/** The coordinator's 500 body when it has no `executors.accessToken` (the original's wording). */
const EXECUTORS_NOT_CONFIGURED = 'Executors are not configured on this instance';

/** Longest a tool's version command may take, in ms; a docker daemon that does not answer in this is unreachable. */
const TOOL_TIMEOUT_MS = 10_000;
/** Longest the auth test may take, in ms: validate must end, not retry. */
const AUTH_TEST_TIMEOUT_MS = 15_000;

/** One check's result: `fix` says what to do when it failed. */
type CheckResult = { ok: true; detail: string } | { ok: false; detail: string; fix: string };

export interface ValidateOptions {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs every check; resolves to the exit status: 0 all passed, 1 a check failed, 2 the configuration is invalid. */
export async function runValidate(env: Record<string, string | undefined>, { stdout, stderr }: ValidateOptions): Promise<number> {
  let config: ExecutorConfig;
  try {
    config = await loadExecutorConfigWithDefaultRuntime(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stdout('FAIL  config\n');
    stderr(`executor: ${err.message}\n`);
    return 2;
  }
  stdout(`ok    config: frontend ${config.frontendUrl}, queues ${config.queueNames.join(',')}, runtime ${config.runtime}\n`);

  // Each check runs after the previous printed, so the lines come in a stable order.
  const checks: Array<[name: string, run: () => Promise<CheckResult>]> = [];
  // On Kubernetes the job's pod clones, so the host needs no git (reference §6.3: tool checks skipped there).
  if (config.runtime !== 'kubernetes') checks.push(['git', checkGit]);
  if (config.runtime === 'docker') checks.push(['docker', checkDocker]);
  if (config.runtime === 'vm') checks.push(...vmChecks(config, env));
  else if (config.runtime === 'shell') checks.push(['runtime shell', () => checkShellRuntime(config)]);
  else if (config.runtime === 'kubernetes' && config.kubernetes) checks.push(...kubernetesChecks(config.kubernetes));
  else checks.push([`runtime ${config.runtime}`, () => Promise.resolve(checkRuntimeBuilt())]);
  checks.push(['coordinator', () => checkCoordinatorAuth(config)]);

  const failures: Array<{ name: string; detail: string; fix: string }> = [];
  for (const [name, run] of checks) {
    const result = await run();
    stdout(`${result.ok ? 'ok  ' : 'FAIL'}  ${name}: ${result.detail}\n`);
    if (!result.ok) failures.push({ name, detail: result.detail, fix: result.fix });
  }
  if (failures.length === 0) {
    stdout('All checks passed!\n');
    return 0;
  }
  stderr(`executor validate: ${failures.length} of ${checks.length + 1} checks failed:\n`);
  for (const f of failures) stderr(`- ${f.name}: ${f.detail}\n  ${f.fix}\n`);
  return 1;
}

/** `major.minor[.patch…]` ≥ `minimum`, numerically per part. */
export function versionAtLeast(version: string, minimum: readonly number[]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < minimum.length; i++) {
    const part = Number.isNaN(parts[i] ?? NaN) ? 0 : parts[i]!;
    if (part !== minimum[i]) return part > minimum[i]!;
  }
  return true;
}

async function checkGit(): Promise<CheckResult> {
  const minimum = MINIMUM_GIT_VERSION.join('.');
  const res = await runTool('git', ['--version']);
  if (res.missing) return { ok: false, detail: 'git is not on PATH', fix: `install git ${minimum} or later` };
  if (res.error) return { ok: false, detail: `git --version failed: ${res.error}`, fix: `check the git installation (git ${minimum} or later is needed)` };
  const version = parseToolVersion(res.stdout);
  if (!/^\d+\.\d+/.test(version)) return { ok: false, detail: `cannot read a version from git --version: ${JSON.stringify(res.stdout.trim())}`, fix: `install git ${minimum} or later` };
  if (!versionAtLeast(version, MINIMUM_GIT_VERSION)) return { ok: false, detail: `git ${version} is older than ${minimum}`, fix: `upgrade git to ${minimum} or later` };
  return { ok: true, detail: `git ${version} (>= ${minimum})` };
}

async function checkDocker(): Promise<CheckResult> {
  const res = await runTool('docker', ['version', '--format', '{{.Server.Version}}']);
  if (res.missing) return { ok: false, detail: 'the docker CLI is not on PATH', fix: 'install docker (the CLI and a daemon the executor user may use)' };
  if (res.error) {
    return {
      ok: false,
      detail: `the docker daemon does not answer: ${res.error}`,
      fix: 'start dockerd, or set DOCKER_HOST, and make sure this user may use the socket (e.g. the docker group)',
    };
  }
  return { ok: true, detail: `docker daemon ${res.stdout.trim()} answers` };
}

/** Who the shell runtime's steps run as, and what that lets them do (the same checks as `run`). */
async function checkShellRuntime(config: ExecutorConfig): Promise<CheckResult> {
  if (config.shellUsers.length === 0) {
    return {
      ok: true,
      detail:
        "steps run as the executor's own user (EXECUTOR_SHELL_ALLOW_SAME_USER=true): a step can read EXECUTOR_FRONTEND_PASSWORD from the executor's /proc/<pid>/environ, and with it dequeue any job of any queue and read its secrets; acceptable only where the executor itself is a throw-away sandbox (set EXECUTOR_SHELL_USER otherwise)",
    };
  }
  let problems: string[];
  let names: string;
  try {
    const users = await resolveShellUsers(config.shellUsers);
    names = users.map((u) => `${u.name} (uid ${u.uid})`).join(', ');
    problems = await shellUserProblems(users, config.workspaceParentDir);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { ok: false, detail: err.message, fix: 'create the user, or set EXECUTOR_SHELL_USER to an existing unprivileged user' };
  }
  if (problems.length > 0) return { ok: false, detail: problems.join('; '), fix: 'run the executor as root, with EXECUTOR_SHELL_USER set to dedicated unprivileged users and TMPDIR a directory they can reach' };
  return { ok: true, detail: `steps run as ${names}, which cannot read the executor's environment; each job's workspace is handed to its user and its processes end with it` };
}

/** The docker runtime needs nothing beyond the checks above; vm, shell and kubernetes have their own checks. */
function checkRuntimeBuilt(): CheckResult {
  return { ok: true, detail: 'steps run in containers of the docker daemon checked above' };
}

/**
 * The vm runtime's checks, in the order they depend on each other: QEMU, the guest kernel, the initramfs
 * built from it (busybox), the disk tools, the image tools, KVM by booting a guest (kvm-probe.ts), and
 * the snapshot guests start from (restoring one from it when it is there).
 */
function vmChecks(config: ExecutorConfig, env: Record<string, string | undefined>): Array<[name: string, run: () => Promise<CheckResult>]> {
  let kernel: GuestKernel | undefined;
  let initramfsPath: string | undefined;
  let qemuFound = false;
  let accel: Accelerator | undefined;
  const installHint = (target: 'tools' | 'kernel', packages: string) => `run \`executor install ${target}\` as root, or \`apt-get install -y ${packages}\``;
  return [
    [
      'qemu',
      async () => {
        const res = await runTool(QEMU_BINARY, ['--version']);
        if (res.missing) return { ok: false, detail: `${QEMU_BINARY} is not on PATH`, fix: installHint('tools', 'qemu-system-x86') };
        if (res.error) return { ok: false, detail: `${QEMU_BINARY} --version failed: ${res.error}`, fix: 'check the QEMU installation (apt-get install --reinstall qemu-system-x86)' };
        qemuFound = true;
        const version = /version (\S+)/.exec(res.stdout)?.[1] ?? res.stdout.split('\n')[0]!.trim();
        return { ok: true, detail: `${QEMU_BINARY} ${version}` };
      },
    ],
    [
      'guest kernel',
      async () => {
        try {
          kernel = await findGuestKernel();
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          return { ok: false, detail: err.message, fix: installHint('kernel', 'linux-image-cloud-amd64') };
        }
        return { ok: true, detail: `${kernel.version} (${kernel.kernelPath}) with its ${kernel.modules.length} virtio, overlay and network modules` };
      },
    ],
    [
      'initramfs',
      async () => {
        if (!kernel) return { ok: false, detail: 'not built: no guest kernel', fix: 'fix the guest kernel first' };
        const busybox = await findVmHostTool(VM_HOST_TOOLS.find((t) => t.binary === 'busybox')!, '');
        if (busybox.state !== 'found') {
          return { ok: false, detail: `${GUEST_BUSYBOX_PATH} is ${busybox.state === 'missing' ? 'missing' : 'dynamically linked'}; the guest needs a static busybox`, fix: installHint('tools', 'busybox-static') };
        }
        try {
          initramfsPath = await ensureInitramfs({ kernel, cacheDir: path.join(config.vmCacheDir, 'initramfs') });
        } catch (err) {
          if (!(err instanceof Error)) throw err;
          return { ok: false, detail: `cannot build it: ${err.message}`, fix: 'install what the message names, and check that EXECUTOR_VM_CACHE_DIR is writable' };
        }
        return { ok: true, detail: initramfsPath };
      },
    ],
    [
      'e2fsprogs',
      async () => {
        const missing: string[] = [];
        for (const binary of ['mkfs.ext4', 'debugfs']) if ((await runTool(binary, ['-V'])).missing) missing.push(binary);
        if (missing.length > 0) {
          return { ok: false, detail: `${missing.join(' and ')} not on PATH (they build the disks and read files back from them)`, fix: `${installHint('tools', 'e2fsprogs')}; Debian puts them in /usr/sbin: make sure it is on PATH` };
        }
        return { ok: true, detail: 'mkfs.ext4 and debugfs' };
      },
    ],
    [
      'skopeo, umoci',
      async () => {
        const missing: string[] = [];
        for (const binary of ['skopeo', 'umoci']) if ((await runTool(binary, ['--version'])).missing) missing.push(binary);
        if (missing.length > 0) {
          return {
            ok: false,
            detail: `${missing.join(' and ')} not on PATH: only step images already in this host's docker image store can be used`,
            fix: `${installHint('tools', missing.join(' '))}; they fetch and unpack step images from registries (not needed if every step image is in the local docker store)`,
          };
        }
        return { ok: true, detail: 'step images can be fetched from registries' };
      },
    ],
    [
      'socat',
      async () => {
        if ((await runTool(UPLINK_SOCAT, ['-V'])).missing) {
          return {
            ok: false,
            detail: `${UPLINK_SOCAT} is not on PATH: QEMU runs it for each connection a guest makes to its uplink (how code-intel and batch-change jobs upload their results)`,
            fix: installHint('tools', 'socat'),
          };
        }
        return { ok: true, detail: `${UPLINK_SOCAT} connects each guest's uplink to the executor's proxy for the coordinator's upload routes` };
      },
    ],
    [
      'kvm',
      async () => {
        if (!kernel || !initramfsPath || !qemuFound) return { ok: false, detail: 'not probed: QEMU, the guest kernel or the initramfs is missing', fix: 'fix the checks above first' };
        if (await kvmWorks({ kernel, initramfsPath, qemuBinary: QEMU_BINARY })) {
          accel = 'kvm';
          return { ok: true, detail: 'KVM works: a guest booted under it' };
        }
        if (config.vmAllowEmulation) {
          accel = 'tcg';
          return { ok: true, detail: 'KVM does not work here; emulation allowed (TCG, EXECUTOR_VM_ALLOW_EMULATION=true): VMs run many times slower' };
        }
        return {
          ok: false,
          detail: 'KVM does not work here: a guest started with -accel kvm did not run (no /dev/kvm, no access to it, or broken nested virtualization)',
          fix: 'run the executor on a host with KVM (bare metal, or nested virtualization enabled), set EXECUTOR_RUNTIME=docker, or set EXECUTOR_VM_ALLOW_EMULATION=true to run VMs under software emulation (TCG: many times slower; for tests)',
        };
      },
    ],
    [
      'snapshot',
      async () => {
        // eslint-disable-next-line no-restricted-properties -- the PATH spawn searches, as the runtime finds QEMU
        const qemuPath = await findOnPath(QEMU_BINARY, env.PATH ?? process.env.PATH ?? '');
        if (!kernel || !initramfsPath || !qemuPath || !accel) return { ok: false, detail: 'not checked: QEMU, the guest kernel, the initramfs or an accelerator is missing', fix: 'fix the checks above first' };
        const report = await reportSnapshot({ config, platform: { kernel, initramfsPath, accel, qemuPath, qemuWrapper: [] }, probe: true });
        if (report.ok) return { ok: true, detail: report.detail };
        return { ok: false, detail: report.detail, fix: `nothing to do for jobs (they boot their guests meanwhile); to rebuild it now, delete ${config.vmCacheDir}/snapshots and restart \`executor run\`` };
      },
    ],
  ];
}

async function checkCoordinatorAuth(config: ExecutorConfig): Promise<CheckResult> {
  const url = config.frontendUrl;
  const { client } = coordinatorClientFor(config, silentLogger, { requestTimeoutMs: AUTH_TEST_TIMEOUT_MS });

  try {
    await client.testAuth(new AbortController().signal);
    return { ok: true, detail: `${url} accepted EXECUTOR_FRONTEND_PASSWORD` };
  } catch (err) {
    if (err instanceof CoordinatorUnauthorizedError) {
      return {
        ok: false,
        detail: `${url} answered HTTP ${err.status ?? '?'} to GET /.executors/test/auth`,
        fix: "the coordinator refused EXECUTOR_FRONTEND_PASSWORD: check that it equals executors.accessToken in the coordinator's site settings (COORDINATOR_EXECUTORS_ACCESS_TOKEN)",
      };
    }
    if (err instanceof CoordinatorPlainHttpError) {
      return { ok: false, detail: err.message, fix: `set EXECUTOR_FRONTEND_URL=${url.replace(/^https:/, 'http:')}` };
    }
    if (err instanceof CoordinatorNotCoordinatorError) {
      return { ok: false, detail: err.message, fix: 'set EXECUTOR_FRONTEND_URL to the URL the coordinator (or Sourcegraph instance) serves the executor API at' };
    }
    if (err instanceof CoordinatorTlsError) {
      return { ok: false, detail: err.message, fix: 'add the CA certificate of the coordinator to one of the searched places, or set SSL_CERT_FILE / SSL_CERT_DIR to it' };
    }
    if (err instanceof CoordinatorRetryableError && err.status === 500 && err.message.includes(EXECUTORS_NOT_CONFIGURED)) {
      return {
        ok: false,
        detail: `${url} answered HTTP 500 "${EXECUTORS_NOT_CONFIGURED}"`,
        fix: 'the coordinator has no executors.accessToken set: set it in its site settings (COORDINATOR_EXECUTORS_ACCESS_TOKEN on this project\'s coordinator) to the value of EXECUTOR_FRONTEND_PASSWORD',
      };
    }
    if (err instanceof CoordinatorRetryableError && err.status === undefined) {
      return {
        ok: false,
        detail: `cannot reach the coordinator at ${url}: ${err.cause instanceof Error ? err.cause.message : err.message}`,
        fix: 'check EXECUTOR_FRONTEND_URL, that the coordinator is running, and that this host can reach it (DNS, firewall, proxy)',
      };
    }
    return {
      ok: false,
      detail: `GET /.executors/test/auth at ${url} failed: ${err instanceof Error ? err.message : String(err)}`,
      fix: 'check that EXECUTOR_FRONTEND_URL points at a Sourcegraph instance or coordinator and that its version speaks the executor API',
    };
  } finally {
    client.close();
  }
}

interface ToolResult {
  stdout: string;
  /** The command is not on PATH. */
  missing: boolean;
  /** Why it failed (exit status, stderr, timeout); undefined when it succeeded. */
  error: string | undefined;
}

function runTool(command: string, args: string[]): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: TOOL_TIMEOUT_MS, windowsHide: true }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout: String(stdout), missing: false, error: undefined });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return resolve({ stdout: '', missing: true, error: undefined });
      const why = err.killed ? `no answer within ${TOOL_TIMEOUT_MS} ms` : String(stderr).trim() || err.message;
      resolve({ stdout: String(stdout), missing: false, error: why });
    });
  });
}
