// The release binaries (`npm run release`): built from this checkout into a scratch directory, then run
// as a host without Node.js would run them — a PATH with no node on it. The coordinator binary starts its
// embedded database from the WebAssembly inside it and publishes queue sizes with the bundled cloud SDKs
// (to local stand-ins for CloudWatch and Cloud Monitoring: no cloud is reachable here); the executor binary
// passes `validate` against it and runs a shell job on loopback.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceCommit } from '../../scripts/build/bundle.js';
import { buildRelease, type ReleaseInfo } from '../../scripts/build/release.js';
import { AdminApi } from '../helpers/api-client.js';
import { startCloudMonitoringStandIn, type CloudMonitoringStandIn } from '../helpers/cloud-monitoring-stand-in.js';
import { startCloudWatchStandIn, type CloudWatchStandIn } from '../helpers/cloudwatch-stand-in.js';
import { waitFor } from '../helpers/executor-process.js';

const run = promisify(execFile);

/** A directory of links to every program in /usr/local/bin, /usr/bin and /bin except Node.js and npm's. */
async function pathWithoutNode(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  for (const source of ['/usr/local/bin', '/usr/bin', '/bin']) {
    for (const name of await fs.readdir(source).catch(() => [] as string[])) {
      if (/^(node|nodejs|npm|npx|corepack|yarn|pnpm)$/.test(name)) continue;
      await fs.symlink(path.join(source, name), path.join(dir, name)).catch(() => {});
    }
  }
  return dir;
}

