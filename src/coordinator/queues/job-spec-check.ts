// What a caller may put in a job, checked at enqueue so that a bad job is refused with the field at fault
// instead of failing on an executor later: steps, images, paths, revisions, files, and the fields the
// coordinator itself fills from executor secrets (redactedValues, dockerAuthConfig).
import { IMAGE_REFERENCE_FORM, isImageReference, REGISTRY_HOST_PATTERN } from '../../protocol/image-reference.js';
import type { JobSpec } from '../../protocol/job.js';
import { rfc3339Problem } from '../../protocol/rfc3339.js';
import { validateRepositoryName } from '../git/repository-mirror.js';
import { SECRET_KEY_PATTERN } from '../store/secret-store.js';

/** A refused job: the HTTP status, the field at fault (dotted path) and what was wrong. */
export interface JobSpecProblem {
  status: 400 | 403 | 413;
  field: string;
  message: string;
}

/** A step's `key`: it becomes part of a log entry key (`step.docker.<key>`) and of file names. */
const STEP_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** `NAME=value`, NAME an environment variable name. */
const ENV_ENTRY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*=/;
/**
 * A revision git fetches and checks out: a sha, a ref name, `HEAD~2`, `v1^{}`. No `:` (it would make a
 * refspec), no space or control character, no leading `-` (an option).
 */
const COMMIT_PATTERN = /^[A-Za-z0-9._/@{}^~+][A-Za-z0-9._/@{}^~+-]{0,254}$/;
/** Files-store buckets: one path segment. */
export const FILE_BUCKET_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** The longest files-store key, in characters. */
export const FILE_KEY_MAX_CHARS = 1024;

/** Why `key` is not a usable files-store key, or null: `/`-separated segments, no control characters. */
export function fileKeyProblem(key: string): string | null {
  if (key === '') return 'must not be empty';
  if (key.length > FILE_KEY_MAX_CHARS) return `must be at most ${FILE_KEY_MAX_CHARS} characters`;
  if (hasControlCharacter(key)) return 'must not contain NUL or other control characters';
  if (key.startsWith('/') || key.split('/').some((s) => s === '' || s === '.' || s === '..')) return "must be relative segments separated by '/', none empty, '.' or '..'";
  return null;
}

function hasControlCharacter(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f\ufffd]/.test(value);
}

/** Why `dir` is not a relative path inside the workspace, or null. Empty is the workspace root. */
function workspacePathProblem(dir: string, { allowEmpty }: { allowEmpty: boolean }): string | null {
  if (dir === '') return allowEmpty ? null : 'must not be empty';
  if (hasControlCharacter(dir)) return 'must not contain NUL or other control characters';
  if (dir.startsWith('/') || dir.startsWith('\\')) return 'must be relative to the workspace, not absolute';
  if (dir.split(/[\\/]/).includes('..')) return "must stay inside the workspace (no '..')";
  return null;
}

/** The bytes of a job's inline file contents (what the per-job and per-user limits count). */
export function inlineFilesBytes(spec: Pick<JobSpec, 'files'>): number {
  let total = 0;
  for (const file of Object.values(spec.files)) if (file.content !== undefined) total += Buffer.byteLength(file.content, 'utf8');
  return total;
}

export interface JobSpecCheckOptions {
  /** Site admins may set the fields the coordinator otherwise fills from secrets. */
  siteAdmin: boolean;
  /** COORDINATOR_JOB_MAX_INLINE_FILES_SIZE. */
  maxInlineFilesBytes: number;
  /** Per docker step, the secrets it names. */
  stepSecrets: string[][];
}

/**
 * The first problem of a job as a caller asked for it, or null when it may be queued. Access to the
 * repository and the stored files it names is checked separately (JobAccess), against the database.
 */
