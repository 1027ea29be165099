// One command's log entry as it grows (reference §3.3, §4.9): stdout and stderr split into prefixed
// lines, secrets redacted on the way in, output capped, then finalized with exit code and duration.
import { StringDecoder } from 'node:string_decoder';
import type { ExecutionLogEntry } from '../../protocol/execution-log-entry.js';
import type { PipePairRedactor, PipeTexts, Redactor } from './redactor.js';

/**
 * Default cap on one entry's `out`, in bytes: 10 MiB. Every periodic update resends the whole entry
 * (reference §4.10), the coordinator refuses bodies over COORDINATOR_MAX_BODY_SIZE (16 MiB by default,
 * which JSON escaping of the output must also fit in), and the UI renders the log in one page; a
 * build that prints more than this is not read past the first 10 MiB anyway.
 */
export const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 * 1024;

/** Which pipe a chunk came from; also the line prefix in `out`. */
export type OutputStream = 'stdout' | 'stderr';

export interface LogEntryStreamOptions {
  /** The spec key (`step.docker.0`, `setup.fs.workspace`); redacted. */
  key: string;
  /** The command's argv; each argument redacted. */
  command: readonly string[];
  redactor: Redactor;
  /** Cap on `out` in bytes, the truncation line not counted. Default DEFAULT_MAX_OUTPUT_BYTES (10 MiB). */
  maxOutputBytes?: number;
  /** Called once, right after `finalize`: the streamer sends the final state then, not at its next tick. */
  onFinalize?: () => void;
}

/** One pipe's state: bytes to text (redacted by the entry's PipePairRedactor), redacted text to lines. */
interface PipeState {
  prefix: string;
  decoder: StringDecoder;
  /** Redacted text of the line not yet ended by a newline. */
  partial: string;
  partialBytes: number;
}

/** `stdout: ` and `stderr: ` are both 8 bytes. */
const LINE_PREFIX_BYTES = 'stdout: '.length;

/**
 * The log entry of one command. `write` only appends in memory, so it never blocks the command's
 * pipes; the LogStreamer sends the entry to the coordinator. `out` holds complete lines only: a
 * partial last line per stream waits for its newline, or for `finalize`. Writes after `finalize` are
 * ignored.
 */
export class LogEntryStream {
  /** The key, redacted. */
  readonly key: string;
  /** The argv, redacted. */
  readonly command: readonly string[];
  /** When the entry was created, RFC 3339. */
  readonly startTime: string;
  /** Cap on `out` in bytes, the truncation line not counted. */
  readonly maxOutputBytes: number;
  private readonly startedMonotonicMs = performance.now();
  private readonly pipes: Record<OutputStream, PipeState>;
  /** Both pipes' redaction: a secret split between stdout and stderr is caught too. */
  private readonly redactor: PipePairRedactor;
  private outText = '';
  private outBytes = 0;
  private truncated = false;
  /** Output bytes dropped past the cap, counted as they arrive. */
  private droppedBytes = 0;
  /** The dropped count the truncation line shows: set when truncating, updated at finalize. */
  private reportedDroppedBytes = 0;
  private exitCodeValue: number | undefined;
  private durationMsValue: number | undefined;
  private revisionValue = 0;
  private readonly onFinalize: (() => void) | undefined;

  constructor(options: LogEntryStreamOptions) {
    const { redactor } = options;
    this.key = redactor.redact(options.key);
    this.command = options.command.map((arg) => redactor.redact(arg));
    this.startTime = new Date().toISOString();
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.onFinalize = options.onFinalize;
    if (!Number.isSafeInteger(this.maxOutputBytes) || this.maxOutputBytes < 0) throw new Error(`maxOutputBytes: expected a non-negative integer, got ${this.maxOutputBytes}`);
    const pipe = (name: OutputStream): PipeState => ({
      prefix: `${name}: `,
      decoder: new StringDecoder('utf8'),
      partial: '',
      partialBytes: 0,
    });
    this.pipes = { stdout: pipe('stdout'), stderr: pipe('stderr') };
    this.redactor = redactor.createPipePairRedactor();
  }

  /** Complete lines so far, each `stdout: …\n` or `stderr: …\n`, then the truncation line if any. */
  get out(): string {
    if (!this.truncated) return this.outText;
    return `${this.outText}<executor: output truncated after ${this.maxOutputBytes} bytes; ${this.reportedDroppedBytes} more bytes dropped>\n`;
  }

  /** Undefined until `finalize`. */
  get exitCode(): number | undefined {
    return this.exitCodeValue;
  }

  /** Milliseconds from creation to `finalize`; undefined until then. */
  get durationMs(): number | undefined {
    return this.durationMsValue;
  }

  get finalized(): boolean {
    return this.exitCodeValue !== undefined;
  }

  /** Grows whenever what `snapshot` returns changes; the streamer sends an entry when it grew. */
  get revision(): number {
    return this.revisionValue;
  }

