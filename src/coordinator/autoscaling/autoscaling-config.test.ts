import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCoordinatorConfig } from '../config.js';

describe('the EXECUTOR_METRIC_* settings', () => {
  it('report nowhere by default, with the environment label dev', () => {
    expect(loadCoordinatorConfig({}).autoscaling).toEqual({ environmentLabel: 'dev', aws: undefined, gcp: undefined, allocations: {} });
  });

  it('turn CloudWatch on with a namespace and a region, with the metric writer\'s keys and another endpoint', () => {
    const { aws } = loadCoordinatorConfig({
      EXECUTOR_METRIC_AWS_NAMESPACE: 'sourcegraph-executor',
      EXECUTOR_METRIC_AWS_REGION: 'us-west-2',
      EXECUTOR_METRIC_AWS_ACCESS_KEY_ID: 'AKIA1',
      EXECUTOR_METRIC_AWS_SECRET_ACCESS_KEY: 'secret',
      EXECUTOR_METRIC_AWS_ENDPOINT: 'https://monitoring.vpce.example.internal',
    }).autoscaling;
    expect(aws).toEqual({ namespace: 'sourcegraph-executor', region: 'us-west-2', credentials: { accessKeyId: 'AKIA1', secretAccessKey: 'secret' }, endpoint: 'https://monitoring.vpce.example.internal' });
  });

  it('turn Cloud Monitoring on with a project, reading the service account key at start', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'metric-key-'));
    try {
      await fs.writeFile(path.join(dir, 'key.json'), JSON.stringify({ type: 'service_account', client_email: 'w@p.iam.gserviceaccount.com' }));
      const { gcp } = loadCoordinatorConfig({ EXECUTOR_METRIC_GCP_PROJECT_ID: 'p', EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE: 'key.json', EXECUTOR_METRIC_GCP_ENDPOINT: 'http://127.0.0.1:9099' }, dir).autoscaling;
      expect(gcp).toEqual({
        projectId: 'p',
        credentials: { type: 'service_account', client_email: 'w@p.iam.gserviceaccount.com' },
        credentialsSource: path.join(dir, 'key.json'),
        endpoint: { protocol: 'http', host: '127.0.0.1', port: 9099 },
      });
      expect(loadCoordinatorConfig({ EXECUTOR_METRIC_GCP_PROJECT_ID: 'p', EXECUTOR_METRIC_GCP_ENDPOINT: 'monitoring.example.com' }).autoscaling.gcp?.endpoint).toEqual({ protocol: 'https', host: 'monitoring.example.com', port: 443 });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('list every problem at once, naming the variable', () => {
    let message = '';
    try {
      loadCoordinatorConfig({
        EXECUTOR_METRIC_AWS_NAMESPACE: 'sourcegraph-executor',
        EXECUTOR_METRIC_AWS_ACCESS_KEY_ID: 'AKIA1',
        EXECUTOR_METRIC_AWS_ENDPOINT: 'monitoring.local',
        EXECUTOR_METRIC_GCP_PROJECT_ID: 'p',
        EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE: '/nonexistent/key.json',
        EXECUTOR_METRIC_GCP_ENDPOINT: 'ftp://x',
        EXECUTOR_ALLOCATIONS: '{"batches": {"aws": 1.5}}',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('EXECUTOR_METRIC_AWS_REGION: required with EXECUTOR_METRIC_AWS_NAMESPACE');
    expect(message).toContain('EXECUTOR_METRIC_AWS_ACCESS_KEY_ID and EXECUTOR_METRIC_AWS_SECRET_ACCESS_KEY: set both');
    expect(message).toContain('EXECUTOR_METRIC_AWS_ENDPOINT="monitoring.local": expected an http(s):// URL');
    expect(message).toContain('EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE="/nonexistent/key.json": cannot read it: ENOENT');
    expect(message).toContain('EXECUTOR_METRIC_GCP_ENDPOINT="ftp://x"');
    expect(message).toContain('EXECUTOR_ALLOCATIONS: batches.aws: expected a number from 0 to 1, got 1.5');
  });

  it('refuse settings that would be ignored because the cloud is not turned on', () => {
    expect(() => loadCoordinatorConfig({ EXECUTOR_METRIC_AWS_REGION: 'us-west-2' })).toThrow('EXECUTOR_METRIC_AWS_REGION: set without EXECUTOR_METRIC_AWS_NAMESPACE');
    expect(() => loadCoordinatorConfig({ EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE: 'k.json' })).toThrow('set without EXECUTOR_METRIC_GCP_PROJECT_ID');
  });

  it('refuse a key that is not a service account key JSON, without echoing it', () => {
    expect(() => loadCoordinatorConfig({ EXECUTOR_METRIC_GCP_PROJECT_ID: 'p', EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE_CONTENT: 'secret-not-json' })).toThrow(
      /EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE_CONTENT: not JSON: expected a service account key file/,
    );
    expect(() => loadCoordinatorConfig({ EXECUTOR_METRIC_GCP_PROJECT_ID: 'p', EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE_CONTENT: 'secret-not-json' })).not.toThrow(/secret-not-json/);
  });

  it('read EXECUTOR_ALLOCATIONS with 1 for a cloud not named', () => {
    expect(loadCoordinatorConfig({ EXECUTOR_ALLOCATIONS: '{"batches": {"aws": 0.25}}' }).autoscaling.allocations).toEqual({ batches: { aws: 0.25, gcp: 1 } });
  });
});
