// `src batch-helper pre|post <i>` and `src batch-helper upload` (several in one process, in order: `post 0
// pre 1`, `post 1 upload`): the helper steps of a `batches` job (the original's batcheshelper), run in the workspace root, where the coordinator put the execution input
// (`.batches/input.json`) beside the repository (`repository/`). `pre <i>` renders step i's templates from
// what the steps before it did and set (its `if:` first: a step that does not run gets a script that does
// nothing), writes its script and files; `post <i>` records what step i changed, its output, and its
// `outputs`; `upload` sends the diff against the base commit, the outputs and each step's result with the
// job's own token. State between them is `.batches/state.json`; without one (the coordinator rendered
// step 0 into the job, no `pre 0` ran) the state starts at the base commit.
//
// The helper starts at least once in every batches job (on shell a node start; on docker a container), so
// it loads only what the actions ask for: no zod (the input's shape is checked by hand, the schema only
// words a failure), the templating only for `pre` and for a step with `outputs`, and it asks git as
// little as it can (one `add --all`, and the diffs from the index).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BatchExecutionInput, BatchExecutionResult, BatchStepResult } from '../protocol/batch-execution.js';
import { BATCH_EXECUTION_INPUT_PATH, BATCH_REPOSITORY_DIRECTORY, MAX_STEP_OUTPUT_BYTES } from '../protocol/batch-execution-paths.js';
import type { StepTemplateContext } from '../shared/batch-templating/index.js';
import { looksLikeBatchExecutionInput } from './batch-input-check.js';
import { LAST_TREE_FILE, stepFiles } from './batch-step-script.js';
import { WorkspaceGit, type FileChanges } from './batch-workspace-git.js';
import { loadSrcConfig } from './src-config.js';

export interface BatchHelperIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The workspace root (the helper steps' working directory). */
  cwd: string;
  retryIntervalMs?: number;
}

/** The helper's directory in the workspace: the input's, and its own files'. */
const HELPER_DIR = path.posix.dirname(BATCH_EXECUTION_INPUT_PATH);
const STATE_FILE = 'state.json';


interface HelperState {
  version: 1;
  /**
   * The base commit (or its tree), and the tree after the last step that ran — except after the last
   * step of the input, whose tree no later step compares against (not written).
   */
  baseTree: string;
  lastTree: string;
  results: BatchStepResult[];
  outputs: Record<string, unknown>;
  /** Changes of all steps so far (`steps.*`). */
  changes: FileChanges;
}

const USAGE = `Usage: src batch-helper pre <step index> | post <step index> | upload  (several in order: post 0 pre 1)

The helper steps of a server-side batch change job, run in the job's workspace: 'pre' renders a step's
templates and writes its script, 'post' records what it did, 'upload' sends the workspace's result.
`;

class HelperError extends Error {}

class BatchHelper {
  readonly helperDir: string;
  readonly git: WorkspaceGit;
  /** Everything is staged and no step ran since (a `post` before `upload` in the same process). */
  private staged = false;
  private cachedInput: BatchExecutionInput | undefined;

  constructor(
    private readonly io: BatchHelperIo,
    private readonly env: Record<string, string | undefined>,
  ) {
    this.helperDir = path.resolve(io.cwd, HELPER_DIR);
    this.git = new WorkspaceGit(path.resolve(io.cwd, BATCH_REPOSITORY_DIRECTORY), env);
  }

  private file(name: string): string {
    return path.join(this.helperDir, name);
  }

