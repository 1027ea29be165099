// Short docker CLI commands the runtime needs around the steps (remove a container, list ours), with
// the same environment as the steps' `docker run`, and a time limit so a hung daemon cannot hang a job.
import { execFile } from 'node:child_process';

/** The docker CLI's environment: only what it needs to find the daemon and its own config (reference §4.7). */
export interface DockerCliEnv {
  HOME?: string;
  PATH?: string;
  USER?: string;
  DOCKER_HOST?: string;
  /**
   * Not forwarded by the original; added so a daemon behind TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH),
   * a docker context, or a DOCKER_CONFIG that holds the host's credentials (reference §8, source 3)
   * work as they do for the executor user's own `docker`. `--config` still wins over DOCKER_CONFIG.
   */
  DOCKER_TLS_VERIFY?: string;
  DOCKER_CERT_PATH?: string;
  DOCKER_CONTEXT?: string;
  DOCKER_CONFIG?: string;
}

const FORWARDED = ['HOME', 'PATH', 'USER', 'DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CONTEXT', 'DOCKER_CONFIG'] as const;

/** The forwarded variables of the executor's own environment (those set). */
export function dockerCliEnv(): DockerCliEnv {
  const env: DockerCliEnv = {};
  for (const name of FORWARDED) {
    // eslint-disable-next-line no-restricted-properties -- passed on to the docker CLI, never interpreted
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** `DockerCliEnv` as a plain environment object for spawn. */
export function toProcessEnv(env: DockerCliEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value as string;
  return out;
}

export interface DockerCliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `docker <args>` and resolves with its exit code and output; never rejects for a non-zero exit.
 * Rejects when docker cannot be started; a command that outlives `timeoutMs` is killed (exit code -1).
 */
export function runDockerCli(args: readonly string[], env: DockerCliEnv, timeoutMs = 30_000): Promise<DockerCliResult> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { env: toProcessEnv(env), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code === 'string') {
        reject(new Error(`cannot run docker: ${err.message}`, { cause: err }));
        return;
      }
      const exitCode = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ exitCode, stdout, stderr });
    });
  });
}

/** Which of `names` (container names or id prefixes) the daemon still has, in any state, removal in progress included. */
export async function existingContainers(names: string[], env: DockerCliEnv, timeoutMs = 10_000): Promise<string[]> {
  // `docker inspect` prints those that exist and exits non-zero naming the others ("No such object").
  const res = await runDockerCli(['inspect', '--type', 'container', '--format', '{{.Name}} {{.Id}}', ...names], env, timeoutMs);
  const otherErrors = res.stderr.split('\n').filter((line) => line.trim() !== '' && !/no such (object|container)/i.test(line));
  // A daemon that did not answer (timeout, connection refused) tells nothing: assume they all exist.
  if (res.exitCode === -1 || (res.exitCode !== 0 && otherErrors.length > 0)) return names;
  const found = res.stdout.split('\n').filter(Boolean).map((line) => line.split(' ') as [string, string]);
  return names.filter((name) => found.some(([foundName, id]) => foundName === `/${name}` || id.startsWith(name)));
}
