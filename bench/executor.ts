// The executor's own cost, with bin/executor compiled and run as users run it, against a coordinator on
// a scratch PostgreSQL database:
// 1. overhead on `shell`: a one-step `true` job without a clone, enqueue → completed (the coordinator's
//    queuedAt → finishedAt), one job at a time. Same-run baseline: the protocol floor, a bench client
//    that long-polls and marks each job complete without running anything.
// 2. `docker`: the same job's wall time (enqueue → completed, coordinator clock, polled every 25 ms)
//    against a bare `docker run --rm` of the same step (same image, mount, limits and script), alternated.
// 3. jobs per second with EXECUTOR_MAXIMUM_NUM_JOBS=16 on `shell` (first start → last finish over a
//    pre-filled queue); baseline: 16 bench-client loops of dequeue + markComplete.
// 4. idle RSS of the executor (long-polling, no job) beside an idle bare `node`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { compileProject } from './lib/compiled.js';
import { startCoordinator, type CoordinatorProcess } from './lib/coordinator-process.js';
import { AdminClient, ExecutorClient } from './lib/executor-client.js';
import { printHeader } from './lib/machine.js';
import { readMemoryMib } from './lib/proc-status.js';
import { createScratchDatabase, describeServer } from './lib/scratch-database.js';
import { sleep } from './lib/sleep.js';
import { summarize } from './lib/stats.js';
import { fmt, printTable } from './lib/table.js';
import { ensureBusyboxImage, BUSYBOX_IMAGE } from '../test/helpers/docker.js';

const run = promisify(execFile);
const QUEUE = 'batches';
const SHELL_SAMPLES = Number(process.env.BENCH_EXECUTOR_SAMPLES ?? 100);
const DOCKER_SAMPLES = Number(process.env.BENCH_EXECUTOR_DOCKER_SAMPLES ?? 20);
const BURST_JOBS = Number(process.env.BENCH_EXECUTOR_BURST_JOBS ?? 400);
const WARMUP = 5;
const IDLE_SETTLE_MS = 10_000;
const TRUE_JOB = { dockerSteps: [{ image: BUSYBOX_IMAGE, commands: ['true'] }] };

interface JobView {
  state: string;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

class Bench {
  constructor(
    readonly coordinator: CoordinatorProcess,
    readonly admin: AdminClient,
    readonly executorEntry: string,
    readonly tmp: string,
  ) {}

  async view(id: number): Promise<JobView> {
    const res = await this.admin.http.request('GET', `/api/v1/queues/${QUEUE}/jobs/${id}`, undefined, { authorization: `Bearer ${this.coordinator.adminToken}` });
    return JSON.parse(res.body) as JobView;
  }

  /** Polls every `everyMs` until the job is finished; returns its view and when the poll saw it. */
  async finished(id: number, everyMs = 5): Promise<{ job: JobView; seenAtMs: number }> {
    for (;;) {
      const job = await this.view(id);
      if (job.finishedAt) {
        if (job.state !== 'completed') throw new Error(`job ${id} ended ${job.state}: ${JSON.stringify(job)}`);
        return { job, seenAtMs: performance.now() };
      }
      await sleep(everyMs);
    }
  }

