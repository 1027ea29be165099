// LogStreamer's ordering and failure rules, against a scripted client: the real coordinator (see
// test/integration/log-streamer.test.ts) cannot be made to hold an answer back or fail on cue.
import { describe, expect, it } from 'vitest';
import type { ExecutionLogEntry } from '../../protocol/execution-log-entry.js';
import { silentLogger } from '../../shared/logger.js';
import { CoordinatorJobNotHeldError, CoordinatorRetryableError } from '../client/client-errors.js';
import { LogEntryWriteError, LogStreamer, type LogEntryClient } from './log-streamer.js';
import { Redactor } from './redactor.js';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const job = { id: 7, queue: 'batches', token: 't'.repeat(40) };

interface Call {
  op: 'add' | 'update';
  entryId: number;
  entry: ExecutionLogEntry;
  final: boolean;
  signal: AbortSignal;
  /** Settles the call: resolve (the default answer) or reject with an error. */
  settle: (error?: Error) => void;
}

/** A client whose answers the test releases; `auto` answers at once. */
function scriptedClient(options: { auto?: boolean } = {}) {
  const calls: Call[] = [];
  let nextId = 1;
  const record = <T>(op: Call['op'], entryId: number, entry: ExecutionLogEntry, final: boolean, signal: AbortSignal, value: () => T) =>
    new Promise<T>((resolve, reject) => {
      const call: Call = { op, entryId, entry: structuredClone(entry), final, signal, settle: (error) => (error ? reject(error) : resolve(value())) };
      calls.push(call);
      signal.addEventListener('abort', () => reject(signal.reason as Error));
      if (options.auto) call.settle();
    });
  const client: LogEntryClient = {
    addExecutionLogEntry: (_job, entry, signal) => record('add', 0, entry, false, signal, () => nextId++),
    updateExecutionLogEntry: (_job, entryId, entry, signal, opts = {}) => record('update', entryId, entry, opts.final ?? false, signal, () => undefined),
  };
  return { client, calls };
}

const newStreamer = (client: LogEntryClient, syncIntervalMs = 20) =>
  new LogStreamer({ client, job, redactor: new Redactor({ hunter2: '***' }), logger: silentLogger, syncIntervalMs });

describe('LogStreamer', () => {
  it('adds entries one at a time in creation order and updates none before its add resolved', async () => {
    const { client, calls } = scriptedClient();
    const streamer = newStreamer(client);
    const first = streamer.entry('setup.fs.workspace', ['mkdir', 'ws']);
    const second = streamer.entry('step.docker.0', ['docker', 'run', '--env=PW=hunter2']);
    first.write('stdout', 'made\n');
    second.write('stdout', 'running\n');
    await delay(100);
    expect(calls.map((c) => [c.op, c.entry.key])).toEqual([['add', 'setup.fs.workspace']]);
    calls[0]!.settle();
    await delay(10);
    expect(calls[1]).toMatchObject({ op: 'add', entry: { key: 'step.docker.0', command: ['docker', 'run', '--env=PW=***'] } });
    calls[1]!.settle();
    for (let i = 0; i < 20 && calls.length < 3; i++) await delay(20);
    // The add carried the output written so far, so nothing changed since: no update is due.
    expect(calls[0]!.entry.out).toBe('stdout: made\n');
    expect(calls).toHaveLength(2);
    first.finalize(0);
    // The final state goes out at once, as the final update (retried by the client), not at the next tick.
    expect(calls[2]).toMatchObject({ op: 'update', entryId: 1, final: true, entry: { key: 'setup.fs.workspace', out: 'stdout: made\n', exitCode: 0 } });
    calls[2]!.settle();
    streamer.close();
  });

  it('resends the whole entry only when it changed, with one request in flight per entry', async () => {
    const { client, calls } = scriptedClient();
    const streamer = newStreamer(client);
    const entry = streamer.entry('step', ['make']);
    await delay(5);
    calls[0]!.settle();
    entry.write('stdout', 'one\n');
    for (let i = 0; i < 20 && calls.length < 2; i++) await delay(20);
    expect(calls[1]!.entry.out).toBe('stdout: one\n');
    entry.write('stdout', 'two\n');
    await delay(120); // several ticks, while the first update hangs
    expect(calls).toHaveLength(2);
    calls[1]!.settle();
    for (let i = 0; i < 20 && calls.length < 3; i++) await delay(20);
    expect(calls[2]!.entry.out).toBe('stdout: one\nstdout: two\n');
    calls[2]!.settle();
    await delay(120);
    expect(calls).toHaveLength(3);
    streamer.close();
  });

  it('flushes the final state with retries asked for, and fails the job only for a failed final update', async () => {
    const { client, calls } = scriptedClient();
    const streamer = newStreamer(client, 60_000);
    const kept = streamer.entry('kept', []);
    const lost = streamer.entry('lost', []);
    const neverAdded = streamer.entry('never-added', []);
    for (const e of [kept, lost, neverAdded]) {
      e.write('stderr', 'out\n');
      e.finalize(1);
    }
    // Adds: the first two succeed, the third is refused (a warning, not an error).
    await delay(5);
    calls[0]!.settle();
    await delay(5);
    calls[1]!.settle();
    await delay(5);
    calls[2]!.settle(new CoordinatorRetryableError('HTTP 503', { call: 'POST /x', status: 503 }));
    // Nothing changed since the adds: flush has nothing to send.
    expect((await streamer.flush()).errors).toEqual([]);

    const second = scriptedClient();
    const s2 = newStreamer(second.client, 60_000);
    const a = s2.entry('a', []);
    const b = s2.entry('b', []);
    await delay(5);
    second.calls[0]!.settle();
    await delay(5);
    second.calls[1]!.settle();
    await delay(5);
    a.finalize(0);
    b.finalize(0);
    const flushed = s2.flush();
    expect(s2.flush()).toBe(flushed);
    expect(() => s2.entry('late', [])).toThrow(/after the job's log was flushed/);
    await delay(5);
    const finals = second.calls.slice(2);
    expect(finals.map((c) => [c.entryId, c.final])).toEqual([
      [1, true],
      [2, true],
    ]);
    finals[0]!.settle();
    finals[1]!.settle(new CoordinatorJobNotHeldError(7, { call: 'POST /x', status: 401 }));
    const result = await flushed;
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toBeInstanceOf(LogEntryWriteError);
    expect(result.errors[0]).toMatchObject({ key: 'b', operation: 'final-update', code: 'executor.log_entry_write_failed' });
    expect(result.errors[0]!.message).toContain('job 7 is no longer held');
    // The final updates went out at finalize; the failed one is reported, not sent a second time.
    expect(second.calls).toHaveLength(4);
    s2.close();
    const first = await streamer.flush();
    expect(first.warnings.map((w) => [w.key, w.operation])).toEqual([['never-added', 'add']]);
    streamer.close();
  });

  it('aborts requests in flight on close', async () => {
    const { client, calls } = scriptedClient();
    const streamer = newStreamer(client);
    streamer.entry('k', []);
    await delay(5);
    streamer.close();
    expect(calls[0]!.signal.aborted).toBe(true);
    const result = await streamer.flush();
    expect(result).toEqual({ errors: [], warnings: [] });
  });

  it('takes output while the coordinator answers nothing: writes are synchronous appends', () => {
    const { client } = scriptedClient(); // answers nothing, ever
    const streamer = newStreamer(client);
    const entry = streamer.entry('k', []);
    for (let i = 0; i < 10_000; i++) entry.write('stdout', `line ${i}\n`);
    expect(entry.out.split('\n')).toHaveLength(10_001);
    streamer.close();
  });
});
