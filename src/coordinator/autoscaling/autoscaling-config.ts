// The queue-size reporter's settings: the original's EXECUTOR_METRIC_* variables (reference §6.5), read by
// loadCoordinatorConfig with the rest of the coordinator's settings, every problem reported at once.
import fs from 'node:fs';
import path from 'node:path';

/** CloudWatch: set when EXECUTOR_METRIC_AWS_NAMESPACE is. */
export interface AwsMetricConfig {
  /** EXECUTOR_METRIC_AWS_NAMESPACE; the Terraform modules' alarms read `sourcegraph-executor`. */
  namespace: string;
  /** EXECUTOR_METRIC_AWS_REGION, required with the namespace. */
  region: string;
  /**
   * EXECUTOR_METRIC_AWS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY (both or neither) and _SESSION_TOKEN; unset → the
   * SDK's default chain (the instance's role, AWS_* variables, ~/.aws).
   */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** EXECUTOR_METRIC_AWS_ENDPOINT: another endpoint URL (a VPC endpoint, a test stand-in). Default the region's. */
  endpoint: string | undefined;
}

/** Google Cloud Monitoring: set when EXECUTOR_METRIC_GCP_PROJECT_ID is. */
export interface GcpMetricConfig {
  /** EXECUTOR_METRIC_GCP_PROJECT_ID. */
  projectId: string;
  /**
   * A service account key: EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE (read at start) or
   * _FILE_CONTENT (the JSON itself); unset → application default credentials (the VM's service account).
   */
  credentials: Record<string, unknown> | undefined;
  /** Where the key came from, for log lines (never the key). */
  credentialsSource: string | undefined;
  /** EXECUTOR_METRIC_GCP_ENDPOINT: `https://host[:port]` (or `http://` for a test stand-in), or `host[:port]`. Default monitoring.googleapis.com. */
  endpoint: { protocol: 'http' | 'https'; host: string; port: number } | undefined;
}

export interface AutoscalingConfig {
  /** EXECUTOR_METRIC_ENVIRONMENT_LABEL, the `environment` dimension/label. Default `dev`. */
  environmentLabel: string;
  aws: AwsMetricConfig | undefined;
  gcp: GcpMetricConfig | undefined;
  /**
   * EXECUTOR_ALLOCATIONS: JSON `{"<queue>": {"aws": 0..1, "gcp": 0..1}}`, the share of a queue's size each
   * cloud is told (executors of one queue in both clouds). A queue or cloud not named gets 1.
   */
  allocations: Record<string, { aws: number; gcp: number }>;
}

type Get = (name: string) => string | undefined;

