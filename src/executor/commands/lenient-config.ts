// The configuration for host commands that never talk to the coordinator (`executor install`, `executor
// test-vm` without --repo): the reference (§6.3) expects the full executor environment for them too, but a
// host being provisioned often has none yet, so the coordinator settings are filled with placeholders when
// unset. Every other variable is read and checked as `run` does.
import { loadExecutorConfig, type ExecutorConfig } from '../config.js';

/** Never contacted: only so the coordinator settings pass the checks. */
const PLACEHOLDERS: Record<string, string> = {
  EXECUTOR_FRONTEND_URL: 'http://coordinator.invalid',
  EXECUTOR_FRONTEND_PASSWORD: 'unused-by-this-command',
};

/**
 * Like `loadExecutorConfig(env)` with EXECUTOR_FRONTEND_URL, EXECUTOR_FRONTEND_PASSWORD and the queue
 * optional. Throws ConfigError for any other problem, and for those three when set but invalid.
 */
export function loadLenientConfig(env: Record<string, string | undefined>): ExecutorConfig {
  const filled: Record<string, string | undefined> = { ...env };
  const unset = (name: string) => (env[name]?.trim() ?? '') === '';
  for (const [name, value] of Object.entries(PLACEHOLDERS)) if (unset(name)) filled[name] = value;
  if (unset('EXECUTOR_QUEUE_NAME') && unset('EXECUTOR_QUEUE_NAMES')) filled.EXECUTOR_QUEUE_NAME = 'placeholder';
  return loadExecutorConfig(filled);
}
