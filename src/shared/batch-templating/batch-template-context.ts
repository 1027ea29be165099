// The values a batch spec's `${{ }}` templates see (the original's src-cli lib/batches/template
// StepContext and ChangesetTemplateContext), as plain data: the renderer turns them into the template
// names `repository`, `batch_change`, `previous_step`, `step`, `steps`, `outputs`, `batch_change_link`.

/** `repository.*`. */
export interface RepositoryTemplateContext {
  /** `repository.name`: the repository's full name, `org/repo`. */
  name: string;
  /** `repository.branch`: the branch the workspace was resolved on. */
  branch: string;
  /** `repository.search_result_paths`: the files the `repositoriesMatchingQuery` matched; empty for `repository:` targets. */
  searchResultPaths: string[];
}

/** `batch_change.*`. */
export interface BatchChangeTemplateContext {
  name: string;
  description: string;
}

/** What one step did: `previous_step.*` (the step before) and `step.*` (the step itself, in its `outputs`). */
export interface StepResultTemplateContext {
  modifiedFiles: string[];
  addedFiles: string[];
  deletedFiles: string[];
  renamedFiles: string[];
  stdout: string;
  stderr: string;
}

/** `steps.*`: the changes of all steps so far, and where they run. */
export interface StepsTemplateContext {
  modifiedFiles: string[];
  addedFiles: string[];
  deletedFiles: string[];
  renamedFiles: string[];
  /** The workspace's directory in the repository, '' for its root (no leading `/` or `.`). */
  path: string;
}

/** What a step's `run`, `env`, `files`, `if` and `outputs` templates see. */
export interface StepTemplateContext {
  repository: RepositoryTemplateContext;
  batchChange: BatchChangeTemplateContext;
  /** The step before; undefined for the first step (its lists are empty and its output ''). */
  previousStep?: StepResultTemplateContext;
  /** The changes of the steps before this one; undefined: none yet, path ''. */
  steps?: StepsTemplateContext;
  /** `outputs.<name>`: the outputs the steps before set (json/yaml ones as data). */
  outputs: Record<string, unknown>;
  /** `step.*`: only while rendering this step's `outputs`, after it ran. */
  step?: StepResultTemplateContext;
}

/** What `changesetTemplate` fields see, after all steps ran. */
export interface ChangesetTemplateContext {
  repository: RepositoryTemplateContext;
  batchChange: BatchChangeTemplateContext;
  steps: StepsTemplateContext;
  outputs: Record<string, unknown>;
  /** `batch_change_link` (only meaningful in `changesetTemplate.body`); undefined renders ''. */
  batchChangeLink?: string;
}

/** Only the values known before anything ran: what a static `if` may use. */
export interface StaticTemplateContext {
  repository: RepositoryTemplateContext;
  batchChange: BatchChangeTemplateContext;
}

/** Where a template is written, which decides the names it may use. */
export type TemplateLocation = 'step' | 'outputs' | 'changesetTemplate';
