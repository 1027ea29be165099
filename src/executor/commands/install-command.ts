// `executor install <what>` (reference §6.3) for the vm runtime: the host packages, the guest kernel, the
// initramfs and step images converted ahead of the first job. Each is idempotent and says what it fetched or
// built and where. The original's ignite, CNI, src-cli and iptables installers have nothing to do here.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError, ConfigError } from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { ExecutorConfig } from '../config.js';
import { findOnPath } from '../runtimes/vm/guest/guest-platform.js';
import { findGuestKernel, type GuestKernel } from '../runtimes/vm/guest/guest-kernel.js';
import { ensureInitramfs } from '../runtimes/vm/guest/initramfs.js';
import { StepImageCache } from '../runtimes/vm/images/step-image-cache.js';
import { currentExecutorPath, ENV_FILE_PATH, parseServiceFlags, SERVICE_USAGE, UNIT_PATH, writeServiceFiles, type ServiceOptions } from './install-service.js';
import { loadLenientConfig } from './lenient-config.js';
import { DEFAULT_SEARCH_PATH, findVmHostTool, pathHint, VM_HOST_TOOLS } from './vm-host-tools.js';

/** The Debian package of the guest kernel (guest-kernel.ts). */
export const GUEST_KERNEL_PACKAGE = 'linux-image-cloud-amd64';

/** Comma-separated step images `install all` converts into the cache. */
export const PRELOAD_IMAGES_VAR = 'EXECUTOR_VM_PRELOAD_IMAGES';

/** The original's targets that this executor has no use for, and why. */
const NOT_NEEDED: Record<string, string> = {
  ignite: 'the vm runtime runs QEMU directly; there is no ignite',
  cni: "a guest's one network device is on QEMU's restricted user network (no bridge, no tap), so there are no CNI plugins to install",
  'iptables-rules': "a guest's restricted user network forwards nothing but its uplink to the executor's upload proxy, so there is no VM traffic to filter",
  'src-cli': 'this executor runs no src-cli steps (a job with cliSteps is refused); batch changes run as docker steps',
};

/** `install image <name>` with the original's image names: none of them exists here. */
const ORIGINAL_IMAGES: Record<string, string> = {
  'executor-vm': 'there is no VM root filesystem image: the guest is a kernel and an initramfs (run `executor install kernel` and `executor install initramfs`)',
  sandbox: 'there is no ignite sandbox image: QEMU runs on the host',
  kernel: 'the guest kernel is a Debian package here: run `executor install kernel`',
};

export const INSTALL_USAGE = `Usage: executor install <what>

  tools          the Debian packages the vm runtime needs (${[...new Set(VM_HOST_TOOLS.map((t) => t.debianPackage))].join(', ')}), those missing
  kernel         the guest kernel (${GUEST_KERNEL_PACKAGE}) unless one is installed
  initramfs      build the guest initramfs into <EXECUTOR_VM_CACHE_DIR>/initramfs
  image REF...   convert step images into <EXECUTOR_VM_CACHE_DIR>/images, so the first job does not wait for it
  service [--root DIR] [--binary PATH] [--power-off-on-exit]
                 the systemd unit ${UNIT_PATH} and its ${ENV_FILE_PATH}
  all            tools, kernel, initramfs, the images in ${PRELOAD_IMAGES_VAR} (comma-separated), then service
                 (all takes service's flags)

Packages are installed with apt-get when run as root; otherwise the command to run is printed.
`;

export interface InstallIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  logger?: Logger;
}

/** Seams for tests: the real host is used by default. */
export interface InstallHost {
  /** Default process.platform / process.arch. */
  platform?: string;
  arch?: string;
  /** Default: effective uid 0. */
  isRoot?: boolean;
  /** Runs `apt-get install -y …` and resolves with its exit status. Default: spawns it with the terminal attached. */
  runApt?: (args: string[]) => Promise<number>;
}