/** Reads the EXECUTOR_METRIC_* variables; pushes a line per problem onto `problems`. */
export function loadAutoscalingConfig(get: Get, problems: string[], cwd: string): AutoscalingConfig {
  const environmentLabel = get('EXECUTOR_METRIC_ENVIRONMENT_LABEL') ?? 'dev';

  let aws: AwsMetricConfig | undefined;
  const namespace = get('EXECUTOR_METRIC_AWS_NAMESPACE');
  const awsVars = ['EXECUTOR_METRIC_AWS_REGION', 'EXECUTOR_METRIC_AWS_ACCESS_KEY_ID', 'EXECUTOR_METRIC_AWS_SECRET_ACCESS_KEY', 'EXECUTOR_METRIC_AWS_SESSION_TOKEN', 'EXECUTOR_METRIC_AWS_ENDPOINT'];
  if (namespace !== undefined) {
    const region = get('EXECUTOR_METRIC_AWS_REGION');
    if (region === undefined) problems.push('EXECUTOR_METRIC_AWS_REGION: required with EXECUTOR_METRIC_AWS_NAMESPACE (the region whose CloudWatch gets the queue sizes, e.g. us-west-2)');
    const accessKeyId = get('EXECUTOR_METRIC_AWS_ACCESS_KEY_ID');
    const secretAccessKey = get('EXECUTOR_METRIC_AWS_SECRET_ACCESS_KEY');
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      problems.push('EXECUTOR_METRIC_AWS_ACCESS_KEY_ID and EXECUTOR_METRIC_AWS_SECRET_ACCESS_KEY: set both (the credentials module\'s metric writer), or neither to use the instance\'s role');
    }
    const endpoint = get('EXECUTOR_METRIC_AWS_ENDPOINT');
    if (endpoint !== undefined && !isHttpUrl(endpoint)) problems.push(`EXECUTOR_METRIC_AWS_ENDPOINT=${JSON.stringify(endpoint)}: expected an http(s):// URL`);
    const sessionToken = get('EXECUTOR_METRIC_AWS_SESSION_TOKEN');
    aws = {
      namespace,
      region: region ?? '',
      credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } : undefined,
      endpoint,
    };
  } else {
    const stray = awsVars.filter((name) => get(name) !== undefined);
    if (stray.length > 0) problems.push(`${stray.join(', ')}: set without EXECUTOR_METRIC_AWS_NAMESPACE, which turns CloudWatch reporting on (sourcegraph-executor for the Terraform modules)`);
  }

  let gcp: GcpMetricConfig | undefined;
  const projectId = get('EXECUTOR_METRIC_GCP_PROJECT_ID');
  const credentialsFile = get('EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE');
  const credentialsContent = get('EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE_CONTENT');
  if (projectId !== undefined) {
    let credentials: Record<string, unknown> | undefined;
    let credentialsSource: string | undefined;
    if (credentialsFile !== undefined && credentialsContent !== undefined) {
      problems.push('EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE and _FILE_CONTENT: set one of them');
    } else if (credentialsFile !== undefined) {
      const file = path.resolve(cwd, credentialsFile);
      credentialsSource = file;
      try {
        credentials = parseServiceAccountKey(fs.readFileSync(file, 'utf8'));
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code ? `cannot read it: ${(err as NodeJS.ErrnoException).code}` : (err as Error).message;
        problems.push(`EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE=${JSON.stringify(credentialsFile)}: ${reason}`);
      }
    } else if (credentialsContent !== undefined) {
      credentialsSource = 'EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE_CONTENT';
      try {
        credentials = parseServiceAccountKey(credentialsContent);
      } catch (err) {
        problems.push(`EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE_CONTENT: ${(err as Error).message}`);
      }
    }
    let endpoint: GcpMetricConfig['endpoint'];
    const rawEndpoint = get('EXECUTOR_METRIC_GCP_ENDPOINT');
    if (rawEndpoint !== undefined) {
      endpoint = parseGcpEndpoint(rawEndpoint);
      if (!endpoint) problems.push(`EXECUTOR_METRIC_GCP_ENDPOINT=${JSON.stringify(rawEndpoint)}: expected https://host[:port], http://host[:port] or host[:port]`);
    }
    gcp = { projectId, credentials, credentialsSource, endpoint };
  } else {
    const stray = ['EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE', 'EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE_CONTENT', 'EXECUTOR_METRIC_GCP_ENDPOINT'].filter((name) => get(name) !== undefined);
    if (stray.length > 0) problems.push(`${stray.join(', ')}: set without EXECUTOR_METRIC_GCP_PROJECT_ID, which turns Cloud Monitoring reporting on`);
  }

  const allocations: AutoscalingConfig['allocations'] = {};
  const rawAllocations = get('EXECUTOR_ALLOCATIONS');
  if (rawAllocations !== undefined) {
    const problem = parseAllocations(rawAllocations, allocations);
    if (problem) problems.push(`EXECUTOR_ALLOCATIONS: ${problem}`);
  }
  return { environmentLabel, aws, gcp, allocations };
}

function isHttpUrl(value: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** A service account key (or any JSON credentials object google-auth-library takes); throws what is wrong. */
function parseServiceAccountKey(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('not JSON: expected a service account key file as the Cloud console downloads it');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || typeof (parsed as { type?: unknown }).type !== 'string') {
    throw new Error('expected a JSON object with a "type" (a service account key: "type": "service_account")');
  }
  return parsed as Record<string, unknown>;
}

function parseGcpEndpoint(raw: string): GcpMetricConfig['endpoint'] {
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `https://${raw}`;
  try {
    const url = new URL(withScheme);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || (url.pathname !== '/' && url.pathname !== '') || url.search) return undefined;
    const protocol = url.protocol === 'http:' ? 'http' : 'https';
    return { protocol, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443 };
  } catch {
    return undefined;
  }
}

function parseAllocations(raw: string, into: AutoscalingConfig['allocations']): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'not JSON: expected {"<queue>": {"aws": 0.5, "gcp": 0.5}}';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'expected a JSON object {"<queue>": {"aws": 0..1, "gcp": 0..1}}';
  for (const [queue, shares] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof shares !== 'object' || shares === null || Array.isArray(shares)) return `${queue}: expected {"aws": 0..1, "gcp": 0..1}`;
    const entry = { aws: 1, gcp: 1 };
    for (const [cloud, share] of Object.entries(shares as Record<string, unknown>)) {
      if (cloud !== 'aws' && cloud !== 'gcp') return `${queue}.${cloud}: expected aws or gcp`;
      if (typeof share !== 'number' || !(share >= 0 && share <= 1)) return `${queue}.${cloud}: expected a number from 0 to 1, got ${JSON.stringify(share)}`;
      entry[cloud] = share;
    }
    into[queue] = entry;
  }
  return undefined;
}
