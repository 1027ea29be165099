// Bounds on metrics and logs (issue 11), against the code before them in the same run: the coordinator
// of BENCH_BASELINE_REF (default ebadcf3, the commit before this work) and this checkout's, both compiled,
// each on its own scratch PostgreSQL database.
// 1. /metrics with 100 executors that each forward 1 MB (node_exporter-like families, all of them kept by
//    both): the heartbeats, then sequential scrapes, then scrapes at once while /healthz is asked; the
//    coordinator's peak RSS. Ours also on a second replica that got none of the heartbeats.
// 2. A job of 5,000 log entries of 2 KiB: its view in the admin API and its page in the web UI.
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { buildBaseline } from './lib/baseline-tree.js';
import { compileProject } from './lib/compiled.js';
import { startCoordinator, type CoordinatorProcess } from './lib/coordinator-process.js';
import { AdminClient, ExecutorClient } from './lib/executor-client.js';
import { printHeader } from './lib/machine.js';
import { readMemoryMib } from './lib/proc-status.js';
import { createScratchDatabase, describeServer } from './lib/scratch-database.js';
import { summarize } from './lib/stats.js';
import { fmt, printTable } from './lib/table.js';

const BASELINE_REF = process.env.BENCH_BASELINE_REF ?? 'ebadcf3';
const EXECUTORS = Number(process.env.BENCH_BOUNDS_EXECUTORS ?? 100);
const DUMP_BYTES = 1_000_000;
/** Sequential scrapes after the first: fewer of the baseline's, which take most of a minute each at 100 executors. */
const SEQUENTIAL_SCRAPES = { baseline: 2, ours: 5 };
/** Scrapes at once: the review's 20 took the old coordinator past 4 GB with 40 MB of dumps; these are 200 MB. */
const CONCURRENT_SCRAPES = 3;
const LOG_ENTRIES = Number(process.env.BENCH_BOUNDS_ENTRIES ?? 5_000);
const ENTRY_BYTES = 2048;
const VIEWS = 5;
const QUEUE = 'batches';

/** About `bytes` of exposition text: 50 node_* and src_executor_* families, distinct per executor. */
function dumpFor(executor: number, bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  for (let family = 0; size < bytes; family++) {
    const name = family % 2 === 0 ? `node_bench_family_${family % 50}_total` : `src_executor_bench_family_${family % 50}`;
    if (family < 50) lines.push(`# HELP ${name} A family of the bench.`, `# TYPE ${name} ${family % 2 === 0 ? 'counter' : 'gauge'}`);
    for (let i = 0; i < 40 && size < bytes; i++) {
      const line = `${name}{device="dev${i}",mode="m${Math.floor(family / 50)}",host="${executor}"} ${executor * 1000 + i}.25`;
      lines.push(line);
      size += line.length + 1;
    }
  }
  // Families repeat past the first 50 lines: group them as an exporter does.
  const byFamily = new Map<string, string[]>();
  for (const line of lines) {
    const name = line.startsWith('#') ? line.split(' ')[2]! : line.slice(0, line.indexOf('{'));
    (byFamily.get(name) ?? byFamily.set(name, []).get(name)!).push(line);
  }
  return [...byFamily.values()].flat().join('\n') + '\n';
}

