// The script a batch spec step's `run` docker step executes, written by `src batch-helper pre <i>`: the
// step's rendered literal env exported, its `files` copied into place, then the rendered `run` under
// `sh`, its stdout and stderr both shown (the job's log) and kept (`step.stdout` / `step.stderr` of its
// outputs), and its exit status passed on. POSIX sh and tee only, so any step image runs it. Executor
// secrets are not in it: they are the docker step's own environment, set at dequeue. It finds the helper's
// directory from its own path (`sh <dir>/step<i>.sh`), not from a path written in: the coordinator writes
// step 0's script into the job without knowing where the job's workspace will be.

/** `'…'` for sh: any text, single quotes included. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The helper's per-step file names, in the helper's directory (`.batches`). */
export const stepFiles = (index: number) => ({
  script: `step${index}.sh`,
  run: `run${index}.sh`,
  stdout: `stdout${index}.log`,
  stderr: `stderr${index}.log`,
  exitCode: `exit${index}`,
  skipped: `skipped${index}`,
  filesDir: `files${index}`,
});

/** The helper state's lastTree alone (beside state.json), for the shell form of `post <last> upload` (batch-upload-script.ts), which reads no JSON. */
export const LAST_TREE_FILE = 'last-tree';

export interface StepScriptInput {
  index: number;
  /** Rendered literal env. */
  env: Record<string, string>;
  /** `files`: where each rendered file is kept (relative to the helper's directory) and where the step wants it (relative to its working directory, or absolute). */
  files: Array<{ source: string; target: string }>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Throws naming an env name that cannot be exported. */
export function buildStepScript(input: StepScriptInput): string {
  const f = stepFiles(input.index);
  const lines = [
    `# Step ${input.index} of the batch spec, rendered from its templates.`,
    // The helper's directory is this script's: absolute, as the run may change directories.
    'case $0 in */*) batches=${0%/*} ;; *) batches=. ;; esac',
    'batches=$(CDPATH= cd -- "$batches" && pwd) || exit 1',
  ];
  for (const [name, value] of Object.entries(input.env)) {
    if (!ENV_NAME.test(name)) throw new Error(`steps[${input.index}].env: ${JSON.stringify(name)} is not an environment variable name (letters, digits and _, not starting with a digit)`);
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  for (const { source, target } of input.files) {
    lines.push(`mkdir -p "$(dirname ${shellQuote(target)})" && cp "$batches"/${shellQuote(source)} ${shellQuote(target)} || { echo ${shellQuote(`cannot write the step's file ${target}`)} >&2; exit 1; }`);
  }
  lines.push(
    `: > "$batches/${f.stdout}"; : > "$batches/${f.stderr}"`,
    // stdout of the run goes to fd 3 (→ the outer tee, into stdout<i>.log and the log), its stderr into the
    // inner tee (→ stderr<i>.log and back to stderr); the status is written aside, as a pipeline loses it.
    `{ { sh "$batches/${f.run}"; echo $? > "$batches/${f.exitCode}"; } 2>&1 1>&3 | tee "$batches/${f.stderr}" >&2; } 3>&1 | tee "$batches/${f.stdout}"`,
    // read, not $(cat …): a process fewer in every step.
    `read -r batches_status < "$batches/${f.exitCode}"; exit "$batches_status"`,
  );
  return `${lines.join('\n')}\n`;
}

/** The script of a step whose `if:` was not true: it runs nothing. */
export function skippedStepScript(index: number, why: string): string {
  return `# Step ${index} of the batch spec is skipped: ${why.replaceAll('\n', ' ')}\necho ${shellQuote(`step ${index} skipped: ${why}`)}\nexit 0\n`;
}
