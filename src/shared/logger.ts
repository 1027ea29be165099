// A small structured logger: one line per event, level filtered, written to stderr as `condensed` text
// (`<time> LEVEL [name] message key=value …`) or as one JSON object a line. Identical warnings and
// errors repeated within a minute are folded into one line that says how many more there were.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * `condensed`: for people, `2026-12-02T14:20:00.000Z INFO  [executor] job finished jobId=42 outcome=completed`.
 * `json`: for log pipelines, one object a line with the original's field names (Sourcegraph's logger
 * writes OpenTelemetry's log data model): `{"Timestamp","SeverityText","InstrumentationScope","Body","Attributes"}`,
 * the timestamp as RFC 3339 text (the original writes Unix nanoseconds, which JSON numbers cannot hold exactly).
 */
export type LogFormat = 'condensed' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['condensed', 'json'];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields`; it shares this logger's output and folding. */
  with(fields: LogFields): Logger;
  /** Writes the counts of folded repeats now (at exit) instead of when their window ends. */
  flush(): void;
}

/**
 * SRC_LOG_LEVEL's words (the original's `dbug`, `info`, `warn`, `eror`, `crit`) and the plain ones
 * (`debug`, `error`, `warning`), case-insensitive; undefined for anything else.
 */
export function parseLogLevel(raw: string): LogLevel | undefined {
  const words: Record<string, LogLevel> = { dbug: 'debug', debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', eror: 'error', error: 'error', crit: 'error' };
  return words[raw.trim().toLowerCase()];
}

/** SRC_LOG_FORMAT's values, case-insensitive; undefined for anything else. */
export function parseLogFormat(raw: string): LogFormat | undefined {
  const value = raw.trim().toLowerCase();
  return (LOG_FORMATS as readonly string[]).includes(value) ? (value as LogFormat) : undefined;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'string') return /^[\w./:@-]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? 'undefined';
}

function jsonValue(value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}

/** How long identical warnings are folded by default, in ms: a problem that persists shows about twice a minute. */
export const DEFAULT_FOLD_WINDOW_MS = 60_000;
/** Distinct folded lines remembered at once; the oldest goes first. */
const FOLD_MAX_KEYS = 200;

export interface CreateLoggerOptions {
  /** Lines below it are dropped. Default `info`. */
  level?: LogLevel;
  /** The program or part, `[name]` in condensed lines, `InstrumentationScope` in JSON. */
  name?: string;
  /** Default `condensed`. */
  format?: LogFormat;
  /** Where each line goes (without its newline). Default stderr. */
  write?: (line: string) => void;
  /**
   * A warning or error identical to one written less than this long ago (same level, message and
   * fields) is counted instead of written; when the window ends, one line says `(… N more times)`.
   * 0 writes every line. In ms; default 60 000.
   */
  foldWindowMs?: number;
  /** The clock, for tests. Default Date.now. */
  nowMs?: () => number;
}

interface Folded {
  startedMs: number;
  repeats: number;
  timer: NodeJS.Timeout | undefined;
  emit: (suffix: string) => void;
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const minRank = LEVEL_RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const format = options.format ?? 'condensed';
  const foldWindowMs = options.foldWindowMs ?? DEFAULT_FOLD_WINDOW_MS;
  const now = options.nowMs ?? Date.now;
  const folded = new Map<string, Folded>();

  const render = (level: LogLevel, message: string, all: LogFields, suffix: string): string => {
    const time = new Date(now()).toISOString();
    if (format === 'json') {
      const attributes: LogFields = {};
      for (const [k, v] of Object.entries(all)) if (v !== undefined) attributes[k] = jsonValue(v);
      return JSON.stringify({
        Timestamp: time,
        SeverityText: level.toUpperCase(),
        ...(options.name ? { InstrumentationScope: options.name } : {}),
        Body: message + suffix,
        Attributes: attributes,
      });
    }
    const pairs = Object.entries(all)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(' ');
    return `${time} ${level.toUpperCase().padEnd(5)} ${options.name ? `[${options.name}] ` : ''}${message}${suffix}${pairs ? ' ' + pairs : ''}`;
  };

  const endFold = (key: string) => {
    const entry = folded.get(key);
    if (!entry) return;
    folded.delete(key);
    if (entry.timer) clearTimeout(entry.timer);
    if (entry.repeats > 0) entry.emit(` (… ${entry.repeats} more time${entry.repeats === 1 ? '' : 's'} in ${Math.max(1, Math.round((now() - entry.startedMs) / 1000))} s)`);
  };

  const make = (base: LogFields): Logger => {
    const log = (level: LogLevel, message: string, fields?: LogFields) => {
      if (LEVEL_RANK[level] < minRank) return;
      const all = { ...base, ...fields };
      const emit = (suffix: string) => write(render(level, message, all, suffix));
      if (foldWindowMs <= 0 || LEVEL_RANK[level] < LEVEL_RANK.warn) {
        emit('');
        return;
      }
      const key = `${level}\u0000${message}\u0000${JSON.stringify(all, (_k, v: unknown) => jsonValue(v))}`;
      const entry = folded.get(key);
      if (entry && now() - entry.startedMs < foldWindowMs) {
        entry.repeats++;
        // The count is written when the window ends, even if the warning never comes again.
        entry.timer ??= setTimeout(() => endFold(key), Math.max(0, entry.startedMs + foldWindowMs - now())).unref();
        return;
      }
      if (entry) endFold(key);
      emit('');
      if (folded.size >= FOLD_MAX_KEYS) endFold(folded.keys().next().value!);
      folded.set(key, { startedMs: now(), repeats: 0, timer: undefined, emit });
    };
    return {
      debug: (m, f) => log('debug', m, f),
      info: (m, f) => log('info', m, f),
      warn: (m, f) => log('warn', m, f),
      error: (m, f) => log('error', m, f),
      with: (fields) => make({ ...base, ...fields }),
      flush: () => {
        for (const key of [...folded.keys()]) endFold(key);
      },
    };
  };
  return make({});
}

/** Discards everything; for tests and benchmarks that measure, not read, logs. */
export const silentLogger: Logger = createLogger({ write: () => {}, foldWindowMs: 0 });