export function jobSpecProblem(spec: JobSpec, options: JobSpecCheckOptions): JobSpecProblem | null {
  const bad = (field: string, message: string, status: JobSpecProblem['status'] = 400): JobSpecProblem => ({ status, field, message });

  if (spec.dockerSteps.length === 0 && spec.cliSteps.length === 0) return bad('dockerSteps', 'a job needs at least one step (dockerSteps or cliSteps)');
  for (const [i, step] of spec.dockerSteps.entries()) {
    const at = `dockerSteps.${i}`;
    if (!isImageReference(step.image)) return bad(`${at}.image`, `${JSON.stringify(step.image)} is not an image reference: expected ${IMAGE_REFERENCE_FORM}`);
    const common = stepProblem(at, step);
    if (common) return common;
    for (const [j, key] of (options.stepSecrets[i] ?? []).entries()) {
      if (!SECRET_KEY_PATTERN.test(key)) return bad(`${at}.secrets.${j}`, `${JSON.stringify(key)} is not a secret name (letters, digits and _, not starting with a digit)`);
    }
  }
  for (const [i, step] of spec.cliSteps.entries()) {
    const at = `cliSteps.${i}`;
    if (step.command.length === 0) return bad(`${at}.command`, 'must name at least one argument of src');
    const common = stepProblem(at, step);
    if (common) return common;
  }

  if (spec.repositoryName !== '') {
    const problem = validateRepositoryName(spec.repositoryName);
    if (problem) return bad('repositoryName', problem);
    if (spec.commit === '') return bad('commit', 'a job with a repositoryName needs the commit (or ref) to check out');
  }
  if (spec.commit !== '' && !COMMIT_PATTERN.test(spec.commit)) {
    return bad('commit', `${JSON.stringify(spec.commit)} is not a revision: a sha or ref name without spaces, ':' or a leading '-'`);
  }
  const dirProblem = workspacePathProblem(spec.repositoryDirectory, { allowEmpty: true });
  if (dirProblem) return bad('repositoryDirectory', dirProblem);
  for (const [i, pattern] of spec.sparseCheckout.entries()) {
    if (pattern === '' || pattern.startsWith('-') || hasControlCharacter(pattern)) return bad(`sparseCheckout.${i}`, 'a sparse-checkout pattern must be non-empty, without control characters or a leading "-"');
  }

  for (const [path, file] of Object.entries(spec.files)) {
    const at = `files.${path}`;
    const pathProblem = workspacePathProblem(path, { allowEmpty: false });
    if (pathProblem) return bad(at, `${JSON.stringify(path)} ${pathProblem}`);
    const stored = file.bucket !== undefined || file.key !== undefined;
    if (stored && file.content !== undefined) return bad(at, 'give either content or bucket and key, not both');
    if (stored) {
      if (file.bucket === undefined || !FILE_BUCKET_PATTERN.test(file.bucket)) return bad(`${at}.bucket`, 'a bucket is one name of letters, digits, ".", "_" and "-"');
      const keyProblem = fileKeyProblem(file.key ?? '');
      if (keyProblem) return bad(`${at}.key`, keyProblem);
    }
    if (file.modifiedAt !== undefined && file.modifiedAt !== '') {
      const timeProblem = rfc3339Problem(file.modifiedAt);
      if (timeProblem) return bad(`${at}.modifiedAt`, `${JSON.stringify(file.modifiedAt)}: ${timeProblem}`);
    }
  }
  const inline = inlineFilesBytes(spec);
  if (inline > options.maxInlineFilesBytes) {
    return bad('files', `the job's inline file contents are ${inline} bytes, over the limit of ${options.maxInlineFilesBytes} (COORDINATOR_JOB_MAX_INLINE_FILES_SIZE); store large files with PUT /api/v1/files/{bucket}/{key} and name them by bucket and key`, 413);
  }

  // The original fills both from executor secrets; a user who could set them would decide what the
  // log shows (rewrite `curl` as `echo` for the admins who read it) or smuggle credentials in plain text.
  // Site admins may, as they manage global secrets and read every log anyway.
  if (Object.keys(spec.redactedValues).length > 0) {
    if (!options.siteAdmin) return bad('redactedValues', 'only the coordinator fills redactedValues (from executor secrets): name the secrets in a step\'s "secrets" instead', 403);
    for (const [value, replacement] of Object.entries(spec.redactedValues)) {
      if (value === '') return bad('redactedValues', 'a redacted value must not be empty');
      if (replacement.includes(value)) return bad('redactedValues', 'a replacement must not contain the value it replaces');
    }
  }
  if (spec.dockerAuthConfig !== undefined) {
    if (!options.siteAdmin) return bad('dockerAuthConfig', 'only the coordinator fills dockerAuthConfig (from the DOCKER_AUTH_CONFIG executor secret, stored encrypted): create that secret instead', 403);
    for (const [host, { auth }] of Object.entries(spec.dockerAuthConfig.auths)) {
      if (!REGISTRY_HOST_PATTERN.test(host)) return bad(`dockerAuthConfig.auths.${host}`, `${JSON.stringify(host)} is not a registry host[:port]`);
      const decoded = /^[A-Za-z0-9+/]*={0,2}$/.test(auth) ? Buffer.from(auth, 'base64').toString('utf8') : '';
      if (!decoded.includes(':')) return bad(`dockerAuthConfig.auths.${host}.auth`, 'expected base64 of "user:password"');
    }
  }
  return null;
}

function stepProblem(at: string, step: { key?: string; dir?: string; env?: string[] }): JobSpecProblem | null {
  if (step.key !== undefined && !STEP_KEY_PATTERN.test(step.key)) {
    return { status: 400, field: `${at}.key`, message: `${JSON.stringify(step.key)}: a step key is letters, digits, ".", "_" and "-", at most 100` };
  }
  const dirProblem = workspacePathProblem(step.dir ?? '', { allowEmpty: true });
  if (dirProblem) return { status: 400, field: `${at}.dir`, message: `${JSON.stringify(step.dir)} ${dirProblem}` };
  for (const [j, entry] of (step.env ?? []).entries()) {
    if (!ENV_ENTRY_PATTERN.test(entry) || hasControlCharacter(entry.slice(0, entry.indexOf('=')))) {
      return { status: 400, field: `${at}.env.${j}`, message: 'expected NAME=value, NAME of letters, digits and _, not starting with a digit' };
    }
  }
  return null;
}
