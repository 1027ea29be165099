// The Terraform modules and the Packer template, checked without a cloud (no cloud API and no provider
// download is reachable from these machines, so `terraform plan/apply` and `packer build` cannot run
// here). The files are parsed with @cdktf/hcl2json; the scaling resources are compared with what the
// coordinator's reporter actually sends (its real SDK clients against the local stand-ins of the cloud
// APIs); the startup script is rendered as templatefile would, checked with bash -n and shellcheck, and
// run in a Debian container to see every value arrive in the env file unchanged.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloudMonitoringSink } from '../../src/coordinator/autoscaling/cloud-monitoring-sink.js';
import { createCloudWatchSink, TERRAFORM_CLOUDWATCH_NAMESPACE } from '../../src/coordinator/autoscaling/cloudwatch-sink.js';
import { combinedQueueName } from '../../src/coordinator/autoscaling/queue-size-reporter.js';
import { startCloudMonitoringStandIn, type TimeSeriesRequest } from '../helpers/cloud-monitoring-stand-in.js';
import { startCloudWatchStandIn, type PutMetricDataRequest } from '../helpers/cloudwatch-stand-in.js';
import { dockerTestsEnabled, requireDockerDaemon } from '../helpers/docker.js';
import { locals, parseHclDir, resource, variableDefault, type Hcl } from '../helpers/hcl.js';
import { renderTemplate } from '../helpers/terraform-template.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TERRAFORM = path.join(ROOT, 'deploy/terraform');

async function filesUnder(dir: string, suffix: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full, suffix)));
    else if (entry.name.endsWith(suffix)) out.push(full);
  }
  return out.sort();
}

/** What `replace(join(",", sort(queue_names)), ",", "_")` evaluates to in the modules' locals. */
const terraformMetricQueueName = (queueNames: string[]) => [...queueNames].sort().join(',').replaceAll(',', '_');

