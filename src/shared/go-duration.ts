// Go's time.ParseDuration, so EXECUTOR_* and COORDINATOR_* durations read as the original's do ("1m30s", "25s").

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration into milliseconds. Throws an Error naming the input on bad syntax. */
export function parseGoDurationMs(input: string): number {
  const s = input.trim();
  if (s === '0') return 0;
  const match = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!match) throw new Error(`invalid duration ${JSON.stringify(input)}: expected a Go duration such as "30s", "1m30s" or "168h"`);
  let totalMs = 0;
  for (const part of s.matchAll(/((?:\d+(?:\.\d*)?|\.\d+))(ns|us|µs|μs|ms|s|m|h)/g)) {
    totalMs += Number(part[1]) * UNIT_MS[part[2]!]!;
  }
  return match[1] === '-' ? -totalMs : totalMs;
}

/** Formats milliseconds the way Go prints a duration (`1m30s`, `25s`, `500ms`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = ms / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  const sec = Math.round(rest * 1000) / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${sec}s`;
}
