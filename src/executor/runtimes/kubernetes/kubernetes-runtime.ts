// The kubernetes runtime (reference §5.5): one Job per job, whose single pod prepares the workspace in an
// init container (`executor prepare-workspace` from the executor image), runs the steps as init containers
// one after another, and ends with a trivial main container. The executor watches the pod, follows each
// container's log while it runs, takes exit codes from the containers' terminated states, and deletes the
// Job, its Secret and claim at the end. What a killed executor left is removed by the next (janitor).
import os from 'node:os';
import path from 'node:path';
import type { V1OwnerReference } from '@kubernetes/client-node';
import { AppError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { DequeuedJob } from '../../client/coordinator-client.js';
import type { ExecutorConfig } from '../../config.js';
import { currentProcessOwner, type ProcessOwner } from '../../process-owner.js';
import { SCRIPTS_DIR, stepScriptName } from '../../workspace/step-scripts.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { Runtime, RuntimeJob, RuntimeLogEntry, RuntimeSetupContext, StepOutput, StepSpec } from '../runtime.js';
import {
  buildJobObjects,
  jobObjectLabels,
  jobObjectNames,
  MAIN_CONTAINER,
  ownedByJob,
  SETUP_CONTAINER,
  stepCommand,
  stepContainerName,
  stepWorkingDir,
  type JobObjectNames,
  type OwnerObject,
} from './job-objects.js';
import { KubernetesApiError, type KubernetesApi } from './kubernetes-api.js';
import { JOB_MOUNT_PATH, type KubernetesConfig } from './kubernetes-config.js';
import { removeLeftoverObjects } from './leftover-objects.js';
import { containerBlocked, containerPhase, jobFailure, unschedulable } from './pod-status.js';
import { PodWatcher, type PodState } from './pod-watcher.js';
import { SetupLogDecoder } from './setup-protocol.js';

/** An image reference as Kubernetes passes it on: anything else is refused before the Job is made. */
const IMAGE_REFERENCE = /^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$/;

/** How often a waiting job re-reads its Job (for a deadline reached before any pod event) and re-checks timeouts, in ms. */
const JOB_POLL_INTERVAL_MS = 5_000;

/** How many times in a row a container's log stream may fail before its output is given up on. */
const MAX_LOG_RETRIES = 5;

/** An RFC 3339 timestamp at the start of a log line (`timestamps=true`), and the space after it. */
const LOG_TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) /;

/**
 * Whether log timestamp `a` is later than `b`. Both are the kubelet's RFC 3339 in UTC; their fractions
 * drop trailing zeros (`.1234567Z`, `.12345678Z`), so they are compared padded, not as strings.
 */