type Step = (ctx: InstallContext) => Promise<boolean>;

interface InstallContext {
  env: Record<string, string | undefined>;
  io: InstallIo;
  host: Required<Pick<InstallHost, 'isRoot' | 'runApt'>>;
  searchPath: string;
  config(): ExecutorConfig;
  signal: AbortSignal;
  /** The flags of `install service` (also taken by `install all`). */
  serviceFlags: Partial<ServiceOptions>;
}

/** Runs `executor install <args>`; resolves with the exit status (0 done, 1 failed or needs root, 2 bad usage or configuration). */
export async function runInstallCommand(args: readonly string[], env: Record<string, string | undefined>, io: InstallIo, host: InstallHost = {}): Promise<number> {
  const [what, ...rest] = args;
  if (what === undefined || what === 'help' || what === '--help' || what === '-h') {
    (what === undefined ? io.stderr : io.stdout)(INSTALL_USAGE);
    return what === undefined ? 2 : 0;
  }
  if (NOT_NEEDED[what] !== undefined) {
    io.stdout(`executor install ${what}: not needed: ${NOT_NEEDED[what]}\n`);
    return 0;
  }
  const steps: Record<string, Step> = {
    tools: installTools,
    kernel: installKernel,
    initramfs: installInitramfs,
    image: (ctx) => installImages(ctx, rest),
    service: installService,
    all: installAll,
  };
  const step = steps[what];
  if (!step) {
    io.stderr(`executor install: unknown target ${JSON.stringify(what)}\n\n${INSTALL_USAGE}`);
    return 2;
  }
  let serviceFlags: Partial<ServiceOptions> = {};
  if (what === 'service' || what === 'all') {
    try {
      serviceFlags = parseServiceFlags(rest);
    } catch (err) {
      io.stderr(`executor install ${what}: ${(err as Error).message}\n\n${SERVICE_USAGE}`);
      return 2;
    }
  } else if (what !== 'image' && rest.length > 0) {
    io.stderr(`executor install ${what}: unexpected arguments: ${rest.join(' ')}\n`);
    return 2;
  }
  if (what === 'image' && rest.length === 0) {
    io.stderr('executor install image: name at least one image, e.g. `executor install image alpine:3.20`\n');
    return 2;
  }
  // As the original: the guest kernel, QEMU's x86 guest and the packages are amd64 Linux.
  const platform = host.platform ?? process.platform;
  const arch = host.arch ?? process.arch;
  if (platform !== 'linux' || arch !== 'x64') {
    io.stderr(`executor install: only supported on Linux amd64 (this host: ${platform} ${arch})\n`);
    return 1;
  }

  let config: ExecutorConfig | undefined;
  const controller = new AbortController();
  const onSignal = () => controller.abort(new AppError('install.interrupted', 'interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const ctx: InstallContext = {
    env,
    io,
    host: { isRoot: host.isRoot ?? process.geteuid?.() === 0, runApt: host.runApt ?? ((aptArgs) => spawnApt(aptArgs, env)) },
    searchPath: env.PATH ?? DEFAULT_SEARCH_PATH,
    config: () => (config ??= loadLenientConfig(env)),
    signal: controller.signal,
    serviceFlags,
  };
  try {
    return (await step(ctx)) ? 0 : 1;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(`executor install: ${err.message}\n`);
      return 2;
    }
    if (err instanceof AppError) {
      io.stderr(`executor install ${what}: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

async function installAll(ctx: InstallContext): Promise<boolean> {
  if (!(await installTools(ctx))) return false;
  if (!(await installKernel(ctx))) return false;
  if (!(await installInitramfs(ctx))) return false;
  const images = (ctx.env[PRELOAD_IMAGES_VAR] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (images.length === 0) {
    ctx.io.stdout(`images: ${PRELOAD_IMAGES_VAR} is not set; no step image converted ahead of time\n`);
  } else if (!(await installImages(ctx, images))) {
    return false;
  }
  return installService(ctx);
}

/** `install service`: the systemd unit and its env file (install-service.ts). */
async function installService(ctx: InstallContext): Promise<boolean> {
  const root = ctx.serviceFlags.root ?? '/';
  if (root === '/' && !ctx.host.isRoot) {
    ctx.io.stderr(`service: writing ${UNIT_PATH} needs root: run it as root (sudo executor install service), or write under another directory with --root DIR\n`);
    return false;
  }
  const options: ServiceOptions = { root, binary: ctx.serviceFlags.binary ?? (await currentExecutorPath()), powerOffOnExit: ctx.serviceFlags.powerOffOnExit ?? false };
  const result = await writeServiceFiles(options, ctx.env);
  ctx.io.stdout(`service: ${result.unitPath}: ${result.unit} (ExecStart=${options.binary} run${options.powerOffOnExit ? '; powers off after a clean exit' : ''})\n`);
  ctx.io.stdout(
    result.envFile === 'written'
      ? `service: ${result.envPath}: written (mode 0600): fill in what it marks required\n`
      : `service: ${result.envPath}: exists, left as it is\n`,
  );
  if (root === '/') ctx.io.stdout('service: start it with: systemctl daemon-reload && systemctl enable --now executor\n');
  return true;
}

/** `install tools`: the packages whose program is missing, with one `apt-get install`. */
async function installTools(ctx: InstallContext): Promise<boolean> {
  const missing = new Set<string>();
  let offPath = false;
  for (const tool of VM_HOST_TOOLS) {
    const status = await findVmHostTool(tool, ctx.searchPath);
    switch (status.state) {
      case 'found':
        ctx.io.stdout(`tools: ${tool.binary}: ${status.path}\n`);
        break;
      case 'off-path':
        ctx.io.stdout(`tools: ${tool.binary}: installed at ${status.path}, but ${pathHint(status)} is not on PATH: add it to the executor's PATH\n`);
        offPath = true;
        break;
      case 'not-static':
        ctx.io.stdout(`tools: ${tool.binary}: ${status.path} is dynamically linked; the guest needs ${tool.debianPackage}\n`);
        missing.add(tool.debianPackage);
        break;
      case 'missing':
        ctx.io.stdout(`tools: ${tool.binary}: missing (${tool.purpose})\n`);
        missing.add(tool.debianPackage);
        break;
    }
  }
  if (missing.size === 0) {
    ctx.io.stdout(offPath ? 'tools: every package is installed; fix PATH as said above\n' : 'tools: everything the vm runtime needs is installed\n');
    return !offPath;
  }
  const ok = await aptInstall(ctx, 'tools', [...missing]);
  if (!ok) return false;
  for (const tool of VM_HOST_TOOLS.filter((t) => missing.has(t.debianPackage))) {
    const status = await findVmHostTool(tool, ctx.searchPath);
    if (status.state !== 'found') {
      ctx.io.stderr(`tools: ${tool.binary} is still not usable after installing ${tool.debianPackage} (${status.state})\n`);
      return false;
    }
    ctx.io.stdout(`tools: ${tool.binary}: installed at ${status.path}\n`);
  }
  return !offPath;
}

/** `install kernel`: Debian's cloud kernel unless one with its virtio modules is there. */
async function installKernel(ctx: InstallContext): Promise<boolean> {
  let kernel: GuestKernel;
  try {
    kernel = await findGuestKernel();
    ctx.io.stdout(`kernel: already installed: ${kernel.version} at ${kernel.kernelPath}\n`);
    return true;
  } catch (err) {
    if (!(err instanceof AppError) || (err.code !== 'vm.kernel_missing' && err.code !== 'vm.kernel_modules_missing')) throw err;
    ctx.io.stdout(`kernel: ${err.message}\n`);
  }
  if (!(await aptInstall(ctx, 'kernel', [GUEST_KERNEL_PACKAGE]))) return false;
  kernel = await findGuestKernel();
  ctx.io.stdout(`kernel: installed ${kernel.version} at ${kernel.kernelPath} (modules under /lib/modules/${kernel.version})\n`);
  return true;
}

/** `install initramfs`: built into the directory the runtime uses (guest-platform.ts). */
async function installInitramfs(ctx: InstallContext): Promise<boolean> {
  const kernel = await findGuestKernel();
  const dir = path.join(ctx.config().vmCacheDir, 'initramfs');
  const before = new Set(await fs.readdir(dir).catch(() => [] as string[]));
  const startedAt = performance.now();
  const initramfsPath = await ensureInitramfs({ kernel, cacheDir: dir });
  if (before.has(path.basename(initramfsPath))) {
    ctx.io.stdout(`initramfs: already built for kernel ${kernel.version}: ${initramfsPath}\n`);
  } else {
    const { size } = await fs.stat(initramfsPath);
    ctx.io.stdout(`initramfs: built for kernel ${kernel.version} in ${Math.round(performance.now() - startedAt)} ms: ${initramfsPath} (${formatMiB(size)})\n`);
  }
  return true;
}

/** `install image REF...`: each converted into the step image cache, or found there. */
async function installImages(ctx: InstallContext, references: readonly string[]): Promise<boolean> {
  const config = ctx.config();
  const dir = path.join(config.vmCacheDir, 'images');
  const cache = new StepImageCache({ dir, maxBytes: config.vmImageCacheBytes, logger: ctx.io.logger ?? silentLogger });
  let ok = true;
  for (const reference of references) {
    if (ORIGINAL_IMAGES[reference] !== undefined) {
      ctx.io.stdout(`image: ${reference}: not needed: ${ORIGINAL_IMAGES[reference]} (for a step image of that name, write docker.io/library/${reference})\n`);
      continue;
    }
    try {
      const lease = await cache.acquire(reference, config.dockerAuthConfig, ctx.signal);
      lease.release();
      const how = lease.source === 'cache' ? 'already in the cache' : `converted from the ${lease.source === 'docker' ? "host's docker image store" : 'registry'} in ${Math.round(lease.convertMs)} ms`;
      const { blocks } = await fs.stat(lease.diskPath);
      ctx.io.stdout(`image: ${reference}: ${lease.digest} ${how}: ${lease.diskPath} (${formatMiB(blocks * 512)} on disk)\n`);
    } catch (err) {
      if (!(err instanceof AppError) || ctx.signal.aborted) throw err;
      ctx.io.stderr(`image: ${reference}: ${err.message}\n`);
      ok = false;
    }
  }
  return ok;
}

/** `apt-get install -y <packages>` when it can (root, apt-get present); otherwise prints the command. */
async function aptInstall(ctx: InstallContext, what: string, packages: string[]): Promise<boolean> {
  const args = ['install', '-y', ...packages];
  const command = `apt-get ${args.join(' ')}`;
  const aptGet = await findOnPath('apt-get', ctx.searchPath);
  if (!ctx.host.isRoot || !aptGet) {
    ctx.io.stderr(`${what}: ${!aptGet ? 'apt-get is not on PATH' : 'not running as root'}; install the missing packages with:\n  ${command}\n`);
    return false;
  }
  ctx.io.stdout(`${what}: running ${command}\n`);
  const code = await ctx.host.runApt(args);
  if (code !== 0) {
    ctx.io.stderr(`${what}: \`${command}\` exited with ${code} (if it could not find a package, run \`apt-get update\` first)\n`);
    return false;
  }
  return true;
}

function spawnApt(args: string[], env: Record<string, string | undefined>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('apt-get', args, { stdio: 'inherit', env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } });
    child.once('error', (err) => reject(new AppError('install.apt_failed', `cannot run apt-get: ${err.message}`, { cause: err })));
    child.once('close', (code) => resolve(code ?? 1));
  });
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
