// The queue-size reporter with the real SDK clients (@aws-sdk/client-cloudwatch, @google-cloud/monitoring)
// against local HTTP stand-ins for CloudWatch and Cloud Monitoring (no cloud endpoint is reachable from
// these machines; the stand-ins speak the APIs' wire shapes, see test/helpers/*-stand-in.ts). Rounds are
// driven by the test through the reporter's scheduler seam, and its clock is the test's, so the interval
// is asserted as what the reporter asks for, not measured.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCloudMonitoringStandIn, type CloudMonitoringStandIn } from '../../../test/helpers/cloud-monitoring-stand-in.js';
import { startCloudWatchStandIn, type CloudWatchStandIn } from '../../../test/helpers/cloudwatch-stand-in.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { createCloudMonitoringSink, CLOUD_MONITORING_METRIC_TYPE } from './cloud-monitoring-sink.js';
import { createCloudWatchSink, CLOUDWATCH_METRIC_NAME } from './cloudwatch-sink.js';
import { combinedQueueName, QueueSizeReporter, type MetricSink, type QueueSizeReporterOptions } from './queue-size-reporter.js';

const AWS_KEYS = { accessKeyId: 'AKIASTANDIN000000001', secretAccessKey: 'stand-in-secret-access-key/0123456789' };

/** A logger that keeps its lines. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ level: 'debug', write: (line) => lines.push(line) }), { lines });
}

/** The reporter's timer, held by the test: `pending` is what it asked for; `fire()` runs it and waits for the round. */
function manualScheduler() {
  const asked: number[] = [];
  let pending: (() => void) | undefined;
  return {
    asked,
    schedule: ((run, ms) => {
      asked.push(ms);
      pending = run;
      return () => (pending = undefined);
    }) as NonNullable<QueueSizeReporterOptions['schedule']>,
    get armed() {
      return pending !== undefined;
    },
    /** Starts the scheduled round without waiting for it. */
    trigger(): void {
      const run = pending;
      if (!run) throw new Error('no round is scheduled');
      pending = undefined;
      run();
    },
    /** Runs the scheduled round and resolves once the reporter has scheduled the next one. */
    async fire(): Promise<void> {
      const run = pending;
      if (!run) throw new Error('no round is scheduled');
      pending = undefined;
      const before = asked.length;
      run();
      for (let i = 0; i < 2000 && asked.length === before; i++) await new Promise((r) => setTimeout(r, 5));
      if (asked.length === before) throw new Error('the round did not end');
    },
  };
}