  spawnExecutor(runtime: 'shell' | 'docker', extra: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, [...(process.env.BENCH_EXECUTOR_NODE_ARGS ?? '').split(' ').filter(Boolean), this.executorEntry, 'run'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        EXECUTOR_FRONTEND_URL: this.coordinator.url,
        EXECUTOR_FRONTEND_PASSWORD: this.coordinator.executorToken,
        EXECUTOR_QUEUE_NAME: QUEUE,
        EXECUTOR_RUNTIME: runtime,
        // The executor's own overhead is measured: steps as its own user, no hand-over per job.
        ...(runtime === 'shell' ? { EXECUTOR_SHELL_ALLOW_SAME_USER: 'true' } : {}),
        EXECUTOR_JOB_NUM_CPUS: '1',
        EXECUTOR_JOB_MEMORY: '256m',
        TMPDIR: this.tmp,
        ...extra,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    process.once('exit', () => child.kill('SIGKILL'));
    return child;
  }
}

const durationMs = (job: JobView) => Date.parse(job.finishedAt!) - Date.parse(job.queuedAt);

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** 1. One job at a time on `shell`: the executor's p50 against the protocol floor. */
async function overhead(bench: Bench): Promise<Array<string[]>> {
  const executor = bench.spawnExecutor('shell');
  const samples: number[] = [];
  for (let i = 0; i < SHELL_SAMPLES + WARMUP; i++) {
    const id = await bench.admin.enqueue(QUEUE, TRUE_JOB);
    const { job } = await bench.finished(id);
    if (i >= WARMUP) samples.push(durationMs(job));
    await sleep(20);
  }
  await stop(executor);

  // The floor: what any executor pays for dequeue + markComplete, nothing run.
  const client = new ExecutorClient(bench.coordinator.url, bench.coordinator.executorToken, 'bench-floor');
  await client.heartbeat(QUEUE);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const job = await client.dequeue(QUEUE, 1_000);
      if (job) await client.markComplete(QUEUE, job);
    }
  })();
  const floor: number[] = [];
  for (let i = 0; i < SHELL_SAMPLES + WARMUP; i++) {
    const id = await bench.admin.enqueue(QUEUE, TRUE_JOB);
    const { job } = await bench.finished(id);
    if (i >= WARMUP) floor.push(durationMs(job));
    await sleep(20);
  }
  stopped = true;
  await loop;
  client.close();
  const ours = summarize(samples);
  const base = summarize(floor);
  return [
    ['executor, shell, `true` job', String(ours.n), fmt(ours.p50), fmt(ours.p90), fmt(ours.p99), fmt(ours.max)],
    ['baseline: dequeue + markComplete only', String(base.n), fmt(base.p50), fmt(base.p90), fmt(base.p99), fmt(base.max)],
  ];
}

/** 2. The docker job's wall time against a bare `docker run --rm` of the same step, alternated. */
async function dockerOverhead(bench: Bench): Promise<{ rows: Array<string[]>; ratio: number }> {
  await ensureBusyboxImage();
  const executor = bench.spawnExecutor('docker');
  const ws = await fs.mkdtemp(path.join(bench.tmp, 'bare-'));
  await fs.mkdir(path.join(ws, '.sourcegraph-executor'));
  await fs.writeFile(path.join(ws, '.sourcegraph-executor/step.sh'), 'set -x\ntrue\n', { mode: 0o755 });
  const bareArgv = ['run', '--rm', '--cpus', '1', '--memory', '256m', '-v', `${ws}:/data`, '-w', '/data', '--entrypoint', '/bin/sh', BUSYBOX_IMAGE, '/data/.sourcegraph-executor/step.sh'];
  const jobs: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < DOCKER_SAMPLES + 2; i++) {
    const started = performance.now();
    await run('docker', bareArgv);
    const bareMs = performance.now() - started;
    const id = await bench.admin.enqueue(QUEUE, TRUE_JOB);
    // Polled slowly: a tight poll loop would load the coordinator and PostgreSQL while the container
    // starts, which the bare run does not have to share the two cores with.
    const { job } = await bench.finished(id, 25);
    if (i >= 2) {
      bare.push(bareMs);
      jobs.push(durationMs(job));
    }
  }
  await stop(executor);
  const ours = summarize(jobs);
  const base = summarize(bare);
  return {
    rows: [
      ['executor, docker, `true` job (enqueue → completed, coordinator clock)', String(ours.n), fmt(ours.p50), fmt(ours.p90), fmt(ours.max)],
      ['baseline: bare `docker run --rm` of the same step', String(base.n), fmt(base.p50), fmt(base.p90), fmt(base.max)],
    ],
    ratio: ours.p50 / base.p50,
  };
}

