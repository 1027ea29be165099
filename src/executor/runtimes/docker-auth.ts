// Registry credentials for a job's steps (reference §8): the job's `dockerAuthConfig` (the instance's
// DOCKER_AUTH_CONFIG secret), else EXECUTOR_DOCKER_AUTH_CONFIG, else the executor user's own
// ~/.docker/config.json (docker runtime only). The chosen one replaces the others; nothing is merged.
import fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { DockerAuthConfig } from '../../protocol/job.js';

/** Where a job's registry credentials came from; `host` = the executor user's docker config, untouched. */
export type DockerAuthSource = 'job' | 'executor' | 'host';

/** What the registry credentials of a job become in its log. */
export const DOCKER_AUTH_REDACTED = 'DOCKER_AUTH_REDACTED';

/**
 * Shorter decoded passwords are not redacted on their own (the base64 `auth` always is): a one- or
 * two-letter password would blank that letter everywhere in the log.
 */
const MIN_REDACTED_PASSWORD_LENGTH = 4;

/**
 * The config a job's steps use: the job's when it has at least one `auths` entry, else the executor's
 * (EXECUTOR_DOCKER_AUTH_CONFIG) when it has one, else none (`source: 'host'`).
 */
export function chooseDockerAuthConfig(
  jobConfig: DockerAuthConfig | undefined,
  executorConfig: DockerAuthConfig | undefined,
): { source: DockerAuthSource; config?: DockerAuthConfig } {
  if (jobConfig && Object.keys(jobConfig.auths).length > 0) return { source: 'job', config: jobConfig };
  if (executorConfig && Object.keys(executorConfig.auths).length > 0) return { source: 'executor', config: executorConfig };
  return { source: 'host' };
}

/**
 * The values of `config` to keep out of logs: each `auth` (base64 of `user:password`) and each decoded
 * password of at least MIN_REDACTED_PASSWORD_LENGTH characters, all mapped to DOCKER_AUTH_REDACTED.
 */
export function dockerAuthRedactedValues(config: DockerAuthConfig | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const { auth } of Object.values(config?.auths ?? {})) {
    if (auth === '') continue;
    values[auth] = DOCKER_AUTH_REDACTED;
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const password = colon >= 0 ? decoded.slice(colon + 1) : '';
    if (password.length >= MIN_REDACTED_PASSWORD_LENGTH) values[password] = DOCKER_AUTH_REDACTED;
  }
  return values;
}

/**
 * Writes `config` as `<dir>/config.json` (mode 0600) in `dir`, which must exist and be private (0700),
 * and returns `dir` for `docker --config`. The file must not exist yet and is never followed as a symlink.
 */
export async function writeDockerConfig(dir: string, config: DockerAuthConfig): Promise<string> {
  const handle = await fs.open(path.join(dir, 'config.json'), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
  try {
    // Only `auths`: whatever else the payload carried (credential helpers) cannot work here.
    await handle.writeFile(`${JSON.stringify({ auths: config.auths })}\n`);
  } finally {
    await handle.close();
  }
  return dir;
}
