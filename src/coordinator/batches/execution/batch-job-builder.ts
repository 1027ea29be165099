// Builds the `batches` job of one workspace (the original's native "batcheshelper" flow, reference §3.4):
// the repository cloned shallow into `repository/` (only the workspace's directory with
// onlyFetchWorkspace), the execution input as the file `.batches/input.json`, and per step `i` a `run`
// docker step (the user's `container`, in the workspace's directory, running the script the helper
// rendered) between helper steps in the `src` image. Step 0's templates see only the repository and the
// batch change, so they are rendered here, with the helper's own code (src-cli/batch-step-render.ts): its
// `if:`, script and files are job files under `.batches/`, and no helper runs before it (on shell a node
// start, on docker a container, per workspace). Only when one of them does not render is there a
// `step.0.pre` (`src batch-helper pre 0`), which fails the job with the message. After each step `step.<i>.post`
// (`src batch-helper post <i> pre <i+1>`: records step i's changes, output and `outputs`, then prepares
// step i+1 from them), the last one `post <n-1> upload`: it sends the result with the job's own token
// (its credentials are added at dequeue, to that step only) — as a shell script (`sh .batches/upload.sh`,
// src-cli/batch-upload-script.ts: no node start) when that step has no `outputs` to render. A step whose `if:` is false from the
// repository and batch change alone is left out, as the original does.
//
// Different from the original, on purpose: an env entry without a value (an executor secret) reaches
// only the `run` step, as that docker step's own environment resolved at dequeue; it is never in the
// input file or a script (the original writes secrets into the step scripts it generates). And one
// helper step between two steps instead of two (post, then pre): on the docker runtime each is a
// container start, on shell a node start (measured here: ~0.1 s each).
import { createHash } from 'node:crypto';
import { BATCH_EXECUTION_INPUT_PATH, BATCH_REPOSITORY_DIRECTORY, type BatchExecutionInput, type BatchStepInput } from '../../../protocol/batch-execution.js';
import type { DockerStep, JobSpec } from '../../../protocol/job.js';
import { isStaticallyFalse, type StepTemplateContext } from '../../../shared/batch-templating/index.js';
import { renderStepFiles } from '../../../src-cli/batch-step-render.js';
import { batchUploadScript, UPLOAD_SCRIPT_FILE } from '../../../src-cli/batch-upload-script.js';
import type { BatchWorkspaceRow } from '../../store/batch-store.js';
import type { BatchSpec } from '../spec/batch-spec.js';

export const BATCHES_QUEUE = 'batches';
/** Where the helper keeps its state and each step's script, beside the repository (workspace-relative). */
export const BATCH_HELPER_DIRECTORY = '.batches';

/** What one workspace runs: its input, and per input step the executor secrets it names. */
export interface WorkspaceTask {
  input: BatchExecutionInput;
  /** Per entry of `input.steps`: the env names that are executor secrets. */
  stepSecrets: string[][];
}

export function workspaceTask(spec: BatchSpec, workspace: Pick<BatchWorkspaceRow, 'repositoryName' | 'branch' | 'commit' | 'path' | 'searchResultPaths'>): WorkspaceTask {
  const repository = { name: workspace.repositoryName, branch: workspace.branch, searchResultPaths: workspace.searchResultPaths };
  const batchChange = { name: spec.name, description: spec.description };
  const steps: BatchStepInput[] = [];
  const stepSecrets: string[][] = [];
  for (const step of spec.steps) {
    if (isStaticallyFalse(step.if, { repository, batchChange })) continue;
    const env: Record<string, string> = {};
    const secretEnv: string[] = [];
    for (const entry of step.env) {
      if (entry.value === undefined) secretEnv.push(entry.name);
      else env[entry.name] = entry.value;
    }
    steps.push({ run: step.run, container: step.container, env, secretEnv, files: { ...step.files }, outputs: { ...step.outputs }, ...(step.if === undefined ? {} : { if: step.if }) });
    stepSecrets.push(secretEnv);
  }
  return {
    input: {
      version: 1,
      batchChange,
      repository: { name: workspace.repositoryName, branch: workspace.branch, commit: workspace.commit, searchResultPaths: [...workspace.searchResultPaths] },
      path: workspace.path,
      steps,
    },
    stepSecrets,
  };
}

/**
 * The step cache key: what decides a workspace's result — the repository, branch, commit and path (and
 * what templates see of them), the batch change's name and description, the steps as written (after the
 * static `if:`), their literal env, and the version of each secret they use (a secret changed since makes a
 * new key). Per user: the cache table is keyed by user too.
 */
export function stepCacheKey(task: WorkspaceTask, onlyFetchWorkspace: boolean, secretVersions: ReadonlyMap<string, string>): string {
  const names = [...new Set(task.stepSecrets.flat())].sort();
  const key = {
    v: 1,
    input: task.input,
    onlyFetchWorkspace,
    secrets: Object.fromEntries(names.map((n) => [n, secretVersions.get(n) ?? 'missing'])),
  };
  return createHash('sha256').update(JSON.stringify(key)).digest('hex');
}

