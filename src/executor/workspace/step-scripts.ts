// One shell script per docker step, in `<workspace>/.sourcegraph-executor/` (reference §4.6): a POSIX-sh
// preamble that moves to bash when there is one, then the step's commands, echoed and not stopped by errors.
import path from 'node:path';
import fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import type { DequeuedJob } from '../client/coordinator-client.js';
import { makeDirectoryInside } from './workspace-path.js';

/** The scripts' directory, relative to the workspace. */
export const SCRIPTS_DIR = '.sourcegraph-executor';

/**
 * Byte for byte the reference's `ScriptPreamble`: on the first run (no `$1`) re-exec under bash (from
 * `command -p -v bash`, else /bin/bash) with the argument `skip-check`; then `set +e` and `set -x`.
 */
export const SCRIPT_PREAMBLE = `
# Only on the first run, check if we can upgrade to bash.
if [ -z "$1" ]; then
  bash_path=$(command -p -v bash)
  set -e
  # Check if bash is present. If so, use bash. Otherwise just keep running with sh.
  if [ -n "$bash_path" ]; then
    exec "\${bash_path}" "$0" skip-check
  else
    # If not in the path but still exists at /bin/bash, we can use that.
    if [ -f "/bin/bash" ]; then
      exec /bin/bash "$0" skip-check
    fi
  fi
fi

# Restore default shell behavior.
set +e
# From the actual script, log all commands.
set -x
`;

/** The script of one step: the preamble, an empty line, each command on its own line, a trailing newline. */
export function buildStepScript(commands: readonly string[]): string {
  return [SCRIPT_PREAMBLE, '', ...commands].join('\n') + '\n';
}

/**
 * `<jobID>.<stepIndex>_<repositoryName with / → _>@<commit>.sh`. A `/` in the commit (a ref name) is
 * replaced too, so the name never leaves the scripts' directory.
 */
export function stepScriptName(job: Pick<DequeuedJob, 'id' | 'repositoryName' | 'commit'>, stepIndex: number): string {
  const clean = (s: string) => s.replaceAll('/', '_').replaceAll('\0', '');
  return `${job.id}.${stepIndex}_${clean(job.repositoryName)}@${clean(job.commit)}.sh`;
}

/**
 * Writes one script per `job.dockerSteps` entry, mode 0755, and returns their paths relative to the
 * workspace (`.sourcegraph-executor/<name>`), in step order. A `.sourcegraph-executor` symlink that a
 * cloned repository carries out of the workspace is refused (`workspace.path_outside`).
 */
export async function writeStepScripts(workspaceDir: string, job: Pick<DequeuedJob, 'id' | 'repositoryName' | 'commit' | 'dockerSteps'>): Promise<string[]> {
  if (job.dockerSteps.length === 0) return [];
  const dir = await makeDirectoryInside(workspaceDir, path.join(workspaceDir, SCRIPTS_DIR), SCRIPTS_DIR);
  const relativePaths: string[] = [];
  for (const [i, step] of job.dockerSteps.entries()) {
    const name = stepScriptName(job, i);
    const handle = await fs.open(path.join(dir, name), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW, 0o755);
    try {
      await handle.writeFile(buildStepScript(step.commands));
      // Not left to the umask: the container may run the script as another user.
      await handle.chmod(0o755);
    } finally {
      await handle.close();
    }
    relativePaths.push(path.posix.join(SCRIPTS_DIR, name));
  }
  return relativePaths;
}
