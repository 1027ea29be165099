// Takes the values of a workspace's executor secrets out of what its job uploaded and the API shows: each
// step's stdout and stderr, and the outputs (a step may print a secret, or put it in an output), as the
// executor redacts them from the job's log (`${{ secrets.NAME }}`). The diff is left as it is: it is the
// change itself, and a secret in it was written into a file by the steps.
import type { BatchExecutionResult } from '../../../protocol/batch-execution.js';

function redactText(text: string, values: ReadonlyMap<string, string>): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const [key, value] of [...values].sort((a, b) => b[1].length - a[1].length)) {
    if (value !== '') out = out.split(value).join(`\${{ secrets.${key} }}`);
  }
  return out;
}

function redactValue(value: unknown, values: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return redactText(value, values);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, values));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: redactValue(v, values), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** `result` with every secret value (key → value) replaced in the steps' output and the outputs. */
export function redactResult(result: BatchExecutionResult, values: ReadonlyMap<string, string>): BatchExecutionResult {
  if (values.size === 0) return result;
  return {
    ...result,
    outputs: redactValue(result.outputs, values) as Record<string, unknown>,
    steps: result.steps.map((s) => ({ ...s, stdout: redactText(s.stdout, values), stderr: redactText(s.stderr, values), outputs: redactValue(s.outputs, values) as Record<string, unknown> })),
  };
}
