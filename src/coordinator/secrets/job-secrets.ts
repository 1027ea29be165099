// Executor secrets in jobs (reference §7.5): a job request names secrets per step; at enqueue they must
// exist in the job's namespace, and only their names are stored. At each dequeue the values are read (an
// access-log row each) into the payload: `KEY=value` in the env of the steps that asked, `value →
// ${{ secrets.KEY }}` in redactedValues, and DOCKER_AUTH_CONFIG as the job's `dockerAuthConfig`.
import { DockerAuthConfigSchema, type Job } from '../../protocol/job.js';
import { AppError } from '../../shared/errors.js';
import type { SecretAccessor, SecretNamespace, SecretScope, SecretStore } from '../store/secret-store.js';

/** Becomes the job's `dockerAuthConfig`, never an environment variable (reference §8). */
export const DOCKER_AUTH_CONFIG_KEY = 'DOCKER_AUTH_CONFIG';
/** Who reads codeintel secrets (reference §7.5). */
export const CODEINTEL_MACHINE_USER = 'codeintel-autoindexing';

/** What a job stores of its secrets (`jobs.secret_refs`): names only. */
export interface JobSecretRefs {
  /** Who asked for the job: reads of batches secrets are logged as this user's. */
  userId: number;
  /** The organization namespace, or null for the user's own. */
  orgId: number | null;
  scope: SecretScope;
  /** Per docker step, the keys it asked for. */
  steps: string[][];
  /** Whether DOCKER_AUTH_CONFIG exists for the job (checked at enqueue) and goes into its payload. */
  dockerAuthConfig: boolean;
}

/** The codeintel queue reads codeintel secrets (global only); every other queue batches secrets. */
export function scopeForQueue(queue: string): SecretScope {
  return queue === 'codeintel' ? 'codeintel' : 'batches';
}

function namespaceOf(refs: Pick<JobSecretRefs, 'userId' | 'orgId'>): SecretNamespace {
  return refs.orgId !== null ? { kind: 'org', orgId: refs.orgId } : { kind: 'user', userId: refs.userId };
}

/**
 * What a new job stores of its secrets. `refs` when it named some (each must exist in the job's
 * namespace or globally: `secrets.missing` names those that do not; DOCKER_AUTH_CONFIG goes with them
 * when it exists). A job that named none gets `ifDockerAuthConfig`: the refs to store should a
 * DOCKER_AUTH_CONFIG secret exist, which the enqueue statement itself checks (JobStore.enqueue), so
 * the common job costs no extra round trip.
 */
export type PlannedJobSecrets =
  | { refs: JobSecretRefs }
  | { refs: null; ifDockerAuthConfig: { refs: JobSecretRefs; scope: SecretScope; userId: number | null; orgId: number | null } };

export async function planJobSecrets(
  store: SecretStore,
  input: { userId: number; orgId: number | null; queue: string; stepSecrets: string[][] },
): Promise<PlannedJobSecrets> {
  const scope = scopeForQueue(input.queue);
  const named = [...new Set(input.stepSecrets.flat())];
  const steps = input.stepSecrets.map((keys) => keys.filter((k) => k !== DOCKER_AUTH_CONFIG_KEY));
  const refsWith = (dockerAuthConfig: boolean): JobSecretRefs => ({ userId: input.userId, orgId: input.orgId, scope, steps, dockerAuthConfig });
  if (named.length === 0) {
    // codeintel reads global secrets only (reference §7.5).
    const [userId, orgId] = scope === 'codeintel' ? [null, null] : input.orgId !== null ? [null, input.orgId] : [input.userId, null];
    return { refs: null, ifDockerAuthConfig: { refs: refsWith(true), scope, userId, orgId } };
  }
  const found = await store.find(namespaceOf(input), scope, [...new Set([...named, DOCKER_AUTH_CONFIG_KEY])]);
  const missing = named.filter((k) => !found.has(k));
  if (missing.length > 0) {
    const where = scope === 'codeintel' ? 'as global codeintel secrets' : `as ${scope} secrets in the job's namespace or globally`;
    throw new AppError('secrets.missing', `no executor secret named ${missing.join(', ')} ${where}`);
  }
  return { refs: refsWith(found.has(DOCKER_AUTH_CONFIG_KEY)) };
}

/**
 * Puts the secrets of `refs` into the wire `job` (mutated): reads them (logged), appends `KEY=value` to
 * each asking step's env, maps each value to `${{ secrets.KEY }}`, and for v2 payloads sets
 * `dockerAuthConfig` from DOCKER_AUTH_CONFIG. `secrets.missing` when one was deleted since the enqueue,
 * `secrets.invalid` when DOCKER_AUTH_CONFIG is not a docker config.
 */
export async function applyJobSecrets(store: SecretStore, job: Job, refs: JobSecretRefs): Promise<void> {
  const keys = [...new Set([...refs.steps.flat(), ...(refs.dockerAuthConfig ? [DOCKER_AUTH_CONFIG_KEY] : [])])];
  const accessor: SecretAccessor = refs.scope === 'codeintel' ? { machineUser: CODEINTEL_MACHINE_USER } : { userId: refs.userId };
  const { values, missing } = await store.readValues(namespaceOf(refs), refs.scope, keys, accessor, job.id);
  if (missing.length > 0) throw new AppError('secrets.missing', `executor secret ${missing.join(', ')} was deleted after the job was queued`);
  const redacted: Record<string, string> = {};
  for (const [key, value] of values) redacted[value] = `\${{ secrets.${key} }}`;
  job.dockerSteps = job.dockerSteps.map((step, i) => {
    const asked = refs.steps[i] ?? [];
    if (asked.length === 0) return step;
    return { ...step, env: [...(step.env ?? []), ...asked.map((key) => `${key}=${values.get(key)!}`)] };
  });
  // The job's own redactions win where both name the same text.
  job.redactedValues = { ...redacted, ...job.redactedValues };
  const dockerAuth = values.get(DOCKER_AUTH_CONFIG_KEY);
  if (dockerAuth !== undefined && job.version === 2) {
    let parsed;
    try {
      parsed = DockerAuthConfigSchema.safeParse(JSON.parse(dockerAuth));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) throw new AppError('secrets.invalid', `executor secret ${DOCKER_AUTH_CONFIG_KEY} is not a docker config ({"auths": {"host": {"auth": "…"}}})`);
    if (Object.keys(parsed.data.auths).length > 0) job.dockerAuthConfig = { auths: parsed.data.auths };
  }
}
