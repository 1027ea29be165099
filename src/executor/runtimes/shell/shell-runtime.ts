// The shell runtime (reference §5.4): each step's script runs on the host as `/bin/sh <script>` in the
// workspace, in its own process group, with only the step's env and a minimal PATH, HOME and TMPDIR of
// its own. Steps run as a user of EXECUTOR_SHELL_USER (one per running job), who gets the workspace and
// whose every process is killed when the job ends; or, only with EXECUTOR_SHELL_ALLOW_SAME_USER=true,
// as the executor's own user — who can read the executor's environment, token included.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { currentWorkspaceOwner, SHELL_HOME_DIR_PREFIX, writeOwnerMarker } from '../../workspace/leftover-workspaces.js';
import { makeDirectoryInside, resolveWorkspacePath } from '../../workspace/workspace-path.js';
import { runProcessGroup } from '../process-group.js';
import type { Runtime, RuntimeJob, RuntimeSetupContext, StepOutput, StepSpec } from '../runtime.js';
import { handOver, killUserProcesses, ShellUserPool, type ShellUser } from './shell-users.js';


export interface ShellRuntimeOptions {
  /**
   * Who runs steps: these users (EXECUTOR_SHELL_USER, resolved; one per job running at once), or
   * undefined for the executor's own user (EXECUTOR_SHELL_ALLOW_SAME_USER=true).
   */
  users?: readonly ShellUser[];
  /** SIGTERM → SIGKILL grace when a step is aborted, in ms. Default 500 (a cancel stops a step within 2 s). */
  killGraceMs?: number;
  /** How long a finished step's pipes may stay open (held by a background process), in ms. Default 1 000. */
  pipeDrainMs?: number;
}

/**
 * The tools this package installs for jobs (`npm install` puts scip-typescript, scip-python and src in
 * its node_modules/.bin), and the directory of the node that runs them: first on a shell step's PATH, so
 * index jobs find their indexer and uploader with no image. Both belong to the executor's installation,
 * which the step's user cannot write.
 */
export function packageToolDirs(): string[] {
  // <root>/dist/executor/runtimes/shell/shell-runtime.js (or src/… under a TypeScript loader).
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
  return [path.join(root, 'node_modules', '.bin'), path.dirname(process.execPath)];
}

/**
 * The PATH steps get (a step's own `PATH` in its env wins): this package's job tools, then the system
 * directories, as Docker gives containers and sudo's secure_path — never the executor's own PATH, which
 * may name directories its user can write.
 */
