// A job against the executor that runs it, on the shell runtime (issue 11, "Jobs against the executor"):
// a step read EXECUTOR_FRONTEND_PASSWORD from /proc/<executor pid>/environ (and with it one can dequeue
// everyone's jobs). Real bin/executor processes against a real bin/coordinator on PostgreSQL.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExecutorConfig } from '../../src/executor/config.js';
import { runExecutorCli } from '../../src/executor/main.js';
import { STEP_PATH } from '../../src/executor/runtimes/shell/shell-runtime.js';
import { ConfigError } from '../../src/shared/errors.js';
import type { AdminApi } from '../helpers/api-client.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';

/** The user .ci/run creates for the shell runtime's steps. */
const STEP_USER = 'executors-step';

function stepUserId(): number | undefined {
  try {
    return Number(execFileSync('id', ['-u', STEP_USER], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}
const stepUid = stepUserId();
const canSwitchUser = process.getuid?.() === 0 && stepUid !== undefined;
if (!canSwitchUser && process.env.CI === 'true') throw new Error(`CI must run these tests as root with the user ${STEP_USER} (.ci/run creates it)`);
const missing = process.getuid?.() !== 0 ? 'they need root (to switch users)' : `there is no user ${STEP_USER} (useradd --system ${STEP_USER}, as .ci/run does)`;

/** The characters of the base64 of `…token…` that depend on the token alone, at each of the three alignments. */
function base64Cores(token: string): string[] {
  const bytes = Buffer.from(token);
  return [0, 1, 2].map((a) => Buffer.concat([Buffer.alloc(a), bytes, Buffer.alloc(3)]).toString('base64').slice(Math.ceil((8 * a) / 6), Math.floor((8 * (a + bytes.length)) / 6)));
}

/** Forms in which the token would still be readable in a log: itself, reversed, hex, base64. */
const leakedForms = (token: string) => [token, [...token].reverse().join(''), Buffer.from(token).toString('hex'), ...base64Cores(token)];

/** A log's text without line prefixes and line breaks: what a reader would paste into a decoder. */
const joined = (out: string) =>
  out
    .split('\n')
    .map((line) => line.replace(/^(stdout|stderr): /, ''))
    .join('');

/** The steps of the attack: the executor's environment, plainly, reversed and in base64. */
const ATTACK = [
  'echo "executor pid $PPID, step uid $(id -u)"',
  'tr "\\0" "\\n" < /proc/$PPID/environ | grep FRONTEND_PASSWORD',
  'tr "\\0" "\\n" < /proc/$PPID/environ | grep FRONTEND_PASSWORD | rev',
  'base64 /proc/$PPID/environ',
  // The job goes on whether the reads worked or not.
  'true',
];

describe('configuration of the shell runtime', () => {
  const base = { EXECUTOR_FRONTEND_URL: 'http://127.0.0.1:1', EXECUTOR_FRONTEND_PASSWORD: 'p'.repeat(24), EXECUTOR_QUEUE_NAME: 'batches', EXECUTOR_RUNTIME: 'shell' };

  it('refuses to start without EXECUTOR_SHELL_USER, saying what EXECUTOR_SHELL_ALLOW_SAME_USER=true would allow', () => {
    let error: unknown;
    try {
      loadExecutorConfig(base);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/EXECUTOR_SHELL_USER/);
    expect((error as Error).message).toMatch(/EXECUTOR_SHELL_ALLOW_SAME_USER=true/);
    expect((error as Error).message).toMatch(/\/proc\/<pid>\/environ/);
    expect(() => loadExecutorConfig({ ...base, EXECUTOR_SHELL_ALLOW_SAME_USER: 'true' })).not.toThrow();
  });

  it('refuses fewer shell users than jobs at once, and the executor\'s own user as one', () => {
    expect(() => loadExecutorConfig({ ...base, EXECUTOR_SHELL_USER: 'a,b', EXECUTOR_MAXIMUM_NUM_JOBS: '3' })).toThrow(/EXECUTOR_SHELL_USER.*2 users.*EXECUTOR_MAXIMUM_NUM_JOBS=3/);
    expect(() => loadExecutorConfig({ ...base, EXECUTOR_SHELL_USER: 'root' })).toThrow(/EXECUTOR_SHELL_USER.*root/);
  });

  it('has executor validate say what EXECUTOR_SHELL_ALLOW_SAME_USER=true means', async () => {
    let out = '';
    await runExecutorCli(['validate'], { ...base, EXECUTOR_SHELL_ALLOW_SAME_USER: 'true' }, { stdout: (t) => (out += t), stderr: () => {} });
    const line = out.split('\n').find((l) => /^(ok|FAIL)\s+runtime shell:/.test(l));
    expect(line).toMatch(/own user/);
    expect(line).toMatch(/EXECUTOR_FRONTEND_PASSWORD/);
    expect(line).toMatch(/\/proc\/<pid>\/environ/);
  });
});

describe('bin/executor on the shell runtime against a hostile job', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  let commit: string;
  const leftover = `300.${randomBytes(3).readUIntBE(0, 3)}`;

  beforeAll(async () => {
    env = await startE2eEnvironment({ name: 'shell-security', runtime: 'shell' });
    admin = env.admin;
    // The workspaces live under the work directory: another user must be able to reach them.
    await fs.chmod(env.work, 0o711);
    const source = await createSourceRepository(path.join(env.work, 'source'), [{ message: 'first', files: { 'README.md': 'hello from the repository\n' } }]);
    commit = source.commits[0]!;
    expect((await admin.post('/api/v1/repositories', { name: 'github.com/acme/shell-security', url: source.path })).status).toBe(201);
  });
  afterAll(async () => {
    try {
      execFileSync('pkill', ['-f', `sleep ${leftover}`]);
    } catch {
      // none left: what the test expects
    }
    await env?.stop();
  });

  const runJob = async (extraEnv: Record<string, string>, spec: Record<string, unknown>) => {
    const id = await admin.enqueue('batches', spec);
    const executor = spawnExecutor(env.executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1', ...extraEnv }));
    expect(await executor.exited, executor.log()).toBe(0);
    return (await admin.job('batches', id)).json as { id: number; state: string; executionLogs: Array<{ key: string; entryId: number }> };
  };
  /** An entry's whole output, through the admin API's pages (or the inline `out` of an older coordinator). */
  const outputOf = async (jobId: number, entry: { entryId: number; out?: string | null }) => {
    if (typeof entry.out === 'string') return entry.out;
    let out = '';
    for (let offset: number | null = 0; offset !== null; ) {
      const page: { json: { out: string; nextOffset: number | null } } = await admin.get(`/api/v1/queues/batches/jobs/${jobId}/logs/${entry.entryId}?offset=${offset}`);
      out += page.json.out;
      offset = page.json.nextOffset;
    }
    return out;
  };

  it.skipIf(!canSwitchUser)(`runs steps as EXECUTOR_SHELL_USER, which cannot read the executor's environment${canSwitchUser ? '' : ` (skipped: ${missing})`}`, async () => {
    const id = await admin.enqueue('batches', {
      repositoryName: 'github.com/acme/shell-security',
      commit,
      dockerSteps: [
        { key: 'attack', image: 'unused-on-shell', commands: ATTACK },
        {
          key: 'work',
          image: 'unused-on-shell',
          commands: ['id -un', 'cat README.md', 'git status --short', 'echo from-step > made.txt', 'echo "$HOME" && touch "$HOME/ok" && ls "$HOME"', `setsid sh -c 'echo $$ > "$HOME/detached"; exec sleep ${leftover}' >/dev/null 2>&1 < /dev/null &`, 'while [ ! -s "$HOME/detached" ]; do sleep 0.01; done'],
        },
        { key: 'read', image: 'unused-on-shell', commands: ['cat made.txt', 'env | cut -d= -f1 | sort | tr "\\n" " "'] },
      ],
    });
    const executor = spawnExecutor(env.executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1', EXECUTOR_SHELL_USER: STEP_USER }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = (await admin.job('batches', id)).json as { state: string; failureMessage: string | null; executionLogs: Array<{ key: string; entryId: number }> };
    expect(job.state, `${job.failureMessage}\n${executor.log()}`).toBe('completed');
    const out = async (key: string) => outputOf(id, job.executionLogs.find((e) => e.key === key)!);
    const attack = await out('step.docker.attack');
    for (const form of leakedForms(env.executorToken)) expect(joined(attack)).not.toContain(form.slice(0, 12));
    expect(attack).toContain(`step uid ${stepUid}`);
    expect(attack).toMatch(/Permission denied/);
    const work = await out('step.docker.work');
    expect(work).toContain(`stdout: ${STEP_USER}\n`);
    expect(work).toContain('stdout: hello from the repository\n');
    expect(work).not.toMatch(/fatal|dubious ownership|Permission denied/);
    expect(work).toContain('stdout: ok\n');
    const read = await out('step.docker.read');
    expect(read).toContain('stdout: from-step\n');
    const names = /stdout: ((?:[A-Z_]+ )+)/.exec(read)?.[1]?.trim().split(' ') ?? [];
    expect(names.filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n))).toEqual(['HOME', 'PATH', 'TMPDIR']);
    // What a step started outside its process group does not outlive the job.
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(`sleep ${leftover}`);
  });

  it('with EXECUTOR_SHELL_ALLOW_SAME_USER=true gives steps a clean environment and a HOME of their own, and redacts the environ it can read', async () => {
    const job = await runJob(
      { EXECUTOR_SHELL_ALLOW_SAME_USER: 'true', EXECUTORS_TEST_HOST_ONLY: 'host-value' },
      { dockerSteps: [{ key: 'look', image: 'unused-on-shell', commands: ['env | sort', 'base64 /proc/$PPID/environ'], env: ['JOB_VAR=job-value'] }] },
    );
    expect(job.state).toBe('completed');
    const look = await outputOf(job.id, job.executionLogs.find((e) => e.key === 'step.docker.look')!);
    expect(look).toContain('stdout: JOB_VAR=job-value\n');
    expect(look).not.toContain('host-value');
    expect(look).not.toMatch(/^stdout: EXECUTOR_/m);
    const home = /^stdout: HOME=(.*)$/m.exec(look)?.[1];
    expect(home).toBeDefined();
    expect(home).not.toBe(os.homedir());
    expect(home).not.toBe(process.env.HOME);
    expect(/^stdout: PATH=(.*)$/m.exec(look)?.[1]).toBe(STEP_PATH);
    // Same user: /proc/<pid>/environ is readable (what validate warns about); its base64 is still redacted.
    for (const core of base64Cores(env.executorToken)) expect(joined(look)).not.toContain(core.slice(0, 12));
  });
});
