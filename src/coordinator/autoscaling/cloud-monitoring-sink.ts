// Queue sizes to Google Cloud Monitoring with the official SDK: the gauge
// `custom.googleapis.com/executors/queue/size` with labels `queueName` and `environment` on the `global`
// resource — what the GCP Terraform module's autoscaler reads (deploy/terraform/google/modules/executors).
import type { GcpMetricConfig } from './autoscaling-config.js';
import type { MetricSink, QueueSizeSample } from './queue-size-reporter.js';

/** The metric type the original writes and the GCP module's autoscaler filters on. */
export const CLOUD_MONITORING_METRIC_TYPE = 'custom.googleapis.com/executors/queue/size';

/**
 * Creates the sink; the SDK is loaded only here. It speaks the REST transport (HTTP/1.1 JSON, the SDK's
 * `fallback` mode) rather than gRPC: one plain HTTPS request a round, through any HTTP proxy or VPC
 * endpoint, and a transport a local stand-in can answer in the tests.
 */
export async function createCloudMonitoringSink(config: GcpMetricConfig, environmentLabel: string): Promise<MetricSink> {
  const { MetricServiceClient } = await import('@google-cloud/monitoring');
  const client = new MetricServiceClient({
    fallback: true,
    projectId: config.projectId,
    ...(config.credentials ? { credentials: config.credentials } : {}),
    ...(config.endpoint ? { apiEndpoint: config.endpoint.host, port: config.endpoint.port, protocol: config.endpoint.protocol } : {}),
  });
  return {
    cloud: 'gcp',
    description: `Cloud Monitoring (project ${config.projectId}${config.endpoint ? `, ${config.endpoint.protocol}://${config.endpoint.host}:${config.endpoint.port}` : ''})`,
    async publish(samples: readonly QueueSizeSample[], at: Date, signal: AbortSignal) {
      const seconds = Math.floor(at.getTime() / 1000);
      const call = client.createTimeSeries(
        {
          name: `projects/${config.projectId}`,
          timeSeries: samples.map((s) => ({
            metric: { type: CLOUD_MONITORING_METRIC_TYPE, labels: { queueName: s.queueName, environment: environmentLabel } },
            resource: { type: 'global', labels: { project_id: config.projectId } },
            metricKind: 'GAUGE',
            valueType: 'INT64',
            points: [{ interval: { endTime: { seconds, nanos: (at.getTime() % 1000) * 1e6 } }, value: { int64Value: s.size } }],
          })),
        },
        // CreateTimeSeries is not retried by the SDK (its retry codes are "non_idempotent": none), so the
        // next round is the retry; the timeout bounds a hung request.
        { timeout: 10_000 },
      );
      await raceAbort(call, signal);
    },
    async close() {
      await client.close();
    },
  };
}

/** The SDK's promise, or a rejection when `signal` aborts first (the call itself ends by its timeout). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
