// Builds the codeintel Job of an index record as the original's transformer does (reference §3.4):
// `pre-index.<i>` steps, the `indexer` step in the root (local steps, then the shell-quoted indexer
// arguments), and — added at dequeue, when the job's token exists — the `upload` step running
// `src code-intel upload` with the original's flags. shallowClone, as the original.
//
// Where this differs from the original, on purpose: the upload step authenticates with the job's own
// token (`Authorization: Bearer <job token>` plus the job-id and executor-name headers), which is
// scoped to this job's repository and dies when the job finishes, instead of the site-wide executors
// access token the original puts into every job's environment (a hostile index job could read that one
// and act as any executor). The upload routes still accept `token-executor`, so jobs built by a
// Sourcegraph instance, and older setups, keep working.
import type { DockerStep, Job, JobSpec } from '../../protocol/job.js';
import { EXECUTOR_LSIF_UPLOAD_ROUTE } from '../../protocol/codeintel-upload.js';
import { parseMemorySize } from '../../shared/byte-size.js';
import type { IndexJobConfig, IndexStep } from './index-configuration.js';
import { shellJoin } from './shell-quote.js';

/** Where scip-typescript and scip-python write their index when nothing says otherwise. */
export const DEFAULT_OUTFILE = 'index.scip';

/** The Job (without id and token) of one index record; the upload step is added at dequeue. */
export function indexJobSpec(input: { repositoryName: string; commit: string; job: IndexJobConfig; sharedSteps: readonly IndexStep[] }): JobSpec {
  const { job } = input;
  const dockerSteps: DockerStep[] = [...input.sharedSteps, ...job.steps].map((step, i) => ({
    key: `pre-index.${i}`,
    image: step.image,
    commands: step.commands,
    dir: step.root,
    env: [],
  }));
  dockerSteps.push({
    key: 'indexer',
    image: job.indexer,
    commands: [...job.local_steps, ...(job.indexer_args.length > 0 ? [shellJoin(job.indexer_args)] : [])],
    dir: job.root,
    env: [],
  });
  return {
    repositoryName: input.repositoryName,
    repositoryDirectory: '',
    commit: input.commit,
    fetchTags: false,
    shallowClone: true,
    sparseCheckout: [],
    files: {},
    dockerSteps,
    cliSteps: [],
    redactedValues: {},
  };
}

/** The resources the dequeuing executor reported (reference §2.4), for the VM_* variables. */
export interface DequeueResources {
  numCPUs?: number;
  memory?: string;
  diskSpace?: string;
}

/** As the original's datasize HumanReadable: `12.0 GB`. */
function humanBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (i < units.length - 1 && bytes >= 1024 ** (i + 1)) i++;
  return `${(bytes / 1024 ** i).toFixed(1)} ${units[i]}`;
}

/** VM_CPUS, VM_MEM(_GB, _MB), VM_DISK(_GB, _MB): the original's resource environment of pre-index and indexer steps. */
export function resourceEnvironment(resources: DequeueResources): string[] {
  const env: string[] = [];
  if (resources.numCPUs) env.push(`VM_CPUS=${resources.numCPUs}`);
  const bytes = (value: string | undefined, fallback: string, prefix: string) => {
    let n = 0;
    try {
      n = parseMemorySize(value || fallback);
    } catch {
      n = 0;
    }
    if (n > 0) env.push(`${prefix}=${humanBytes(n)}`, `${prefix}_GB=${Math.floor(n / 1024 ** 3)}`, `${prefix}_MB=${Math.floor(n / 1024 ** 2)}`);
  };
  bytes(resources.memory, '12G', 'VM_MEM');
  bytes(resources.diskSpace, '20G', 'VM_DISK');
  return env;
}

/** The `upload` step: `src code-intel upload` with the original's flags, authenticated by the job's token. */
export function uploadStep(input: {
  jobId: number;
  token: string;
  executorName: string;
  repositoryName: string;
  commit: string;
  root: string;
  outfile: string;
  frontendUrl: string;
  srcCliImage: string;
  srcProxy?: string;
}): DockerStep {
  return {
    key: 'upload',
    image: input.srcCliImage,
    commands: [
      shellJoin([
        'src',
        'code-intel',
        'upload',
        '-no-progress',
        '-repo',
        input.repositoryName,
        '-commit',
        input.commit,
        '-root',
        input.root || '.',
        '-upload-route',
        EXECUTOR_LSIF_UPLOAD_ROUTE,
        '-file',
        input.outfile || DEFAULT_OUTFILE,
        '-associated-index-id',
        String(input.jobId),
      ]),
    ],
    dir: input.root,
    env: [
      `SRC_ENDPOINT=${input.frontendUrl}`,
      `SRC_HEADER_AUTHORIZATION=Bearer ${input.token}`,
      // Header names with dashes cannot be spelled as SRC_HEADER_<NAME>; src reads SRC_HEADERS for them.
      `SRC_HEADERS=X-Sourcegraph-Job-ID: ${input.jobId}\nX-Sourcegraph-Executor-Name: ${input.executorName}`,
      ...(input.srcProxy ? [`SRC_PROXY=${input.srcProxy}`] : []),
    ],
  };
}

/**
 * The dequeue-time part of an index job (the original's transformRecord): resource variables on the
 * pre-index and indexer steps, the upload step, and the redactions of the job's token.
 */
export function completeIndexJob(job: Job, input: { executorName: string; resources: DequeueResources; root: string; outfile: string; frontendUrl: string; srcCliImage: string; srcProxy?: string }): Job {
  const resources = resourceEnvironment(input.resources);
  const steps = job.dockerSteps.map((step) => ({ ...step, env: [...resources, ...(step.env ?? [])] }));
  const all: DockerStep[] = [...steps];
  all.push(
    uploadStep({
      jobId: job.id,
      token: job.token,
      executorName: input.executorName,
      repositoryName: job.repositoryName,
      commit: job.commit,
      root: input.root,
      outfile: input.outfile,
      frontendUrl: input.frontendUrl,
      srcCliImage: input.srcCliImage,
      srcProxy: input.srcProxy,
    }),
  );
  return {
    ...job,
    dockerSteps: all,
    // 🚨 The token is in the upload step's env (and so in its logged docker command): never in a log.
    redactedValues: { ...job.redactedValues, [`Bearer ${job.token}`]: 'Bearer REDACTED', [job.token]: 'PASSWORD_REMOVED' },
  };
}
