// `executor install service`: the systemd unit that keeps `executor run` running on a host
// (/etc/systemd/system/executor.service) and its environment file (/etc/systemd/system/executor.env, mode
// 0600: it holds EXECUTOR_FRONTEND_PASSWORD), as the original's binary deployment documents them (reference
// §6.4). `--root DIR` writes under another root (images, packages, tests); an existing env file is never
// overwritten. `--power-off-on-exit` (cloud images) powers the machine off after a clean exit, so
// EXECUTOR_NUM_TOTAL_JOBS / EXECUTOR_MAX_ACTIVE_TIME retire an instance and the autoscaler replaces it.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildInfo, bundledBuild, isSingleExecutable } from '../../shared/build-info.js';

export const UNIT_PATH = '/etc/systemd/system/executor.service';
export const ENV_FILE_PATH = '/etc/systemd/system/executor.env';

/** Where the release binary goes on a host (the Packer template, the README). */
export const DEFAULT_BINARY_PATH = '/usr/local/bin/executor';

export interface ServiceOptions {
  /** Files go to `<root>/etc/systemd/system/`. Default `/`. */
  root: string;
  /** The executor program ExecStart runs. Default: this program (release binary or checkout's bin/executor). */
  binary: string;
  /** Add the ExecStopPost that powers the machine off after a clean, unrequested exit. Default false. */
  powerOffOnExit: boolean;
}

export const SERVICE_USAGE = `Usage: executor install service [--root DIR] [--binary PATH] [--power-off-on-exit]

  Writes ${UNIT_PATH} and ${ENV_FILE_PATH} (mode 0600; an existing one is kept).
  --root DIR           write under DIR instead of / (images, packages); needs no root
  --binary PATH        the executor ExecStart runs (default: this executor)
  --power-off-on-exit  power the machine off when the executor exits cleanly by itself
                       (EXECUTOR_NUM_TOTAL_JOBS or EXECUTOR_MAX_ACTIVE_TIME reached): for autoscaled cloud instances
`;

/** The path of the program running now, as a unit should start it. */
export async function currentExecutorPath(): Promise<string> {
  if (await isSingleExecutable()) return process.execPath;
  // The bundle in the container image is started through its wrapper.
  if (bundledBuild) return DEFAULT_BINARY_PATH;
  // src/executor/commands/ and dist/executor/commands/ are three levels under the repository root.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/executor');
}

/** Parses the flags of `install service` (and of `install all`, which passes them on); throws a usage message. */
export function parseServiceFlags(args: readonly string[]): Partial<ServiceOptions> {
  const options: Partial<ServiceOptions> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--root') options.root = path.resolve(value());
    else if (flag === '--binary') {
      const binary = value();
      if (!path.isAbsolute(binary)) throw new Error(`--binary must be an absolute path (systemd runs it from /), got ${JSON.stringify(binary)}`);
      options.binary = binary;
    } else if (flag === '--power-off-on-exit' && inline === undefined) options.powerOffOnExit = true;
    else throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
  }
  return options;
}

/**
 * The shell ExecStopPost runs for --power-off-on-exit. systemd sets EXIT_CODE/EXIT_STATUS for the main
 * process (systemd.exec(5)). A clean exit that nobody asked for has no job queued for the unit; `systemctl
 * stop`/`restart` or a shutdown has one, and then the machine stays up. (The original powers off on any
 * exit status 0, so an operator's `systemctl stop executor` turned the machine off too.)
 */
export const POWER_OFF_SCRIPT =
  'if [ "$EXIT_CODE" = exited ] && [ "$EXIT_STATUS" = 0 ] && ! systemctl list-jobs --no-legend --no-pager | grep -q "executor.service"; ' +
  'then echo "executor exited by itself (EXECUTOR_NUM_TOTAL_JOBS or EXECUTOR_MAX_ACTIVE_TIME reached): powering off"; systemctl poweroff; fi';