  async input(): Promise<BatchExecutionInput> {
    if (this.cachedInput) return this.cachedInput;
    let raw: string;
    try {
      raw = await fs.readFile(path.resolve(this.io.cwd, BATCH_EXECUTION_INPUT_PATH), 'utf8');
    } catch (err) {
      throw new HelperError(`cannot read the execution input ${BATCH_EXECUTION_INPUT_PATH}: ${(err as Error).message} (run in the workspace root of a batches job)`);
    }
    const value: unknown = JSON.parse(raw);
    if (looksLikeBatchExecutionInput(value)) return (this.cachedInput = value);
    const { BatchExecutionInputSchema } = await import('../protocol/batch-execution.js');
    const parsed = BatchExecutionInputSchema.safeParse(value);
    if (!parsed.success) throw new HelperError(`${BATCH_EXECUTION_INPUT_PATH} is not an execution input: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return (this.cachedInput = parsed.data);
  }

  async state(input: BatchExecutionInput): Promise<HelperState> {
    try {
      return JSON.parse(await fs.readFile(this.file(STATE_FILE), 'utf8')) as HelperState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The job cloned exactly this commit: git compares with it as with its tree.
      const base = input.repository.commit;
      return { version: 1, baseTree: base, lastTree: base, results: [], outputs: {}, changes: { modifiedFiles: [], addedFiles: [], deletedFiles: [], renamedFiles: [] } };
    }
  }

  async saveState(state: HelperState): Promise<void> {
    const tmp = this.file(`${STATE_FILE}.tmp`);
    await fs.writeFile(tmp, JSON.stringify(state));
    await fs.rename(tmp, this.file(STATE_FILE));
    await fs.writeFile(this.file(LAST_TREE_FILE), `${state.lastTree}\n`);
  }

  context(input: BatchExecutionInput, state: HelperState): StepTemplateContext {
    const last = state.results[state.results.length - 1];
    return {
      repository: { name: input.repository.name, branch: input.repository.branch, searchResultPaths: input.repository.searchResultPaths },
      batchChange: input.batchChange,
      previousStep: last,
      steps: { ...state.changes, path: input.path },
      outputs: state.outputs,
    };
  }

  step(input: BatchExecutionInput, raw: string | undefined) {
    const index = raw !== undefined && /^\d{1,6}$/.test(raw) ? Number(raw) : -1;
    const step = input.steps[index];
    if (!step) throw new HelperError(`step index ${JSON.stringify(raw ?? '')}: expected 0 to ${input.steps.length - 1} (the input has ${input.steps.length} steps)`);
    return { index, step };
  }

  async pre(rawIndex: string | undefined): Promise<void> {
    const input = await this.input();
    const { index, step } = this.step(input, rawIndex);
    const state = await this.state(input);
    await this.saveState(state);
    this.staged = false;
    const f = stepFiles(index);
    for (const name of [f.skipped, f.exitCode, f.stdout, f.stderr]) await fs.rm(this.file(name), { force: true });
    const { renderStepFiles, StepRenderError } = await import('./batch-step-render.js');
    let rendered;
    try {
      rendered = renderStepFiles(index, step, this.context(input, state));
    } catch (err) {
      if (err instanceof StepRenderError) throw new HelperError(err.message);
      throw err;
    }
    if (Object.keys(step.files).length > 0 && !rendered.skipped) await fs.mkdir(this.file(f.filesDir), { recursive: true });
    for (const [name, content] of Object.entries(rendered.files)) await fs.writeFile(this.file(name), content, name === f.script ? { mode: 0o755 } : {});
    this.io.stdout(`${rendered.summary}\n`);
  }

  private async readOutput(name: string): Promise<string> {
    try {
      const handle = await fs.open(this.file(name), 'r');
      try {
        const buf = Buffer.alloc(MAX_STEP_OUTPUT_BYTES);
        const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
        return buf.subarray(0, bytesRead).toString('utf8');
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  }

  async post(rawIndex: string | undefined): Promise<void> {
    const input = await this.input();
    const { index, step } = this.step(input, rawIndex);
    const state = await this.state(input);
    const f = stepFiles(index);
    const empty: FileChanges = { modifiedFiles: [], addedFiles: [], deletedFiles: [], renamedFiles: [] };
    let skipped = false;
    try {
      await fs.access(this.file(f.skipped));
      skipped = true;
    } catch {
      // it ran
    }
    if (skipped) {
      state.results.push({ index, skipped: true, exitCode: null, stdout: '', stderr: '', ...empty, outputs: {} });
      await this.saveState(state);
      this.io.stdout(`step ${index} was skipped\n`);
      return;
    }
    const exitRaw = (await this.readOutput(f.exitCode)).trim();
    const exitCode = /^\d+$/.test(exitRaw) ? Number(exitRaw) : null;
    const stdout = await this.readOutput(f.stdout);
    const stderr = await this.readOutput(f.stderr);
    await this.git.stageAll();
    this.staged = true;
    const changes = await this.git.stagedChanges(state.lastTree);
    const cumulative = state.baseTree === state.lastTree ? changes : await this.git.stagedChanges(state.baseTree);
    const ctx: StepTemplateContext = { ...this.context(input, state), steps: { ...cumulative, path: input.path }, step: { ...changes, stdout, stderr } };
    const outputs: Record<string, unknown> = {};
    // The templating is loaded only when a step has outputs.
    const templating = Object.keys(step.outputs).length > 0 ? await import('../shared/batch-templating/index.js') : undefined;
    for (const [name, output] of Object.entries(step.outputs)) {
      let text: string;
      try {
        text = templating!.renderStepTemplate(output.value, ctx);
      } catch (err) {
        if (err instanceof templating!.BatchTemplateError) throw new HelperError(`steps[${index}].outputs.${name}.value: ${err.message}`);
        throw err;
      }
      try {
        // yaml is loaded only when a step has a yaml output.
        outputs[name] = output.format === 'json' ? JSON.parse(text) : output.format === 'yaml' ? (await import('yaml')).parse(text) : text;
      } catch (err) {
        throw new HelperError(`steps[${index}].outputs.${name}: the value is not ${output.format.toUpperCase()}: ${(err as Error).message}`);
      }
    }
    state.results.push({ index, skipped: false, exitCode, stdout, stderr, ...changes, outputs });
    state.outputs = { ...state.outputs, ...outputs };
    // A later step's changes are counted from this tree; after the last step there is none.
    if (index + 1 < input.steps.length) state.lastTree = await this.git.writeTree();
    state.changes = cumulative;
    await this.saveState(state);
    const count = changes.modifiedFiles.length + changes.addedFiles.length + changes.deletedFiles.length + changes.renamedFiles.length;
    this.io.stdout(`step ${index} changed ${count} files${Object.keys(outputs).length > 0 ? `; outputs: ${Object.keys(outputs).join(', ')}` : ''}\n`);
  }

  async upload(): Promise<void> {
    const input = await this.input();
    const state = await this.state(input);
    if (!this.staged) await this.git.stageAll();
    const diff = await this.git.diffAgainst(input.repository.commit);
    const result: BatchExecutionResult = { version: 1, diff, outputs: state.outputs, steps: state.results };
    let config;
    try {
      config = loadSrcConfig(this.env);
    } catch (err) {
      throw new HelperError((err as Error).message);
    }
    const { uploadBatchResult } = await import('./batch-result-client.js');
    await uploadBatchResult(config, result, { retryIntervalMs: this.io.retryIntervalMs, log: (line) => this.io.stderr(`${line}\n`) }).catch((err: unknown) => {
      throw new HelperError(`the result was not stored: ${(err as Error).message}`);
    });
    this.io.stdout(`uploaded the result: ${Buffer.byteLength(diff)} bytes of diff, ${state.results.length} steps, ${Object.keys(state.outputs).length} outputs\n`);
  }
}

/** One action of a command line: `pre <i>`, `post <i>` or `upload`. */
type Action = { command: 'pre' | 'post'; index: string } | { command: 'upload' };

/** `post 0 pre 1`, `post 1 upload`, …: the actions in order; undefined when the arguments are not such a list. */
function parseActions(args: readonly string[]): Action[] | undefined {
  const actions: Action[] = [];
  for (let i = 0; i < args.length; i++) {
    const command = args[i];
    if (command === 'upload') actions.push({ command });
    else if ((command === 'pre' || command === 'post') && args[i + 1] !== undefined) actions.push({ command, index: args[++i]! });
    else return undefined;
  }
  return actions.length > 0 ? actions : undefined;
}

/**
 * Runs `src batch-helper <actions>`: `pre <i>`, `post <i>`, `upload`, or several in order in one process
 * (`post 0 pre 1`: the job's one helper step between two steps). Resolves to the exit status.
 */
export async function runBatchHelper(args: readonly string[], env: Record<string, string | undefined>, io: BatchHelperIo): Promise<number> {
  const first = args[0];
  if (first === undefined || first === '-h' || first === '-help' || first === 'help') {
    io.stderr(USAGE);
    return first === undefined ? 2 : 0;
  }
  const actions = parseActions(args);
  if (!actions) {
    io.stderr(`src batch-helper: unexpected arguments ${JSON.stringify(args)}\n${USAGE}`);
    return 2;
  }
  const helper = new BatchHelper(io, env);
  try {
    for (const action of actions) {
      if (action.command === 'pre') await helper.pre(action.index);
      else if (action.command === 'post') await helper.post(action.index);
      else await helper.upload();
    }
    return 0;
  } catch (err) {
    io.stderr(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
