// `executor prepare-workspace`: what the kubernetes runtime's job pod runs first, from the executor image.
// The same workspace preparation as on a host (clone through the coordinator with the job's token, the
// job's files, the step scripts) into the pod's workspace volume, each command reported as a setup event
// on stdout for the executor to turn into the job's log entries (setup-protocol.ts).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { CoordinatorClient } from '../client/coordinator-client.js';
import { runProcessGroup } from '../runtimes/process-group.js';
import { decodeWorkspaceJob } from '../runtimes/kubernetes/workspace-job.js';
import { encodeSetupEvent, type SetupEvent } from '../runtimes/kubernetes/setup-protocol.js';
import { EXECUTOR_VERSION } from '../worker/telemetry.js';
import type { RunCommand } from '../workspace/spawn-command.js';
import { prepareWorkspace } from '../workspace/workspace.js';

export interface PrepareWorkspaceCommandOptions {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const USAGE = 'usage: executor prepare-workspace --job FILE --token FILE --workspace DIR [--ca FILE]...\n';

/** Runs the command; resolves to 0 (prepared), 1 (preparation failed: an `error` event says why) or 2 (usage). */
export async function runPrepareWorkspaceCommand(argv: readonly string[], env: Record<string, string | undefined>, options: PrepareWorkspaceCommandOptions): Promise<number> {
  const args: { job?: string; token?: string; workspace?: string; ca: string[] } = { ca: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (!['--job', '--token', '--workspace', '--ca'].includes(flag) || value === undefined) {
      options.stderr(`executor prepare-workspace: unexpected argument ${JSON.stringify(flag)}\n${USAGE}`);
      return 2;
    }
    i++;
    if (flag === '--ca') args.ca.push(value);
    else args[flag.slice(2) as 'job' | 'token' | 'workspace'] = value;
  }
  if (!args.job || !args.token || !args.workspace) {
    options.stderr(`executor prepare-workspace: --job, --token and --workspace are required\n${USAGE}`);
    return 2;
  }

  const emit = (event: SetupEvent) => options.stdout(encodeSetupEvent(event));
  // Diagnostics go to stderr, which the container log interleaves; the executor keeps such lines too.
  const logger = createLogger({ level: env.SRC_LOG_LEVEL === 'dbug' ? 'debug' : 'warn', name: 'prepare-workspace', write: (line) => options.stderr(`${line}\n`) });
  try {
    const token = (await fs.readFile(args.token, 'utf8')).trim();
    const { job, executorName, frontendUrl } = decodeWorkspaceJob(await fs.readFile(args.job, 'utf8'), token);
    if (job.token === '') throw new AppError('workspace.invalid_job', 'the job has no token: the kubernetes runtime needs a coordinator that issues per-job tokens');
    const ca = await Promise.all(args.ca.map((file) => fs.readFile(file)));
    const client = new CoordinatorClient({
      baseUrl: frontendUrl,
      // The job routes authenticate with the job's token; the executor's password never enters the pod.
      password: '',
      executorName,
      executorVersion: EXECUTOR_VERSION,
      queues: [job.queue],
      ca,
      logger,
    });
    let nextEntry = 0;
    const openEntry = (key: string, command: readonly string[]) => {
      const id = nextEntry++;
      emit({ open: id, key, command: [...command] });
      return id;
    };
    const runCommand: RunCommand = async (key, command, runOptions) => {
      const id = openEntry(key, command);
      try {
        const result = await runProcessGroup({
          argv: command,
          cwd: runOptions.cwd,
          env: runOptions.env,
          signal: runOptions.signal,
          onOutput: (stream, chunk) => emit({ entry: id, stream, data: chunk.toString('utf8') }),
        });
        emit({ entry: id, exitCode: result.exitCode });
        return result;
      } catch (err) {
        emit({ entry: id, stream: 'stderr', data: `${err instanceof Error ? err.message : String(err)}\n` });
        emit({ entry: id, exitCode: -1 });
        throw err;
      }
    };
    // The volume's root belongs to root (the kubelet made it; fsGroup only gives it the pod's group):
    // git run as KUBERNETES_RUN_AS_USER refuses such a repository ("dubious ownership") unless it is named
    // safe in a global config. A private HOME holds one, for git's commands here only.
    const gitHome = await fs.mkdtemp(path.join(os.tmpdir(), 'executor-git-home-'));
    await fs.writeFile(path.join(gitHome, '.gitconfig'), `[safe]\n\tdirectory = ${args.workspace}\n`);
    try {
      await prepareWorkspace({
        job,
        client,
        tmpDir: args.workspace,
        workspaceDir: args.workspace,
        executorName,
        runCommand,
        signal: new AbortController().signal,
        logger,
        ca,
        hostEnv: { PATH: env.PATH, HOME: gitHome },
        openLogEntry: (key, command) => {
          const id = openEntry(key, command);
          return { write: (text) => emit({ entry: id, stream: 'stdout', data: text }), finalize: (exitCode) => emit({ entry: id, exitCode }) };
        },
      });
    } finally {
      client.close();
      await fs.rm(gitHome, { recursive: true, force: true });
    }
    emit({ done: true });
    return 0;
  } catch (err) {
    const code = err instanceof AppError ? err.code : 'workspace.failed';
    emit({ error: { code, message: err instanceof Error ? err.message : String(err) } });
    return 1;
  }
}
