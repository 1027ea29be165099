// Job pickup latency: from just before the enqueue request is sent until an idle executor's dequeue
// response carrying that job arrives. Long-poll (waitMs 30000) against the same-run baseline of the
// original's loop (dequeue without waitMs, 1 s poll interval, retry at once after a job).
import { startCoordinator } from './lib/coordinator-process.js';
import { AdminClient, ExecutorClient, type DequeuedJob } from './lib/executor-client.js';
import { printHeader } from './lib/machine.js';
import { createScratchDatabase, describeServer } from './lib/scratch-database.js';
import { randomPause, sleep } from './lib/sleep.js';
import { summarize, type LatencySummary } from './lib/stats.js';
import { fmt, printTable } from './lib/table.js';

const QUEUE = 'batches';
const LONG_POLL_SAMPLES = Number(process.env.BENCH_PICKUP_SAMPLES ?? 200);
const POLL_SAMPLES = Number(process.env.BENCH_PICKUP_POLL_SAMPLES ?? 40);
const WARMUP_SAMPLES = 5;
const LONG_POLL_WAIT_MS = 30_000;
const POLL_INTERVAL_MS = 1_000;

type Mode = { kind: 'long-poll'; waitMs: number } | { kind: 'interval'; intervalMs: number };

/** One executor slot that dequeues, reports each job's arrival, marks it complete and dequeues again. */
class IdleExecutor {
  private stopped = false;
  private arrival: ((a: { job: DequeuedJob; atMs: number }) => void) | undefined;
  private completed: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly client: ExecutorClient,
    private readonly mode: Mode,
  ) {
    this.done = this.loop();
  }

  /** Resolves when the next job arrives, and `completed` once it was marked complete. */
  expectJob(): { arrived: Promise<{ job: DequeuedJob; atMs: number }>; completed: Promise<void> } {
    const arrived = new Promise<{ job: DequeuedJob; atMs: number }>((resolve) => (this.arrival = resolve));
    const completed = new Promise<void>((resolve) => (this.completed = resolve));
    return { arrived, completed };
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let job: DequeuedJob | null;
      try {
        job = await this.client.dequeue(QUEUE, this.mode.kind === 'long-poll' ? this.mode.waitMs : 0);
      } catch (err) {
        if (this.stopped) return;
        throw err;
      }
      const atMs = performance.now();
      if (job) {
        const arrival = this.arrival;
        this.arrival = undefined;
        if (!arrival) throw new Error(`job ${job.id} arrived while none was expected`);
        arrival({ job, atMs });
        await this.client.markComplete(QUEUE, job);
        this.completed?.();
        // The original's worker loop retries at once after a successful dequeue (reference §4.2).
        continue;
      }
      if (this.mode.kind === 'interval') await sleep(this.mode.intervalMs);
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

async function measure(
  admin: AdminClient,
  executor: IdleExecutor,
  samples: number,
  pause: () => Promise<void>,
): Promise<{ pickupMs: number[]; enqueueAckMs: number[] }> {
  const pickupMs: number[] = [];
  const enqueueAckMs: number[] = [];
  for (let i = 0; i < WARMUP_SAMPLES + samples; i++) {
    await pause();
    const { arrived, completed } = executor.expectJob();
    const t0 = performance.now();
    const id = await admin.enqueue(QUEUE);
    const ackMs = performance.now() - t0;
    const { job, atMs } = await arrived;
    if (job.id !== id) throw new Error(`expected job ${id}, got ${job.id}`);
    if (i >= WARMUP_SAMPLES) {
      pickupMs.push(atMs - t0);
      enqueueAckMs.push(ackMs);
    }
    await completed;
  }
  return { pickupMs, enqueueAckMs };
}

async function main(): Promise<void> {
  printHeader('pickup latency: enqueue → dequeue response at an idle executor', [await describeServer()]);
  const database = await createScratchDatabase('pickup');
  const coordinator = await startCoordinator({ databaseUrl: database.url });
  const admin = new AdminClient(coordinator.url, coordinator.adminToken);
  const results: Array<{ name: string; summary: LatencySummary }> = [];
  let enqueueAck: LatencySummary | undefined;
  try {
    // Long-poll: 20–100 ms between samples, so the executor is back in its long poll each time.
    {
      const client = new ExecutorClient(coordinator.url, coordinator.executorToken, 'bench-pickup-long-poll');
      await client.heartbeat(QUEUE);
      const executor = new IdleExecutor(client, { kind: 'long-poll', waitMs: LONG_POLL_WAIT_MS });
      const { pickupMs, enqueueAckMs } = await measure(admin, executor, LONG_POLL_SAMPLES, () => randomPause(20, 100));
      results.push({ name: `long-poll (waitMs ${LONG_POLL_WAIT_MS})`, summary: summarize(pickupMs) });
      // For reading the figure: the enqueue's own round trip (INSERT + NOTIFY, one commit) in the same samples.
      enqueueAck = summarize(enqueueAckMs);
      executor.stop();
      client.close(); // ends the pending long poll
      await executor.done;
    }
    // Baseline: poll every 1 s; a pause uniform over one interval gives a random enqueue phase.
    {
      const client = new ExecutorClient(coordinator.url, coordinator.executorToken, 'bench-pickup-poll');
      await client.heartbeat(QUEUE);
      const executor = new IdleExecutor(client, { kind: 'interval', intervalMs: POLL_INTERVAL_MS });
      const { pickupMs } = await measure(admin, executor, POLL_SAMPLES, () => randomPause(0, POLL_INTERVAL_MS));
      results.push({ name: `baseline: poll every ${POLL_INTERVAL_MS} ms`, summary: summarize(pickupMs) });
      executor.stop();
      await executor.done;
      client.close();
    }
  } finally {
    admin.close();
    await coordinator.stop();
    await database.drop();
  }

  printTable(
    `pickup latency, ms (PostgreSQL; ${WARMUP_SAMPLES} warm-up samples dropped per mode; target long-poll p50 ≤ 10, p99 ≤ 50)`,
    ['mode', 'samples', 'p50', 'p90', 'p99', 'max', 'mean'],
    [...results, ...(enqueueAck ? [{ name: '(context) enqueue 201 alone, long-poll run', summary: enqueueAck }] : [])].map(({ name, summary: s }) => [
      name,
      String(s.n),
      fmt(s.p50),
      fmt(s.p90),
      fmt(s.p99),
      fmt(s.max),
      fmt(s.mean),
    ]),
  );
  const [ours, baseline] = results;
  if (ours && baseline) process.stdout.write(`baseline p50 / long-poll p50 = ${fmt(baseline.summary.p50 / ours.summary.p50, 0)}×\n`);
}

await main();