/** The unit file's text. */
export function renderUnit(options: Pick<ServiceOptions, 'binary' | 'powerOffOnExit'>): string {
  const info = buildInfo();
  const lines = [
    `# Written by \`executor install service\` (executor ${info.version}, commit ${info.commit}).`,
    `# Settings: ${ENV_FILE_PATH}; after changing them: systemctl restart executor.`,
    '[Unit]',
    'Description=Executor: runs jobs from a coordinator in sandboxes',
    'Wants=network-online.target',
    // The docker runtime needs the daemon up; After= on a unit that is not installed is ignored.
    'After=network-online.target docker.service',
    '',
    '[Service]',
    'Type=exec',
    `EnvironmentFile=${ENV_FILE_PATH}`,
    'Environment=HOME=%h',
    `ExecStart=${options.binary} run`,
    'Restart=on-failure',
    'RestartSec=10s',
    '# SIGTERM drains: no new jobs, running ones finish. Only the executor gets it (KillMode=mixed); its jobs',
    "# get the default EXECUTOR_MAXIMUM_RUNTIME_PER_JOB (30m) to finish before the rest is killed.",
    'KillMode=mixed',
    'TimeoutStopSec=31min',
  ];
  if (options.powerOffOnExit) {
    lines.push(
      '# A clean exit by itself (EXECUTOR_NUM_TOTAL_JOBS or EXECUTOR_MAX_ACTIVE_TIME reached) retires this instance.',
      `ExecStopPost=/bin/sh -c '${POWER_OFF_SCRIPT.replaceAll('$', '$$')}'`,
    );
  }
  lines.push('', '[Install]', 'WantedBy=multi-user.target', '');
  return lines.join('\n');
}

/** What the env file lists: required first, then the settings people change most (README: Configuration). */
const ENV_FILE_ENTRIES: { name: string; comment: string; required?: boolean; example?: string }[] = [
  { name: 'EXECUTOR_FRONTEND_URL', comment: 'the coordinator (or Sourcegraph instance), scheme://host[:port]', required: true, example: 'https://coordinator.example.com' },
  { name: 'EXECUTOR_FRONTEND_PASSWORD', comment: 'the executors access token (site setting executors.accessToken)', required: true },
  { name: 'EXECUTOR_QUEUE_NAME', comment: 'the queue to take jobs from (or EXECUTOR_QUEUE_NAMES, comma-separated)', required: true, example: 'batches' },
  { name: 'EXECUTOR_QUEUE_NAMES', comment: 'several queues instead of EXECUTOR_QUEUE_NAME, comma-separated', example: 'batches,codeintel' },
  { name: 'EXECUTOR_RUNTIME', comment: 'vm | docker | shell (default: vm where KVM works, else docker)', example: 'docker' },
  { name: 'EXECUTOR_MAXIMUM_NUM_JOBS', comment: 'jobs at once (default 1)', example: '1' },
  { name: 'EXECUTOR_JOB_NUM_CPUS', comment: 'CPUs per job (default 4)', example: '4' },
  { name: 'EXECUTOR_JOB_MEMORY', comment: 'memory per job (default 12G)', example: '12G' },
  { name: 'EXECUTOR_FIRECRACKER_DISK_SPACE', comment: 'vm: workspace disk per job (default 20G)', example: '20G' },
  { name: 'EXECUTOR_MAXIMUM_RUNTIME_PER_JOB', comment: 'a job past this is stopped (default 30m); above 30m raise TimeoutStopSec in a drop-in too', example: '30m' },
  { name: 'EXECUTOR_NUM_TOTAL_JOBS', comment: 'exit after this many jobs (default 0: never)', example: '0' },
  { name: 'EXECUTOR_MAX_ACTIVE_TIME', comment: 'stop dequeuing after this long, then exit (default 0: never)', example: '0' },
  { name: 'EXECUTOR_DOCKER_AUTH_CONFIG', comment: 'registry credentials, {"auths":{...}} (README: The docker runtime)' },
  { name: 'EXECUTOR_DOCKER_REGISTRY_MIRROR_URL', comment: 'registry mirror(s), comma-separated', example: 'http://10.0.0.2:5000' },
  { name: 'EXECUTOR_VM_STARTUP_SCRIPT_PATH', comment: 'vm: a host script run in each guest before the steps', example: '/etc/executor/vm-startup.sh' },
  { name: 'EXECUTOR_VM_ALLOW_EMULATION', comment: 'vm without working KVM: software emulation (slow; tests only)', example: 'false' },
  { name: 'SRC_LOG_LEVEL', comment: 'dbug | info | warn | error (default warn)', example: 'info' },
];

