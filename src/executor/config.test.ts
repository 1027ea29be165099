// Tests of loadExecutorConfig: the original's defaults and validation rules (reference §6.1, §5.1, §2.1, §8),
// every problem reported at once, and secrets kept out of the messages.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/errors.js';
import { loadExecutorConfig, type ExecutorConfigOptions } from './config.js';

type Env = Record<string, string | undefined>;

const PASSWORD = 'frontend-password-0123456789';
const BASE: Env = {
  EXECUTOR_FRONTEND_URL: 'https://sourcegraph.example.com',
  EXECUTOR_FRONTEND_PASSWORD: PASSWORD,
  EXECUTOR_QUEUE_NAME: 'batches',
  // The shell runtime's tests below are about other settings; its user rules are test/security's.
  EXECUTOR_SHELL_ALLOW_SAME_USER: 'true',
};
const OPTIONS: ExecutorConfigOptions = { hostname: 'build-host' };
/** The variables a pod gets: the kubernetes runtime then uses the in-cluster service account. */
const IN_CLUSTER: Env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', HOME: '/nonexistent' };

const load = (env: Env, options: ExecutorConfigOptions = OPTIONS) => loadExecutorConfig({ ...BASE, ...env }, options);

/** The ConfigError a load throws; fails the test when the load succeeds or throws something else. */
function configError(env: Env, options: ExecutorConfigOptions = OPTIONS): ConfigError {
  try {
    loadExecutorConfig({ ...BASE, ...env }, options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  return expect.unreachable('expected a ConfigError');
}

/** The single problem a load reports. */
function problemOf(env: Env, options?: ExecutorConfigOptions): string {
  const { problems } = configError(env, options);
  expect(problems).toHaveLength(1);
  return problems[0]!;
}

// A docker auth config whose credentials must never reach an error message.
const SECRET_PASSWORD = 's3cr3t-Pa55w0rd';
const SECRET_AUTH = Buffer.from(`robot:${SECRET_PASSWORD}`).toString('base64');

describe('loadExecutorConfig', () => {
  it('has the documented defaults', () => {
    const c = load({});
    expect(c).toMatchObject({
      frontendUrl: 'https://sourcegraph.example.com',
      frontendPassword: PASSWORD,
      queueName: 'batches',
      queueNames: ['batches'],
      queuePollIntervalMs: 1000,
      maximumNumJobs: 1,
      runtime: 'docker',
      jobNumCpus: 4,
      jobMemoryBytes: 12e9,
      jobMemoryText: '12G',
      vmDiskSpaceBytes: 20e9,
      vmDiskSpaceText: '20G',
      vmPrefix: 'executor',
      vmStartupScriptPath: undefined,
      vmAllowEmulation: false,
      keepWorkspaces: false,
      dockerHostMountPath: undefined,
      maximumRuntimePerJobMs: 30 * 60_000,
      cleanupTaskIntervalMs: 60_000,
      numTotalJobs: 0,
      maxActiveTimeMs: 0,
      nodeExporterUrl: undefined,
      dockerRegistryNodeExporterUrl: undefined,
      dockerRegistryMirrorUrls: [],
      dockerAddHostGateway: false,
      dockerAuthConfig: undefined,
      dockerAdditionalMounts: [],
      // info, not the original's warn: the start, connection, job and shutdown lines show by default.
      logLevel: 'info',
      logFormat: 'condensed',
      workspaceParentDir: os.tmpdir(),
    });
  });

  it('reads every variable when set', () => {
    const c = load({
      EXECUTOR_FRONTEND_URL: 'http://coordinator:3080/',
      EXECUTOR_QUEUE_POLL_INTERVAL: '250ms',
      EXECUTOR_MAXIMUM_NUM_JOBS: '8',
      EXECUTOR_RUNTIME: 'vm',
      EXECUTOR_JOB_NUM_CPUS: '2',
      EXECUTOR_JOB_MEMORY: '4G',
      EXECUTOR_FIRECRACKER_DISK_SPACE: '10GiB',
      EXECUTOR_VM_PREFIX: 'ci-vm',
      EXECUTOR_VM_STARTUP_SCRIPT_PATH: '/etc/executor/startup.sh',
      EXECUTOR_VM_ALLOW_EMULATION: 'true',
      EXECUTOR_KEEP_WORKSPACES: '1',
      EXECUTOR_DOCKER_HOST_MOUNT_PATH: '/scratch',
      EXECUTOR_MAXIMUM_RUNTIME_PER_JOB: '1h30m',
      EXECUTOR_CLEANUP_TASK_INTERVAL: '30s',
      EXECUTOR_NUM_TOTAL_JOBS: '5',
      EXECUTOR_MAX_ACTIVE_TIME: '2h',
      NODE_EXPORTER_URL: 'http://127.0.0.1:9100/',
      DOCKER_REGISTRY_NODE_EXPORTER_URL: 'http://registry:9999',
      EXECUTOR_DOCKER_REGISTRY_MIRROR_URL: 'http://mirror-a:5000, https://mirror-b.example.com/',
      EXECUTOR_DOCKER_ADD_HOST_GATEWAY: 'T',
      SRC_LOG_LEVEL: 'dbug',
      TMPDIR: '/var/tmp/executor',
    });
    expect(c).toMatchObject({
      frontendUrl: 'http://coordinator:3080',
      queuePollIntervalMs: 250,
      maximumNumJobs: 8,
      runtime: 'vm',
      jobNumCpus: 2,
      jobMemoryBytes: 4e9,
      jobMemoryText: '4G',
      vmDiskSpaceBytes: 10 * 2 ** 30,
      vmDiskSpaceText: '10GiB',
      vmPrefix: 'ci-vm',
      vmStartupScriptPath: '/etc/executor/startup.sh',
      vmAllowEmulation: true,
      keepWorkspaces: true,
      dockerHostMountPath: '/scratch',
      maximumRuntimePerJobMs: 90 * 60_000,
      cleanupTaskIntervalMs: 30_000,
      numTotalJobs: 5,
      maxActiveTimeMs: 2 * 3_600_000,
      nodeExporterUrl: 'http://127.0.0.1:9100',
      dockerRegistryNodeExporterUrl: 'http://registry:9999',
      dockerRegistryMirrorUrls: ['http://mirror-a:5000', 'https://mirror-b.example.com'],
      dockerAddHostGateway: true,
      logLevel: 'debug',
      workspaceParentDir: '/var/tmp/executor',
    });
  });

  it('names the executor <hostname>-<uuid v4>, new on every load', () => {
    const a = load({}).name;
    const b = load({}).name;
    expect(a).toMatch(/^build-host-[0-9a-f-]{36}$/);
    expect(a).toMatch(/-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(b).toMatch(/^build-host-[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
    expect(load({}, {}).name.startsWith(`${os.hostname()}-`)).toBe(true);
  });

  it('redacts its own password as SECRET_REMOVED', () => {
    expect(load({}).ownRedactedValues).toEqual({ [PASSWORD]: 'SECRET_REMOVED' });
  });

  describe('EXECUTOR_FRONTEND_URL and EXECUTOR_FRONTEND_PASSWORD', () => {
    it('requires both, naming each, without showing a password', () => {
      const { problems } = configError({ EXECUTOR_FRONTEND_URL: undefined, EXECUTOR_FRONTEND_PASSWORD: '' });
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/^EXECUTOR_FRONTEND_URL: required/);
      expect(problems[1]).toMatch(/^EXECUTOR_FRONTEND_PASSWORD: required/);
    });

    it('accepts only scheme://host[:port] with http or https', () => {
      expect(problemOf({ EXECUTOR_FRONTEND_URL: 'sourcegraph.example.com' })).toMatch(/^EXECUTOR_FRONTEND_URL="sourcegraph.example.com": expected scheme:\/\/host\[:port\] with scheme http or https/);
      expect(problemOf({ EXECUTOR_FRONTEND_URL: 'ftp://sourcegraph.example.com' })).toMatch(/^EXECUTOR_FRONTEND_URL="ftp:\/\/sourcegraph.example.com": expected scheme:\/\/host/);
      expect(problemOf({ EXECUTOR_FRONTEND_URL: 'https://' })).toMatch(/^EXECUTOR_FRONTEND_URL="https:\/\/": expected/);
      expect(problemOf({ EXECUTOR_FRONTEND_URL: 'https://sg.example.com/sourcegraph' })).toMatch(/^EXECUTOR_FRONTEND_URL=.*must not contain the path "\/sourcegraph" \(only \/ is allowed\)/);
      expect(problemOf({ EXECUTOR_FRONTEND_URL: 'https://sg.example.com/?x=1' })).toMatch(/^EXECUTOR_FRONTEND_URL=.*must not contain a query/);
      expect(load({ EXECUTOR_FRONTEND_URL: 'HTTPS://SG.example.com:8443/' }).frontendUrl).toBe('https://sg.example.com:8443');
    });

    it('refuses credentials in the URL without echoing them', () => {
      const problem = problemOf({ EXECUTOR_FRONTEND_URL: 'https://admin:letmein@sg.example.com' });
      expect(problem).toMatch(/^EXECUTOR_FRONTEND_URL="https:\/\/\*\*\*@sg.example.com": must not contain a user name or password/);
      expect(problem).not.toContain('letmein');
    });

    it('requires EXECUTOR_DOCKER_ADD_HOST_GATEWAY for host.docker.internal', () => {
      const env = { EXECUTOR_FRONTEND_URL: 'http://host.docker.internal:3080' };
      expect(problemOf(env)).toMatch(/^EXECUTOR_FRONTEND_URL="http:\/\/host.docker.internal:3080": .*EXECUTOR_DOCKER_ADD_HOST_GATEWAY=true/);
      expect(load({ ...env, EXECUTOR_DOCKER_ADD_HOST_GATEWAY: 'true' }).frontendUrl).toBe('http://host.docker.internal:3080');
    });
  });

  describe('queues', () => {
    it('needs exactly one of EXECUTOR_QUEUE_NAME and EXECUTOR_QUEUE_NAMES', () => {
      expect(problemOf({ EXECUTOR_QUEUE_NAME: undefined })).toMatch(/^EXECUTOR_QUEUE_NAME or EXECUTOR_QUEUE_NAMES: one is required/);
      expect(problemOf({ EXECUTOR_QUEUE_NAMES: 'codeintel' })).toMatch(/^EXECUTOR_QUEUE_NAME="batches" and EXECUTOR_QUEUE_NAMES="codeintel": set only one/);
    });

    it('reads a comma-separated list into queueNames, leaving queueName unset', () => {
      const c = load({ EXECUTOR_QUEUE_NAME: undefined, EXECUTOR_QUEUE_NAMES: 'batches, codeintel,scip_2' });
      expect(c.queueName).toBeUndefined();
      expect(c.queueNames).toEqual(['batches', 'codeintel', 'scip_2']);
    });

    it('accepts any well-formed queue name, not only batches and codeintel', () => {
      expect(load({ EXECUTOR_QUEUE_NAME: 'nightly_builds' }).queueNames).toEqual(['nightly_builds']);
    });

    it('rejects malformed and repeated names, naming the variable and the name', () => {
      expect(problemOf({ EXECUTOR_QUEUE_NAME: 'Batches' })).toMatch(/^EXECUTOR_QUEUE_NAME="Batches": expected a queue name/);
      expect(problemOf({ EXECUTOR_QUEUE_NAME: undefined, EXECUTOR_QUEUE_NAMES: 'batches,2fast,' })).toMatch(/^EXECUTOR_QUEUE_NAMES="batches,2fast,": "2fast", "" are not queue names/);
      expect(problemOf({ EXECUTOR_QUEUE_NAME: undefined, EXECUTOR_QUEUE_NAMES: 'batches,batches' })).toMatch(/^EXECUTOR_QUEUE_NAMES="batches,batches": batches listed more than once/);
    });
  });

  describe('runtime', () => {
    it('defaults to vm where KVM works and to docker where it does not', () => {
      expect(load({}, { ...OPTIONS, kvmWorks: true }).runtime).toBe('vm');
      expect(load({}, { ...OPTIONS, kvmWorks: false }).runtime).toBe('docker');
      expect(load({}, OPTIONS).runtime).toBe('docker');
    });

    it('takes EXECUTOR_RUNTIME over the KVM probe and rejects unknown runtimes', () => {
      expect(load({ EXECUTOR_RUNTIME: 'shell' }, { ...OPTIONS, kvmWorks: true }).runtime).toBe('shell');
      expect(load({ EXECUTOR_RUNTIME: 'kubernetes', ...IN_CLUSTER }).runtime).toBe('kubernetes');
      expect(problemOf({ EXECUTOR_RUNTIME: 'firecracker' })).toBe('EXECUTOR_RUNTIME="firecracker": expected vm, docker, shell, kubernetes');
    });

    it('honours the legacy EXECUTOR_USE_FIRECRACKER when EXECUTOR_RUNTIME is unset', () => {
      expect(load({ EXECUTOR_USE_FIRECRACKER: 'true' }).runtime).toBe('vm');
      expect(load({ EXECUTOR_USE_FIRECRACKER: 'false' }, { ...OPTIONS, kvmWorks: true }).runtime).toBe('docker');
      expect(load({ EXECUTOR_USE_FIRECRACKER: 'true', EXECUTOR_RUNTIME: 'vm' }).runtime).toBe('vm');
      expect(load({ EXECUTOR_USE_FIRECRACKER: 'false', EXECUTOR_RUNTIME: 'shell' }).runtime).toBe('shell');
    });

    it('reports EXECUTOR_RUNTIME and EXECUTOR_USE_FIRECRACKER that disagree', () => {
      expect(problemOf({ EXECUTOR_USE_FIRECRACKER: 'true', EXECUTOR_RUNTIME: 'docker' })).toMatch(/^EXECUTOR_RUNTIME="docker" and EXECUTOR_USE_FIRECRACKER="true" disagree/);
      expect(problemOf({ EXECUTOR_USE_FIRECRACKER: '0', EXECUTOR_RUNTIME: 'vm' })).toMatch(/^EXECUTOR_RUNTIME="vm" and EXECUTOR_USE_FIRECRACKER="0" disagree/);
    });

    it('reports an unreadable EXECUTOR_USE_FIRECRACKER once, not also as a disagreement', () => {
      expect(problemOf({ EXECUTOR_USE_FIRECRACKER: 'yes', EXECUTOR_RUNTIME: 'vm' })).toMatch(/^EXECUTOR_USE_FIRECRACKER="yes": invalid boolean/);
    });
  });

  describe('CPUs and memory', () => {
    it('needs 1 or an even number of CPUs for the vm runtime', () => {
      for (const ok of ['1', '2', '8']) expect(load({ EXECUTOR_RUNTIME: 'vm', EXECUTOR_JOB_NUM_CPUS: ok }).jobNumCpus).toBe(Number(ok));
      expect(problemOf({ EXECUTOR_RUNTIME: 'vm', EXECUTOR_JOB_NUM_CPUS: '3' })).toBe('EXECUTOR_JOB_NUM_CPUS="3": the vm runtime needs 1 or an even number of CPUs');
      expect(load({ EXECUTOR_RUNTIME: 'docker', EXECUTOR_JOB_NUM_CPUS: '3' }).jobNumCpus).toBe(3);
    });

    it('falls back to EXECUTOR_FIRECRACKER_NUM_CPUS and names it in problems', () => {
      expect(load({ EXECUTOR_FIRECRACKER_NUM_CPUS: '6' }).jobNumCpus).toBe(6);
      expect(load({ EXECUTOR_FIRECRACKER_NUM_CPUS: '6', EXECUTOR_JOB_NUM_CPUS: '2' }).jobNumCpus).toBe(2);
      expect(problemOf({ EXECUTOR_RUNTIME: 'vm', EXECUTOR_FIRECRACKER_NUM_CPUS: '5' })).toMatch(/^EXECUTOR_FIRECRACKER_NUM_CPUS="5": the vm runtime needs 1 or an even number/);
      expect(problemOf({ EXECUTOR_JOB_NUM_CPUS: 'four' })).toBe('EXECUTOR_JOB_NUM_CPUS="four": expected an integer >= 0');
    });

    it('allows unbounded CPUs (0) only with docker or shell', () => {
      expect(load({ EXECUTOR_RUNTIME: 'docker', EXECUTOR_JOB_NUM_CPUS: '0' }).jobNumCpus).toBe(0);
      expect(load({ EXECUTOR_RUNTIME: 'shell', EXECUTOR_JOB_NUM_CPUS: '0' }).jobNumCpus).toBe(0);
      expect(problemOf({ EXECUTOR_RUNTIME: 'vm', EXECUTOR_JOB_NUM_CPUS: '0' })).toMatch(/^EXECUTOR_JOB_NUM_CPUS="0": 0 \(unbounded\) is only allowed with the docker or shell runtime, not vm/);
      expect(problemOf({ EXECUTOR_RUNTIME: 'kubernetes', ...IN_CLUSTER, EXECUTOR_JOB_NUM_CPUS: '0' })).toMatch(/not kubernetes$/);
    });

    it('reads memory with a fallback to EXECUTOR_FIRECRACKER_MEMORY', () => {
      expect(load({ EXECUTOR_FIRECRACKER_MEMORY: '8G' })).toMatchObject({ jobMemoryBytes: 8e9, jobMemoryText: '8G' });
      expect(load({ EXECUTOR_FIRECRACKER_MEMORY: '8G', EXECUTOR_JOB_MEMORY: '2Gi' })).toMatchObject({ jobMemoryBytes: 2 * 2 ** 30, jobMemoryText: '2Gi' });
      expect(problemOf({ EXECUTOR_FIRECRACKER_MEMORY: 'lots' })).toMatch(/^EXECUTOR_FIRECRACKER_MEMORY="lots": invalid size/);
    });

    it('allows unbounded memory ("0" or "") only with docker or shell', () => {
      expect(load({ EXECUTOR_RUNTIME: 'docker', EXECUTOR_JOB_MEMORY: '0' })).toMatchObject({ jobMemoryBytes: 0, jobMemoryText: '0' });
      expect(load({ EXECUTOR_RUNTIME: 'shell', EXECUTOR_JOB_MEMORY: '' }).jobMemoryBytes).toBe(0);
      expect(problemOf({ EXECUTOR_RUNTIME: 'vm', EXECUTOR_JOB_MEMORY: '0' })).toMatch(/^EXECUTOR_JOB_MEMORY="0": unbounded memory is only allowed with the docker or shell runtime, not vm/);
      expect(problemOf({ EXECUTOR_RUNTIME: 'vm', EXECUTOR_JOB_MEMORY: '' })).toMatch(/^EXECUTOR_JOB_MEMORY="": unbounded memory/);
    });

    it('rejects a bad or zero disk size', () => {
      expect(problemOf({ EXECUTOR_FIRECRACKER_DISK_SPACE: '20 gigs' })).toMatch(/^EXECUTOR_FIRECRACKER_DISK_SPACE="20 gigs": invalid size/);
      expect(problemOf({ EXECUTOR_FIRECRACKER_DISK_SPACE: '0G' })).toBe('EXECUTOR_FIRECRACKER_DISK_SPACE="0G": must be positive');
    });
  });

  describe('scalars', () => {
    it('reads booleans the way Go strconv.ParseBool does and rejects anything else, naming the variable', () => {
      expect(load({ EXECUTOR_KEEP_WORKSPACES: 'True', EXECUTOR_VM_ALLOW_EMULATION: 't' })).toMatchObject({ keepWorkspaces: true, vmAllowEmulation: true });
      expect(load({ EXECUTOR_KEEP_WORKSPACES: 'F' }).keepWorkspaces).toBe(false);
      for (const name of ['EXECUTOR_KEEP_WORKSPACES', 'EXECUTOR_VM_ALLOW_EMULATION', 'EXECUTOR_DOCKER_ADD_HOST_GATEWAY', 'EXECUTOR_USE_FIRECRACKER']) {
        expect(problemOf({ [name]: 'yes' })).toMatch(new RegExp(`^${name}="yes": invalid boolean`));
      }
    });

    it('rejects bad durations and counts, naming the variable', () => {
      expect(problemOf({ EXECUTOR_QUEUE_POLL_INTERVAL: '5' })).toMatch(/^EXECUTOR_QUEUE_POLL_INTERVAL="5": invalid duration/);
      expect(problemOf({ EXECUTOR_QUEUE_POLL_INTERVAL: '0s' })).toBe('EXECUTOR_QUEUE_POLL_INTERVAL="0s": must be positive');
      expect(problemOf({ EXECUTOR_MAXIMUM_RUNTIME_PER_JOB: '-1m' })).toMatch(/^EXECUTOR_MAXIMUM_RUNTIME_PER_JOB="-1m": must be positive/);
      expect(problemOf({ EXECUTOR_CLEANUP_TASK_INTERVAL: '1 minute' })).toMatch(/^EXECUTOR_CLEANUP_TASK_INTERVAL=/);
      expect(problemOf({ EXECUTOR_MAX_ACTIVE_TIME: '-1h' })).toMatch(/^EXECUTOR_MAX_ACTIVE_TIME="-1h": must be zero \(unlimited\) or positive/);
      expect(problemOf({ EXECUTOR_MAXIMUM_NUM_JOBS: '0' })).toBe('EXECUTOR_MAXIMUM_NUM_JOBS="0": expected an integer >= 1');
      expect(problemOf({ EXECUTOR_NUM_TOTAL_JOBS: '-1' })).toBe('EXECUTOR_NUM_TOTAL_JOBS="-1": expected an integer >= 0');
    });

    it('sizes the vm warm pool as EXECUTOR_MAXIMUM_NUM_JOBS unless told, with snapshots on and a 10-minute idle timeout', () => {
      expect(load({})).toMatchObject({ vmSnapshots: true, vmWarmPoolSize: 1, vmWarmPoolIdleTimeoutMs: 600_000 });
      expect(load({ EXECUTOR_MAXIMUM_NUM_JOBS: '6' }).vmWarmPoolSize).toBe(6);
      expect(load({ EXECUTOR_MAXIMUM_NUM_JOBS: '6', EXECUTOR_VM_WARM_POOL_SIZE: '0', EXECUTOR_VM_WARM_POOL_IDLE_TIMEOUT: '0', EXECUTOR_VM_SNAPSHOTS: 'false' })).toMatchObject({
        vmSnapshots: false,
        vmWarmPoolSize: 0,
        vmWarmPoolIdleTimeoutMs: 0,
      });
      expect(load({ EXECUTOR_VM_WARM_POOL_IDLE_TIMEOUT: '90s' }).vmWarmPoolIdleTimeoutMs).toBe(90_000);
      expect(problemOf({ EXECUTOR_VM_WARM_POOL_SIZE: '-1' })).toBe('EXECUTOR_VM_WARM_POOL_SIZE="-1": expected an integer >= 0');
      expect(problemOf({ EXECUTOR_VM_WARM_POOL_IDLE_TIMEOUT: 'soon' })).toMatch(/^EXECUTOR_VM_WARM_POOL_IDLE_TIMEOUT="soon": /);
      expect(problemOf({ EXECUTOR_VM_SNAPSHOTS: 'maybe' })).toMatch(/^EXECUTOR_VM_SNAPSHOTS="maybe": /);
    });

    it('maps SRC_LOG_LEVEL onto the logger levels and rejects others', () => {
      expect(load({ SRC_LOG_LEVEL: 'crit' }).logLevel).toBe('error');
      expect(load({ SRC_LOG_LEVEL: 'eror' }).logLevel).toBe('error');
      expect(load({ SRC_LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
      expect(load({ SRC_LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
      expect(problemOf({ SRC_LOG_LEVEL: 'loud' })).toBe('SRC_LOG_LEVEL="loud": expected dbug, info, warn, eror or crit (or debug, error)');
    });

    it('reads SRC_LOG_FORMAT as condensed or json and rejects others', () => {
      expect(load({ SRC_LOG_FORMAT: 'json' }).logFormat).toBe('json');
      expect(load({ SRC_LOG_FORMAT: 'condensed' }).logFormat).toBe('condensed');
      expect(problemOf({ SRC_LOG_FORMAT: 'xml' })).toBe('SRC_LOG_FORMAT="xml": expected condensed or json');
    });

    it('needs absolute paths and a well-formed VM prefix', () => {
      expect(problemOf({ TMPDIR: 'tmp' })).toBe('TMPDIR="tmp": expected an absolute path');
      expect(problemOf({ EXECUTOR_DOCKER_HOST_MOUNT_PATH: 'scratch' })).toBe('EXECUTOR_DOCKER_HOST_MOUNT_PATH="scratch": expected an absolute path');
      expect(problemOf({ EXECUTOR_VM_STARTUP_SCRIPT_PATH: './startup.sh' })).toBe('EXECUTOR_VM_STARTUP_SCRIPT_PATH="./startup.sh": expected an absolute path');
      expect(problemOf({ EXECUTOR_VM_PREFIX: 'my vm' })).toMatch(/^EXECUTOR_VM_PREFIX="my vm": expected letters, digits/);
    });
  });

  describe('metrics and registry mirror URLs', () => {
    it('rejects non-http URLs, queries and credentials in mirrors, naming the variable', () => {
      expect(problemOf({ NODE_EXPORTER_URL: 'localhost:9100' })).toBe('NODE_EXPORTER_URL="localhost:9100": expected an http:// or https:// URL');
      expect(problemOf({ DOCKER_REGISTRY_NODE_EXPORTER_URL: 'http://registry:9999/?module=node' })).toMatch(/^DOCKER_REGISTRY_NODE_EXPORTER_URL=.*must not contain a query/);
      const { problems } = configError({ EXECUTOR_DOCKER_REGISTRY_MIRROR_URL: 'http://ok:5000,mirror:5000,https://u:pw@mirror.example.com' });
      expect(problems).toEqual([
        'EXECUTOR_DOCKER_REGISTRY_MIRROR_URL="mirror:5000": expected an http:// or https:// URL',
        'EXECUTOR_DOCKER_REGISTRY_MIRROR_URL="https://***@mirror.example.com": must not contain a user name or password; expected an http:// or https:// URL',
      ]);
    });
  });

  describe('EXECUTOR_DOCKER_AUTH_CONFIG', () => {
    it('reads a docker config with auths', () => {
      const value = JSON.stringify({ auths: { 'registry.example.com:5000': { auth: SECRET_AUTH }, 'https://index.docker.io/v1/': { auth: SECRET_AUTH } } });
      expect(load({ EXECUTOR_DOCKER_AUTH_CONFIG: value }).dockerAuthConfig).toEqual({
        auths: { 'registry.example.com:5000': { auth: SECRET_AUTH }, 'https://index.docker.io/v1/': { auth: SECRET_AUTH } },
      });
    });

    const cases: [string, string, RegExp][] = [
      ['invalid JSON', `{"auths": {"registry.example.com": {"auth": "${SECRET_AUTH}"}}`, /not valid JSON/],
      ['an array', `[{"auth": "${SECRET_AUTH}"}]`, /not a JSON object/],
      ['no auths', `{"registry.example.com": {"auth": "${SECRET_AUTH}"}}`, /only "auths" is supported, found another key/],
      ['a credential store', `{"auths": {}, "credsStore": "${SECRET_PASSWORD}"}`, /only "auths" is supported, found "credsStore"/],
      ['auths not an object', `{"auths": "${SECRET_AUTH}"}`, /"auths" is missing or not an object/],
      ['a registry key with spaces', `{"auths": {"${SECRET_PASSWORD} x": {"auth": "${SECRET_AUTH}"}}}`, /the key of auths entry 1 of 1 is not a registry host\[:port\]/],
      ['an entry without auth', `{"auths": {"a.example.com": {"auth": "${SECRET_AUTH}"}, "b.example.com": {"password": "${SECRET_PASSWORD}"}}}`, /auths entry 2 of 2 has no "auth" string/],
      ['auth that is not base64', `{"auths": {"registry.example.com": {"auth": "robot:${SECRET_PASSWORD}"}}}`, /the "auth" of auths entry 1 of 1 is not valid base64/],
      ['auth without user:password', `{"auths": {"registry.example.com": {"auth": "${Buffer.from(SECRET_PASSWORD).toString('base64')}"}}}`, /does not decode to user:password/],
    ];
    for (const [what, value, expected] of cases) {
      it(`rejects ${what} without showing the value`, () => {
        const err = configError({ EXECUTOR_DOCKER_AUTH_CONFIG: value });
        expect(err.problems).toHaveLength(1);
        expect(err.problems[0]).toMatch(/^EXECUTOR_DOCKER_AUTH_CONFIG: /);
        expect(err.problems[0]).toMatch(expected);
        expect(err.problems[0]).toMatch(/the value is not shown: it holds credentials/);
        for (const secret of [value, SECRET_AUTH, SECRET_PASSWORD, Buffer.from(SECRET_PASSWORD).toString('base64')]) {
          expect(err.message).not.toContain(secret);
        }
      });
    }
  });

  describe('EXECUTOR_DOCKER_ADDITIONAL_MOUNTS', () => {
    it('reads ;-separated --mount specs', () => {
      const c = load({ EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: 'type=bind,source=/foo,destination=/bar; type=volume,src=cache,dst=/cache,readonly;' });
      expect(c.dockerAdditionalMounts).toEqual(['type=bind,source=/foo,destination=/bar', 'type=volume,src=cache,dst=/cache,readonly']);
    });

    it('rejects a spec with more than one target keyword', () => {
      expect(problemOf({ EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: 'type=bind,source=/foo,target=/bar,dst=/baz' })).toMatch(
        /^EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: mount "type=bind,source=\/foo,target=\/bar,dst=\/baz": more than one target keyword/,
      );
    });

    it('rejects a spec without a target, a field that is not key=value, and a relative target', () => {
      const { problems } = configError({ EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: 'type=bind,source=/foo;type=bind,/foo:/bar;type=bind,source=/a,target=bar' });
      expect(problems).toHaveLength(3);
      expect(problems[0]).toMatch(/mount "type=bind,source=\/foo": no target/);
      expect(problems[1]).toMatch(/mount "type=bind,\/foo:\/bar": "\/foo:\/bar" is not a key=value pair/);
      expect(problems[2]).toMatch(/mount "type=bind,source=\/a,target=bar": the target must be an absolute path/);
      for (const p of problems) expect(p).toMatch(/^EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: /);
    });
  });

  it('reports every problem at once in one ConfigError', () => {
    const err = configError(
      {
        EXECUTOR_FRONTEND_URL: 'https://sg.example.com/path',
        EXECUTOR_FRONTEND_PASSWORD: undefined,
        EXECUTOR_QUEUE_NAME: undefined,
        EXECUTOR_QUEUE_NAMES: 'codeintel,Bad',
        EXECUTOR_QUEUE_POLL_INTERVAL: 'soon',
        EXECUTOR_MAXIMUM_NUM_JOBS: 'many',
        EXECUTOR_RUNTIME: 'vm',
        EXECUTOR_JOB_NUM_CPUS: '3',
        EXECUTOR_JOB_MEMORY: '0',
        EXECUTOR_KEEP_WORKSPACES: 'maybe',
        EXECUTOR_DOCKER_AUTH_CONFIG: `{${SECRET_AUTH}`,
        EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: 'target=/a,dst=/b',
        SRC_LOG_LEVEL: 'loud',
      },
      { ...OPTIONS, kvmWorks: true },
    );
    const names = [
      'EXECUTOR_FRONTEND_URL',
      'EXECUTOR_FRONTEND_PASSWORD',
      'EXECUTOR_QUEUE_NAMES',
      'EXECUTOR_QUEUE_POLL_INTERVAL',
      'EXECUTOR_MAXIMUM_NUM_JOBS',
      'EXECUTOR_JOB_NUM_CPUS',
      'EXECUTOR_JOB_MEMORY',
      'EXECUTOR_KEEP_WORKSPACES',
      'EXECUTOR_DOCKER_AUTH_CONFIG',
      'EXECUTOR_DOCKER_ADDITIONAL_MOUNTS',
      'SRC_LOG_LEVEL',
    ];
    expect(err.problems).toHaveLength(names.length);
    for (const name of names) expect(err.problems.some((p) => p.startsWith(name))).toBe(true);
    expect(err.code).toBe('config.invalid');
    expect(err.message).not.toContain(SECRET_AUTH);
  });

  describe('SRC_PROF_HTTP', () => {
    it('is off by default and takes host:port or :port', () => {
      expect(load({}).debugServerAddress).toBeUndefined();
      expect(load({ SRC_PROF_HTTP: ':6060' }).debugServerAddress).toBe(':6060');
      expect(problemOf({ SRC_PROF_HTTP: '6060' })).toBe('SRC_PROF_HTTP="6060": expected host:port or :port, e.g. :6060 or 127.0.0.1:6060');
    });
  });
});
