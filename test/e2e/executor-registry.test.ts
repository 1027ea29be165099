// bin/executor against bin/coordinator on the docker runtime, pulling a private image from a real
// registry with htpasswd auth (Debian's docker-registry on 127.0.0.1): the credentials come from the
// job's dockerAuthConfig, else EXECUTOR_DOCKER_AUTH_CONFIG, else the executor user's ~/.docker/config.json,
// and the chosen source replaces the others (a wrong one is not saved by a right one below it). A refused
// pull fails the step with a line that names the source, and no credential reaches the stored log.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DockerAuthConfig } from '../../src/protocol/job.js';
import { pullAuthFailureLine } from '../../src/executor/runtimes/docker/docker-runtime.js';
import { AdminApi } from '../helpers/api-client.js';
import { dockerTestsEnabled, ensureBusyboxImage } from '../helpers/docker.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor } from '../helpers/executor-process.js';
import { basicAuth, removeImage, startRegistry, type TestRegistry } from '../helpers/registry.js';

interface JobView {
  state: string;
  failureMessage: string | null;
  executionLogs: Array<{ key: string; command: string[]; out: string | null; exitCode: number | null }>;
}

/** Which credentials a source holds in a case: the registry's password, a wrong one, or none at all. */
type Credentials = 'right' | 'wrong' | undefined;