/**
 * A value as systemd's EnvironmentFile reads it and a POSIX shell sources it alike: double-quoted, with
 * `\`, `"`, `$` and `` ` `` escaped. Newlines cannot be written (neither reader agrees on them).
 */
export function quoteEnvValue(value: string): string {
  if (/[\n\r]/.test(value)) throw new Error('a value with a line break cannot go into an environment file');
  return `"${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

/**
 * The env file's text: every entry set in `env` as an active line, required ones active (empty when
 * unset, so `executor run` says what is missing), the rest commented with an example. Any other
 * EXECUTOR_* variable set in `env` is added at the end.
 */
export function renderEnvFile(env: Record<string, string | undefined>): string {
  const set = (name: string) => (env[name]?.trim() ?? '') !== '';
  const out = [
    '# Environment of executor.service (systemd EnvironmentFile; a shell can source it too: set -a; . ./executor.env).',
    '# Written by `executor install service`, which never overwrites it. Mode 0600: it holds the access token.',
    '# After a change: systemctl restart executor. Every variable: README, Configuration (executor).',
    '',
  ];
  const listed = new Set<string>();
  for (const entry of ENV_FILE_ENTRIES) {
    listed.add(entry.name);
    const requiredHere = entry.required && !(entry.name === 'EXECUTOR_QUEUE_NAME' && set('EXECUTOR_QUEUE_NAMES'));
    // systemd reads no comment after a value: an example goes on the comment line.
    out.push(`# ${entry.comment}${requiredHere ? ' (required)' : ''}${requiredHere && entry.example ? `, e.g. ${entry.example}` : ''}`);
    if (set(entry.name)) out.push(`${entry.name}=${quoteEnvValue(env[entry.name]!.trim())}`);
    else if (requiredHere) out.push(`${entry.name}=`);
    else out.push(`#${entry.name}=${entry.example ? quoteEnvValue(entry.example) : ''}`);
  }
  const others = Object.keys(env)
    .filter((name) => name.startsWith('EXECUTOR_') && !listed.has(name) && set(name))
    .sort();
  if (others.length > 0) {
    out.push('', '# Also set when the service was installed:');
    for (const name of others) out.push(`${name}=${quoteEnvValue(env[name]!.trim())}`);
  }
  return out.join('\n') + '\n';
}

export interface ServiceInstallResult {
  unitPath: string;
  envPath: string;
  unit: 'written' | 'updated' | 'unchanged';
  envFile: 'written' | 'kept';
}

/** Writes the unit (replacing an older one) and the env file (unless one exists), under `options.root`. */
export async function writeServiceFiles(options: ServiceOptions, env: Record<string, string | undefined>): Promise<ServiceInstallResult> {
  const unitPath = path.join(options.root, UNIT_PATH);
  const envPath = path.join(options.root, ENV_FILE_PATH);
  await fs.mkdir(path.dirname(unitPath), { recursive: true });
  const unitText = renderUnit(options);
  const before = await fs.readFile(unitPath, 'utf8').catch(() => undefined);
  if (before !== unitText) await fs.writeFile(unitPath, unitText, { mode: 0o644 });
  let envFile: ServiceInstallResult['envFile'] = 'kept';
  try {
    // 'wx': never replace a file that is there, even one made between a check and the write.
    const handle = await fs.open(envPath, 'wx', 0o600);
    try {
      await handle.chmod(0o600);
      await handle.writeFile(renderEnvFile(env));
    } finally {
      await handle.close();
    }
    envFile = 'written';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return { unitPath, envPath, unit: before === undefined ? 'written' : before === unitText ? 'unchanged' : 'updated', envFile };
}
