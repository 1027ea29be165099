// The Job payload that a dequeue returns (reference §3): schemas and the types inferred from them.
// No I/O here: both programs and their tests import this file.
import { z } from 'zod';

/** A container step: `commands` are the lines of a shell script run in `image` (reference §3.1). */
export const DockerStepSchema = z.object({
  key: z.string().optional(),
  image: z.string(),
  commands: z.array(z.string()),
  /** Working directory relative to the workspace root. */
  dir: z.string().optional(),
  /** `NAME=value` entries. */
  env: z.array(z.string()).optional(),
});
export type DockerStep = z.infer<typeof DockerStepSchema>;

/** A legacy src-cli step. Note the singular JSON name `command` (reference §3.1). */
export const CliStepSchema = z.object({
  key: z.string().optional(),
  command: z.array(z.string()),
  dir: z.string().optional(),
  env: z.array(z.string()).optional(),
});
export type CliStep = z.infer<typeof CliStepSchema>;

/**
 * A file written into the workspace. `content` is a string in v1 and base64 in v2 (reference §3.2);
 * with `bucket` and `key` it is fetched from the files store instead.
 */
export const VirtualMachineFileSchema = z.object({
  content: z.string().optional(),
  bucket: z.string().optional(),
  key: z.string().optional(),
  /** RFC 3339; applied as the file's atime and mtime. */
  modifiedAt: z.string().optional(),
});
export type VirtualMachineFile = z.infer<typeof VirtualMachineFileSchema>;

/** The docker CLI `config.json` subset: static credentials only (reference §3.1, §8). */
export const DockerAuthConfigSchema = z.object({
  auths: z.record(z.string(), z.object({ auth: z.string() })),
});
export type DockerAuthConfig = z.infer<typeof DockerAuthConfigSchema>;

/** The part of a Job that its creator supplies: everything but `id`, `token`, `version` and `queue`. */
export const JobSpecSchema = z.object({
  repositoryName: z.string().default(''),
  repositoryDirectory: z.string().default(''),
  commit: z.string().default(''),
  fetchTags: z.boolean().default(false),
  shallowClone: z.boolean().default(false),
  sparseCheckout: z.array(z.string()).default([]),
  /** Path inside the workspace → file. Files given as plain strings are accepted too (pre-4.1 shape). */
  files: z
    .record(z.string(), z.union([VirtualMachineFileSchema, z.string().transform((content): VirtualMachineFile => ({ content }))]))
    .default({}),
  dockerSteps: z.array(DockerStepSchema).default([]),
  cliSteps: z.array(CliStepSchema).default([]),
  /** Secret text → its replacement in logs. */
  redactedValues: z.record(z.string(), z.string()).default({}),
  dockerAuthConfig: DockerAuthConfigSchema.optional(),
});
export type JobSpec = z.infer<typeof JobSpecSchema>;

/** The payload version: 2 encodes file contents as base64 and carries `dockerAuthConfig` (reference §3.2). */
export type JobPayloadVersion = 1 | 2;

/** A dequeued Job as it travels on the wire. */
export interface Job {
  version?: 2;
  id: number;
  queue?: string;
  token: string;
  repositoryName: string;
  repositoryDirectory: string;
  commit: string;
  fetchTags: boolean;
  shallowClone: boolean;
  sparseCheckout: string[];
  files: Record<string, VirtualMachineFile>;
  dockerSteps: DockerStep[];
  cliSteps: CliStep[];
  redactedValues: Record<string, string>;
  dockerAuthConfig?: DockerAuthConfig;
}
