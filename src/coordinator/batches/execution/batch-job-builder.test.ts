import { describe, expect, it } from 'vitest';
import { parseBatchSpec } from '../spec/parse-batch-spec.js';
import type { BatchSpec } from '../spec/batch-spec.js';
import { batchUploadScript } from '../../../src-cli/batch-upload-script.js';
import { batchJobSpec, stepCacheKey, workspaceRootFrom, workspaceTask } from './batch-job-builder.js';

const SPEC = `
name: hello
description: say hello
on:
  - repository: github.com/acme/app
steps:
  - run: sed -i 's/foo/bar/' config.txt
    container: alpine:3
    env:
      - TOKEN
      - MODE: fast
  - run: echo only-for-other
    container: alpine:3
    if: \${{ eq repository.name "github.com/acme/other" }}
  - run: echo \${{ outputs.x }}
    container: busybox
    if: \${{ eq previous_step.stdout "" }}
changesetTemplate:
  title: t
  body: b
  branch: hello
  commit:
    message: m
`;

function spec(): BatchSpec {
  const parsed = parseBatchSpec(SPEC);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}
const workspace = { repositoryName: 'github.com/acme/app', branch: 'main', commit: 'a'.repeat(40), path: 'svc/api', searchResultPaths: [] };

describe('the batches job of a workspace', () => {
  it('drops a statically false step, keeps one decided at run time, and separates secret env from literal env', () => {
    const task = workspaceTask(spec(), workspace);
    expect(task.input.steps.map((s) => s.run)).toEqual(["sed -i 's/foo/bar/' config.txt", 'echo ${{ outputs.x }}']);
    expect(task.input.steps[0]).toMatchObject({ env: { MODE: 'fast' }, secretEnv: ['TOKEN'] });
    expect(task.stepSecrets).toEqual([['TOKEN'], []]);
  });

  it('renders step 0 into job files, has one helper step between and after the steps, the last one uploading (the shell form: the last step has no outputs); the run in the workspace directory; secrets asked by the run step only', () => {
    const task = workspaceTask(spec(), workspace);
    const { spec: job, stepSecrets } = batchJobSpec(task, { onlyFetchWorkspace: true, helperImage: 'executors-src-cli:1' });
    expect(job.dockerSteps.map((s) => s.key)).toEqual(['step.0.run', 'step.0.post', 'step.1.run', 'step.1.post']);
    expect(job.dockerSteps[0]).toMatchObject({ image: 'alpine:3', commands: ['set +x', 'sh ../../../.batches/step0.sh'], dir: 'repository/svc/api' });
    expect(job.dockerSteps[1]).toMatchObject({ image: 'executors-src-cli:1', commands: ['src batch-helper post 0 pre 1'], dir: '' });
    expect(job.dockerSteps[3]).toMatchObject({ image: 'executors-src-cli:1', commands: [`sh .batches/upload.sh 1 ${workspace.commit}`], dir: '' });
    expect(job.files['.batches/upload.sh']!.content).toBe(batchUploadScript());
    expect(stepSecrets).toEqual([['TOKEN'], [], [], []]);
    // Step 0 as the helper's pre 0 would have written it: the rendered run, the literal env, no secret.
    expect(job.files['.batches/run0.sh']!.content).toBe("sed -i 's/foo/bar/' config.txt\n");
    expect(job.files['.batches/step0.sh']!.content).toContain("export MODE='fast'");
    expect(job.files['.batches/step0.sh']!.content).not.toContain('TOKEN');
    expect(Object.keys(job.files).sort()).toEqual(['.batches/input.json', '.batches/run0.sh', '.batches/step0.sh', '.batches/upload.sh']);
    expect(job).toMatchObject({ repositoryDirectory: 'repository', shallowClone: true, sparseCheckout: ['svc/api/*'], commit: workspace.commit });
    expect(JSON.parse(job.files['.batches/input.json']!.content!)).toEqual(task.input);
    expect(batchJobSpec(task, { onlyFetchWorkspace: false, helperImage: 'x' }).spec.sparseCheckout).toEqual([]);
    expect(workspaceRootFrom('')).toBe('..');
  });

  it('decides step 0\'s if: when it builds the job, and leaves a template that does not render to the job\'s pre 0, which says why', () => {
    const skipped = workspaceTask(spec(), workspace);
    skipped.input.steps[0] = { ...skipped.input.steps[0]!, if: '${{ eq repository.branch "other" }}' };
    const job = batchJobSpec(skipped, { onlyFetchWorkspace: false, helperImage: 'x' }).spec;
    expect(job.dockerSteps.map((s) => s.key)).toEqual(['step.0.run', 'step.0.post', 'step.1.run', 'step.1.post']);
    expect(job.files['.batches/skipped0']!.content).toContain('is not true');
    expect(job.files['.batches/run0.sh']).toBeUndefined();

    const failing = workspaceTask(spec(), workspace);
    failing.input.steps[0] = { ...failing.input.steps[0]!, run: 'echo ${{ outputs.missing }}' };
    const withPre = batchJobSpec(failing, { onlyFetchWorkspace: false, helperImage: 'x' });
    expect(withPre.spec.dockerSteps.map((s) => s.key)).toEqual(['step.0.pre', 'step.0.run', 'step.0.post', 'step.1.run', 'step.1.post']);
    expect(withPre.spec.dockerSteps[0]!.commands).toEqual(['src batch-helper pre 0']);
    expect(withPre.stepSecrets).toEqual([[], ['TOKEN'], [], [], []]);
    expect(Object.keys(withPre.spec.files)).toEqual(['.batches/input.json', '.batches/upload.sh']);
  });

  it('leaves the upload to the node helper when the last step has outputs (they are templates)', () => {
    const task = workspaceTask(spec(), workspace);
    const last = task.input.steps.length - 1;
    task.input.steps[last] = { ...task.input.steps[last]!, outputs: { count: { value: '${{ step.stdout }}', format: 'text' } } };
    const job = batchJobSpec(task, { onlyFetchWorkspace: false, helperImage: 'x' }).spec;
    expect(job.dockerSteps.at(-1)!.commands).toEqual([`src batch-helper post ${last} upload`]);
    expect(job.files['.batches/upload.sh']).toBeUndefined();
  });

  it('keys the step cache on the commit, the steps and the versions of the secrets used', () => {
    const task = workspaceTask(spec(), workspace);
    const v1 = new Map([['TOKEN', '3:2026-12-04T00:00:00.000Z']]);
    const key = stepCacheKey(task, false, v1);
    expect(stepCacheKey(workspaceTask(spec(), workspace), false, new Map(v1))).toBe(key);
    expect(stepCacheKey(task, false, new Map([['TOKEN', '3:2026-12-04T01:00:00.000Z']]))).not.toBe(key);
    expect(stepCacheKey(workspaceTask(spec(), { ...workspace, commit: 'b'.repeat(40) }), false, v1)).not.toBe(key);
    expect(stepCacheKey(task, true, v1)).not.toBe(key);
  });
});
