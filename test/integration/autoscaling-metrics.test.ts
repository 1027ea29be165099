// The autoscaling signal end to end: bin/coordinator, a real process on a scratch PostgreSQL database, with
// the EXECUTOR_METRIC_* settings pointing the official SDKs at local stand-ins for CloudWatch and Cloud
// Monitoring (no cloud is reachable from these machines; the stand-ins speak the APIs' wire shapes). The
// sizes it publishes are the queue's queued + processing jobs, the same numbers /metrics reports.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startCloudMonitoringStandIn, type CloudMonitoringStandIn } from '../helpers/cloud-monitoring-stand-in.js';
import { startCloudWatchStandIn, type CloudWatchStandIn } from '../helpers/cloudwatch-stand-in.js';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { waitFor } from '../helpers/executor-process.js';
import { createPostgresDatabase } from '../helpers/test-database.js';

const AWS_KEYS = { accessKeyId: 'AKIASTANDIN000000002', secretAccessKey: 'stand-in-secret-for-the-e2e-test' };

describe('the coordinator publishing queue sizes for autoscaling', () => {
  let work: string;
  let database: { url: string; drop: () => Promise<void> };
  let cloudwatch: CloudWatchStandIn;
  let monitoring: CloudMonitoringStandIn;
  let coordinator: CoordinatorProcess;
  let admin: AdminApi;
  const executorToken = randomBytes(16).toString('hex');
  const adminToken = randomBytes(16).toString('hex');

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'autoscaling-e2e-'));
    database = await createPostgresDatabase();
    cloudwatch = await startCloudWatchStandIn(AWS_KEYS, 'eu-central-1');
    monitoring = await startCloudMonitoringStandIn('acme-ci');
    const keyFile = path.join(work, 'metric-writer.json');
    await fs.writeFile(keyFile, JSON.stringify(monitoring.serviceAccountKey), { mode: 0o600 });
    coordinator = await spawnCoordinator({
      COORDINATOR_DATABASE_URL: database.url,
      COORDINATOR_DATA_DIR: path.join(work, 'coordinator'),
      COORDINATOR_EXECUTORS_ACCESS_TOKEN: executorToken,
      COORDINATOR_ADMIN_TOKEN: adminToken,
      EXECUTOR_METRIC_ENVIRONMENT_LABEL: 'ci',
      EXECUTOR_METRIC_AWS_NAMESPACE: 'sourcegraph-executor',
      EXECUTOR_METRIC_AWS_REGION: 'eu-central-1',
      EXECUTOR_METRIC_AWS_ACCESS_KEY_ID: AWS_KEYS.accessKeyId,
      EXECUTOR_METRIC_AWS_SECRET_ACCESS_KEY: AWS_KEYS.secretAccessKey,
      EXECUTOR_METRIC_AWS_ENDPOINT: cloudwatch.url,
      EXECUTOR_METRIC_GCP_PROJECT_ID: 'acme-ci',
      EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE: keyFile,
      EXECUTOR_METRIC_GCP_ENDPOINT: monitoring.url,
    });
    admin = new AdminApi(coordinator.url, adminToken);
  });
  afterAll(async () => {
    coordinator?.child.kill('SIGTERM');
    await coordinator?.exited;
    await cloudwatch?.close();
    await monitoring?.close();
    await database?.drop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  /** The value the clouds last got for `queue` (CloudWatch's, Cloud Monitoring's). */
  const lastValues = (queue: string) => {
    const aws = cloudwatch.requests.flatMap((r) => r.body.MetricData).filter((d) => d.Dimensions.some((x) => x.Name === 'queueName' && x.Value === queue)).at(-1);
    const gcp = monitoring.requests.flatMap((r) => r.body.timeSeries).filter((s) => s.metric.labels.queueName === queue).at(-1);
    return [aws?.Value, gcp === undefined ? undefined : Number(gcp.points[0]!.value.int64Value)];
  };

  it('publishes queued + processing jobs per queue to both clouds, as /metrics counts them', async () => {
    for (let i = 0; i < 3; i++) await admin.enqueue('batches');
    // One of them processing: an executor took it.
    const executor = new ExecutorApi(coordinator.url, executorToken, 'autoscaling-e2e');
    expect((await executor.heartbeat('batches')).status).toBe(200);
    expect((await executor.dequeue('batches')).status).toBe(200);
    await waitFor('both clouds to get batches = 3', async () => JSON.stringify(lastValues('batches')) === '[3,3]', 30_000);
    expect(lastValues('codeintel')).toEqual([0, 0]);
    const metrics = await (await fetch(`${coordinator.url}/metrics`)).text();
    expect(metrics).toMatch(/^src_executor_total\{queue="batches"\} 3$/m);
    // The names, dimensions and labels the Terraform modules' scaling reads.
    const datum = cloudwatch.requests.at(-1)!.body.MetricData[0]!;
    expect([cloudwatch.requests.at(-1)!.body.Namespace, datum.MetricName, datum.Unit, datum.Dimensions.map((d) => d.Name)]).toEqual(['sourcegraph-executor', 'src_executors_queue_size', 'Count', ['queueName', 'environment']]);
    expect(datum.Dimensions[1]).toEqual({ Name: 'environment', Value: 'ci' });
    const series = monitoring.requests.at(-1)!.body.timeSeries[0]!;
    expect([series.metric.type, Object.keys(series.metric.labels).sort(), series.metric.labels.environment, series.resource]).toEqual([
      'custom.googleapis.com/executors/queue/size',
      ['environment', 'queueName'],
      'ci',
      { type: 'global', labels: { project_id: 'acme-ci' } },
    ]);
  });

  it('publishes a round at least 5 s after the one before', async () => {
    await waitFor('three rounds', async () => cloudwatch.requests.length >= 3, 40_000);
    const times = cloudwatch.requests.map((r) => r.receivedAt);
    // A lower bound only: a busy machine makes the gaps longer, never shorter.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(4_900);
    // Cloud Monitoring accepted every point (it refuses two points of a series within 5 s).
    expect(monitoring.answers.filter((a) => !a.startsWith('200'))).toEqual([]);
  });

  it('keeps serving jobs while a cloud refuses, and says so in its log once', async () => {
    cloudwatch.behaviour = 'throttle';
    const before = cloudwatch.answers.length;
    await waitFor('two refused rounds', async () => cloudwatch.answers.slice(before).filter((a) => a === '400 Throttling').length >= 2, 30_000);
    const id = await admin.enqueue('codeintel');
    expect((await admin.job('codeintel', id)).json.state).toBe('queued');
    const warnings = coordinator.log().split('\n').filter((l) => l.includes('could not publish queue sizes'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('Throttling: Rate exceeded');
    cloudwatch.behaviour = 'accept';
    await waitFor('CloudWatch to get codeintel = 1', async () => lastValues('codeintel')[0] === 1, 30_000);
  });
});