/** GET that reads the body without keeping it; resolves to status, byte count and milliseconds. */
function getDiscarding(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

interface MetricsResult {
  heartbeatP50: number;
  sequential: ReturnType<typeof summarize>;
  concurrentWallMs: number;
  healthzMaxMs: number;
  pageMb: number;
  peakRssMib: number;
}

async function heartbeatAll(url: string, token: string): Promise<number[]> {
  const ms: number[] = [];
  for (let e = 0; e < EXECUTORS; e++) {
    const client = new ExecutorClient(url, token, `bench-executor-${e}`);
    const body = {
      version: 'V2',
      executorName: client.executorName,
      jobIds: [],
      os: 'linux',
      architecture: 'amd64',
      executorVersion: '5.3.0',
      gitVersion: '',
      dockerVersion: '',
      igniteVersion: '',
      srcCliVersion: '',
      prometheusMetrics: dumpFor(e, DUMP_BYTES),
    };
    const started = performance.now();
    const res = await client.http.request('POST', `/.executors/queue/${QUEUE}/heartbeat`, body, { authorization: `token-executor ${token}` });
    ms.push(performance.now() - started);
    client.close();
    if (res.status !== 200) throw new Error(`heartbeat ${e}: ${res.status} ${res.body.slice(0, 200)}`);
  }
  return ms;
}

/**
 * Marks every executor as seen now, without a heartbeat: the page shows executors seen in the last 5
 * minutes, and the baseline's scrapes take longer than that all together.
 */
async function touchExecutors(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('UPDATE executors SET last_seen_at = now()');
  } finally {
    await client.end();
  }
}

async function measureMetrics(c: CoordinatorProcess, databaseUrl: string, heartbeats: number[] | undefined, sequentialScrapes: number): Promise<MetricsResult> {
  const scrapes: number[] = [];
  let pageBytes = 0;
  await touchExecutors(databaseUrl);
  await getDiscarding(`${c.url}/metrics`); // the first scrape of a replica fills its cache
  for (let i = 0; i < sequentialScrapes; i++) {
    await touchExecutors(databaseUrl);
    const r = await getDiscarding(`${c.url}/metrics`);
    if (r.status !== 200) throw new Error(`/metrics: ${r.status}`);
    scrapes.push(r.ms);
    pageBytes = r.bytes;
  }
  // Scrapes at once, with /healthz asked every 100 ms meanwhile: how long the coordinator stops answering.
  let done = false;
  let healthzMaxMs = 0;
  const probing = (async () => {
    while (!done) {
      healthzMaxMs = Math.max(healthzMaxMs, (await getDiscarding(`${c.url}/healthz`)).ms);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await touchExecutors(databaseUrl);
  const started = performance.now();
  const pages = await Promise.all(Array.from({ length: CONCURRENT_SCRAPES }, () => getDiscarding(`${c.url}/metrics`)));
  // The same page each time (the coordinator's own request counters aside): no executor aged out.
  if (pages.some((p) => Math.abs(p.bytes - pageBytes) > pageBytes / 100)) throw new Error(`scrapes at once gave ${pages.map((p) => p.bytes).join(', ')} bytes, the sequential ones ${pageBytes}`);
  const concurrentWallMs = performance.now() - started;
  done = true;
  await probing;
  return {
    heartbeatP50: heartbeats ? summarize(heartbeats).p50 : NaN,
    sequential: summarize(scrapes),
    concurrentWallMs,
    healthzMaxMs,
    pageMb: pageBytes / 1e6,
    peakRssMib: readMemoryMib(c.pid, 'VmHWM'),
  };
}

interface JobViewResult {
  apiP50: number;
  apiMb: number;
  uiP50: number;
  uiMb: number;
  peakRssMib: number;
}

/** A job of LOG_ENTRIES entries of ENTRY_BYTES written through the executor API (8 at a time). */
async function fillJob(c: CoordinatorProcess): Promise<number> {
  const admin = new AdminClient(c.url, c.adminToken);
  const executor = new ExecutorClient(c.url, c.executorToken, 'bench-log-writer', 8);
  try {
    const id = await admin.enqueue(QUEUE);
    await executor.heartbeat(QUEUE);
    const job = await executor.dequeue(QUEUE);
    if (!job) throw new Error('no job to fill');
    const out = `stdout: ${'x'.repeat(ENTRY_BYTES - 9)}\n`;
    // The job's heartbeat, as an executor sends it, or the resetter takes the job back after 25 s.
    const beat = () =>
      executor.http.request(
        'POST',
        `/.executors/queue/${QUEUE}/heartbeat`,
        { version: 'V2', executorName: executor.executorName, jobIds: [String(job.id)], os: 'linux', architecture: 'amd64', executorVersion: '5.3.0', gitVersion: '', dockerVersion: '', igniteVersion: '', srcCliVersion: '' },
        { authorization: `token-executor ${c.executorToken}` },
      );
    const beating = setInterval(() => void beat(), 5_000);
    let next = 0;
    try {
      await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < LOG_ENTRIES; i = next++) {
          const res = await executor.http.request(
            'POST',
            `/.executors/queue/${QUEUE}/addExecutionLogEntry`,
            { executorName: executor.executorName, jobId: job.id, key: `step.docker.${i}`, command: ['echo'], startTime: new Date().toISOString(), out, exitCode: 0, durationMs: 1 },
            { authorization: `Bearer ${job.token}`, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': executor.executorName },
          );
          if (res.status !== 200) throw new Error(`addExecutionLogEntry: ${res.status} ${res.body}`);
        }
      }),
      );
    } finally {
      clearInterval(beating);
    }
    await executor.markComplete(QUEUE, job);
    return id;
  } finally {
    admin.close();
    executor.close();
  }
}

