// Server-side batch changes at scale: a spec over BENCH_BATCHES_REPOSITORIES (default 200) small
// repositories with one `sed` step, run by bin/executor on the shell runtime (this checkout built with
// `npm run build`, as users run it) against the coordinator (the same build) on a scratch PostgreSQL database. Measured: the time from
// `POST …/execute` to every workspace's changeset in the preview, and the coordinator's own CPU per
// workspace in each phase (resolution when the spec is posted, job creation at execute, result
// processing while the jobs run), and per workspace the CPU of the executor (its own, and that of the
// steps and git commands it ran). Baseline in the same run, with the same executor: the same number of
// bare jobs that clone the same repositories and run the same `sed`, enqueued through the admin API
// (POST /api/v1/queues/batches/jobs) — enqueue of the first → completion of the last. Target: ≤ 1.3×.
// The two alternate (bare, batch, bare, batch) so both see the same machine; BENCH_BATCHES_ROUNDS (default
// 2) of each, the ratio of their medians.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, startCoordinator, type CoordinatorProcess } from './lib/coordinator-process.js';
import { printHeader } from './lib/machine.js';
import { createScratchDatabase, describeServer } from './lib/scratch-database.js';
import { sleep } from './lib/sleep.js';
import { fmt, printTable } from './lib/table.js';

const run = promisify(execFile);
const REPOSITORIES = Number(process.env.BENCH_BATCHES_REPOSITORIES ?? 200);
const SLOTS = Number(process.env.BENCH_BATCHES_SLOTS ?? 4);
const ROUNDS = Number(process.env.BENCH_BATCHES_ROUNDS ?? 2);
// BENCH_COORDINATOR_NODE_ARGS: flags for the coordinator's node (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
const COORDINATOR_NODE_ARGS = (process.env.BENCH_COORDINATOR_NODE_ARGS ?? '').split(' ').filter(Boolean);
// BENCH_EXECUTOR_NODE_ARGS: the same for the executor's.
const EXECUTOR_NODE_ARGS = (process.env.BENCH_EXECUTOR_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SED = "sed -i 's/mode=foo/mode=bar/' config.txt";
const PREFIX = 'bench.example/batches/repo-';
/**
 * How often both rounds ask whether they are done. Every ask costs the coordinator a listing of all
 * jobs or all workspaces (200 of them): at 50 ms that was a tenth of a core in both rounds, measurement
 * and not the work measured. 250 ms adds at most that to a wall time of 10–40 s.
 */
const POLL_MS = 250;

const repoName = (i: number) => `${PREFIX}${String(i).padStart(4, '0')}`;

function spec(name: string): string {
  return `name: ${name}
description: switch the mode
on:
  - repositoriesMatchingQuery: repo:^bench\\.example/batches/
steps:
  - run: ${SED}
    container: alpine:3
changesetTemplate:
  title: Mode bar
  body: Switches the mode to bar.
  branch: bench-mode-bar
  commit:
    message: switch the mode
`;
}

/** A process's own CPU seconds and those of its children that it waited for, from /proc/<pid>/stat. */
interface ProcessCpu {
  ownS: number;
  childrenS: number;
}

async function readProcessCpu(pid: number): Promise<ProcessCpu> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ownS: (Number(f[11]) + Number(f[12])) / 100, childrenS: (Number(f[13]) + Number(f[14])) / 100 };
}

const cpuSecondsOf = async (pid: number) => (await readProcessCpu(pid)).ownS;
/** The executor's figures now, or `last` once it has exited. */
const executorCpuNow = (pid: number, last: ProcessCpu) => readProcessCpu(pid).catch(() => last);

// The bench reads a few fields of the API's answers; their types are the routes' own, checked by tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

class Api {
  constructor(private readonly c: CoordinatorProcess) {}

  async call(method: string, route: string, body?: unknown): Promise<{ status: number; json: Json }> {
    const res = await fetch(`${this.c.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.c.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  async ok(method: string, route: string, body?: unknown): Promise<Json> {
    const res = await this.call(method, route, body);
    if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(res.json).slice(0, 500)}`);
    return res.json;
  }
}

/** A source repository with one commit: `config.txt` with the line the step changes. */
async function makeSource(dir: string, i: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'config.txt'), `mode=foo\nrepository=${i}\n`);
  const env = { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };
  await run('git', ['init', '-q', '-b', 'main', dir], { env });
  await run('git', ['-C', dir, 'add', '-A'], { env });
  await run('git', ['-C', dir, 'commit', '-q', '-m', 'initial'], { env });
}

