// A check of the execution input's shape without zod, for the helper's start (zod takes ~50 ms to load,
// half of a helper step on the shell runtime). Strict in the same places as BatchExecutionInputSchema:
// what passes here would pass there. What fails here is parsed by the schema, for its messages.
import type { BatchExecutionInput } from '../protocol/batch-execution.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isStringRecord = (v: unknown): boolean => isObject(v) && Object.values(v).every(isString);

function isStepInput(v: unknown): boolean {
  if (!isObject(v)) return false;
  if (!isString(v.run) || !isString(v.container) || !isStringRecord(v.env) || !isStringArray(v.secretEnv) || !isStringRecord(v.files)) return false;
  if (!isObject(v.outputs)) return false;
  for (const output of Object.values(v.outputs)) {
    if (!isObject(output) || !isString(output.value) || !(output.format === 'text' || output.format === 'json' || output.format === 'yaml')) return false;
  }
  return v.if === undefined || typeof v.if === 'boolean' || isString(v.if);
}

/** True when `v` has the shape of an execution input (extra keys aside). */
export function looksLikeBatchExecutionInput(v: unknown): v is BatchExecutionInput {
  if (!isObject(v) || v.version !== 1 || !isString(v.path)) return false;
  const { batchChange, repository, steps } = v;
  if (!isObject(batchChange) || !isString(batchChange.name) || !isString(batchChange.description)) return false;
  if (!isObject(repository) || !isString(repository.name) || !isString(repository.branch) || !isString(repository.commit) || !isStringArray(repository.searchResultPaths)) return false;
  return Array.isArray(steps) && steps.every(isStepInput);
}