describe('the queue-size reporter', () => {
  let clock: number;
  let sizes: Map<string, number>;
  let reporter: QueueSizeReporter | undefined;
  const start = new Date('2026-12-02T10:00:00.000Z').getTime();

  beforeEach(() => {
    clock = start;
    sizes = new Map([
      ['batches', 7],
      ['codeintel', 2],
    ]);
  });
  afterEach(async () => {
    await reporter?.stop();
    reporter = undefined;
  });

  function makeReporter(sinks: MetricSink[], extra: Partial<QueueSizeReporterOptions> = {}) {
    const scheduler = manualScheduler();
    const logger = recordingLogger();
    reporter = new QueueSizeReporter({
      queues: ['codeintel', 'batches'],
      readSizes: async () => new Map(sizes),
      sinks,
      allocations: {},
      logger,
      schedule: scheduler.schedule,
      now: () => clock,
      ...extra,
    });
    return { reporter, scheduler, logger };
  }

  describe('to CloudWatch', () => {
    let cloudwatch: CloudWatchStandIn;
    beforeEach(async () => {
      cloudwatch = await startCloudWatchStandIn(AWS_KEYS, 'us-west-2');
    });
    afterEach(async () => {
      await cloudwatch.close();
    });

    const sink = (credentials = AWS_KEYS) =>
      createCloudWatchSink({ namespace: 'sourcegraph-executor', region: 'us-west-2', credentials, endpoint: cloudwatch.url }, 'prod');

    it('sends src_executors_queue_size per queue with the queueName and environment dimensions, signed with the metric writer\'s keys', async () => {
      const { reporter, scheduler } = makeReporter([await sink()]);
      reporter.start();
      await scheduler.fire();
      expect(cloudwatch.answers).toEqual(['200 ok']);
      const [request] = cloudwatch.requests;
      expect(request!.accessKeyId).toBe(AWS_KEYS.accessKeyId);
      expect(request!.region).toBe('us-west-2');
      expect(request!.body.Namespace).toBe('sourcegraph-executor');
      expect(request!.body.MetricData).toEqual([
        { MetricName: CLOUDWATCH_METRIC_NAME, Dimensions: [{ Name: 'queueName', Value: 'codeintel' }, { Name: 'environment', Value: 'prod' }], Unit: 'Count', Value: 2, Timestamp: start / 1000 },
        { MetricName: CLOUDWATCH_METRIC_NAME, Dimensions: [{ Name: 'queueName', Value: 'batches' }, { Name: 'environment', Value: 'prod' }], Unit: 'Count', Value: 7, Timestamp: start / 1000 },
        // The several-queue metric the Terraform modules name with the sorted queues joined by "_".
        { MetricName: CLOUDWATCH_METRIC_NAME, Dimensions: [{ Name: 'queueName', Value: 'batches_codeintel' }, { Name: 'environment', Value: 'prod' }], Unit: 'Count', Value: 9, Timestamp: start / 1000 },
      ]);
    });

    it('asks for the next round 5 s after each one, and adds the combined metric every 30 s', async () => {
      const { reporter, scheduler } = makeReporter([await sink()]);
      reporter.start();
      expect(scheduler.asked).toEqual([0]);
      for (let round = 0; round < 8; round++) {
        await scheduler.fire();
        clock += 5_000;
      }
      expect(scheduler.asked).toEqual([0, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000]);
      const queueNames = cloudwatch.requests.map((r) => r.body.MetricData.map((d) => d.Dimensions[0]!.Value).join(','));
      expect(queueNames).toEqual([
        'codeintel,batches,batches_codeintel',
        'codeintel,batches',
        'codeintel,batches',
        'codeintel,batches',
        'codeintel,batches',
        'codeintel,batches',
        'codeintel,batches,batches_codeintel',
        'codeintel,batches',
      ]);
      expect(cloudwatch.requests.map((r) => r.body.MetricData[0]!.Timestamp)).toEqual([0, 5, 10, 15, 20, 25, 30, 35].map((s) => start / 1000 + s));
    });

    it('reports a queue with no job as 0, and follows the sizes from round to round', async () => {
      sizes = new Map([['batches', 3]]);
      const { reporter, scheduler } = makeReporter([await sink()]);
      reporter.start();
      await scheduler.fire();
      sizes = new Map([['codeintel', 400]]);
      clock += 5_000;
      await scheduler.fire();
      const values = cloudwatch.requests.map((r) => Object.fromEntries(r.body.MetricData.map((d) => [d.Dimensions[0]!.Value, d.Value])));
      expect(values).toEqual([{ codeintel: 0, batches: 3, batches_codeintel: 3 }, { codeintel: 400, batches: 0 }]);
    });

    it('sends each cloud its EXECUTOR_ALLOCATIONS share of a queue, rounded down', async () => {
      const { reporter, scheduler } = makeReporter([await sink()], { allocations: { batches: { aws: 0.5, gcp: 0.5 } } });
      reporter.start();
      await scheduler.fire();
      expect(Object.fromEntries(cloudwatch.requests[0]!.body.MetricData.map((d) => [d.Dimensions[0]!.Value, d.Value]))).toEqual({ codeintel: 2, batches: 3, batches_codeintel: 4 });
    });

    it('logs a throttling CloudWatch at most once a minute, keeps its rounds going, and says when it publishes again', async () => {
      cloudwatch.behaviour = 'throttle';
      const { reporter, scheduler, logger } = makeReporter([await sink()]);
      reporter.start();
      // 13 rounds, 5 s apart: 0 s … 60 s.
      for (let round = 0; round < 13; round++) {
        await scheduler.fire();
        clock += 5_000;
      }
      expect(cloudwatch.answers).toEqual(Array(13).fill('400 Throttling'));
      const warnings = logger.lines.filter((l) => l.includes('could not publish queue sizes'));
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toContain('Throttling: Rate exceeded');
      expect(warnings[0]).toContain('failedRounds=1');
      expect(warnings[1]).toContain('failedRounds=12');
      cloudwatch.behaviour = 'accept';
      await scheduler.fire();
      expect(cloudwatch.answers.at(-1)).toBe('200 ok');
      expect(logger.lines.filter((l) => l.includes('publishing queue sizes again'))).toHaveLength(1);
      expect(scheduler.armed).toBe(true);
    });

    it('logs refused credentials with the service\'s reason', async () => {
      const { reporter, scheduler, logger } = makeReporter([await sink({ accessKeyId: 'AKIAWRONG00000000000', secretAccessKey: 'nope' })]);
      reporter.start();
      await scheduler.fire();
      expect(cloudwatch.answers).toEqual(['403 InvalidClientTokenId']);
      expect(logger.lines.find((l) => l.includes('could not publish queue sizes'))).toContain('The security token included in the request is invalid.');
      expect(cloudwatch.requests).toEqual([]);
    });
  });

  describe('to Cloud Monitoring', () => {
    let monitoring: CloudMonitoringStandIn;
    beforeEach(async () => {
      monitoring = await startCloudMonitoringStandIn('acme-executors');
    });
    afterEach(async () => {
      await monitoring.close();
    });

    const sink = () => {
      const endpoint = new URL(monitoring.url);
      return createCloudMonitoringSink(
        { projectId: 'acme-executors', credentials: monitoring.serviceAccountKey, credentialsSource: 'test', endpoint: { protocol: 'http', host: endpoint.hostname, port: Number(endpoint.port) } },
        'prod',
      );
    };

    it('writes the custom.googleapis.com/executors/queue/size gauge per queue on the global resource, authorised as the service account', async () => {
      const { reporter, scheduler } = makeReporter([await sink()]);
      reporter.start();
      await scheduler.fire();
      expect(monitoring.answers.at(-1)).toBe('200 ok');
      const [request] = monitoring.requests;
      expect(request!.project).toBe('acme-executors');
      const series = request!.body.timeSeries;
      expect(series.map((s) => [s.metric.type, s.metric.labels, s.resource, Number(s.points[0]!.value.int64Value), s.points[0]!.interval.endTime])).toEqual([
        [CLOUD_MONITORING_METRIC_TYPE, { queueName: 'codeintel', environment: 'prod' }, { type: 'global', labels: { project_id: 'acme-executors' } }, 2, '2026-12-02T10:00:00.000Z'],
        [CLOUD_MONITORING_METRIC_TYPE, { queueName: 'batches', environment: 'prod' }, { type: 'global', labels: { project_id: 'acme-executors' } }, 7, '2026-12-02T10:00:00.000Z'],
        [CLOUD_MONITORING_METRIC_TYPE, { queueName: 'batches_codeintel', environment: 'prod' }, { type: 'global', labels: { project_id: 'acme-executors' } }, 9, '2026-12-02T10:00:00.000Z'],
      ]);
      // A gauge of 64-bit integers (the SDK sends enums as numbers on its REST transport: GAUGE = 1, INT64 = 2).
      expect([series[0]!.metricKind, series[0]!.valueType].map(String)).toEqual(expect.arrayContaining([expect.stringMatching(/^(1|GAUGE)$/), expect.stringMatching(/^(2|INT64)$/)]));
    });

    it('keeps every time series at one point per 5 s, which Cloud Monitoring requires', async () => {
      const { reporter, scheduler } = makeReporter([await sink()]);
      reporter.start();
      for (let round = 0; round < 3; round++) {
        await scheduler.fire();
        clock += 5_000;
      }
      expect(monitoring.answers.filter((a) => a !== '200 token')).toEqual(['200 ok', '200 ok', '200 ok']);
      // The stand-in enforces the limit, as the real API does: a round 1 s later is refused.
      clock -= 4_000;
      await scheduler.fire();
      expect(monitoring.answers.at(-1)).toBe('400 INVALID_ARGUMENT');
    });

    it('logs a refusal (permission denied) at most once a minute', async () => {
      monitoring.behaviour = 'permission-denied';
      const { reporter, scheduler, logger } = makeReporter([await sink()]);
      reporter.start();
      for (let round = 0; round < 6; round++) {
        await scheduler.fire();
        clock += 5_000;
      }
      expect(monitoring.answers.filter((a) => a.startsWith('403'))).toHaveLength(6);
      const warnings = logger.lines.filter((l) => l.includes('could not publish queue sizes'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('Permission monitoring.timeSeries.create denied');
    });
  });

  it('sends one round to both clouds at once, each its own share', async () => {
    const cloudwatch = await startCloudWatchStandIn(AWS_KEYS, 'us-east-1');
    const monitoring = await startCloudMonitoringStandIn('p');
    try {
      const endpoint = new URL(monitoring.url);
      const { reporter, scheduler } = makeReporter(
        [
          await createCloudWatchSink({ namespace: 'sourcegraph-executor', region: 'us-east-1', credentials: AWS_KEYS, endpoint: cloudwatch.url }, 'dev'),
          await createCloudMonitoringSink({ projectId: 'p', credentials: monitoring.serviceAccountKey, credentialsSource: 'test', endpoint: { protocol: 'http', host: endpoint.hostname, port: Number(endpoint.port) } }, 'dev'),
        ],
        { queues: ['batches'], allocations: { batches: { aws: 0.25, gcp: 0.75 } } },
      );
      sizes = new Map([['batches', 400]]);
      reporter.start();
      await scheduler.fire();
      expect(cloudwatch.requests[0]!.body.MetricData.map((d) => [d.Dimensions[0]!.Value, d.Value])).toEqual([['batches', 100]]);
      expect(monitoring.requests[0]!.body.timeSeries.map((s) => [s.metric.labels.queueName, Number(s.points[0]!.value.int64Value)])).toEqual([['batches', 300]]);
    } finally {
      await cloudwatch.close();
      await monitoring.close();
    }
  });

  it('never runs two rounds at once: a cloud that does not answer delays only the reporter, and stop() abandons it', async () => {
    let reads = 0;
    let published = 0;
    const hanging: MetricSink = {
      cloud: 'aws',
      description: 'a cloud that never answers',
      publish: (_samples, _at, signal) =>
        new Promise((_resolve, reject) => {
          published += 1;
          signal.addEventListener('abort', () => reject(signal.reason as Error));
        }),
      close: async () => {},
    };
    const { reporter, scheduler } = makeReporter([hanging], {
      readSizes: async () => {
        reads += 1;
        return new Map();
      },
    });
    reporter.start();
    scheduler.trigger();
    while (published === 0) await new Promise((r) => setTimeout(r, 10));
    // The round is stuck in the cloud's call: no next round is scheduled meanwhile.
    expect([reads, published, scheduler.asked]).toEqual([1, 1, [0]]);
    // stop() aborts the call and waits for the round; it schedules nothing more.
    await reporter.stop();
    expect([published, scheduler.asked, scheduler.armed]).toEqual([1, [0], false]);
  });

  it('logs a failing database read once a minute and tries again next round', async () => {
    let fail = true;
    const seen: string[] = [];
    const sink: MetricSink = { cloud: 'aws', description: 'd', publish: async (s) => void seen.push(s.map((x) => x.size).join(',')), close: async () => {} };
    const { reporter, scheduler, logger } = makeReporter([sink], {
      readSizes: async () => {
        if (fail) throw new Error('connection terminated');
        return new Map([['batches', 1]]);
      },
    });
    reporter.start();
    await scheduler.fire();
    clock += 5_000;
    await scheduler.fire();
    fail = false;
    clock += 5_000;
    await scheduler.fire();
    expect(logger.lines.filter((l) => l.includes('could not read queue sizes to publish'))).toHaveLength(1);
    expect(seen).toEqual(['0,1,1']);
  });

  it('names the combined metric as the Terraform modules do', () => {
    expect(combinedQueueName(['codeintel', 'batches'])).toBe('batches_codeintel');
    expect(combinedQueueName(['b', 'a', 'c'])).toBe('a_b_c');
  });
});
