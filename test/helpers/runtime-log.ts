// Log entries that a runtime opens itself (setup.vm.start, teardown.vm, …), recorded in memory for tests
// that drive a runtime without a job runner.
import type { RuntimeLogEntry } from '../../src/executor/runtimes/runtime.js';
import type { OutputStream } from '../../src/executor/worker/log-entry-stream.js';

export interface RecordedLogEntry {
  key: string;
  command: string[];
  out: string;
  exitCode?: number;
}

export function recordingLogEntries(): { entries: RecordedLogEntry[]; openLogEntry: (key: string, command: string[]) => RuntimeLogEntry; find: (key: string) => RecordedLogEntry | undefined } {
  const entries: RecordedLogEntry[] = [];
  const openLogEntry = (key: string, command: string[]): RuntimeLogEntry => {
    const entry: RecordedLogEntry = { key, command, out: '' };
    entries.push(entry);
    return {
      write: (stream: OutputStream, chunk: Buffer | string) => {
        entry.out += `${stream}: ${chunk.toString()}`;
      },
      finalize: (exitCode: number) => {
        entry.exitCode ??= exitCode;
      },
      get finalized() {
        return entry.exitCode !== undefined;
      },
    };
  };
  return { entries, openLogEntry, find: (key) => entries.find((e) => e.key === key) };
}
