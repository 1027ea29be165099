// `executor test-vm` (reference §5.3 "Debugging", §6.3): boots a VM like a job's — the same kernel,
// initramfs, accelerator and sizes — with a workspace disk that is empty or holds a repository cloned at a
// revision through the coordinator, leaves it running with a root shell on its serial console, and says how
// to attach and how to remove it. `--remove NAME` stops one and deletes its directory.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError, ConfigError } from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { DequeuedJob } from '../client/coordinator-client.js';
import { loadExecutorConfig, type ExecutorConfig } from '../config.js';
import { resolveGuestPlatform } from '../runtimes/vm/guest/guest-platform.js';
import { reportSnapshot } from '../runtimes/vm/snapshot/snapshot-report.js';
import { createWorkspaceDisk, MIN_DISK_BYTES } from '../runtimes/vm/images/workspace-disk.js';
import { coordinatorClientFor } from '../tls/coordinator-trust.js';
import { prepareWorkspace } from '../workspace/workspace.js';
import { removeDebugVm, startDebugVm, TEST_VM_PREFIX, type DebugVm } from './debug-vm.js';
import { loadLenientConfig } from './lenient-config.js';
import { DEFAULT_SEARCH_PATH } from './vm-host-tools.js';

/** As the vm runtime's (vm-runtime.ts): the debug shell comes up a little after the agent would. */
const BOOT_TIMEOUT_MS = { kvm: 15_000, tcg: 90_000 } as const;
/** For a configuration without a memory bound (possible with EXECUTOR_RUNTIME=docker or shell). */
const FALLBACK_MEMORY_MIB = 2048;

export const TEST_VM_USAGE = `Usage: executor test-vm [--repo NAME --revision REV] [--name-only]
       executor test-vm --remove NAME

Boots a VM as the vm runtime would for a job and leaves it running with a root shell on its serial
console. The workspace disk (at /work) is empty, or holds repository NAME checked out at REV, cloned
through the coordinator (EXECUTOR_FRONTEND_URL and EXECUTOR_FRONTEND_PASSWORD). Needs KVM, or
EXECUTOR_VM_ALLOW_EMULATION=true. --name-only prints just the VM's name. --remove stops a test VM and
deletes its directory.
`;

export interface TestVmIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  logger?: Logger;
}

interface TestVmArgs {
  repo?: string;
  revision?: string;
  nameOnly: boolean;
  remove?: string;
}

/** Runs `executor test-vm <args>`; resolves with the exit status (0 done, 1 failed, 2 bad usage or configuration). */
export async function runTestVmCommand(args: readonly string[], env: Record<string, string | undefined>, io: TestVmIo): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    io.stderr(`executor test-vm: ${parsed}\n\n${TEST_VM_USAGE}`);
    return 2;
  }
  let config: ExecutorConfig;
  try {
    // Without --repo the coordinator is not contacted, so its settings may be missing.
    config = parsed.repo === undefined ? loadLenientConfig(env) : loadExecutorConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr(`executor test-vm: ${err.message}\n`);
    return 2;
  }
  try {
    if (parsed.remove !== undefined) {
      const removed = await removeDebugVm(config.workspaceParentDir, parsed.remove);
      io.stdout(`${removed.killedPid !== undefined ? `stopped QEMU (pid ${removed.killedPid}) and ` : 'QEMU was not running; '}removed ${removed.runDir}\n`);
      return 0;
    }
    const vm = await bootTestVm(config, parsed, env, io);
    if (parsed.nameOnly) {
      io.stdout(`${vm.name}\n`);
      return 0;
    }
    io.stdout(
      [
        `To attach to its console (a root shell; press Enter for a prompt, Ctrl-] to detach, \`poweroff -f\` stops the VM):`,
        `  socat -,raw,echo=0,escape=0x1d UNIX-CONNECT:${vm.consoleSocket}`,
        `Everything the console printed is in ${vm.consoleLog}.`,
        `To remove it:`,
        `  kill ${vm.pid} && rm -rf ${vm.runDir}`,
        `or: executor test-vm --remove ${vm.name}`,
        '',
      ].join('\n'),
    );
    return 0;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    io.stderr(`executor test-vm: ${err.message}\n`);
    return 1;
  }
}

function parseArgs(args: readonly string[]): TestVmArgs | string {
  const result: TestVmArgs = { nameOnly: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    try {
      switch (flag) {
        case '--repo':
          result.repo = value();
          break;
        case '--revision':
          result.revision = value();
          break;
        case '--remove':
          result.remove = value();
          break;
        case '--name-only':
          result.nameOnly = true;
          break;
        default:
          return `unexpected argument ${JSON.stringify(arg)}`;
      }
    } catch (err) {
      return (err as Error).message;
    }
  }
  if ((result.repo === undefined) !== (result.revision === undefined)) return '--repo and --revision go together';
  if (result.remove !== undefined && (result.repo !== undefined || result.nameOnly)) return '--remove takes no other option';
  return result;
}