describe('the Terraform modules', () => {
  let aws: Hcl;
  let google: Hcl;
  /** What the reporter's CloudWatch client sent for one round (queue codeintel, environment prod). */
  let cloudwatchRound: PutMetricDataRequest;
  let monitoringRound: TimeSeriesRequest;

  beforeAll(async () => {
    aws = await parseHclDir(path.join(TERRAFORM, 'aws/modules/executors'));
    google = await parseHclDir(path.join(TERRAFORM, 'google/modules/executors'));
    const keys = { accessKeyId: 'AKIASTANDIN000000004', secretAccessKey: 'stand-in' };
    const cloudwatch = await startCloudWatchStandIn(keys, 'us-west-2');
    const monitoring = await startCloudMonitoringStandIn('p');
    try {
      const cw = await createCloudWatchSink({ namespace: TERRAFORM_CLOUDWATCH_NAMESPACE, region: 'us-west-2', credentials: keys, endpoint: cloudwatch.url }, 'prod');
      await cw.publish([{ queueName: 'codeintel', size: 1 }], new Date(), AbortSignal.timeout(30_000));
      await cw.close();
      const endpoint = new URL(monitoring.url);
      const gcp = await createCloudMonitoringSink({ projectId: 'p', credentials: monitoring.serviceAccountKey, credentialsSource: 'test', endpoint: { protocol: 'http', host: endpoint.hostname, port: Number(endpoint.port) } }, 'prod');
      await gcp.publish([{ queueName: 'codeintel', size: 1 }], new Date(), AbortSignal.timeout(30_000));
      await gcp.close();
      cloudwatchRound = cloudwatch.requests[0]!;
      monitoringRound = monitoring.requests[0]!;
    } finally {
      await cloudwatch.close();
      await monitoring.close();
    }
  });

  it('all parse as HCL, every file', async () => {
    const files = [...(await filesUnder(TERRAFORM, '.tf')), ...(await filesUnder(path.join(ROOT, 'deploy/packer'), '.pkr.hcl'))];
    expect(files.length).toBeGreaterThan(20);
    for (const dir of new Set(files.map((f) => path.dirname(f)))) await parseHclDir(dir, dir.endsWith('packer') ? '.pkr.hcl' : '.tf');
    for (const cloud of ['aws', 'google']) {
      for (const module of ['networking', 'docker-mirror', 'executors', 'credentials']) await fs.stat(path.join(TERRAFORM, cloud, 'modules', module, 'main.tf'));
      for (const example of ['single-executor', 'multiple-executors']) await fs.stat(path.join(TERRAFORM, cloud, 'examples', example, 'main.tf'));
    }
  });

  it('are formatted as terraform fmt writes them, where a terraform binary exists', async (ctx) => {
    const found = await run('sh', ['-c', 'command -v terraform']).then(() => true, () => false);
    if (!found) {
      ctx.skip('no terraform binary on PATH (no Debian package has one): fmt -check not run');
      return;
    }
    const result = await run('terraform', ['fmt', '-check', '-recursive', '-list=true', TERRAFORM]).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  });

  describe('AWS: the scaling alarms', () => {
    const alarms = () => [resource(aws, 'aws_cloudwatch_metric_alarm', 'scale_out'), resource(aws, 'aws_cloudwatch_metric_alarm', 'scale_in')];
    const query = (alarm: Hcl, id: string) => (alarm.metric_query as Hcl[]).find((q) => q.id === id)!;

    it('read the metric the reporter sends: its namespace, name and exactly its dimensions', () => {
      const sent = cloudwatchRound.body.MetricData[0]!;
      for (const alarm of alarms()) {
        const metric = query(alarm, 'queueSize').metric[0] as Hcl;
        expect(metric.namespace).toBe(cloudwatchRound.body.Namespace);
        expect(metric.metric_name).toBe(sent.MetricName);
        expect(Object.keys(metric.dimensions).sort()).toEqual(sent.Dimensions.map((d) => d.Name).sort());
        expect(metric.dimensions).toEqual({ queueName: '${local.metric_queue_name}', environment: '${var.metrics_environment_label}' });
        expect([metric.stat, metric.period]).toEqual(['Maximum', 60]);
      }
    });

    it('name a queue, or several, as the reporter does', () => {
      const l = locals(aws);
      expect(l.queue_names).toBe('${var.queue_names != null ? join(",", sort(var.queue_names)) : ""}');
      expect(l.metric_queue_name).toBe('${var.queue_name != "" ? var.queue_name : replace(local.queue_names, ",", "_")}');
      expect(terraformMetricQueueName(['codeintel', 'batches'])).toBe(combinedQueueName(['codeintel', 'batches']));
    });

    it('compute CEIL(queue / jobs_per_instance_scaling) - instances against the group\'s GroupTotalInstances', () => {
      expect(locals(aws).scaling_expression).toBe('CEIL(queueSize / ${var.jobs_per_instance_scaling}) - instanceCount');
      for (const alarm of alarms()) {
        expect(query(alarm, 'instancesNeeded')).toMatchObject({ expression: '${local.scaling_expression}', return_data: true });
        expect(query(alarm, 'instanceCount').metric[0]).toMatchObject({ namespace: 'AWS/AutoScaling', metric_name: 'GroupTotalInstances', dimensions: { AutoScalingGroupName: '${aws_autoscaling_group.executor.name}' } });
        expect(alarm.threshold).toBe(0);
        expect(alarm.count).toBe('${local.autoscaling ? 1 : 0}');
      }
      const [out, scaleIn] = alarms();
      expect([out!.comparison_operator, out!.alarm_actions]).toEqual(['GreaterThanThreshold', ['${aws_autoscaling_policy.scale_out[0].arn}']]);
      expect([scaleIn!.comparison_operator, scaleIn!.alarm_actions]).toEqual(['LessThanThreshold', ['${aws_autoscaling_policy.scale_in[0].arn}']]);
      expect([resource(aws, 'aws_autoscaling_policy', 'scale_out').scaling_adjustment, resource(aws, 'aws_autoscaling_policy', 'scale_in').scaling_adjustment]).toEqual([1, -1]);
      expect(locals(aws).autoscaling).toBe('${var.min_replicas != var.max_replicas}');
      expect(resource(aws, 'aws_autoscaling_group', 'executor').enabled_metrics).toContain('GroupTotalInstances');
    });

    it('let the credentials module\'s metric writer write the namespace the alarms read, and nothing else', async () => {
      const credentials = await parseHclDir(path.join(TERRAFORM, 'aws/modules/credentials'));
      expect(variableDefault(credentials, 'metric_namespace')).toBe(TERRAFORM_CLOUDWATCH_NAMESPACE);
      const statement = credentials.data.aws_iam_policy_document.metric_writer[0].statement[0] as Hcl;
      expect(statement.actions).toEqual(['cloudwatch:PutMetricData']);
      expect(statement.condition[0]).toEqual({ test: 'StringEquals', variable: 'cloudwatch:namespace', values: ['${var.metric_namespace}'] });
      expect(Object.keys(credentials.output).sort()).toEqual(['metric_writer_access_key_id', 'metric_writer_secret_key']);
    });
  });

  describe('GCP: the autoscaler', () => {
    it('follows the gauge the reporter writes, filtered by exactly its labels and resource, one instance per N', () => {
      const series = monitoringRound.body.timeSeries[0]!;
      const metric = resource(google, 'google_compute_autoscaler', 'executor').autoscaling_policy[0].metric[0] as Hcl;
      expect(metric.name).toBe(series.metric.type);
      expect(metric.single_instance_assignment).toBe('${var.jobs_per_instance_scaling}');
      expect(metric.filter).toBe('${local.metric_filter}');
      const filter = locals(google).metric_filter as string;
      const terms = filter.split(' AND ');
      expect(terms).toEqual([`resource.type = "${series.resource.type}"`, 'metric.labels.queueName = "${local.metric_queue_name}"', 'metric.labels.environment = "${var.metrics_environment_label}"']);
      expect(terms.slice(1).map((t) => /metric\.labels\.(\w+)/.exec(t)![1]).sort()).toEqual(Object.keys(series.metric.labels).sort());
      expect(locals(google).metric_queue_name).toBe(locals(aws).metric_queue_name);
    });

    it('gives the instances nested virtualization for the vm runtime, and lets the group recreate a powered-off one', () => {
      const template = resource(google, 'google_compute_instance_template', 'executor');
      expect(template.advanced_machine_features[0].enable_nested_virtualization).toBe('${var.use_firecracker}');
      expect(template.scheduling[0].automatic_restart).toBe(false);
    });

    it('let the credentials module\'s service account write metrics only', async () => {
      const credentials = await parseHclDir(path.join(TERRAFORM, 'google/modules/credentials'));
      expect(resource(credentials, 'google_project_iam_member', 'metric_writer').role).toBe('roles/monitoring.metricWriter');
      expect(Object.keys(credentials.output)).toEqual(['metric_writer_credentials_file']);
    });
  });

  it('take the original\'s inputs with its defaults (reference §6.7)', () => {
    const expected = {
      aws: { machine_type: 'c5n.metal', boot_disk_size: 500, boot_disk_iops: 3000, boot_disk_throughput: 125, maximum_runtime_per_job: '30m', maximum_num_jobs: 18, num_total_jobs: 1800, max_active_time: '2h', jobs_per_instance_scaling: 360 },
      google: { machine_type: 'c2-standard-8', boot_disk_size: 100, maximum_runtime_per_job: '45m', maximum_num_jobs: 2, num_total_jobs: 200, max_active_time: '12h', jobs_per_instance_scaling: 20, use_local_ssd: false },
    };
    const common = { job_num_cpus: 4, job_memory: '12GB', firecracker_disk_space: '20GB', use_firecracker: true, min_replicas: 1, max_replicas: 1, queue_name: '', queue_names: null, metrics_environment_label: 'dev', docker_registry_mirror: '', docker_auth_config: '', private_ca_cert_path: '', preemptible_machines: false };
    for (const [cloud, hcl] of [['aws', aws], ['google', google]] as const) {
      for (const [name, value] of Object.entries({ ...common, ...expected[cloud] })) expect([cloud, name, variableDefault(hcl, name)]).toEqual([cloud, name, value]);
      for (const required of ['sourcegraph_external_url', 'sourcegraph_executor_proxy_password']) expect(hcl.variable[required][0]).not.toHaveProperty('default');
      expect(hcl.variable.sourcegraph_executor_proxy_password[0].sensitive).toBe(true);
    }
  });

  it('write only variables the executor reads into its env file', async () => {
    const configSource = await fs.readFile(path.join(ROOT, 'src/executor/config.ts'), 'utf8');
    for (const hcl of [aws, google]) {
      const names = Object.keys(locals(hcl).environment as Hcl);
      expect(names).toEqual(expect.arrayContaining(['EXECUTOR_FRONTEND_URL', 'EXECUTOR_FRONTEND_PASSWORD', 'EXECUTOR_QUEUE_NAME', 'EXECUTOR_QUEUE_NAMES', 'EXECUTOR_NUM_TOTAL_JOBS', 'EXECUTOR_MAX_ACTIVE_TIME']));
      for (const name of names) expect([name, configSource.includes(`'${name}'`)]).toEqual([name, true]);
    }
  });

  describe('the startup script', () => {
    const template = (cloud: string) => fs.readFile(path.join(TERRAFORM, cloud, 'modules/executors/startup-script.sh.tpl'), 'utf8');
    const nasty = 'pa"ss $HOME `id` \\ \'quoted\' ${x}';
    const dockerAuth = '{\n  "auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}\n}';
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const render = async (cloud: string, extra: Record<string, string> = {}) =>
      renderTemplate(await template(cloud), {
        environment: { EXECUTOR_FRONTEND_URL: b64('https://coordinator.example.com'), EXECUTOR_FRONTEND_PASSWORD: b64(nasty), EXECUTOR_QUEUE_NAME: b64('codeintel'), EXECUTOR_DOCKER_AUTH_CONFIG: b64(dockerAuth) },
        private_ca_cert: '',
        docker_registry_mirror: '',
        scratch_disk: '',
        ...extra,
      });
    let dir: string;
    beforeAll(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'startup-script-'));
    });
    afterAll(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('is the same file for both clouds', async () => {
      expect(await template('google')).toBe(await template('aws'));
    });

    it('is given exactly the variables it uses, by both modules', async () => {
      const used = new Set([...(await template('aws')).matchAll(/(?<!\$)\$\{(\w+)\}|%\{ for \w+, \w+ in (\w+)/g)].map((m) => m[1] ?? m[2]).filter((n) => n !== 'name' && n !== 'value'));
      for (const [hcl, block] of [[aws, resource(aws, 'aws_launch_template', 'executor').user_data], [google, resource(google, 'google_compute_instance_template', 'executor').metadata_startup_script]] as const) {
        expect(hcl).toBeDefined();
        const passed = new Set([...(block as string).matchAll(/^\s+(\w+)\s+=/gm)].map((m) => m[1]));
        expect([...passed].sort()).toEqual([...used].sort());
      }
    });

    it('renders to a script that bash -n and shellcheck accept', async () => {
      for (const variant of [{} as Record<string, string>, { private_ca_cert: b64('-----BEGIN CERTIFICATE-----\n...\n'), docker_registry_mirror: b64('http://10.0.1.4:5000'), scratch_disk: '/dev/disk/by-id/google-executor-scratch' }]) {
        const file = path.join(dir, 'startup.sh');
        await fs.writeFile(file, await render('aws', variant));
        await run('bash', ['-n', file]);
        const shellcheck = await run('shellcheck', ['--severity=style', file]).then(
          () => '',
          (err: { code?: string | number; stdout?: string }) => {
            if (err.code === 'ENOENT') throw new Error('this test needs shellcheck: apt-get install -y shellcheck');
            return err.stdout ?? String(err);
          },
        );
        expect(shellcheck).toBe('');
      }
    });

    it.runIf(dockerTestsEnabled())('writes every value into the env file unchanged (mode 0600), trusts the private CA, and starts the unit', async () => {
      await requireDockerDaemon();
      const { stdout: base } = await run('bash', [path.join(ROOT, 'deploy/docker/local-base-image.sh')], { timeout: 600_000 });
      const ca = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUStandInOnlyNotARealCertificate0wCgYIKoZIzj0E\n-----END CERTIFICATE-----\n';
      await fs.writeFile(path.join(dir, 'startup.sh'), await render('aws', { private_ca_cert: b64(ca) }));
      // Stand-ins for systemctl and update-ca-certificates (no systemd in a container): they log their calls.
      await fs.mkdir(path.join(dir, 'bin'), { recursive: true });
      for (const tool of ['systemctl', 'update-ca-certificates']) {
        await fs.writeFile(path.join(dir, 'bin', tool), `#!/bin/sh\necho "${tool} $*" >> /tmp/calls\n`, { mode: 0o755 });
      }
      const check = [
        'PATH=/stand-ins:$PATH bash /startup.sh',
        'stat -c %a /etc/systemd/system/executor.env',
        'cat /tmp/calls',
        'cat /usr/local/share/ca-certificates/private_ca_cert.crt',
        "set -a; . /etc/systemd/system/executor.env; printf '%s\\n---\\n' \"$EXECUTOR_FRONTEND_PASSWORD\" \"$EXECUTOR_DOCKER_AUTH_CONFIG\" \"$EXECUTOR_QUEUE_NAME\" \"$EXECUTOR_FRONTEND_URL\"",
      ].join(' && ');
      const { stdout } = await run('docker', ['run', '--rm', '-v', `${dir}/startup.sh:/startup.sh:ro`, '-v', `${dir}/bin:/stand-ins:ro`, base.trim(), 'bash', '-c', check]);
      const [mode, ...rest] = stdout.split('\n');
      expect(mode).toBe('600');
      const text = rest.join('\n');
      expect(text).toContain('update-ca-certificates \nsystemctl daemon-reload\nsystemctl enable executor\nsystemctl restart executor\n');
      expect(text).toContain(ca);
      const values = text.slice(text.indexOf(ca) + ca.length).split('\n---\n');
      // Line breaks in a value become spaces (an env file line cannot hold them); everything else is kept.
      expect(values.slice(0, 4)).toEqual([nasty, dockerAuth.replaceAll('\n', ' '), 'codeintel', 'https://coordinator.example.com']);
    }, 600_000);
  });
});

