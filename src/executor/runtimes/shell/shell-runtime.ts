// The shell runtime (reference §5.4): each step's script runs on the host as `/bin/sh <script>` in the
// workspace, in its own process group, with the step's env and only a few of the host's variables. No isolation.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../../../shared/errors.js';
import { makeDirectoryInside, resolveWorkspacePath } from '../../workspace/workspace-path.js';
import { runProcessGroup } from '../process-group.js';
import type { Runtime, RuntimeJob, RuntimeSetupContext, StepOutput, StepSpec } from '../runtime.js';

/** The host variables a step gets, besides its own `env`: where to find tools, and whose home and temp dir. */
export interface ShellHostEnv {
  PATH?: string;
  HOME?: string;
  USER?: string;
  TMPDIR?: string;
}

export interface ShellRuntimeOptions {
  /** PATH, HOME, USER and TMPDIR passed to steps. Default the executor's own (`shellHostEnv()`). */
  hostEnv?: ShellHostEnv;
  /** SIGTERM → SIGKILL grace when a step is aborted, in ms. Default 500 (a cancel stops a step within 2 s). */
  killGraceMs?: number;
  /** How long a finished step's pipes may stay open (held by a background process), in ms. Default 1 000. */
  pipeDrainMs?: number;
}

/**
 * The tools this package installs for jobs (`npm install` puts scip-typescript, scip-python and src in
 * its node_modules/.bin), and the directory of the node that runs them: first on a shell step's PATH, so
 * index jobs find their indexer and uploader with no image.
 */
export function packageToolDirs(): string[] {
  // <root>/dist/executor/runtimes/shell/shell-runtime.js (or src/… under a TypeScript loader).
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
  return [path.join(root, 'node_modules', '.bin'), path.dirname(process.execPath)];
}

/** PATH, HOME, USER and TMPDIR of the executor's own environment: the only host variables a step sees. */
export function shellHostEnv(): ShellHostEnv {
  // eslint-disable-next-line no-restricted-properties -- passed on to the steps, never interpreted
  const { PATH, HOME, USER, TMPDIR } = process.env;
  return { PATH: [...packageToolDirs(), ...(PATH ? [PATH] : [])].join(':'), HOME, USER, TMPDIR };
}

/**
 * The environment of a step: the host's PATH, HOME, USER and TMPDIR (those set), then the step's
 * `NAME=value` pairs, which win. An entry without `=` is ignored, as Go's exec drops it.
 */
export function shellStepEnv(hostEnv: ShellHostEnv, stepEnv: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'USER', 'TMPDIR'] as const) {
    const value = hostEnv[name];
    if (value !== undefined) env[name] = value;
  }
  for (const pair of stepEnv) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** Runs steps as host processes; for executors that are sandboxed already (EXECUTOR_RUNTIME=shell). */
export class ShellRuntime implements Runtime {
  readonly name = 'shell' as const;
  private readonly options: ShellRuntimeOptions;

  constructor(options: ShellRuntimeOptions = {}) {
    this.options = options;
  }

  /** Nothing to prepare: the workspace is on this host already. */
  setup(ctx: RuntimeSetupContext): Promise<RuntimeJob> {
    ctx.signal.throwIfAborted();
    return Promise.resolve(new ShellRuntimeJob(ctx.workspace.path, this.options.hostEnv ?? shellHostEnv(), this.options));
  }
}

class ShellRuntimeJob implements RuntimeJob {
  constructor(
    private readonly workspaceDir: string,
    private readonly hostEnv: ShellHostEnv,
    private readonly options: ShellRuntimeOptions,
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
      env: shellStepEnv(this.hostEnv, step.env),
      signal,
      onOutput: output,
      killGraceMs: this.options.killGraceMs,
      pipeDrainMs: this.options.pipeDrainMs,
    });
  }

  /** Nothing to remove: the job runner removes the workspace, and every step's group is dead already. */
  teardown(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * `<workspace>/<dir>`, created like docker's `-w` would, and refused (`workspace.path_outside`) when it
   * escapes the workspace lexically or through a symlink a cloned repository carries.
   */
  private async workingDirectory(dir: string): Promise<string> {
    if (dir === '' || dir === '.') return this.workspaceDir;
    try {
      return await makeDirectoryInside(this.workspaceDir, resolveWorkspacePath(this.workspaceDir, dir), dir);
    } catch (err) {
      if (err instanceof AppError) throw new AppError(err.code, `step dir: ${err.message}`, { cause: err });
      throw err;
    }
  }
}