/** 3. Jobs per second over a pre-filled queue: the executor with 16 slots, and 16 bench-client loops. */
async function burst(bench: Bench): Promise<Array<string[]>> {
  const fill = async () => {
    const ids: number[] = [];
    for (let i = 0; i < BURST_JOBS; i++) ids.push(await bench.admin.enqueue(QUEUE, TRUE_JOB));
    return ids;
  };
  const rate = async (ids: number[]) => {
    const views = await Promise.all(ids.map((id) => bench.view(id)));
    const bad = views.find((v) => v.state !== 'completed');
    if (bad) throw new Error(`a burst job ended ${bad.state}`);
    const first = Math.min(...views.map((v) => Date.parse(v.startedAt!)));
    const last = Math.max(...views.map((v) => Date.parse(v.finishedAt!)));
    return { perSecond: (ids.length / (last - first)) * 1000, spanMs: last - first };
  };

  const rows: Array<string[]> = [];
  for (const slots of [16, 1]) {
    const ids = await fill();
    const executor = bench.spawnExecutor('shell', { EXECUTOR_MAXIMUM_NUM_JOBS: String(slots), EXECUTOR_NUM_TOTAL_JOBS: String(ids.length) });
    await new Promise((resolve) => executor.once('exit', resolve));
    const r = await rate(ids);
    rows.push([`executor, shell, EXECUTOR_MAXIMUM_NUM_JOBS=${slots}`, String(ids.length), fmt(r.perSecond), fmt(r.spanMs, 0)]);
  }

  const ids = await fill();
  const clients = Array.from({ length: 16 }, (_, i) => new ExecutorClient(bench.coordinator.url, bench.coordinator.executorToken, `bench-loop-${i}`));
  for (const c of clients) await c.heartbeat(QUEUE);
  let done = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (done < ids.length) {
        const job = await client.dequeue(QUEUE, 0);
        if (!job) break;
        await client.markComplete(QUEUE, job);
        done++;
      }
    }),
  );
  for (const c of clients) c.close();
  const r = await rate(ids);
  rows.push(['baseline: 16 loops of dequeue + markComplete', String(ids.length), fmt(r.perSecond), fmt(r.spanMs, 0)]);
  return rows;
}

/** 4. Idle RSS: the executor long-polling with no job, and a bare node. */
async function idleMemory(bench: Bench): Promise<Array<string[]>> {
  const executor = bench.spawnExecutor('shell');
  const node = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(IDLE_SETTLE_MS);
  const rows = [
    ['executor (shell runtime), idle', fmt(readMemoryMib(executor.pid!, 'VmRSS')), fmt(readMemoryMib(executor.pid!, 'VmHWM'))],
    ['baseline: idle `node -e setInterval`', fmt(readMemoryMib(node.pid!, 'VmRSS')), fmt(readMemoryMib(node.pid!, 'VmHWM'))],
  ];
  node.kill('SIGKILL');
  await stop(executor);
  return rows;
}

async function main(): Promise<void> {
  printHeader('executor overhead, throughput and memory', [await describeServer()]);
  const compiled = await compileProject('bin/executor.js');
  if (!compiled) throw new Error('tsc emitted no bin/executor.js');
  const database = await createScratchDatabase('executor');
  const coordinator = await startCoordinator({ databaseUrl: database.url, command: [process.execPath, path.join(compiled.dir, 'bin/coordinator.js'), 'serve'] });
  const admin = new AdminClient(coordinator.url, coordinator.adminToken);
  const tmp = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'executors-bench-executor-')));
  const bench = new Bench(coordinator, admin, path.join(compiled.dir, 'bin/executor.js'), tmp);
  try {
    printTable(`1. one-step \`true\` job on shell, enqueue → completed (coordinator clock), ms; ${WARMUP} warm-up jobs dropped; target p50 ≤ 30`, ['run', 'jobs', 'p50', 'p90', 'p99', 'max'], await overhead(bench));
    const docker = await dockerOverhead(bench);
    printTable(`2. docker: one-step job against a bare docker run, alternated, ms; target overhead ≤ 15 %`, ['run', 'n', 'p50', 'p90', 'max'], docker.rows);
    process.stdout.write(`docker overhead at p50: ${fmt((docker.ratio - 1) * 100)} %\n`);
    printTable('3. jobs per second over a pre-filled queue (first start → last finish)', ['run', 'jobs', 'jobs/s', 'span ms'], await burst(bench));
    printTable(`4. idle RSS after ${IDLE_SETTLE_MS / 1000} s, MiB; target < 80 MB`, ['process', 'VmRSS', 'VmHWM'], await idleMemory(bench));
  } finally {
    admin.close();
    await coordinator.stop();
    await database.drop();
    await compiled.remove();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