export const STEP_PATH = [...packageToolDirs(), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'].join(':');

/**
 * The environment of a step: PATH (STEP_PATH), HOME and TMPDIR (the job's own directories), then the
 * step's `NAME=value` pairs, which win. An entry without `=` is ignored, as Go's exec drops it.
 */
export function shellStepEnv(base: { HOME: string; TMPDIR: string }, stepEnv: readonly string[]): Record<string, string> {
  const env: Record<string, string> = { PATH: STEP_PATH, HOME: base.HOME, TMPDIR: base.TMPDIR };
  for (const pair of stepEnv) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** Runs steps as host processes (EXECUTOR_RUNTIME=shell). */
export class ShellRuntime implements Runtime {
  readonly name = 'shell' as const;
  private readonly options: ShellRuntimeOptions;
  private readonly pool: ShellUserPool | undefined;

  constructor(options: ShellRuntimeOptions = {}) {
    this.options = options;
    this.pool = options.users && options.users.length > 0 ? new ShellUserPool(options.users) : undefined;
  }

  /**
   * Takes a user for the job, makes its HOME and TMPDIR (`<workspace parent>/executor-shell-<job>-*`,
   * with an owner marker so a crashed executor's are removed), and hands the workspace to the user.
   */
  async setup(ctx: RuntimeSetupContext): Promise<RuntimeJob> {
    ctx.signal.throwIfAborted();
    const user = this.pool?.take();
    let jobDir: string | undefined;
    try {
      jobDir = await fs.mkdtemp(path.join(path.dirname(ctx.workspace.path), `${SHELL_HOME_DIR_PREFIX}${ctx.job.id}-`));
      await writeOwnerMarker(jobDir, currentWorkspaceOwner());
      const home = path.join(jobDir, 'home');
      const tmp = path.join(jobDir, 'tmp');
      await fs.mkdir(home, { mode: 0o700 });
      await fs.mkdir(tmp, { mode: 0o700 });
      if (user) {
        // The user may enter the directory but not read it, nor touch the owner marker.
        await fs.chmod(jobDir, 0o711);
        await fs.lchown(home, user.uid, user.gid);
        await fs.lchown(tmp, user.uid, user.gid);
        await handOver(ctx.workspace.path, user);
      }
      return new ShellRuntimeJob(ctx.workspace.path, jobDir, { HOME: home, TMPDIR: tmp }, user, this.options, () => user && this.pool!.release(user), ctx.logger);
    } catch (err) {
      if (jobDir) await fs.rm(jobDir, { recursive: true, force: true });
      if (user) this.pool!.release(user);
      throw err;
    }
  }

  /** Kills what steps left running as users no job has now (an executor killed mid-job leaves them). */
  async removeLeftovers(logger: Logger): Promise<number> {
    let killed = 0;
    for (const user of this.pool?.idle() ?? []) {
      try {
        killed += await killUserProcesses(user);
      } catch (err) {
        logger.warn('cannot stop the leftover processes of a shell user', { user: user.name, err });
      }
    }
    return killed;
  }
}

class ShellRuntimeJob implements RuntimeJob {
  private tornDown: Promise<void> | undefined;

  constructor(
    private readonly workspaceDir: string,
    private readonly jobDir: string,
    private readonly base: { HOME: string; TMPDIR: string },
    private readonly user: ShellUser | undefined,
    private readonly options: ShellRuntimeOptions,
    private readonly releaseUser: () => void,
    private readonly logger: Logger,
  ) {}

  commandFor(step: StepSpec): string[] {
    return ['/bin/sh', path.join(this.workspaceDir, step.scriptPath)];
  }

  async runStep(step: StepSpec, output: StepOutput, signal: AbortSignal): Promise<{ exitCode: number }> {
    signal.throwIfAborted();
    const script = resolveWorkspacePath(this.workspaceDir, step.scriptPath);
    const cwd = await this.workingDirectory(step.dir);
    return runProcessGroup({
      argv: ['/bin/sh', script],
      cwd,
      env: shellStepEnv(this.base, step.env),
      user: this.user && { uid: this.user.uid, gid: this.user.gid },
      signal,
      onOutput: output,
      killGraceMs: this.options.killGraceMs,
      pipeDrainMs: this.options.pipeDrainMs,
    });
  }

  /**
   * Every process of the job's user is killed (what a step left running in a session of its own would
   * otherwise see the next job's workspace and secrets), then its HOME and TMPDIR are removed and the user
   * is free again. The job runner removes the workspace.
   */
  teardown(): Promise<void> {
    this.tornDown ??= (async () => {
      try {
        if (this.user) {
          const killed = await killUserProcesses(this.user);
          if (killed > 0) this.logger.info('killed processes the job left running as its shell user', { user: this.user.name, count: killed });
        }
        await fs.rm(this.jobDir, { recursive: true, force: true });
      } catch (err) {
        this.logger.warn('shell runtime teardown failed', { err });
      } finally {
        this.releaseUser();
      }
    })();
    return this.tornDown;
  }

  /**
   * `<workspace>/<dir>`, created like docker's `-w` would (and given to the job's user), and refused
   * (`workspace.path_outside`) when it escapes the workspace lexically or through a symlink a cloned
   * repository carries.
   */
  private async workingDirectory(dir: string): Promise<string> {
    if (dir === '' || dir === '.') return this.workspaceDir;
    let resolved: string;
    try {
      resolved = await makeDirectoryInside(this.workspaceDir, resolveWorkspacePath(this.workspaceDir, dir), dir);
    } catch (err) {
      if (err instanceof AppError) throw new AppError(err.code, `step dir: ${err.message}`, { cause: err });
      throw err;
    }
    if (this.user) {
      // What makeDirectoryInside created is root's: every directory from the workspace down to it.
      for (let d = resolved; d.startsWith(this.workspaceDir + path.sep); d = path.dirname(d)) await fs.lchown(d, this.user.uid, this.user.gid);
    }
    return resolved;
  }
}