/** What docker 20.10 prints for a refused pull: credentials sent and refused, and none sent. */
const DOCKER_REFUSED = 'docker: Error response from daemon: unauthorized: authentication required';
const DOCKER_NO_CREDENTIALS = /docker: Error response from daemon: Head "http:\/\/127\.0\.0\.1:\d+\/v2\/private\/busybox\/manifests\/[0-9a-f]+": no basic auth credentials/;

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker, and never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('bin/executor pulling a private image with registry credentials', () => {
  const wrongPassword = `wrong-${randomBytes(9).toString('hex')}`;
  let env: E2eEnvironment;
  let admin: AdminApi;
  let registry: TestRegistry;
  let work: string;
  let image: string;

  const authConfig = (credentials: 'right' | 'wrong'): DockerAuthConfig => registry.authConfig(credentials === 'right' ? registry.password : wrongPassword);
  /** Every credential a case may hold, as docker or a careless log would show it. */
  const secrets = () => [registry.password, wrongPassword, basicAuth(registry.user, registry.password), basicAuth(registry.user, wrongPassword)];

  /** A HOME for the executor user, with ~/.docker/config.json holding `credentials` when given. */
  const executorHome = async (credentials: Credentials) => {
    const home = await fs.mkdtemp(path.join(work, 'home-'));
    if (credentials) {
      await fs.mkdir(path.join(home, '.docker'), { mode: 0o700 });
      await fs.writeFile(path.join(home, '.docker/config.json'), JSON.stringify(authConfig(credentials)), { mode: 0o600 });
    }
    return home;
  };

  /** Runs a one-step job that runs `image`, with credentials in the job, the executor's env and its HOME as given. */
  const runJob = async (sources: { job?: Credentials; env?: Credentials; home?: Credentials }) => {
    const id = await admin.enqueue('batches', {
      ...(sources.job ? { dockerAuthConfig: authConfig(sources.job) } : {}),
      dockerSteps: [{ key: 'private', image, commands: ['echo ran in the private image'] }],
    });
    const executor = spawnExecutor(
      env.executorEnv({
        EXECUTOR_JOB_NUM_CPUS: '1',
        EXECUTOR_JOB_MEMORY: '256m',
        EXECUTOR_NUM_TOTAL_JOBS: '1',
        HOME: await executorHome(sources.home),
        ...(sources.env ? { EXECUTOR_DOCKER_AUTH_CONFIG: JSON.stringify(authConfig(sources.env)) } : {}),
      }),
    );
    expect(await executor.exited, executor.log()).toBe(0);
    const job = (await admin.jobWithOutput('batches', id)).json as JobView;
    const step = job.executionLogs.find((e) => e.key === 'step.docker.private');
    if (!step) throw new Error(`no log entry step.docker.private in ${JSON.stringify(job)}`);
    return { job, step, executorLog: executor.log() };
  };

  beforeAll(async () => {
    await ensureBusyboxImage();
    registry = await startRegistry();
    image = await registry.pushPrivateBusybox();
    env = await startE2eEnvironment({ name: 'registry-e2e', runtime: 'docker' });
    ({ admin, work } = env);
  }, 180_000);
  // Every case pulls: an image left by an earlier case would run whatever the credentials.
  beforeEach(async () => {
    if (image) await removeImage(image);
  });
  afterAll(async () => {
    await env?.stop();
    if (image) await removeImage(image);
    await registry?.stop();
  });

  it.each([
    { source: "the job's dockerAuthConfig", sources: { job: 'right' } },
    { source: 'EXECUTOR_DOCKER_AUTH_CONFIG', sources: { env: 'right' } },
    { source: "the executor user's ~/.docker/config.json", sources: { home: 'right' } },
    { source: "the job's dockerAuthConfig over a wrong EXECUTOR_DOCKER_AUTH_CONFIG and ~/.docker/config.json", sources: { job: 'right', env: 'wrong', home: 'wrong' } },
    { source: 'EXECUTOR_DOCKER_AUTH_CONFIG over a wrong ~/.docker/config.json', sources: { env: 'right', home: 'wrong' } },
  ] as Array<{ source: string; sources: Record<string, Credentials> }>)('pulls the private image and runs the step with credentials from $source', async ({ sources }) => {
    const { job, step, executorLog } = await runJob(sources);
    expect(job.state, JSON.stringify(job)).toBe('completed');
    expect(step.exitCode).toBe(0);
    // Pulled from the registry just now, not found locally.
    expect(step.out).toContain(`stderr: Unable to find image '${image}' locally`);
    expect(step.out).toMatch(/stderr: .*Pulling from private\/busybox/);
    expect(step.out).toContain('stdout: ran in the private image');
    for (const secret of secrets()) {
      expect(JSON.stringify(job)).not.toContain(secret);
      expect(executorLog).not.toContain(secret);
    }
  });

  it.each([
    { case: "wrong credentials in the job's dockerAuthConfig, right ones in EXECUTOR_DOCKER_AUTH_CONFIG and HOME", sources: { job: 'wrong', env: 'right', home: 'right' }, named: "the job's dockerAuthConfig" },
    { case: 'wrong credentials in EXECUTOR_DOCKER_AUTH_CONFIG, right ones in HOME', sources: { env: 'wrong', home: 'right' }, named: 'EXECUTOR_DOCKER_AUTH_CONFIG' },
    { case: "wrong credentials in the executor user's ~/.docker/config.json", sources: { home: 'wrong' }, named: "the executor user's docker config" },
  ] as Array<{ case: string; sources: Record<string, Credentials>; named: string }>)('fails the step on $case, saying that authentication failed and where the credentials came from', async ({ sources, named }) => {
    const { job, step, executorLog } = await runJob(sources);
    expect(job.state, JSON.stringify(job)).toBe('failed');
    // docker's reason, and where the refused credentials came from.
    expect(job.failureMessage).toBe(
      `running command "step.docker.private": image "${image}" could not be pulled: ${DOCKER_REFUSED.replace('docker: Error response from daemon: ', '')}; the registry refused the credentials (authentication failed); they came from ${named}`,
    );
    expect(step.exitCode).toBe(125);
    expect(step.out).toContain(`stderr: ${DOCKER_REFUSED}`);
    expect(step.out).toContain(`stderr: executor: pulling ${image} failed: the registry refused the credentials (authentication failed); they came from ${named}`);
    expect(step.out).not.toContain('stdout: ran in the private image');
    for (const secret of secrets()) {
      expect(JSON.stringify(job)).not.toContain(secret);
      expect(executorLog).not.toContain(secret);
    }
  });

  it('pulls with the DOCKER_AUTH_CONFIG executor secret of the job\'s user, which the coordinator turns into the job\'s dockerAuthConfig, over a wrong EXECUTOR_DOCKER_AUTH_CONFIG', async () => {
    const user = await admin.post('/api/v1/users', { username: 'registry-user' });
    expect(user.status).toBe(201);
    const token = (await admin.post(`/api/v1/users/${user.json.id}/tokens`, { note: 'registry e2e' })).json.token as string;
    const asUser = new AdminApi(env.coordinator.url, token);
    const secretValue = JSON.stringify(authConfig('right'));
    expect((await asUser.post(`/api/v1/users/${user.json.id}/secrets`, { key: 'DOCKER_AUTH_CONFIG', value: secretValue, scope: 'batches' })).status).toBe(201);
    const id = await asUser.enqueue('batches', { dockerSteps: [{ key: 'private', image, commands: ['echo ran in the private image'] }] });
    const executor = spawnExecutor(
      env.executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1', HOME: await executorHome(undefined), EXECUTOR_DOCKER_AUTH_CONFIG: JSON.stringify(authConfig('wrong')) }),
    );
    expect(await executor.exited, executor.log()).toBe(0);
    const job = (await admin.jobWithOutput('batches', id)).json as JobView;
    expect(job.state, JSON.stringify(job)).toBe('completed');
    expect(job.executionLogs.find((e) => e.key === 'step.docker.private')?.out).toContain('stdout: ran in the private image');
    for (const secret of [...secrets(), secretValue]) expect(JSON.stringify(job)).not.toContain(secret);
  });

  it('fails the step without any credentials, saying that the registry asks for some', async () => {
    const { job, step } = await runJob({});
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.failureMessage).toMatch(
      new RegExp(`^running command "step\\.docker\\.private": image "${image.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" could not be pulled: Head "http://127\\.0\\.0\\.1:\\d+/v2/private/busybox/manifests/[0-9a-f]+": no basic auth credentials; the registry asks for credentials and the executor user's docker config has none for it \\(authentication failed\\)$`),
    );
    expect(step.out).toMatch(DOCKER_NO_CREDENTIALS);
    expect(step.out).toContain(`stderr: executor: pulling ${image} failed: the registry asks for credentials and the executor user's docker config has none for it (authentication failed)`);
  });

  // The added line depends on docker's words: these are the ones seen above, on docker 20.10.
  it('adds the line only for docker\'s own refused pull (exit code 125), never for a step\'s exit code or another pull error', () => {
    const image = '127.0.0.1:5000/private/busybox:1';
    expect(pullAuthFailureLine(image, 125, `Unable to find image '${image}' locally\n${DOCKER_REFUSED}\n\nRun 'docker run --help' for more information\n`, 'executor')).toBe(
      `executor: pulling ${image} failed: the registry refused the credentials (authentication failed); they came from EXECUTOR_DOCKER_AUTH_CONFIG\n`,
    );
    expect(pullAuthFailureLine(image, 125, `docker: Error response from daemon: Head "http://${image}": no basic auth credentials.\n`, 'job')).toBe(
      `executor: pulling ${image} failed: the registry asks for credentials and the job's dockerAuthConfig has none for it (authentication failed)\n`,
    );
    // A step that prints the words and exits with its own code; a pull that failed for another reason.
    expect(pullAuthFailureLine(image, 1, `${DOCKER_REFUSED}\n`, 'job')).toBeUndefined();
    expect(pullAuthFailureLine(image, 125, 'docker: Error response from daemon: manifest for x:1 not found: manifest unknown\n', 'job')).toBeUndefined();
  });
});