describe('the Packer template', () => {
  let packer: Hcl;
  beforeAll(async () => {
    packer = await parseHclDir(path.join(ROOT, 'deploy/packer'), '.pkr.hcl');
  });

  it('builds images that the executors modules find: AMIs named executors-*, the GCP image family executors', async () => {
    const aws = await parseHclDir(path.join(TERRAFORM, 'aws/modules/executors'));
    const google = await parseHclDir(path.join(TERRAFORM, 'google/modules/executors'));
    expect(packer.source['amazon-ebs'].executor[0].ami_name).toBe('${local.image_name}');
    expect(locals(packer).image_name).toMatch(/^executors-\$\{/);
    expect(aws.data.aws_ami.executor[0].filter.find((f: Hcl) => f.name === 'name').values).toEqual(['executors-*']);
    expect(packer.source.googlecompute.executor[0].image_family).toBe(google.data.google_compute_image.executor[0].family);
  });

  it('puts the release binary on the image and runs executor install all with the power-off unit', async () => {
    const build = packer.build[0] as Hcl;
    expect(build.provisioner.file.map((f: Hcl) => [f.source, f.destination])).toEqual([
      ['${var.executor_binary}', '/tmp/executor'],
      ['install.sh', '/tmp/install.sh'],
    ]);
    expect(packer.variable.executor_binary[0].default).toBe('../../release/executor-linux-amd64');
    const install = await fs.readFile(path.join(ROOT, 'deploy/packer/install.sh'), 'utf8');
    expect(install).toContain('install -m 0755 /tmp/executor /usr/local/bin/executor');
    expect(install).toMatch(/^\/usr\/local\/bin\/executor install all --power-off-on-exit$/m);
    await run('bash', ['-n', path.join(ROOT, 'deploy/packer/install.sh')]);
    await run('shellcheck', [path.join(ROOT, 'deploy/packer/install.sh'), path.join(TERRAFORM, 'aws/modules/docker-mirror/startup-script.sh'), path.join(TERRAFORM, 'google/modules/docker-mirror/startup-script.sh')]);
  });
});