describe('the release binaries', () => {
  let work: string;
  let release: ReleaseInfo;
  let nodelessPath: string;
  let coordinator: { url: string; log: () => string; stop: () => Promise<void> };
  const executorToken = randomBytes(16).toString('hex');
  const adminToken = randomBytes(16).toString('hex');
  const awsKeys = { accessKeyId: 'AKIASTANDIN000000003', secretAccessKey: 'stand-in-secret-for-the-release-test' };
  let cloudwatch: CloudWatchStandIn;
  let monitoring: CloudMonitoringStandIn;

  beforeAll(async () => {
    work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'executors-release-')));
    release = await buildRelease(path.join(work, 'release'));
    nodelessPath = await pathWithoutNode(path.join(work, 'bin-without-node'));
    cloudwatch = await startCloudWatchStandIn(awsKeys, 'us-west-2');
    monitoring = await startCloudMonitoringStandIn('release-test');
    const child = spawn(release.binaries.coordinator, ['serve'], {
      env: {
        PATH: nodelessPath,
        HOME: work,
        COORDINATOR_ADDR: '127.0.0.1:0',
        COORDINATOR_DATA_DIR: path.join(work, 'coordinator'),
        COORDINATOR_EXECUTORS_ACCESS_TOKEN: executorToken,
        COORDINATOR_ADMIN_TOKEN: adminToken,
        EXECUTOR_METRIC_AWS_NAMESPACE: 'sourcegraph-executor',
        EXECUTOR_METRIC_AWS_REGION: 'us-west-2',
        EXECUTOR_METRIC_AWS_ACCESS_KEY_ID: awsKeys.accessKeyId,
        EXECUTOR_METRIC_AWS_SECRET_ACCESS_KEY: awsKeys.secretAccessKey,
        EXECUTOR_METRIC_AWS_ENDPOINT: cloudwatch.url,
        EXECUTOR_METRIC_GCP_PROJECT_ID: 'release-test',
        EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE_CONTENT: JSON.stringify(monitoring.serviceAccountKey),
        EXECUTOR_METRIC_GCP_ENDPOINT: monitoring.url,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the coordinator binary did not listen within 90 s:\n${stderr}`)), 90_000);
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /coordinator listening url=(\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the coordinator binary exited with ${code} before listening:\n${stderr}`));
      });
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    coordinator = {
      url,
      log: () => stderr,
      stop: async () => {
        child.kill('SIGTERM');
        await exited;
      },
    };
  }, 300_000);

  afterAll(async () => {
    await coordinator?.stop();
    await cloudwatch?.close();
    await monitoring?.close();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const executorEnv = (extra: Record<string, string> = {}) => ({
    PATH: nodelessPath,
    HOME: work,
    TMPDIR: work,
    EXECUTOR_FRONTEND_URL: coordinator.url,
    EXECUTOR_FRONTEND_PASSWORD: executorToken,
    EXECUTOR_QUEUE_NAME: 'batches',
    EXECUTOR_RUNTIME: 'shell',
    // The shell runtime refuses to run steps as the executor's own user unless told to (these tests are that user).
    EXECUTOR_SHELL_ALLOW_SAME_USER: 'true',
    ...extra,
  });

  it('are single files of their own that print their version and the commit they were built from', async () => {
    expect(Object.keys(release.binaries).sort()).toEqual(['coordinator', 'executor']);
    const expectedCommit = sourceCommit();
    for (const [program, binary] of Object.entries(release.binaries)) {
      expect(path.basename(binary)).toBe(`${program}-linux-amd64`);
      const { stdout } = await run(binary, ['--version'], { env: { PATH: nodelessPath } });
      expect(stdout).toBe(`${program} ${release.version} (commit ${expectedCommit}, release build)\n`);
    }
    // Nothing beside the binaries is needed: the checksums list exactly the two.
    const sums = await fs.readFile(path.join(work, 'release/SHA256SUMS'), 'utf8');
    expect(sums.trim().split('\n').map((l) => l.split(/\s+/)[1])).toEqual(['executor-linux-amd64', 'coordinator-linux-amd64']);
  });

  it('run where no node is on PATH', async () => {
    await expect(run('sh', ['-c', 'command -v node'], { env: { PATH: nodelessPath } })).rejects.toThrow();
    const { stdout } = await run(release.binaries.executor, ['help'], { env: { PATH: nodelessPath } });
    expect(stdout).toContain('Usage: executor');
  });

  it('the coordinator binary made its embedded database from the WebAssembly inside it', async () => {
    expect(coordinator.log()).toContain('creating the embedded database');
    expect(coordinator.log()).toMatch(/coordinator listening url=\S+ .*database=pglite/);
    await fs.stat(path.join(work, 'coordinator/pglite/PG_VERSION'));
  });

  it('the coordinator binary publishes queue sizes to CloudWatch and Cloud Monitoring with the SDKs inside it', async () => {
    await waitFor('a round to each cloud', async () => cloudwatch.requests.length > 0 && monitoring.requests.length > 0, 30_000);
    expect(cloudwatch.requests[0]!.body.MetricData.map((d) => d.Dimensions[0]!.Value)).toEqual(['batches', 'codeintel', 'batches_codeintel']);
    expect(monitoring.requests[0]!.body.timeSeries.map((t) => t.metric.type)).toEqual(Array(3).fill('custom.googleapis.com/executors/queue/size'));
    expect(coordinator.log()).not.toContain('could not publish');
  });

  it('the executor binary passes validate against the coordinator on loopback', async () => {
    const { stdout } = await run(release.binaries.executor, ['validate'], { env: executorEnv() });
    expect(stdout).toContain(`coordinator: ${coordinator.url} accepted EXECUTOR_FRONTEND_PASSWORD`);
    expect(stdout).toMatch(/All checks passed!\n$/);
  });

  it('the executor binary runs a shell job to completion, then exits after EXECUTOR_NUM_TOTAL_JOBS', async () => {
    const admin = new AdminApi(coordinator.url, adminToken);
    const marker = `from-the-release-binary-${randomBytes(4).toString('hex')}`;
    const id = await admin.enqueue('batches', {
      dockerSteps: [{ key: 'hello', image: 'unused-on-shell', commands: [`echo ${marker}`] }],
    });
    const child = spawn(release.binaries.executor, ['run'], { env: executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, output).toBe(0);
    const job = (await admin.jobWithOutput('batches', id)).json as { state: string; executionLogs: Array<{ key: string; out: string | null; exitCode: number | null }> };
    expect(job.state, JSON.stringify(job)).toBe('completed');
    const step = job.executionLogs.find((e) => e.key === 'step.docker.hello');
    expect(step?.exitCode).toBe(0);
    // The executor ran with no node on its PATH (executorEnv); its steps get the shell runtime's own PATH
    // (system directories), so what they find there says nothing about the executor.
    expect(step?.out).toContain(`stdout: ${marker}`);
  });
});
