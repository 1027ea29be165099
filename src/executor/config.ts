// The executor's settings, read from the original's EXECUTOR_* variables once at start-up (reference §6.1,
// §5.1, §2.1, §8). Every problem is reported together (ConfigError), before anything starts; secrets
// (the frontend password, the docker auth config) are never echoed in a problem.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseByteSize } from '../shared/byte-size.js';
import { ConfigError } from '../shared/errors.js';
import { parseGoBool } from '../shared/go-bool.js';
import { parseGoDurationMs } from '../shared/go-duration.js';
import { parseLogFormat, parseLogLevel, type LogFormat, type LogLevel } from '../shared/logger.js';
import { dockerAuthRedactedValues } from './runtimes/docker-auth.js';
import { parseAddress } from './health-server.js';
import { loadKubernetesConfig, type KubernetesConfig } from './runtimes/kubernetes/kubernetes-config.js';
import { certificateSearchPath, type CertificateSearchPath } from './tls/trusted-certificates.js';

/**
 * Where a job's steps run (ARCHITECTURE.md "Runtimes"):
 * - `vm`: a QEMU micro-VM per job, the original's Firecracker runtime;
 * - `docker`: `docker run` per step on the host daemon;
 * - `shell`: host processes, for executors that are already sandboxed;
 * - `kubernetes`: a pod per job (reference §5.5).
 */
export type ExecutorRuntime = 'vm' | 'docker' | 'shell' | 'kubernetes';
export const EXECUTOR_RUNTIMES: readonly ExecutorRuntime[] = ['vm', 'docker', 'shell', 'kubernetes'];

/** What the executor's own password becomes in job logs (reference §4.4). */
export const SECRET_REMOVED = 'SECRET_REMOVED';

/** A docker CLI config with only `auths` (reference §8): registry `host[:port]` → base64 `user:password`. */
export interface DockerAuthConfig {
  auths: Record<string, { auth: string }>;
}

