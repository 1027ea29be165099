// Queue sizes to Amazon CloudWatch with the official SDK: metric `src_executors_queue_size`, unit Count,
// dimensions `queueName` and `environment` in EXECUTOR_METRIC_AWS_NAMESPACE — what the AWS Terraform
// module's scaling alarms read (deploy/terraform/aws/modules/executors).
import type { AwsMetricConfig } from './autoscaling-config.js';
import type { MetricSink, QueueSizeSample } from './queue-size-reporter.js';

/** The metric name the original publishes and the AWS module's alarms query. */
export const CLOUDWATCH_METRIC_NAME = 'src_executors_queue_size';
/** The namespace the Terraform modules' alarms read and the credentials module lets the metric writer write. */
export const TERRAFORM_CLOUDWATCH_NAMESPACE = 'sourcegraph-executor';

/** Creates the sink; the SDK is loaded only here, so a coordinator without AWS settings never loads it. */
export async function createCloudWatchSink(config: AwsMetricConfig, environmentLabel: string): Promise<MetricSink> {
  const { CloudWatchClient, PutMetricDataCommand } = await import('@aws-sdk/client-cloudwatch');
  const client = new CloudWatchClient({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    // One attempt per round: the next round, 5 s later, is the retry, with a newer value.
    maxAttempts: 1,
  });
  return {
    cloud: 'aws',
    description: `CloudWatch (${config.endpoint ?? config.region}, namespace ${config.namespace})`,
    async publish(samples: readonly QueueSizeSample[], at: Date, signal: AbortSignal) {
      await client.send(
        new PutMetricDataCommand({
          Namespace: config.namespace,
          MetricData: samples.map((s) => ({
            MetricName: CLOUDWATCH_METRIC_NAME,
            Dimensions: [
              { Name: 'queueName', Value: s.queueName },
              { Name: 'environment', Value: environmentLabel },
            ],
            Unit: 'Count',
            Value: s.size,
            Timestamp: at,
          })),
        }),
        { abortSignal: signal },
      );
    },
    async close() {
      client.destroy();
    },
  };
}
