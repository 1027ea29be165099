import { describe, expect, it } from 'vitest';
import { parseIndexConfigurationYaml } from './index-configuration.js';
import { completeIndexJob, indexJobSpec, resourceEnvironment } from './index-job-builder.js';
import { repositoryPatternMatches } from './index-scheduler.js';
import { shellJoin } from './shell-quote.js';

describe('index jobs as the original builds them', () => {
  const parsed = parseIndexConfigurationYaml(`
shared_steps:
  - root: /
    image: node:20
    commands: [yarn install]
index_jobs:
  - root: web/
    steps: [{ image: node:20, commands: [npm ci] }]
    local_steps: [echo before]
    indexer: executors-scip-typescript:0.4.0
    indexer_args: [scip-typescript, index, "--output", "my index.scip"]
    outfile: my index.scip
`);

  it('reads sourcegraph.yaml and names what is wrong in a broken one', () => {
    expect(parsed.ok).toBe(true);
    const broken = parseIndexConfigurationYaml('index_jobs:\n  - root: ../up\n    indexer: ""\n');
    expect(broken).toEqual({ ok: false, error: expect.stringMatching(/index_jobs\.0\.root: must be a path inside the repository \(no \.\.\).*index_jobs\.0\.indexer: expected the indexer container image/) });
    expect(parseIndexConfigurationYaml('index_jobs: [').ok).toBe(false);
    expect(parseIndexConfigurationYaml('index_jobs: []')).toEqual({ ok: false, error: 'index_jobs: expected at least one index job' });
  });

  it('builds pre-index steps, the indexer step in the root, and at dequeue the upload step with the job token', () => {
    if (!parsed.ok) throw new Error(parsed.error);
    const spec = indexJobSpec({ repositoryName: 'github.com/a/b', commit: 'c'.repeat(40), job: parsed.config.index_jobs[0]!, sharedSteps: parsed.config.shared_steps });
    expect(spec.shallowClone).toBe(true);
    expect(spec.dockerSteps.map((s) => [s.key, s.image, s.dir, s.commands])).toEqual([
      ['pre-index.0', 'node:20', '', ['yarn install']],
      ['pre-index.1', 'node:20', '', ['npm ci']],
      ['indexer', 'executors-scip-typescript:0.4.0', 'web', ['echo before', "scip-typescript index --output 'my index.scip'"]],
    ]);
    const token = 'a'.repeat(40);
    const job = completeIndexJob(
      { id: 42, token, ...spec, dockerSteps: spec.dockerSteps },
      { executorName: 'ex-1', resources: { numCPUs: 4, memory: '12G', diskSpace: '20G' }, root: 'web', outfile: 'my index.scip', frontendUrl: 'http://coord:3080', srcCliImage: 'executors-src-cli:0.1.0' },
    );
    const upload = job.dockerSteps[3]!;
    expect(upload).toMatchObject({ key: 'upload', image: 'executors-src-cli:0.1.0', dir: 'web' });
    expect(upload.commands).toEqual([`src code-intel upload -no-progress -repo github.com/a/b -commit ${'c'.repeat(40)} -root web -upload-route /.executors/lsif/upload -file 'my index.scip' -associated-index-id 42`]);
    expect(upload.env).toEqual(['SRC_ENDPOINT=http://coord:3080', `SRC_HEADER_AUTHORIZATION=Bearer ${token}`, 'SRC_HEADERS=X-Sourcegraph-Job-ID: 42\nX-Sourcegraph-Executor-Name: ex-1']);
    expect(job.dockerSteps[2]!.env).toEqual(expect.arrayContaining(['VM_CPUS=4', 'VM_MEM=12.0 GB', 'VM_MEM_GB=12', 'VM_DISK_MB=20480']));
    expect(job.redactedValues).toMatchObject({ [`Bearer ${token}`]: 'Bearer REDACTED', [token]: 'PASSWORD_REMOVED' });
  });

  it('defaults memory and disk as the original when the executor reports none', () => {
    expect(resourceEnvironment({})).toEqual(['VM_MEM=12.0 GB', 'VM_MEM_GB=12', 'VM_MEM_MB=12288', 'VM_DISK=20.0 GB', 'VM_DISK_GB=20', 'VM_DISK_MB=20480']);
  });

  it('quotes for a POSIX shell and matches repository globs', () => {
    expect(shellJoin(['a', "it's", '', 'x y', '--flag=1'])).toBe(`a 'it'\\''s' '' 'x y' --flag=1`);
    expect(repositoryPatternMatches('github.com/acme/*', 'github.com/acme/app')).toBe(true);
    expect(repositoryPatternMatches('github.com/acme/*', 'github.com/acme/app/sub')).toBe(false);
    expect(repositoryPatternMatches('github.com/**', 'github.com/acme/app/sub')).toBe(true);
    expect(repositoryPatternMatches('github.com/acme/ap?', 'github.com/acme/app')).toBe(true);
  });
});