export interface ExecutorConfig {
  /** `<hostname>-<uuid v4>`, new on every load, so each restart is a new executor row (reference §4.1). */
  name: string;
  /** The instance's origin, `scheme://host[:port]` with no trailing slash. EXECUTOR_FRONTEND_URL, required. */
  frontendUrl: string;
  /** The site setting `executors.accessToken`. EXECUTOR_FRONTEND_PASSWORD, required. */
  frontendPassword: string;
  /**
   * Values the executor redacts from every job log: `{ [frontendPassword]: 'SECRET_REMOVED' }` (reference
   * §4.4), and the credentials of EXECUTOR_DOCKER_AUTH_CONFIG (→ DOCKER_AUTH_REDACTED; the original leaves them).
   */
  ownRedactedValues: Record<string, string>;
  /** Single-queue mode: EXECUTOR_QUEUE_NAME; undefined when EXECUTOR_QUEUE_NAMES is used instead. No default. */
  queueName: string | undefined;
  /** Every queue this executor serves: `[queueName]`, or EXECUTOR_QUEUE_NAMES (comma-separated). Never empty. */
  queueNames: string[];
  /** Pause between dequeue attempts when none found a job. EXECUTOR_QUEUE_POLL_INTERVAL (Go duration), default 1s. */
  queuePollIntervalMs: number;
  /** Jobs run at once (VMs or containers). EXECUTOR_MAXIMUM_NUM_JOBS, default 1, at least 1. */
  maximumNumJobs: number;
  /**
   * EXECUTOR_RUNTIME; unset → EXECUTOR_USE_FIRECRACKER (true → `vm`, false → `docker`); both unset → `vm`
   * where KVM works (the caller's `kvmWorks`), else `docker`.
   */
  runtime: ExecutorRuntime;
  /** CPUs per job; 0 = unbounded (docker and shell only). EXECUTOR_JOB_NUM_CPUS (fallback EXECUTOR_FIRECRACKER_NUM_CPUS), default 4. */
  jobNumCpus: number;
  /** Memory per job in bytes; 0 = unbounded (docker and shell only). EXECUTOR_JOB_MEMORY (fallback EXECUTOR_FIRECRACKER_MEMORY), default 12G. */
  jobMemoryBytes: number;
  /** The memory as written (`12G`; `0` when unbounded), sent as `memory` in dequeue requests (reference §2.4). Default `12G`. */
  jobMemoryText: string;
  /** Size in bytes of each `vm` job's workspace disk. EXECUTOR_FIRECRACKER_DISK_SPACE, default 20G. */
  vmDiskSpaceBytes: number;
  /** The disk size as written, sent as `diskSpace` in dequeue requests (reference §2.4). Default `20G`. */
  vmDiskSpaceText: string;
  /** VMs are named `<vmPrefix>-<uuid>`; the orphaned-VM janitor only touches these. EXECUTOR_VM_PREFIX, default `executor`. */
  vmPrefix: string;
  /** Absolute host path of a script copied into and run in each VM before the steps. EXECUTOR_VM_STARTUP_SCRIPT_PATH, default none. */
  vmStartupScriptPath: string | undefined;
  /** Let the `vm` runtime fall back to software emulation (TCG) when KVM does not work. EXECUTOR_VM_ALLOW_EMULATION, default false. */
  vmAllowEmulation: boolean;
  /**
   * Where the `vm` runtime keeps its guest initramfs and the step images converted to disks.
   * EXECUTOR_VM_CACHE_DIR (absolute), default `$XDG_CACHE_HOME/executors/vm` or `~/.cache/executors/vm`.
   */
  vmCacheDir: string;
  /** Bound on the converted step images' disk use, least recently used out. EXECUTOR_VM_IMAGE_CACHE_SIZE, default 20G. */
  vmImageCacheBytes: number;
  /**
   * Start `vm` guests from a snapshot of a booted guest (built once per guest shape in the cache
   * directory) instead of booting each. EXECUTOR_VM_SNAPSHOTS, default true.
   */
  vmSnapshots: boolean;
  /**
   * Guests restored from the snapshot ahead of demand and kept paused for the next jobs; each serves one
   * job. EXECUTOR_VM_WARM_POOL_SIZE, default EXECUTOR_MAXIMUM_NUM_JOBS; 0 turns the pool off.
   */
  vmWarmPoolSize: number;
  /** The warm pool empties after this long without a job, and fills again at the next. EXECUTOR_VM_WARM_POOL_IDLE_TIMEOUT (Go duration), default 10m; 0 = never. */
  vmWarmPoolIdleTimeoutMs: number;
  /** Keep job workspaces after the job, for debugging. EXECUTOR_KEEP_WORKSPACES, default false. */
  keepWorkspaces: boolean;
  /** The workspace parent as the docker host sees it (Docker-in-Docker). EXECUTOR_DOCKER_HOST_MOUNT_PATH, default none. */
  dockerHostMountPath: string | undefined;
  /** Deadline of one job. EXECUTOR_MAXIMUM_RUNTIME_PER_JOB (Go duration), default 30m. */
  maximumRuntimePerJobMs: number;
  /** How often the orphaned-VM janitor runs. EXECUTOR_CLEANUP_TASK_INTERVAL (Go duration), default 1m. */
  cleanupTaskIntervalMs: number;
  /** Stop dequeuing after this many jobs; 0 = unlimited. EXECUTOR_NUM_TOTAL_JOBS, default 0. */
  numTotalJobs: number;
  /** Stop dequeuing after this long; 0 = unlimited. EXECUTOR_MAX_ACTIVE_TIME (Go duration), default 0. */
  maxActiveTimeMs: number;
  /** Scraped as `<url>/metrics` and forwarded in heartbeats. NODE_EXPORTER_URL, default none. */
  nodeExporterUrl: string | undefined;
  /** Scraped as `<url>/proxy?module=registry` and `?module=node`. DOCKER_REGISTRY_NODE_EXPORTER_URL, default none. */
  dockerRegistryNodeExporterUrl: string | undefined;
  /** `registry-mirrors` of the docker daemon in each VM. EXECUTOR_DOCKER_REGISTRY_MIRROR_URL (comma-separated), default none. */
  dockerRegistryMirrorUrls: string[];
  /** Run steps with `--add-host=host.docker.internal:host-gateway`. EXECUTOR_DOCKER_ADD_HOST_GATEWAY, default false. */
  dockerAddHostGateway: boolean;
  /** Registry credentials for steps when the job brings none (reference §8). EXECUTOR_DOCKER_AUTH_CONFIG (JSON), default none. */
  dockerAuthConfig: DockerAuthConfig | undefined;
  /** Extra `docker run --mount` specs. EXECUTOR_DOCKER_ADDITIONAL_MOUNTS (`;`-separated), default none. */
  dockerAdditionalMounts: string[];
  /**
   * SRC_LOG_LEVEL (dbug | info | warn | eror | crit, and debug, error), default info: the original's
   * default is warn, which hides the start, connection, job and shutdown lines an operator needs.
   */
  logLevel: LogLevel;
  /** SRC_LOG_FORMAT: `condensed` (lines for people) or `json` (one object a line), default condensed. */
  logFormat: LogFormat;
  /** Absolute directory where docker and shell workspaces are created. TMPDIR, default os.tmpdir(). */
  workspaceParentDir: string;
  /**
   * `shell` runtime: the users steps run as (names or uids), one per job running at once, none of them
   * root or the executor's own. EXECUTOR_SHELL_USER (comma-separated); required with the shell runtime
   * unless `shellAllowSameUser`.
   */
  shellUsers: string[];
  /**
   * `shell` runtime without EXECUTOR_SHELL_USER: steps run as the executor's own user, who can read its
   * environment (EXECUTOR_FRONTEND_PASSWORD) in /proc/<pid>/environ. EXECUTOR_SHELL_ALLOW_SAME_USER, default false.
   */
  shellAllowSameUser: boolean;
  /**
   * Where CA certificates for an https coordinator are searched, besides Node's bundled roots: the
   * seed's table of system files and directories, or SSL_CERT_FILE / SSL_CERT_DIR (`:`-separated) instead.
   */
  caSearch: CertificateSearchPath;
  /**
   * Where the debug server answers /healthz, /ready and /metrics (health-server.ts). SRC_PROF_HTTP
   * (`host:port` or `:port`), default none: off (the original defaults to `:6060`).
   */
  debugServerAddress: string | undefined;
  /** The kubernetes runtime's settings (reference §6.2, kubernetes-config.ts); read only with EXECUTOR_RUNTIME=kubernetes. */
  kubernetes: KubernetesConfig | undefined;
}