/** `../` from `repository/<path>` up to the workspace root. */
export function workspaceRootFrom(path: string): string {
  const depth = 1 + (path === '' ? 0 : path.split('/').filter(Boolean).length);
  return Array.from({ length: depth }, () => '..').join('/');
}

/** What step 0's templates see: the helper's context before any step ran. */
function firstStepContext(input: BatchExecutionInput): StepTemplateContext {
  return {
    repository: { name: input.repository.name, branch: input.repository.branch, searchResultPaths: input.repository.searchResultPaths },
    batchChange: input.batchChange,
    steps: { modifiedFiles: [], addedFiles: [], deletedFiles: [], renamedFiles: [], path: input.path },
    outputs: {},
  };
}

/** Step 0's files (`.batches/…` → content), or null when a template of it does not render (the job's `pre 0` then says why). */
function firstStepFiles(input: BatchExecutionInput): Record<string, { content: string }> | null {
  const first = input.steps[0];
  if (!first) return {};
  let rendered;
  try {
    rendered = renderStepFiles(0, first, firstStepContext(input));
  } catch {
    return null;
  }
  return Object.fromEntries(Object.entries(rendered.files).map(([name, content]) => [`${BATCH_HELPER_DIRECTORY}/${name}`, { content }]));
}

/** The job of a workspace, and per docker step the secrets it asks for (for planJobSecrets). */
export function batchJobSpec(task: WorkspaceTask, options: { onlyFetchWorkspace: boolean; helperImage: string }): { spec: JobSpec; stepSecrets: string[][] } {
  const { input } = task;
  const dir = input.path === '' ? BATCH_REPOSITORY_DIRECTORY : `${BATCH_REPOSITORY_DIRECTORY}/${input.path}`;
  const up = workspaceRootFrom(input.path);
  const helper = (key: string, command: string): DockerStep => ({ key, image: options.helperImage, commands: [command], dir: '', env: [] });
  const dockerSteps: DockerStep[] = [];
  const stepSecrets: string[][] = [];
  const firstFiles = firstStepFiles(input);
  const uploadScript: Record<string, { content: string }> = {};
  if (!firstFiles) {
    dockerSteps.push(helper('step.0.pre', 'src batch-helper pre 0'));
    stepSecrets.push([]);
  }
  for (const [i, step] of input.steps.entries()) {
    // The script the helper wrote; `set +x` keeps the executor's xtrace of this line only.
    dockerSteps.push({ key: `step.${i}.run`, image: step.container, commands: ['set +x', `sh ${up}/${BATCH_HELPER_DIRECTORY}/step${i}.sh`], dir, env: [] });
    stepSecrets.push(task.stepSecrets[i] ?? []);
    if (i + 1 < input.steps.length) dockerSteps.push(helper(`step.${i}.post`, `src batch-helper post ${i} pre ${i + 1}`));
    else if (Object.keys(step.outputs).length > 0) dockerSteps.push(helper(`step.${i}.post`, `src batch-helper post ${i} upload`));
    else {
      // No outputs to render: the shell form uploads (no node start; it hands over to the node helper where
      // a tool it needs is missing).
      uploadScript[`${BATCH_HELPER_DIRECTORY}/${UPLOAD_SCRIPT_FILE}`] = { content: batchUploadScript() };
      dockerSteps.push(helper(`step.${i}.post`, `sh ${BATCH_HELPER_DIRECTORY}/${UPLOAD_SCRIPT_FILE} ${i} ${input.repository.commit}`));
    }
    stepSecrets.push([]);
  }
  return {
    spec: {
      repositoryName: input.repository.name,
      repositoryDirectory: BATCH_REPOSITORY_DIRECTORY,
      commit: input.repository.commit,
      fetchTags: false,
      shallowClone: true,
      // The original's pattern (reference §3.4): the workspace's directory only.
      sparseCheckout: options.onlyFetchWorkspace && input.path !== '' ? [`${input.path}/*`] : [],
      files: { [BATCH_EXECUTION_INPUT_PATH]: { content: JSON.stringify(input) }, ...firstFiles, ...uploadScript },
      dockerSteps,
      cliSteps: [],
      redactedValues: {},
    },
    stepSecrets,
  };
}

/** The env of the last helper step (it uploads), added at dequeue: where to send the result and the job's own credentials. */
export function uploadStepEnv(input: { jobId: number; token: string; executorName: string; frontendUrl: string; srcProxy?: string }): string[] {
  return [
    `SRC_ENDPOINT=${input.frontendUrl}`,
    `SRC_HEADER_AUTHORIZATION=Bearer ${input.token}`,
    // Header names with dashes cannot be spelled as SRC_HEADER_<NAME>; src reads SRC_HEADERS for them.
    `SRC_HEADERS=X-Sourcegraph-Job-ID: ${input.jobId}\nX-Sourcegraph-Executor-Name: ${input.executorName}`,
    ...(input.srcProxy ? [`SRC_PROXY=${input.srcProxy}`] : []),
  ];
}