/** Signs a new site admin in to the web UI; resolves to its cookie header. */
async function uiSession(c: CoordinatorProcess): Promise<string> {
  const password = 'bench-password-0123';
  const created = await fetch(`${c.url}/api/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${c.adminToken}` }, body: JSON.stringify({ username: 'bench', password, siteAdmin: true }) });
  if (created.status !== 201) throw new Error(`create user: ${created.status}`);
  const cookies = new Map<string, string>();
  const keep = (res: Response) => {
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [k, v] = pair!.split('=');
      cookies.set(k!, v!);
    }
  };
  const header = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const form = await fetch(`${c.url}/sign-in`);
  keep(form);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const signedIn = await fetch(`${c.url}/sign-in`, {
    method: 'POST',
    headers: { cookie: header(), 'content-type': 'application/x-www-form-urlencoded', origin: c.url },
    body: new URLSearchParams({ username: 'bench', password, next: '/jobs', _csrf: csrf }).toString(),
    redirect: 'manual',
  });
  keep(signedIn);
  if (signedIn.status !== 303) throw new Error(`sign-in: ${signedIn.status}`);
  return header();
}

async function measureJobView(c: CoordinatorProcess): Promise<JobViewResult> {
  const id = await fillJob(c);
  const cookie = await uiSession(c);
  const api: number[] = [];
  const ui: number[] = [];
  let apiBytes = 0;
  let uiBytes = 0;
  for (let i = 0; i < VIEWS + 1; i++) {
    const a = await getDiscarding(`${c.url}/api/v1/queues/${QUEUE}/jobs/${id}`, { authorization: `Bearer ${c.adminToken}` });
    const u = await getDiscarding(`${c.url}/jobs/${QUEUE}/${id}`, { cookie });
    if (a.status !== 200 || u.status !== 200) throw new Error(`job view: ${a.status}, page: ${u.status}`);
    if (i === 0) continue; // warm-up
    api.push(a.ms);
    ui.push(u.ms);
    apiBytes = a.bytes;
    uiBytes = u.bytes;
  }
  return { apiP50: summarize(api).p50, apiMb: apiBytes / 1e6, uiP50: summarize(ui).p50, uiMb: uiBytes / 1e6, peakRssMib: readMemoryMib(c.pid, 'VmHWM') };
}

