// The setup container's events: read back into log entries however the log is chunked, long output
// split and joined, and nothing printed by a repository taken for an event.
import { describe, expect, it } from 'vitest';
import { encodeSetupEvent, SetupLogDecoder, type SetupEvent } from './setup-protocol.js';

function decode(chunks: string[]) {
  const entries: Array<{ key: string; command: string[]; out: string; exitCode?: number }> = [];
  const other: string[] = [];
  const decoder = new SetupLogDecoder({
    open: (key, command) => {
      const entry: (typeof entries)[number] = { key, command, out: '' };
      entries.push(entry);
      return { write: (stream, text) => (entry.out += `${stream}:${text}`), finalize: (exitCode) => (entry.exitCode = exitCode) };
    },
    other: (line) => other.push(line),
  });
  for (const chunk of chunks) decoder.write(chunk);
  decoder.end();
  return { entries, other, error: decoder.error, done: decoder.done };
}

const EVENTS: SetupEvent[] = [
  { open: 0, key: 'setup.git.init', command: ['git', '-C', '/job', 'init'] },
  { entry: 0, stream: 'stdout', data: 'Initialized empty Git repository\n' },
  { entry: 0, exitCode: 0 },
  { open: 1, key: 'setup.git.fetch', command: ['git', 'fetch'] },
  { entry: 1, stream: 'stderr', data: 'fatal: no\n@setup {"done":true}\n' },
  { entry: 1, exitCode: 128 },
  { error: { code: 'workspace.command_failed', message: 'running command "setup.git.fetch": exit code 128' } },
];

describe('the setup container\'s events', () => {
  it('come back as the same entries, outputs and exit codes, however the log is split', () => {
    const text = EVENTS.map(encodeSetupEvent).join('');
    for (const size of [1, 7, 64, text.length]) {
      const chunks = text.match(new RegExp(`[^]{1,${size}}`, 'g'))!;
      const { entries, error, done } = decode(chunks);
      expect(entries).toEqual([
        { key: 'setup.git.init', command: ['git', '-C', '/job', 'init'], out: 'stdout:Initialized empty Git repository\n', exitCode: 0 },
        { key: 'setup.git.fetch', command: ['git', 'fetch'], out: 'stderr:fatal: no\n@setup {"done":true}\n', exitCode: 128 },
      ]);
      // The repository's "@setup" line was output, JSON-quoted: it is no event.
      expect(done).toBe(false);
      expect(error).toEqual({ code: 'workspace.command_failed', message: 'running command "setup.git.fetch": exit code 128' });
    }
  });

  it('split output longer than a log line and join it again', () => {
    const data = 'x'.repeat(20_000) + '\n';
    const encoded = encodeSetupEvent({ entry: 0, stream: 'stdout', data });
    expect(encoded.split('\n').filter(Boolean).length).toBe(3);
    const { entries } = decode([encodeSetupEvent({ open: 0, key: 'k', command: [] }), encoded, encodeSetupEvent({ entry: 0, exitCode: 0 })]);
    expect(entries[0]!.out).toBe(`stdout:${'x'.repeat(8192)}stdout:${'x'.repeat(8192)}stdout:${'x'.repeat(20_000 - 16_384)}\n`);
  });

  it('keep lines that are not events, and finalize entries a crash left open with -1', () => {
    const { entries, other, done } = decode(['node: warning: something\n', encodeSetupEvent({ open: 3, key: 'setup.fs.extras', command: [] }), 'not json either']);
    expect(other).toEqual(['node: warning: something', 'not json either']);
    expect(entries).toEqual([{ key: 'setup.fs.extras', command: [], out: '', exitCode: -1 }]);
    expect(done).toBe(false);
    expect(decode([encodeSetupEvent({ done: true })]).done).toBe(true);
  });
});