function spawnExecutor(c: CoordinatorProcess, executorJs: string, tmp: string, totalJobs: number): ChildProcess {
  const child = spawn(process.execPath, [...EXECUTOR_NODE_ARGS, executorJs, 'run'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      EXECUTOR_FRONTEND_URL: c.url,
      EXECUTOR_FRONTEND_PASSWORD: c.executorToken,
      EXECUTOR_QUEUE_NAME: 'batches',
      EXECUTOR_RUNTIME: 'shell',
      EXECUTOR_SHELL_ALLOW_SAME_USER: 'true',
      EXECUTOR_MAXIMUM_NUM_JOBS: String(SLOTS),
      EXECUTOR_NUM_TOTAL_JOBS: String(totalJobs),
      TMPDIR: tmp,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  return child;
}

const exited = (child: ChildProcess) => (child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise<number | null>((r) => child.once('exit', (code) => r(code))));

interface BareRound {
  wallMs: number;
  /** The executor's CPU and its steps' and git's, up to the last job done (its start included). */
  executorCpu: ProcessCpu;
  enqueueCpuS: number;
  runCpuS: number;
}

/** REPOSITORIES bare jobs: clone each repository's commit and run the same sed; enqueue → last completed. */
async function bareRound(api: Api, c: CoordinatorProcess, executorJs: string, tmp: string, commits: string[]): Promise<BareRound> {
  const cpu0 = await cpuSecondsOf(c.pid);
  const started = performance.now();
  const ids: number[] = [];
  for (let i = 0; i < REPOSITORIES; i++) {
    const body = { repositoryName: repoName(i), commit: commits[i], shallowClone: true, dockerSteps: [{ image: 'alpine:3', commands: [SED], dir: '' }] };
    ids.push((await api.ok('POST', '/api/v1/queues/batches/jobs', body)).id as number);
  }
  const cpu1 = await cpuSecondsOf(c.pid);
  const executor = spawnExecutor(c, executorJs, tmp, REPOSITORIES);
  let executorCpu: ProcessCpu = { ownS: 0, childrenS: 0 };
  const pending = new Set(ids);
  while (pending.size > 0) {
    const list = await api.ok('GET', `/api/v1/queues/batches/jobs?limit=${REPOSITORIES + 50}`);
    for (const job of list.jobs as Array<{ id: number; state: string; failureMessage?: string }>) {
      if (!pending.has(job.id)) continue;
      if (job.state === 'completed') pending.delete(job.id);
      else if (job.state === 'failed' || job.state === 'errored' || job.state === 'canceled') throw new Error(`bare job ${job.id} ended ${job.state}: ${job.failureMessage ?? ''}`);
    }
    if (pending.size > 0) await sleep(POLL_MS);
    executorCpu = await executorCpuNow(executor.pid!, executorCpu);
  }
  const wallMs = performance.now() - started;
  const cpu2 = await cpuSecondsOf(c.pid);
  const code = await exited(executor);
  if (code !== 0) throw new Error(`the executor of the bare round exited ${code}`);
  return { wallMs, executorCpu, enqueueCpuS: cpu1 - cpu0, runCpuS: cpu2 - cpu1 };
}

interface BatchRound {
  executorCpu: ProcessCpu;
  resolveMs: number;
  resolveCpuS: number;
  executeMs: number;
  executeCpuS: number;
  /** execute → every changeset in the preview. */
  wallMs: number;
  runCpuS: number;
  changesets: number;
}

async function batchRound(api: Api, c: CoordinatorProcess, executorJs: string, tmp: string, round: number): Promise<BatchRound> {
  const name = `bench-mode-bar-${round}`;
  const cpu0 = await cpuSecondsOf(c.pid);
  const t0 = performance.now();
  const created = await api.ok('POST', '/api/v1/batch-changes', { spec: spec(name) });
  const resolveMs = performance.now() - t0;
  const cpu1 = await cpuSecondsOf(c.pid);
  const resolved = (created.workspaces as Array<{ skipped: boolean }>).filter((w) => !w.skipped).length;
  if (resolved !== REPOSITORIES) throw new Error(`resolved ${resolved} workspaces, expected ${REPOSITORIES}`);
  const started = performance.now();
  // noCache: a second round must run every workspace again, not reuse the first round's results.
  await api.ok('POST', `/api/v1/batch-changes/${name}/execute`, { noCache: true });
  const executeMs = performance.now() - started;
  const cpu2 = await cpuSecondsOf(c.pid);
  const executor = spawnExecutor(c, executorJs, tmp, REPOSITORIES);
  let executorCpu: ProcessCpu = { ownS: 0, childrenS: 0 };
  let changesets = 0;
  for (;;) {
    const view = await api.ok('GET', `/api/v1/batch-changes/${name}`);
    const state = view.execution?.state as string | undefined;
    if (state === 'FAILED' || state === 'CANCELED') {
      const failed = (view.workspaces as Array<{ state: string; repository: string; failureMessage: string | null }>).filter((w) => w.state === 'FAILED').slice(0, 3);
      throw new Error(`execution ${state}: ${JSON.stringify(failed)}`);
    }
    if (state === 'COMPLETED') {
      const preview = await api.ok('GET', `/api/v1/batch-changes/${name}/preview`);
      changesets = (preview.changesets as unknown[]).length;
      if (changesets >= REPOSITORIES) break;
    }
    await sleep(POLL_MS);
    executorCpu = await executorCpuNow(executor.pid!, executorCpu);
  }
  const wallMs = performance.now() - started;
  const cpu3 = await cpuSecondsOf(c.pid);
  const code = await exited(executor);
  if (code !== 0) throw new Error(`the executor of the batch round exited ${code}`);
  return { executorCpu, resolveMs, resolveCpuS: cpu1 - cpu0, executeMs, executeCpuS: cpu2 - cpu1, wallMs, runCpuS: cpu3 - cpu2, changesets };
}

async function main(): Promise<void> {
  printHeader('batch changes: a spec over many repositories against the same bare jobs');
  console.log(await describeServer());
  console.log(`${REPOSITORIES} repositories, one \`sed\` step, shell runtime, EXECUTOR_MAXIMUM_NUM_JOBS=${SLOTS}, ${ROUNDS} rounds of each, alternated`);
  // The checkout's own build: the shell runtime puts <package>/node_modules/.bin first on a step's PATH,
  // and there `src` runs dist/bin/src.js.
  await run('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT });
  const dist = path.join(REPO_ROOT, 'dist');
  const tmp = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'executors-bench-batches-')));
  const db = await createScratchDatabase('batches');
  let coordinator: CoordinatorProcess | undefined;
  try {
    const commits: string[] = [];
    for (let i = 0; i < REPOSITORIES; i++) {
      const dir = path.join(tmp, 'sources', String(i));
      await makeSource(dir, i);
      commits.push((await run('git', ['-C', dir, 'rev-parse', 'HEAD'])).stdout.trim());
    }
    coordinator = await startCoordinator({ databaseUrl: db.url, command: [process.execPath, ...COORDINATOR_NODE_ARGS, path.join(dist, 'bin/coordinator.js'), 'serve'] });
    const api = new Api(coordinator);
    for (let i = 0; i < REPOSITORIES; i++) await api.ok('POST', '/api/v1/repositories', { name: repoName(i), url: path.join(tmp, 'sources', String(i)) });
    const executorJs = path.join(dist, 'bin/executor.js');
    const bare: BareRound[] = [];
    const batch: BatchRound[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      bare.push(await bareRound(api, coordinator, executorJs, tmp, commits));
      batch.push(await batchRound(api, coordinator, executorJs, tmp, round));
    }
    const per = (cpuS: number) => fmt((cpuS * 1000) / REPOSITORIES, 2);
    printTable(
      `${REPOSITORIES} workspaces (wall: enqueue or execute → done; coordinator CPU: the coordinator process's user + system time, PostgreSQL's not in it)`,
      ['run', 'round', 'wall s', 'per workspace ms', 'coordinator CPU ms / workspace: resolve', 'create jobs', 'while running', 'total'],
      [
        ...bare.map((b, i) => ['baseline: bare jobs through the admin API (enqueue → last completed)', String(i + 1), fmt(b.wallMs / 1000, 2), fmt(b.wallMs / REPOSITORIES, 1), '-', per(b.enqueueCpuS), per(b.runCpuS), per(b.enqueueCpuS + b.runCpuS)]),
        ...batch.map((b, i) => [
          `batch change (execute → ${b.changesets} changesets in the preview)`,
          String(i + 1),
          fmt(b.wallMs / 1000, 2),
          fmt(b.wallMs / REPOSITORIES, 1),
          per(b.resolveCpuS),
          per(b.executeCpuS),
          per(b.runCpuS),
          per(b.resolveCpuS + b.executeCpuS + b.runCpuS),
        ]),
      ],
    );
    const cpuOf = (r: { executorCpu: ProcessCpu }) => `${per(r.executorCpu.ownS)} + ${per(r.executorCpu.childrenS)}`;
    console.log(`executor CPU ms / workspace, its own + the processes it ran (steps, git): bare ${bare.map(cpuOf).join(', ')}; batch ${batch.map(cpuOf).join(', ')}`);
    console.log(`resolution (POST /api/v1/batch-changes): ${batch.map((b) => fmt(b.resolveMs, 0)).join(', ')} ms; execute (job creation): ${batch.map((b) => fmt(b.executeMs, 0)).join(', ')} ms`);
    const best = (xs: number[]) => Math.min(...xs);
    // The middle value, or the mean of the two middle ones (with 2 rounds it used to take the larger).
    const median = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const ratio = median(batch.map((b) => b.wallMs)) / median(bare.map((b) => b.wallMs));
    const cpuRatio = median(batch.map((b) => b.resolveCpuS + b.executeCpuS + b.runCpuS)) / median(bare.map((b) => b.enqueueCpuS + b.runCpuS));
    console.log(`batch / bare, wall (median of ${ROUNDS}): ${fmt(ratio, 2)}× (target ≤ 1.3×; best rounds ${fmt(best(batch.map((b) => b.wallMs)) / best(bare.map((b) => b.wallMs)), 2)}×); coordinator CPU: ${fmt(cpuRatio, 2)}×`);
    console.log(`${new Date().toISOString()}  load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
  } finally {
    await coordinator?.stop();
    await db.drop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
