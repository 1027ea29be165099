// How workspace preparation runs a command: the `RunCommand` seam (the worker's version streams output
// into a log entry), and `spawnCommand`, a default over runProcessGroup that collects the output.
import { AppError } from '../../shared/errors.js';
import { runProcessGroup } from '../runtimes/process-group.js';
import type { OutputStream } from '../worker/log-entry-stream.js';

/** What a command is run with. */
export interface RunCommandOptions {
  /** Working directory; default the executor's own. */
  cwd?: string;
  /** The whole environment of the command: nothing of the executor's own is added to it. */
  env: Record<string, string>;
  /** Aborting it kills the command (its whole process group). */
  signal: AbortSignal;
}

/** How a command ended. `out` is set by implementations that collect output. */
export interface CommandResult {
  exitCode: number;
  /** Combined output, each line prefixed `stdout: ` or `stderr: ` (reference §4.9). */
  out?: string;
}

/**
 * Runs `argv` (no shell) as the log entry `key`, e.g. `setup.git.fetch`. Resolves with the exit code
 * whatever it is; rejects with `signal.reason` once an aborted command is dead, and with an AppError
 * when it cannot be started.
 */
export type RunCommand = (key: string, argv: readonly string[], options: RunCommandOptions) => Promise<CommandResult>;

export interface SpawnCommandOptions {
  /** After SIGTERM to the group, wait this long before SIGKILL, in ms. Default 2 000. */
  killGraceMs?: number;
  /** Collected output beyond this is dropped from the front (the end says why it failed), in UTF-16 characters. Default 1 048 576. */
  maxOutputChars?: number;
}

/**
 * A RunCommand that runs `argv` through runProcessGroup (no shell, its own process group, SIGTERM then
 * SIGKILL on abort, leftovers of the group killed) and collects its output as prefixed lines.
 */
export function createSpawnCommand(options: SpawnCommandOptions = {}): RunCommand {
  const killGraceMs = options.killGraceMs ?? 2_000;
  const maxOutputChars = options.maxOutputChars ?? 1024 * 1024;
  return async (key, argv, runOptions) => {
    let out = '';
    const partial: Record<OutputStream, string> = { stdout: '', stderr: '' };
    const append = (text: string) => {
      out += text;
      // Keep the end: it says why a command failed.
      if (out.length > maxOutputChars) out = out.slice(out.length - maxOutputChars);
    };
    let result: { exitCode: number };
    try {
      result = await runProcessGroup({
        argv,
        cwd: runOptions.cwd,
        env: runOptions.env,
        signal: runOptions.signal,
        killGraceMs,
        onOutput: (stream, chunk) => {
          const lines = (partial[stream] + chunk.toString('utf8')).split('\n');
          partial[stream] = lines.pop()!;
          for (const line of lines) append(`${stream}: ${line}\n`);
        },
      });
    } catch (err) {
      if (err instanceof AppError && err.code === 'runtime.command_not_started') {
        throw new AppError('workspace.command_not_started', `running command "${key}": ${err.message}`, { cause: err });
      }
      throw err;
    }
    for (const stream of ['stdout', 'stderr'] as const) if (partial[stream] !== '') append(`${stream}: ${partial[stream]}\n`);
    return { exitCode: result.exitCode, out };
  };
}

/** The default RunCommand: `createSpawnCommand()` with its defaults. */
export const spawnCommand: RunCommand = createSpawnCommand();

/**
 * Runs a command through `runCommand` and throws `workspace.command_failed` for a non-zero exit,
 * with the message the reference uses for a failed step: `running command "<key>": exit code N`.
 */
export async function runCommandOrThrow(runCommand: RunCommand, key: string, argv: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  const result = await runCommand(key, argv, options);
  if (result.exitCode !== 0) throw new AppError('workspace.command_failed', `running command "${key}": exit code ${result.exitCode}`);
  return result;
}
