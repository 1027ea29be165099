// How workspace preparation runs a command: the `RunCommand` seam (the worker's version streams output
// into a log entry), and `spawnCommand`, a default that collects output and kills the process group on abort.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { AppError } from '../../shared/errors.js';

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
 * A RunCommand that spawns `argv` without a shell in its own process group, collects its output, and
 * on abort sends SIGTERM to the group, then SIGKILL after `killGraceMs`.
 */
export function createSpawnCommand(options: SpawnCommandOptions = {}): RunCommand {
  const killGraceMs = options.killGraceMs ?? 2_000;
  const maxOutputChars = options.maxOutputChars ?? 1024 * 1024;
  return (key, argv, runOptions) => {
    const { signal } = runOptions;
    if (signal.aborted) return Promise.reject(signal.reason);
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new Error(`running command "${key}": empty argv`));
    return new Promise<CommandResult>((resolve, reject) => {
      // detached: a new process group, so abort reaches git's helpers (remote-https, index-pack) too.
      const child = spawn(file, args, { cwd: runOptions.cwd, env: runOptions.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let out = '';
      let killTimer: NodeJS.Timeout | undefined;
      const append = (prefix: string) => {
        let partial = '';
        /** Takes a chunk, or null at the end to flush an unterminated last line. */
        return (chunk: Buffer | null) => {
          if (chunk === null) {
            if (partial !== '') out += `${prefix}${partial}\n`;
            partial = '';
          } else {
            const lines = (partial + chunk.toString('utf8')).split('\n');
            partial = lines.pop()!;
            for (const line of lines) out += `${prefix}${line}\n`;
          }
          if (out.length > maxOutputChars) out = out.slice(out.length - maxOutputChars);
        };
      };
      const onStdout = append('stdout: ');
      const onStderr = append('stderr: ');
      child.stdout.on('data', onStdout);
      child.stderr.on('data', onStderr);

      // `closed`: the pipes closed after the exit, so nothing of the group is known to be left; until
      // then the group id stays valid even after its leader (our child) exited, while members remain.
      let closed = false;
      let leaderExited = false;
      const signalGroup = (sig: NodeJS.Signals) => {
        if (closed || child.pid === undefined) return;
        try {
          process.kill(-child.pid, sig);
        } catch {
          // The group is gone already.
        }
      };
      /** After an abort, once the leader is dead: kill the rest and stop waiting for the pipes. */
      const finishAborted = () => {
        signalGroup('SIGKILL');
        cleanUp();
        child.stdout.destroy();
        child.stderr.destroy();
        reject(signal.reason);
      };
      const onAbort = () => {
        if (leaderExited) {
          finishAborted();
          return;
        }
        signalGroup('SIGTERM');
        killTimer = setTimeout(() => signalGroup('SIGKILL'), killGraceMs);
        killTimer.unref();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const cleanUp = () => {
        signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
      };

      child.once('error', (err) => {
        closed = true;
        cleanUp();
        reject(new AppError('workspace.command_not_started', `running command "${key}": cannot start ${file}: ${err.message}`, { cause: err }));
      });
      child.once('exit', () => {
        leaderExited = true;
        // Aborted: kill what is left of the group at once (a helper that ignored SIGTERM), and do not
        // wait for the pipes, which a process that left the group may hold open (reference §4.9).
        if (signal.aborted) finishAborted();
      });
      child.once('close', (code, sig) => {
        closed = true;
        cleanUp();
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        onStdout(null);
        onStderr(null);
        // Killed by a signal from elsewhere: report it as a shell would, 128 + signal number.
        resolve({ exitCode: code ?? 128 + signalNumber(sig), out });
      });
    });
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

function signalNumber(sig: NodeJS.Signals | null): number {
  return (sig && os.constants.signals[sig]) ?? 0;
}
