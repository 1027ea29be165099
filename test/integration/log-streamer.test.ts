// The executor's LogStreamer against a real coordinator over HTTP, on PGlite and PostgreSQL: output
// streams while a command runs, is stored redacted and capped, and a refused final update fails the job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorJobNotHeldError } from '../../src/executor/client/client-errors.js';
import { CoordinatorClient, type DequeuedJob } from '../../src/executor/client/coordinator-client.js';
import { SECRET_REMOVED, type ExecutorConfig } from '../../src/executor/config.js';
import { LogEntryWriteError, LogStreamer } from '../../src/executor/worker/log-streamer.js';
import { Redactor } from '../../src/executor/worker/redactor.js';
import { silentLogger } from '../../src/shared/logger.js';
import { AdminApi } from '../helpers/api-client.js';
import { connectExecutorClient } from '../helpers/executor-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

/** A signal that never aborts, for calls a test does not cancel. */
const never = new AbortController().signal;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const QUEUE = 'batches';
const JOB_SECRET = 'ghp_J0bS3cr3tT0k3n_0123456789';
const JOB_SECRET_REPLACEMENT = '[REDACTED-GITHUB-TOKEN]';

describe.each(BACKENDS)('LogStreamer against the coordinator on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let client: CoordinatorClient;
  let config: ExecutorConfig;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    ({ config, client } = await connectExecutorClient(c, { EXECUTOR_QUEUE_NAME: QUEUE }, { signal: never }));
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
  });

  /** Enqueues a job and dequeues exactly it. */
  const takeJob = async (spec: Record<string, unknown> = {}): Promise<DequeuedJob> => {
    const id = await admin.enqueue(QUEUE, spec);
    const job = await client.dequeue({ waitMs: 0 }, never);
    expect(job?.id).toBe(id);
    return job!;
  };
  const storedEntries = async (id: number) => (await admin.jobWithOutput(QUEUE, id)).json.executionLogs as Array<Record<string, unknown>>;

  it('streams output while a command runs, then stores redacted, capped, finalized entries', async () => {
    const job = await takeJob({ redactedValues: { [JOB_SECRET]: JOB_SECRET_REPLACEMENT } });
    expect(job.redactedValues).toEqual({ [JOB_SECRET]: JOB_SECRET_REPLACEMENT });
    const streamer = new LogStreamer({
      client,
      job,
      redactor: Redactor.forJob(job.redactedValues, config.ownRedactedValues),
      logger: silentLogger,
      maxOutputBytes: 4096,
    });
    const first = streamer.entry('step.docker.0', ['docker', 'run', `--env=GITHUB_TOKEN=${JOB_SECRET}`, 'alpine']);
    const second = streamer.entry(`step.docker.1`, ['sh', '-c', `echo ${c.executorToken}`]);

    // The first command writes for ~2.5 s; meanwhile, watch what the coordinator has of it.
    const seenOutputs: string[] = [];
    let writing = true;
    const watcher = (async () => {
      while (writing) {
        // One request per look, as the view without outputs would need two: the first entry's page.
        const page = await admin.get(`/api/v1/queues/${QUEUE}/jobs/${job.id}/logs/1`);
        const out = page.status === 200 ? (page.json.out as string) : undefined;
        if (typeof out === 'string' && out !== '' && seenOutputs.at(-1) !== out) seenOutputs.push(out);
        await delay(100);
      }
    })();
    // The add (at 0 s) carries the first line, the sync at 1 s the second, the one at 2 s the third.
    first.write('stdout', 'Cloning into workspace...\n');
    await delay(300);
    first.write('stderr', Buffer.from('warning: shallow'));
    await delay(200);
    first.write('stderr', Buffer.from(' clone\n'));
    await delay(700);
    // The secret arrives one byte per read, as a pipe may deliver it.
    first.write('stdout', 'token is ');
    for (const byte of Buffer.from(JOB_SECRET)) first.write('stdout', Buffer.from([byte]));
    first.write('stdout', ' ok\n');
    await delay(1300);
    first.write('stdout', 'done');
    writing = false;
    await watcher;
    // Output reached the coordinator while the command ran: the add, then at least two periodic updates.
    expect(seenOutputs.length).toBeGreaterThanOrEqual(3);
    expect(seenOutputs[0]).toBe('stdout: Cloning into workspace...\n');
    expect(seenOutputs.at(-1)).toBe(`stdout: Cloning into workspace...\nstderr: warning: shallow clone\nstdout: token is ${JOB_SECRET_REPLACEMENT} ok\n`);
    expect((await storedEntries(job.id))[0]).toMatchObject({ exitCode: null, durationMs: null });

    second.write('stdout', `password ${c.executorToken}\n`);
    for (let i = 0; i < 100; i++) second.write('stderr', `${String(i).padStart(3, '0')} ${'x'.repeat(60)}\n`);
    first.finalize(0);
    second.finalize(2);
    const { errors, warnings } = await streamer.flush();
    streamer.close();
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);

    const view = (await admin.jobWithOutput(QUEUE, job.id)).json;
    const [one, two] = view.executionLogs as Array<Record<string, unknown>>;
    expect(one).toMatchObject({
      key: 'step.docker.0',
      command: ['docker', 'run', `--env=GITHUB_TOKEN=${JOB_SECRET_REPLACEMENT}`, 'alpine'],
      out: `stdout: Cloning into workspace...\nstderr: warning: shallow clone\nstdout: token is ${JOB_SECRET_REPLACEMENT} ok\nstdout: done\n`,
      exitCode: 0,
    });
    expect(one!.durationMs).toBeGreaterThanOrEqual(0);
    expect(new Date(one!.startTime as string).getTime()).toBeLessThanOrEqual(Date.now());
    expect(two).toMatchObject({ key: 'step.docker.1', command: ['sh', '-c', `echo ${SECRET_REMOVED}`], exitCode: 2 });
    expect(two!.durationMs).toBeGreaterThanOrEqual(0);
    const out = two!.out as string;
    expect(out.startsWith(`stdout: password ${SECRET_REMOVED}\nstderr: 000 xxx`)).toBe(true);
    for (const line of out.trimEnd().split('\n').slice(0, -1)) expect(line).toMatch(/^(stdout|stderr): /);
    // 100 stderr lines of 73 bytes: 55 fit under 4 096 bytes with the first, 1 is cut, the rest dropped.
    expect(out).toMatch(/\n<executor: output truncated after 4096 bytes; \d+ more bytes dropped>\n$/);
    expect(Buffer.byteLength(out.slice(0, out.indexOf('<executor:')))).toBeLessThanOrEqual(4096);

    const stored = JSON.stringify(view);
    expect(stored).not.toContain(JOB_SECRET);
    expect(stored).toContain(JOB_SECRET_REPLACEMENT);
    expect(stored).not.toContain(c.executorToken);
    expect(stored).toContain(SECRET_REMOVED);
    expect(await client.markComplete(job, never)).toBe(true);
  });

  it('returns an error from flush when the coordinator refuses the final update', async () => {
    const job = await takeJob();
    // No periodic update: the final state goes out only when the entry is finalized.
    const streamer = new LogStreamer({ client, job, redactor: Redactor.forJob(job.redactedValues, config.ownRedactedValues), logger: silentLogger, syncIntervalMs: 60_000 });
    const entry = streamer.entry('step.docker.0', ['true']);
    entry.write('stdout', 'hello\n');
    for (let i = 0; i < 50 && (await storedEntries(job.id)).length === 0; i++) await delay(50);
    expect(await storedEntries(job.id)).toHaveLength(1);
    // The job ends before its entry is final: its token is gone, so the coordinator answers 401 to the
    // final update that finalize sends.
    expect(await client.markComplete(job, never)).toBe(true);
    entry.finalize(0);
    const { errors } = await streamer.flush();
    streamer.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(LogEntryWriteError);
    expect(errors[0]).toMatchObject({ key: 'step.docker.0', operation: 'final-update' });
    expect(errors[0]!.cause).toBeInstanceOf(CoordinatorJobNotHeldError);
    expect((await storedEntries(job.id))[0]).toMatchObject({ exitCode: null });
  });
});