export interface ExecutorConfigOptions {
  /** The first part of the executor's name. Default os.hostname(). */
  hostname?: string;
  /**
   * Whether a KVM guest actually runs on this host; decides the default runtime. Default false.
   * The caller probes it (by booting a guest: `/dev/kvm` existing is not enough, ARCHITECTURE.md), because
   * loading configuration must stay free of I/O and quick.
   */
  kvmWorks?: boolean;
}

type Env = Record<string, string | undefined>;
const q = JSON.stringify;

/**
 * Queue names are checked by shape only. The original accepts just `batches` and `codeintel`; our coordinator
 * serves whatever queues COORDINATOR_QUEUES names, so an unknown name is the coordinator's to refuse (it does,
 * naming the queue), and a fixed list here would have to be kept in step with every coordinator.
 */
const QUEUE_NAME = /^[a-z][a-z0-9_]*$/;


/** `docker run --mount` keys that name the path in the container; exactly one per spec. */
const MOUNT_TARGET_KEYS = new Set(['target', 'destination', 'dst']);
/** `--mount` options docker accepts without `=value`. */
const MOUNT_BARE_KEYS = new Set(['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive']);

/** A registry key under `auths`: `host[:port]`, optionally as the `https://host/v1/` form `docker login` writes for Docker Hub. */
const REGISTRY_KEY = /^(?:https?:\/\/)?(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:\/\S*)?$/;
/** Standard base64 with padding, which Go's JSON decoding of `[]byte` requires. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function loadExecutorConfig(env: Env = process.env, options: ExecutorConfigOptions = {}): ExecutorConfig {
  const problems: string[] = [];
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v === '' ? undefined : v;
  };
  const boolean = <T extends boolean | undefined>(name: string, fallback: T): boolean | T => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    try {
      return parseGoBool(raw);
    } catch (err) {
      problems.push(`${name}=${q(raw)}: ${(err as Error).message}`);
      return fallback;
    }
  };
  const duration = (name: string, fallback: string, { allowZero = false } = {}) => {
    const raw = get(name) ?? fallback;
    try {
      const ms = parseGoDurationMs(raw);
      if (ms < 0 || (!allowZero && ms === 0)) throw new Error(`must be ${allowZero ? 'zero (unlimited) or positive' : 'positive'}`);
      return ms;
    } catch (err) {
      problems.push(`${name}=${q(raw)}: ${(err as Error).message}`);
      return 0;
    }
  };
  const integer = (name: string, fallback: number, min: number) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min) {
      problems.push(`${name}=${q(raw)}: expected an integer >= ${min}`);
      return fallback;
    }
    return Number(raw);
  };
  /** Echoes a URL with any `user:password@` masked. */
  const showUrl = (raw: string) => q(raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@'));
  const httpUrl = (name: string, raw: string, { originOnly = false, allowUserinfo = false } = {}) => {
    const expected = originOnly ? 'expected scheme://host[:port] with scheme http or https, e.g. https://sourcegraph.example.com' : 'expected an http:// or https:// URL';
    let url: URL;
    try {
      if (!/^https?:\/\/[^/?#]/i.test(raw)) throw new Error();
      url = new URL(raw);
    } catch {
      problems.push(`${name}=${showUrl(raw)}: ${expected}`);
      return undefined;
    }
    const wrong: string[] = [];
    if (url.search !== '' || raw.includes('?')) wrong.push('a query');
    if (url.hash !== '' || raw.includes('#')) wrong.push('a fragment');
    if (originOnly && url.pathname !== '/') wrong.push(`the path ${q(url.pathname)} (only / is allowed)`);
    if (!allowUserinfo && (url.username !== '' || url.password !== '')) wrong.push('a user name or password');
    if (wrong.length > 0) {
      problems.push(`${name}=${showUrl(raw)}: must not contain ${wrong.join(' or ')}; ${expected}`);
      return undefined;
    }
    return originOnly ? url.origin : url.href.replace(/\/$/, '');
  };
  const absolutePath = (name: string) => {
    const raw = get(name);
    if (raw !== undefined && !path.posix.isAbsolute(raw)) problems.push(`${name}=${q(raw)}: expected an absolute path`);
    return raw;
  };

  // Flags first: the URL and runtime rules below depend on them.
  const dockerAddHostGateway = boolean('EXECUTOR_DOCKER_ADD_HOST_GATEWAY', false);
  const keepWorkspaces = boolean('EXECUTOR_KEEP_WORKSPACES', false);
  const vmAllowEmulation = boolean('EXECUTOR_VM_ALLOW_EMULATION', false);

  // §2.1: the base URL is scheme://host[:port]; the API clients append /.executors/… to it.
  let frontendUrl = '';
  const rawFrontendUrl = get('EXECUTOR_FRONTEND_URL');
  if (rawFrontendUrl === undefined) {
    problems.push('EXECUTOR_FRONTEND_URL: required; expected scheme://host[:port] of the Sourcegraph instance or coordinator, e.g. https://sourcegraph.example.com');
  } else {
    frontendUrl = httpUrl('EXECUTOR_FRONTEND_URL', rawFrontendUrl, { originOnly: true }) ?? '';
    if (frontendUrl !== '' && new URL(frontendUrl).hostname === 'host.docker.internal' && !dockerAddHostGateway) {
      problems.push(`EXECUTOR_FRONTEND_URL=${q(rawFrontendUrl)}: the host host.docker.internal only resolves in steps with EXECUTOR_DOCKER_ADD_HOST_GATEWAY=true; set it, or use another host`);
    }
  }

  const frontendPassword = get('EXECUTOR_FRONTEND_PASSWORD') ?? '';
  if (frontendPassword === '') problems.push('EXECUTOR_FRONTEND_PASSWORD: required; expected the site setting executors.accessToken');

  // Exactly one of EXECUTOR_QUEUE_NAME and EXECUTOR_QUEUE_NAMES (reference §6.1).
  const rawQueueName = get('EXECUTOR_QUEUE_NAME');
  const rawQueueNames = get('EXECUTOR_QUEUE_NAMES');
  let queueName: string | undefined;
  let queueNames: string[] = [];
  if (rawQueueName !== undefined && rawQueueNames !== undefined) {
    problems.push(`EXECUTOR_QUEUE_NAME=${q(rawQueueName)} and EXECUTOR_QUEUE_NAMES=${q(rawQueueNames)}: set only one of them`);
  } else if (rawQueueName === undefined && rawQueueNames === undefined) {
    problems.push('EXECUTOR_QUEUE_NAME or EXECUTOR_QUEUE_NAMES: one is required; expected a queue name such as batches or codeintel, or a comma-separated list of them');
  } else if (rawQueueName !== undefined) {
    if (QUEUE_NAME.test(rawQueueName)) {
      queueName = rawQueueName;
      queueNames = [rawQueueName];
    } else {
      problems.push(`EXECUTOR_QUEUE_NAME=${q(rawQueueName)}: expected a queue name of lowercase letters, digits and _ starting with a letter, e.g. batches`);
    }
  } else if (rawQueueNames !== undefined) {
    const names = rawQueueNames.split(',').map((n) => n.trim());
    const bad = names.filter((n) => !QUEUE_NAME.test(n));
    const repeated = names.filter((n, i) => names.indexOf(n) !== i);
    if (bad.length > 0) {
      problems.push(`EXECUTOR_QUEUE_NAMES=${q(rawQueueNames)}: ${bad.map((n) => q(n)).join(', ')} ${bad.length === 1 ? 'is not a queue name' : 'are not queue names'}; expected comma-separated names of lowercase letters, digits and _ starting with a letter, e.g. batches,codeintel`);
    } else if (repeated.length > 0) {
      problems.push(`EXECUTOR_QUEUE_NAMES=${q(rawQueueNames)}: ${[...new Set(repeated)].join(', ')} listed more than once; expected each queue once`);
    } else {
      queueNames = names;
    }
  }

  // §5.1: EXECUTOR_RUNTIME, else the legacy EXECUTOR_USE_FIRECRACKER, else vm where KVM works. Unlike the
  // original, Kubernetes is not detected from KUBERNETES_SERVICE_*: executors in a pod often run docker-in-docker
  // or shell, so the kubernetes runtime must be asked for by name.
  const rawRuntime = get('EXECUTOR_RUNTIME');
  const rawUseFirecracker = get('EXECUTOR_USE_FIRECRACKER');
  // undefined when unset or unreadable (reported once, by boolean()), so it cannot also "disagree".
  const useFirecracker = boolean('EXECUTOR_USE_FIRECRACKER', undefined);
  let runtime: ExecutorRuntime = options.kvmWorks ? 'vm' : 'docker';
  if (rawRuntime !== undefined) {
    if ((EXECUTOR_RUNTIMES as readonly string[]).includes(rawRuntime)) {
      runtime = rawRuntime as ExecutorRuntime;
      if (useFirecracker !== undefined && useFirecracker !== (runtime === 'vm')) {
        problems.push(`EXECUTOR_RUNTIME=${q(rawRuntime)} and EXECUTOR_USE_FIRECRACKER=${q(rawUseFirecracker)} disagree; unset EXECUTOR_USE_FIRECRACKER (it is the legacy spelling of EXECUTOR_RUNTIME=vm)`);
      }
    } else {
      problems.push(`EXECUTOR_RUNTIME=${q(rawRuntime)}: expected ${EXECUTOR_RUNTIMES.join(', ')}`);
    }
  } else if (useFirecracker !== undefined) {
    runtime = useFirecracker ? 'vm' : 'docker';
  }
  const unboundedAllowed = runtime === 'docker' || runtime === 'shell';

  // CPUs and memory: the new names win over the Firecracker-era ones (reference §6.1).
  const cpuVar = get('EXECUTOR_JOB_NUM_CPUS') !== undefined || get('EXECUTOR_FIRECRACKER_NUM_CPUS') === undefined ? 'EXECUTOR_JOB_NUM_CPUS' : 'EXECUTOR_FIRECRACKER_NUM_CPUS';
  const jobNumCpus = integer(cpuVar, 4, 0);
  const rawCpus = get(cpuVar);
  if (jobNumCpus === 0 && !unboundedAllowed) {
    problems.push(`${cpuVar}=${q(rawCpus)}: 0 (unbounded) is only allowed with the docker or shell runtime, not ${runtime}`);
  } else if (runtime === 'vm' && jobNumCpus !== 1 && jobNumCpus % 2 !== 0) {
    // A Firecracker constraint the original enforces (§5.1); kept so configurations move between the two.
    problems.push(`${cpuVar}=${q(rawCpus ?? String(jobNumCpus))}: the vm runtime needs 1 or an even number of CPUs`);
  }

  // "" counts as unbounded here (the original omits --memory for "0" and ""), so presence is checked, not get().
  const memoryVar = env.EXECUTOR_JOB_MEMORY !== undefined || env.EXECUTOR_FIRECRACKER_MEMORY === undefined ? 'EXECUTOR_JOB_MEMORY' : 'EXECUTOR_FIRECRACKER_MEMORY';
  const rawMemory = env[memoryVar]?.trim() ?? '12G';
  let jobMemoryBytes = 12e9;
  let jobMemoryText = '12G';
  if (rawMemory === '' || rawMemory === '0') {
    jobMemoryBytes = 0;
    jobMemoryText = '0';
    if (!unboundedAllowed) problems.push(`${memoryVar}=${q(rawMemory)}: unbounded memory is only allowed with the docker or shell runtime, not ${runtime}`);
  } else {
    try {
      jobMemoryBytes = parseByteSize(rawMemory);
      jobMemoryText = rawMemory;
      if (jobMemoryBytes === 0) throw new Error('must be positive, or exactly "0" for unbounded');
    } catch (err) {
      problems.push(`${memoryVar}=${q(rawMemory)}: ${(err as Error).message}`);
    }
  }

  const vmDiskSpaceText = get('EXECUTOR_FIRECRACKER_DISK_SPACE') ?? '20G';
  let vmDiskSpaceBytes = 20e9;
  try {
    vmDiskSpaceBytes = parseByteSize(vmDiskSpaceText);
    if (vmDiskSpaceBytes === 0) throw new Error('must be positive');
  } catch (err) {
    problems.push(`EXECUTOR_FIRECRACKER_DISK_SPACE=${q(vmDiskSpaceText)}: ${(err as Error).message}`);
  }

  const vmImageCacheText = get('EXECUTOR_VM_IMAGE_CACHE_SIZE') ?? '20G';
  let vmImageCacheBytes = 20e9;
  try {
    vmImageCacheBytes = parseByteSize(vmImageCacheText);
    if (vmImageCacheBytes === 0) throw new Error('must be positive');
  } catch (err) {
    problems.push(`EXECUTOR_VM_IMAGE_CACHE_SIZE=${q(vmImageCacheText)}: ${(err as Error).message}`);
  }
  const xdgCache = get('XDG_CACHE_HOME');
  const vmCacheDir =
    absolutePath('EXECUTOR_VM_CACHE_DIR') ??
    path.join(xdgCache !== undefined && path.isAbsolute(xdgCache) ? xdgCache : path.join(get('HOME') ?? os.homedir(), '.cache'), 'executors', 'vm');

  const vmPrefix = get('EXECUTOR_VM_PREFIX') ?? 'executor';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(vmPrefix)) {
    problems.push(`EXECUTOR_VM_PREFIX=${q(vmPrefix)}: expected letters, digits, _ . and - (at most 63), starting with a letter or digit`);
  }

  let nodeExporterUrl: string | undefined;
  const rawNodeExporter = get('NODE_EXPORTER_URL');
  if (rawNodeExporter !== undefined) nodeExporterUrl = httpUrl('NODE_EXPORTER_URL', rawNodeExporter, { allowUserinfo: true });
  let dockerRegistryNodeExporterUrl: string | undefined;
  const rawRegistryExporter = get('DOCKER_REGISTRY_NODE_EXPORTER_URL');
  if (rawRegistryExporter !== undefined) dockerRegistryNodeExporterUrl = httpUrl('DOCKER_REGISTRY_NODE_EXPORTER_URL', rawRegistryExporter, { allowUserinfo: true });

  // Docker's daemon.json refuses mirrors with a query, fragment or credentials; refuse them here first.
  const dockerRegistryMirrorUrls: string[] = [];
  for (const raw of (get('EXECUTOR_DOCKER_REGISTRY_MIRROR_URL') ?? '').split(',').map((u) => u.trim()).filter(Boolean)) {
    const url = httpUrl('EXECUTOR_DOCKER_REGISTRY_MIRROR_URL', raw);
    if (url !== undefined) dockerRegistryMirrorUrls.push(url);
  }

  const rawAuthConfig = get('EXECUTOR_DOCKER_AUTH_CONFIG');
  let dockerAuthConfig: DockerAuthConfig | undefined;
  if (rawAuthConfig !== undefined) {
    const parsed = parseDockerAuthConfig(rawAuthConfig);
    if (typeof parsed === 'string') problems.push(`EXECUTOR_DOCKER_AUTH_CONFIG: ${parsed} (the value is not shown: it holds credentials)`);
    else dockerAuthConfig = parsed;
  }

  const dockerAdditionalMounts: string[] = [];
  for (const spec of (get('EXECUTOR_DOCKER_ADDITIONAL_MOUNTS') ?? '').split(';').map((s) => s.trim()).filter(Boolean)) {
    const problem = mountSpecProblem(spec);
    if (problem === undefined) dockerAdditionalMounts.push(spec);
    else problems.push(`EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: mount ${q(spec)}: ${problem}`);
  }

  // The shell runtime's steps are the executor's neighbours: as its own user they read its token in
  // /proc/<pid>/environ (issue 11). Another user per running job, or the operator's explicit yes.
  const shellAllowSameUser = boolean('EXECUTOR_SHELL_ALLOW_SAME_USER', false);
  const rawShellUsers = get('EXECUTOR_SHELL_USER');
  const shellUsers = (rawShellUsers ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  const maximumNumJobs = integer('EXECUTOR_MAXIMUM_NUM_JOBS', 1, 1);
  if (rawShellUsers !== undefined) {
    const bad = shellUsers.filter((u) => !/^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|\d{1,10})$/.test(u));
    const repeated = shellUsers.filter((u, i) => shellUsers.indexOf(u) !== i);
    if (bad.length > 0) problems.push(`EXECUTOR_SHELL_USER=${q(rawShellUsers)}: ${bad.map((u) => q(u)).join(', ')} is not a user name or uid`);
    else if (shellUsers.some((u) => u === 'root' || u === '0')) problems.push(`EXECUTOR_SHELL_USER=${q(rawShellUsers)}: not root: steps as root read everything the executor has; use a dedicated unprivileged user`);
    else if (repeated.length > 0) problems.push(`EXECUTOR_SHELL_USER=${q(rawShellUsers)}: ${[...new Set(repeated)].join(', ')} listed more than once: each job running at once needs a user of its own`);
    else if (runtime === 'shell' && shellUsers.length < maximumNumJobs) {
      problems.push(
        `EXECUTOR_SHELL_USER=${q(rawShellUsers)}: ${shellUsers.length} ${shellUsers.length === 1 ? 'user' : 'users'} for EXECUTOR_MAXIMUM_NUM_JOBS=${maximumNumJobs}: jobs running at once as one user could read each other's workspaces and secrets; list one user per job`,
      );
    }
  } else if (runtime === 'shell' && !shellAllowSameUser) {
    problems.push(
      "EXECUTOR_SHELL_USER: required with EXECUTOR_RUNTIME=shell: steps would run as the executor's own user and could read its EXECUTOR_FRONTEND_PASSWORD from /proc/<pid>/environ (and with it take any job of any queue); set it to a dedicated unprivileged user (one per EXECUTOR_MAXIMUM_NUM_JOBS; the executor then runs as root), or set EXECUTOR_SHELL_ALLOW_SAME_USER=true where the executor itself is a throw-away sandbox",
    );
  }

  // The original defaults to warn and then says nothing at all while it works; info shows the start,
  // the connection, each job and each shutdown step (README, Logging).
  const rawLogLevel = get('SRC_LOG_LEVEL') ?? 'info';
  const logLevel = parseLogLevel(rawLogLevel) ?? 'info';
  if (parseLogLevel(rawLogLevel) === undefined) problems.push(`SRC_LOG_LEVEL=${q(rawLogLevel)}: expected dbug, info, warn, eror or crit (or debug, error)`);
  const rawLogFormat = get('SRC_LOG_FORMAT') ?? 'condensed';
  const logFormat = parseLogFormat(rawLogFormat) ?? 'condensed';
  if (parseLogFormat(rawLogFormat) === undefined) problems.push(`SRC_LOG_FORMAT=${q(rawLogFormat)}: expected condensed or json`);

  const debugServerAddress = get('SRC_PROF_HTTP');
  if (debugServerAddress !== undefined) {
    try {
      parseAddress(debugServerAddress);
    } catch (err) {
      problems.push(`SRC_PROF_HTTP=${q(debugServerAddress)}: ${(err as Error).message}`);
    }
  }

  let kubernetes: KubernetesConfig | undefined;
  if (runtime === 'kubernetes') {
    const loaded = loadKubernetesConfig(env);
    problems.push(...loaded.problems);
    kubernetes = loaded.config;
  }

  const config: ExecutorConfig = {
    name: `${options.hostname ?? os.hostname()}-${randomUUID()}`,
    frontendUrl,
    frontendPassword,
    ownRedactedValues: { ...dockerAuthRedactedValues(dockerAuthConfig), ...(frontendPassword === '' ? {} : { [frontendPassword]: SECRET_REMOVED }) },
    queueName,
    queueNames,
    queuePollIntervalMs: duration('EXECUTOR_QUEUE_POLL_INTERVAL', '1s'),
    maximumNumJobs,
    runtime,
    jobNumCpus,
    jobMemoryBytes,
    jobMemoryText,
    vmDiskSpaceBytes,
    vmDiskSpaceText,
    vmPrefix,
    vmStartupScriptPath: absolutePath('EXECUTOR_VM_STARTUP_SCRIPT_PATH'),
    vmAllowEmulation,
    vmCacheDir,
    vmImageCacheBytes,
    vmSnapshots: boolean('EXECUTOR_VM_SNAPSHOTS', true),
    vmWarmPoolSize: integer('EXECUTOR_VM_WARM_POOL_SIZE', maximumNumJobs, 0),
    vmWarmPoolIdleTimeoutMs: duration('EXECUTOR_VM_WARM_POOL_IDLE_TIMEOUT', '10m', { allowZero: true }),
    keepWorkspaces,
    dockerHostMountPath: absolutePath('EXECUTOR_DOCKER_HOST_MOUNT_PATH'),
    maximumRuntimePerJobMs: duration('EXECUTOR_MAXIMUM_RUNTIME_PER_JOB', '30m'),
    cleanupTaskIntervalMs: duration('EXECUTOR_CLEANUP_TASK_INTERVAL', '1m'),
    numTotalJobs: integer('EXECUTOR_NUM_TOTAL_JOBS', 0, 0),
    maxActiveTimeMs: duration('EXECUTOR_MAX_ACTIVE_TIME', '0', { allowZero: true }),
    nodeExporterUrl,
    dockerRegistryNodeExporterUrl,
    dockerRegistryMirrorUrls,
    dockerAddHostGateway,
    dockerAuthConfig,
    dockerAdditionalMounts,
    logLevel,
    logFormat,
    // docker -v needs an absolute host path, so a relative TMPDIR would fail every job.
    workspaceParentDir: absolutePath('TMPDIR') ?? os.tmpdir(),
    caSearch: certificateSearchPath({ SSL_CERT_FILE: get('SSL_CERT_FILE'), SSL_CERT_DIR: get('SSL_CERT_DIR') }),
    shellUsers,
    shellAllowSameUser,
    debugServerAddress,
    kubernetes,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * Parses EXECUTOR_DOCKER_AUTH_CONFIG; returns what is wrong as a string. No message quotes any part of the
 * input (JSON.parse's own message does, so it is dropped); entries are named by position for the same reason.
 */
function parseDockerAuthConfig(raw: string): DockerAuthConfig | string {
  const shape = 'expected JSON {"auths": {"host[:port]": {"auth": "<base64 of user:password>"}}}';
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return `not valid JSON; ${shape}`;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return `not a JSON object; ${shape}`;
  // Credential helpers and stores cannot work inside a VM or with a per-job config dir (reference §8).
  const others = Object.keys(json).filter((k) => k !== 'auths');
  if (others.length > 0) return `only "auths" is supported, found ${others.map((k) => (/^[A-Za-z]{1,30}$/.test(k) ? q(k) : 'another key')).join(', ')}; ${shape}`;
  const auths = (json as { auths?: unknown }).auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) return `"auths" is missing or not an object; ${shape}`;
  const entries = Object.entries(auths);
  const result: DockerAuthConfig = { auths: {} };
  for (const [i, [registry, entry]] of entries.entries()) {
    const which = `auths entry ${i + 1} of ${entries.length}`;
    if (!REGISTRY_KEY.test(registry)) return `the key of ${which} is not a registry host[:port]; ${shape}`;
    const auth = typeof entry === 'object' && entry !== null ? (entry as { auth?: unknown }).auth : undefined;
    if (typeof auth !== 'string' || auth === '') return `${which} has no "auth" string; ${shape}`;
    if (!BASE64.test(auth)) return `the "auth" of ${which} is not valid base64; ${shape}`;
    if (!Buffer.from(auth, 'base64').toString('utf8').includes(':')) return `the "auth" of ${which} does not decode to user:password; ${shape}`;
    result.auths[registry] = { auth };
  }
  return result;
}

/**
 * What is wrong with one `docker run --mount` spec, or undefined. Checks the shape only (docker checks the
 * rest when a step runs); quoted values with commas (docker's CSV form) are not supported.
 */
function mountSpecProblem(spec: string): string | undefined {
  const expected = 'expected comma-separated key=value pairs with exactly one target, e.g. type=bind,source=/foo,target=/bar';
  let targets = 0;
  for (const field of spec.split(',').map((f) => f.trim())) {
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    if (eq === -1 ? !MOUNT_BARE_KEYS.has(key) : !/^[a-z][a-z0-9-]*$/.test(key) || eq === field.length - 1) {
      return `${q(field)} is not a key=value pair; ${expected}`;
    }
    if (MOUNT_TARGET_KEYS.has(key)) {
      targets++;
      if (!field.slice(eq + 1).startsWith('/')) return `the target must be an absolute path in the container; ${expected}`;
    }
  }
  if (targets === 0) return `no target (target=, destination= or dst=); ${expected}`;
  if (targets > 1) return `more than one target keyword (target, destination, dst); ${expected}`;
  return undefined;
}