/** The run directory, the workspace disk, then QEMU; on failure nothing is left behind. */
async function bootTestVm(config: ExecutorConfig, args: TestVmArgs, env: Record<string, string | undefined>, io: TestVmIo): Promise<DebugVm> {
  const logger = io.logger ?? silentLogger;
  const platform = await resolveGuestPlatform({ cacheDir: config.vmCacheDir, allowEmulation: config.vmAllowEmulation, searchPath: env.PATH ?? DEFAULT_SEARCH_PATH });
  const progress = (text: string) => {
    if (!args.nameOnly) io.stdout(text);
  };
  if (platform.accel === 'tcg') progress('KVM does not work here; the VM runs under software emulation (EXECUTOR_VM_ALLOW_EMULATION=true), many times slower\n');

  const name = `${TEST_VM_PREFIX}${randomBytes(4).toString('hex')}`;
  const runDir = path.join(config.workspaceParentDir, name);
  await fs.mkdir(runDir, { mode: 0o700 });
  try {
    await fs.chmod(runDir, 0o700);
    const workspaceDisk = path.join(runDir, 'workspace.ext4');
    const sizeBytes = Math.max(MIN_DISK_BYTES, config.vmDiskSpaceBytes);
    if (args.repo !== undefined) {
      progress(`cloning ${args.repo} at ${args.revision} through ${config.frontendUrl}\n`);
      await withClonedWorkspace(config, args.repo, args.revision!, logger, (dir) => createWorkspaceDisk({ fromDir: dir, imagePath: workspaceDisk, sizeBytes }));
    } else {
      const emptyDir = path.join(runDir, 'empty');
      await fs.mkdir(emptyDir);
      await createWorkspaceDisk({ fromDir: emptyDir, imagePath: workspaceDisk, sizeBytes });
      await fs.rmdir(emptyDir);
    }
    const memoryMiB = config.jobMemoryBytes > 0 ? Math.floor(config.jobMemoryBytes / 1024 / 1024) : FALLBACK_MEMORY_MIB;
    const cpus = config.jobNumCpus > 0 ? config.jobNumCpus : 1;
    progress(`booting ${name}: ${platform.accel === 'kvm' ? 'KVM' : 'TCG'}, ${cpus} vCPU, ${memoryMiB} MiB, workspace disk ${formatBytes(sizeBytes)} (sparse), no network\n`);
    const vm = await startDebugVm({ platform, name, runDir, workspaceDisk, memoryMiB, cpus, bootTimeoutMs: BOOT_TIMEOUT_MS[platform.accel] });
    progress(`${name} is running (QEMU pid ${vm.pid}; shell ready ${(vm.bootToReadyMs / 1000).toFixed(1)} s after start); its workspace is at /work\n`);
    // The test VM itself always boots (its init runs a console shell, not the agent); jobs' guests may not.
    const snapshot = await reportSnapshot({ config, platform, probe: false });
    progress(`snapshot for jobs' guests: ${snapshot.detail}\n`);
    return vm;
  } catch (err) {
    await fs.rm(runDir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

/** A job's workspace (reference §4.5) for `repo` at `revision`, authenticated with the executor's own token; removed after `use`. */
async function withClonedWorkspace(config: ExecutorConfig, repo: string, revision: string, logger: Logger, use: (dir: string) => Promise<void>): Promise<void> {
  const { client, trust } = coordinatorClientFor(config, logger);

  // No job was dequeued: no job token, so the git proxy sends the executor's token (the coordinator lets
  // it clone any repository, as the original's test-vm does).
  const job: DequeuedJob = {
    id: 0,
    queue: config.queueNames[0]!,
    token: '',
    repositoryName: repo,
    repositoryDirectory: '',
    commit: revision,
    fetchTags: false,
    shallowClone: false,
    sparseCheckout: [],
    files: {},
    dockerSteps: [],
    cliSteps: [],
    redactedValues: {},
  };
  try {
    const workspace = await prepareWorkspace({ job, client, tmpDir: config.workspaceParentDir, signal: new AbortController().signal, logger, ca: trust?.pems });
    try {
      await use(workspace.path);
    } finally {
      // The disk holds a copy; the directory is not needed once it is built.
      await workspace.remove(false);
    }
  } finally {
    client.close();
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}
