// The batch spec (Sourcegraph's batch spec YAML, version 1 and 2) as the coordinator holds it after
// parsing: what parseBatchSpec returns once the YAML passed the JSON schema and the checks beyond it.
// Optional fields of the YAML are normalised here (env to a list, `published` to a list of rules) so
// the rest of the coordinator never re-reads the raw shapes.

/** `on:` — where the change is made. */
export type OnTarget =
  /** A search over the coordinator's repositories: `repo:<regex>`, `file:<regex>`, literal content terms. */
  | { kind: 'query'; repositoriesMatchingQuery: string }
  /** One repository, at its default branch or the branches named. */
  | { kind: 'repository'; repository: string; branches: string[] /* empty: the default branch */ };

/** `workspaces:` — a project per directory holding `rootAtLocationOf`, in repositories matching `in`. */
export interface WorkspaceRule {
  rootAtLocationOf: string;
  /** A glob over repository names; default `*`. */
  in: string;
  onlyFetchWorkspace: boolean;
}

/** One `env` entry of a step: with `value` a literal (templated) value; without, the executor secret of that name. */
export interface StepEnvEntry {
  name: string;
  value?: string;
}

export interface StepOutput {
  value: string;
  format: 'text' | 'json' | 'yaml';
}

export interface BatchStep {
  run: string;
  container: string;
  env: StepEnvEntry[];
  /** Path in the workspace → templated content. */
  files: Record<string, string>;
  outputs: Record<string, StepOutput>;
  /** `if:` as written: a boolean, or a template that renders to "true" to run the step; undefined: always. */
  if?: boolean | string;
}

export interface TransformGroup {
  directory: string;
  branch: string;
  /** Only in this repository; undefined: every repository. */
  repository?: string;
  /** The group's changeset title (a template, `steps.path` being the group's directory); undefined: changesetTemplate.title. */
  title?: string;
}

/**
 * `published:` normalised: the first rule whose glob matches a repository name (`*` for a plain value) wins.
 * The YAML's list is stored reversed, because the original uses the *last* matching entry; see
 * published-rules.ts (resolvePublished), which applies them.
 */
export interface PublishedRule {
  glob: string;
  /** `<glob>@<branch>`: the rule applies only to changesets on this branch; undefined: any branch. */
  branch?: string;
  /** true: push the branch on apply; false: stay unpublished; 'draft' is accepted and treated as false here (the coordinator's git has no drafts). */
  value: boolean | 'draft';
}

export interface ChangesetTemplate {
  title: string;
  body: string;
  branch: string;
  commit: { message: string; author?: { name: string; email: string } };
  published: PublishedRule[];
}

export interface BatchSpec {
  version: 1 | 2;
  name: string;
  description: string;
  on: OnTarget[];
  workspaces: WorkspaceRule[];
  steps: BatchStep[];
  transformChanges: { group: TransformGroup[] };
  changesetTemplate?: ChangesetTemplate;
}

/** One problem with a spec: the field as a path (`steps[0].container`), the YAML line (1-based) when known. */
export interface BatchSpecError {
  field: string;
  line?: number;
  message: string;
}

export type BatchSpecParseResult = { ok: true; spec: BatchSpec } | { ok: false; errors: BatchSpecError[] };
