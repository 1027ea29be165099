// The auto-indexing configuration of a repository (the original's sourcegraph.yaml / IndexConfiguration):
// `shared_steps` run before every job's own steps, and each of `index_jobs` says where (root), with which
// indexer image and arguments, after which pre-index steps, and where the index is written (outfile).
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Where the repository's own configuration lives (at the root of the indexed commit). */
export const CONFIGURATION_FILE = 'sourcegraph.yaml';

/** A directory of the repository: `''`, `/` and `.` are its root; a leading `/` is the repository's, not the host's. */
const relativeDir = z
  .string()
  .default('')
  .refine((p) => !p.split('/').includes('..'), 'must be a path inside the repository (no ..)')
  .transform((p) => p.replace(/^\/+/, '').replace(/^\.(\/|$)/, '').replace(/\/+$/, ''));

const StepSchema = z.strictObject({
  root: relativeDir,
  image: z.string().min(1, 'expected a container image'),
  commands: z.array(z.string()).default([]),
});

const IndexJobSchema = z
  .strictObject({
    steps: z.array(StepSchema).default([]),
    local_steps: z.array(z.string()).default([]),
    root: relativeDir,
    indexer: z.string().min(1, 'expected the indexer container image'),
    indexer_args: z.array(z.string()).default([]),
    outfile: z.string().default(''),
    requestedEnvVars: z.array(z.string()).optional(),
    requested_env_vars: z.array(z.string()).optional(),
  })
  .transform(({ requested_env_vars, requestedEnvVars, ...job }) => ({ ...job, requestedEnvVars: requestedEnvVars ?? requested_env_vars ?? [] }));

export const IndexConfigurationSchema = z.strictObject({
  shared_steps: z.array(StepSchema).default([]),
  index_jobs: z.array(IndexJobSchema).min(1, 'expected at least one index job'),
});

export type IndexStep = z.infer<typeof StepSchema>;
export type IndexJobConfig = z.infer<typeof IndexJobSchema>;
export type IndexConfiguration = z.infer<typeof IndexConfigurationSchema>;

export type ParsedConfiguration = { ok: true; config: IndexConfiguration } | { ok: false; error: string };

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(top level)'}: ${i.message}`)
    .join('; ');
}

/** Validates a configuration given as a value (the API's JSON). */
export function validateIndexConfiguration(value: unknown): ParsedConfiguration {
  const parsed = IndexConfigurationSchema.safeParse(value);
  return parsed.success ? { ok: true, config: parsed.data } : { ok: false, error: describe(parsed.error) };
}

/** Parses a sourcegraph.yaml (YAML, of which JSON is a subset); the error names the file's problem. */
export function parseIndexConfigurationYaml(text: string): ParsedConfiguration {
  let value: unknown;
  try {
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, error: `not valid YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  return validateIndexConfiguration(value);
}

/** The indexer's name for scheduling keys: the image's last path segment without tag or digest. */
export function indexerNameOf(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const last = withoutDigest.split('/').pop()!;
  const name = last.includes(':') ? last.slice(0, last.lastIndexOf(':')) : last;
  return name.replace(/^executors-/, '');
}

/** Identifies one job's configuration: a failing job is retried once this changes. */
export function configHashOf(job: IndexJobConfig, sharedSteps: readonly IndexStep[]): string {
  return createHash('sha256').update(JSON.stringify({ job, sharedSteps })).digest('hex').slice(0, 16);
}