async function main(): Promise<void> {
  printHeader(`bounds on metrics and logs: this checkout against ${BASELINE_REF}`, [await describeServer()]);
  const baseline = await buildBaseline(BASELINE_REF, 'bin/coordinator.js');
  const ours = await compileProject('bin/coordinator.js');
  if (!ours) throw new Error('this checkout did not compile to bin/coordinator.js');
  const variants: Array<{ name: string; entry: string; env: Record<string, string>; scrapes: number }> = [
    { name: `baseline ${baseline.commit}`, entry: path.join(baseline.compiled.dir, 'bin/coordinator.js'), env: {}, scrapes: SEQUENTIAL_SCRAPES.baseline },
    // Caps raised so both pages hold every executor's 1 MB: the same page, served two ways. The default
    // total cap (64 MiB) would show about 30 of these 100 executors and log the others.
    { name: 'this checkout', entry: path.join(ours.dir, 'bin/coordinator.js'), env: { COORDINATOR_MAX_FORWARDED_METRICS_SIZE: '1GiB' }, scrapes: SEQUENTIAL_SCRAPES.ours },
  ];
  const metricsRows: string[][] = [];
  const viewRows: string[][] = [];
  const row = (label: string, r: MetricsResult) => [
    label,
    Number.isFinite(r.heartbeatP50) ? fmt(r.heartbeatP50) : '-',
    fmt(r.sequential.p50),
    fmt(r.sequential.max),
    fmt(r.concurrentWallMs, 0),
    fmt(r.healthzMaxMs),
    fmt(r.pageMb),
    fmt(r.peakRssMib, 0),
  ];
  try {
    // Each phase on a new database and coordinator, so neither one's memory or load is in the other's figures.
    for (const variant of variants) {
      const database = await createScratchDatabase('bounds');
      const command = [process.execPath, variant.entry, 'serve'];
      const metrics = await startCoordinator({ databaseUrl: database.url, command, env: variant.env });
      let replica: CoordinatorProcess | undefined;
      try {
        const heartbeats = await heartbeatAll(metrics.url, metrics.executorToken);
        metricsRows.push(row(variant.name, await measureMetrics(metrics, database.url, heartbeats, variant.scrapes)));
        if (variant.name === 'this checkout') {
          // A second replica on the same database: every dump reaches it through one refresh.
          replica = await startCoordinator({
            databaseUrl: database.url,
            command,
            env: { ...variant.env, COORDINATOR_EXECUTORS_ACCESS_TOKEN: metrics.executorToken, COORDINATOR_ADMIN_TOKEN: metrics.adminToken },
          });
          await touchExecutors(database.url);
          const cold = await getDiscarding(`${replica.url}/metrics`);
          metricsRows.push([`  a second replica, its first scrape (reads all ${EXECUTORS} dumps)`, '-', fmt(cold.ms), '-', '-', '-', fmt(cold.bytes / 1e6), '-']);
          metricsRows.push(row('  the second replica, cache filled', await measureMetrics(replica, database.url, undefined, variant.scrapes)));
        }
      } finally {
        await replica?.stop();
        await metrics.stop();
        await database.drop();
      }
    }
    printTable(
      `1. /metrics with ${EXECUTORS} executors forwarding ${DUMP_BYTES / 1e6} MB each, ms (sequential scrapes after a first: baseline ${SEQUENTIAL_SCRAPES.baseline}, ours ${SEQUENTIAL_SCRAPES.ours}; then ${CONCURRENT_SCRAPES} at once, /healthz asked every 100 ms meanwhile)`,
      ['coordinator', 'heartbeat p50', 'scrape p50', 'scrape max', `${CONCURRENT_SCRAPES} at once, wall`, '/healthz max', 'page MB', 'peak RSS MiB'],
      metricsRows,
    );
    for (const variant of variants) {
      const database = await createScratchDatabase('bounds');
      const coordinator = await startCoordinator({ databaseUrl: database.url, command: [process.execPath, variant.entry, 'serve'], env: variant.env });
      try {
        const v = await measureJobView(coordinator);
        viewRows.push([variant.name, fmt(v.apiP50), fmt(v.apiMb, 2), fmt(v.uiP50), fmt(v.uiMb, 2), fmt(v.peakRssMib, 0)]);
      } finally {
        await coordinator.stop();
        await database.drop();
      }
    }
    printTable(
      `2. a job of ${LOG_ENTRIES} log entries of ${ENTRY_BYTES} bytes: its view, ms (p50 of ${VIEWS} after a first)`,
      ['coordinator', 'GET …/jobs/{id} p50', 'MB', 'UI job page p50', 'MB', 'peak RSS MiB'],
      viewRows,
    );
  } finally {
    await baseline.remove();
    await ours.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