export function timestampAfter(a: string, b: string): boolean {
  const key = (t: string) => {
    const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(.*)$/.exec(t);
    return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}${m[3]}` : t;
  };
  return key(a) > key(b);
}

export type KubernetesRuntimeConfig = Pick<ExecutorConfig, 'name' | 'frontendUrl'> & { kubernetes: KubernetesConfig };

export interface KubernetesRuntimeOptions {
  config: KubernetesRuntimeConfig;
  api: KubernetesApi;
  /** Extra CA certificates (PEM) for an https coordinator: the job pod's clone trusts them too. */
  ca?: ReadonlyArray<string | Buffer>;
  /** The executor's own pod (the owner of its Jobs), when it runs in one in the job namespace. */
  ownerPod?: OwnerObject;
  /** The setup and main containers' image: KUBERNETES_SINGLE_JOB_STEP_IMAGE, or the executor's own (createKubernetesRuntime). */
  setupImage: string;
  /** Default `os.hostname()`. */
  hostname?: string;
  /** Default this process. */
  owner?: ProcessOwner;
  /** Between re-reads of the Job while waiting, in ms. Default 5 000. */
  jobPollIntervalMs?: number;
}

/**
 * Finds the executor's own pod (its hostname, in the job namespace), so the Jobs it creates are owned by
 * it (deleting the executor's pod, in a scale-down or a rollout, deletes its jobs too), and its image
 * (its `executor` container's, else its only one's): what the job pods' setup container runs unless
 * KUBERNETES_SINGLE_JOB_STEP_IMAGE says otherwise. Undefined when the executor runs elsewhere, or may not
 * read it.
 */
export async function findOwnPod(api: Pick<KubernetesApi, 'getPod'>, hostname: string, logger: Logger): Promise<{ owner: OwnerObject; image: string | undefined } | undefined> {
  try {
    const pod = await api.getPod(hostname);
    if (!pod?.metadata?.uid || !pod.metadata.name) return undefined;
    const containers = pod.spec?.containers ?? [];
    const image = (containers.find((c) => c.name === 'executor') ?? (containers.length === 1 ? containers[0] : undefined))?.image;
    return { owner: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid }, image };
  } catch (err) {
    logger.debug('kubernetes runtime: cannot read the executor\'s own pod; its jobs get no owner', { error: err });
    return undefined;
  }
}

/** Runs each job in a Kubernetes Job's pod (EXECUTOR_RUNTIME=kubernetes). */
export class KubernetesRuntime implements Runtime {
  readonly name = 'kubernetes' as const;
  private readonly options: KubernetesRuntimeOptions;
  private readonly hostname: string;
  private readonly owner: ProcessOwner;
  /** Names of the Jobs this process runs now: the janitor keeps away from them. */
  private readonly active = new Set<string>();

  constructor(options: KubernetesRuntimeOptions) {
    this.options = options;
    this.hostname = options.hostname ?? os.hostname();
    this.owner = options.owner ?? currentProcessOwner(options.config.name);
  }

  /** The workspace as the pod holds it: prepared there, at /job, by the setup container. */
  sandboxWorkspace(job: DequeuedJob): Workspace {
    return {
      path: JOB_MOUNT_PATH,
      scriptPaths: job.dockerSteps.map((_, i) => path.posix.join(SCRIPTS_DIR, stepScriptName(job, i))),
      remove: () => Promise.resolve(),
    };
  }

  /** Deletes what executor processes that are gone left in the namespace (leftover-objects.ts). */
  removeLeftovers(logger: Logger): Promise<number> {
    if (this.options.config.kubernetes.keepJobs) return Promise.resolve(0);
    return removeLeftoverObjects({ api: this.options.api, hostname: this.hostname, owner: this.owner, ownerPodUid: this.options.ownerPod?.uid, active: this.active, logger });
  }

  /**
   * Creates the job's Secret (and claim) and Job, waits for the pod's setup container, and streams its
   * workspace preparation into the job's `setup.*` log entries. When preparation fails, everything made
   * is deleted and the error names why (the git command that failed, `Unschedulable`, `ErrImagePull`).
   */
  async setup(ctx: RuntimeSetupContext): Promise<RuntimeJob> {
    ctx.signal.throwIfAborted();
    const { config, api } = this.options;
    const k8s = config.kubernetes;
    const steps = ctx.job.dockerSteps.map((step, index) => {
      if (!IMAGE_REFERENCE.test(step.image)) {
        throw new AppError('runtime.invalid_step', `step ${index}: image ${JSON.stringify(step.image)} is not an image reference ([host[:port]/]name[:tag][@digest])`);
      }
      stepWorkingDir(step.dir ?? '');
      return step;
    });
    const names = jobObjectNames(ctx.job);
    const specs: StepSpec[] = steps.map((step, index) => ({
      key: '',
      index,
      image: step.image,
      scriptPath: ctx.workspace.scriptPaths[index]!,
      dir: step.dir ?? '',
      env: [...(step.env ?? [])],
    }));
    const objects = buildJobObjects({
      job: ctx.job,
      steps: specs,
      config: k8s,
      names,
      labels: jobObjectLabels(this.owner, this.hostname, ctx.job, names.job, this.options.ownerPod?.uid),
      executorName: config.name,
      frontendUrl: config.frontendUrl,
      ca: this.options.ca,
      ownerPod: this.options.ownerPod,
      namespace: api.namespace,
      setupImage: this.options.setupImage,
    });

    const entry = ctx.openLogEntry('setup.kubernetes.job', []);
    const job = new KubernetesRuntimeJob({ runtime: this.options, names, ctx, active: this.active });
    try {
      this.active.add(names.job);
      await api.createSecret(objects.secret);
      job.created.secret = true;
      entry.write('stdout', `Created secret ${names.secret} in namespace ${api.namespace}\n`);
      if (objects.pvc) {
        await api.createPersistentVolumeClaim(objects.pvc);
        job.created.pvc = true;
        entry.write('stdout', `Created persistent volume claim ${names.pvc} (${k8s.jobVolumeSize})\n`);
      }
      const createdJob = await api.createJob(objects.job);
      job.created.job = true;
      entry.write('stdout', `Created job ${names.job} (deadline ${k8s.jobDeadlineSeconds}s)\n`);
      // Owned by the Job from now on: its deletion (by us, or its TTL when we are gone) deletes them.
      const owner: V1OwnerReference = ownedByJob({ name: names.job, uid: createdJob.metadata?.uid ?? '' });
      if (owner.uid) {
        await api.setOwners('secrets', names.secret, [owner]);
        if (objects.pvc) await api.setOwners('persistentvolumeclaims', names.pvc, [owner]);
      }
      await job.startWatching();
      await job.awaitContainer(SETUP_CONTAINER, this.options.setupImage, ctx.signal, (line) => entry.write('stdout', line));
      entry.finalize(0);
      await job.runSetupContainer(ctx.signal);
      return job;
    } catch (err) {
      if (!entry.finalized) {
        if (!(ctx.signal.aborted && err === ctx.signal.reason)) entry.write('stderr', `${err instanceof Error ? err.message : String(err)}\n`);
        entry.finalize(ctx.signal.aborted ? -1 : 1);
      }
      await job.teardown();
      throw err;
    }
  }
}

interface KubernetesRuntimeJobOptions {
  runtime: KubernetesRuntimeOptions;
  names: JobObjectNames;
  ctx: RuntimeSetupContext;
  active: Set<string>;
}

class KubernetesRuntimeJob implements RuntimeJob {
  readonly created = { secret: false, pvc: false, job: false };
  private readonly options: KubernetesRuntimeJobOptions;
  private readonly api: KubernetesApi;
  private readonly k8s: KubernetesConfig;
  private readonly logger: Logger;
  private watcher: PodWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** When the scheduler first said Unschedulable (ms since the epoch); undefined once scheduled. */
  private unschedulableSinceMs: number | undefined;
  /** The Job's failure (DeadlineExceeded, …) as last read. */
  private jobFailureMessage: string | undefined;
  private tornDown: Promise<void> | undefined;
  /** Aborted at teardown: ends what watches the pod for the job's whole life. */
  private readonly lifetime = new AbortController();

  constructor(options: KubernetesRuntimeJobOptions) {
    this.options = options;
    this.api = options.runtime.api;
    this.k8s = options.runtime.config.kubernetes;
    this.logger = options.ctx.logger.with({ kubernetesJob: options.names.job });
  }

  commandFor(step: StepSpec): string[] {
    return stepCommand(step);
  }

  async startWatching(): Promise<void> {
    this.watcher = new PodWatcher({ api: this.api, labelSelector: `job-name=${this.options.names.job}`, logger: this.logger });
    await this.watcher.start();
    const intervalMs = this.options.runtime.jobPollIntervalMs ?? JOB_POLL_INTERVAL_MS;
    this.pollTimer = setInterval(() => {
      void this.api.getJob(this.options.names.job).then(
        (job) => {
          this.jobFailureMessage = jobFailure(job) ?? (job === undefined ? `the Job ${this.options.names.job} was deleted` : undefined);
          this.watcher?.poke();
        },
        (err: unknown) => this.logger.debug('kubernetes runtime: cannot read the Job', { error: err }),
      );
    }, intervalMs);
    this.pollTimer.unref();
    // The pod marked for deletion (the deadline, a drain): the Job says why at once, not at the next poll.
    void this.watcher
      .waitFor((state) => (state.deleted || state.pod?.metadata?.deletionTimestamp ? true : undefined), this.lifetime.signal)
      .then(
        () => this.readJobFailure().then(() => this.watcher?.poke()),
        () => {},
      );
  }

  /**
   * Waits until container `name` runs (or has run). Rejects with the reason Kubernetes gives when it never
   * will: the pod cannot be scheduled (after EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT), its image cannot be
   * pulled, the Job's deadline passed, the pod was deleted. `progress` gets a line per change seen.
   */
  async awaitContainer(name: string, image: string, signal: AbortSignal, progress?: (line: string) => void): Promise<void> {
    let said = '';
    const say = (line: string) => {
      if (line === said) return;
      said = line;
      progress?.(`${line}\n`);
    };
    const outcome = await this.watcher!.waitFor((state): true | 'ended' | undefined => {
      const phase = containerPhase(state.pod, name);
      if (phase.state !== 'waiting') {
        if (state.pod?.spec?.nodeName) say(`Pod ${state.pod.metadata?.name} runs on node ${state.pod.spec.nodeName}`);
        return true;
      }
      if (this.ended(state, name, image)) return 'ended';
      const pod = state.pod;
      if (!pod) return undefined;
      const refused = unschedulable(pod);
      if (refused) {
        this.unschedulableSinceMs ??= Date.now();
        say(`Pod ${pod.metadata?.name} is pending: Unschedulable: ${refused.message}`);
        const timeoutMs = this.k8s.schedulingTimeoutMs;
        if (timeoutMs > 0 && Date.now() - this.unschedulableSinceMs >= timeoutMs) throw new AppError('kubernetes.unschedulable', `Unschedulable: ${refused.message}`);
        return undefined;
      }
      this.unschedulableSinceMs = undefined;
      if (phase.reason) say(`Pod ${pod.metadata?.name}: ${name} is waiting: ${phase.reason}${phase.message ? `: ${phase.message}` : ''}`);
      else say(`Pod ${pod.metadata?.name} is ${pod.status?.phase ?? 'Pending'}`);
      return undefined;
    }, signal);
    if (outcome === 'ended') throw await this.endError(name, image);
  }

  /** Follows the setup container's events into log entries; rejects with its error when it failed. */
  async runSetupContainer(signal: AbortSignal): Promise<void> {
    const { ctx } = this.options;
    const entries: RuntimeLogEntry[] = [];
    let otherEntry: RuntimeLogEntry | undefined;
    const decoder = new SetupLogDecoder({
      open: (key, command) => {
        const entry = ctx.openLogEntry(key, command);
        entries.push(entry);
        return { write: (stream, text) => entry.write(stream, text), finalize: (exitCode) => entry.finalize(exitCode) };
      },
      other: (line) => {
        otherEntry ??= ctx.openLogEntry('setup.kubernetes.workspace', []);
        otherEntry.write('stderr', `${line}\n`);
      },
    });
    let exitCode: number;
    try {
      exitCode = await this.followContainer(SETUP_CONTAINER, this.options.runtime.setupImage, (chunk) => decoder.write(chunk.toString('utf8')), signal);
    } finally {
      decoder.end();
      if (otherEntry && !otherEntry.finalized) otherEntry.finalize(0);
    }
    if (exitCode === 0 && decoder.done) return;
    if (decoder.error) throw new AppError(decoder.error.code, decoder.error.message);
    throw new AppError('kubernetes.setup_failed', `preparing the workspace in the job pod failed: container ${SETUP_CONTAINER} exited with code ${exitCode}`);
  }

  async runStep(step: StepSpec, output: StepOutput, signal: AbortSignal): Promise<{ exitCode: number }> {
    signal.throwIfAborted();
    const name = stepContainerName(step.index);
    await this.awaitContainer(name, step.image, signal);
    const exitCode = await this.followContainer(name, step.image, (chunk) => output('stdout', chunk), signal);
    return { exitCode };
  }

  /**
   * Streams container `name`'s log while it runs (timestamped, so a stream that ends early is resumed
   * where it stopped), then resolves with its exit code from its terminated state.
   */
  private async followContainer(name: string, image: string, onOutput: (chunk: Buffer) => void, signal: AbortSignal): Promise<number> {
    const watcher = this.watcher!;
    const pod = watcher.state().pod?.metadata?.name;
    if (!pod) throw new Error(`followContainer: no pod for ${name}`);
    let lastTimestamp: string | undefined;
    let failures = 0;
    const terminatedOrGone = (state: PodState) => containerPhase(state.pod, name).state === 'terminated' || state.deleted;
    for (;;) {
      signal.throwIfAborted();
      const since = lastTimestamp;
      let partial = '';
      let newLines = 0;
      // A container stopped by the pod's deletion or the Job's failure may keep its stream open through
      // the grace period: stop reading at once then. One that ended on its own keeps its stream to the end.
      const stop = new AbortController();
      const followSignal = AbortSignal.any([signal, stop.signal]);
      void watcher.waitFor((state) => (!terminatedOrGone(state) && this.ended(state, name, image) ? true : undefined), followSignal).then(
        () => stop.abort(),
        () => {},
      );
      let clean = false;
      try {
        await this.api.followLog(
          pod,
          name,
          { timestamps: true, sinceTime: since },
          (chunk) => {
            const lines = (partial + chunk.toString('utf8')).split('\n');
            partial = lines.pop()!;
            for (const line of lines) {
              const match = LOG_TIMESTAMP.exec(line);
              const timestamp = match?.[1];
              // sinceTime is inclusive (and second-granular on some servers): skip what was passed on already.
              if (timestamp !== undefined && since !== undefined && !timestampAfter(timestamp, since)) continue;
              if (timestamp !== undefined) lastTimestamp = timestamp;
              newLines++;
              onOutput(Buffer.from(`${match ? line.slice(match[0].length) : line}\n`));
            }
            failures = 0;
          },
          followSignal,
        );
        clean = true;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (!stop.signal.aborted) {
          failures++;
          this.logger.debug('kubernetes runtime: reading a container log failed', { container: name, error: err });
          if (failures >= MAX_LOG_RETRIES) {
            onOutput(Buffer.from(`executor: cannot read the rest of the output of ${name}: ${err instanceof Error ? err.message : String(err)}\n`));
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 200 * failures));
        }
      } finally {
        stop.abort();
      }
      const state = watcher.state();
      if (this.ended(state, name, image) && !terminatedOrGone(state)) break;
      if (clean && terminatedOrGone(state)) {
        // The stream ended with the container: a last line without a newline is the end of its output.
        if (partial !== '') {
          const match = LOG_TIMESTAMP.exec(partial);
          if (!(match && since !== undefined && !timestampAfter(match[1]!, since))) onOutput(Buffer.from(match ? partial.slice(match[0].length) : partial));
        }
        break;
      }
      // The stream ended before the container (a proxy's timeout, an API server restart): follow again from
      // the last line seen; a line cut in half comes again whole. When nothing new came, the container may
      // have ended before the watch said so: wait for that briefly instead of asking again at once.
      if (clean && newLines === 0) await watcher.waitFor((s) => (terminatedOrGone(s) ? true : undefined), AbortSignal.any([signal, AbortSignal.timeout(1_000)])).catch(() => undefined);
    }
    const outcome = await this.watcher!.waitFor((state): number | 'ended' | undefined => {
      const phase = containerPhase(state.pod, name);
      if (phase.state === 'terminated') return phase.exitCode;
      return this.ended(state, name, image) ? 'ended' : undefined;
    }, signal);
    if (outcome === 'ended') throw await this.endError(name, image);
    // A container killed because the pod is being deleted (the deadline, a cancel by someone else) failed
    // for the Job's reason, not its own: say that reason.
    const { pod: last, deleted } = this.watcher!.state();
    if (outcome !== 0 && (deleted || last?.metadata?.deletionTimestamp)) {
      const why = await this.readJobFailure();
      if (why) throw new AppError('kubernetes.job_failed', why);
    }
    return outcome;
  }

  /** Whether container `name` will never run or end on its own: the Job failed, the pod is gone, or it is blocked. */
  private ended(state: PodState, name: string, image: string): boolean {
    return this.jobFailureMessage !== undefined || state.deleted || containerBlocked(state.pod, name, image) !== undefined;
  }

  /** The error for a container that `ended`: the Job's failure when it has one (read now), else what blocks it. */
  private async endError(name: string, image: string): Promise<AppError> {
    const why = this.jobFailureMessage ?? (await this.readJobFailure());
    if (why) return new AppError('kubernetes.job_failed', why);
    const state = this.watcher!.state();
    const blocked = containerBlocked(state.pod, name, image);
    if (blocked) return new AppError('kubernetes.container_blocked', blocked);
    return new AppError('kubernetes.pod_deleted', `job pod ${state.pod?.metadata?.name ?? ''} was deleted before ${name} ended`);
  }

  /** Reads the Job now: why it failed (DeadlineExceeded, …), if it did. */
  private async readJobFailure(): Promise<string | undefined> {
    try {
      const job = await this.api.getJob(this.options.names.job);
      this.jobFailureMessage = jobFailure(job) ?? this.jobFailureMessage;
    } catch (err) {
      this.logger.debug('kubernetes runtime: cannot read the Job', { error: err });
    }
    return this.jobFailureMessage;
  }

  async teardown(): Promise<void> {
    this.tornDown ??= this.deleteObjects();
    return this.tornDown;
  }

  private async deleteObjects(): Promise<void> {
    clearInterval(this.pollTimer);
    this.lifetime.abort();
    this.watcher?.stop();
    const { names, ctx } = this.options;
    const made = Object.values(this.created).some(Boolean);
    if (!made) {
      this.options.active.delete(names.job);
      return;
    }
    const entry = ctx.openLogEntry('teardown.kubernetes.job', []);
    if (this.k8s.keepJobs) {
      entry.write('stdout', `Keeping job ${names.job}, secret ${names.secret}${this.created.pvc ? ` and claim ${names.pvc}` : ''} in namespace ${this.api.namespace} (KUBERNETES_KEEP_JOBS)\n`);
      entry.finalize(0);
      this.options.active.delete(names.job);
      return;
    }
    const targets: Array<['batch/jobs' | 'secrets' | 'persistentvolumeclaims', string, string, boolean]> = [
      ['batch/jobs', names.job, 'job', this.created.job],
      ['secrets', names.secret, 'secret', this.created.secret],
      ['persistentvolumeclaims', names.pvc, 'persistent volume claim', this.created.pvc],
    ];
    for (const [resource, name, what, wasCreated] of targets) {
      if (!wasCreated) continue;
      try {
        const deleted = await this.api.delete(resource, name);
        entry.write('stdout', deleted ? `Deleted ${what} ${name}\n` : `The ${what} ${name} was gone already\n`);
      } catch (err) {
        // The janitor tries again later; cleanup never fails a job (reference §4.13).
        entry.write('stderr', `Cannot delete ${what} ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
        this.logger.warn('kubernetes runtime: cannot delete a job object', { resource, name, error: err instanceof KubernetesApiError ? err.message : err });
      }
    }
    entry.finalize(0);
    this.options.active.delete(names.job);
  }
}

/** The main container's name, exported for tests that inspect the pod. */
export { MAIN_CONTAINER };