  /** The entry as the coordinator stores it (reference §3.3). */
  snapshot(): ExecutionLogEntry {
    return {
      key: this.key,
      command: [...this.command],
      startTime: this.startTime,
      out: this.out,
      ...(this.finalized ? { exitCode: this.exitCodeValue, durationMs: this.durationMsValue } : {}),
    };
  }

  /**
   * Appends output of one pipe. Bytes may split characters, lines and secrets anywhere; give one pipe
   * either Buffers or strings, not both (a character split across Buffers is held by the decoder).
   */
  write(stream: OutputStream, chunk: Buffer | string): void {
    if (this.finalized) return;
    if (this.truncated) {
      this.droppedBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      return;
    }
    const pipe = this.pipes[stream];
    const text = typeof chunk === 'string' ? chunk : pipe.decoder.write(chunk);
    this.appendRedacted(this.redactor.push(stream, text));
  }

  /**
   * Ends the entry: flushes partial lines and held-back text (a last line without newline becomes a
   * line), then sets `exitCode` and `durationMs`. Only the first call counts.
   */
  finalize(exitCode: number): void {
    if (this.finalized) return;
    if (!Number.isInteger(exitCode)) throw new Error(`finalize: expected an integer exit code, got ${exitCode}`);
    for (const stream of ['stdout', 'stderr'] as const) this.appendRedacted(this.redactor.push(stream, this.pipes[stream].decoder.end()));
    this.appendRedacted(this.redactor.flush());
    for (const pipe of [this.pipes.stdout, this.pipes.stderr]) {
      const line = pipe.partial;
      pipe.partial = '';
      if (line === '') continue;
      if (this.truncated) this.droppedBytes += pipe.partialBytes;
      else this.appendLine(pipe, line, false);
      pipe.partialBytes = 0;
    }
    this.reportedDroppedBytes = this.droppedBytes;
    this.exitCodeValue = exitCode;
    // Monotonic: a wall-clock step (NTP) must not make a duration negative.
    this.durationMsValue = Math.max(0, Math.round(performance.now() - this.startedMonotonicMs));
    this.revisionValue++;
    this.onFinalize?.();
  }

  /** Appends what the redactor released, stdout's first (it may be older: held back for stderr's sake). */
  private appendRedacted(texts: PipeTexts): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = texts[stream];
      if (this.truncated) this.droppedBytes += Buffer.byteLength(text);
      else this.appendText(this.pipes[stream], text);
    }
  }

  private appendText(pipe: PipeState, text: string): void {
    if (text === '') return;
    let from = 0;
    for (let newline = text.indexOf('\n'); newline >= 0 && !this.truncated; newline = text.indexOf('\n', from)) {
      const piece = text.slice(from, newline);
      from = newline + 1;
      const line = pipe.partial + piece;
      pipe.partial = '';
      pipe.partialBytes = 0;
      // Like Go's bufio.ScanLines, which the original reads with: `\r\n` ends a line too.
      this.appendLine(pipe, line.endsWith('\r') ? line.slice(0, -1) : line, true);
    }
    const rest = text.slice(from);
    if (this.truncated) {
      this.droppedBytes += Buffer.byteLength(rest);
      return;
    }
    pipe.partial += rest;
    pipe.partialBytes += Buffer.byteLength(rest);
    // A line without end that could no longer fit: cut it now rather than hold it all in memory.
    if (this.outBytes + LINE_PREFIX_BYTES + pipe.partialBytes + 1 > this.maxOutputBytes) {
      const line = pipe.partial;
      pipe.partial = '';
      pipe.partialBytes = 0;
      this.appendLine(pipe, line, false);
    }
  }

  /**
   * Appends `<prefix><line>\n`, or as much as fits under the cap and then the truncation line.
   * `ended`: the command wrote the newline (it counts as a dropped byte if dropped).
   */
  private appendLine(pipe: PipeState, line: string, ended: boolean): void {
    const lineBytes = Buffer.byteLength(line);
    const bytes = LINE_PREFIX_BYTES + lineBytes + 1;
    if (this.outBytes + bytes <= this.maxOutputBytes) {
      this.outText += `${pipe.prefix}${line}\n`;
      this.outBytes += bytes;
      this.revisionValue++;
      return;
    }
    const roomBytes = this.maxOutputBytes - this.outBytes - LINE_PREFIX_BYTES - 1;
    let kept = '';
    if (roomBytes > 0) {
      kept = cutUtf8(line, roomBytes);
      this.outText += `${pipe.prefix}${kept}\n`;
      this.outBytes += LINE_PREFIX_BYTES + Buffer.byteLength(kept) + 1;
    }
    this.droppedBytes += lineBytes - Buffer.byteLength(kept) + (ended ? 1 : 0);
    // Partial lines of the other pipe are dropped too; their bytes counted at finalize.
    this.truncated = true;
    this.reportedDroppedBytes = this.droppedBytes;
    this.revisionValue++;
  }
}

/** The longest prefix of `text` that is at most `maxBytes` in UTF-8, cut between characters. */
function cutUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
