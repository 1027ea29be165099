// How the job pod's setup container reports the workspace preparation to the executor: one line per event
// on its stdout (the container log the executor follows), `@setup ` and a JSON object. The executor turns
// them back into the same log entries the host workspace writes (`setup.git.fetch`, `setup.fs.extras`, …),
// so a job's log reads alike on every runtime. Output is JSON-quoted: nothing a repository prints can
// forge an event.
import type { OutputStream } from '../../worker/log-entry-stream.js';

/** The prefix of every event line. */
export const SETUP_EVENT_PREFIX = '@setup ';

/** Longest `data` of one output event, in UTF-16 characters: container runtimes split longer log lines. */
const MAX_EVENT_DATA_CHARS = 8 * 1024;

export type SetupEvent =
  /** A log entry begins (a git command, the files). */
  | { open: number; key: string; command: string[] }
  /** Output of an open entry. */
  | { entry: number; stream: OutputStream; data: string }
  /** An entry ends. */
  | { entry: number; exitCode: number }
  /** Preparation failed: the message the job fails with, and the error's code. */
  | { error: { code: string; message: string } }
  /** Preparation succeeded. */
  | { done: true };

/** The lines of `event` (output longer than one line's worth is split over several events). */
export function encodeSetupEvent(event: SetupEvent): string {
  if ('data' in event && event.data.length > MAX_EVENT_DATA_CHARS) {
    let out = '';
    for (let i = 0; i < event.data.length; i += MAX_EVENT_DATA_CHARS) {
      out += encodeSetupEvent({ ...event, data: event.data.slice(i, i + MAX_EVENT_DATA_CHARS) });
    }
    return out;
  }
  return `${SETUP_EVENT_PREFIX}${JSON.stringify(event)}\n`;
}

/** Where decoded events go: log entries of the job. */
export interface SetupEventSink {
  open(key: string, command: string[]): { write(stream: OutputStream, text: string): void; finalize(exitCode: number): void };
  /** A line that is not an event (e.g. a warning the image's runtime printed). */
  other(line: string): void;
}

/** Reads the setup container's log, chunk by chunk, split anywhere. */
export class SetupLogDecoder {
  private partial = '';
  private readonly entries = new Map<number, ReturnType<SetupEventSink['open']>>();
  private readonly finalized = new Set<number>();
  /** Set by an `error` event. */
  error: { code: string; message: string } | undefined;
  /** Set by a `done` event. */
  done = false;

  constructor(private readonly sink: SetupEventSink) {}

  write(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.line(line);
  }

  /** The log ended: a last line without a newline is read, and entries left open are finalized with -1. */
  end(): void {
    if (this.partial !== '') this.line(this.partial);
    this.partial = '';
    for (const [id, entry] of this.entries) {
      if (!this.finalized.has(id)) {
        this.finalized.add(id);
        entry.finalize(-1);
      }
    }
  }

  private line(raw: string): void {
    const line = raw.replace(/\r$/, '');
    if (!line.startsWith(SETUP_EVENT_PREFIX)) {
      if (line !== '') this.sink.other(line);
      return;
    }
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line.slice(SETUP_EVENT_PREFIX.length)) as Record<string, unknown>;
    } catch {
      this.sink.other(line);
      return;
    }
    if (typeof event.open === 'number' && typeof event.key === 'string') {
      const command = Array.isArray(event.command) ? event.command.map(String) : [];
      this.entries.set(event.open, this.sink.open(event.key, command));
    } else if (typeof event.entry === 'number' && typeof event.data === 'string') {
      this.entries.get(event.entry)?.write(event.stream === 'stderr' ? 'stderr' : 'stdout', event.data);
    } else if (typeof event.entry === 'number' && typeof event.exitCode === 'number') {
      const entry = this.entries.get(event.entry);
      if (entry && !this.finalized.has(event.entry)) {
        this.finalized.add(event.entry);
        entry.finalize(event.exitCode);
      }
    } else if (typeof event.error === 'object' && event.error !== null) {
      const { code, message } = event.error as { code?: unknown; message?: unknown };
      this.error = { code: typeof code === 'string' ? code : 'workspace.failed', message: typeof message === 'string' ? message : 'workspace preparation failed' };
    } else if (event.done === true) {
      this.done = true;
    } else {
      this.sink.other(line);
    }
  }
}
