// Builds the reporter the configuration asks for (none when no cloud is configured) and starts it.
import type { Logger } from '../../shared/logger.js';
import type { AutoscalingConfig } from './autoscaling-config.js';
import { createCloudMonitoringSink } from './cloud-monitoring-sink.js';
import { createCloudWatchSink } from './cloudwatch-sink.js';
import { QueueSizeReporter, type MetricSink } from './queue-size-reporter.js';

export async function startQueueSizeReporter(
  config: AutoscalingConfig,
  queues: readonly string[],
  readSizes: () => Promise<Map<string, number>>,
  logger: Logger,
): Promise<QueueSizeReporter | undefined> {
  const sinks: MetricSink[] = [];
  if (config.aws) sinks.push(await createCloudWatchSink(config.aws, config.environmentLabel));
  if (config.gcp) sinks.push(await createCloudMonitoringSink(config.gcp, config.environmentLabel));
  if (sinks.length === 0) return undefined;
  const reporter = new QueueSizeReporter({ queues, readSizes, sinks, allocations: config.allocations, logger: logger.with({ component: 'autoscaling' }) });
  reporter.start();
  return reporter;
}
