// Attacks on the coordinator's /metrics (issue 11, items 2 and 4), on both databases: scrapes that re-read
// every executor's stored dump, dumps that are accepted and then vanish, anonymous scraping, and executors
// that forge the coordinator's own families or another executor's sg_instance.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Coordinator } from '../../src/coordinator/coordinator.js';
import type { Database } from '../../src/coordinator/store/database.js';
import { openPgDatabase } from '../../src/coordinator/store/pg-database.js';
import { createLogger, silentLogger } from '../../src/shared/logger.js';
import { ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

/** `lines` valid samples of an allowed family, about `bytesPerLine` bytes each before labelling. */
function bigDump(lines: number, tag: string): string {
  const out = ['# HELP src_executor_bench_samples Padding for the size tests.', '# TYPE src_executor_bench_samples gauge'];
  for (let i = 0; i < lines; i++) out.push(`src_executor_bench_samples{tag="${tag}",i="${i}"} ${i}`);
  return out.join('\n') + '\n';
}

const scrape = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${url}/metrics`, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
};

/** The sample lines of `family` (exact name, any labels). */
const samplesOf = (page: string, family: string) => page.split('\n').filter((l) => l.startsWith(`${family}{`) || l.startsWith(`${family} `));

describe.each(BACKENDS)('/metrics under attack on %s', (backend) => {
  let c: TestCoordinator;
  const logLines: string[] = [];

  beforeAll(async () => {
    c = await startTestCoordinator(backend, {}, { logger: createLogger({ level: 'debug', write: (line) => logLines.push(line) }) });
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('serves scrapes from a cache: twenty scrapes read no stored executor dump again', async () => {
    const e = new ExecutorApi(c.url, c.executorToken, `cache-${backend}`);
    expect((await e.heartbeat('batches', [], { prometheusMetrics: '# TYPE src_executor_jobs_started_total counter\nsrc_executor_jobs_started_total{queue="batches"} 3\n' })).status).toBe(200);
    const db = c.database.db;
    const spy = vi.spyOn(db, 'query');
    try {
      for (let i = 0; i < 20; i++) {
        const page = await scrape(c.url);
        expect(page.status).toBe(200);
        expect(page.text).toContain(`src_executor_jobs_started_total{queue="batches",sg_instance="cache-${backend}",sg_job="sourcegraph-executors"} 3`);
      }
      // The dump was labelled at the heartbeat; reading its text back per scrape is what froze the coordinator.
      const dumpReads = spy.mock.calls.filter(([sql]) => /SELECT[\s\S]*prometheus_metrics\s+AS/i.test(String(sql)));
      expect(dumpReads.length).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('drops a dump whose labelled text is over the per-executor cap, says so in the log, and keeps the others', async () => {
    const small = new ExecutorApi(c.url, c.executorToken, `small-${backend}`);
    const big = new ExecutorApi(c.url, c.executorToken, `big-${backend}`);
    await small.heartbeat('batches', [], { prometheusMetrics: '# TYPE src_executor_jobs_started_total counter\nsrc_executor_jobs_started_total{queue="batches"} 1\n' });
    // 2.6 MB as sent, more than twice that once every sample carries sg_instance and sg_job.
    const dump = bigDump(48_000, 'x'.repeat(8));
    expect(Buffer.byteLength(dump)).toBeGreaterThan(2_500_000);
    expect((await big.heartbeat('batches', [], { prometheusMetrics: dump })).status).toBe(200);
    const page = await scrape(c.url);
    expect(page.text).toContain(`sg_instance="small-${backend}"`);
    expect(page.text).not.toContain(`sg_instance="big-${backend}"`);
    const dropped = logLines.filter((l) => l.includes('WARN') && l.includes(`big-${backend}`) && /metrics/i.test(l));
    expect(dropped.join('\n')).toMatch(/COORDINATOR_MAX_EXECUTOR_METRICS_SIZE/);
  });

  it('keeps only allowed families and drops families the coordinator registers itself', async () => {
    const e = new ExecutorApi(c.url, c.executorToken, `forger-${backend}`);
    const forged = [
      '# TYPE src_executor_total gauge',
      'src_executor_total{queue="batches"} 100000',
      '# TYPE src_executor_queued_duration_seconds_total gauge',
      'src_executor_queued_duration_seconds_total{queue="batches"} 99999',
      '# TYPE executors_coordinator_jobs gauge',
      'executors_coordinator_jobs{queue="batches",state="queued"} 77777',
      'up 1',
      'myapp_requests_total 3',
      '# TYPE node_load1 gauge',
      'node_load1 0.5',
      '# TYPE src_executor_jobs_started_total counter',
      'src_executor_jobs_started_total{queue="batches"} 2',
      '',
    ].join('\n');
    expect((await e.heartbeat('batches', [], { prometheusMetrics: forged })).status).toBe(200);
    const page = (await scrape(c.url)).text;
    // The autoscaling signal is the coordinator's alone: one sample per queue, none carrying an executor.
    expect(samplesOf(page, 'src_executor_total').filter((l) => l.includes('queue="batches"'))).toEqual(['src_executor_total{queue="batches"} 0']);
    expect(samplesOf(page, 'src_executor_queued_duration_seconds_total').some((l) => l.endsWith(' 99999'))).toBe(false);
    expect(samplesOf(page, 'executors_coordinator_jobs').some((l) => l.endsWith(' 77777'))).toBe(false);
    expect(page).not.toContain(`sg_instance="forger-${backend}",sg_job="sourcegraph-executors"} 100000`);
    for (const family of ['src_executor_total', 'src_executor_queued_duration_seconds_total', 'executors_coordinator_jobs']) {
      expect(page.match(new RegExp(`^# TYPE ${family} `, 'gm'))).toHaveLength(1);
    }
    expect(page).not.toMatch(/^up[ {]/m);
    expect(page).not.toContain('myapp_requests_total');
    expect(page).toContain(`node_load1{sg_instance="forger-${backend}",sg_job="sourcegraph-executors"} 0.5`);
    expect(page).toContain(`src_executor_jobs_started_total{queue="batches",sg_instance="forger-${backend}",sg_job="sourcegraph-executors"} 2`);
  });

  it("always labels samples with the heartbeat's executor, whatever sg_instance the dump claims", async () => {
    const victim = new ExecutorApi(c.url, c.executorToken, `victim-${backend}`);
    const attacker = new ExecutorApi(c.url, c.executorToken, `attacker-${backend}`);
    await victim.heartbeat('batches', [], { prometheusMetrics: '# TYPE src_executor_jobs_finished_total counter\nsrc_executor_jobs_finished_total{queue="batches",outcome="completed"} 1\n' });
    const claim = [
      '# TYPE src_executor_jobs_finished_total counter',
      `src_executor_jobs_finished_total{queue="batches",outcome="failed",sg_instance="victim-${backend}"} 500`,
      `src_executor_jobs_finished_total{queue="batches",outcome="errored",sg_instance="docker-registry"} 7`,
      '',
    ].join('\n');
    await attacker.heartbeat('batches', [], { prometheusMetrics: claim });
    const lines = samplesOf((await scrape(c.url)).text, 'src_executor_jobs_finished_total');
    const victims = lines.filter((l) => l.includes(`sg_instance="victim-${backend}"`));
    expect(victims).toEqual([`src_executor_jobs_finished_total{queue="batches",outcome="completed",sg_instance="victim-${backend}",sg_job="sourcegraph-executors"} 1`]);
    expect(lines).toContain(`src_executor_jobs_finished_total{queue="batches",outcome="failed",sg_instance="attacker-${backend}",sg_job="sourcegraph-executors"} 500`);
    // The registry's metrics an executor forwards stay told apart by sg_job, as in the original, but not by a name it picks.
    expect(lines).toContain(`src_executor_jobs_finished_total{queue="batches",outcome="errored",sg_instance="attacker-${backend}",sg_job="sourcegraph-executors-registry"} 7`);
    expect(lines.some((l) => l.includes('sg_instance="docker-registry"'))).toBe(false);
  });
});

