// Runs one host command in its own process group and streams its output; on abort the whole group is
// stopped (SIGTERM, a short grace, SIGKILL). Shared by runtimes that spawn processes and the job runner's git commands.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { AppError } from '../../shared/errors.js';
import type { OutputStream } from '../worker/log-entry-stream.js';

export interface RunProcessGroupOptions {
  /** `[file, ...args]`, run without a shell. */
  argv: readonly string[];
  /** Working directory; default the executor's own. */
  cwd?: string;
  /** The whole environment of the command: nothing of the executor's own is added. */
  env: Record<string, string>;
  /** Run as this user and group instead of the executor's (needs root); supplementary groups are dropped. */
  user?: { uid: number; gid: number };
  /** Aborting it stops the command's whole process group. */
  signal: AbortSignal;
  /** Receives output chunks as they arrive. */
  onOutput: (stream: OutputStream, chunk: Buffer) => void;
  /**
   * After SIGTERM to the group, wait this long before SIGKILL, in ms. Default 500: a canceled job must
   * be stopped within 2 s, and a step that needs longer to clean up has no container to clean anyway.
   */
  killGraceMs?: number;
  /**
   * After the command exited, wait this long for its pipes to close, in ms. Default 1 000. A background
   * process it left behind may hold them open for ever; it is killed then, as a container's would be.
   */
  pipeDrainMs?: number;
}

/**
 * Spawns `argv` detached (a new process group, so signals reach its children and grandchildren) and
 * resolves with its exit code (128 + signal number when killed from elsewhere) once the pipes closed,
 * or once `pipeDrainMs` passed after the exit. Whatever is left of the group then is killed. Rejects
 * with `signal.reason` once an aborted command's leader is dead and the group killed, and with
 * `runtime.command_not_started` when it cannot be spawned.
 */
export function runProcessGroup(options: RunProcessGroupOptions): Promise<{ exitCode: number }> {
  const { signal } = options;
  const killGraceMs = options.killGraceMs ?? 500;
  const pipeDrainMs = options.pipeDrainMs ?? 1_000;
  if (signal.aborted) return Promise.reject(signal.reason);
  const [file, ...args] = options.argv;
  if (file === undefined) return Promise.reject(new Error('runProcessGroup: empty argv'));

  return new Promise((resolve, reject) => {
    // With uid/gid, libuv also calls setgroups(0, NULL): none of root's groups stays with the child.
    const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, uid: options.user?.uid, gid: options.user?.gid });
    let settled = false;
    let exit: { code: number | null; sig: NodeJS.Signals | null } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    child.stdout.on('data', (chunk: Buffer) => options.onOutput('stdout', chunk));
    child.stderr.on('data', (chunk: Buffer) => options.onOutput('stderr', chunk));

    const signalGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is empty already.
      }
    };
    /** Ends the call: kills what is left of the group, stops reading (a process outside the group may hold the pipes). */
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (drainTimer) clearTimeout(drainTimer);
      // The leader is reaped, but its group id stays valid while members remain: nothing outlives a step.
      signalGroup('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      outcome();
    };
    const resolveExit = () => {
      const { code, sig } = exit!;
      finish(() => resolve({ exitCode: code ?? 128 + ((sig && os.constants.signals[sig]) ?? 0) }));
    };
    const onAbort = () => {
      if (exit) {
        finish(() => reject(signal.reason));
        return;
      }
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), killGraceMs);
      killTimer.unref();
    };
    signal.addEventListener('abort', onAbort, { once: true });

    child.once('error', (err) => {
      finish(() => reject(new AppError('runtime.command_not_started', `cannot start ${file}: ${err.message}`, { cause: err })));
    });
    child.once('exit', (code, sig) => {
      exit = { code, sig };
      if (signal.aborted) {
        finish(() => reject(signal.reason));
        return;
      }
      drainTimer = setTimeout(resolveExit, pipeDrainMs);
    });
    child.once('close', () => {
      // 'close' comes after 'exit'; `exit` may be unset only after a spawn error, already settled.
      if (!exit) return;
      if (signal.aborted) finish(() => reject(signal.reason));
      else resolveExit();
    });
  });
}
