// Go's strconv.ParseBool, so EXECUTOR_* booleans read as the original's do ("true", "1", "F", "FALSE").

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Parses a boolean exactly as Go's strconv.ParseBool does (no trimming, no "yes"/"on"). Throws an Error naming the input otherwise. */
export function parseGoBool(input: string): boolean {
  if (TRUE.has(input)) return true;
  if (FALSE.has(input)) return false;
  throw new Error(`invalid boolean ${JSON.stringify(input)}: expected true or false (also accepted: 1, t, T, TRUE, True, 0, f, F, FALSE, False)`);
}