describe.each(BACKENDS)('the forwarded-metrics total cap on %s', (backend) => {
  let c: TestCoordinator;
  const logLines: string[] = [];

  beforeAll(async () => {
    c = await startTestCoordinator(backend, { COORDINATOR_MAX_FORWARDED_METRICS_SIZE: '64KiB' }, { logger: createLogger({ level: 'debug', write: (line) => logLines.push(line) }) });
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('leaves out the executors past the total, the newest first, and logs each one left out', async () => {
    // About 28 KiB labelled each: two fit under 64 KiB, the third does not.
    for (const name of ['first', 'second', 'third']) {
      const e = new ExecutorApi(c.url, c.executorToken, `${name}-${backend}`);
      expect((await e.heartbeat('batches', [], { prometheusMetrics: bigDump(250, name) })).status).toBe(200);
    }
    const page = (await scrape(c.url)).text;
    expect(page).toContain(`sg_instance="first-${backend}"`);
    expect(page).toContain(`sg_instance="second-${backend}"`);
    expect(page).not.toContain(`sg_instance="third-${backend}"`);
    expect(logLines.filter((l) => l.includes('WARN') && l.includes(`third-${backend}`)).join('\n')).toMatch(/COORDINATOR_MAX_FORWARDED_METRICS_SIZE/);
  });
});

describe.each(BACKENDS)('/metrics behind a token or on its own address on %s', (backend) => {
  let withToken: TestCoordinator;
  let ownAddress: TestCoordinator;
  const metricsToken = 'metrics-token-0123456789abcdef';

  beforeAll(async () => {
    withToken = await startTestCoordinator(backend, { COORDINATOR_METRICS_TOKEN: metricsToken });
    ownAddress = await startTestCoordinator(backend, { COORDINATOR_METRICS_ADDR: '127.0.0.1:0' });
  });
  afterAll(async () => {
    await withToken?.stop();
    await ownAddress?.stop();
  });

  it('answers 401 to an anonymous or wrong scrape once COORDINATOR_METRICS_TOKEN is set, and 200 with the token', async () => {
    const anonymous = await scrape(withToken.url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).not.toContain('src_executor_total');
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await scrape(withToken.url, { authorization: 'Bearer wrong-token-0123456789abc' })).status).toBe(401);
    const ok = await scrape(withToken.url, { authorization: `Bearer ${metricsToken}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('src_executor_total{queue="batches"}');
    // The health check stays open: load balancers probe it without credentials.
    expect((await fetch(`${withToken.url}/healthz`)).status).toBe(200);
  });

  it('serves /metrics only on COORDINATOR_METRICS_ADDR when it is set', async () => {
    const main = await scrape(ownAddress.url);
    expect(main.status).toBe(404);
    const metricsUrl = ownAddress.coordinator.metricsUrl;
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metricsUrl).not.toBe(ownAddress.url);
    const page = await scrape(metricsUrl!);
    expect(page.status).toBe(200);
    expect(page.text).toContain('src_executor_total{queue="batches"}');
    // Nothing else is served there: the executor and admin APIs stay on the main address.
    expect((await fetch(`${metricsUrl}/api/v1/queues`)).status).toBe(404);
  });
});

describe.each(BACKENDS)('two coordinator replicas on one %s database', (backend) => {
  let c: TestCoordinator;
  let replica: Coordinator;
  let replicaDb: Database;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    // A second replica: on PostgreSQL its own pool on the same database; on PGlite the same handle.
    replicaDb =
      backend === 'postgres'
        ? await openPgDatabase({ connectionString: c.database.url!, logger: silentLogger })
        : { ...c.database.db, close: () => Promise.resolve() };
    replica = new Coordinator({ config: { ...c.config, listenPort: 0 }, logger: silentLogger, database: replicaDb });
    await replica.start();
  });
  afterAll(async () => {
    await replica?.stop();
    await c?.stop();
  });

  it("shows every executor's metrics on every replica, whichever replica got the heartbeat", async () => {
    const one = new ExecutorApi(c.url, c.executorToken, `via-one-${backend}`);
    const two = new ExecutorApi(replica.url, c.executorToken, `via-two-${backend}`);
    const dump = (n: number) => `# TYPE src_executor_jobs_started_total counter\nsrc_executor_jobs_started_total{queue="batches"} ${n}\n`;
    await one.heartbeat('batches', [], { prometheusMetrics: dump(1) });
    await two.heartbeat('batches', [], { prometheusMetrics: dump(2) });
    for (const url of [c.url, replica.url]) {
      const lines = samplesOf((await scrape(url)).text, 'src_executor_jobs_started_total');
      expect(lines).toContain(`src_executor_jobs_started_total{queue="batches",sg_instance="via-one-${backend}",sg_job="sourcegraph-executors"} 1`);
      expect(lines).toContain(`src_executor_jobs_started_total{queue="batches",sg_instance="via-two-${backend}",sg_job="sourcegraph-executors"} 2`);
    }
    // A newer dump through the other replica replaces the older one everywhere, once the cache refreshes.
    await one.post('/.executors/queue/batches/heartbeat', {}); // a malformed heartbeat changes nothing
    const moved = new ExecutorApi(replica.url, c.executorToken, `via-one-${backend}`);
    await moved.heartbeat('batches', [], { prometheusMetrics: dump(5) });
    await vi.waitFor(
      async () => {
        const lines = samplesOf((await scrape(c.url)).text, 'src_executor_jobs_started_total');
        expect(lines).toContain(`src_executor_jobs_started_total{queue="batches",sg_instance="via-one-${backend}",sg_job="sourcegraph-executors"} 5`);
      },
      { timeout: 20_000, interval: 250 },
    );
  });
});
